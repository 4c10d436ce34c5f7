"""Pod and app cgroups on the real hierarchy of this machine (limits land in the kernel's files, a
process is really moved, a memory limit really kills), v2 decisions on a fake unified tree, and
the pure parts: quantities, names, detection."""

from __future__ import annotations

import os
import signal
import time
import uuid as uuidlib

import pytest

from stage1 import kernel
from tests.stage1.forked import BUSYBOX, in_child
from stage1.cgroups import devices, limits, tree, v1, v2
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


ISOLATORS = [
    {"name": "resource/memory", "value": {"request": "10Mi", "limit": "50Mi"}},
    {"name": "resource/cpu", "value": {"limit": "500m"}},
    {"name": "os/linux/cpu-shares", "value": 512},
    {"name": "os/linux/oom-score-adj", "value": 321},
]


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
            s.unshare(kernel.CLONE_NEWNS)
            s.make_rslave("/")
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


# --- v2 decisions, on a fake unified tree -------------------------------------------------------

def _fake_v2(tmp_path, uuid, apps):
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    pod_dir = root / tree.pod_path(uuid)
    for d in (root, root / tree.SLICE, pod_dir):
        d.mkdir(exist_ok=True)
        (d / "cgroup.subtree_control").write_text("")
    for app in apps:
        (pod_dir / f"{app}.service").mkdir()
        for f in ("memory.max", "cpu.max", "cpu.weight", "cgroup.procs", "cgroup.subtree_control"):
            (pod_dir / f"{app}.service" / f).write_text("")
    return root


