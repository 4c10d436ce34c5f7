"""`rkt status` prints the pod's state, times, pid and per-app exit codes; `--uuid-file`,
`--wait`, `--format=json`."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest

from tests.pod.handmade import Holder, make_pod

pytestmark = pytest.mark.root

TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+"


@pytest.fixture
def log(tmp_path):
    return tmp_path / "stage1.log"


def fields(out: str) -> dict:
    return dict(line.split("=", 1) for line in out.splitlines())


def test_status_prepared_via_uuid_file(rkt, log, tmp_path):
    pod = make_pod(rkt.dir, "prepared", log)
    uuid_file = tmp_path / "uuid"
    uuid_file.write_text(pod)
    out = fields(rkt("status", f"--uuid-file={uuid_file}").stdout)
    assert out["state"] == "prepared"
    assert re.fullmatch(TIME, out["created"])
    assert "pid" not in out and "started" not in out


def test_status_exited_shows_app_exit_codes(rkt, log):
    pod = make_pod(rkt.dir, "run", log, apps=(("one", "example.com/one", "1"), ("two", "example.com/two", None)),
                   exit_codes={"one": 0, "two": 7}, pid=4242)
    out = rkt("status", pod[:6]).stdout.splitlines()
    assert out[0] == "state=exited"
    assert out[-4:] == ["pid=4242", "exited=true", "app-one=0", "app-two=7"]
    assert re.fullmatch("started=" + TIME, out[2])


def test_status_running_and_wait(rkt, log):
    pod = make_pod(rkt.dir, "run", log)
    holder = Holder(rkt.dir / "pods" / "run" / pod, pid_delay=0.3)
    try:
        out = fields(rkt("status", pod).stdout)  # waits briefly for the pid file
        assert out["state"] == "running"
        assert out["pid"] == str(holder.pid)
        assert out["exited"] == "false" and out["networks"] == ""
        rkt.fails("status", "--wait=200ms", pod)
        timer = threading.Timer(0.5, holder.stop)
        timer.start()
        start = time.monotonic()
        out = fields(rkt("status", "--wait", pod).stdout)
        assert time.monotonic() - start >= 0.4
        assert out["state"] == "exited" and out["exited"] == "true"
    finally:
        holder.stop()


def test_status_json(rkt, log):
    pod = make_pod(rkt.dir, "run", log, exit_codes={"app": 2}, pid=1)
    info = json.loads(rkt("status", "--format=json", pod).stdout)
    assert info["name"] == pod and info["state"] == "exited"
    assert info["app_names"] == ["app"]
    app = info["apps"][0]
    assert app["name"] == "app" and app["state"] == "exited" and app["exit_code"] == 2
    assert app["image_id"].startswith("sha512-")
    assert isinstance(info["created_at"], int) and isinstance(info["started_at"], int)
    pretty = rkt("status", "--format=json-pretty", pod).stdout
    assert "\n\t" in pretty and json.loads(pretty) == info


def test_status_errors(rkt, log):
    rkt.fails("status", code=254)
    rkt.fails("status", "--format=yaml", "abc", code=254)
    rkt.fails("status", "--wait=later", "abc", code=254)
    proc = rkt.fails("status", "0f746094")
    assert 'no matches found for "0f746094"' in proc.stderr
    bad = make_pod(rkt.dir, "run", log, exit_codes={"app": 0})
    (rkt.dir / "pods" / "run" / bad / "pod").write_text("{not json")
    proc = rkt.fails("status", bad)
    assert "pod manifest" in proc.stderr
