"""With the real stage1: `rkt stop` (TERM) and `rkt stop --force` (KILL) of a running
`sleep` pod started by prepare + run-prepared; the pod reaches `exited`, gc leaves nothing."""

from __future__ import annotations

import pytest

from tests.pod.realpods import (cgroups_of, gone, prepare, run_prepared_in_background, status,
                                wait_running)

pytestmark = pytest.mark.root


@pytest.mark.parametrize("force", [False, True])
def test_stop_real_pod(rkt, real_stage1, busybox, force, tmp_path):
    pod = prepare(rkt, real_stage1, busybox, "--exec", "/bin/sleep", "--", "1000")
    proc = run_prepared_in_background(rkt, pod)
    try:
        wait_running(rkt, pod, proc)
        uuid_file = tmp_path / "uuid"
        uuid_file.write_text(pod)
        args = ["stop"] + (["--force"] if force else []) + [f"--uuid-file={uuid_file}"]
        assert rkt(*args).stdout.strip() == f'"{pod}"'
        proc.wait(timeout=20)
        assert status(rkt, pod)["state"] == "exited"
        proc2 = rkt.fails("stop", pod)
        assert "is not running" in proc2.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rkt("gc", "--grace-period=0s")
    assert gone(rkt, pod)
    assert cgroups_of(pod) == []
