"""The other entrypoints on running pods (stop, gc, enter) and interactive runs on a terminal."""

from __future__ import annotations

import pytest

from tests.helpers.aci import Entry
from tests.helpers.tty import run_on_tty
from tests.stage1.poddir import SH, app_entry, run_ok, sh, wait_for

pytestmark = pytest.mark.root


@pytest.mark.parametrize("force,code", [(False, 128 + 15), (True, 128 + 9)])
def test_stop(make_pod, force, code):
    pod = make_pod([sh("a", "sleep 100", eventHandlers=[
        {"name": "post-stop", "exec": [SH, "-c", "touch /stopped"]}])])
    proc = pod.spawn("--net=host")
    try:
        wait_for(pod.path / "pid")
        r = pod.entry("stop", *(["--force"] if force else []), pod.uuid)
        assert r.returncode == 0, r.stderr
        assert proc.wait(timeout=15) == code
    finally:
        proc.kill()
        proc.communicate()
    if force:  # the kernel killed every pod process: no status, no post-stop
        assert pod.status("a") is None
    else:
        assert pod.status("a") == str(code)
        assert (pod.rootfs("a") / "stopped").exists()


def test_sigterm_to_rkt_run_stops_the_pod(make_pod):
    pod = make_pod([sh("a", "sleep 100")])
    proc = pod.spawn("--net=host")
    try:
        wait_for(pod.path / "pid")
        proc.terminate()
        assert proc.wait(timeout=15) == 128 + 15
    finally:
        proc.kill()
        proc.communicate()


def test_stop_of_exited_pod_is_fine(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"])])
    run_ok(pod, "--net=host")
    assert pod.entry("stop", pod.uuid).returncode == 0


def test_gc_entrypoint(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"])])
    run_ok(pod, "--net=host")
    r = pod.entry("gc", pod.uuid)
    assert (r.returncode, r.stderr) == (0, "")


def test_enter(make_pod):
    pod = make_pod([sh("a", "echo started > /tmp/up; sleep 100", user="user", group="user",
                       supplementaryGIDs=[1500], workingDirectory="/home/user",
                       files={"tmp": Entry(kind="dir", mode=0o1777)},
                       environment=[{"name": "FOO", "value": "bar"}])])
    proc = pod.spawn("--net=host")
    try:
        wait_for(pod.path / "pid")
        wait_for(pod.rootfs("a") / "tmp" / "up")
        pid = (pod.path / "pid").read_text()
        r = pod.entry("enter", f"--pid={pid}", "--appname=a", "--",
                      SH, "-c", "id; pwd; echo $FOO $AC_APP_NAME; hostname; cat /tmp/up; "
                                "ps -o args | grep -c '^sleep 100$'; grep CapBnd /proc/self/status")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].startswith("uid=1000(user) gid=1000(user) groups=")
        assert lines[1:6] == ["/home/user", "bar a", f"rkt-{pod.uuid}", "started", "1"]
        caps = int(lines[6].split()[1], 16)
        assert caps and not caps & (1 << 21)  # no CAP_SYS_ADMIN: the app's bounding set
        app_pid = (pod.stage1_rootfs / "rkt" / "pids" / "a").read_text().strip()
        with open(f"/proc/{app_pid}/cgroup") as f:
            app_cgroups = f.read()
        r = pod.entry("enter", f"--pid={pid}", "--appname=a", "--", "/bin/cat", "/proc/self/cgroup")
        assert r.stdout == app_cgroups
        r = pod.entry("enter", f"--pid={pid}", "--appname=a", "--", "/bin/sh", "-c", "exit 9")
        assert r.returncode == 9
        r = pod.entry("enter", f"--pid={pid}", "--appname=zz", "--", "/bin/true")
        assert (r.returncode, r.stderr) == (254, 'stage1: app "zz" is not in the pod\n')
    finally:
        pod.entry("stop", "--force", pod.uuid)
        proc.wait(timeout=15)
        proc.communicate()


def test_enter_exited_app_fails(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"])])
    run_ok(pod, "--net=host")
    pid = (pod.path / "pid").read_text()
    r = pod.entry("enter", f"--pid={pid}", "--appname=a", "--", "/bin/true")
    assert (r.returncode, r.stderr) == (254, 'stage1: app "a" is not running (it has exited)\n')


def _pty_run(pod, flags, send=None, timeout=15):
    """`stage1 run` on a terminal; `send` is typed once the app wrote READY."""
    replies = ((b"READY", send),) if send else ()
    code, out = run_on_tty(pod.run_cmd(*flags), replies=replies, cwd=pod.path, timeout=timeout)
    return code, out.decode(errors="replace")


def test_interactive_gets_the_terminal(make_pod):
    pod = make_pod([sh("a", "test -t 0 && test -t 1 && echo TTY")])
    code, out = _pty_run(pod, ["--net=host", "--interactive"], send=None)
    assert "TTY" in out, out
    pod = make_pod([sh("a", "echo READY; read line; echo got:$line")])
    code, out = _pty_run(pod, ["--net=host", "--interactive"], send=b"hello\n")
    assert code == 0 and "got:hello" in out, out


def test_interactive_ctrl_c_reaches_the_app(make_pod):
    pod = make_pod([sh("a", "echo READY; sleep 100")])
    code, out = _pty_run(pod, ["--net=host", "--interactive"], send=b"\x03")
    assert code == 128 + 2, out


def test_non_interactive_stdin_is_dev_null(make_pod):
    pod = make_pod([sh("a", "cat; readlink /proc/self/fd/0")])
    r = run_ok(pod, "--net=host", stdin=None)
    assert r.stdout == "/dev/null\n"


def test_interactive_needs_one_app(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"]), app_entry("b", ["/bin/true"])])
    r = pod.run("--interactive")
    assert (r.returncode, r.stderr) == (
        254, "stage1: interactive mode only works with pods of exactly one app\n")


def test_gc_and_stop_reject_bad_arguments(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"])])
    r = pod.entry("gc", "../x")
    assert r.returncode == 254 and r.stderr.startswith("stage1: gc of pod '../x': ") and \
        "Traceback" not in r.stderr
    r = pod.entry("stop")
    assert (r.returncode, r.stderr) == (254, "stage1: usage: stop [--force] UUID\n")
    r = pod.entry("stop", pod.uuid)  # never ran: no pid file
    assert r.returncode == 254 and r.stderr.startswith(f"stage1: cannot stop pod {pod.uuid}: ")
