"""The decompressing, hashing byte pipeline under every ACI read.

A producer thread reads the (compressed) source, decompresses it, hashes the uncompressed
tar and copies it to the blob, while the consumer parses tar headers and writes files.
zlib, bz2, lzma, hashlib and file writes all release the GIL, so the two threads really
use both cores; the consumer sees plain uncompressed chunks and never decompresses.
"""

from __future__ import annotations

import bz2
import hashlib
import lzma
import os
import queue
import threading
import zlib

from rkt.closing import Closing
from rkt.errors import RktError

READ_SIZE = 1 << 20   # compressed bytes per read
OUT_SIZE = 1 << 20    # uncompressed bytes per chunk handed to the consumer
QUEUE_DEPTH = 16

MAGIC = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
}


def detect_compression(head: bytes) -> str:
    """The compression of an ACI from its first bytes: gzip, bzip2, xz or none (plain tar)."""
    for name, magic in MAGIC.items():
        if head.startswith(magic):
            return name
    if head[257:262] == b"ustar":
        return "none"
    raise RktError("not an ACI: unrecognized format")


class _Members:
    """A compressed stream of concatenated members (pigz, `cat a.gz b.gz`, pbzip2 make those):
    after each member only NUL padding or a new member may follow. Subclasses decompress one
    member and return what follows it, or None when they need more input."""

    def __init__(self, name: str, factory):
        self.name = name
        self._factory = factory
        self._dec = factory()
        self._between = False

    def feed(self, data: bytes):
        while data:
            if self._between:
                data = data.lstrip(b"\0")
                if not data:
                    return
                self._dec = self._factory()
                self._between = False
            data = yield from self._member(self._dec, data)

    def finish(self) -> None:
        if not self._between:
            raise RktError(f"truncated {self.name} stream")


class _Gzip(_Members):
    """zlib keeps input it could not use yet in `unconsumed_tail`."""

    def __init__(self):
        super().__init__("gzip", lambda: zlib.decompressobj(31))

    def _member(self, dec, data: bytes):
        while True:
            out = dec.decompress(data, OUT_SIZE)
            if out:
                yield out
            data = dec.unconsumed_tail
            if dec.eof:
                self._between = True
                return dec.unused_data + data
            if not data and len(out) < OUT_SIZE:
                return None


class _Chained(_Members):
    """bzip2 or xz through the stdlib decompressors, which buffer unused input themselves."""

    def _member(self, dec, data: bytes):
        out = dec.decompress(data, OUT_SIZE)
        while True:
            if out:
                yield out
            if dec.eof:
                self._between = True
                return dec.unused_data
            if dec.needs_input:
                return None
            out = dec.decompress(b"", OUT_SIZE)


def _decompressor(compression: str):
    if compression == "gzip":
        return _Gzip()
    if compression == "bzip2":
        return _Chained("bzip2", bz2.BZ2Decompressor)
    if compression == "xz":
        return _Chained("xz", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ))
    return None


_CORRUPT = (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError)


