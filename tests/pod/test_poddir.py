"""rkt.fsutil.copy_small_tree: the stage1 copy keeps what `cp -a` keeps."""

import os
import stat

import pytest

from rkt.fsutil import copy_small_tree

pytestmark = pytest.mark.root


def _snapshot(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            content = None
            if stat.S_ISREG(st.st_mode):
                content = open(path, "rb").read()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            xattrs = {} if stat.S_ISLNK(st.st_mode) else {
                k: os.getxattr(path, k) for k in os.listxattr(path)}
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_nlink, content, xattrs,
                        None if stat.S_ISLNK(st.st_mode) else st.st_mtime_ns)
    return out


def test_copy_keeps_kinds_owners_modes_links_xattrs(tmp_path):
    src = tmp_path / "src"
    (src / "d" / "sub").mkdir(parents=True)
    (src / "d" / "file").write_bytes(b"data")
    os.chown(src / "d" / "file", 12, 34)
    (src / "suid").write_bytes(b"#!/bin/sh\n")
    os.chmod(src / "suid", 0o4755)
    os.link(src / "d" / "file", src / "hardlink")
    os.symlink("../etc/nowhere", src / "d" / "dangling")
    os.mkfifo(src / "fifo", 0o600)
    os.mknod(src / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.setxattr(src / "d" / "file", "user.test", b"value")
    os.chmod(src / "d" / "sub", 0o711)
    os.utime(src / "d", ns=(1, 1_000_000_000))
    dest = tmp_path / "dest"
    copy_small_tree(src, dest)
    assert _snapshot(dest) == _snapshot(src)
    assert os.stat(dest / "hardlink").st_ino == os.stat(dest / "d" / "file").st_ino
