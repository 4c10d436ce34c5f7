"""The run entrypoint on hand-built pod directories: real namespaces, mounts and processes."""

from __future__ import annotations

import os
import time

import pytest

from tests.helpers.aci import Entry
from tests.stage1.poddir import app_entry

pytestmark = pytest.mark.root
SH = "/bin/sh"


def sh(name, script, **kw):
    return app_entry(name, [SH, "-c", script], **kw)


def run_ok(pod, *flags, **kw):
    r = pod.run(*flags, **kw)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


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


def test_filesystem_layout(make_pod):
    script = ("for n in null zero full random urandom tty console; do test -c /dev/$n || echo no $n; done;"
              "test -c /dev/pts/ptmx || echo no ptmx; test \"$(readlink /dev/ptmx)\" = pts/ptmx || echo ptmx;"
              "test -d /dev/shm || echo no shm; test \"$(readlink /dev/fd)\" = /proc/self/fd || echo fd;"
              "test \"$(readlink /dev/stdout)\" = /proc/self/fd/1 || echo stdout;"
              "test \"$(readlink /etc/mtab)\" = ../proc/self/mounts || echo mtab;"
              "test -d /proc/self || echo proc; test -d /sys/kernel || echo sys;"
              "touch /sys/x 2>/dev/null && echo sys-rw; echo ok > /dev/null || echo devnull;"
              "touch /dev/shm/x || echo shm-ro; grep -q ' / ' /proc/self/mounts || echo noroot;"
              "echo done")
    pod = make_pod([sh("a", script)])
    assert run_ok(pod, "--net=host").stdout == "done\n"


def test_pid_namespace(make_pod):
    pod = make_pod([sh("a", "echo $$; ps -o pid,args > /tmp/ps; cat /tmp/ps")])
    lines = run_ok(pod, "--net=host").stdout.splitlines()
    app_pid = int(lines[0])
    procs = {int(pid): args for pid, args in (line.split(None, 1) for line in lines[2:])}
    # only the pod's processes, numbered from 1 (the supervisor) in the pod's own pid namespace:
    # the supervisor, the relay of the apps' output, the app and its ps
    assert len(procs) == 4 and max(procs) < 20, procs
    assert "stage1/rootfs/init" in procs[1]
    assert sum("{rkt-relay}" in args for args in procs.values()) == 1, procs
    assert procs[app_pid].startswith("/bin/sh -c")


def test_hostname_and_hosts(make_pod):
    pod = make_pod([sh("a", "hostname; cat /etc/hostname; cat /etc/hosts")])
    out = run_ok(pod, "--net=host").stdout
    name = f"rkt-{pod.uuid}"
    assert out.startswith(f"{name}\n{name}\n")
    assert "127.0.0.1" in out and "localhost" in out and name in out.split("\n", 2)[2]


def test_custom_hostname(make_pod):
    pod = make_pod([sh("a", "hostname; cat /etc/hostname")])
    assert run_ok(pod, "--hostname=myhost").stdout == "myhost\nmyhost\n"


def test_image_hosts_kept_unless_stage0_wrote_one(make_pod):
    files = {"etc/hosts": b"10.1.2.3 fromimage\n"}
    pod = make_pod([sh("a", "cat /etc/hosts", files=files)])
    assert run_ok(pod, "--net=host").stdout == "10.1.2.3 fromimage\n"
    pod2 = make_pod([sh("a", "cat /etc/hosts", files=files)])
    (pod2.stage1_rootfs / "etc").mkdir()
    (pod2.stage1_rootfs / "etc" / "rkt-hosts").write_text("10.9.9.9 fromstage0\n")
    assert run_ok(pod2, "--net=host").stdout == "10.9.9.9 fromstage0\n"


