"""`rkt enter` on the stage1 contract: it waits for the pid file, execs the stage1 enter
entrypoint with `--pid --appname -- CMD` in the pod dir, and fails cleanly when the pod dies."""

from __future__ import annotations

import threading
import time

import pytest

from tests.pod.handmade import Holder, make_pod

pytestmark = pytest.mark.root


@pytest.fixture
def log(tmp_path):
    return tmp_path / "stage1.log"


def test_enter_waits_for_pid_file(rkt, log):
    pod = make_pod(rkt.dir, "run", log)
    holder = Holder(rkt.dir / "pods" / "run" / pod, pid_delay=1.0)
    try:
        start = time.monotonic()
        out = rkt("enter", pod[:8], "ls", "-l", "/").stdout
        assert time.monotonic() - start >= 0.9
        assert out.strip() == f"entered --pid={holder.pid} --appname=app -- ls -l /"
        assert log.read_text().split()[:2] == ["enter", str(rkt.dir / "pods" / "run" / pod)]
        out = rkt("enter", pod, "--", "/bin/echo", "--app=x").stdout
        assert out.strip() == f"entered --pid={holder.pid} --appname=app -- /bin/echo --app=x"
    finally:
        holder.stop()


def test_enter_default_command_and_app_choice(rkt, log):
    pod = make_pod(rkt.dir, "run", log, apps=(("a", "example.com/a", "1"), ("b", "example.com/b", "1")))
    holder = Holder(rkt.dir / "pods" / "run" / pod, pid_delay=0)
    try:
        proc = rkt.fails("enter", pod)
        assert "several apps (a, b)" in proc.stderr
        proc = rkt.fails("enter", "--app=c", pod)
        assert 'no app named "c"' in proc.stderr
        proc = rkt("enter", "--app=b", pod)
        assert proc.stdout.strip() == f"entered --pid={holder.pid} --appname=b -- /bin/sh"
        assert "No command specified" in proc.stderr
    finally:
        holder.stop()


def test_enter_fails_cleanly_when_pod_dies(rkt, log):
    pod = make_pod(rkt.dir, "run", log)
    holder = Holder(rkt.dir / "pods" / "run" / pod)  # never writes its pid
    timer = threading.Timer(2.0, holder.stop)  # after `rkt enter` started, even on a busy machine
    timer.start()
    try:
        proc = rkt.fails("enter", pod, "true")
        assert "is not running anymore" in proc.stderr
    finally:
        timer.cancel()
        holder.stop()
    proc = rkt.fails("enter", pod)
    assert "isn't currently running" in proc.stderr
    assert not log.exists()
    rkt.fails("enter", code=254)