def test_v2_enables_controllers_top_down_and_writes_v2_files(tmp_path):
    uuid = "6a2e1b9c-1d3c-4f4e-9a53-0f7c1b2d3e4f"
    root = _fake_v2(tmp_path, uuid, ["web"])
    mgr = v2.V2(str(root))
    assert mgr.controllers == ["memory", "cpu", "pids"]
    p = pods.PodCgroups.create(uuid, mgr)
    app = p.app("web", ISOLATORS[:3], device_policy=False)  # (a BPF program needs a real cgroup)
    assert (root / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (root / tree.SLICE / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (root / p.rel / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (root / app.rel / "cgroup.subtree_control").read_text() == ""  # a leaf
    assert (root / app.rel / "memory.max").read_text() == str(50 * 2**20)
    assert (root / app.rel / "cpu.max").read_text() == "50000 100000"
    assert (root / app.rel / "cpu.weight").read_text() == "20"
    app.attach(1234)
    assert (root / app.rel / "cgroup.procs").read_text() == "1234"


def test_v2_without_the_memory_controller_refuses_a_memory_limit(tmp_path):
    uuid = "6a2e1b9c-1d3c-4f4e-9a53-0f7c1b2d3e4f"
    root = _fake_v2(tmp_path, uuid, ["web"])
    (root / "cgroup.controllers").write_text("cpu pids\n")
    p = pods.PodCgroups.create(uuid, v2.V2(str(root)))
    with pytest.raises(OSError, match="needs the memory cgroup controller"):
        p.app("web", ISOLATORS[:1])


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


def test_device_program_shape():
    program = devices.device_program(["c 1:3 rwm", "c 136:* rw", "b 8:0 r"])
    assert len(program) % 8 == 0
    # 6 loads, 3 blocks (type, access 3, major, [minor], allow 2), deny 2
    assert len(program) // 8 == 6 + (1 + 3 + 1 + 1 + 2) + (1 + 3 + 1 + 2) + (1 + 3 + 1 + 1 + 2) + 2


def _mountinfo(tmp_path, lines):
    path = tmp_path / "mountinfo"
    path.write_text("".join(f"{i} 1 0:{i} / {line}\n" for i, line in enumerate(lines, 30)))
    return str(path)


def test_detect_v1_hybrid_v1_joint_and_v2(tmp_path):
    hybrid = _mountinfo(tmp_path, [
        "/sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755",
        "/sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu",
        "/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
        "/sys/fs/cgroup/pids rw - cgroup cgroup rw,pids",
        "/sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw",
    ])
    mgr = pods.detect(hybrid)
    assert mgr.version == 1
    assert mgr.mounts == {"cpu": "/sys/fs/cgroup/cpu", "memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"}
    joint = _mountinfo(tmp_path, [
        "/sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct",
        "/sys/fs/cgroup/memory rw - cgroup cgroup rw,memory",
    ])
    mgr = pods.detect(joint)
    assert mgr.dirs("x") == ["/sys/fs/cgroup/memory/x", "/sys/fs/cgroup/cpu,cpuacct/x"]
    unified = _mountinfo(tmp_path, ["/sys/fs/cgroup rw shared:4 - cgroup2 cgroup2 rw,nsdelegate"])
    assert pods.detect(unified, root=str(tmp_path)).version == 1  # another root: not it
    (tmp_path / "cgroup.controllers").write_text("memory pids\n")
    unified = _mountinfo(tmp_path, [f"{tmp_path} rw shared:4 - cgroup2 cgroup2 rw,nsdelegate"])
    mgr = pods.detect(unified, root=str(tmp_path))
    assert mgr.version == 2 and mgr.controllers == ["memory", "pids"]


# --- pure parts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, scale, value", [
    ("1G", 1, 10**9), ("50Mi", 1, 50 * 2**20), ("500m", 1000, 500), ("500m", 1, 1), ("0.5", 1000, 500),
    ("1e3", 1, 1000), ("1.5Gi", 1, 3 * 2**29), ("2k", 1, 2000), ("100", 1, 100), (".25", 1000, 250),
    (7, 1, 7), ("1Ki", 1, 1024), ("3E", 1, 3 * 10**18), ("250n", 10**9, 250), ("1500m", 1, 2),
    ("12.", 1, 12), ("2.5e-3", 1000, 3), ("1E", 1000, 10**21), (0.25, 1000, 250),
])
def test_quantities(text, scale, value):
    assert limits.parse_quantity(text, scale) == value


@pytest.mark.parametrize("text", ["1K", "abc", "", ".", "1GiB", "--1", "1e999", "1.2.3", None, True, "1 G", " 1", "9" * 100, "Mi", "1G\n"])
def test_bad_quantities(text):
    with pytest.raises(ValueError, match="invalid quantity"):
        limits.parse_quantity(text)


def test_limits_from_isolators():
    got = limits.limits_from(ISOLATORS)
    assert got == limits.Limits(memory_bytes=50 * 2**20, cpu_millis=500, cpu_shares=512, oom_score_adj=321)
    assert got.cfs_quota_us == 50000
    assert limits.limits_from([{"name": "resource/cpu", "value": {"limit": "1"}}]).cfs_quota_us == 100000
    assert limits.limits_from([{"name": "resource/cpu", "value": {"limit": "1m"}}]).cfs_quota_us == 1000
    assert limits.limits_from([{"name": "resource/memory", "value": {"request": "1k"}}]).memory_bytes is None
    assert limits.limits_from([{"name": "resource/memory", "value": {"limit": "1500m"}}]).memory_bytes == 2
    assert limits.limits_from([{"name": "os/linux/cpu-shares", "value": 2}]).cpu_weight == 1
    assert limits.limits_from([{"name": "os/linux/cpu-shares", "value": 262144}]).cpu_weight == 10000
    assert limits.limits_from([{"name": "os/linux/cpu-shares", "value": 1024}]).cpu_weight == 39
    assert limits.limits_from([{"name": "resource/memory", "value": {"default": False}}]) == limits.Limits()
    assert limits.limits_from([{"name": "os/linux/capabilities-retain-set", "value": {}}]) == limits.Limits()


@pytest.mark.parametrize("isolator, message", [
    ({"name": "resource/memory", "value": {"limit": "lots"}}, "resource/memory: invalid quantity 'lots'"),
    ({"name": "resource/memory", "value": {"limit": "-1G"}}, "limit must be positive"),
    ({"name": "resource/cpu", "value": {"limit": "0"}}, "limit must be positive"),
    ({"name": "resource/cpu", "value": {"limit": "100E"}}, "too large"),
    ({"name": "resource/cpu", "value": "1"}, "value must be an object"),
    ({"name": "os/linux/cpu-shares", "value": 1}, "from 2 to 262144"),
    ({"name": "os/linux/cpu-shares", "value": True}, "from 2 to 262144"),
    ({"name": "os/linux/oom-score-adj", "value": 1001}, "from -1000 to 1000"),
    ({"name": "os/linux/oom-score-adj", "value": "x"}, "from -1000 to 1000"),
])
def test_bad_resource_isolators(isolator, message):
    with pytest.raises(ValueError, match=message):
        limits.limits_from([isolator])


def test_names():
    assert tree.scope_name("6a2e1b9c-1d3c-4f4e-9a53-0f7c1b2d3e4f") == \
        "machine-rkt\\x2d6a2e1b9c\\x2d1d3c\\x2d4f4e\\x2d9a53\\x2d0f7c1b2d3e4f.scope"
    for bad in ("../../etc", "", "6a2e1b9c-1d3c-4f4e-9a53-0f7c1b2d3e4f/..", None,
                "6a2e1b9c-1d3c-4f4e-9a53-0f7c1b2d3e4f\n"):
        with pytest.raises(ValueError, match="invalid pod UUID"):
            tree.pod_path(bad)
    p = pods.PodCgroups("6a2e1b9c-1d3c-4f4e-9a53-0f7c1b2d3e4f", v1.V1({}))
    for bad in ("../x", "a/b", "", "UPPER", "..", "web\n", "web-", "-web"):
        with pytest.raises(ValueError, match="invalid app name"):
            p.app(bad, [])
    assert tree.app_dir("shorthash--21") == "shorthash--21.service"
