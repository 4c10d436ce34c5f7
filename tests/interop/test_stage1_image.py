"""The stage1 image stands alone: built from a copy of the checkout that is then deleted, it
still runs pods, and nothing in it names the checkout or a venv. The pod's PID 1 shows
`stage1 init <uuid>` in ps, not the interpreter and host paths. Plus rkt's gc flags as
pure logic."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, Rkt
from tests.interop.conftest import _mounts

INSECURE = "--insecure-options=image"


def _no_leaks(tmp_path, before):
    leaked = sorted(m for m in set(_mounts()) - before if m.startswith(str(tmp_path)))
    assert not leaked, f"mounts leaked onto the host: {leaked}"


@pytest.mark.root
def test_stage1_built_from_a_deleted_checkout_runs_pods(tmp_path, apps):
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "stage1", checkout / "stage1",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (checkout / "rkt").mkdir()
    shutil.copy(REPO / "rkt" / "__init__.py", checkout / "rkt")
    aci = tmp_path / "elsewhere" / "stage1.aci"
    # -S: no site, so no editable install of this repo can stand in for the copy
    build = (f"import sys; sys.path.insert(0, {str(checkout)!r}); from stage1 import build; "
             f"assert build.__file__.startswith({str(checkout)!r}), build.__file__; "
             f"build.main()")
    subprocess.run([sys.executable, "-S", "-c", build, str(aci)], check=True, timeout=120,
                   cwd=tmp_path)
    shutil.rmtree(checkout)
    image = gzip.decompress(aci.read_bytes())
    for text in (str(checkout), str(REPO), "site-packages", "/.venv/"):
        assert text.encode() not in image, f"the stage1 image names {text}"

    rkt = Rkt(tmp_path / "rkt")
    before = set(_mounts())
    for extra in ([], ["--no-overlay"]):
        proc = rkt(INSECURE, "run", *extra, f"--stage1-path={aci}", apps["exit7"], check=False,
                   timeout=120)
        assert proc.returncode == 7, (proc.returncode, proc.stderr)
        assert "hello from the app" in proc.stdout
    rkt("gc", "--grace-period=0s")
    _no_leaks(tmp_path, before)


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").replace(b"\0", b" ").decode()


def _readable_cmdline(proc: Path) -> str | None:
    try:
        return _cmdline(int(proc.name))
    except OSError:
        return None


@pytest.mark.root
def test_pod_pid1_shows_no_host_path(tmp_path, our_stage1, apps):
    rkt = Rkt(tmp_path / "rkt")
    before = set(_mounts())
    run = subprocess.Popen(rkt.cmd(INSECURE, "run", "--net=host", f"--stage1-path={our_stage1}",
                                   apps["sleeper"]), cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        pid_files = []
        while not pid_files and time.monotonic() < deadline:
            assert run.poll() is None, run.communicate()
            pid_files = list((rkt.dir / "pods" / "run").glob("*/pid"))
            time.sleep(0.05)
        assert pid_files, "the pod did not start"
        uuid = pid_files[0].parent.name
        pid1 = int(pid_files[0].read_text())
        parent = int(Path(f"/proc/{pid1}/stat").read_text().rpartition(")")[2].split()[1])
        assert _cmdline(pid1) == f"stage1 init {uuid}"
        assert _cmdline(parent) == f"stage1 run {uuid}"  # the waiting stage1 process
        for pid in (pid1, parent):
            comm = Path(f"/proc/{pid}/comm").read_text()
            assert "/" not in comm and str(tmp_path) not in _cmdline(pid)
        enter = subprocess.Popen(rkt.cmd("enter", uuid, "/bin/sleep", "3"), cwd=REPO,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:  # the entrypoint waits for the command with the same kind of title
            titled = []
            while not titled and enter.poll() is None:
                titled = [p for p in Path("/proc").iterdir() if p.name.isdigit()
                          and _readable_cmdline(p) == f"stage1 enter {uuid}"]
                time.sleep(0.05)
            assert titled, enter.communicate()
        finally:
            enter.kill()
            enter.communicate()
        rkt("stop", uuid)
        run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    rkt("gc", "--grace-period=0s")
    _no_leaks(tmp_path, before)


def test_gc_takes_rkts_local_config_flag():
    from stage1.gc import parse_args

    assert parse_args(["--debug", "--local-config", "/etc/rkt", "U"]) == ["U"]
    assert parse_args(["--local-config=/x", "U"]) == ["U"]
    assert parse_args(["U"]) == ["U"]
