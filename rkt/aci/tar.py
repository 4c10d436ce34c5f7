"""A strict streaming tar reader: ustar, GNU long names and PAX headers, nothing else.

It is ours rather than `tarfile` because an ACI is hostile input that must be read in one
pass: every header is checksummed, every number bounded, and an unknown member type or a
truncated stream is an error instead of being skipped or guessed.
"""

from __future__ import annotations

from rkt.errors import RktError

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
MAX_META = 1 << 20  # a PAX header or GNU long name larger than this is not an honest archive

REGULAR, HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO = "0", "1", "2", "3", "4", "5", "6"
_TYPES = {b"0": REGULAR, b"\0": REGULAR, b"7": REGULAR, b"1": HARDLINK, b"2": SYMLINK,
          b"3": CHAR, b"4": BLOCKDEV, b"5": DIRECTORY, b"6": FIFO}
_KIND_NAMES = {REGULAR: "regular file", HARDLINK: "hard link", SYMLINK: "symlink",
               CHAR: "character device", BLOCKDEV: "block device", DIRECTORY: "directory",
               FIFO: "fifo"}


def kind_name(kind: str) -> str:
    return _KIND_NAMES[kind]


def read_head(src) -> bytes:
    """The first BLOCK bytes of a file object (fewer only at its end): enough to tell its
    compression, or an empty archive."""
    head = b""
    while len(head) < BLOCK:
        more = src.read(BLOCK - len(head))
        if not more:
            break
        head += more
    return head


def normalize_name(name: str, what: str, tree: str) -> str:
    """A member name relative and normalized (`./a//b/` -> `a/b`, '' for the root); a `..`
    component, which could climb out of `tree`, is an error naming `what` holds it."""
    parts = [p for p in name.split("/") if p and p != "."]
    if ".." in parts:
        raise RktError(f"{what}: {name!r} escapes {tree} with '..'")
    return "/".join(parts)


class Member:
    """One archive entry; its data (if any) is the next `size` bytes of the stream."""

    __slots__ = ("name", "kind", "mode", "uid", "gid", "size", "mtime_ns", "atime_ns",
                 "linkname", "devmajor", "devminor", "xattrs")

    def __repr__(self) -> str:
        return f"Member({self.name!r}, {self.kind!r}, size={self.size})"


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _cstr(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field: bytes, what: str) -> int:
    if field and field[0] & 0x80:  # GNU base-256: 0x80 positive, 0xff negative
        if field[0] == 0xFF:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    digits = field.partition(b"\0")[0]
    try:
        return int(digits, 8)  # int() ignores the surrounding spaces tar writers add
    except ValueError:
        if not digits.strip():
            return 0
        raise RktError(f"corrupt tar header: bad {what} field {field!r}") from None


def _checksum_ok(header: bytes) -> bool:
    stored = _number(header[148:156], "checksum")
    unsigned = sum(header) - sum(header[148:156]) + 256
    if stored == unsigned:
        return True
    signed = unsigned - 256 * sum(1 for b in header[:148] + header[156:] if b > 127)
    return stored == signed


def _pax_time_ns(value: bytes, key: str) -> int:
    text = value.decode("ascii", "replace").strip()
    whole, _, frac = text.partition(".")
    try:
        negative = whole.startswith("-")
        seconds = int(whole)
        nanos = int((frac + "000000000")[:9]) if frac else 0
    except ValueError:
        raise RktError(f"corrupt PAX header: bad {key} {text!r}") from None
    return seconds * 1_000_000_000 + (-nanos if negative else nanos)


