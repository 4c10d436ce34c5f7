"""Raw tar building blocks for archives `tests.helpers.aci` cannot express (broken on purpose)."""

from __future__ import annotations

import json
import tarfile

from tests.helpers.aci import manifest


def member(name: str, data: bytes = b"", *, type: bytes = tarfile.REGTYPE, mode: int = 0o644,
           linkname: str = "", size: int | None = None, fmt=tarfile.PAX_FORMAT) -> bytes:
    """One member: header(s) + data + padding."""
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname, info.mtime = type, mode, linkname, 1_500_000_000
    info.size = len(data) if size is None else size
    return info.tobuf(fmt, "utf-8", "surrogateescape") + data + bytes(-len(data) % 512)


def fix_checksum(block: bytearray) -> bytes:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def end() -> bytes:
    return bytes(1024)


def manifest_member(obj: dict | None = None) -> bytes:
    return member("manifest", json.dumps(obj or manifest()).encode())


def rootfs_member() -> bytes:
    return member("rootfs", type=tarfile.DIRTYPE, mode=0o755)


def archive(*members: bytes) -> bytes:
    """A valid ACI prefix (manifest, rootfs) followed by `members` and the end marker."""
    return manifest_member() + rootfs_member() + b"".join(members) + end()
