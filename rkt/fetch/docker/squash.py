"""Squashing Docker/OCI layers into the tar of one ACI, top layer first, without a scratch tree.

Layers are read from the top down: the first layer to name a path owns it, whiteouts
(`.wh.NAME`) and opaque markers (`.wh..wh..opq`) only hide entries of the layers below them,
and a non-directory hides everything a lower layer put beneath it. Surviving entries are
written once, under `rootfs/`, to the ACI stream that the store's ordinary (hostile-input
safe) import reads; nothing is ever deleted from disk, so a whiteout cannot reach outside the
rootfs whatever it names. The manifest goes last, built from what the layers held (the
image's /etc/passwd and /etc/group resolve the config's user).
"""

from __future__ import annotations

import os

from rkt.aci import tar
from rkt.aci.build import TarWriter
from rkt.aci.stream import TarStream
from rkt.errors import RktError
from rkt.fsutil import write_all

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
ACCOUNT_FILES = ("etc/passwd", "etc/group")
MAX_ACCOUNT_FILE = 4 << 20
_SMALL = 64 << 10  # file data up to this size is buffered with the headers around it


def clean_layer_path(name: str, layer: str) -> str:
    """A layer member's path, relative and normalized (`./usr/` -> `usr`); '' is the root.

    Layers are written by `tar` with `./` or `/` prefixes; `..` anywhere is refused.
    """
    return tar.normalize_name(name, f"layer {layer}", "the image")


class _Out:
    """Buffered writes to a pipe fd; file data streams straight from the layer."""

    def __init__(self, fd: int):
        self.fd = fd
        self.buf = bytearray()

    def write(self, data) -> None:
        self.buf += data
        if len(self.buf) >= 1 << 20:
            self.flush()

    def flush(self) -> None:
        write_all(self.fd, self.buf)
        self.buf.clear()

    def copy(self, stream, size: int) -> bool:
        if size <= _SMALL:
            data = stream.read(size)
            self.write(data)
            return len(data) == size
        self.flush()
        return stream.copy_to(self.fd, size) == size