class TarStream(Closing):
    """Uncompressed tar bytes of `src`, produced in a background thread.

    `src` is a binary file object positioned after `head` (the bytes already read to sniff
    the format). The thread hashes (if `hash`), copies to `blob` (if given) and counts the
    uncompressed bytes against `max_bytes`. The consumer reads with `read`, `copy_to` and
    `skip`; errors of the producer surface there. Use as a context manager: leaving stops
    and joins the thread whatever happened.
    """

    def __init__(self, src, head: bytes, *, hash: bool = True, blob=None, max_bytes: int):
        self.compression = detect_compression(head)
        self.size = 0
        self._src = src
        self._head = head
        self._hash = hashlib.sha512() if hash else None
        # Balance the two threads: decompressing is the producer's big job, so then the
        # consumer hashes; a plain tar leaves the producer idle, so it hashes.
        self._consumer_hash = self._hash if self.compression != "none" else None
        self._blob = blob
        self._max = max_bytes
        self._queue: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self._stop = threading.Event()
        self._buf = b""
        self._mv = memoryview(b"")
        self._pos = 0
        self._done = False
        self._thread = threading.Thread(target=self._produce, name="aci-decompress", daemon=True)
        self._thread.start()

    # -- producer ---------------------------------------------------------------------------

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            self._pump()
        except RktError as err:
            self._put(err)
        except _CORRUPT as err:
            name = self.compression if self.compression != "none" else "archive"
            self._put(RktError(f"corrupt {name} data: {err}"))
        except BaseException as err:  # a bug; the consumer re-raises it
            self._put(err)

    def _pump(self) -> None:
        dec = _decompressor(self.compression)
        hasher = self._hash if self._consumer_hash is None else None
        blob, limit = self._blob, self._max
        data = self._head
        self._head = b""
        read = self._src.read
        total = 0
        while True:
            if self._stop.is_set():
                return
            pieces = dec.feed(data) if dec is not None else (data,) if data else ()
            for out in pieces:
                total += len(out)
                if total > limit:
                    raise RktError(f"image larger than the limit of {limit} bytes "
                                   "(decompression bomb? see RKT_MAX_IMAGE_SIZE)")
                if hasher is not None:
                    hasher.update(out)
                if blob is not None:
                    try:
                        blob.write(out)
                    except OSError as err:
                        raise RktError(f"writing the image blob: {err.strerror or err}") from None
                if not self._put(out):
                    return
            try:
                data = read(READ_SIZE)
            except OSError as err:
                raise RktError(f"reading the image: {err.strerror or err}") from None
            if not data:
                break
        if dec is not None:
            dec.finish()
        self.size = total
        self._put(None)

    # -- consumer ---------------------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _next(self) -> bool:
        """Load the next chunk; False at the end of the stream."""
        if self._done:
            return False
        item = self._queue.get()
        if item is None:
            self._done = True
            self._buf, self._mv, self._pos = b"", memoryview(b""), 0
            return False
        if isinstance(item, BaseException):
            self._done = True
            raise item
        if self._consumer_hash is not None:
            self._consumer_hash.update(item)
        self._buf, self._mv, self._pos = item, memoryview(item), 0
        return True

    def read(self, n: int) -> bytes:
        """Exactly `n` bytes, or fewer only at the end of the stream."""
        pos, end = self._pos, self._pos + n
        if end <= len(self._buf):
            self._pos = end
            return self._buf[pos:end]
        parts = [self._buf[pos:]]
        need = n - len(parts[0])
        while need > 0 and self._next():
            piece = self._buf[:need]
            parts.append(piece)
            self._pos = len(piece)
            need -= len(piece)
        return b"".join(parts)

    def _spans(self, n: int):
        """The next `n` bytes (fewer at the end of the stream) as views of the loaded chunks;
        each span counts as consumed once the caller asks for the next."""
        left = n
        while left > 0:
            avail = len(self._buf) - self._pos
            if avail <= 0:
                if not self._next():
                    return
                continue
            k = avail if avail < left else left
            yield self._mv[self._pos:self._pos + k]
            self._pos += k
            left -= k

    def copy_to(self, fd: int, n: int) -> int:
        """Write the next `n` bytes to `fd`; returns how many there were (< n: truncated)."""
        copied = 0
        write = os.write
        for view in self._spans(n):
            copied += len(view)
            while view:
                view = view[write(fd, view):]
        return copied

    def skip(self, n: int) -> int:
        """Drop the next `n` bytes; returns how many there were."""
        return sum(len(view) for view in self._spans(n))

    def drain(self) -> None:
        """Consume the rest of the stream (the tar's trailing padding), so the hash covers it."""
        self._pos = len(self._buf)
        while self._next():
            pass

    def hexdigest(self) -> str:
        """The sha512 of the whole uncompressed stream; only after `drain`."""
        self._thread.join()
        return self._hash.hexdigest()
