"""`rkt list` and `rkt list --full`: one row per app, short or full UUID and image IDs,
image names read from the pod (still there after `rkt image rm`), JSON formats."""

from __future__ import annotations

import json

import pytest

from tests.helpers.table import table_rows
from tests.pod.handmade import IMAGE_ID, Holder, make_pod

pytestmark = pytest.mark.root


@pytest.fixture
def log(tmp_path):
    return tmp_path / "stage1.log"


def rows(out: str) -> list[list[str]]:
    return table_rows(out)


def test_list_table(rkt, log):
    assert rows(rkt("list").stdout) == [["UUID", "APP", "IMAGE NAME", "STATE", "CREATED",
                                         "STARTED", "NETWORKS"]]
    two = make_pod(rkt.dir, "run", log, apps=(("redis", "example.com/redis", "1.0"),
                                              ("etcd", "coreos.com/etcd", None)), exit_codes={})
    prepared = make_pod(rkt.dir, "prepared", log)
    make_pod(rkt.dir, "garbage", log)  # garbage pods are not listed
    out = rows(rkt("list", "--no-legend").stdout)
    by_uuid = {r[0]: r for r in out if r[0]}
    assert set(by_uuid) == {two[:8], prepared[:8]}
    first = out.index(by_uuid[two[:8]])
    assert by_uuid[two[:8]][1:4] == ["redis", "example.com/redis:1.0", "exited"]
    assert by_uuid[two[:8]][4] == "now" or by_uuid[two[:8]][4].endswith(" ago")
    assert out[first + 1][:3] == ["", "etcd", "coreos.com/etcd"]
    assert not any(out[first + 1][3:])  # pod columns only on the first row
    assert by_uuid[prepared[:8]][1:4] == ["app", "example.com/app:1.0.0", "prepared"]
    assert not any(by_uuid[prepared[:8]][5:])  # never started

    full = rows(rkt("list", "--full").stdout)
    assert full[0] == ["UUID", "APP", "IMAGE NAME", "IMAGE ID", "STATE", "CREATED", "STARTED",
                       "NETWORKS"]
    row = next(r for r in full if r[0] == two)
    assert row[3] == IMAGE_ID[:19] and row[4] == "exited"
    assert row[5][:2] == "20"  # a full timestamp


def test_list_running_and_after_image_gone(rkt, log):
    pod = make_pod(rkt.dir, "run", log)
    holder = Holder(rkt.dir / "pods" / "run" / pod, pid_delay=0)
    try:
        out = rows(rkt("list", "--no-legend").stdout)
        assert out[0][:4] == [pod[:8], "app", "example.com/app:1.0.0", "running"]
    finally:
        holder.stop()
    # a pod whose app manifest is unreadable still lists, with "--" and a note on stderr
    (rkt.dir / "pods" / "run" / pod / "appsinfo" / "app" / "manifest").unlink()
    proc = rkt("list", "--no-legend")
    assert rows(proc.stdout)[0][:4] == [pod[:8], "app", "--", "exited"]
    assert "no image manifest" in proc.stderr


def test_list_json(rkt, log):
    assert rkt("list", "--format=json").stdout == "null\n"  # rkt's nil slice
    pod = make_pod(rkt.dir, "run", log, exit_codes={"app": 1})
    infos = json.loads(rkt("list", "--format=json-pretty").stdout)
    assert [i["name"] for i in infos] == [pod]
    assert infos[0]["apps"][0]["exit_code"] == 1
    rkt.fails("list", "--format=xml", code=254)
