"""rkt's closed device policy: an app may use the standard pseudo devices and terminals, and the
device nodes stage1 itself gave it (device volumes, the console), nothing else.

So that CAP_MKNOD, in the default set, cannot reach a host disk through a hand-made node. cgroup
v1 says it with devices.deny/devices.allow lines; v2 has no such files, so the same lines are
compiled into a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the app's cgroup.
"""

from __future__ import annotations

import os
import stat

from stage1 import kernel, procfs
from stage1.cgroups import tree

STANDARD_DEVICES = (
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",  # null zero full random urandom
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",  # tty console ptmx pts/*
)


def _rule(path: str, read_only: bool) -> str | None:
    """The devices.allow line for the node at `path`, None when it is no device node."""
    st = os.stat(path, follow_symlinks=False)
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        return None
    kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
    return f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {'r' if read_only else 'rw'}"


def device_rules(devices) -> list[str]:
    """devices.allow lines for device-node volumes given as (host path, read_only)."""
    rules = (_rule(os.path.realpath(path), read_only) for path, read_only in devices)
    return [r for r in rules if r]


def mounted_devices(pid: int) -> list[str]:
    """devices.allow lines for the device nodes mounted in the mount namespace of `pid`
    (read-only mounts allow reading only)."""
    proc = procfs.proc_dir(pid)
    rules = []
    for mount in procfs.mountinfo(f"{proc}/mountinfo"):
        # a filesystem's own root is a directory, and proc and sysfs hold no device nodes:
        # only a bind mount from another filesystem can be one (a look at each of the
        # ~50 mounts of an app is a millisecond between its setup and its go)
        if mount.root == "/" or mount.fstype in ("proc", "sysfs"):
            continue
        try:
            rule = _rule(f"{proc}/root{mount.mount_point}", "ro" in mount.options.split(","))
        except OSError:
            continue
        if rule:
            rules.append(rule)
    return rules


def allow_only_v1(path: str, rules) -> None:
    """cgroup v1: deny everything, then allow each rule, in the devices hierarchy's `path`."""
    tree.write(os.path.join(path, "devices.deny"), "a")
    for line in rules:
        tree.write(os.path.join(path, "devices.allow"), line)


def allow_only_v2(path: str, rules) -> None:
    """cgroup v2: attach a program that allows exactly `rules` to the cgroup at `path`."""
    k = kernel.current()
    prog_fd = k.bpf_load_cgroup_device_program(device_program(rules))
    try:
        dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            k.bpf_attach_cgroup_device_program(dir_fd, prog_fd)
        finally:
            os.close(dir_fd)
    finally:
        os.close(prog_fd)  # the cgroup holds it now


_DEV_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_DEV_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    import struct
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def device_program(rules) -> bytes:
    """A BPF_PROG_TYPE_CGROUP_DEVICE program allowing exactly `rules` (devices.allow lines such
    as "c 1:3 rwm", "c 136:* rw"): the v2 equivalent of devices.deny "a" + devices.allow."""
    ldxw, and32, rsh32, mov32_reg, mov32_imm, jne_imm, exit_ = 0x61, 0x54, 0x74, 0xBC, 0xB4, 0x55, 0x95
    # r1 points at {u32 access_type (access << 16 | type), u32 major, u32 minor}:
    # r2 = type, r3 = access, r4 = major, r5 = minor
    program = [_insn(ldxw, 2, 1, 0), _insn(and32, 2, imm=0xFFFF), _insn(ldxw, 3, 1, 0),
               _insn(rsh32, 3, imm=16), _insn(ldxw, 4, 1, 4), _insn(ldxw, 5, 1, 8)]
    for rule in rules:
        kind, numbers, access = rule.split()
        major, minor = numbers.split(":")
        denied = ~sum(_DEV_ACCESS[a] for a in access) & 0x7
        # each test jumps past the end of this rule's block when it does not match
        tests = []
        if kind != "a":
            tests.append([(jne_imm, 2, _DEV_TYPES[kind])])
        tests.append([(mov32_reg, 0, 3), (and32, 0, denied), (jne_imm, 0, 0)])  # no denied access
        if major != "*":
            tests.append([(jne_imm, 4, int(major))])
        if minor != "*":
            tests.append([(jne_imm, 5, int(minor))])
        size = sum(len(t) for t in tests) + 2
        position = 0
        for test in tests:
            for code, reg, imm in test:
                position += 1
                if code == jne_imm:
                    program.append(_insn(code, reg, off=size - position, imm=imm))
                elif code == mov32_reg:
                    program.append(_insn(code, reg, src=imm))
                else:
                    program.append(_insn(code, reg, imm=imm))
        program += [_insn(mov32_imm, 0, imm=1), _insn(exit_)]  # allow
    program += [_insn(mov32_imm, 0, imm=0), _insn(exit_)]  # deny the rest
    return b"".join(program)

