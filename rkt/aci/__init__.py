"""ACI archives: a tar of `manifest` + `rootfs/`, maybe gzip/bzip2/xz compressed.

An image is read in one streaming pass that decompresses, hashes the uncompressed tar (the
image ID is its sha512), copies it to the store's blob, checks the layout and manifest, and
extracts it, so nothing is ever decompressed twice. Extraction treats every archive as
hostile: it never writes outside its destination, whatever names and links it is given.
"""

from __future__ import annotations

import dataclasses
import os

from rkt.aci import tar
from rkt.aci.stream import TarStream, detect_compression
from rkt.errors import RktError
from rkt.fsutil import write_all

__all__ = ["Limits", "ImportResult", "detect_compression", "import_stream", "extract",
           "build_aci", "validate_manifest", "parse_size"]

DEFAULT_MAX_BYTES = 16 << 30
MAX_MANIFEST = 16 << 20

def parse_size(text: str) -> int:
    """Whole bytes from a quantity in appc's (k8s) grammar: `1234`, `512Mi`, `16Gi`, `2G`."""
    from rkt.appc.quantity import QuantityError, parse_quantity

    try:
        value = parse_quantity(text.strip())
    except QuantityError:
        value = None
    if value is None or value < 0 or value.denominator != 1:
        raise RktError(f"invalid size {text!r} (expected bytes, optionally with a suffix "
                       "like Ki, Mi, Gi or k, M, G)")
    return int(value)


def size_from_env(var: str) -> int | None:
    """The size limit the environment variable `var` sets (see parse_size); None when unset."""
    value = os.environ.get(var, "").strip()
    if not value:
        return None
    try:
        return parse_size(value)
    except RktError as err:
        raise err.within(var) from None


def _default_max_bytes() -> int:
    limit = size_from_env("RKT_MAX_IMAGE_SIZE")
    return DEFAULT_MAX_BYTES if limit is None else limit


@dataclasses.dataclass(frozen=True)
class Limits:
    """Caps on what an archive may expand to; the decompression-bomb guard."""

    max_bytes: int = dataclasses.field(default_factory=_default_max_bytes)


@dataclasses.dataclass(frozen=True)
class ImportResult:
    image_id: str
    manifest: object  # rkt.appc.image.ImageManifest
    manifest_bytes: bytes
    size: int  # bytes of the uncompressed tar


def validate_manifest(data: bytes):
    """The `ImageManifest` in `data`; every failure is a one-line `manifest: ...` error."""
    from rkt.appc.image import ImageManifest

    try:
        return ImageManifest.from_json(data)
    except RktError as err:
        if err.message.startswith("manifest"):
            raise
        raise err.within("manifest") from None
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise RktError(f"manifest: invalid: {err}") from None


def _clean(name: str) -> str:
    """The normalized relative path of an archive name; refuses absolute names and `..`."""
    if not (name.startswith(("/", ".")) or name.endswith("/") or "//" in name or "/." in name):
        return name  # already clean: the common case, without splitting
    if name.startswith("/"):
        raise RktError(f"invalid ACI: absolute path {name!r}")
    return tar.normalize_name(name, "invalid ACI", "the archive")


class _Bytes:
    """Data already in memory, with the `copy_to` of a `TarStream`."""

    def __init__(self, data: bytes):
        self.data = data

    def copy_to(self, fd: int, n: int) -> int:
        write_all(fd, memoryview(self.data)[:n])
        return min(n, len(self.data))


def _walk(stream: TarStream, unpacker, *, rootfs_only: bool, member_filter, max_member: int):
    """Check the layout of the whole archive, extracting with `unpacker` if given.

    Returns the manifest bytes. Extraction happens as the stream goes, so on error the
    destination may hold part of the image: callers extract into a directory they discard.
    """
    reader = tar.TarReader(stream, max_member)
    seen: dict[str, str] = {}     # clean name -> kind
    written: set[str] = set()     # regular files actually extracted (hardlink targets)
    manifest = None
    have_rootfs = False
    for m in reader:
        name = _clean(m.name)
        try:
            consumed = _member(m, name, stream, unpacker, seen, written, rootfs_only,
                               member_filter)
        except OSError as err:
            raise RktError(f"extracting {name!r}: {err.strerror or err}") from None
        if name == "manifest":
            manifest = consumed
        elif name == "rootfs":
            have_rootfs = True
        reader.pad(m)
    if manifest is None:
        raise RktError("invalid ACI: no image manifest found in the archive")
    if not have_rootfs:
        raise RktError("invalid ACI: no rootfs directory in the archive")
    stream.drain()
    if unpacker is not None:
        try:
            unpacker.finish()
        except OSError as err:
            raise RktError(f"extracting: {err}") from None
    return manifest


def _skip(stream, m) -> None:
    if m.size and stream.skip(m.size) != m.size:
        raise RktError("truncated archive: it ends inside a member")


