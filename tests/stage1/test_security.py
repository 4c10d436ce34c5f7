"""Capabilities, seccomp and protected paths, observed in real processes: a forked child applies
stage1's functions exactly as an app's process does, then execs busybox, and we look at what the
kernel reports (/proc/self/status) or at what the program could or could not do."""

from __future__ import annotations

import errno
import os
import shutil
import signal
from pathlib import Path

import pytest

from stage1 import caps, protect, seccomp
from stage1 import kernel
from tests.stage1.forked import BUSYBOX, in_child

s = kernel.current()

seccomp.preload()  # as stage1 does, before any child drops to a uid that cannot read the venv


pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="needs busybox-static"),
]


def status_of(setup):
    """The child's /proc/self/status fields after setup, as a dict."""
    code, out = in_child(setup, ["cat", "/proc/self/status"])
    assert code == 0, out
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def mask(names) -> int:
    return sum(1 << caps.NUMBERS[n] for n in names)


def cap_field(status, field) -> int:
    return int(status[field].strip(), 16)


def retain(*names):
    return [{"name": "os/linux/capabilities-retain-set", "value": {"set": list(names)}}]


def remove(*names):
    return [{"name": "os/linux/capabilities-remove-set", "value": {"set": list(names)}}]


def seccomp_set(kind, names, errno_name=None):
    value = {"set": list(names)}
    if errno_name:
        value["errno"] = errno_name
    return [{"name": f"os/linux/seccomp-{kind}-set", "value": value}]


def app_start(isolators, *, uid=0, gid=0, groups=(), caps_disabled=False, seccomp_disabled=False):
    """What stage1 does in the app's process right before exec."""
    def setup():
        capset = caps.bounding_set(isolators, caps_disabled)
        caps.drop_to(capset, uid, gid, list(groups))
        caps.set_no_new_privs(isolators)
        seccomp.load_filter(isolators, seccomp_disabled, uid == 0)
    return setup


# --- capabilities -----------------------------------------------------------------------------

def test_default_caps_are_rkts_fourteen():
    assert len(caps.DEFAULT_CAPS) == 14
    st = status_of(app_start([]))
    assert cap_field(st, "CapBnd") == mask(caps.DEFAULT_CAPS)
    assert cap_field(st, "CapEff") == mask(caps.DEFAULT_CAPS)
    assert cap_field(st, "CapPrm") == mask(caps.DEFAULT_CAPS)
    assert cap_field(st, "CapAmb") == 0
    assert cap_field(st, "CapInh") == 0
    assert st["NoNewPrivs"].strip() == "0"  # root under seccomp keeps exec privileges, as rkt
    assert st["Seccomp"].strip() == "2"


def test_retain_set_replaces_the_default():
    st = status_of(app_start(retain("CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE")))
    want = mask(["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"])
    assert cap_field(st, "CapBnd") == want
    assert cap_field(st, "CapEff") == want


def test_remove_set_subtracts_from_the_default():
    st = status_of(app_start(remove("CAP_NET_RAW", "CAP_MKNOD", "CAP_SYS_ADMIN")))
    want = mask(caps.DEFAULT_CAPS - {"CAP_NET_RAW", "CAP_MKNOD"})
    assert cap_field(st, "CapBnd") == want
    assert cap_field(st, "CapEff") == want


def test_insecure_capabilities_keeps_every_capability():
    st = status_of(app_start(remove("CAP_CHOWN"), caps_disabled=True))
    ours = status_of(lambda: None)  # everything stage1 itself may hold
    assert cap_field(st, "CapBnd") == cap_field(ours, "CapBnd")
    assert cap_field(st, "CapEff") == cap_field(ours, "CapBnd")
    assert cap_field(st, "CapBnd") & mask(["CAP_SYS_ADMIN", "CAP_CHOWN", "CAP_NET_ADMIN"])


