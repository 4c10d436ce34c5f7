"""Filesystem steps stage0 takes in many places: atomic replacement, durability, tree copies.

rkt's state is the filesystem, so a file or directory becomes visible by one `rename(2)` taken
last, after its bytes (and then the directory entry) are flushed. These are the one copy of
each such step; the kernel calls beneath them go through `rkt.kernel`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from rkt.errors import RktError

TYPE_CHECKING = False  # typing's own constant, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import BinaryIO, Iterator


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory's entries (a rename or unlink in it) to disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_tree(path: str | os.PathLike) -> None:
    """Flush a whole freshly written tree at once (syncfs: cheaper than an fsync per file)."""
    from rkt import kernel

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        kernel.current().syncfs(fd)
    except OSError:
        os.sync()
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike, mode: int = 0o644, *,
                durable: bool = True) -> Iterator[BinaryIO]:
    """A file opened for writing that replaces `target` by rename when the block ends without
    error; on error nothing is left behind. `durable` flushes the file and its directory, so
    after a crash `target` is either the old or the complete new file."""
    import tempfile

    target = Path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(target.parent)


def atomic_write(target: str | os.PathLike, data: bytes | str, mode: int = 0o644, *,
                 durable: bool = True) -> None:
    """Replace `target` with `data` atomically (see atomic_file)."""
    with atomic_file(target, mode, durable=durable) as out:
        out.write(data.encode() if isinstance(data, str) else data)


def write_all(fd: int, data) -> None:
    """Write all of `data` to `fd`: a pipe or socket may take only part of one os.write."""
    with memoryview(data) as view:
        pos = 0
        while pos < len(view):
            pos += os.write(fd, view[pos:])


def copy_tree(src: str | os.PathLike, dest: str | os.PathLike) -> None:
    """A faithful copy of a directory tree to `dest` (absent or an empty directory) with
    `cp -a`: it keeps owners, modes, times, devices, hard links, xattrs and sparse files."""
    import subprocess

    proc = subprocess.run(["cp", "-a", "--reflink=auto", "--no-target-directory", "--",
                           str(src), str(dest)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        raise RktError(f"cannot copy {src} to {dest}: {lines[-1] if lines else 'cp failed'}")
