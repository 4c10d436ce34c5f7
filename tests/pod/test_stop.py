"""On the stage1 contract: `rkt stop` runs the stub stage1's stop entrypoint (TERM, or KILL
with --force) for running pods and refuses the others."""

from __future__ import annotations

import pytest

from tests.pod.handmade import Holder, make_pod

pytestmark = pytest.mark.root


@pytest.fixture
def log(tmp_path):
    return tmp_path / "stage1.log"


@pytest.mark.parametrize("force", [False, True])
def test_stop_running_pod(rkt, log, force):
    pod = make_pod(rkt.dir, "run", log)
    holder = Holder(rkt.dir / "pods" / "run" / pod, pid_delay=0)
    try:
        args = ["stop"] + (["--force"] if force else []) + [pod]
        assert rkt(*args).stdout.strip() == f'"{pod}"'
        code = holder.wait()
        assert code == (-9 if force else 0)  # the holder exits 0 on TERM
        assert log.read_text().split() == ["stop"] + (["--force"] if force else []) + [pod]
        out = rkt("status", pod).stdout
        assert "state=exited" in out
    finally:
        holder.stop()


def test_stop_uuid_file_and_errors(rkt, log, tmp_path):
    running = make_pod(rkt.dir, "run", log)
    exited = make_pod(rkt.dir, "run", log)
    holder = Holder(rkt.dir / "pods" / "run" / running, pid_delay=0)
    try:
        proc = rkt.fails("stop", exited, "0f746094", running)
        assert f'pod "{exited}" is not running' in proc.stderr
        assert 'no matches found for "0f746094"' in proc.stderr
        assert "failed to stop 2 pod(s)" in proc.stderr
        assert proc.stdout.strip() == f'"{running}"'
        holder.wait()
    finally:
        holder.stop()
    rkt.fails("stop", code=254)
    uuid_file = tmp_path / "uuid"
    uuid_file.write_text(exited)
    proc = rkt.fails("stop", f"--uuid-file={uuid_file}")
    assert "is not running" in proc.stderr


def test_stage1_entrypoint_cannot_escape_its_rootfs(rkt, log, tmp_path):
    import json

    pod = make_pod(rkt.dir, "run", log)
    pod_dir = rkt.dir / "pods" / "run" / pod
    manifest = json.loads((pod_dir / "stage1" / "manifest").read_text())
    for a in manifest["annotations"]:
        if a["name"] == "coreos.com/rkt/stage1/stop":
            a["value"] = "../../../../../../usr/bin/touch"
    (pod_dir / "stage1" / "manifest").write_text(json.dumps(manifest))
    holder = Holder(pod_dir, pid_delay=0)
    try:
        proc = rkt.fails("stop", pod)
        assert ("stage1 'stop' entrypoint '../../../../../../usr/bin/touch' is not a path inside "
                "its rootfs") in proc.stderr
        assert holder.proc.poll() is None
    finally:
        holder.stop()
    (pod_dir / "stage1" / "manifest").write_text("[]")
    proc = rkt.fails("stop", pod)
    assert "not running" in proc.stderr
