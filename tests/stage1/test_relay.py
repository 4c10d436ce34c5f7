"""The relay inside PID 1 (stage1.relay in the supervisor's loop): apps' output is carried while
the supervisor reaps and forwards signals, drained once the apps are gone even when an orphan
still holds their pipes, and a console nobody reads holds neither the apps nor a stop up."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.stage1.poddir import sh, wait_for

pytestmark = pytest.mark.root

LINES = "i=0; while [ $i -lt 500 ]; do echo line $i; i=$((i+1)); done"


def log_texts(pod, app: str) -> list[str]:
    """The texts of the app's stdout records in its log (CRI format: time stream F|P text);
    stderr has the shell's "Terminated" for its stopped children. A rotated file comes first."""
    logs = pod.path / "logs"
    text = "".join(f.read_text() for f in (logs / f"{app}.log.1", logs / f"{app}.log") if f.exists())
    records = [line.split(" ", 3) for line in text.splitlines()]
    return [text for _time, stream, _tag, text in records if stream == "stdout"]


def test_output_is_drained_when_an_orphan_keeps_the_pipes(make_pod):
    # the background sleep outlives the app with its stdout: the pod must not wait for it
    pod = make_pod([sh("a", f"sleep 60 & {LINES}; exit 5")])
    start = time.monotonic()
    r = pod.run("--net=host", timeout=30)
    assert r.returncode == 5, r.stderr
    assert time.monotonic() - start < 15
    assert r.stdout.splitlines()[-1] == "line 499"
    assert log_texts(pod, "a")[-1] == "line 499" and len(log_texts(pod, "a")) == 500


def test_an_exit_is_noticed_while_another_app_floods_the_console(make_pod):
    pod = make_pod([sh("chatty", "while :; do echo chatter chatter chatter; done"),
                    sh("bad", "sleep 0.3; exit 3")])
    start = time.monotonic()
    r = pod.run("--net=host", timeout=30)
    assert r.returncode == 3, r.stderr
    assert time.monotonic() - start < 8  # no wait for the kill grace: chatty stopped on TERM
    assert pod.status("chatty") == str(128 + 15)
    assert "chatter chatter chatter" in r.stdout


def test_a_stalled_console_holds_up_neither_the_app_nor_its_stop(make_pod):
    # nobody reads rkt run's stdout: its pipe fills, the lines skip the console, the log has them
    pod = make_pod([sh("a", "trap 'echo stopping; exit 7' TERM; "
                            "while :; do printf '%0200d\\n' 0; done")])  # builtin: no fork a line
    proc = pod.spawn("--net=host")
    try:
        wait_for(pod.path / "pid")
        time.sleep(2.5)  # well past the console's one wait (logs.CONSOLE_WAIT_MS)
        assert proc.poll() is None
        stopped = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
        assert code == 7 and time.monotonic() - stopped < 5, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    texts = log_texts(pod, "a")
    assert len(texts) > 1000 and texts[-1] == "stopping"


def test_output_written_right_before_a_stop_is_kept(make_pod):
    pod = make_pod([sh("a", f"trap '{LINES}; exit 9' TERM; echo up; while :; do sleep 0.05; done")])
    proc = pod.spawn("--net=host")
    try:
        wait_for(pod.path / "pid")
        assert proc.stdout.readline().endswith("up\n")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 9
    assert out.splitlines()[-1].endswith("line 499")
    assert log_texts(pod, "a") == ["up"] + [f"line {i}" for i in range(500)]
