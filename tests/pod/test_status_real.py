"""With the real stage1: status of a prepared pod via --uuid-file, and the app exit
codes of a pod that ran; `rkt list` keeps image names after `rkt image rm`; `rkt gc` of real
pods leaves no mounts, processes or cgroups."""

from __future__ import annotations

import json

import pytest

from tests.helpers.table import table_rows
from tests.pod.realpods import cgroups_of, gone, prepare, status

pytestmark = pytest.mark.root


def test_status_and_list_of_real_pods(rkt, real_stage1, busybox, tmp_path):
    uuid_file = tmp_path / "uuid"
    rkt("--insecure-options=image", "prepare", f"--stage1-path={real_stage1}",
        f"--uuid-file-save={uuid_file}", str(busybox), "--exec", "/bin/sh", "--", "-c", "exit 3")
    pod = uuid_file.read_text().strip()
    out = rkt("status", f"--uuid-file={uuid_file}").stdout
    assert out.splitlines()[0] == "state=prepared"

    proc = rkt("run-prepared", "--net=none", pod, check=False)
    assert proc.returncode == 3, proc.stderr
    fields = status(rkt, pod)
    assert fields["state"] == "exited" and fields["exited"] == "true"
    assert fields["app-busybox"] == "3"
    assert int(fields["pid"]) > 0

    row = table_rows(rkt("list", "--no-legend", "--full").stdout)[0]
    assert row[:5] == [pod, "busybox", "example.com/busybox:1.0.0", row[3], "exited"]
    image_id = json.loads(rkt("status", "--format=json", pod).stdout)["apps"][0]["image_id"]
    assert row[3] == image_id[:19]
    rkt("image", "rm", image_id)
    row = table_rows(rkt("list", "--no-legend").stdout)[0]
    assert row[:4] == [pod[:8], "busybox", "example.com/busybox:1.0.0", "exited"]

    rkt("gc", "--mark-only")
    assert (rkt.dir / "pods" / "exited-garbage" / pod).is_dir()
    assert status(rkt, pod)["state"] == "exited garbage"
    rkt("gc", "--grace-period=0s")
    assert gone(rkt, pod)
    assert cgroups_of(pod) == []


def test_gc_many_pods_leaves_nothing(rkt, real_stage1, busybox):
    pods = [prepare(rkt, real_stage1, busybox, "--exec", "/bin/true") for _ in range(3)]
    for pod in pods:
        rkt("run-prepared", "--net=none", pod)
    rkt("gc", "--grace-period=0s")
    for pod in pods:
        assert gone(rkt, pod)
        assert cgroups_of(pod) == []
    assert not any(list((rkt.dir / "pods" / s).iterdir()) for s in ("run", "exited-garbage", "garbage"))
