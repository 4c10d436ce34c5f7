"""cgroup decisions that need no real hierarchy: v2 on a fake unified tree, detection from
mountinfo text, the eBPF program's shape, quantities, isolators and names."""

from __future__ import annotations

import pytest

from stage1.cgroups import devices, limits, tree, v1, v2
from stage1.cgroups import pod as pods

ISOLATORS = [
    {"name": "resource/memory", "value": {"request": "10Mi", "limit": "50Mi"}},
    {"name": "resource/cpu", "value": {"limit": "500m"}},
    {"name": "os/linux/cpu-shares", "value": 512},
    {"name": "os/linux/oom-score-adj", "value": 321},
]


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
