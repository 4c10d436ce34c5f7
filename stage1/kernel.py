"""stage1's one door to the kernel: the only module that calls libc (through stage1.ffi).

Everything above it asks `current()` for a `Kernel` and makes its mount, unshare, setns,
pivot_root, prctl, capability, identity and bpf(2) calls through it. `Linux` makes the real
calls; `RecordingKernel` only writes them down, so that mount ordering, capability sets and
protected paths are unit-tested without root (youki's Syscall seam). What stage1 reads from
/proc is in `stage1.procfs`.
"""

from __future__ import annotations

import os

from stage1 import ffi

# clone/unshare/setns flags
CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000  # --private-users (stage1.userns)
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SLAVE = 0x80000
MS_STRICTATIME = 0x1000000

# umount2 flags
MNT_DETACH = 0x2

# prctl options
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
PR_SET_MM, PR_SET_MM_ARG_END = 35, 9

# statvfs f_flag bits a bind remount must carry over (a remount resets what it does not name)
KEEP_ON_REMOUNT = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC))


class Kernel:
    """The calls stage1 makes. Each raises OSError(errno, "<call> <args>: <reason>") on failure."""

    def mount(self, source, target, fstype=None, flags: int = 0, data: str | None = None) -> None:
        raise NotImplementedError

    def umount(self, target, flags: int = 0) -> None:
        raise NotImplementedError

    def unshare(self, flags: int) -> None:
        raise NotImplementedError

    def setns(self, fd: int, nstype: int = 0) -> None:
        raise NotImplementedError

    def sethostname(self, name: str) -> None:
        raise NotImplementedError

    def pivot_root(self, new_root, put_old) -> None:
        raise NotImplementedError

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        raise NotImplementedError

    def set_cmdline(self, argv: list[str]) -> None:
        """Show `argv` as this process's /proc/self/cmdline (what ps prints)."""
        raise NotImplementedError

    def capget(self, pid: int = 0) -> tuple[int, int, int]:
        """(effective, permitted, inheritable) as 64-bit masks."""
        raise NotImplementedError

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        raise NotImplementedError

    def set_identity(self, uid: int, gid: int, groups) -> None:
        """setgroups, setgid, setuid, in that order (setuid last: it drops the right to the others)."""
        raise NotImplementedError

    def link_up(self, name: str = "lo") -> None:
        """Set IFF_UP on interface `name` in the current network namespace."""
        raise NotImplementedError

    def bpf_load_cgroup_device_program(self, insns: bytes, name: str = "rkt_devices") -> int:
        """Load a device-cgroup BPF program (raw 8-byte instructions); returns its fd."""
        raise NotImplementedError

    def load_seccomp(self, program: bytes) -> None:
        """Install a seccomp filter (classic BPF, 8-byte struct sock_filter each) on this
        process: seccomp(2) SECCOMP_SET_MODE_FILTER without flags, as libseccomp loads one."""
        raise NotImplementedError

    def bpf_attach_cgroup_device_program(self, cgroup_fd: int, prog_fd: int) -> None:
        """Attach alongside whatever the ancestors attached (all must allow an access)."""
        raise NotImplementedError

    # -- built from the calls above ---------------------------------------------------------
    def private_mount_namespace(self, also: int = 0) -> None:
        """Enter a new mount namespace (and those of the clone flags `also`) and make `/`
        recursively slave in it before anything else, so that no mount or unmount made here
        ever propagates back to the host."""
        self.unshare(CLONE_NEWNS | also)
        self.mount(None, "/", None, MS_REC | MS_SLAVE)

    def bind(self, source: str, target: str, *, recursive: bool = False, read_only: bool = False) -> None:
        self.mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
        if read_only:
            self.remount_read_only(target)

    def remount_read_only(self, target: str, extra: int = 0) -> None:
        """A bind mount ignores MS_RDONLY: remount it, keeping the nosuid/nodev/noexec it has."""
        current = os.statvfs(target).f_flag
        for st_flag, ms_flag in KEEP_ON_REMOUNT:
            if current & st_flag:
                extra |= ms_flag
        self.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | extra)