def _pax_int(value: bytes, key: str) -> int:
    try:
        number = int(value.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        raise RktError(f"corrupt PAX header: bad {key} {value!r}") from None
    if number < 0:
        raise RktError(f"corrupt PAX header: negative {key}")
    return number


def parse_pax(data: bytes) -> dict[str, bytes]:
    """PAX extended header records (`"%d %s=%s\\n"`); values stay bytes (xattrs are binary)."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:  # some writers pad with NULs
            break
        space = data.find(b" ", pos)
        if space < 0:
            raise RktError("corrupt PAX header: record without length")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise RktError("corrupt PAX header: bad record length") from None
        end = pos + length
        if length <= space - pos + 1 or end > len(data) or data[end - 1:end] != b"\n":
            raise RktError("corrupt PAX header: bad record length")
        key, eq, value = data[space + 1:end - 1].partition(b"=")
        if not eq:
            raise RktError("corrupt PAX header: record without '='")
        records[_decode(key)] = value
        pos = end
    return records


class TarReader:
    """Iterates the members of the tar in `stream` (a `TarStream`).

    The caller must consume exactly `member.size` bytes of each member (with `stream.copy_to`,
    `stream.read` or `stream.skip`) and then call `pad(member)` before asking for the next one.
    Iteration ends at the end-of-archive marker; a stream ending anywhere else is an error.
    """

    def __init__(self, stream, max_member: int):
        self.stream = stream
        self.max_member = max_member
        self._global: dict[str, bytes] = {}

    def _block(self) -> bytes:
        block = self.stream.read(BLOCK)
        if len(block) != BLOCK:
            raise RktError("truncated archive: it ends before the end-of-archive marker")
        return block

    def _meta(self, size: int, what: str) -> bytes:
        if size > MAX_META:
            raise RktError(f"corrupt archive: {what} of {size} bytes")
        data = self.stream.read(size)
        if len(data) != size:
            raise RktError("truncated archive: it ends inside a member")
        self.stream.skip(-size % BLOCK)
        return data

    def pad(self, member: Member) -> None:
        want = -member.size % BLOCK
        if want and self.stream.skip(want) != want:
            raise RktError("truncated archive: it ends inside a member")

    def __iter__(self):
        pax: dict[str, bytes] = {}
        long_name = long_link = None
        while True:
            header = self._block()
            if header == ZERO_BLOCK:
                if self._block() != ZERO_BLOCK:
                    raise RktError("corrupt archive: a lone zero block in the middle")
                return
            if not _checksum_ok(header):
                raise RktError("corrupt archive: tar header checksum mismatch")
            typeflag = header[156:157]
            size = _number(header[124:136], "size")
            if typeflag in (b"x", b"g", b"L", b"K"):
                data = self._meta(size, "extended header")
                if typeflag == b"x":
                    pax.update(parse_pax(data))
                elif typeflag == b"g":
                    self._global.update(parse_pax(data))
                elif typeflag == b"L":
                    long_name = _cstr(data)
                else:
                    long_link = _cstr(data)
                continue
            if self._global:
                pax = {**self._global, **pax}
            yield self._member(header, typeflag, size, pax, long_name, long_link)
            pax = {}
            long_name = long_link = None

    def _member(self, header, typeflag, size, pax, long_name, long_link) -> Member:
        m = Member()
        if "path" in pax:
            raw_name = pax["path"]
        elif long_name is not None:
            raw_name = long_name
        else:
            raw_name = _cstr(header[0:100])
            if header[257:263] == b"ustar\x00" and header[345]:  # ustar: prefix "/" name
                raw_name = _cstr(header[345:500]) + b"/" + raw_name
        name = m.name = _decode(raw_name)
        if "\0" in name or not name:
            raise RktError(f"corrupt archive: bad member name {name!r}")
        kind = _TYPES.get(typeflag)
        if kind == REGULAR and typeflag == b"\0" and raw_name.endswith(b"/"):
            kind = DIRECTORY  # pre-POSIX tars mark directories only by the trailing slash
        if kind is None:
            shown = typeflag.decode("latin-1") if typeflag.isalnum() else repr(typeflag)
            raise RktError(f"unsupported tar member type {shown!r} for {name!r}")
        m.kind = kind
        m.mode = _number(header[100:108], "mode") & 0o7777
        m.xattrs = None
        if pax:
            self._apply_pax(m, header, pax, size, long_link)
        else:
            m.uid = _number(header[108:116], "uid")
            m.gid = _number(header[116:124], "gid")
            m.size = size
            m.atime_ns = m.mtime_ns = _number(header[136:148], "mtime") * 1_000_000_000
            m.linkname = _decode(long_link if long_link is not None else _cstr(header[157:257]))
        if m.size < 0 or m.uid < 0 or m.gid < 0:
            raise RktError(f"corrupt archive: negative number in the header of {name!r}")
        if m.size > self.max_member:
            raise RktError(f"{name!r} declares {m.size} bytes, more than the image size limit "
                           f"of {self.max_member} bytes (see RKT_MAX_IMAGE_SIZE)")
        if kind == CHAR or kind == BLOCKDEV:
            m.devmajor = _number(header[329:337], "devmajor")
            m.devminor = _number(header[337:345], "devminor")
        else:
            m.devmajor = m.devminor = 0
        return m

    def _apply_pax(self, m: Member, header: bytes, pax: dict, size: int, long_link) -> None:
        if any(k.startswith("GNU.sparse.") for k in pax):
            raise RktError(f"unsupported sparse file {m.name!r}")
        m.uid = _pax_int(pax["uid"], "uid") if "uid" in pax else _number(header[108:116], "uid")
        m.gid = _pax_int(pax["gid"], "gid") if "gid" in pax else _number(header[116:124], "gid")
        m.size = _pax_int(pax["size"], "size") if "size" in pax else size
        if "mtime" in pax:
            m.mtime_ns = _pax_time_ns(pax["mtime"], "mtime")
        else:
            m.mtime_ns = _number(header[136:148], "mtime") * 1_000_000_000
        m.atime_ns = _pax_time_ns(pax["atime"], "atime") if "atime" in pax else m.mtime_ns
        if "linkpath" in pax:
            m.linkname = _decode(pax["linkpath"])
        else:
            m.linkname = _decode(long_link if long_link is not None else _cstr(header[157:257]))
        xattrs = {key[13:]: value for key, value in pax.items()
                  if key.startswith("SCHILY.xattr.")}
        m.xattrs = xattrs or None
