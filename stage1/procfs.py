"""What stage1 reads from the kernel's /proc: the mount table of a process, and a pid as this
process sees it even when /proc belongs to an outer pid namespace (the supervisor is PID 1 of
the pod but still sees the host's /proc). Plain file reads, so no kernel seam is needed.
"""

from __future__ import annotations

import errno
import os


class MountInfo:
    """One line of /proc/<pid>/mountinfo."""

    __slots__ = ("mount_point", "options", "fstype", "super_options", "root")

    def __init__(self, mount_point: str, options: str, fstype: str, super_options: str,
                 root: str = "/"):
        self.mount_point, self.options = mount_point, options
        self.fstype, self.super_options = fstype, super_options
        self.root = root  # what of its filesystem the mount shows: "/" unless a bind mount


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        octal = field[i + 1:i + 4]
        if field[i] == "\\" and len(octal) == 3 and all(c in "01234567" for c in octal):
            out.append(chr(int(octal, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mountinfo(path: str = "/proc/self/mountinfo") -> list[MountInfo]:
    with open(path) as f:
        lines = f.read().splitlines()
    result = []
    for line in lines:
        fields = line.split()
        sep = fields.index("-")
        result.append(MountInfo(_unescape(fields[4]), fields[5], fields[sep + 1],
                                fields[sep + 3] if len(fields) > sep + 3 else "",
                                _unescape(fields[3])))
    return result


def proc_dir(pid: int) -> str:
    """/proc/<pid> for `pid` as this process sees it, also when /proc belongs to an outer pid
    namespace (stage1's supervisor is PID 1 of the pod but still sees the host's /proc)."""
    if pid in (0, os.getpid()):
        return "/proc/self"
    me = os.readlink("/proc/self")
    if me == str(os.getpid()):
        return f"/proc/{pid}"
    own_ns = os.readlink("/proc/self/ns/pid")
    candidates = []
    for task in os.listdir(f"/proc/{me}/task"):
        try:
            with open(f"/proc/{me}/task/{task}/children") as f:
                candidates += f.read().split()
        except OSError:
            pass
    for candidate in candidates + [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{candidate}/status") as f:
                nspid = next((line.split()[1:] for line in f if line.startswith("NSpid:")), [])
            if nspid and nspid[-1] == str(pid) and os.readlink(f"/proc/{candidate}/ns/pid") == own_ns:
                return f"/proc/{candidate}"
        except OSError:
            continue
    raise OSError(errno.ESRCH, f"no process {pid}")
