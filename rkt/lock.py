"""flock(2) locks on files and directories, as rkt's pkg/lock.

A lock belongs to an open file description: it survives exec when the fd is inherited
(that is how the pod lock stays held by stage1 for the pod's lifetime) and is released when the
last copy of the fd is closed, including when its holder is killed.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from rkt.closing import Closing
from rkt.errors import RktError


class LockBusy(RktError):
    """A non-blocking lock attempt found the lock held by someone else."""


class FileLock(Closing):
    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = Path(path)
        flags = os.O_RDONLY | os.O_CLOEXEC
        try:
            if self.path.is_dir():
                self.fd = os.open(self.path, flags | os.O_DIRECTORY)
            else:
                self.fd = os.open(self.path, flags | (os.O_CREAT if create else 0), 0o664)
        except FileNotFoundError:
            raise RktError(f"lock {self.path}: does not exist") from None

    @classmethod
    def from_fd(cls, fd: int, path: str | os.PathLike = "") -> "FileLock":
        lock = cls.__new__(cls)
        lock.path, lock.fd = Path(path), fd
        return lock

    def _flock(self, op: int, blocking: bool) -> bool:
        try:
            fcntl.flock(self.fd, op | (0 if blocking else fcntl.LOCK_NB))
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return False
            raise
        return True

    def exclusive(self, blocking: bool = True) -> bool:
        return self._flock(fcntl.LOCK_EX, blocking)

    def shared(self, blocking: bool = True) -> bool:
        return self._flock(fcntl.LOCK_SH, blocking)

    def unlock(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def inheritable(self) -> int:
        """Keep the fd open across exec (the pod lock handed to stage1 as RKT_LOCK_FD)."""
        os.set_inheritable(self.fd, True)
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
