"""Every file kind and attribute (owners, devices, setuid bits) survives build_aci ->
import_stream -> disk, and archives from other writers (tarfile, GNU tar) import the same way.
Making such a tree needs root; what any user can check is in test_streams.py."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from rkt.aci import build_aci, detect_compression, import_stream
from tests.helpers.aci import Entry, image_id, make_aci, manifest

pytestmark = pytest.mark.root

MTIME = 1_600_000_000
LONG = "deep/" + "/".join(["d" * 60] * 5) + "/" + "f" * 200  # > 255 bytes, a 200-byte name
BIG = os.urandom(3 << 20) + b"tail"  # crosses several 1 MiB stream chunks


def make_layout(root: Path) -> Path:
    """A layout with every kind of entry and attribute an ACI can carry."""
    layout = root / "layout"
    rootfs = layout / "rootfs"
    rootfs.mkdir(parents=True)
    (layout / "manifest").write_text(json.dumps(manifest("example.com/roundtrip")))
    r = rootfs

    def f(rel: str, data: bytes = b"", mode: int = 0o644, uid: int = 0, gid: int = 0):
        p = r / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.chown(p, uid, gid)
        os.chmod(p, mode)
        return p

    f("bin/tool", b"#!/bin/sh\n", 0o755)
    f("bin/suid", b"suid", 0o4755)
    f("bin/sgid", b"sgid", 0o2711, gid=50)
    f("etc/shadow", b"secret", 0o640, uid=0, gid=42)
    f("home/user/owned", b"mine", 0o600, uid=1000, gid=1000)
    f("empty", b"", 0o444)
    f("big.bin", BIG, 0o644)
    f(LONG, b"long", 0o644)
    f(os.fsdecode(b"latin-\xe9-name"), b"not utf-8", 0o644)
    xattr_file = f("xattr", b"x", 0o644)
    os.setxattr(xattr_file, "user.note", b"hello\x00binary\xff")
    os.setxattr(xattr_file, "trusted.rkt", b"t")
    os.link(r / "bin/tool", r / "bin/tool-hardlink")
    os.link(r / "bin/tool", r / "etc/tool-hardlink2")
    (r / "bin/sh").symlink_to("tool")
    (r / "abs-link").symlink_to("/etc/shadow")
    (r / "dangling").symlink_to("../../nowhere")
    (r / "longlink").symlink_to("../" * 40 + "target")  # > 100 bytes: GNU K / PAX linkpath
    os.mknod(r / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(r / "loop9", 0o660 | stat.S_IFBLK, os.makedev(7, 9))
    os.mkfifo(r / "fifo", 0o620)
    for d, mode, uid, gid in (("tmp", 0o1777, 0, 0), ("srv/shared", 0o2775, 0, 50),
                              ("ro", 0o555, 0, 0), ("home/user", 0o700, 1000, 1000)):
        p = r / d
        p.mkdir(parents=True, exist_ok=True)
        os.chown(p, uid, gid)
        os.chmod(p, mode)
    f("srv/shared/file", b"in setgid dir", 0o664, gid=0)  # gid differs from its dir's
    os.chown(r / "srv/shared/file", 0, 0)
    (r / "ro/inside").mkdir()
    os.chown(r / "bin/sh", 7, 8, follow_symlinks=False)
    os.setxattr(r / "tmp", "user.dir", b"d")
    for dirpath, dirs, files in os.walk(layout, topdown=False):
        for name in files + dirs:
            os.utime(os.path.join(dirpath, name), ns=(MTIME * 10**9, MTIME * 10**9),
                     follow_symlinks=False)
        os.utime(dirpath, ns=(MTIME * 10**9, MTIME * 10**9))
    return layout


def snapshot(root: Path) -> dict:
    """What an extraction must preserve, per path relative to `root`."""
    result = {}
    inodes: dict = {}
    for dirpath, dirs, files in os.walk(root):
        for name in [""] + dirs + files:
            path = os.path.join(dirpath, name) if name else dirpath
            rel = os.path.relpath(path, root)
            if not name and rel != ".":
                continue
            st = os.lstat(path)
            entry = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
                     "mtime": st.st_mtime_ns // 10**9 if rel != "." else None}
            if stat.S_ISREG(st.st_mode):
                entry["sha"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                entry["links"] = inodes.setdefault(st.st_ino, rel)
            elif stat.S_ISLNK(st.st_mode):
                entry["target"] = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                entry["rdev"] = st.st_rdev
            entry["xattrs"] = {k: os.getxattr(path, k, follow_symlinks=False)
                               for k in os.listxattr(path, follow_symlinks=False)} \
                if not stat.S_ISLNK(st.st_mode) else None
            result[rel] = entry
    return result


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    return make_layout(tmp_path_factory.mktemp("aci-roundtrip"))


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_build_import_roundtrip(layout, tmp_path, compression):
    aci = tmp_path / "image.aci"
    build_aci(layout, aci, compression)
    assert detect_compression(aci.read_bytes()[:512]) == compression
    blob = io.BytesIO()
    with open(aci, "rb") as src:
        result = import_stream(src, blob=blob, dest=tmp_path / "dest")
    tar = blob.getvalue()
    assert result.image_id == image_id(tar)
    assert result.size == len(tar)
    assert result.manifest.name == "example.com/roundtrip"
    assert result.manifest_bytes == (layout / "manifest").read_bytes()
    assert snapshot(tmp_path / "dest") == snapshot(layout)


def test_build_is_deterministic(layout, tmp_path):
    build_aci(layout, tmp_path / "a.aci")
    build_aci(layout, tmp_path / "b.aci")
    assert (tmp_path / "a.aci").read_bytes() == (tmp_path / "b.aci").read_bytes()


def test_gnu_tar_reads_our_archive_identically(layout, tmp_path):
    """An independent reader agrees with our writer about every entry."""
    aci = tmp_path / "image.aci"
    build_aci(layout, aci, "none")
    out = tmp_path / "gnu"
    out.mkdir()
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "--xattrs-include=*", "-xpf", str(aci),
                    "-C", str(out)], check=True)
    assert snapshot(out) == snapshot(layout) | {".": snapshot(out)["."]}


def test_we_read_gnu_tar_archives(layout, tmp_path):
    """GNU tar's own formats (gnu with long-name records, and posix/pax) import identically."""
    for fmt in ("gnu", "posix"):
        aci = tmp_path / f"{fmt}.aci"
        subprocess.run(["tar", f"--format={fmt}", "--numeric-owner", "--xattrs",
                        "--xattrs-include=*", "-C", str(layout), "-cf", str(aci), "manifest",
                        "rootfs"], check=True)
        dest = tmp_path / f"dest-{fmt}"
        result = import_stream(aci, dest=dest)
        assert result.image_id == image_id(aci.read_bytes())
        expected = snapshot(layout)
        if fmt == "gnu":  # the gnu format has no xattrs
            expected = {k: v | {"xattrs": v["xattrs"] and {}} for k, v in expected.items()}
            got = {k: v | {"xattrs": v["xattrs"] and {}} for k, v in snapshot(dest).items()}
        else:
            got = snapshot(dest)
        assert got == expected, fmt


