"""C calls for stage1.kernel (libc) and stage1.libseccomp: the C types and library loading they
use, straight from `_ctypes`, the C core of ctypes.

The `ctypes` package is that same core plus a Python front-end (every C type, function-pointer
caches, struct and byte-order helpers, a handle on libpython) whose import costs ~3 ms, paid by
the first stage1 process of every pod before anything else can happen. What is declared here
behaves as its ctypes namesake; only what stage1 calls exists.
"""

from __future__ import annotations

import _ctypes
from _ctypes import Structure, addressof, byref, get_errno, sizeof  # noqa: F401 - re-exported


def _c_type(name: str, code: str) -> type:
    """A C scalar type as ctypes declares it: a `_SimpleCData` with its struct-module code."""
    return type(name, (_ctypes._SimpleCData,), {"_type_": code, "__module__": __name__})


# ctypes' names, which stage1.kernel and stage1.libseccomp use
c_int, c_uint, c_ushort = _c_type("c_int", "i"), _c_type("c_uint", "I"), _c_type("c_ushort", "H")
c_long, c_ulong = _c_type("c_long", "l"), _c_type("c_ulong", "L")
c_char, c_char_p, c_void_p = _c_type("c_char", "c"), _c_type("c_char_p", "z"), _c_type("c_void_p", "P")

# LP64: the 64-bit Linux machines stage1.kernel has syscall numbers for
c_uint32, c_uint64, c_size_t = c_uint, c_ulong, c_ulong


def create_string_buffer(init: bytes | int, size: int | None = None):
    """A C char array of `init` zero bytes, or holding the bytes `init` (and a NUL after
    them unless `size` leaves no room): ctypes' function."""
    if isinstance(init, int):
        return (c_char * init)()
    buf = (c_char * (len(init) + 1 if size is None else size))()
    buf.raw = init
    return buf


class Library:
    """A shared library (None: the symbols already in the process, libc's among them) whose C
    functions are its attributes; they return int unless given a `restype`, and keep errno for
    `get_errno` (ctypes.CDLL(name, use_errno=True))."""

    def __init__(self, name: str | None):
        class Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = c_int

        self._function = Function
        self._handle = _ctypes.dlopen(name, _ctypes.RTLD_LOCAL)  # OSError when missing

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        function = self._function((name, self))  # AttributeError when the symbol is missing
        setattr(self, name, function)
        return function
