"""The logic above stage1.kernel, checked against a RecordingKernel: which mounts the app's
filesystem gets and in what order, the capability drop, the protected paths, the device policy.
Nothing here needs root; the real-namespace tests beside it check what the kernel then does."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

import stage1
from stage1 import caps, kernel, mounts, protect
from stage1.cgroups import devices, limits, pod, v1, v2
from stage1.kernel import MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT

RO_REMOUNT = MS_BIND | MS_REMOUNT | MS_RDONLY


def mounts_of(recording) -> list[tuple]:
    """(source, target, fstype, flags) of each mount call, targets made relative to `root`."""
    return [call[1:5] for call in recording.calls if call[0] == "mount"]


def rel(root: Path, calls: list[tuple]) -> list[tuple]:
    prefix = str(root)
    return [tuple(a.replace(prefix, "ROOT") if isinstance(a, str) else a for a in call) for call in calls]


# --- the app's filesystem -------------------------------------------------------------------

def test_dev_gets_a_tmpfs_then_each_node_bound_one_by_one(recording, tmp_path):
    dev = tmp_path / "dev"
    dev.mkdir()
    mounts.setup_dev(str(dev), "/dev/pts/7")
    expected = [("tmpfs", "ROOT/dev", "tmpfs", MS_NOSUID | kernel.MS_STRICTATIME)]
    expected += [(f"/dev/{n}", f"ROOT/dev/{n}", None, MS_BIND) for n in mounts.DEV_NODES]
    expected += [("/dev/pts/7", "ROOT/dev/console", None, MS_BIND),
                 ("devpts", "ROOT/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC),
                 ("shm", "ROOT/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV)]
    assert rel(tmp_path, mounts_of(recording)) == expected
    # /dev itself is never bound: only files, each the target of its own bind
    assert not any(call[0] == "/dev" for call in mounts_of(recording))
    assert all((dev / n).is_file() for n in mounts.DEV_NODES + ("console",))
    assert os.readlink(dev / "ptmx") == "pts/ptmx" and os.readlink(dev / "stdout") == "/proc/self/fd/1"


def test_proc_then_read_only_sys_then_dev(recording, tmp_path):
    (tmp_path / "proc").mkdir()
    mounts.prepare_root(str(tmp_path), console="/dev/null")
    first = rel(tmp_path, mounts_of(recording))[:3]
    assert first == [("proc", "ROOT/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC),
                     ("sysfs", "ROOT/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC),
                     ("tmpfs", "ROOT/dev", "tmpfs", MS_NOSUID | kernel.MS_STRICTATIME)]


def test_proc_behind_an_image_symlink_is_mounted_inside_the_rootfs(recording, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "proc").symlink_to("/real")  # absolute: resolved as if the rootfs were /
    mounts.prepare_root(str(tmp_path), console="/dev/null")
    assert rel(tmp_path, mounts_of(recording))[0][1] == "ROOT/real"


class _Volume:
    def __init__(self, name, kind="host", recursive=True):
        self.name, self.kind, self.recursive = name, kind, recursive


class _Mount:
    def __init__(self, volume, path, read_only=False):
        self.volume, self.path, self.read_only = volume, path, read_only


def test_volumes_bind_recursively_and_read_only_ones_are_remounted(recording, tmp_path):
    root, src = tmp_path / "root", tmp_path / "src"
    root.mkdir()
    src.mkdir()
    (src / "f").write_text("x")
    mounts.mount_volume(str(root), _Mount(_Volume("data"), "/data"), str(src))
    mounts.mount_volume(str(root), _Mount(_Volume("ro", recursive=False), "/a/ro", read_only=True), str(src))
    mounts.mount_volume(str(root), _Mount(_Volume("file", kind="empty"), "/etc/f"), str(src / "f"))
    assert rel(tmp_path, mounts_of(recording)) == [
        ("ROOT/src", "ROOT/root/data", None, MS_BIND | MS_REC),
        ("ROOT/src", "ROOT/root/a/ro", None, MS_BIND),
        (None, "ROOT/root/a/ro", None, RO_REMOUNT | (os.statvfs(root).f_flag & os.ST_NOSUID and MS_NOSUID)
         | (os.statvfs(root).f_flag & os.ST_NODEV and MS_NODEV)
         | (os.statvfs(root).f_flag & os.ST_NOEXEC and MS_NOEXEC)),
        ("ROOT/src/f", "ROOT/root/etc/f", None, MS_BIND),
    ]
    assert (root / "a" / "ro").is_dir() and (root / "etc" / "f").is_file()  # targets made to match


def test_a_volume_target_symlink_stays_inside_the_rootfs(recording, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "data").symlink_to("/../../var/data")  # ".." stops at the rootfs' /
    mounts.mount_volume(str(root), _Mount(_Volume("data"), "/data"), str(tmp_path))
    assert rel(tmp_path, mounts_of(recording))[0][1] == "ROOT/root/var/data"


def test_a_refused_mount_is_one_line_naming_source_and_target(tmp_path):
    fake = kernel.RecordingKernel(fail={"mount": errno.EPERM})
    previous = kernel.use(fake)
    try:
        with pytest.raises(mounts.MountError, match=f"^cannot mount tmpfs on {tmp_path}: Operation not permitted$"):
            mounts.setup_dev(str(tmp_path), "/dev/null")
        with pytest.raises(mounts.MountError, match=f"^cannot mount /srv on {tmp_path}/data: Operation not permitted$"):
            mounts.mount_volume(str(tmp_path), _Mount(_Volume("data"), "/data"), "/srv")
    finally:
        kernel.use(previous)


def test_pivot_root_into_the_rootfs_then_detach_the_old_root(recording, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # pivot changes directory; this puts it back afterwards
    mounts.bind_root(str(tmp_path))
    mounts.pivot(str(tmp_path))
    assert recording.calls == [("mount", str(tmp_path), str(tmp_path), None, MS_BIND | MS_REC, None),
                               ("pivot_root", ".", "."), ("umount", ".", MNT_DETACH)]


def test_a_failed_pivot_root_says_where(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    previous = kernel.use(kernel.RecordingKernel(fail={"pivot_root": errno.EINVAL}))
    try:
        with pytest.raises(mounts.MountError, match=f"^pivot_root into {tmp_path}: Invalid argument$"):
            mounts.pivot(str(tmp_path))
    finally:
        kernel.use(previous)


def test_an_app_filesystem_is_built_in_a_slave_namespace_and_pivoted_into_last(recording, tmp_path, monkeypatch):
    """The whole of app.setup: rslave before the first mount, /proc and /sys before their
    protection, volumes, then pivot_root as the last call."""
    import json
    from stage1 import app, podinfo
    monkeypatch.chdir(tmp_path)
    (tmp_path / "src").mkdir()
    manifest = {"exec": ["/bin/sh"], "user": "0", "group": "0",
                "mountPoints": [{"name": "data", "path": "/data"}]}
    (tmp_path / "pod").write_text(json.dumps({
        "acKind": "PodManifest", "acVersion": "0.8.11",
        "apps": [{"name": "web", "app": manifest, "mounts": [{"volume": "data", "path": "/data"}]}],
        "volumes": [{"name": "data", "kind": "host", "source": str(tmp_path / "src")}]}))
    (tmp_path / "appsinfo" / "web").mkdir(parents=True)
    (tmp_path / "appsinfo" / "web" / "manifest").write_text(json.dumps({"name": "example.com/web"}))
    root = tmp_path / "stage1" / "rootfs" / "opt" / "stage2" / "web" / "rootfs"
    (root / "proc").mkdir(parents=True)
    (root / "proc" / "kcore").write_text("")
    (root / "sys" / "firmware").mkdir(parents=True)
    (web,) = podinfo.load(str(tmp_path)).apps
    ctx = app.PodContext(uuid="u", pod_dir=str(tmp_path), hostname="h", dns_mode={}, interactive=False,
                         console="/dev/null", disable_caps=False, disable_paths=False,
                         disable_seccomp=True, mds_url=None, debug=False)
    app.setup(web, ctx, {"PATH": "/bin"})
    calls = rel(tmp_path, recording.calls)
    assert calls[:2] == [("unshare", kernel.CLONE_NEWNS),
                         ("mount", None, "/", None, MS_REC | kernel.MS_SLAVE, None)]
    targets = [c[2] for c in calls if c[0] == "mount"]
    root_ = "ROOT/stage1/rootfs/opt/stage2/web/rootfs"
    order = [targets.index(t) for t in (root_, f"{root_}/proc", f"{root_}/sys", f"{root_}/dev",
                                        f"{root_}/data", f"{root_}/sys/firmware", f"{root_}/proc/kcore")]
    assert order == sorted(order)
    assert calls[-2:] == [("pivot_root", ".", "."), ("umount", ".", MNT_DETACH)]
    assert (root / "etc" / "hostname").read_text() == "h\n"


# --- protected paths --------------------------------------------------------------------------

@pytest.fixture
def fake_rootfs(tmp_path):
    """A rootfs whose proc/ and sys/ hold a few of the protected entries, as plain files."""
    root = tmp_path / "rootfs"
    for d in ("proc/sys", "proc/acpi", "sys/firmware", "sys/fs", "sys/kernel"):
        (root / d).mkdir(parents=True)
    for f in ("proc/kcore", "proc/keys", "proc/sysrq-trigger", "proc/cpuinfo"):
        (root / f).write_text("")
    return root


def test_protected_paths_masks_first_then_read_only_binds(recording, fake_rootfs):
    protect.protect_paths(str(fake_rootfs))
    calls = rel(fake_rootfs, mounts_of(recording))
    masks = ("tmpfs", "ROOT/sys/firmware", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    hide = RO_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC
    # the masks live on the first hidden dir, which is covered last
    assert calls[0] == masks
    assert calls[1] == (None, "ROOT/sys/firmware", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    hidden = [c[1] for c in calls[2:] if c[3] == MS_BIND]
    assert hidden == ["ROOT/proc/kcore", "ROOT/proc/keys", "ROOT/sys/fs", "ROOT/proc/acpi", "ROOT/sys/firmware"]
    assert all((None, target, None, hide) in calls for target in hidden)
    read_only = [c[1] for c in calls if c[3] == MS_BIND | MS_REC]
    assert read_only == ["ROOT/proc/sys", "ROOT/proc/sysrq-trigger", "ROOT/sys/kernel"]
    assert "ROOT/proc/cpuinfo" not in {c[1] for c in calls}  # only what the lists name
    # each hidden target is bound from the mask of its own kind
    sources = {c[1]: c[0] for c in calls[2:] if c[3] == MS_BIND}
    assert sources["ROOT/proc/kcore"].endswith("/sys/firmware/f")
    assert sources["ROOT/sys/fs"].endswith("/sys/firmware/d")


def test_without_a_hidden_dir_files_are_masked_with_dev_null(recording, tmp_path):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "kcore").write_text("")
    protect.protect_paths(str(tmp_path))
    assert rel(tmp_path, mounts_of(recording)) == [("/dev/null", "ROOT/proc/kcore", None, MS_BIND)]


def test_insecure_paths_mounts_nothing(recording, fake_rootfs):
    protect.protect_paths(str(fake_rootfs), disabled=True)
    assert recording.calls == []


def test_protected_paths_follow_an_image_symlinked_proc_and_ignore_links_inside(recording, fake_rootfs, tmp_path):
    (fake_rootfs / "p").mkdir()
    os.rename(fake_rootfs / "proc", fake_rootfs / "p" / "proc")
    (fake_rootfs / "proc").symlink_to("p/proc")
    (fake_rootfs / "p" / "proc" / "keys").unlink()
    (fake_rootfs / "p" / "proc" / "keys").symlink_to(tmp_path)  # would steer a mount outside
    protect.protect_paths(str(fake_rootfs))
    targets = {c[1] for c in rel(fake_rootfs, mounts_of(recording))}
    assert "ROOT/p/proc/kcore" in targets and "ROOT/p/proc/sys" in targets
    assert not any("keys" in t for t in targets)


# --- capabilities -----------------------------------------------------------------------------

ALL = (1 << (caps.last_cap() + 1)) - 1


def mask(names) -> int:
    return sum(1 << caps.NUMBERS[n] for n in names)


def prctls(recording, option) -> list[int]:
    return [call[2] for call in recording.calls if call[0] == "prctl" and call[1] == option]


def test_root_drops_the_bounding_set_to_the_default_and_keeps_sys_admin_until_exec(recording):
    recording.caps = (ALL, ALL, 0)
    caps.drop_to(caps.bounding_set([]), 0, 0, [])
    default = mask(caps.DEFAULT_CAPS)
    dropped = prctls(recording, kernel.PR_CAPBSET_DROP)
    assert sum(1 << c for c in dropped) == ALL & ~default
    assert ("set_identity", 0, 0, []) in recording.calls
    assert prctls(recording, kernel.PR_SET_KEEPCAPS) == []  # root needs no keep-caps dance
    sys_admin = 1 << caps.CAP_SYS_ADMIN
    assert recording.caps == (default | sys_admin, default | sys_admin, 0)  # no inheritable set
    assert prctls(recording, kernel.PR_CAP_AMBIENT) == [kernel.PR_CAP_AMBIENT_CLEAR_ALL]


def test_non_root_with_a_retain_set_gets_it_as_ambient_caps(recording):
    recording.caps = (ALL, ALL, 0)
    retained = caps.bounding_set([{"name": caps.RETAIN_SET, "value": {"set": ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]}}])
    caps.drop_to(retained, 1000, 1001, [5, 6])
    names = [call[0] for call in recording.calls]
    identity = names.index("set_identity")
    # keep-caps around the uid change, so the permitted set survives it
    assert recording.calls[identity - 1] == ("prctl", kernel.PR_SET_KEEPCAPS, 1, 0, 0, 0)
    assert recording.calls[identity] == ("set_identity", 1000, 1001, [5, 6])
    assert recording.calls[identity + 1] == ("prctl", kernel.PR_SET_KEEPCAPS, 0, 0, 0, 0)
    want = mask(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"])
    assert recording.caps[2] == want
    raised = [call[3] for call in recording.calls if call[:3] == ("prctl", kernel.PR_CAP_AMBIENT, kernel.PR_CAP_AMBIENT_RAISE)]
    assert raised == sorted(caps.NUMBERS[n] for n in ("CAP_NET_BIND_SERVICE", "CAP_NET_RAW"))


def test_non_root_without_a_retain_set_gets_no_ambient_caps(recording):
    recording.caps = (ALL, ALL, 0)
    caps.drop_to(caps.bounding_set([]), 1000, 1000, [])
    assert recording.caps[2] == 0
    assert not [c for c in recording.calls if c[:3] == ("prctl", kernel.PR_CAP_AMBIENT, kernel.PR_CAP_AMBIENT_RAISE)]


def test_only_permitted_caps_can_be_kept(recording):
    recording.caps = (0, mask(["CAP_CHOWN"]), 0)  # a stage1 that was already reduced
    caps.drop_to(caps.bounding_set([]), 0, 0, [])
    assert recording.caps == (mask(["CAP_CHOWN"]),) * 2 + (0,)


@pytest.mark.parametrize("isolators, expected", [
    ([], caps.DEFAULT_CAPS),
    ([{"name": caps.REMOVE_SET, "value": {"set": ["CAP_MKNOD", "net_raw"]}}], caps.DEFAULT_CAPS - {"CAP_MKNOD", "CAP_NET_RAW"}),
    ([{"name": caps.RETAIN_SET, "value": {"set": ["CAP_SYS_ADMIN"]}}], {"CAP_SYS_ADMIN"}),
])
def test_bounding_set_computation(isolators, expected):
    assert sorted(caps.name(c) for c in caps.bounding_set(isolators)) == sorted(expected)
    assert caps.bounding_set(isolators, disabled=True) == caps.all_caps()


def test_no_new_privileges_only_when_asked(recording):
    assert caps.set_no_new_privs([]) is False
    assert caps.set_no_new_privs([{"name": caps.NO_NEW_PRIVILEGES, "value": True}]) is True
    assert recording.calls == [("prctl", kernel.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)]


# --- cgroup device policy and hierarchies ---------------------------------------------------------

def test_v2_device_policy_loads_the_program_and_attaches_it_to_the_app_cgroup(recording, tmp_path):
    (tmp_path / "cgroup.controllers").write_text("memory\n")
    mgr = v2.V2(str(tmp_path))
    (tmp_path / "x").mkdir()
    mgr.set_devices("x", devices.STANDARD_DEVICES)
    assert [c[0] for c in recording.calls] == ["bpf_load", "bpf_attach"]
    assert recording.calls[0][1] == devices.device_program(devices.STANDARD_DEVICES)


def test_v1_device_policy_denies_all_then_allows_each_rule(tmp_path):
    path = tmp_path / "devices" / "x"
    path.mkdir(parents=True)
    # Each write(2) is one cgroup command: record them through fifos. The test holds each fifo
    # open read-write, so the policy's opens never block and no write meets a closed reader.
    fds = {}
    for name in ("devices.deny", "devices.allow"):
        os.mkfifo(path / name)
        fds[name] = os.open(path / name, os.O_RDWR | os.O_NONBLOCK)
    try:
        v1.V1({"devices": str(tmp_path / "devices")}).set_devices("x", ["c 1:3 rwm", "c 5:0 rw"])
        written = sorted((name, os.read(fd, 65536).decode()) for name, fd in fds.items())
    finally:
        for fd in fds.values():
            os.close(fd)
    assert written == [("devices.allow", "c 1:3 rwmc 5:0 rw"), ("devices.deny", "a")]


def test_v1_finds_every_hierarchy_a_process_is_in():
    mgr = v1.V1({"cpu": "/c/cpu,cpuacct", "cpuacct": "/c/cpu,cpuacct", "name=systemd": "/c/systemd", "": "/c/unified"})
    assert mgr.hierarchy("cpu,cpuacct") == "/c/cpu,cpuacct"
    assert mgr.hierarchy("name=systemd") == "/c/systemd"
    assert mgr.hierarchy("") == "/c/unified"
    assert mgr.hierarchy("freezer") is None
    assert mgr.dirs("p") == ["/c/cpu,cpuacct/p"]  # the pod uses only its controllers, once each


def test_memory_limit_on_v1_without_the_controller_names_it():
    with pytest.raises(OSError, match="resource/memory needs the memory cgroup controller"):
        v1.V1({}).apply("p", limits.limits_from([{"name": "resource/memory", "value": {"limit": "1G"}}]))


def test_pod_detects_once(monkeypatch):
    monkeypatch.setattr(pod, "_manager", None)
    assert pod.manager() is pod.manager()


# --- the seam itself --------------------------------------------------------------------------

def _importers(pattern: str) -> list[str]:
    return sorted(str(p.relative_to(Path(stage1.__file__).parent))
                  for p in Path(stage1.__file__).parent.rglob("*.py")
                  if re.search(pattern, p.read_text(), re.M))


def test_only_the_kernel_module_calls_libc():
    """C calls are made in stage1.kernel (libc) and stage1.libseccomp (libseccomp), through
    stage1.ffi (ctypes' C core), nowhere else; and never through the slow-to-import ctypes."""
    assert _importers(r"^\s*(import ctypes|from ctypes|import _ctypes|from _ctypes)") == ["ffi.py"]
    assert _importers(r"^\s*(from stage1 import .*\bffi\b|import stage1\.ffi)") == \
        ["kernel.py", "libseccomp.py"]