def _member(m, name, stream, unpacker, seen, written, rootfs_only, member_filter):
    if not name:  # the archive's "./" entry
        if m.kind != tar.DIRECTORY:
            raise RktError("invalid ACI: the archive root is not a directory")
        _skip(stream, m)
        return None
    if name in seen:
        raise RktError(f"invalid ACI: duplicate entry {name!r}")
    # No member may go through an earlier non-directory (a symlink above all). Stop at the
    # first ancestor that is a directory member: its own ancestors were checked already.
    cut = name.rfind("/")
    while cut > 0:
        kind = seen.get(name[:cut])
        if kind == tar.DIRECTORY:
            break
        if kind is not None:
            raise RktError(f"invalid ACI: {name!r} goes through the {tar.kind_name(kind)} "
                           f"{name[:cut]!r}")
        cut = name.rfind("/", 0, cut)
    seen[name] = m.kind
    if name == "manifest":
        if m.kind != tar.REGULAR:
            raise RktError(f"invalid ACI: manifest is a {tar.kind_name(m.kind)}, "
                           "not a regular file")
        if m.size > MAX_MANIFEST:
            raise RktError(f"invalid ACI: manifest of {m.size} bytes is too large")
        data = stream.read(m.size)
        if len(data) != m.size:
            raise RktError("truncated archive: it ends inside the manifest")
        if unpacker is not None and not rootfs_only:
            unpacker.add("manifest", m, _Bytes(data))
        return data
    if name == "rootfs":
        if m.kind != tar.DIRECTORY:
            raise RktError(f"invalid ACI: rootfs is a {tar.kind_name(m.kind)}, not a directory")
        _skip(stream, m)
        if unpacker is not None:
            if rootfs_only:
                unpacker.root_attrs(m)
            else:
                unpacker.add("rootfs", m, stream)
        return None
    if not name.startswith("rootfs/"):
        raise RktError(f"invalid ACI: unrecognized path {name!r} (only manifest and rootfs/ "
                       "may be at the top level)")
    inner = name[7:]
    rel = inner if rootfs_only else name
    if m.kind == tar.HARDLINK:
        target = _clean(m.linkname)
        if seen.get(target) not in (tar.REGULAR, tar.HARDLINK) or not target.startswith("rootfs/"):
            raise RktError(f"invalid ACI: hard link {name!r} points to {m.linkname!r}, which "
                           "is not an earlier regular file of the rootfs")
    extract = unpacker is not None and (member_filter is None or member_filter("/" + inner))
    if not extract:
        _skip(stream, m)
        return None
    if m.kind == tar.REGULAR:
        unpacker.add(rel, m, stream)
        written.add(name)
    elif m.kind == tar.HARDLINK:
        _skip(stream, m)
        if target not in written:
            raise RktError(f"hard link {name!r} points to {target!r}, which was not extracted")
        unpacker.hardlink(rel, target[7:] if rootfs_only else target)
        written.add(name)
    else:
        _skip(stream, m)
        unpacker.add(rel, m, stream)
    return None


def _open(src):
    if isinstance(src, (str, os.PathLike)):
        try:
            return open(src, "rb"), True
        except OSError as err:
            raise RktError(f"{os.fspath(src)}: {err.strerror}") from None
    return src, False


def import_stream(src, *, blob=None, dest=None, limits: Limits | None = None) -> ImportResult:
    """Read an ACI from `src` in one pass: hash, copy to `blob`, validate, extract to `dest`.

    `src` is a binary file object (or a path). The uncompressed tar goes to `blob` (a
    binary file object) when given; with `dest` the manifest and rootfs are extracted
    under it. On error `dest` may hold part of the image; the caller discards it.
    """
    from rkt.aci.unpack import Unpacker

    limits = limits or Limits()
    src, owned = _open(src)
    try:
        head = tar.read_head(src)
        with TarStream(src, head, hash=True, blob=blob, max_bytes=limits.max_bytes) as stream:
            unpacker = Unpacker(dest) if dest is not None else None
            try:
                manifest_bytes = _walk(stream, unpacker, rootfs_only=False, member_filter=None,
                                       max_member=limits.max_bytes)
            finally:
                if unpacker is not None:
                    unpacker.close()
            image_id = "sha512-" + stream.hexdigest()
            size = stream.size
    finally:
        if owned:
            src.close()
    manifest = validate_manifest(manifest_bytes)
    return ImportResult(image_id, manifest, manifest_bytes, size)


def extract(tar_file, dest, *, rootfs_only: bool = False, member_filter=None,
            replace: bool = False) -> None:
    """Safely extract an ACI (path or binary file object, compressed or not) under `dest`.

    With `rootfs_only` the rootfs contents land directly in `dest`. `member_filter(path)`
    gets rootfs-absolute paths (`/bin/sh`) and says whether to extract each. `replace` is
    layering mode: existing files are replaced, symlinks replaced rather than followed.
    """
    from rkt.aci.unpack import Unpacker

    limits = Limits()
    src, owned = _open(tar_file)
    try:
        head = tar.read_head(src)
        with TarStream(src, head, hash=False, max_bytes=limits.max_bytes) as stream:
            unpacker = Unpacker(dest, replace=replace)
            try:
                _walk(stream, unpacker, rootfs_only=rootfs_only, member_filter=member_filter,
                      max_member=limits.max_bytes)
            finally:
                unpacker.close()
    finally:
        if owned:
            src.close()


def build_aci(layout_dir, out_path, compression: str = "gzip") -> None:
    """Build a validated ACI at `out_path` from a layout directory (`manifest` + `rootfs/`)."""
    from rkt.aci.build import build_aci as _build

    _build(layout_dir, out_path, compression)