def test_non_root_keeps_a_retained_set_as_ambient_caps():
    st = status_of(app_start(retain("CAP_NET_BIND_SERVICE", "CAP_NET_RAW"), uid=4242, gid=4343, groups=[7, 8]))
    want = mask(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"])
    assert st["Uid"].split() == ["4242"] * 4
    assert st["Gid"].split() == ["4343"] * 4
    assert st["Groups"].split() == ["7", "8"]
    assert cap_field(st, "CapBnd") == want
    assert cap_field(st, "CapEff") == want
    assert cap_field(st, "CapAmb") == want
    assert cap_field(st, "CapInh") == want
    assert st["NoNewPrivs"].strip() == "1"  # seccomp for a non-root app forces it, as rkt


def test_non_root_without_isolator_has_the_bounding_set_but_no_effective_caps():
    # rkt_caps_test: a non-root app's bounding set is the default; it holds nothing effective
    st = status_of(app_start([], uid=4242, gid=4242))
    assert cap_field(st, "CapBnd") == mask(caps.DEFAULT_CAPS)
    assert cap_field(st, "CapEff") == 0
    assert cap_field(st, "CapPrm") == 0
    assert cap_field(st, "CapInh") == 0


def test_removed_capability_really_denies(tmp_path):
    node = tmp_path / "null"
    code, out = in_child(app_start(remove("CAP_MKNOD"), seccomp_disabled=True), ["mknod", str(node), "c", "1", "3"])
    assert code != 0 and "not permitted" in out, out
    assert not node.exists()
    code, out = in_child(app_start([], seccomp_disabled=True), ["mknod", str(node), "c", "1", "3"])
    assert code == 0, out
    assert node.is_char_device()


def test_retained_capability_works_for_non_root(world_dir):
    target = world_dir / "f"
    target.write_text("x")
    code, out = in_child(app_start(retain("CAP_CHOWN"), uid=4242, gid=4242), ["chown", "1234", str(target)])
    assert code == 0, out
    assert target.stat().st_uid == 1234
    code, out = in_child(app_start([], uid=4242, gid=4242), ["chown", "0", str(target)])
    assert code != 0 and "not permitted" in out, out
    assert target.stat().st_uid == 1234


@pytest.fixture
def world_dir():
    """A directory a non-root uid can reach (pytest's tmp_path is root-only)."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="rkt-caps-test-", dir="/tmp") as d:
        os.chmod(d, 0o755)
        yield Path(d)


def test_no_new_privileges_isolator():
    iso = [{"name": "os/linux/no-new-privileges", "value": True}]
    assert status_of(app_start(iso))["NoNewPrivs"].strip() == "1"
    assert status_of(app_start([{"name": "os/linux/no-new-privileges", "value": False}]))["NoNewPrivs"].strip() == "0"


@pytest.mark.parametrize("isolators, message", [
    (retain("CAP_NET_RAW") + remove("CAP_CHOWN"), "cannot have both"),
    (retain("CAP_BOGUS"), "unknown capability 'CAP_BOGUS'"),
    (retain(), "non-empty list"),
    ([{"name": "os/linux/capabilities-remove-set", "value": {"set": "CAP_CHOWN"}}], "non-empty list"),
    ([{"name": "os/linux/capabilities-remove-set", "value": None}], "non-empty list"),
    (["os/linux/capabilities-remove-set"], "not a JSON object"),
])
def test_bad_capability_isolators(isolators, message):
    with pytest.raises(ValueError, match=message):
        caps.bounding_set(isolators, False)


def test_capability_names():
    assert caps.number("cap_net_raw") == 13
    assert caps.number("SYS_ADMIN") == 21
    assert caps.name(40) == "CAP_CHECKPOINT_RESTORE"
    assert len(caps.NUMBERS) == 41
    assert caps.bounding_set(retain("cap_net_raw"), False) == {13}
    default = {caps.NUMBERS[n] for n in caps.DEFAULT_CAPS}
    assert caps.bounding_set(remove("CAP_SYS_ADMIN"), False) == default  # not in it: no change
    assert not caps.bounding_set(remove("CAP_SYS_ADMIN"), False).explicit
    assert caps.bounding_set(retain("CAP_CHOWN"), False).explicit
    with pytest.raises(ValueError, match="no-new-privileges"):
        caps.no_new_privileges_requested([{"name": "os/linux/no-new-privileges", "value": "yes"}])


# --- seccomp ----------------------------------------------------------------------------------

def private_mounts_then(setup):
    """Seccomp tests that try mount(2) run with full caps: keep any mount inside a private ns."""
    def run():
        s.private_mount_namespace()
        setup()
    return run


def seccomp_only(isolators, *, disabled=False):
    return lambda: seccomp.load_filter(isolators, disabled, True)


def test_default_whitelist_runs_programs_and_kills_mount(tmp_path):
    code, out = in_child(seccomp_only([]), ["sh", "-c", "uname -s && ls / >/dev/null && echo ok"])
    assert code == 0 and out.split() == ["Linux", "ok"], out
    code, out = in_child(private_mounts_then(seccomp_only([])), ["mount", "-t", "tmpfs", "none", str(tmp_path)])
    assert code == -signal.SIGSYS, (code, out)
    assert not os.path.ismount(tmp_path)


def test_default_filter_compiled_by_the_build_is_what_a_pod_would_compile(tmp_path):
    """stage1.build ships rkt's default filter compiled; a pod reads it instead of compiling
    its own, only for the default filter and only under the name of this machine's libseccomp."""
    import tarfile
    from stage1 import build
    build.build(str(tmp_path / "s1.aci"))
    with tarfile.open(tmp_path / "s1.aci") as tf:
        shipped = tf.extractfile(f"rootfs/{seccomp.compiled_default_name()}").read()
    assert shipped == seccomp.prepare([])  # compiled here and now: the same program
    marker = b"\x06\0\0\0\0\0\xff\x7f"  # one "return allow": not what libseccomp makes
    (tmp_path / seccomp.compiled_default_name()).write_bytes(marker)
    assert seccomp.prepare([], compiled_in=str(tmp_path)) == marker
    assert seccomp.prepare(seccomp_set("remove", ["reboot"]), compiled_in=str(tmp_path)) != marker
    (tmp_path / seccomp.compiled_default_name()).write_bytes(marker[:5])  # not whole entries
    assert seccomp.prepare([], compiled_in=str(tmp_path)) == shipped


def test_remove_set_with_errno_fails_just_that_call(tmp_path):
    target = tmp_path / "d"
    iso = seccomp_set("remove", ["mkdir", "mkdirat"], "EPERM")
    code, out = in_child(seccomp_only(iso), ["mkdir", str(target)])
    assert code == 1 and "Operation not permitted" in out, out
    assert not target.exists()
    code, out = in_child(seccomp_only(iso), ["uname", "-s"])
    assert code == 0 and out.strip() == "Linux"


def test_remove_set_without_errno_kills():
    code, _ = in_child(seccomp_only(seccomp_set("remove", ["uname"])), ["uname", "-s"])
    assert code == -signal.SIGSYS
    # a remove-set allows what the default whitelist would not
    code, out = in_child(private_mounts_then(seccomp_only(seccomp_set("remove", ["reboot"]))),
                         ["sh", "-c", "mount -t tmpfs none /mnt && echo mounted"])
    assert code == 0 and "mounted" in out, out


def test_retain_set_blocks_everything_else(tmp_path):
    target = tmp_path / "d"
    allowed = [n for n in seccomp.RKT_DEFAULT_WHITELIST if n not in ("mkdir", "mkdirat")]
    iso = seccomp_set("retain", allowed, "EACCES")
    code, out = in_child(seccomp_only(iso), ["mkdir", str(target)])
    assert code == 1 and "Permission denied" in out, out
    assert not target.exists()
    code, out = in_child(seccomp_only(seccomp_set("retain", ["@rkt/default-whitelist"])), ["mkdir", str(target)])
    assert code == 0 and target.is_dir(), out


# what Debian's static busybox calls for `true` (strace), minus execve, brk and exit_group
BUSYBOX_TRUE = ["arch_prctl", "getrandom", "getuid", "mprotect", "prctl", "prlimit64", "readlink",
                "rseq", "set_robust_list", "set_tid_address"]


def test_retain_set_keeps_only_the_lifecycle_minimum():
    flt = seccomp.compute_filter(seccomp_set("retain", ["uname"], "ENOSYS"))
    assert flt.allow and flt.syscalls == {"uname", *seccomp.LIFECYCLE}
    assert flt.errno == errno.ENOSYS
    # the lifecycle minimum is enough for Python to get from the filter to execve and for the
    # program to exit; one call less and busybox dies
    code, out = in_child(seccomp_only(seccomp_set("retain", BUSYBOX_TRUE)), ["true"])
    assert code == 0, out
    code, _ = in_child(seccomp_only(seccomp_set("retain", [c for c in BUSYBOX_TRUE if c != "getuid"])), ["true"])
    assert code == -signal.SIGSYS


def test_appc_all_disables_the_filter_and_empty_means_default():
    st = status_of(seccomp_only(seccomp_set("retain", ["@appc.io/all"])))
    assert st["Seccomp"].strip() == "0"
    st = status_of(seccomp_only([], disabled=True))
    assert st["Seccomp"].strip() == "0"
    assert seccomp.compute_filter(seccomp_set("remove", ["@appc.io/empty"])) == seccomp.compute_filter([])
    assert seccomp.compute_filter([]).syscalls == set(seccomp.RKT_DEFAULT_WHITELIST)


def test_systemd_groups(tmp_path):
    flt = seccomp.compute_filter(seccomp_set("remove", ["@systemd/mount", "@systemd/clock"]))
    assert {"mount", "umount2", "pivot_root", "settimeofday"} <= flt.syscalls and "uname" not in flt.syscalls
    code, out = in_child(private_mounts_then(seccomp_only(seccomp_set("remove", ["@systemd/mount"], "EPERM"))),
                         ["mount", "-t", "tmpfs", "none", str(tmp_path)])
    assert code == 1 and "permission denied" in out, out  # EPERM, as busybox words it
    assert not os.path.ismount(tmp_path)


def test_wildcards_expand():
    flt = seccomp.compute_filter(seccomp_set("remove", ["@docker/default-blacklist", "uname"]))
    assert not flt.allow and {"reboot", "mount", "kexec_load", "uname"} <= flt.syscalls
    assert seccomp.compute_filter(seccomp_set("remove", ["@rkt/default-blacklist"])).syscalls == set(seccomp.RKT_DEFAULT_BLACKLIST)
    assert "reboot" not in seccomp.RKT_DEFAULT_WHITELIST and "rseq" in seccomp.RKT_DEFAULT_WHITELIST


@pytest.mark.parametrize("isolators, message", [
    (seccomp_set("remove", ["uname", "no_such_call", "also_bogus"]), "unknown syscall also_bogus, no_such_call"),
    (seccomp_set("retain", ["uname"], "ENOTANERRNO"), "unknown errno 'ENOTANERRNO'"),
    (seccomp_set("retain", ["uname"], "eperm"), "unknown errno"),
    (seccomp_set("retain", ["uname"]) + seccomp_set("remove", ["uname"]), "too many seccomp isolators"),
    (seccomp_set("remove", ["@systemd/nonsense"]), "unsupported seccomp wildcard '@systemd/nonsense'"),
    (seccomp_set("remove", ["@other/default-blacklist"]), "unsupported seccomp wildcard"),
    (seccomp_set("remove", []), "non-empty list"),
    (seccomp_set("remove", ["uname\x00mount"]), "invalid syscall name"),
    (seccomp_set("remove", ["../uname"]), "invalid syscall name"),
    ([{"name": "os/linux/seccomp-remove-set", "value": "uname"}], "value must be an object"),
])
def test_bad_seccomp_isolators(isolators, message):
    with pytest.raises(ValueError, match=message):
        seccomp.compute_filter(isolators)


def _int80_getpid():
    """getpid through the 32-bit ABI (int 0x80) from this 64-bit process."""
    import ctypes
    import mmap
    code = bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3])  # mov eax, 20; int 0x80; ret
    mem = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    mem.write(code)
    address = ctypes.addressof(ctypes.c_char.from_buffer(mem))
    return ctypes.CFUNCTYPE(ctypes.c_int)(address)()


