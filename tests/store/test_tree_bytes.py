"""`rkt image list` SIZE counts a rendered tree as rkt's fileutil.DirSize does."""

from __future__ import annotations

import os

from rkt.store.treehash import hash_tree, tree_bytes


def test_tree_bytes_counts_dirs_symlinks_and_hard_links_once(tmp_path):
    tree = tmp_path / "tree"
    (tree / "rootfs" / "etc").mkdir(parents=True)
    (tree / "rootfs" / "etc" / "f").write_bytes(b"x" * 1000)
    os.link(tree / "rootfs" / "etc" / "f", tree / "rootfs" / "etc" / "g")
    (tree / "rootfs" / "link").symlink_to("etc/f")
    (tree / "manifest").write_text("{}")
    for bookkeeping in ("hash", "image", "stat"):
        (tree / bookkeeping).write_text("y" * 500)
    dirs = [tree, tree / "rootfs", tree / "rootfs" / "etc"]
    expected = sum(os.lstat(d).st_size for d in dirs) + 1000 + len("etc/f") + 2
    assert tree_bytes(tree) == expected
    assert hash_tree(tree)[1] == expected
