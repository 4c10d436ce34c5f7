"""`rkt run` killed with SIGKILL, and a console that is gone or stalled: the pod ends as on
`rkt stop` (rkt's ended with it), stays listable and collectable, and no traceback is printed;
a console nobody reads never kills or blocks the apps, whose output stays in the pod's log."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.conftest import REPO
from tests.helpers.output import without_app_prefixes
from tests.pod.realpods import cgroups_of, gone, status, wait_running

pytestmark = pytest.mark.root

INSECURE = "--insecure-options=image"


def start(rkt, real_stage1, tmp_path, script: str, stdout=subprocess.PIPE) -> tuple[subprocess.Popen, str]:
    uuid_file = tmp_path / "uuid"
    proc = subprocess.Popen(rkt.cmd(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=none",
                                    f"--uuid-file-save={uuid_file}", "example.com/busybox",
                                    "--exec=/bin/sh", "--", "-c", script, "---"),
                            cwd=REPO, stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not (uuid_file.exists() and uuid_file.read_text().strip()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    return proc, uuid_file.read_text().strip()


def wait_state(rkt, uuid: str, state: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = status(rkt, uuid)
        if current["state"] == state:
            return current
        time.sleep(0.1)
    raise AssertionError(f"pod {uuid} never {state}: {status(rkt, uuid)}")


def test_kill_9_of_rkt_run_stops_the_pod_gracefully(rkt, real_stage1, busybox, tmp_path):
    rkt(INSECURE, "fetch", busybox)
    proc, uuid = start(rkt, real_stage1, tmp_path,
                       "trap 'echo stopping; exit 7' TERM; echo started; while :; do sleep 0.1; done")
    wait_running(rkt, uuid, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    after = wait_state(rkt, uuid, "exited")
    assert after["app-busybox"] == "7"  # the app got SIGTERM and its trap ran
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert "stopping" in rkt("logs", uuid).stdout
    assert uuid in rkt("list", "--no-legend", "--full").stdout
    rkt("gc", "--grace-period=0s")
    assert gone(rkt, uuid) and not cgroups_of(uuid)


def test_a_closed_console_neither_kills_nor_loses_output(rkt, real_stage1, busybox, tmp_path):
    rkt(INSECURE, "fetch", busybox)
    proc, uuid = start(rkt, real_stage1, tmp_path,
                       "echo first; sleep 1; i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; exit 3")
    assert without_app_prefixes(proc.stdout.readline().decode()) == "first\n"
    proc.stdout.close()  # the reader of rkt run's stdout is gone: EPIPE from now on
    assert proc.wait(timeout=60) == 3
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert rkt("logs", uuid).stdout.splitlines()[-1] == "line 199"


def test_a_stalled_console_does_not_block_the_apps(rkt, real_stage1, busybox, tmp_path):
    rkt(INSECURE, "fetch", busybox)
    # 300 KB of output into a pipe nobody reads (it holds 64 KiB): the app must still finish
    proc, uuid = start(rkt, real_stage1, tmp_path,
                       "i=0; while [ $i -lt 3000 ]; do echo line $i $(printf '%090d' 0); i=$((i+1)); done")
    try:
        assert proc.wait(timeout=90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rkt("logs", uuid).stdout.splitlines()[-1].startswith("line 2999 ")