def test_other_abis_are_killed():
    if os.uname().machine != "x86_64":
        pytest.skip("x86_64 only")
    code, out = in_child(lambda: os.write(1, b"%d" % _int80_getpid()), ["true"])
    if code != 0:
        pytest.skip("this kernel has no 32-bit syscall ABI")
    code, out = in_child(lambda: (seccomp.load_filter([], False, True), _int80_getpid()), ["true"])
    assert code == -signal.SIGSYS, out
    code, out = in_child(lambda: (seccomp.load_filter(seccomp_set("remove", ["reboot"]), False, True),
                                  _int80_getpid()), ["true"])
    assert code == -signal.SIGSYS, out


# --- protected paths --------------------------------------------------------------------------

@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    for d in ("proc", "sys", "bin", "dev"):
        (root / d).mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin" / "busybox")
    # only where these tests mount: other work on the machine may mount elsewhere meanwhile
    ours = ("/proc", "/sys", "/dev", str(tmp_path))

    def mounts():
        with open("/proc/self/mountinfo") as f:
            return {(line.split()[0], line.split()[4]) for line in f if line.split()[4].startswith(ours)}
    before = mounts()
    yield root
    assert mounts() == before, "a mount leaked onto the host"


def in_app_root(root, disabled=False):
    """The app's mount namespace: private, /proc and /sys mounted, protected, chrooted."""
    def setup():
        s.private_mount_namespace(also=kernel.CLONE_NEWUTS)  # UTS: a write that gets through is harmless
        flags = kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC
        s.mount("proc", f"{root}/proc", "proc", flags)
        s.mount("sysfs", f"{root}/sys", "sysfs", flags)
        protect.protect_paths(str(root), disabled)
        os.chroot(str(root))
        os.chdir("/")
    return setup


