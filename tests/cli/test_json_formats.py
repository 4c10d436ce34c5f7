"""`rkt list`, `rkt status` and `rkt image list` in JSON: rkt's api/v1 field names and shapes
(scripts and orchestrators parse them), compared with the reference rkt on the same image."""

import json

import pytest

from tests.cli.reference import REFERENCE

POD_KEYS = {"name", "state", "networks", "app_names", "apps", "created_at", "started_at",
            "user_annotations", "user_labels"}
APP_KEYS = {"name", "state", "created_at", "started_at", "finished_at", "exit_code", "image_id",
            "mounts", "user_annotations", "user_labels"}
IMAGE_KEYS = ["id", "name", "import_time", "last_used_time", "size"]


def test_nothing_is_null(rkt):
    assert rkt("list", "--format=json").stdout == "null\n"
    assert rkt("list", "--format=json-pretty").stdout == "null\n"
    assert rkt("image", "list", "--format=json").stdout == "null\n"


def test_empty_store_same_as_reference(rkt, ref):
    for args in (["list", "--format=json"], ["image", "list", "--format=json"]):
        assert rkt(*args).stdout == ref(*args).stdout, args


def _shape(pod: dict) -> dict:
    """What must agree between rkt and us: keys, types, and the app entries' keys."""
    return {"keys": sorted(k for k in pod if k != "networks"),
            "types": {k: type(v).__name__ for k, v in pod.items()},
            "apps": [sorted(a) for a in pod.get("apps", [])]}


@pytest.mark.root
def test_pods_and_images_like_the_reference(rkt, ref, real_stage1, busybox):
    import subprocess

    ours = rkt("--insecure-options=image", "run", f"--stage1-path={real_stage1}", "--net=host",
               busybox)
    theirs = ref("--insecure-options=image", "run", f"--stage1-path={REFERENCE}/stage1-fly.aci",
                 busybox)
    assert theirs.returncode == 0, theirs.stderr
    assert isinstance(ours, subprocess.CompletedProcess)
    ours_list = json.loads(rkt("list", "--format=json").stdout)
    theirs_list = json.loads(ref("list", "--format=json").stdout)
    assert len(ours_list) == len(theirs_list) == 1
    mine, rkts = ours_list[0], theirs_list[0]
    assert set(mine) <= POD_KEYS and set(mine["apps"][0]) <= APP_KEYS
    for key in ("name", "state", "app_names", "apps", "created_at", "started_at"):
        assert type(mine[key]) is type(rkts[key]), key
    assert mine["state"] == rkts["state"] == "exited"
    assert mine["app_names"] == rkts["app_names"] == ["busybox"]
    # rkt: pod times in seconds, app times in nanoseconds
    assert len(str(mine["created_at"])) == len(str(rkts["created_at"])) == 10
    assert len(str(mine["apps"][0]["created_at"])) == len(str(rkts["apps"][0]["created_at"])) == 19
    # our stage1 records exit codes (rkt's fly stage1 cannot): a superset of rkt's app keys
    assert set(rkts["apps"][0]) <= set(mine["apps"][0])
    status_ours = json.loads(rkt("status", "--format=json", mine["name"]).stdout)
    status_theirs = json.loads(ref("status", "--format=json", rkts["name"]).stdout)
    assert _shape(status_ours)["keys"] == _shape(status_theirs)["keys"]
    assert status_ours == mine and status_theirs == rkts  # status shows the list's entry
    pretty = rkt("list", "--format=json-pretty").stdout
    assert pretty.startswith("[\n\t{\n\t\t\"name\": ")  # Go's MarshalIndent with tabs

    from tests.helpers.table import table_rows

    ours_rows, ref_rows = table_rows(rkt("list").stdout), table_rows(ref("list").stdout)
    assert ours_rows[0] == ref_rows[0]  # the legend
    assert ours_rows[1][1:4] == ref_rows[1][1:4] == ["busybox", "example.com/busybox:1.0.0",
                                                     "exited"]

    images = json.loads(rkt("image", "list", "--format=json").stdout)
    ref_images = json.loads(ref("image", "list", "--format=json").stdout)
    assert all(list(i) == IMAGE_KEYS for i in images)
    assert all(list(i) == IMAGE_KEYS for i in ref_images)


@pytest.mark.parametrize("args", [["list"], ["list", "--full"], ["image", "list"],
                                  ["image", "list", "--full"]])
def test_empty_tables_byte_for_byte_as_the_reference(rkt, ref, args):
    assert rkt(*args).stdout == ref(*args).stdout
