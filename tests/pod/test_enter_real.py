"""With the real stage1: `rkt enter` into a running pod sees the app's rootfs and
environment; it fails cleanly once the pod is gone."""

from __future__ import annotations

import pytest

from tests.pod.realpods import gone, prepare, run_prepared_in_background, wait_running

pytestmark = pytest.mark.root


def test_enter_real_pod(rkt, real_stage1, busybox):
    pod = prepare(rkt, real_stage1, busybox, "--exec", "/bin/sleep", "--", "1000",
                  flags=("--set-env=ENTER_TEST=from-set-env",))
    proc = run_prepared_in_background(rkt, pod)
    try:
        wait_running(rkt, pod, proc)
        # the app's rootfs: busybox's passwd, not the host's
        out = rkt("enter", pod, "/bin/cat", "/etc/passwd").stdout
        assert "user:x:1000:1000:user:/home/user:/bin/sh" in out
        out = rkt("enter", pod[:8], "/bin/env").stdout
        assert "ENTER_TEST=from-set-env" in out.splitlines()
        proc_exit = rkt("enter", pod, "/bin/sh", "-c", "exit 5", check=False)
        assert proc_exit.returncode == 5
        rkt("stop", "--force", pod)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    fails = rkt.fails("enter", pod, "/bin/true")
    assert "isn't currently running" in fails.stderr
    rkt("rm", pod)
    assert gone(rkt, pod)
    fails = rkt.fails("enter", pod, "/bin/true")
    assert "no matches found" in fails.stderr