PROBE = """
echo probe > /proc/sys/kernel/hostname && echo hostname-writable
[ -e /proc/sysrq-trigger ] && { echo h > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable; }
echo kallsyms=$(cat /proc/kallsyms 2>/dev/null | wc -c)
echo firmware=$(ls /sys/firmware | wc -l)
echo module=$(ls /sys/module | wc -l)
touch /sys/fs/x 2>/dev/null && echo sysfs-fs-writable
echo done
"""


def test_protect_paths_makes_tunables_read_only_and_hides_kernel_files(rootfs):
    code, out = in_child(in_app_root(rootfs), ["sh", "-c", PROBE])
    assert code == 0, out
    lines = out.split()
    assert "hostname-writable" not in lines and "sysrq-writable" not in lines, out
    assert "kallsyms=0" in lines and "firmware=0" in lines and "module=0" in lines, out
    assert "sysfs-fs-writable" not in lines
    assert "done" in lines


def test_protected_file_is_read_only_with_erofs(rootfs):
    def check():
        in_app_root(rootfs)()
        for path in ("/proc/sys/kernel/hostname", "/proc/sys/kernel/core_pattern"):
            try:
                os.open(path, os.O_WRONLY)
            except OSError as err:
                assert err.errno == errno.EROFS, (path, err)
            else:
                raise AssertionError(f"{path} is writable")
        assert os.stat("/proc/kallsyms").st_mode & 0o777 == 0
    code, out = in_child(check, ["true"])
    assert code == 0, out


