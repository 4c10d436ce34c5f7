"""A content hash of a rendered tree, recorded at render time and re-checked by `image verify`,
and the cheap stat digest `rkt run` checks before it uses a tree.

The hash covers, for every entry under the tree (sorted walk, symlinks never followed): its
path, type, permission bits, owner, size, content digest, symlink target, device number and
xattrs. Modification times are left out, as rkt's tree hash did: they change on every render
without the tree being different.

The stat digest covers, for the same entries, the inode number, type and mode, owner, size,
mtime and ctime (ns). Any change made through the filesystem after the render sets the
changed inode's ctime to the current time (a write, truncate, chmod, chown, xattr, link,
unlink or rename; utimes too, and userspace cannot set ctime back), and an entry replaced or
added changes the inode set, so the digest differs: a damaged tree is caught by a stat walk
instead of reading every byte. What it cannot see is damage below the filesystem (bit rot of
the medium); `rkt image verify` reads the contents.
"""

from __future__ import annotations

import os
import stat

try:  # CPython's own SHA-2 for the few hundred bytes `rkt run` hashes (tree IDs, stat digests):
    from _sha256 import sha256  # hashlib would load OpenSSL first, ~3 ms of every run
    from _sha512 import sha512
except ImportError:  # another Python
    from hashlib import sha256, sha512

# Files of a tree directory that describe the render rather than being part of it.
BOOKKEEPING = frozenset({"hash", "rendered", "image", "stat", "stat.tmp"})


def _entries(root: str) -> list[tuple[str, str, os.stat_result]]:
    """(relative path, path, lstat) of every entry under `root`, sorted walk, symlinks not
    followed, the top level's bookkeeping files left out. Each entry is stat-ed relative to
    its directory's fd (one path component for the kernel to resolve, not the whole path):
    `rkt run` walks every tree it uses."""
    entries: list[tuple[str, str, os.stat_result]] = []
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

    def walk(fd: int, directory: str, rel: str) -> None:
        with os.scandir(fd) as it:
            names = sorted(e.name for e in it)
        for name in names:
            if not rel and name in BOOKKEEPING:
                continue
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            path = f"{directory}/{name}"
            child = f"{rel}/{name}" if rel else name
            entries.append((child, path, st))
            if stat.S_ISDIR(st.st_mode):
                sub = os.open(name, flags, dir_fd=fd)
                try:
                    walk(sub, path, child)
                finally:
                    os.close(sub)

    top = os.open(root, flags & ~os.O_NOFOLLOW)
    try:
        walk(top, root.rstrip("/") or "/", "")
    finally:
        os.close(top)
    return entries


def stat_digest(root: str | os.PathLike) -> str:
    """Hex sha256 of every entry's identity and change times (see the module docstring)."""
    text = "".join(f"{rel}\0{st.st_ino}\0{st.st_mode:o}\0{st.st_uid}\0{st.st_gid}\0{st.st_size}\0"
                   f"{st.st_mtime_ns}\0{st.st_ctime_ns}\n" for rel, _, st in _entries(os.fspath(root)))
    return sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _file_digest(path: str) -> str:
    # sha256 for contents: twice sha512's speed here (SHA extensions), and the hash guards
    # against damage, not forgery (whoever can rewrite the tree can rewrite `hash` too).
    import hashlib  # OpenSSL's, for whole files

    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def tree_bytes(root: str | os.PathLike, entries=None) -> int:
    """The bytes of a tree as rkt's `image list` counts them (fileutil.DirSize): the lstat size
    of every entry, directories and symlinks included, a hard-linked inode once; the render's
    bookkeeping files are left out (they differ in length from rkt's own)."""
    root = os.fspath(root)
    seen: set[tuple[int, int]] = set()
    total = os.lstat(root).st_size
    for _, _, st in entries if entries is not None else _entries(root):
        if st.st_nlink > 1:
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
        total += st.st_size
    return total


def hash_tree(root: str | os.PathLike) -> tuple[str, int]:
    """(hex sha512 of the tree description, the tree's bytes as `tree_bytes` counts them)."""
    entries = _entries(os.fspath(root))

    # Contents are hashed in parallel (hashlib releases the GIL), once per inode.
    first_path: dict[tuple[int, int], str] = {}
    for _, path, st in entries:
        if stat.S_ISREG(st.st_mode):
            first_path.setdefault((st.st_dev, st.st_ino), path)
    total = tree_bytes(root, entries)
    if len(first_path) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            digests = dict(zip(first_path, pool.map(_file_digest, first_path.values())))
    else:
        digests = {key: _file_digest(path) for key, path in first_path.items()}

    outer = sha512()
    for rel, path, st in entries:
        mode = st.st_mode
        digest = target = ""
        size = 0
        if stat.S_ISREG(mode):
            size, digest = st.st_size, digests[(st.st_dev, st.st_ino)]
        elif stat.S_ISLNK(mode):
            target = os.readlink(path)
        rdev = st.st_rdev if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) else 0
        try:
            names = sorted(os.listxattr(path, follow_symlinks=False))
            xattrs = ";".join(f"{n}={os.getxattr(path, n, follow_symlinks=False).hex()}"
                              for n in names)
        except OSError:
            xattrs = ""
        outer.update(f"{rel}\0{stat.S_IFMT(mode):o}\0{stat.S_IMODE(mode):o}\0{st.st_uid}\0"
                     f"{st.st_gid}\0{size}\0{digest}\0{target}\0{rdev}\0{xattrs}\n"
                     .encode("utf-8", "surrogateescape"))
    return outer.hexdigest(), total
