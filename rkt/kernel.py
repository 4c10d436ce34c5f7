"""The stage0 kernel layer: the only place in `rkt/` that calls libc (through `_ctypes`).

Mount namespaces, mounts, statfs, syncfs and network-namespace handles all go through one
`Kernel` object, as youki's Syscall seam: `current()` returns the real `LinuxKernel`, and tests
swap in a `RecordingKernel` with `using(...)` so that mount and unmount ordering is unit-tested
without root. The logic above the raw calls (a private namespace, which mounts lie under a
directory, in which order to unmount them) lives here too, written against the seam.
"""

from __future__ import annotations

import contextlib
import errno
import os

from rkt.closing import Closing
from rkt.record import Record

TYPE_CHECKING = False  # typing's own constant, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Iterator, Protocol
else:
    Protocol = object  # the seam's shape is for type checkers; at run time a plain base

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_BIND = 1 << 12
MS_REC = 1 << 14
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 2

StrPath = str | os.PathLike


class Kernel(Protocol):
    """The raw calls; each raises OSError(errno, strerror, filename) when the kernel refuses."""

    def unshare(self, flags: int) -> None: ...
    def mount(self, source: StrPath | None, target: StrPath, fstype: str | None, flags: int,
              data: str | None) -> None: ...
    def umount2(self, target: StrPath, flags: int = 0) -> None: ...
    def statfs_type(self, path: StrPath) -> int: ...
    def syncfs(self, fd: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...
    def mountinfo(self) -> str: ...


def _b(value: StrPath | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def _libc():
    """libc's functions that LinuxKernel calls, each keeping errno for `_ctypes.get_errno`, made
    from `_ctypes`, the C core of ctypes: the ctypes package adds a Python front-end (every C
    type, struct and byte-order helpers) whose import cost every `rkt run` ~1.5 ms of CPU, for
    the types declared here. (stage1.ffi does the same for stage1, which stage0 may not
    import.)"""
    import _ctypes

    class Int(_ctypes._SimpleCData):
        _type_ = "i"

    class ULong(_ctypes._SimpleCData):
        _type_ = "L"

    class CharP(_ctypes._SimpleCData):
        _type_ = "z"

    class VoidP(_ctypes._SimpleCData):
        _type_ = "P"

    class Long(_ctypes._SimpleCData):
        _type_ = "l"

    class Function(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = Int

    class Libc:  # what CFuncPtr((name, library)) looks symbols up in: its _handle
        _handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)  # the process's own, libc's among them
        # room for a struct statfs (120 bytes on 64-bit Linux), whose first field, a long, is f_type
        StatfsBuffer = Long * 32

    for name, argtypes in (("mount", [CharP, CharP, CharP, ULong, CharP]),
                           ("umount2", [CharP, Int]), ("unshare", [Int]), ("setns", [Int, Int]),
                           ("syncfs", [Int]), ("statfs", [CharP, VoidP])):
        function = Function((name, Libc))
        function.argtypes = argtypes
        setattr(Libc, name, function)
    return Libc


class LinuxKernel:
    """The real thing: libc's functions (loaded on first use, off the import path)."""

    def __init__(self) -> None:
        self._libc = _libc()

    def _check(self, result: int, filename: StrPath | None = None) -> None:
        if result != 0:
            import _ctypes

            err = _ctypes.get_errno()
            raise OSError(err, os.strerror(err), *([os.fspath(filename)] if filename else []))

    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(flags))

    def mount(self, source, target, fstype, flags, data) -> None:
        self._check(self._libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data)), target)

    def umount2(self, target, flags=0) -> None:
        self._check(self._libc.umount2(_b(target), flags), target)

    def statfs_type(self, path) -> int:
        buf = self._libc.StatfsBuffer()
        self._check(self._libc.statfs(_b(path), buf), path)
        return buf[0] & 0xFFFFFFFF

    def syncfs(self, fd: int) -> None:
        self._check(self._libc.syncfs(fd))

    def setns(self, fd: int, nstype: int) -> None:
        self._check(self._libc.setns(fd, nstype))

    def mountinfo(self) -> str:
        with open("/proc/self/mountinfo") as f:
            return f.read()


class RecordingKernel:
    """A fake for unit tests: records every call in `calls` and keeps a mount table.

    `mounts` lists (mount point, optional fields) as mountinfo would, last mounted last;
    `mount` and `umount2` change it. `fail` maps (call name, target or None) to an errno the
    call raises instead, once per entry in the list given, e.g. {("umount2", "/p"): [EBUSY]}.
    """

    def __init__(self, mounts: list[tuple[str, set[str]]] | None = None,
                 fail: dict[tuple[str, str | None], list[int]] | None = None) -> None:
        self.calls: list[tuple] = []
        self.mounts = list(mounts or [])
        self.fail = {key: list(errs) for key, errs in (fail or {}).items()}

    def _call(self, name: str, target: StrPath | None, *args) -> None:
        where = None if target is None else os.fspath(target)
        self.calls.append((name, where, *args))
        errs = self.fail.get((name, where)) or self.fail.get((name, None))
        if errs:
            err = errs.pop(0)
            raise OSError(err, os.strerror(err), *([where] if where else []))

    def unshare(self, flags: int) -> None:
        self._call("unshare", None, flags)

    def mount(self, source, target, fstype, flags, data) -> None:
        source = None if source is None else os.fspath(source)
        self._call("mount", target, source, fstype, flags, data)
        if not flags & (MS_PRIVATE | MS_SLAVE):
            self.mounts.append((os.fspath(target), set()))

    def umount2(self, target, flags=0) -> None:
        self._call("umount2", target, flags)
        point = os.fspath(target)
        for i in range(len(self.mounts) - 1, -1, -1):
            if self.mounts[i][0] == point:
                del self.mounts[i]
                return
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), point)

    def statfs_type(self, path) -> int:
        self._call("statfs", path)
        return 0xEF53  # ext4

    def syncfs(self, fd: int) -> None:
        self._call("syncfs", None, fd)

    def setns(self, fd: int, nstype: int) -> None:
        self._call("setns", None, fd, nstype)

    def mountinfo(self) -> str:
        lines = []
        for i, (point, optional) in enumerate(self.mounts):
            escaped = "".join(f"\\{ord(c):03o}" if c in " \t\n\\" else c for c in point)
            tags = " ".join(sorted(f"{o}:1" for o in optional))
            lines.append(f"{100 + i} 1 0:{i} / {escaped} rw {tags} - tmpfs none rw".replace("  ", " "))
        return "\n".join(lines) + "\n"


