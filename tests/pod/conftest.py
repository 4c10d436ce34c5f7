"""Pod fixtures: a busybox ACI, tiny script stage1 images, the real stage1, and leak checks.

A script stage1 is a real stage1 image whose `run` entrypoint is a /bin/sh script (it runs on
the host, in the private mount namespace stage0 made): it records what stage0 handed it — its
arguments, cwd, RKT_LOCK_FD, the overlay mounts — into the pod dir and exits with a chosen
code. It tests stage0 alone; the real stage1 (built by `python -m stage1.build`) tests the rest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Rkt
from tests.helpers.aci import Entry, busybox_aci, make_aci, manifest

SCRIPT_STAGE1 = """#!/bin/sh
# record what stage0 handed over, then exit with the wanted code
{{
  echo "tag={tag}"
  echo "args=$*"
  echo "cwd=$(pwd)"
  echo "lockfd=$RKT_LOCK_FD"
  echo "lockpath=$(readlink /proc/self/fd/$RKT_LOCK_FD)"
  if flock -n -s . true 2>/dev/null; then echo "lock=free"; else echo "lock=held"; fi
  echo "mounts=$(grep -c " - overlay " /proc/self/mountinfo)"
  for d in stage1/rootfs/opt/stage2/*/rootfs; do
    if [ -e "$d/bin/busybox" ]; then echo "rootfs=$d ok"; else echo "rootfs=$d missing"; fi
  done
}} > stage1-record
echo "script stage1 {tag} ran"
exit {code}
"""


def script_stage1(path: Path, tag: str = "script", code: int = 0, name: str = "example.com/stage1-script",
                  version: str = "1.0.0", annotations: list | None = None) -> str:
    m = manifest(name, version=version)
    m["annotations"] = annotations if annotations is not None else [
        {"name": "coreos.com/rkt/stage1/run", "value": "/run"},
        {"name": "coreos.com/rkt/stage1/interface-version", "value": "6"},
    ]
    return make_aci(path, m, {"run": Entry(data=SCRIPT_STAGE1.format(tag=tag, code=code).encode(),
                                           mode=0o755)})


def read_record(pod_dir: Path) -> dict[str, str]:
    record: dict[str, str] = {}
    for line in (pod_dir / "stage1-record").read_text().splitlines():
        key, _, value = line.partition("=")
        record.setdefault(key, value)
        if key == "rootfs":
            record.setdefault("rootfs_all", "")
            record["rootfs_all"] += value + "\n"
    return record


class PodRkt(Rkt):
    """The rkt fixture plus pod helpers."""

    def pod_dirs(self, state: str | None = None) -> list[Path]:
        root = self.dir / "pods"
        states = [state] if state else ["embryo", "prepare", "prepared", "run", "exited-garbage",
                                         "garbage"]
        return sorted(p for s in states if (root / s).is_dir() for p in (root / s).iterdir())

    def pod_dir(self, uuid: str) -> Path:
        """The one directory of pod `uuid`, whichever state it is in."""
        (path,) = [p for p in self.pod_dirs() if p.name == uuid]
        return path

    def only_pod(self, state: str | None = None) -> Path:
        dirs = self.pod_dirs(state)
        assert len(dirs) == 1, dirs
        return dirs[0]

    def write_config(self, kind: str, subdir: str, filename: str = "x.json", where: str = "local",
                     **fields) -> None:
        base = {"local": self.local_config, "system": self.system_config,
                "user": self.user_config}[where]
        (base / subdir).mkdir(parents=True, exist_ok=True)
        (base / subdir / filename).write_text(json.dumps({"rktKind": kind, "rktVersion": "v1", **fields}))


def _host_mounts() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f}


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if text in cmdline or text in cwd:
            found.append(f"{pid}: {cmdline}")
    return found


@pytest.fixture
def rkt(tmp_path):
    """Runs the real CLI; after the test no mount, process or host /dev,/proc,/sys mount leaked."""
    before = _host_mounts()
    r = PodRkt(tmp_path / "rkt")
    yield r
    after = _host_mounts()
    leaked = sorted(m for m in after - before if m.startswith(str(tmp_path)))
    lost = sorted(m for m in before - after if m.startswith(("/dev", "/proc", "/sys")))
    procs = _processes_mentioning(str(tmp_path))
    for m in sorted(leaked, key=len, reverse=True):  # clean up before failing
        subprocess.run(["umount", "-l", m], capture_output=True)
    assert not leaked, f"mounts leaked onto the host: {leaked}"
    assert not lost, f"host mounts disappeared: {lost}"
    assert not procs, f"processes left behind: {procs}"


@pytest.fixture(scope="session")
def busybox(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("aci") / "busybox.aci"
    busybox_aci(path)
    return path


@pytest.fixture(scope="session")
def stage1_script(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("stage1") / "stage1-script.aci"
    script_stage1(path)
    return path


def _build_real_stage1(out: Path) -> Path:
    import stage1.build  # noqa: F401  (a broken stage1 package fails here, it is not skipped)

    proc = subprocess.run([sys.executable, "-m", "stage1.build", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        pytest.fail(f"python -m stage1.build failed: {proc.stderr}")
    return out


@pytest.fixture(scope="session")
def real_stage1(tmp_path_factory) -> Path:
    """The default stage1 ACI built from stage1/ by `python -m stage1.build`."""
    return _build_real_stage1(tmp_path_factory.mktemp("stage1-real") / "stage1.aci")


@pytest.fixture
def real_runner(rkt, real_stage1, busybox):
    """`rkt run` with the real stage1, busybox fetched: real_runner(NET) gives run(*args, **kw)."""
    rkt("--insecure-options=image", "fetch", busybox)

    def runner(net: str):
        def run(*args, **kw):
            return rkt("--insecure-options=image", "run", f"--stage1-path={real_stage1}",
                       f"--net={net}", *args, **kw)
        return run
    return runner