def test_insecure_paths_leaves_them_alone(rootfs):
    code, out = in_child(in_app_root(rootfs, disabled=True), ["sh", "-c", PROBE])
    assert code == 0, out
    lines = out.split()
    assert "hostname-writable" in lines
    assert "module=0" not in lines and "kallsyms=0" not in lines, out


def test_proc_and_sys_behind_image_symlinks_are_still_protected(rootfs):
    # the executor mounts /proc and /sys where the image's links lead (inside the rootfs)
    (rootfs / "proc").rmdir()
    (rootfs / "sys").rmdir()
    (rootfs / "p").mkdir()
    (rootfs / "s").mkdir()
    (rootfs / "proc").symlink_to("p")
    (rootfs / "sys").symlink_to("/../s")

    def setup():
        s.private_mount_namespace(also=kernel.CLONE_NEWUTS)
        s.mount("proc", f"{rootfs}/p", "proc", kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC)
        s.mount("sysfs", f"{rootfs}/s", "sysfs", kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC)
        protect.protect_paths(str(rootfs), False)
        os.chroot(str(rootfs))
        os.chdir("/")
    code, out = in_child(setup, ["sh", "-c", PROBE])
    assert code == 0, out
    lines = out.split()
    assert "hostname-writable" not in lines and "kallsyms=0" in lines and "module=0" in lines, out


def test_symlinks_in_the_image_do_not_steer_protection(rootfs, tmp_path):
    # an image whose /sys is not mounted over and whose /sys/kernel points at a host directory
    outside = tmp_path / "host-dir"
    outside.mkdir()
    (rootfs / "sys" / "kernel").symlink_to(outside)
    (rootfs / "sys" / "firmware").symlink_to(outside)

    def check():
        s.private_mount_namespace()
        protect.protect_paths(str(rootfs), False)
        (outside / "still-writable").write_text("yes")
        assert os.listdir(outside) == ["still-writable"]
    code, out = in_child(check, ["true"])
    assert code == 0, out