def test_resolv_conf_modes(make_pod):
    files = {"etc/resolv.conf": b"nameserver 10.0.0.1\n"}
    pod = make_pod([sh("a", "cat /etc/resolv.conf", files=files)])
    assert run_ok(pod, "--net=host").stdout == "nameserver 10.0.0.1\n"
    pod = make_pod([sh("a", "cat /etc/resolv.conf", files=files)])
    (pod.stage1_rootfs / "etc").mkdir()
    (pod.stage1_rootfs / "etc" / "rkt-resolv.conf").write_text("nameserver 8.8.8.8\n")
    assert run_ok(pod, "--net=host", "--dns-conf-mode=resolv=stage0,hosts=default").stdout == \
        "nameserver 8.8.8.8\n"
    pod = make_pod([sh("a", "cat /etc/resolv.conf", files=files)])
    with open("/etc/resolv.conf") as f:
        assert run_ok(pod, "--net=host", "--dns-conf-mode=resolv=host").stdout == f.read()


def test_host_volumes_rw_and_ro(make_pod, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("data")
    vols = [{"name": "rw", "kind": "host", "source": str(rw)},
            {"name": "ro", "kind": "host", "source": str(ro), "readOnly": True}]
    pod = make_pod([sh("a", "echo hi > /mnt/rw/out; cat /mnt/ro/f; echo x > /mnt/ro/g || echo denied",
                       mounts=[{"volume": "rw", "path": "/mnt/rw"},
                               {"volume": "ro", "path": "/mnt/ro"}])], volumes=vols)
    r = run_ok(pod, "--net=host")
    assert r.stdout == "datadenied\n"
    assert (rw / "out").read_text() == "hi\n"
    assert not (ro / "g").exists()


def test_empty_volume_mode_and_owner(make_pod):
    vol = {"name": "e", "kind": "empty", "mode": "0700", "uid": 1000, "gid": 1500}
    pod = make_pod([sh("a", "stat -c '%a %u %g' /e; touch /e/x", user="1000", group="1000",
                       mounts=[{"volume": "e", "path": "/e"}])], volumes=[vol])
    assert run_ok(pod, "--net=host").stdout == "700 1000 1500\n"


def test_implicit_empty_volume_for_mount_point(make_pod):
    app = sh("a", "touch /data/x && echo ok", mountPoints=[{"name": "data", "path": "/data"}])
    pod = make_pod([app])
    assert run_ok(pod, "--net=host").stdout == "ok\n"
    assert (pod.path / "sharedVolumes" / "data" / "x").exists()


def test_symlinked_mount_target_resolved_inside_rootfs(make_pod, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("vol")
    host_target = tmp_path / "hostdir"  # the symlink points here on the host: must stay untouched
    files = {"link": Entry(kind="symlink", target=str(host_target)),
             "rel": Entry(kind="symlink", target="../../real")}
    pod = make_pod([sh("a", "cat /link/v/f; cat /rel/w/f",
                       files=files,
                       mounts=[{"volume": "s", "path": "/link/v"}, {"volume": "s", "path": "/rel/w"}])],
                   volumes=[{"name": "s", "kind": "host", "source": str(src)}])
    assert run_ok(pod, "--net=host").stdout == "volvol"
    assert not host_target.exists()
    assert (pod.rootfs("a") / str(host_target).lstrip("/") / "v").is_dir()
    assert (pod.rootfs("a") / "real" / "w").is_dir()


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


def _wait_for(path, timeout=10):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize("force,code", [(False, 128 + 15), (True, 128 + 9)])
def test_stop(make_pod, force, code):
    pod = make_pod([sh("a", "sleep 100", eventHandlers=[
        {"name": "post-stop", "exec": [SH, "-c", "touch /stopped"]}])])
    proc = pod.spawn("--net=host")
    try:
        _wait_for(pod.path / "pid")
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
        _wait_for(pod.path / "pid")
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
        _wait_for(pod.path / "pid")
        _wait_for(pod.rootfs("a") / "tmp" / "up")
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
    import pty
    import select
    import subprocess
    master, slave = pty.openpty()
    proc = subprocess.Popen(pod.run_cmd(*flags), cwd=pod.path, stdin=slave, stdout=slave,
                            stderr=slave, start_new_session=True,
                            preexec_fn=lambda: __import__("fcntl").ioctl(0, __import__("termios").TIOCSCTTY, 0))
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    sent = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            if send and not sent and b"READY" in out:
                os.write(master, send)
                sent = True
            if proc.poll() is not None and not ready:
                break
        return proc.wait(timeout=5), out.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


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


def test_image_symlinks_never_steer_etc_writes_to_the_host(make_pod, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    files = {"etc/hostname": Entry(kind="symlink", target=str(victim)),
             "etc/hosts": Entry(kind="symlink", target="/proc/sys/kernel/hostname"),
             "etc/resolv.conf": Entry(kind="symlink", target=str(victim) + "2")}
    pod = make_pod([sh("a", "cat /etc/hostname; cat /etc/resolv.conf", files=files)])
    with open("/proc/sys/kernel/hostname") as f:
        host_name = f.read()
    with open("/etc/resolv.conf") as f:
        host_resolv = f.read()
    r = run_ok(pod, "--net=host", "--dns-conf-mode=resolv=host")
    assert r.stdout == f"rkt-{pod.uuid}\n{host_resolv}"
    assert victim.read_text() == "untouched" and not os.path.exists(str(victim) + "2")
    with open("/proc/sys/kernel/hostname") as f:
        assert f.read() == host_name


def test_device_node_in_image_is_replaced_not_written(make_pod):
    files = {"etc/hostname": Entry(kind="chr", major=1, minor=3, mode=0o666)}  # /dev/null's numbers
    pod = make_pod([sh("a", "test -f /etc/hostname && cat /etc/hostname", files=files)])
    assert run_ok(pod, "--net=host").stdout == f"rkt-{pod.uuid}\n"


def test_mount_target_cannot_escape_the_rootfs(make_pod, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    pod = make_pod([sh("a", "test -d /escape && echo inside",
                       mounts=[{"volume": "s", "path": "/../../../../escape"}])],
                   volumes=[{"name": "s", "kind": "host", "source": str(src)}])
    assert run_ok(pod, "--net=host").stdout == "inside\n"
    assert not os.path.exists("/escape")


def test_missing_volume_source_fails_clearly(make_pod, tmp_path):
    pod = make_pod([app_entry("a", ["/bin/true"], mounts=[{"volume": "s", "path": "/s"}])],
                   volumes=[{"name": "s", "kind": "host", "source": str(tmp_path / "nope")}])
    r = pod.run("--net=host")
    assert r.returncode == 254
    assert r.stderr == f'stage1: app "a": volume \'s\': source {tmp_path / "nope"} does not exist\n'


def test_many_pods_leave_nothing_behind(make_pod):
    for _ in range(8):
        pod = make_pod([sh("a", "exit 0"), app_entry("b", ["/bin/true"])])
        run_ok(pod, "--net=none")
    # the make_pod fixture checks mounts, processes and cgroups for every pod on teardown


def test_pod_lock_held_while_running_and_not_leaked_to_apps(make_pod):
    import fcntl
    pod = make_pod([sh("a", "ls /proc/self/fd; sleep 100")])
    proc = pod.spawn("--net=host")
    try:
        _wait_for(pod.path / "pid")
        fd = os.open(pod.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    finally:
        pod.entry("stop", pod.uuid)
        out, _ = proc.communicate(timeout=15)
    assert sorted(out.split()) == ["0", "1", "2", "3"]  # 3: ls's own directory fd


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


def test_gc_and_stop_reject_bad_arguments(make_pod):
    pod = make_pod([app_entry("a", ["/bin/true"])])
    r = pod.entry("gc", "../x")
    assert r.returncode == 254 and r.stderr.startswith("stage1: gc of pod '../x': ") and \
        "Traceback" not in r.stderr
    r = pod.entry("stop")
    assert (r.returncode, r.stderr) == (254, "stage1: usage: stop [--force] UUID\n")
    r = pod.entry("stop", pod.uuid)  # never ran: no pid file
    assert r.returncode == 254 and r.stderr.startswith(f"stage1: cannot stop pod {pod.uuid}: ")


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
