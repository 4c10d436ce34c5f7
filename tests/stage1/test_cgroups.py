"""Pod and app cgroups on the real hierarchies of this machine: limits land in the kernel's files,
a process is really moved, a memory limit really kills, the device policy really refuses (v1
devices controller, and a v2 eBPF program through this host's cgroup2 mount)."""

from __future__ import annotations

import os
import signal
import time
import uuid as uuidlib

import pytest

from stage1 import kernel
from tests.stage1.forked import BUSYBOX, in_child
from tests.stage1.test_cgroup_rules import ISOLATORS
from stage1.cgroups import devices, limits, tree, v2
from stage1.cgroups import pod as pods

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _leftovers(uuid: str) -> list[str]:
    needle = uuid.replace("-", "\\x2d")
    found = []
    for dirpath, dirnames, _ in os.walk(tree.CGROUP_ROOT):
        found += [os.path.join(dirpath, d) for d in dirnames if needle in d]
    return found


def _slices() -> list[str]:
    return sorted(os.path.join(dp, d) for dp, dns, _ in os.walk(tree.CGROUP_ROOT) for d in dns
                  if d == tree.SLICE)


@pytest.fixture
def pod():
    slices_before = _slices()
    uuid = str(uuidlib.uuid4())
    made = []

    def create():
        made.append(pods.PodCgroups.create(uuid))
        return made[-1]
    yield create
    for p in made:
        p.remove()
    assert _leftovers(uuid) == [], "pod cgroups left behind"
    # the shared slice goes with its last pod (other tests may be running pods right now)
    for path in set(_slices()) - set(slices_before):
        try:
            assert any(e.is_dir() for e in os.scandir(path)), f"empty {path} left behind"
        except FileNotFoundError:
            pass  # removed meanwhile with another pod


def _cgroup_of(pid: int) -> dict[str, str]:
    result = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for c in controllers.split(","):
                result[c] = path
    return result


def _sleeper():
    """A child that waits until its pipe closes; -> (pid, write end)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    return pid, w




@root_only
def test_limits_land_in_the_kernel_and_the_app_is_attached(pod):
    p = pod()
    mgr = p.manager
    app = p.app("web", ISOLATORS)
    pid, w = _sleeper()
    try:
        app.attach(pid)
        groups = _cgroup_of(pid)
        if mgr.version == 1:
            assert set(mgr.mounts) >= {"memory", "cpu"}
            mem = os.path.join(mgr.mounts["memory"], app.rel)
            cpu = os.path.join(mgr.mounts["cpu"], app.rel)
            assert open(f"{mem}/memory.limit_in_bytes").read().strip() == str(50 * 2**20)
            assert open(f"{cpu}/cpu.cfs_quota_us").read().strip() == "50000"
            assert open(f"{cpu}/cpu.cfs_period_us").read().strip() == "100000"
            assert open(f"{cpu}/cpu.shares").read().strip() == "512"
            for controller in ("memory", "cpu", "pids"):
                if controller in mgr.mounts:
                    assert groups[controller] == "/" + app.rel, groups
            assert "rkt" in app.rel and app.rel.startswith("machine.slice/machine-rkt\\x2d")
        else:
            path = os.path.join(mgr.root, app.rel)
            assert open(f"{path}/memory.max").read().strip() == str(50 * 2**20)
            assert open(f"{path}/cpu.max").read().split() == ["50000", "100000"]
            assert groups[""] == "/" + app.rel
        with open(f"/proc/{pid}/oom_score_adj") as f:
            assert f.read().strip() == "321"
        assert pid in mgr.procs(p.rel)
    finally:
        os.close(w)
        os.waitpid(pid, 0)


@root_only
def test_memory_limit_kills_a_hungry_app(pod):
    app = pod().app("hungry", [{"name": "resource/memory", "value": {"limit": "16Mi"}}])
    pid = os.fork()
    if pid == 0:
        try:
            app.attach(0)
            devnull = os.open("/dev/null", os.O_WRONLY)
            os.dup2(devnull, 2)
            # dd holds a 64 MiB block in memory
            os.execv(BUSYBOX, ["busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=2"])
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
    pid = os.fork()
    if pid == 0:
        try:
            app.attach(0)
            os.dup2(os.open("/dev/null", os.O_WRONLY), 2)
            os.execv(BUSYBOX, ["busybox", "dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=2"])
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _run_in(app, argv) -> tuple[int, str]:
    """busybox argv in a child attached to `app`'s cgroup: (exit code or -signal, output)."""
    return in_child(lambda: app.attach(0), argv)


