"""The run entrypoint on hand-built pod directories: apps, their lifecycle and the pod's
namespaces, with real namespaces, mounts and processes."""

from __future__ import annotations

import os
import time

import pytest

from tests.helpers.aci import Entry
from tests.helpers.output import without_app_prefixes
from tests.stage1.poddir import SH, app_entry, run_ok, sh, wait_for

pytestmark = pytest.mark.root


def test_success_writes_pid_and_status(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"])])
    r = run_ok(pod, "--net=host")
    assert r.stderr == ""
    assert int((pod.path / "pid").read_text()) > 1
    assert pod.status("a") == "0"


def test_exit_code_propagates(make_pod):
    pod = make_pod([sh("a", "exit 7")])
    r = pod.run("--net=host")
    assert r.returncode == 7
    assert pod.status("a") == "7"


def test_failing_app_stops_the_others(make_pod):
    pod = make_pod([app_entry("long", ["/bin/sleep", "100"]),
                    sh("bad", "sleep 0.3; exit 3"),
                    app_entry("ok", ["/bin/true"])])
    start = time.monotonic()
    r = pod.run("--net=host")
    assert r.returncode == 3, r.stderr
    assert time.monotonic() - start < 8
    assert pod.status("bad") == "3"
    assert pod.status("long") == str(128 + 15)
    assert pod.status("ok") == "0"


def test_apps_run_concurrently(make_pod):
    # each app waits for the other's file in a shared empty volume: sequential apps would hang
    vol = {"name": "shared", "kind": "empty"}
    mounts = [{"volume": "shared", "path": "/shared"}]
    pod = make_pod([sh("a", "touch /shared/a; while [ ! -e /shared/b ]; do sleep 0.05; done",
                       mounts=mounts),
                    sh("b", "touch /shared/b; while [ ! -e /shared/a ]; do sleep 0.05; done",
                       mounts=mounts)], volumes=[vol])
    run_ok(pod, "--net=host", timeout=20)
    assert sorted(os.listdir(pod.path / "sharedVolumes" / "shared")) == ["a", "b"]


def test_event_handlers_order(make_pod):
    app = sh("a", "test -f /prestart && id -u > /main",
             user="1000", group="1000",
             eventHandlers=[
                 {"name": "pre-start", "exec": [SH, "-c", "id -u > /prestart"]},
                 {"name": "post-stop", "exec": [SH, "-c", "test -f /main && cat /main > /poststop"]},
             ])
    app["files"]["main"] = Entry(data=b"", mode=0o666)  # writable by uid 1000
    pod = make_pod([app])
    run_ok(pod, "--net=host")
    root = pod.rootfs("a")
    assert (root / "prestart").read_text() == "0\n"  # pre-start runs as root
    assert (root / "main").read_text() == "1000\n"
    assert (root / "poststop").read_text() == "1000\n"


def test_failing_pre_start_fails_the_app(make_pod):
    pod = make_pod([sh("a", "touch /main", eventHandlers=[
        {"name": "pre-start", "exec": [SH, "-c", "exit 5"]}])])
    r = pod.run("--net=host")
    assert r.returncode == 5
    assert not (pod.rootfs("a") / "main").exists()


def test_environment(make_pod):
    pod = make_pod([app_entry("envapp", ["/bin/env"],
                              environment=[{"name": "FOO", "value": "bar baz"}])])
    r = run_ok(pod, "--net=host", "--mds-token=tok123")
    env = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert env["PATH"] == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert env["AC_APP_NAME"] == "envapp"
    assert env["container"] == "rkt"
    assert env["FOO"] == "bar baz"
    assert env["AC_METADATA_URL"] == "http://127.0.0.1:18112/tok123"
    recorded = (pod.stage1_rootfs / "rkt" / "env" / "envapp").read_text()
    assert "FOO=bar baz\n" in recorded and "AC_APP_NAME=envapp\n" in recorded


def test_path_from_manifest_is_kept_and_searched(make_pod):
    pod = make_pod([app_entry("a", ["mytool"], environment=[{"name": "PATH", "value": "/opt/t"}],
                              files={"opt/t/mytool": Entry(data=b"#!/bin/sh\necho $PATH\n",
                                                           mode=0o755)})])
    r = run_ok(pod, "--net=host")
    assert r.stdout == "/opt/t\n"


def test_missing_exec_fails_clearly(make_pod):
    pod = make_pod([app_entry("x", ["/bin/nope"])])
    r = pod.run("--net=host")
    assert r.returncode == 254
    assert r.stderr == 'stage1: app "x": exec "/bin/nope": no such file\n'
    assert pod.status("x") is None
    assert not (pod.path / "pid").exists()


def test_bad_app_starts_no_other_app(make_pod):
    pod = make_pod([sh("good", "touch /ran"), app_entry("x", ["nope"])])
    r = pod.run("--net=host")
    assert r.returncode == 254
    assert r.stderr == 'stage1: app "x": exec "nope": no such file\n'
    assert not (pod.rootfs("good") / "ran").exists()


def test_working_directory(make_pod):
    pod = make_pod([app_entry("a", ["/bin/pwd"], workingDirectory="/home/user")])
    assert run_ok(pod, "--net=host").stdout == "/home/user\n"


def test_missing_working_directory_fails_clearly(make_pod):
    pod = make_pod([app_entry("x", ["/bin/pwd"], workingDirectory="/nope")])
    r = pod.run("--net=host")
    assert r.returncode == 254
    assert r.stderr == 'stage1: app "x": working directory "/nope" does not exist\n'


@pytest.mark.parametrize("user,group,sgids,expected", [
    # only supplementaryGIDs become groups (as rkt); busybox prints no groups= when there are none
    ("user", "extra", [], "uid=1000(user) gid=1500(extra)"),
    ("1234", "4321", [], "uid=1234 gid=4321"),
    ("/owned", "/owned", [], "uid=2345 gid=5432"),
    ("root", "root", [], "uid=0(root) gid=0(root)"),
    ("user", "user", [1500, 42], "uid=1000(user) gid=1000(user) groups=42,1500(extra)"),
])
def test_user_and_group(make_pod, user, group, sgids, expected):
    extra = {"supplementaryGIDs": sgids} if sgids else {}
    pod = make_pod([app_entry("a", ["/bin/id"], user=user, group=group,
                              files={"owned": Entry(data=b"", uid=2345, gid=5432)}, **extra)])
    out = run_ok(pod, "--net=host").stdout.strip()
    if sgids:  # busybox orders groups as getgroups() returns them; compare as sets
        head, _, groups = out.partition(" groups=")
        exp_head, _, exp_groups = expected.partition(" groups=")
        assert head == exp_head and set(groups.split(",")) == set(exp_groups.split(","))
    else:
        assert out == expected


def test_unknown_user_fails_clearly(make_pod):
    pod = make_pod([app_entry("a", ["/bin/id"], user="nobody-here")])
    r = pod.run("--net=host")
    assert r.returncode == 254
    assert r.stderr == "stage1: app \"a\": user 'nobody-here' not found in the image's /etc/passwd\n"


def test_pid_namespace(make_pod):
    pod = make_pod([sh("a", "echo $$; ps -o pid,args > /tmp/ps; cat /tmp/ps")])
    lines = run_ok(pod, "--net=host").stdout.splitlines()
    app_pid = int(lines[0])
    procs = {int(pid): args for pid, args in (line.split(None, 1) for line in lines[2:])}
    # only the pod's processes, numbered from 1 (the supervisor) in the pod's own pid namespace:
    # the supervisor (which also carries the apps' output: no relay process), the app and its ps
    assert len(procs) == 3 and max(procs) < 20, procs
    assert "stage1 init" in procs[1]  # its title, not the interpreter and host paths
    assert procs[app_pid].startswith("/bin/sh -c")


def test_net_none_has_only_loopback_up(make_pod):
    pod = make_pod([sh("a", "ls /sys/class/net; cat /sys/class/net/lo/flags")])
    out = run_ok(pod, "--net=none").stdout.split()
    assert out[0] == "lo" and len(out) == 2
    assert int(out[1], 16) & 1  # IFF_UP


def test_net_none_is_private_host_net_is_shared(make_pod):
    # the default network is tested in tests/net, inside a network namespace of its own
    pod = make_pod([sh("a", "ls /sys/class/net | wc -l")])
    assert run_ok(pod, "--net=none").stdout == "1\n"
    pod = make_pod([sh("a", "ls /sys/class/net | wc -l")])
    assert run_ok(pod, "--net=host").stdout == f"{len(os.listdir('/sys/class/net'))}\n"


def test_unknown_network_fails(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"])])
    r = pod.run("--net=foo")
    assert r.returncode == 254
    assert r.stderr == 'stage1: failed to setup network: network "foo" not found\n'


def test_malformed_pod_manifest(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"])])
    (pod.path / "pod").write_text("{not json")
    r = pod.run("--net=host")
    assert r.returncode == 254
    assert r.stderr == "stage1: pod manifest is not valid JSON\n"


def test_bad_flag(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"])])
    r = pod.run("--bogus")
    assert (r.returncode, r.stderr) == (254, "stage1: unknown flag --bogus\n")


def test_many_pods_leave_nothing_behind(make_pod):
    for _ in range(8):
        pod = make_pod([sh("a", "exit 0"), app_entry("b", ["/bin/true"])])
        run_ok(pod, "--net=none")


def test_pod_lock_held_while_running_and_not_leaked_to_apps(make_pod):
    import fcntl
    pod = make_pod([sh("a", "ls /proc/self/fd; sleep 100")])
    proc = pod.spawn("--net=host")
    try:
        wait_for(pod.path / "pid")
        fd = os.open(pod.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    finally:
        pod.entry("stop", pod.uuid)
        out, _ = proc.communicate(timeout=15)
    assert sorted(without_app_prefixes(out).split()) == ["0", "1", "2", "3"]  # 3: ls's own directory fd


@pytest.mark.parametrize("flag,shared", [("--ipc=auto", False), ("--ipc=private", False),
                                         ("--ipc=parent", True)])
def test_ipc_namespace(make_pod, flag, shared):
    pod = make_pod([sh("a", "readlink /proc/self/ns/ipc")])
    out = run_ok(pod, "--net=host", flag).stdout.strip()
    assert (out == os.readlink("/proc/self/ns/ipc")) is shared


def test_uts_and_net_namespaces(make_pod):
    pod = make_pod([sh("a", "readlink /proc/self/ns/uts; readlink /proc/self/ns/net")])
    uts, net = run_ok(pod, "--net=host").stdout.split()
    assert uts != os.readlink("/proc/self/ns/uts") and net == os.readlink("/proc/self/ns/net")
    pod = make_pod([sh("a", "readlink /proc/self/ns/net")])
    assert run_ok(pod, "--net=none").stdout.strip() != os.readlink("/proc/self/ns/net")


def test_relative_exec_path_is_taken_from_the_working_directory(make_pod):
    tool = Entry(data=b"#!/bin/sh\necho relative $(pwd)\n", mode=0o755)
    pod = make_pod([app_entry("a", ["./tool"], workingDirectory="/opt", files={"opt/tool": tool})])
    assert run_ok(pod, "--net=host").stdout == "relative /opt\n"


def test_debug_reports_app_lifecycle(make_pod):
    pod = make_pod([sh("a", "exit 4")])
    r = pod.run("--net=host", "--debug")
    assert r.returncode == 4
    assert 'stage1: debug: app "a" ready: host pid ' in r.stderr
    assert 'stage1: debug: app "a" exited with 4\n' in r.stderr


def test_sigterm_during_setup_is_not_lost(make_pod):
    pod = make_pod([app_entry("a", ["/bin/sleep", "100"])])
    proc = pod.spawn("--net=host")
    try:
        time.sleep(0.01)  # most likely still starting up
        proc.terminate()
        assert proc.wait(timeout=15) in (128 + 15, -15)  # -15: before it even forked
    finally:
        proc.kill()
        proc.communicate()
