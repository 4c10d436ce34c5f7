"""`--private-users`: the pod's apps run in a user namespace whose root is a shifted host UID/GID.

As rkt (pkg/user/uid_range.go): a random shift, a multiple of 65536 below 2^31 (devpts takes
uid/gid options as signed ints), and a range of 65536 ids; UID and GID share the shift. The
pod dir records it in `private-users-prepared` as `SHIFT:COUNT`, and stage0 passes the same
text to stage1 as `--private-users=SHIFT:COUNT`. Files the apps own inside are owned by
`id + SHIFT` on the host: the `--no-overlay` copy of each app's rootfs is chowned here.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rkt.errors import RktError
from rkt.record import Record

DEFAULT_COUNT = 0x10000


class UidRange(Record):
    shift: int
    count: int = DEFAULT_COUNT

    @classmethod
    def random(cls) -> "UidRange":
        if not os.path.exists("/proc/self/ns/user"):
            raise RktError("--private-users is not supported, kernel compiled without user "
                           "namespace support")
        import random  # only for --private-users: not on every `rkt run`
        return cls((random.SystemRandom().randrange(0x7FFF) + 1) << 16)

    @classmethod
    def parse(cls, text: str) -> "UidRange":
        shift, _, count = text.strip().partition(":")
        try:
            return cls(int(shift), int(count))
        except ValueError:
            raise RktError(f"invalid private users range {text.strip()[:40]!r}") from None

    def serialize(self) -> str:
        return f"{self.shift}:{self.count}"


def shift_tree(root: Path, shift: int) -> None:
    """Add `shift` to the owner and group of every entry under `root` (itself included),
    symlinks not followed; setuid/setgid bits, which chown clears, are put back. A hard-linked
    inode is shifted once (its second name would otherwise see the shifted owner)."""
    seen: set[tuple[int, int]] = set()

    def shift_one(path: str) -> None:
        st = os.lstat(path)
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            if (st.st_dev, st.st_ino) in seen:
                return
            seen.add((st.st_dev, st.st_ino))
        if st.st_uid >= DEFAULT_COUNT or st.st_gid >= DEFAULT_COUNT:
            raise RktError(f"{path}: owner {st.st_uid}:{st.st_gid} is outside the private "
                           f"users range (0-{DEFAULT_COUNT - 1})")
        os.chown(path, st.st_uid + shift, st.st_gid + shift, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(path, stat.S_IMODE(st.st_mode))

    shift_one(str(root))
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            shift_one(os.path.join(dirpath, name))