class Squasher:
    """Remembers what upper layers decided while lower layers are read."""

    def __init__(self, out_fd: int):
        self.out = _Out(out_fd)
        self.writer = TarWriter(self.out)
        self.emitted: set[str] = set()      # paths written (explicit entries)
        self.implied: set[str] = set()      # directories the written paths go through
        self.gone: set[str] = set()         # whited-out paths (with everything below)
        self.hide_below: set[str] = set()   # nothing of a lower layer under these survives
        self.accounts: dict[str, bytes] = {}
        self.writer.add(tar.DIRECTORY, b"rootfs/", mode=0o755)

    def _hidden(self, name: str, kind: str) -> bool:
        if name in self.emitted or name in self.gone:
            return True
        if kind != tar.DIRECTORY and name in self.implied:
            return True  # an upper layer put files under a directory here
        if "" in self.hide_below:
            return True  # an opaque root
        cut = name.rfind("/")
        while cut > 0:
            prefix = name[:cut]
            if prefix in self.hide_below or prefix in self.gone:
                return True
            cut = name.rfind("/", 0, cut)
        return False

    def add_layer(self, src, label: str, budget: int) -> int:
        """Apply one layer (a binary file object, any compression) below those already added;
        the uncompressed bytes it had."""
        head = tar.read_head(src)
        if head.count(0) == len(head):
            return len(head)  # an empty layer: no bytes, or only the end-of-archive blocks
        try:
            stream = TarStream(src, head, hash=False, max_bytes=budget)
        except RktError as err:
            if head.startswith(b"\x28\xb5\x2f\xfd"):
                raise RktError(f"layer {label}: zstd-compressed layers are not supported") from None
            raise err.within(f"layer {label}") from None
        with stream:
            try:
                self._walk(stream, label, budget)
            except RktError as err:
                if err.message.startswith("layer "):
                    raise
                raise err.within(f"layer {label}") from None
            stream.drain()
            return stream.size

    def _walk(self, stream, label: str, budget: int) -> None:
        reader = tar.TarReader(stream, budget)
        whiteouts: set[str] = set()
        below: set[str] = set()
        names: set[str] = set()
        written_here: set[str] = set()
        for m in reader:
            name = clean_layer_path(m.name, label)
            base = name.rpartition("/")[2]
            if not name:
                pass
            elif base.startswith(WHITEOUT):
                parent = name.rpartition("/")[0]
                if base == OPAQUE:
                    below.add(parent)
                elif not base.startswith(WHITEOUT + WHITEOUT):  # other .wh..wh. are aufs notes
                    target = base[len(WHITEOUT):]
                    if target in ("", ".", ".."):
                        raise RktError(f"layer {label}: invalid whiteout {m.name!r}")
                    whiteouts.add(f"{parent}/{target}" if parent else target)
            else:
                if name in names and m.kind != tar.DIRECTORY:
                    raise RktError(f"layer {label}: duplicate entry {name!r}")
                names.add(name)
                if m.kind != tar.DIRECTORY:
                    below.add(name)
                if not self._hidden(name, m.kind):
                    self._emit(m, name, stream, label, written_here)
                    reader.pad(m)
                    continue
            if m.size and stream.skip(m.size) != m.size:
                raise RktError("truncated archive: it ends inside a member")
            reader.pad(m)
        self.gone |= whiteouts
        self.hide_below |= below

    def _emit(self, m, name: str, stream, label: str, written_here: set[str]) -> None:
        rel = os.fsencode("rootfs/" + name)
        common = {"mode": m.mode, "uid": m.uid, "gid": m.gid,
                  "mtime": m.mtime_ns // 1_000_000_000}
        xattrs = ({os.fsencode(k): v for k, v in m.xattrs.items()} if m.xattrs else None)
        if m.kind == tar.HARDLINK:
            target = clean_layer_path(m.linkname, label)
            if target not in written_here:
                raise RktError(f"layer {label}: hard link {name!r} to {m.linkname!r}, which is "
                               "not a file this layer provides to the image")
            self.writer.add(tar.HARDLINK, rel, linkname=os.fsencode("rootfs/" + target),
                            **common)
            if m.size and stream.skip(m.size) != m.size:
                raise RktError("truncated archive: it ends inside a member")
            written_here.add(name)
        elif m.kind == tar.REGULAR:
            self.writer.add(tar.REGULAR, rel, size=m.size, xattrs=xattrs, **common)
            if name in ACCOUNT_FILES and m.size <= MAX_ACCOUNT_FILE:
                data = stream.read(m.size)
                self.accounts[name] = data
                self.out.write(data)
                ok = len(data) == m.size
            else:
                ok = self.out.copy(stream, m.size)
            if not ok:
                raise RktError("truncated archive: it ends inside a member")
            self.out.write(bytes(-m.size % tar.BLOCK))
            written_here.add(name)
        else:
            if m.size and stream.skip(m.size) != m.size:
                raise RktError("truncated archive: it ends inside a member")
            fields = dict(common)
            if m.kind == tar.SYMLINK:
                fields["linkname"] = os.fsencode(m.linkname)
            elif m.kind in (tar.CHAR, tar.BLOCKDEV):
                fields["major"], fields["minor"] = m.devmajor, m.devminor
            self.writer.add(m.kind, rel + (b"/" if m.kind == tar.DIRECTORY else b""),
                            xattrs=xattrs, **fields)
        self.emitted.add(name)
        cut = name.rfind("/")
        while cut > 0 and name[:cut] not in self.implied:
            self.implied.add(name[:cut])
            cut = name.rfind("/", 0, cut)

    def finish(self, manifest: bytes) -> None:
        """Write the manifest and the end of the archive."""
        self.writer.add(tar.REGULAR, b"manifest", mode=0o644, size=len(manifest))
        self.out.write(manifest + bytes(-len(manifest) % tar.BLOCK))
        self.writer.close()
        self.out.flush()
