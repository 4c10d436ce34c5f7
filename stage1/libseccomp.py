"""stage1's binding to libseccomp, the library that compiles a syscall filter to BPF and loads it.

It is not libc, so it lives beside `stage1.kernel` rather than in it: a direct binding (stage1.ffi),
opened on first use, costs no imports, where pyseccomp pulls in typing and ctypes.util (tens of
ms per stage1 start). `stage1.seccomp` decides what the filter holds; this only speaks the API.
"""

from __future__ import annotations

import os

from stage1 import ffi

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_FLTATR_ACT_BADARCH = 2
SCMP_FLTATR_CTL_NNP = 3
NR_SCMP_ERROR = -1


def SCMP_ACT_ERRNO(err: int) -> int:  # noqa: N802 - libseccomp's name
    return 0x00050000 | (err & 0xFFFF)


_seccomp_lib = None


def open_library():
    """libseccomp.so.2 with the few prototypes we use (OSError when it is missing)."""
    global _seccomp_lib
    if _seccomp_lib is None:
        lib = ffi.Library("libseccomp.so.2")
        lib.seccomp_init.argtypes = [ffi.c_uint32]
        lib.seccomp_init.restype = ffi.c_void_p
        lib.seccomp_release.argtypes = [ffi.c_void_p]
        lib.seccomp_release.restype = None
        lib.seccomp_attr_set.argtypes = [ffi.c_void_p, ffi.c_int, ffi.c_uint32]
        lib.seccomp_rule_add_array.argtypes = [ffi.c_void_p, ffi.c_uint32, ffi.c_int,
                                               ffi.c_uint, ffi.c_void_p]
        lib.seccomp_load.argtypes = [ffi.c_void_p]
        lib.seccomp_export_bpf.argtypes = [ffi.c_void_p, ffi.c_int]
        lib.seccomp_version.restype = ffi.c_void_p
        lib.seccomp_syscall_resolve_name.argtypes = [ffi.c_char_p]
        _seccomp_lib = lib
    return _seccomp_lib


class _Version(ffi.Structure):
    _fields_ = [("major", ffi.c_uint), ("minor", ffi.c_uint), ("micro", ffi.c_uint)]


def version() -> str:
    """The loaded libseccomp's version, e.g. `2.5.4`."""
    v = _Version.from_address(open_library().seccomp_version())
    return f"{v.major}.{v.minor}.{v.micro}"


def syscall_number(name: str) -> int:
    """The native number of syscall `name`; NR_SCMP_ERROR if libseccomp knows no such call, another
    negative pseudo-number for a call that only other architectures have."""
    return open_library().seccomp_syscall_resolve_name(name.encode())


def _scmp_check(result: int, what: str) -> None:
    if result < 0:  # libseccomp returns -errno
        raise OSError(-result, f"{what}: {os.strerror(-result)}")


class Context:
    """A libseccomp filter context: rules in, then load() into this process."""

    def __init__(self, default_action: int):
        self._lib = open_library()
        self._ctx = self._lib.seccomp_init(default_action)
        if not self._ctx:
            raise OSError(22, "seccomp_init failed")

    def set_attr(self, attr: int, value: int) -> None:
        _scmp_check(self._lib.seccomp_attr_set(self._ctx, attr, value), "seccomp_attr_set")

    def add_rule(self, action: int, number: int) -> None:
        _scmp_check(self._lib.seccomp_rule_add_array(self._ctx, action, number, 0, None), "seccomp_rule_add")

    def load(self) -> None:
        _scmp_check(self._lib.seccomp_load(self._ctx), "seccomp_load")

    def export(self) -> bytes:
        """The BPF program `load` would generate and install (struct sock_filter[]), for
        loading later with seccomp(2): generating it is most of what `load` costs."""
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        try:
            _scmp_check(self._lib.seccomp_export_bpf(self._ctx, fd), "seccomp_export_bpf")
            return os.pread(fd, os.fstat(fd).st_size, 0)
        finally:
            os.close(fd)

    def release(self) -> None:
        if self._ctx:
            self._lib.seccomp_release(self._ctx)
            self._ctx = None