class RecordingKernel(Kernel):
    """Writes every call into `calls` as a tuple (name, *args) and changes nothing.

    `capget` answers `caps` (updated by `capset`); `fail` maps a call name to the errno it
    raises, to test how the logic above reports a refusal."""

    def __init__(self, caps: tuple[int, int, int] = (0, 0, 0), fail: dict[str, int] | None = None):
        self.calls: list[tuple] = []
        self.caps = caps
        self.fail = dict(fail or {})

    def _note(self, name: str, *args) -> None:
        self.calls.append((name, *args))
        if name in self.fail:
            raise OSError(self.fail[name], f"{name}: {os.strerror(self.fail[name])}")

    def mount(self, source, target, fstype=None, flags=0, data=None):
        self._note("mount", source, target, fstype, flags, data)

    def umount(self, target, flags=0):
        self._note("umount", target, flags)

    def unshare(self, flags):
        self._note("unshare", flags)

    def setns(self, fd, nstype=0):
        self._note("setns", fd, nstype)

    def sethostname(self, name):
        self._note("sethostname", name)

    def pivot_root(self, new_root, put_old):
        self._note("pivot_root", new_root, put_old)

    def prctl(self, option, arg2=0, arg3=0, arg4=0, arg5=0):
        self._note("prctl", option, arg2, arg3, arg4, arg5)
        return 0

    def set_cmdline(self, argv):
        self._note("set_cmdline", list(argv))

    def capget(self, pid=0):
        self._note("capget", pid)
        return self.caps

    def capset(self, effective, permitted, inheritable):
        self._note("capset", effective, permitted, inheritable)
        self.caps = (effective, permitted, inheritable)

    def set_identity(self, uid, gid, groups):
        self._note("set_identity", uid, gid, list(groups))

    def link_up(self, name="lo"):
        self._note("link_up", name)

    def bpf_load_cgroup_device_program(self, insns, name="rkt_devices"):
        self._note("bpf_load", insns)
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)  # the caller closes it

    def bpf_attach_cgroup_device_program(self, cgroup_fd, prog_fd):
        self._note("bpf_attach", cgroup_fd)

    def load_seccomp(self, program):
        self._note("load_seccomp", program)


_current: Kernel | None = None


def current() -> Kernel:
    """The kernel stage1 talks to: Linux, unless a test swapped in another with `use`."""
    global _current
    if _current is None:
        _current = Linux()
    return _current


def use(kernel: Kernel | None) -> Kernel | None:
    """Make `kernel` the current one (None: back to Linux on next use); returns the previous."""
    global _current
    previous, _current = _current, kernel
    return previous


def set_title(*words: str) -> None:
    """What ps shows for this process, e.g. `stage1 init <uuid>`, instead of the interpreter,
    the pod dir's host path and stage0's flags. Cosmetic: never a reason to fail."""
    try:
        current().set_cmdline(list(words))
    except (OSError, ValueError, IndexError):
        pass


# --- the real thing ---------------------------------------------------------------------------

# syscall numbers that glibc does not wrap (or wraps differently)
_NR = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "bpf": 321, "seccomp": 317},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "bpf": 280, "seccomp": 277},
}[os.uname().machine]
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_BPF_PROG_LOAD, _BPF_PROG_ATTACH = 5, 8
_BPF_PROG_TYPE_CGROUP_DEVICE, _BPF_CGROUP_DEVICE, _BPF_F_ALLOW_MULTI = 15, 6, 2
_SECCOMP_SET_MODE_FILTER = 1


_ARGV_AREA: tuple[int, int] | None = None  # this process's original argv memory


class _CapHeader(ffi.Structure):
    _fields_ = [("version", ffi.c_uint32), ("pid", ffi.c_int)]


class _CapData(ffi.Structure):
    _fields_ = [("effective", ffi.c_uint32), ("permitted", ffi.c_uint32),
                ("inheritable", ffi.c_uint32)]


