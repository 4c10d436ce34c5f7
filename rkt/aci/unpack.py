"""Writing archive members under a destination directory without ever leaving it.

Every operation is relative to a directory file descriptor opened component by component
with O_NOFOLLOW, so a symlink, whoever made it, is never traversed: a member whose path
goes through one is refused (or, in layering mode, the symlink left by an earlier layer is
replaced by a directory). Directory modes and times are applied last, deepest first.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat

from rkt.aci import tar
from rkt.errors import RktError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_OPEN_DIRS = 256


def _umask() -> int:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


class Unpacker:
    """Creates members under `dest`; `rel` paths are clean, relative, '/'-separated."""

    def __init__(self, dest, *, replace: bool = False):
        os.makedirs(dest, exist_ok=True)
        self.dest = os.fspath(dest)
        self.replace = replace
        self.root = os.getuid() == 0 and os.geteuid() == 0
        self._umask = _umask()
        self._dirs: dict[str, int] = {}
        self._root_fd = os.open(self.dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self._owner = (os.geteuid(), os.getegid())
        # directories where a new file would not get our gid (setgid dirs): chown there
        self._setgid = {""} if os.fstat(self._root_fd).st_mode & stat.S_ISGID else set()
        self.created: dict[str, str] = {}  # rel -> kind, everything this archive made
        self._dir_attrs: dict[str, tar.Member] = {}

    # -- directory descriptors ------------------------------------------------------------

    def close(self) -> None:
        for fd in self._dirs.values():
            os.close(fd)
        self._dirs.clear()
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    def _forget_dirs(self, rel: str) -> None:
        prefix = rel + "/"
        for key in [k for k in self._dirs if k == rel or k.startswith(prefix)]:
            os.close(self._dirs.pop(key))
        for key in [k for k in self._dir_attrs if k == rel or k.startswith(prefix)]:
            del self._dir_attrs[key]
        self._setgid = {k for k in self._setgid if k != rel and not k.startswith(prefix)}

    def dirfd(self, rel: str) -> int:
        """An fd of directory `rel`, creating missing directories (mode 0755) on the way."""
        if not rel:
            return self._root_fd
        fd = self._dirs.get(rel)
        if fd is not None:
            return fd
        parent, _, name = rel.rpartition("/")
        pfd = self.dirfd(parent)
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
        except FileNotFoundError:
            os.mkdir(name, 0o755, dir_fd=pfd)
            self.created[rel] = tar.DIRECTORY
            fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
        except OSError as err:
            if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = os.lstat(name, dir_fd=pfd)
            what = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a directory"
            if not self.replace or rel in self.created:
                raise RktError(f"{rel!r} is {what}; refusing to write through it") from None
            # layering: a lower layer's symlink or file gives way to this layer's directory
            os.unlink(name, dir_fd=pfd)
            os.mkdir(name, 0o755, dir_fd=pfd)
            self.created[rel] = tar.DIRECTORY
            fd = os.open(name, _DIR_FLAGS, dir_fd=pfd)
        if os.fstat(fd).st_mode & stat.S_ISGID:
            self._setgid.add(rel)
        self._dirs[rel] = fd
        return fd

    def _trim_dirs(self) -> None:
        """Bound the open descriptors; called between members, when no fd is in use."""
        if len(self._dirs) >= _MAX_OPEN_DIRS:
            for old in self._dirs.values():
                os.close(old)
            self._dirs.clear()

    def _clear(self, pfd: int, name: str, rel: str, kind: str) -> bool:
        """Make room for a new `kind` at `rel`, which exists (EEXIST was raised).

        Returns whether it was removed (False: an existing directory to merge with)."""
        st = os.lstat(name, dir_fd=pfd)
        isdir = stat.S_ISDIR(st.st_mode)
        if kind == tar.DIRECTORY and isdir:
            return False  # directories merge
        if not self.replace or rel in self.created:
            raise RktError(f"{rel!r} already exists")
        if isdir:
            self._forget_dirs(rel)
            shutil.rmtree(name, dir_fd=pfd)
        else:
            os.unlink(name, dir_fd=pfd)
        return True

    # -- members -------------------------------------------------------------------------

    def root_attrs(self, m: tar.Member) -> None:
        """The archive's entry for the destination itself (`rootfs` when extracting rootfs only)."""
        self._dir_attrs[""] = m

    def add(self, rel: str, m: tar.Member, stream) -> None:
        """Create member `m` at `rel`; for a regular file its data comes from `stream`."""
        self._trim_dirs()
        parent, _, name = rel.rpartition("/")
        pfd = self.dirfd(parent)
        kind = m.kind
        if kind == tar.REGULAR:
            self._file(pfd, name, rel, m, stream, parent)
        elif kind == tar.DIRECTORY:
            try:
                os.mkdir(name, 0o700, dir_fd=pfd)
            except FileExistsError:
                if self._clear(pfd, name, rel, kind):
                    os.mkdir(name, 0o700, dir_fd=pfd)
            self.created[rel] = kind
            self._dir_attrs[rel] = m
        else:
            self._special(pfd, name, rel, m)

    def _file(self, pfd: int, name: str, rel: str, m: tar.Member, stream, parent: str) -> None:
        try:
            fd = os.open(name, _FILE_FLAGS, m.mode & 0o777, dir_fd=pfd)
        except FileExistsError:
            self._clear(pfd, name, rel, m.kind)
            fd = os.open(name, _FILE_FLAGS, m.mode & 0o777, dir_fd=pfd)
        self.created[rel] = m.kind
        try:
            if m.size and stream.copy_to(fd, m.size) != m.size:
                raise RktError("truncated archive: it ends inside a member")
            if self.root:
                # a new file is already ours unless its directory is setgid: skip the syscall
                if (m.uid, m.gid) != self._owner or parent in self._setgid:
                    os.fchown(fd, m.uid, m.gid)
                if m.mode & 0o7000 or m.mode & self._umask:
                    os.fchmod(fd, m.mode)
            elif m.mode & 0o7000 or m.mode & self._umask:
                os.fchmod(fd, m.mode)
            if m.xattrs:
                for key, value in m.xattrs.items():
                    os.setxattr(fd, key, value)
            os.utime(fd, ns=(m.atime_ns, m.mtime_ns))
        finally:
            os.close(fd)

    def _special(self, pfd: int, name: str, rel: str, m: tar.Member) -> None:
        kind = m.kind
        while True:
            try:
                if kind == tar.SYMLINK:
                    os.symlink(m.linkname, name, dir_fd=pfd)
                elif kind == tar.FIFO:
                    os.mkfifo(name, 0o600, dir_fd=pfd)
                else:
                    fmt = stat.S_IFCHR if kind == tar.CHAR else stat.S_IFBLK
                    os.mknod(name, fmt | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=pfd)
                break
            except FileExistsError:
                self._clear(pfd, name, rel, kind)
        self.created[rel] = kind
        if self.root:
            os.chown(name, m.uid, m.gid, dir_fd=pfd, follow_symlinks=False)
        if kind != tar.SYMLINK:
            # just created by us in a directory reached without symlinks: not a symlink
            os.chmod(name, m.mode, dir_fd=pfd)
        if m.xattrs:
            path = f"/proc/self/fd/{pfd}/{name}"
            for key, value in m.xattrs.items():
                os.setxattr(path, key, value, follow_symlinks=False)
        os.utime(name, ns=(m.atime_ns, m.mtime_ns), dir_fd=pfd, follow_symlinks=False)

    def hardlink(self, rel: str, target_rel: str) -> None:
        """Link `rel` to `target_rel`, a regular file this archive already wrote."""
        self._trim_dirs()
        tparent, _, tname = target_rel.rpartition("/")
        tfd = self.dirfd(tparent)
        parent, _, name = rel.rpartition("/")
        pfd = self.dirfd(parent)
        try:
            os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileExistsError:
            self._clear(pfd, name, rel, tar.HARDLINK)
            os.link(tname, name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        self.created[rel] = tar.HARDLINK

    def finish(self) -> None:
        """Apply directory owners, modes, xattrs and times, deepest first."""
        for rel in sorted(self._dir_attrs, key=lambda r: r.count("/") + bool(r), reverse=True):
            self._trim_dirs()
            m = self._dir_attrs[rel]
            fd = self.dirfd(rel)
            if self.root:
                os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, m.mode)
            if m.xattrs:
                for key, value in m.xattrs.items():
                    os.setxattr(fd, key, value)
            os.utime(fd, ns=(m.atime_ns, m.mtime_ns))
        self._dir_attrs.clear()
