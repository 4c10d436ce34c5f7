"""A content hash of a rendered tree, recorded at render time and re-checked by `image verify`.

The hash covers, for every entry under the tree (sorted walk, symlinks never followed): its
path, type, permission bits, owner, size, content digest, symlink target, device number and
xattrs. Modification times are left out, as rkt's tree hash did: they change on every render
without the tree being different.
"""

from __future__ import annotations

import hashlib
import os
import stat

# Files of a tree directory that describe the render rather than being part of it.
BOOKKEEPING = frozenset({"hash", "rendered", "image"})


def hash_tree(root: str | os.PathLike) -> tuple[str, int]:
    """(hex sha512 of the tree description, total bytes of regular files)."""
    outer = hashlib.sha512()
    total = 0
    seen_inodes: dict[tuple[int, int], str] = {}

    def entry(path: str, rel: str) -> None:
        nonlocal total
        st = os.lstat(path)
        mode = st.st_mode
        kind = stat.S_IFMT(mode)
        digest = target = ""
        size = 0
        if stat.S_ISREG(mode):
            size = st.st_size
            key = (st.st_dev, st.st_ino)
            digest = seen_inodes.get(key, "")
            if not digest:
                with open(path, "rb") as f:
                    digest = hashlib.file_digest(f, "sha512").hexdigest()
                seen_inodes[key] = digest
                total += size
        elif stat.S_ISLNK(mode):
            target = os.readlink(path)
        rdev = st.st_rdev if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) else 0
        try:
            names = sorted(os.listxattr(path, follow_symlinks=False))
            xattrs = ";".join(f"{n}={os.getxattr(path, n, follow_symlinks=False).hex()}"
                              for n in names)
        except OSError:
            xattrs = ""
        outer.update(f"{rel}\0{kind:o}\0{stat.S_IMODE(mode):o}\0{st.st_uid}\0{st.st_gid}\0{size}"
                     f"\0{digest}\0{target}\0{rdev}\0{xattrs}\n".encode("utf-8", "surrogateescape"))

    def walk(directory: str, rel: str) -> None:
        with os.scandir(directory) as it:
            names = sorted(e.name for e in it)
        for name in names:
            if not rel and name in BOOKKEEPING:
                continue
            path = os.path.join(directory, name)
            child = f"{rel}/{name}" if rel else name
            entry(path, child)
            if os.path.isdir(path) and not os.path.islink(path):
                walk(path, child)

    walk(os.fspath(root), "")
    return outer.hexdigest(), total
