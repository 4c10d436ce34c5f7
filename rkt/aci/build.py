"""Building an ACI from a layout directory (`manifest` + `rootfs/`), deterministically.

Entries are written in a fixed order (manifest, rootfs, then the rootfs tree depth first
with names sorted bytewise) with numeric owners only and a gzip header without name or
time, so the same layout always gives the same image ID.
"""

from __future__ import annotations

import gzip
import os
import stat
from pathlib import Path

from rkt.aci import tar
from rkt.errors import RktError
from rkt.fsutil import atomic_file

_RECORD_TYPES = {
    tar.REGULAR: b"0", tar.HARDLINK: b"1", tar.SYMLINK: b"2", tar.CHAR: b"3",
    tar.BLOCKDEV: b"4", tar.DIRECTORY: b"5", tar.FIFO: b"6",
}


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length = len(str(length).encode()) + len(body)
    return str(length).encode() + body


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) fitting the ustar fields, or None if the name needs a PAX record."""
    if len(name) <= 100:
        return b"", name
    for i in range(len(name) - 1, 0, -1):
        if name[i:i + 1] == b"/" and i <= 155 and len(name) - i - 1 <= 100:
            if len(name) - i - 1 == 0:
                return None
            return name[:i], name[i + 1:]
    return None


class TarWriter:
    """Writes POSIX (ustar + PAX) tar members to a binary file object."""

    def __init__(self, out):
        self.out = out

    def _block(self, kind: str, name: bytes, *, mode=0o644, uid=0, gid=0, size=0, mtime=0,
               linkname=b"", major=0, minor=0, typeflag: bytes | None = None):
        pax: list[bytes] = []
        split = _split_ustar(name)
        if split is None:
            pax.append(_pax_record(b"path", name))
            prefix, short = b"", name[-100:]
        else:
            prefix, short = split
        if len(linkname) > 100:
            pax.append(_pax_record(b"linkpath", linkname))
            linkname = linkname[:100]
        fields = {}
        for key, value, width in ((b"uid", uid, 8), (b"gid", gid, 8), (b"size", size, 12),
                                  (b"mtime", mtime, 12)):
            if 0 <= value < 8 ** (width - 1):
                fields[key] = _octal(value, width)
            else:
                pax.append(_pax_record(key, str(value).encode()))
                fields[key] = _octal(0, width)
        header = bytearray(512)
        header[0:len(short)] = short
        header[100:108] = _octal(mode & 0o7777, 8)
        header[108:116] = fields[b"uid"]
        header[116:124] = fields[b"gid"]
        header[124:136] = fields[b"size"]
        header[136:148] = fields[b"mtime"]
        header[148:156] = b" " * 8
        header[156:157] = typeflag or _RECORD_TYPES[kind]
        header[157:157 + len(linkname)] = linkname
        header[257:265] = b"ustar\x0000"
        header[329:337] = _octal(major, 8)
        header[337:345] = _octal(minor, 8)
        header[345:345 + len(prefix)] = prefix
        header[148:156] = b"%06o\0 " % sum(header)
        return bytes(header), pax

    def add(self, kind: str, name: bytes, *, xattrs: dict[bytes, bytes] | None = None,
            **fields) -> None:
        header, pax = self._block(kind, name, **fields)
        for key in sorted(xattrs or ()):
            pax.append(_pax_record(b"SCHILY.xattr." + key, xattrs[key]))
        if pax:
            data = b"".join(pax)
            pax_header, _ = self._block(tar.REGULAR, b"././@PaxHeader", size=len(data),
                                        typeflag=b"x")
            self.out.write(pax_header + data + bytes(-len(data) % 512))
        self.out.write(header)

    def data(self, path: str, size: int) -> None:
        written = 0
        with open(path, "rb", buffering=0) as f:
            while written < size:
                chunk = f.read(min(1 << 20, size - written))
                if not chunk:
                    break
                self.out.write(chunk)
                written += len(chunk)
            if written != size or f.read(1):
                raise RktError(f"{path}: file changed while building the image")
        self.out.write(bytes(-size % 512))

    def close(self) -> None:
        self.out.write(bytes(1024))


def _xattrs(path: str) -> dict[bytes, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    return {os.fsencode(n): os.getxattr(path, n, follow_symlinks=False) for n in names}


def _check_layout(layout: Path) -> bytes:
    try:
        entries = sorted(os.listdir(layout))
    except NotADirectoryError:
        raise RktError(f"{layout}: not a directory") from None
    except OSError as err:
        raise RktError(f"{layout}: {err.strerror}") from None
    for name in entries:
        if name not in ("manifest", "rootfs"):
            raise RktError(f"unrecognized file path in layout: {name!r} (only manifest and rootfs/)")
    if "manifest" not in entries:
        raise RktError(f"{layout}: no image manifest found in layout")
    if "rootfs" not in entries:
        raise RktError(f"{layout}: no rootfs found in layout")
    if not stat.S_ISREG(os.lstat(layout / "manifest").st_mode):
        raise RktError(f"{layout}: manifest is not a regular file")
    if not stat.S_ISDIR(os.lstat(layout / "rootfs").st_mode):
        raise RktError(f"{layout}: rootfs is not a directory")
    data = (layout / "manifest").read_bytes()
    from rkt.aci import validate_manifest

    validate_manifest(data)
    return data


def _write_tree(writer: TarWriter, root: str, name: bytes, st, links: dict) -> None:
    mode = st.st_mode
    common = {"mode": stat.S_IMODE(mode), "uid": st.st_uid, "gid": st.st_gid,
              "mtime": st.st_mtime_ns // 1_000_000_000}
    xattrs = _xattrs(root)
    if stat.S_ISDIR(mode):
        writer.add(tar.DIRECTORY, name + b"/", xattrs=xattrs, **common)
        with os.scandir(root) as it:
            children = sorted(it, key=lambda e: os.fsencode(e.name))
        for child in children:
            _write_tree(writer, child.path, name + b"/" + os.fsencode(child.name),
                        child.stat(follow_symlinks=False), links)
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            writer.add(tar.HARDLINK, name, linkname=links[key], **common)
            return
        if st.st_nlink > 1:
            links[key] = name
        writer.add(tar.REGULAR, name, size=st.st_size, xattrs=xattrs, **common)
        writer.data(root, st.st_size)
    elif stat.S_ISLNK(mode):
        writer.add(tar.SYMLINK, name, linkname=os.fsencode(os.readlink(root)), xattrs=xattrs,
                   **common)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = tar.CHAR if stat.S_ISCHR(mode) else tar.BLOCKDEV
        writer.add(kind, name, major=os.major(st.st_rdev), minor=os.minor(st.st_rdev),
                   xattrs=xattrs, **common)
    elif stat.S_ISFIFO(mode):
        writer.add(tar.FIFO, name, xattrs=xattrs, **common)
    # sockets cannot be archived; like tar, leave them out


def build_aci(layout_dir, out_path, compression: str = "gzip") -> None:
    """Write the ACI of `layout_dir` to `out_path` (replaced atomically if it exists)."""
    if compression not in ("gzip", "none"):
        raise RktError(f"unsupported compression {compression!r} (gzip or none)")
    layout = Path(layout_dir)
    out = Path(out_path)
    manifest = _check_layout(layout)
    real_layout = layout.resolve()
    real_out_dir = out.parent.resolve()
    if real_out_dir == real_layout or real_layout in real_out_dir.parents:
        raise RktError(f"{out}: the output must not be inside the layout directory")
    try:
        with atomic_file(out, durable=False) as raw:
            sink = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                                 compresslevel=6) if compression == "gzip" else raw
            writer = TarWriter(sink)
            mst = os.lstat(layout / "manifest")
            writer.add(tar.REGULAR, b"manifest", mode=stat.S_IMODE(mst.st_mode), uid=mst.st_uid,
                       gid=mst.st_gid, size=len(manifest), mtime=mst.st_mtime_ns // 10**9)
            writer.out.write(manifest + bytes(-len(manifest) % 512))
            rootfs = str(layout / "rootfs")
            _write_tree(writer, rootfs, b"rootfs", os.lstat(rootfs), {})
            writer.close()
            if sink is not raw:
                sink.close()
    except OSError as err:
        raise RktError(f"building {out}: {err}") from None