_current: Kernel | None = None


def current() -> Kernel:
    """The kernel stage0 talks to: the real one unless a test swapped it."""
    global _current
    if _current is None:
        _current = LinuxKernel()
    return _current


@contextlib.contextmanager
def using(fake: Kernel) -> Iterator[Kernel]:
    """Run a block against `fake` instead of the real kernel (tests)."""
    global _current
    saved, _current = _current, fake
    try:
        yield fake
    finally:
        _current = saved


# --- mount namespaces ----------------------------------------------------------------------------
def private_mount_namespace(propagation: int = MS_SLAVE) -> None:
    """Enter a new mount namespace whose `/` is made recursively slave (or private) before
    anything else: no mount or unmount done in it can propagate back to the host. RktError
    when the kernel refuses."""
    from rkt.errors import RktError

    k = current()
    try:
        k.unshare(CLONE_NEWNS)
        k.mount(None, "/", None, MS_REC | propagation, None)
    except OSError as err:
        raise RktError(f"cannot enter a private mount namespace: {err.strerror}") from None


# --- mountinfo -----------------------------------------------------------------------------------
class MountInfo(Record):
    """One line of /proc/PID/mountinfo (proc(5)): the fields stage0 looks at."""

    mount_id: int
    parent_id: int
    root: str
    point: str
    optional: frozenset[str]  # tags only: "shared", "master", "propagate_from", "unbindable"
    fstype: str
    source: str


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text: str) -> list[MountInfo]:
    """Every well-formed line of a mountinfo text, in its order (parents before children)."""
    found = []
    for line in text.splitlines():
        fields = line.split(" ")
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        dash = fields.index("-", 6)
        tail = fields[dash + 1:]
        try:
            ids = int(fields[0]), int(fields[1])
        except ValueError:
            continue
        found.append(MountInfo(
            ids[0], ids[1], _unescape(fields[3]), _unescape(fields[4]),
            frozenset(f.split(":", 1)[0] for f in fields[6:dash]),
            tail[0] if tail else "", _unescape(tail[1]) if len(tail) > 1 else ""))
    return found


def at_or_below(path: StrPath):
    """A test of mount points: whether one is `path` or lies below it (`path` resolved, as
    mountinfo names real paths; a prefix of a name is not a parent)."""
    base = os.path.realpath(path)
    prefix = base.rstrip("/") + "/"
    return lambda point: point == base or point.startswith(prefix)


def mounts_under(path: StrPath, mountinfo: str | None = None) -> list[MountInfo]:
    """Every mount at or below `path`, in the order to unmount them: deepest first, and the
    last stacked mount first."""
    inside = at_or_below(path)
    text = current().mountinfo() if mountinfo is None else mountinfo
    found = [(m.point.count("/"), index, m) for index, m in enumerate(parse_mountinfo(text))
             if inside(m.point)]
    found.sort(key=lambda entry: entry[:2], reverse=True)
    return [m for _, _, m in found]


def unmount_all(path: StrPath) -> list[str]:
    """Unmount everything at or below `path`; the mount points still mounted afterwards.

    Each shared or slave mount is first made private, so that neither the unmount nor a lazy
    detach (our answer to EBUSY) can propagate to a peer mount on the host. Errors other than
    "already gone" stop the work with OSError.
    """
    mounts = mounts_under(path)
    if not mounts:
        return []
    k = current()
    for m in mounts:
        if m.optional & {"shared", "master"}:
            try:
                k.mount(None, m.point, None, MS_PRIVATE, None)
            except OSError as err:
                if err.errno not in (errno.EINVAL, errno.ENOENT):
                    raise
    for m in mounts:
        try:
            k.umount2(m.point, 0)
        except OSError as err:
            if err.errno == errno.EBUSY:
                try:
                    k.umount2(m.point, MNT_DETACH)
                    continue
                except OSError as again:
                    err = again
            if err.errno not in (errno.EINVAL, errno.ENOENT):
                raise
    return [m.point for m in mounts_under(path)]


# --- network namespaces --------------------------------------------------------------------------
class NetNS(Closing):
    """An open handle on a network namespace (its nsfs file); `enter()` moves this thread in."""

    def __init__(self, path: StrPath) -> None:
        self.path = os.fspath(path)
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)

    @classmethod
    def of_pid(cls, pid: int) -> "NetNS":
        return cls(f"/proc/{pid}/ns/net")

    @classmethod
    def of_this_thread(cls) -> "NetNS":
        return cls("/proc/thread-self/ns/net")

    def enter(self) -> None:
        current().setns(self.fd, CLONE_NEWNET)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@contextlib.contextmanager
def in_netns(target: NetNS) -> Iterator[None]:
    """Run a block inside `target`'s network namespace, then return to the one we came from."""
    with NetNS.of_this_thread() as home:
        target.enter()
        try:
            yield
        finally:
            home.enter()
