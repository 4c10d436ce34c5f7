"""The only place stage1 calls libc directly (through ctypes).

Each wrapper raises OSError with errno and the arguments on failure, so callers can turn it
into a one-line error. Constants are the Linux x86_64/aarch64 values (they are arch-neutral for
everything here).
"""

from __future__ import annotations

import ctypes
import os

# dlopen(NULL): libc's symbols are already in the process; ctypes.util.find_library would cost
# an ldconfig fork and the subprocess/shutil/tempfile imports on every stage1 start
_libc = ctypes.CDLL(None, use_errno=True)

# clone/unshare/setns flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000

# umount2 flags
MNT_FORCE = 0x1
MNT_DETACH = 0x2
UMOUNT_NOFOLLOW = 0x8

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.setdomainname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long


def _check(result: int, what: str, *args) -> int:
    if result < 0:
        err = ctypes.get_errno()
        detail = " ".join(repr(a) for a in args)
        raise OSError(err, f"{what} {detail}: {os.strerror(err)}".strip())
    return result


def _b(value: str | bytes | os.PathLike | None) -> bytes | None:
    if value is None:
        return None
    return os.fsencode(value)


def mount(source, target, fstype=None, flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(_b(source) or b"none", _b(target), _b(fstype), flags, _b(data)),
           "mount", source, target, fstype)


def umount(target, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), "umount", target)


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare", hex(flags))


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), "setns", fd)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname", name)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), "prctl", option)


# syscall numbers that glibc does not wrap (or wraps differently)
_NR = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91},
}[os.uname().machine]


def pivot_root(new_root, put_old) -> None:
    _check(_libc.syscall(_NR["pivot_root"], _b(new_root), _b(put_old)), "pivot_root", new_root)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capget(pid: int = 0) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) as 64-bit masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    _check(_libc.syscall(_NR["capget"], ctypes.byref(header), data), "capget", pid)
    join = lambda f: getattr(data[0], f) | (getattr(data[1], f) << 32)  # noqa: E731
    return join("effective"), join("permitted"), join("inheritable")


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    _check(_libc.syscall(_NR["capset"], ctypes.byref(header), data), "capset")


def make_rslave(path: str = "/") -> None:
    """Stop mount events in this namespace from propagating back to the host (do this first)."""
    mount(None, path, None, MS_REC | MS_SLAVE)


def make_rprivate(path: str = "/") -> None:
    mount(None, path, None, MS_REC | MS_PRIVATE)


# --- added by the executor: bring a link up without importing socket (SIOCGIFFLAGS/SIOCSIFFLAGS)
_libc.socket.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def link_up(name: str = "lo") -> None:
    """Set IFF_UP on interface `name` in the current network namespace."""
    ifreq = ctypes.create_string_buffer(40)  # struct ifreq: 16-byte name + union (flags first)
    ifreq.raw = name.encode()[:15].ljust(16, b"\0") + bytes(24)
    fd = _check(_libc.socket(2, 2 | 0o2000000, 0), "socket")  # AF_INET, SOCK_DGRAM|SOCK_CLOEXEC
    try:
        _check(_libc.ioctl(fd, _SIOCGIFFLAGS, ifreq), "ioctl SIOCGIFFLAGS", name)
        flags = int.from_bytes(ifreq.raw[16:18], "little") | IFF_UP
        ifreq.raw = ifreq.raw[:16] + flags.to_bytes(2, "little") + ifreq.raw[18:]
        _check(_libc.ioctl(fd, _SIOCSIFFLAGS, ifreq), "ioctl SIOCSIFFLAGS", name)
    finally:
        os.close(fd)


# --- libseccomp (for stage1.seccomp), opened on first use: a direct binding costs no imports,
# where pyseccomp pulls in typing and ctypes.util (tens of ms per stage1 start)
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_FLTATR_CTL_NNP = 3
NR_SCMP_ERROR = -1


def SCMP_ACT_ERRNO(err: int) -> int:  # noqa: N802 - libseccomp's name
    return 0x00050000 | (err & 0xFFFF)


_seccomp_lib = None


def libseccomp():
    """libseccomp.so.2 with the few prototypes we use (OSError when it is missing)."""
    global _seccomp_lib
    if _seccomp_lib is None:
        lib = ctypes.CDLL("libseccomp.so.2")
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_release.restype = None
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.c_void_p]
        lib.seccomp_load.argtypes = [ctypes.c_void_p]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        _seccomp_lib = lib
    return _seccomp_lib


def seccomp_syscall_number(name: str) -> int:
    """The native number of syscall `name`; NR_SCMP_ERROR if libseccomp knows no such call, another
    negative pseudo-number for a call that only other architectures have."""
    return libseccomp().seccomp_syscall_resolve_name(name.encode())


def _scmp_check(result: int, what: str) -> None:
    if result < 0:  # libseccomp returns -errno
        raise OSError(-result, f"{what}: {os.strerror(-result)}")


class SeccompFilter:
    """A libseccomp filter context: rules in, then load() into this process."""

    def __init__(self, default_action: int):
        self._lib = libseccomp()
        self._ctx = self._lib.seccomp_init(default_action)
        if not self._ctx:
            raise OSError(22, "seccomp_init failed")

    def set_attr(self, attr: int, value: int) -> None:
        _scmp_check(self._lib.seccomp_attr_set(self._ctx, attr, value), "seccomp_attr_set")

    def add_rule(self, action: int, number: int) -> None:
        _scmp_check(self._lib.seccomp_rule_add_array(self._ctx, action, number, 0, None), "seccomp_rule_add")

    def load(self) -> None:
        _scmp_check(self._lib.seccomp_load(self._ctx), "seccomp_load")

    def release(self) -> None:
        if self._ctx:
            self._lib.seccomp_release(self._ctx)
            self._ctx = None


# --- bpf(2), for the cgroup v2 device policy (stage1.cgroups): load a BPF_PROG_TYPE_CGROUP_DEVICE
# program and attach it to a cgroup directory
_NR_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2


class _BpfProgLoad(ctypes.Structure):
    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32), ("prog_name", ctypes.c_char * 16)]


class _BpfProgAttach(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32)]


def bpf_load_cgroup_device_program(insns: bytes, name: str = "rkt_devices") -> int:
    """Load a device-cgroup BPF program (raw 8-byte instructions); returns its fd."""
    code = ctypes.create_string_buffer(insns, len(insns))
    license_ = ctypes.create_string_buffer(b"Apache-2.0")
    attr = _BpfProgLoad(prog_type=BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=len(insns) // 8,
                        insns=ctypes.addressof(code), license=ctypes.addressof(license_),
                        prog_name=name.encode()[:15])
    return _check(_libc.syscall(_NR_BPF, BPF_PROG_LOAD, ctypes.byref(attr), ctypes.sizeof(attr)),
                  "bpf BPF_PROG_LOAD")


def bpf_attach_cgroup_device_program(cgroup_fd: int, prog_fd: int) -> None:
    """Attach alongside whatever the ancestors attached (all must allow an access)."""
    attr = _BpfProgAttach(target_fd=cgroup_fd, attach_bpf_fd=prog_fd,
                          attach_type=BPF_CGROUP_DEVICE, attach_flags=BPF_F_ALLOW_MULTI)
    _check(_libc.syscall(_NR_BPF, BPF_PROG_ATTACH, ctypes.byref(attr), ctypes.sizeof(attr)),
           "bpf BPF_PROG_ATTACH")