class _BpfProgLoad(ffi.Structure):
    _fields_ = [("prog_type", ffi.c_uint32), ("insn_cnt", ffi.c_uint32),
                ("insns", ffi.c_uint64), ("license", ffi.c_uint64),
                ("log_level", ffi.c_uint32), ("log_size", ffi.c_uint32),
                ("log_buf", ffi.c_uint64), ("kern_version", ffi.c_uint32),
                ("prog_flags", ffi.c_uint32), ("prog_name", ffi.c_char * 16)]


class _SockFprog(ffi.Structure):
    _fields_ = [("len", ffi.c_ushort), ("filter", ffi.c_void_p)]


class _BpfProgAttach(ffi.Structure):
    _fields_ = [("target_fd", ffi.c_uint32), ("attach_bpf_fd", ffi.c_uint32),
                ("attach_type", ffi.c_uint32), ("attach_flags", ffi.c_uint32)]


def _b(value) -> bytes | None:
    return None if value is None else os.fsencode(value)


class Linux(Kernel):
    """The calls made, through libc (stage1.ffi) or the syscall(2) entry for what glibc does not wrap."""

    def __init__(self):
        # dlopen(NULL): libc's symbols are already in the process; ctypes.util.find_library
        # would cost an ldconfig fork and the subprocess/shutil/tempfile imports on every start
        libc = ffi.Library(None)
        libc.mount.argtypes = [ffi.c_char_p, ffi.c_char_p, ffi.c_char_p, ffi.c_ulong,
                               ffi.c_char_p]
        libc.umount2.argtypes = [ffi.c_char_p, ffi.c_int]
        libc.unshare.argtypes = [ffi.c_int]
        libc.setns.argtypes = [ffi.c_int, ffi.c_int]
        libc.sethostname.argtypes = [ffi.c_char_p, ffi.c_size_t]
        libc.prctl.argtypes = [ffi.c_int, ffi.c_ulong, ffi.c_ulong, ffi.c_ulong, ffi.c_ulong]
        libc.socket.argtypes = [ffi.c_int, ffi.c_int, ffi.c_int]
        libc.ioctl.argtypes = [ffi.c_int, ffi.c_ulong, ffi.c_void_p]
        libc.syscall.restype = ffi.c_long
        libc.memset.argtypes = [ffi.c_void_p, ffi.c_int, ffi.c_size_t]
        libc.memmove.argtypes = [ffi.c_void_p, ffi.c_char_p, ffi.c_size_t]
        self._libc = libc

    @staticmethod
    def _check(result: int, what: str, *args) -> int:
        if result < 0:
            err = ffi.get_errno()
            call = " ".join([what, *(repr(a) for a in args)])
            raise OSError(err, f"{call}: {os.strerror(err)}")
        return result

    def mount(self, source, target, fstype=None, flags=0, data=None):
        self._check(self._libc.mount(_b(source) or b"none", _b(target), _b(fstype), flags, _b(data)),
                    "mount", source, target, fstype)

    def umount(self, target, flags=0):
        self._check(self._libc.umount2(_b(target), flags), "umount", target)

    def unshare(self, flags):
        self._check(self._libc.unshare(flags), "unshare", hex(flags))

    def setns(self, fd, nstype=0):
        self._check(self._libc.setns(fd, nstype), "setns", fd)

    def sethostname(self, name):
        raw = name.encode()
        self._check(self._libc.sethostname(raw, len(raw)), "sethostname", name)

    def pivot_root(self, new_root, put_old):
        self._check(self._libc.syscall(_NR["pivot_root"], _b(new_root), _b(put_old)), "pivot_root", new_root)

    def prctl(self, option, arg2=0, arg3=0, arg4=0, arg5=0):
        return self._check(self._libc.prctl(option, arg2, arg3, arg4, arg5), "prctl", option)

    def capget(self, pid=0):
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
        data = (_CapData * 2)()
        self._check(self._libc.syscall(_NR["capget"], ffi.byref(header), data), "capget", pid)
        return tuple(getattr(data[0], f) | (getattr(data[1], f) << 32)
                     for f in ("effective", "permitted", "inheritable"))

    def capset(self, effective, permitted, inheritable):
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        for i in range(2):
            shift = 32 * i
            data[i].effective = (effective >> shift) & 0xFFFFFFFF
            data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
            data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
        self._check(self._libc.syscall(_NR["capset"], ffi.byref(header), data), "capset")

    def set_identity(self, uid, gid, groups):
        os.setgroups(list(groups))
        os.setgid(gid)
        os.setuid(uid)

    def set_cmdline(self, argv):
        # The interpreter's argv (the script's host path, flags) is rewritten in place, as
        # setproctitle does, and its end moved with PR_SET_MM (root has CAP_SYS_RESOURCE).
        # The original area is kept, so that a forked child can write a longer title.
        global _ARGV_AREA
        if _ARGV_AREA is None:
            with open("/proc/self/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
            _ARGV_AREA = (int(fields[45]), int(fields[46]))  # arg_start, arg_end
        start, end = _ARGV_AREA
        data = b"\0".join(os.fsencode(a) for a in argv)[:end - start - 1] + b"\0"
        self._libc.memset(start, 0, end - start)
        self._libc.memmove(start, data, len(data))
        if self._libc.prctl(PR_SET_MM, PR_SET_MM_ARG_END, start + len(data), 0, 0) != 0:
            # no CAP_SYS_RESOURCE: setproctitle's layout, one string the kernel reads up to
            # its NUL because the area's last byte is not one
            self._libc.memmove(start, data.replace(b"\0", b" ")[:-1], len(data) - 1)
            self._libc.memset(end - 1, 0x20, 1)

    def link_up(self, name="lo"):
        ifreq = ffi.create_string_buffer(40)  # struct ifreq: 16-byte name + union (flags first)
        ifreq.raw = name.encode()[:15].ljust(16, b"\0") + bytes(24)
        # a raw socket(2), not the socket module: the waiting parent imports as little as it can
        fd = self._check(self._libc.socket(2, 2 | 0o2000000, 0), "socket")  # AF_INET, DGRAM|CLOEXEC
        try:
            self._check(self._libc.ioctl(fd, _SIOCGIFFLAGS, ifreq), "ioctl SIOCGIFFLAGS", name)
            flags = int.from_bytes(ifreq.raw[16:18], "little") | _IFF_UP
            ifreq.raw = ifreq.raw[:16] + flags.to_bytes(2, "little") + ifreq.raw[18:]
            self._check(self._libc.ioctl(fd, _SIOCSIFFLAGS, ifreq), "ioctl SIOCSIFFLAGS", name)
        finally:
            os.close(fd)

    def bpf_load_cgroup_device_program(self, insns, name="rkt_devices"):
        code = ffi.create_string_buffer(insns, len(insns))
        license_ = ffi.create_string_buffer(b"Apache-2.0")
        attr = _BpfProgLoad(prog_type=_BPF_PROG_TYPE_CGROUP_DEVICE, insn_cnt=len(insns) // 8,
                            insns=ffi.addressof(code), license=ffi.addressof(license_),
                            prog_name=name.encode()[:15])
        return self._check(self._libc.syscall(_NR["bpf"], _BPF_PROG_LOAD, ffi.byref(attr),
                                              ffi.sizeof(attr)), "bpf BPF_PROG_LOAD")

    def bpf_attach_cgroup_device_program(self, cgroup_fd, prog_fd):
        attr = _BpfProgAttach(target_fd=cgroup_fd, attach_bpf_fd=prog_fd,
                              attach_type=_BPF_CGROUP_DEVICE, attach_flags=_BPF_F_ALLOW_MULTI)
        self._check(self._libc.syscall(_NR["bpf"], _BPF_PROG_ATTACH, ffi.byref(attr),
                                       ffi.sizeof(attr)), "bpf BPF_PROG_ATTACH")

    def load_seccomp(self, program):
        insns = ffi.create_string_buffer(program, len(program))
        fprog = _SockFprog(len(program) // 8, ffi.addressof(insns))
        self._check(self._libc.syscall(_NR["seccomp"], _SECCOMP_SET_MODE_FILTER, 0, ffi.byref(fprog)),
                    "seccomp SECCOMP_SET_MODE_FILTER")
