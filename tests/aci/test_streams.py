"""import_stream and extract without root: one image ID whatever the compression or gzip
framing, the ID over the tar's padding, rootfs-only extraction with a filter, and layering
(replace mode) that never follows a lower layer's symlinks out of the tree."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest

from rkt.aci import extract, import_stream
from rkt.errors import RktError
from tests.helpers.aci import Entry, compress, image_id, manifest, tar_bytes


def test_every_compression_gives_the_same_image_id(tmp_path):
    tar = tar_bytes(manifest(), {"bin/a": os.urandom(200_000), "etc/b": b"b"})
    ids = set()
    for compression in ("none", "gzip", "bzip2", "xz"):
        data = compress(tar, compression)
        blob = io.BytesIO()
        result = import_stream(io.BytesIO(data), blob=blob, dest=tmp_path / compression)
        assert blob.getvalue() == tar
        assert (tmp_path / compression / "rootfs/etc/b").read_bytes() == b"b"
        ids.add(result.image_id)
    assert ids == {image_id(tar)}


def test_concatenated_gzip_members_and_padding(tmp_path):
    """pigz-style multi-member gzip and trailing NUL padding are one stream."""
    tar = tar_bytes(manifest(), {"a": os.urandom(100_000)})
    data = compress(tar[:30_000], "gzip") + compress(tar[30_000:], "gzip") + bytes(16)
    assert import_stream(io.BytesIO(data)).image_id == image_id(tar)


def test_hash_covers_trailing_padding():
    """tarfile pads to a 10 KiB record; the ID is over all of it, as a blob copy would be."""
    tar = tar_bytes(manifest(), {"a": b"a"})
    assert len(tar) % 10240 == 0 and tar.endswith(bytes(2048))
    blob = io.BytesIO()
    assert import_stream(io.BytesIO(tar), blob=blob).image_id == image_id(tar)
    assert blob.getvalue() == tar


def test_extract_rootfs_only_filter_and_file_object(tmp_path):
    tar = tar_bytes(manifest(), {"bin/sh": b"sh", "etc/keep": b"k", "etc/drop": b"d",
                                 "lib/l": Entry(kind="hardlink", target="rootfs/bin/sh")})
    seen = []

    def want(path: str) -> bool:
        seen.append(path)
        return path != "/etc/drop"

    dest = tmp_path / "rootfs"
    extract(io.BytesIO(compress(tar, "xz")), dest, rootfs_only=True, member_filter=want)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == [
        "bin", "bin/sh", "etc", "etc/keep", "lib", "lib/l"]
    assert "/etc/drop" in seen and "/bin/sh" in seen
    assert not (dest / "manifest").exists()
    full = tmp_path / "full"
    extract(io.BytesIO(tar), full)
    assert json.loads((full / "manifest").read_bytes())["name"] == "example.com/test"


def test_layering_replace_mode(tmp_path):
    """A later layer replaces files, symlinks (not followed) and directories; directories merge;
    a replaced file does not change other hard links of the lower layer's inode."""
    outside = tmp_path / "outside"
    outside.mkdir()
    lower = tar_bytes(manifest(), {
        "bin/sh": b"lower sh", "bin/sh-link": Entry(kind="hardlink", target="rootfs/bin/sh"),
        "lib": Entry(kind="symlink", target=str(outside)),
        "etc/conf": b"lower conf", "etc/other": b"kept",
        "opt/tree/file": b"a dir in the lower layer",
        "link-to-dir": Entry(kind="symlink", target=str(outside)),
    })
    upper = tar_bytes(manifest(), {
        "bin/sh": b"upper sh",
        "lib/libc.so": b"upper libc",
        "etc/conf": Entry(kind="symlink", target="other"),
        "opt/tree": b"now a file",
        "link-to-dir": Entry(kind="dir", mode=0o711),
    })
    dest = tmp_path / "rootfs"
    extract(io.BytesIO(lower), dest, rootfs_only=True, replace=True)
    extract(io.BytesIO(upper), dest, rootfs_only=True, replace=True)
    assert (dest / "bin/sh").read_bytes() == b"upper sh"
    assert (dest / "bin/sh-link").read_bytes() == b"lower sh"
    assert (dest / "lib").is_dir() and not (dest / "lib").is_symlink()
    assert (dest / "lib/libc.so").read_bytes() == b"upper libc"
    assert os.readlink(dest / "etc/conf") == "other"
    assert (dest / "etc/other").read_bytes() == b"kept"
    assert (dest / "opt/tree").read_bytes() == b"now a file"
    assert (dest / "link-to-dir").is_dir() and not (dest / "link-to-dir").is_symlink()
    assert stat.S_IMODE(os.lstat(dest / "link-to-dir").st_mode) == 0o711
    assert os.listdir(outside) == []


def test_without_replace_existing_files_are_refused(tmp_path):
    tar = tar_bytes(manifest(), {"a": b"new"})
    dest = tmp_path / "d"
    extract(io.BytesIO(tar), dest, rootfs_only=True)
    with pytest.raises(RktError, match="'a' already exists"):
        extract(io.BytesIO(tar), dest, rootfs_only=True)
