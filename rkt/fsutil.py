"""Filesystem steps stage0 takes in many places: atomic replacement, durability, tree copies.

rkt's state is the filesystem, so a file or directory becomes visible by one `rename(2)` taken
last, after its bytes (and then the directory entry) are flushed. These are the one copy of
each such step; the kernel calls beneath them go through `rkt.kernel`.
"""

from __future__ import annotations

import contextlib
import os
import stat
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


def _copy_attrs(src, dest, st: os.stat_result) -> None:
    """Owner, xattrs, mode and times of `src` onto `dest` (paths, or open fds of the two)."""
    os.chown(dest, st.st_uid, st.st_gid)
    for name in os.listxattr(src):
        os.setxattr(dest, name, os.getxattr(src, name))
    os.chmod(dest, stat.S_IMODE(st.st_mode))  # after chown, which clears setuid bits
    os.utime(dest, ns=(st.st_atime_ns, st.st_mtime_ns))


def _copy_file(s: str, d: str, st: os.stat_result) -> None:
    """A regular file, contents by sendfile(2) and attributes through the two fds: the fewest
    syscalls per file (shutil's copyfile stats both ends again and costs an import)."""
    src = os.open(s, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dst = os.open(d, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      0o600)
        try:
            offset = 0
            while sent := os.sendfile(dst, src, offset, max(st.st_size - offset, 1 << 20)):
                offset += sent
            _copy_attrs(src, dst, st)
        finally:
            os.close(dst)
    finally:
        os.close(src)


def copy_small_tree(src: Path, dest: Path) -> None:
    """Copy the (small) stage1 rootfs in-process: no cp to spawn on every `rkt run`. Keeps
    what cp -a keeps: file kinds incl. devices, owners, modes, xattrs, hard links, mtimes."""
    links: dict[tuple[int, int], str] = {}
    dirs: list[tuple[str, str, os.stat_result]] = []

    def copy(s: str, d: str) -> None:
        st = os.lstat(s)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(d, 0o700)
            dirs.append((s, d, st))
            with os.scandir(s) as entries:
                for entry in entries:
                    copy(entry.path, os.path.join(d, entry.name))
            return
        if not stat.S_ISLNK(mode) and st.st_nlink > 1:
            first = links.get((st.st_dev, st.st_ino))
            if first is not None:
                os.link(first, d)
                return
            links[(st.st_dev, st.st_ino)] = d
        if stat.S_ISREG(mode):
            _copy_file(s, d, st)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(s), d)
            os.chown(d, st.st_uid, st.st_gid, follow_symlinks=False)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            os.mknod(d, mode, st.st_rdev)
            _copy_attrs(s, d, st)
        # sockets are not content

    copy(str(src), str(dest))
    for s, d, st in reversed(dirs):  # children first: their writes touched the mtimes
        _copy_attrs(s, d, st)