def test_helper_entries_roundtrip(tmp_path):
    """Archives from the independent test helper: devices, fifo, hardlink, xattrs, owners."""
    files = {
        "dev/null": Entry(kind="chr", major=1, minor=3, mode=0o666),
        "dev/sda": Entry(kind="blk", major=8, minor=0, mode=0o660, gid=6),
        "run/fifo": Entry(kind="fifo", mode=0o600),
        "bin/su": Entry(data=b"su", mode=0o4755, uid=0, gid=0),
        "bin/su2": Entry(kind="hardlink", target="rootfs/bin/su"),
        "var/mail": Entry(kind="dir", mode=0o2775, gid=8),
        "home/u/f": Entry(data=b"u", uid=1000, gid=1000, mode=0o600, mtime=1234567890),
        "x": Entry(data=b"x", xattrs={"user.k": "v"}),
    }
    make_aci(tmp_path / "a.aci", manifest(), files)
    import_stream(tmp_path / "a.aci", dest=tmp_path / "d")
    r = tmp_path / "d/rootfs"
    st = os.lstat(r / "dev/sda")
    assert stat.S_ISBLK(st.st_mode) and st.st_rdev == os.makedev(8, 0) and st.st_gid == 6
    assert stat.S_ISCHR(os.lstat(r / "dev/null").st_mode)
    assert stat.S_ISFIFO(os.lstat(r / "run/fifo").st_mode)
    assert stat.S_IMODE(os.lstat(r / "bin/su").st_mode) == 0o4755
    assert os.lstat(r / "bin/su").st_ino == os.lstat(r / "bin/su2").st_ino
    st = os.lstat(r / "var/mail")
    assert stat.S_IMODE(st.st_mode) == 0o2775 and st.st_gid == 8
    st = os.lstat(r / "home/u/f")
    assert (st.st_uid, st.st_gid, st.st_mtime) == (1000, 1000, 1234567890)
    assert os.getxattr(r / "x", "user.k") == b"v"