@root_only
def test_device_policy_is_closed(pod, tmp_path):
    p = pod()
    if p.manager.version != 1 or "devices" not in p.manager.mounts:
        pytest.skip("device policy needs the v1 devices controller")
    app = p.app("dev", [])
    code, out = _run_in(app, ["mknod", str(tmp_path / "disk"), "b", "8", "0"])
    assert code == 1 and "not permitted" in out, out  # CAP_MKNOD alone does not reach a disk
    code, out = _run_in(app, ["sh", "-c", f"mknod {tmp_path}/null c 1 3 && head -c 3 /dev/zero | wc -c"])
    assert code == 0 and out.split() == ["3"], out
    code, out = _run_in(app, ["dd", "if=/dev/kmsg", "of=/dev/null", "count=0"])
    assert code == 1 and "not permitted" in out, out
    # a device volume is allowed, read-only as mounted
    app = p.app("dev-volume", [], devices=[("/dev/kmsg", True), (str(tmp_path), False)])
    code, out = _run_in(app, ["dd", "if=/dev/kmsg", "of=/dev/null", "count=0"])
    assert code == 0, out
    code, out = _run_in(app, ["dd", "if=/dev/zero", "of=/dev/kmsg", "count=0"])
    assert code == 1 and "not permitted" in out, out
    # --insecure-options=paths: no policy
    app = p.app("dev-open", [], device_policy=False)
    code, out = _run_in(app, ["dd", "if=/dev/kmsg", "of=/dev/null", "count=0"])
    assert code == 0, out


@root_only
def test_devices_mounted_into_the_app_are_allowed(pod, tmp_path):
    """A device volume is a device node bind-mounted into the app's mount namespace."""
    s = kernel.current()
    p = pod()
    if p.manager.version != 1 or "devices" not in p.manager.mounts:
        pytest.skip("device policy needs the v1 devices controller")
    app = p.app("volume", [])
    node = tmp_path / "kmsg"
    node.write_text("")
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(out_w, 1)
            os.dup2(out_w, 2)
            s.private_mount_namespace()
            s.mount("/dev/kmsg", str(node), None, kernel.MS_BIND)
            s.mount(None, str(node), None, kernel.MS_BIND | kernel.MS_REMOUNT | kernel.MS_RDONLY)
            os.write(ready_w, b"r")
            os.read(go_r, 1)
            os.execv(BUSYBOX, ["busybox", "sh", "-c",
                               f"dd if={node} of=/dev/null count=0 2>&1 && echo read-ok;"
                               f"dd if=/dev/zero of={node} count=0 2>/dev/null || echo write-refused"])
        finally:
            os._exit(99)
    for fd in (ready_w, go_r, out_w):
        os.close(fd)
    assert os.read(ready_r, 1) == b"r"
    assert "c 1:11 r" in devices.mounted_devices(pid)
    app.attach(pid)
    os.write(go_w, b"g")
    out = b""
    while chunk := os.read(out_r, 4096):
        out += chunk
    for fd in (ready_r, go_w, out_r):
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert out.decode().split()[-2:] == ["read-ok", "write-refused"], out


@root_only
def test_cleanup_kills_leftovers_and_removes_everything(pod):
    p = pod()
    app = p.app("stuck", [])
    pid, w = _sleeper()
    app.attach(pid)
    started = time.monotonic()
    pods.cleanup(p.uuid)
    _, status = os.waitpid(pid, 0)
    os.close(w)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL
    assert _leftovers(p.uuid) == []
    assert time.monotonic() - started < 2
    pods.cleanup(p.uuid)  # again: nothing to do, no error


@root_only
def test_remove_waits_for_exiting_apps(pod):
    p = pod()
    app = p.app("short", [])
    pid = os.fork()
    if pid == 0:
        app.attach(0)
        time.sleep(0.1)
        os._exit(0)
    os.waitpid(pid, 0)
    p.remove()
    assert _leftovers(p.uuid) == []


