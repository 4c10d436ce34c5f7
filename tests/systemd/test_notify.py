"""sd_notify: the host's NOTIFY_SOCKET hears READY=1 exactly when the pod is ready, and what
the apps send; `rkt status --wait-ready` / `--wait` follow the same readiness."""

from __future__ import annotations

import os
import time

from tests.pod.realpods import status
from tests.systemd.conftest import running, wait_for


def _env(notify_socket) -> dict:
    return {**os.environ, "NOTIFY_SOCKET": str(notify_socket.path)}


def test_ready_only_when_the_app_says_so(rkt, real_stage1, image, notify_socket, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    script = ("echo socket=$NOTIFY_SOCKET watchdog=$WATCHDOG_USEC; sleep 1; touch /data/marker; "
              "sdnotify STATUS=serving READY=1 MAINPID=1; sleep 0.3; sdnotify WATCHDOG=1; "
              "sdnotify STOPPING=1 FDSTORE=1; sleep 0.2")
    aci = image(["/bin/sh", "-c", script], notify=True,
                mount_points=[{"name": "data", "path": "/data"}])
    began = time.monotonic()
    # as systemd starts a unit with WatchdogSec=: WATCHDOG_PID is the main process
    with running(rkt, real_stage1, f"--volume=data,kind=host,source={data}", aci,
                 env={**_env(notify_socket), "WATCHDOG_USEC": "5000000"},
                 prefix=["sh", "-c", 'WATCHDOG_PID=$$ exec "$@"', "sh"]) as proc:
        first = notify_socket.receive(timeout=30)
        assert first is not None, proc.communicate(timeout=30)
        message, sender, when = first
        # not one datagram before the app's: the marker it wrote first is there, the sleep over
        assert (data / "marker").exists()
        assert when - began >= 1.0
        assert message == b"STATUS=serving\nREADY=1"  # MAINPID= never leaves the pod
        assert sender == proc.pid  # the unit's main pid: NotifyAccess=main suffices
        assert notify_socket.receive(timeout=10)[0] == b"WATCHDOG=1"
        assert notify_socket.receive(timeout=10)[0] == b"STOPPING=1"
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"socket=@rkt/" in out and b"watchdog=5000000" in out
    assert notify_socket.receive(timeout=0.2) is None


def test_without_annotation_ready_when_apps_started(rkt, real_stage1, image, notify_socket,
                                                     tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    aci = image(["/bin/sh", "-c", "echo socket=${NOTIFY_SOCKET:-none}; sleep 2; touch /data/late"],
                mount_points=[{"name": "data", "path": "/data"}])
    with running(rkt, real_stage1, f"--volume=data,kind=host,source={data}", aci,
                 env=_env(notify_socket)) as proc:
        got = notify_socket.receive(timeout=30)
        assert got is not None and got[0] == b"READY=1"
        assert not (data / "late").exists()  # as rkt: ready once the apps run
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"socket=none" in out  # no annotation, no socket
    assert notify_socket.receive(timeout=0.2) is None


def test_ready_waits_for_every_notify_app(rkt, real_stage1, image, notify_socket, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    mp = [{"name": "data", "path": "/data"}]
    fast = image(["/bin/sh", "-c", "sdnotify READY=1; sleep 2"], name="example.com/fast",
                 notify=True, mount_points=mp)
    slow = image(["/bin/sh", "-c", "sleep 1; touch /data/slow; sdnotify READY=1; sleep 1"],
                 name="example.com/slow", notify=True, mount_points=mp)
    plain = image(["/bin/sh", "-c", "sleep 2"], name="example.com/plain", notify=False)
    with running(rkt, real_stage1, f"--volume=data,kind=host,source={data}", fast, slow, plain,
                 env=_env(notify_socket)) as proc:
        got = notify_socket.receive(timeout=30)
        assert got is not None and got[0] == b"READY=1"
        assert (data / "slow").exists()
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_status_wait_ready_and_wait(rkt, real_stage1, image, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    uuid_file = tmp_path / "uuid"
    aci = image(["/bin/sh", "-c", "sleep 1.5; touch /data/marker; sdnotify READY=1; sleep 1; exit 3"],
                notify=True, mount_points=[{"name": "data", "path": "/data"}])
    with running(rkt, real_stage1, f"--uuid-file-save={uuid_file}",
                 f"--volume=data,kind=host,source={data}", aci) as proc:
        wait_for(uuid_file)
        uuid = uuid_file.read_text().strip()
        # not ready yet: a short wait times out, naming the pod
        early = rkt.fails("status", "--wait-ready=100ms", uuid)
        assert "timed out" in early.stderr and uuid in early.stderr
        ready = rkt("status", "--wait-ready=20s", uuid, timeout=30)
        assert (data / "marker").exists()
        assert "state=running" in ready.stdout
        rkt("status", "--wait=20s", uuid, timeout=30)
        final = status(rkt, uuid)
        assert final["state"] == "exited" and final["app-sd"] == "3"
        proc.communicate(timeout=30)
    assert proc.returncode == 3