@root_only
def test_attach_in_background_moves_the_caller_once_attach_returns(pod):
    """PID 1 starts its move into the pod's cgroup from a thread and goes on; attach(0) waits
    for it, and reports what failed as the plain attach would."""
    p = pod()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            p.attach_in_background()
            child = os.fork()  # what PID 1 does meanwhile: fork its apps
            if child == 0:
                os._exit(0)
            os.waitpid(child, 0)
            p.attach(0)
            with open("/proc/self/cgroup") as f:
                os.write(w, f.read().encode())
            gone = pods.PodCgroups(p.uuid, p.manager)
            gone.rel += "/no-such-dir"  # its directory does not exist: the move fails
            gone.attach_in_background()
            try:
                gone.attach(0)
            except OSError as err:
                os.write(w, f"error {err.errno}\n".encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    want = "/" + p.rel if p.manager.version == 1 else "/" + p.rel + "/stage1"
    assert any(line.split(":", 2)[2] == want for line in out.splitlines()
               if line.count(":") >= 2), out
    assert "error 2\n" in out, out  # ENOENT, raised by attach(0)


@root_only
def test_oom_score_adj_reaches_the_right_process_from_inside_a_pid_namespace():
    """The supervisor is PID 1 of the pod but sees the host's /proc: pid 2 there is not host pid 2."""
    s = kernel.current()
    r, w = os.pipe()
    outer = os.fork()
    if outer == 0:
        code = 1
        try:
            os.close(r)
            s.unshare(kernel.CLONE_NEWPID)
            supervisor = os.fork()
            if supervisor == 0:
                app_r, app_w = os.pipe()
                app = os.fork()
                if app == 0:
                    os.close(app_w)
                    os.read(app_r, 1)
                    with open("/proc/self/oom_score_adj") as f:  # "self" is never ambiguous
                        os.write(w, f"{os.getpid()} {f.read().strip()}".encode())
                    os._exit(0)
                limits.set_oom_score_adj(app, 456)
                os.close(app_w)
                os.waitpid(app, 0)
                os._exit(0)
            _, status = os.waitpid(supervisor, 0)
            code = os.waitstatus_to_exitcode(status)
        finally:
            os._exit(code)
    os.close(w)
    out = os.read(r, 100).decode()
    os.close(r)
    _, status = os.waitpid(outer, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert out == "2 456"


UNIFIED = "/sys/fs/cgroup/unified"


def _is_cgroup2(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path and " - cgroup2 " in line for line in f)


@root_only
def test_v2_device_policy_is_a_bpf_program(tmp_path):
    """Real cgroup v2 device control: on this hybrid host, through its cgroup2 mount."""
    root = tree.CGROUP_ROOT if _is_cgroup2(tree.CGROUP_ROOT) else UNIFIED
    if not _is_cgroup2(root):
        pytest.skip("no cgroup2 hierarchy mounted")
    mgr = v2.V2(root)
    p = pods.PodCgroups.create(str(uuidlib.uuid4()), mgr)
    try:
        app = p.app("dev", [])
        code, out = _run_in(app, ["sh", "-c", f"mknod {tmp_path}/disk b 8 0 2>/dev/null || echo mknod-refused;"
                                              f"mknod {tmp_path}/null c 1 3 && echo null-ok;"
                                              "head -c 2 /dev/zero | wc -c;"
                                              "dd if=/dev/kmsg of=/dev/null count=0 2>/dev/null || echo kmsg-refused"])
        assert code == 0, out
        assert out.split() == ["mknod-refused", "null-ok", "2", "kmsg-refused"], out
        assert not (tmp_path / "disk").exists()
        volume = p.app("volume", [], devices=[("/dev/kmsg", True)])
        code, out = _run_in(volume, ["sh", "-c", "dd if=/dev/kmsg of=/dev/null count=0 2>/dev/null && echo read-ok;"
                                                 "dd if=/dev/zero of=/dev/kmsg count=0 2>/dev/null || echo write-refused"])
        assert out.split() == ["read-ok", "write-refused"], out
        open_app = p.app("open", [], device_policy=False)
        code, out = _run_in(open_app, ["dd", "if=/dev/kmsg", "of=/dev/null", "count=0"])
        assert code == 0, out
    finally:
        p.remove()
    assert not os.path.exists(os.path.join(root, p.rel))
