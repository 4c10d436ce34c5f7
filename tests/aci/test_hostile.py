"""Hostile and invalid archives: each is refused with a one-line error, nothing lands outside
the destination, and the same holds for `extract` (plain and layering mode)."""

from __future__ import annotations

import dataclasses
import io
import os
import re
import tarfile
import threading
from pathlib import Path

import pytest

from rkt.aci import Limits, extract, import_stream
from rkt.errors import RktError
from tests.aci.util import archive, end, fix_checksum, manifest_member, member, rootfs_member
from tests.helpers.aci import compress, manifest, tar_bytes


@dataclasses.dataclass
class Ctx:
    sentinel: Path  # an empty directory next to the destination: must stay empty
    victim: Path    # a file next to the destination: must stay untouched


def _file(name: str, data: bytes = b"pwned") -> bytes:
    return member(name, data)


def _symlink(name: str, target: str) -> bytes:
    return member(name, type=tarfile.SYMTYPE, linkname=target)


def _hardlink(name: str, target: str) -> bytes:
    return member(name, type=tarfile.LNKTYPE, linkname=target)


def _dir(name: str) -> bytes:
    return member(name, type=tarfile.DIRTYPE, mode=0o755)


def _huge_size() -> bytes:
    block = bytearray(member("rootfs/big", b"")[:512])
    block[124:136] = b"\x80" + (1 << 62).to_bytes(11, "big")
    return archive(fix_checksum(block))


def _bad_checksum() -> bytes:
    block = bytearray(member("rootfs/x", b"")[:512])
    block[0:8] = b"rootfs/y"
    return manifest_member() + rootfs_member() + bytes(block) + end()


def _unknown_type(flag: bytes) -> bytes:
    return archive(member("rootfs/odd", b"", type=flag))


def _bomb() -> bytes:
    """Each member is under the cap; together they expand past it."""
    return compress(archive(*(_file(f"rootfs/zeros{i}", bytes(1 << 20)) for i in range(8))),
                    "gzip")


def _gnu_longname_escape(ctx: Ctx) -> bytes:
    name = "rootfs/" + "a" * 120 + "/../../../sentinel/pwned"
    return archive(member(name, b"pwned", fmt=tarfile.GNU_FORMAT))


def _valid_tar() -> bytes:
    return tar_bytes(manifest(), {"bin/a": b"hello" * 1000, "etc/b": b"x"})


# name -> (builder(ctx) -> bytes, error pattern)
CASES = {
    "dotdot-in-rootfs": (lambda c: archive(_file("rootfs/../../sentinel/pwned")), r"escapes"),
    "dotdot-top": (lambda c: archive(_file("../sentinel/pwned")), r"escapes"),
    "dotdot-pax-long-name": (lambda c: archive(_file("rootfs/" + "d" * 110 + "/../../../sentinel/p")),
                             r"escapes"),
    "dotdot-gnu-long-name": (_gnu_longname_escape, r"escapes"),
    "absolute-path": (lambda c: archive(_file(str(c.sentinel / "pwned"))), r"absolute path"),
    "symlink-then-file-through-it": (
        lambda c: archive(_symlink("rootfs/l", str(c.sentinel)), _file("rootfs/l/pwned")),
        r"symlink"),
    "symlink-to-etc-then-write": (
        lambda c: archive(_symlink("rootfs/etc", str(c.sentinel)), _file("rootfs/etc/passwd")),
        r"symlink"),
    "relative-symlink-escape": (
        lambda c: archive(_symlink("rootfs/up", "../../sentinel"), _file("rootfs/up/pwned")),
        r"symlink"),
    "symlink-then-dir-through-it": (
        lambda c: archive(_symlink("rootfs/l", str(c.sentinel)), _dir("rootfs/l/sub")), r"symlink"),
    "symlink-then-symlink-through-it": (
        lambda c: archive(_symlink("rootfs/l", str(c.sentinel)), _symlink("rootfs/l/s", "/x")),
        r"symlink"),
    "symlink-then-hardlink-through-it": (
        lambda c: archive(_file("rootfs/f"), _symlink("rootfs/l", str(c.sentinel)),
                          _hardlink("rootfs/l/h", "rootfs/f")), r"symlink"),
    "hardlink-to-outside-absolute": (
        lambda c: archive(_hardlink("rootfs/h", str(c.victim))), r"absolute path"),
    "hardlink-to-outside-relative": (
        lambda c: archive(_hardlink("rootfs/h", "rootfs/../../victim")), r"escapes"),
    "hardlink-to-later-member": (
        lambda c: archive(_hardlink("rootfs/h", "rootfs/z"), _file("rootfs/z")),
        r"hard link .* not an earlier regular file"),
    "hardlink-to-symlink": (
        lambda c: archive(_symlink("rootfs/s", str(c.victim)), _hardlink("rootfs/h", "rootfs/s")),
        r"not an earlier regular file"),
    "hardlink-to-manifest": (
        lambda c: archive(_hardlink("rootfs/h", "manifest")), r"not an earlier regular file"),
    "hardlink-to-missing": (
        lambda c: archive(_hardlink("rootfs/h", "rootfs/nothing")), r"not an earlier regular file"),
    "duplicate-entry": (lambda c: archive(_file("rootfs/a"), _file("rootfs/./a")),
                        r"duplicate entry 'rootfs/a'"),
    "duplicate-manifest": (lambda c: archive(manifest_member()), r"duplicate entry 'manifest'"),
    "duplicate-rootfs": (lambda c: archive(rootfs_member()), r"duplicate entry 'rootfs'"),
    "extra-top-level-file": (lambda c: archive(_file("evil")), r"unrecognized path 'evil'"),
    "top-level-lookalike": (lambda c: archive(_file("rootfs2/x")), r"unrecognized path"),
    "missing-manifest": (lambda c: rootfs_member() + _file("rootfs/a") + end(),
                         r"no image manifest"),
    "missing-rootfs": (lambda c: manifest_member() + end(), r"no rootfs"),
    "manifest-is-dir": (lambda c: _dir("manifest") + rootfs_member() + end(),
                        r"manifest is a directory"),
    "manifest-is-symlink": (lambda c: _symlink("manifest", "/etc/passwd") + rootfs_member() + end(),
                            r"manifest is a symlink"),
    "rootfs-is-file": (lambda c: manifest_member() + _file("rootfs") + end(),
                       r"rootfs is a regular file"),
    "rootfs-is-symlink": (lambda c: manifest_member() + _symlink("rootfs", str(c.sentinel)) + end(),
                          r"rootfs is a symlink"),
    "bad-json": (lambda c: tar_bytes(None, raw_manifest=b"{not json"), r"^manifest: "),
    "invalid-manifest": (lambda c: tar_bytes({"acKind": "PodManifest", "acVersion": "0.8.11"}),
                         r"^manifest: "),
    "manifest-not-utf8": (lambda c: tar_bytes(None, raw_manifest=b"\xff\xfe"), r"^manifest: "),
    "truncated-gzip": (lambda c: compress(_valid_tar(), "gzip")[:-200], r"truncated gzip"),
    "truncated-gzip-half": (lambda c: compress(_valid_tar(), "gzip")[:300], r"truncated"),
    "truncated-xz": (lambda c: compress(_valid_tar(), "xz")[:-50], r"truncated xz|corrupt xz"),
    "truncated-bzip2": (lambda c: compress(_valid_tar(), "bzip2")[:-50],
                        r"truncated bzip2|corrupt bzip2"),
    "truncated-tar-in-data": (lambda c: _valid_tar()[:2048 + 700], r"truncated archive"),
    "truncated-tar-no-end-marker": (lambda c: archive()[:-1024], r"truncated archive"),
    "truncated-tar-in-header": (lambda c: archive()[:1024 + 100], r"truncated archive"),
    "corrupt-gzip": (lambda c: _corrupt(compress(_valid_tar(), "gzip")), r"corrupt gzip"),
    "gzip-trailing-garbage": (lambda c: compress(_valid_tar(), "gzip") + b"garbage!",
                              r"corrupt gzip"),
    "garbage": (lambda c: os.urandom(4096), r"not an ACI: unrecognized format"),
    "empty": (lambda c: b"", r"not an ACI: unrecognized format"),
    "gzip-of-garbage": (lambda c: compress(b"hello world" * 100, "gzip"), r"truncated archive|corrupt"),
    "bad-header-checksum": (lambda c: _bad_checksum(), r"checksum"),
    "lone-zero-block": (lambda c: manifest_member() + bytes(512) + rootfs_member() + end(),
                        r"lone zero block"),
    "unknown-member-type-sparse": (lambda c: _unknown_type(b"S"), r"unsupported tar member type 'S'"),
    "unknown-member-type-volume": (lambda c: _unknown_type(b"V"), r"unsupported tar member type"),
    "unknown-member-type-Z": (lambda c: _unknown_type(b"Z"), r"unsupported tar member type 'Z'"),
    "huge-declared-size": (lambda c: _huge_size(), r"declares \d+ bytes"),
    "bomb-over-cap": (lambda c: _bomb(), r"larger than the limit"),
}


def _corrupt(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0x55 for b in data[mid:mid + 64]) + data[mid + 64:]


@pytest.fixture
def ctx(tmp_path, monkeypatch) -> Ctx:
    monkeypatch.setenv("RKT_MAX_IMAGE_SIZE", "4Mi")
    (tmp_path / "sentinel").mkdir()
    (tmp_path / "victim").write_bytes(b"original")
    return Ctx(tmp_path / "sentinel", tmp_path / "victim")


def _assert_contained(tmp_path: Path, c: Ctx) -> None:
    assert not [t for t in threading.enumerate() if t.name == "aci-decompress"]
    assert set(os.listdir(tmp_path)) - {"dest"} == {"sentinel", "victim"}
    assert os.listdir(c.sentinel) == []
    assert c.victim.read_bytes() == b"original"
    assert c.victim.stat().st_nlink == 1


def _check_error(err: RktError, pattern: str) -> None:
    message = str(err)
    assert "\n" not in message and message.strip() == message and message
    assert re.search(pattern, message), message


def test_corpus_is_large_enough():
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", sorted(CASES))
def test_import_refuses(case, tmp_path, ctx):
    build, pattern = CASES[case]
    data = build(ctx)
    blob = io.BytesIO()
    with pytest.raises(RktError) as info:
        import_stream(io.BytesIO(data), blob=blob, dest=tmp_path / "dest")
    _check_error(info.value, pattern)
    _assert_contained(tmp_path, ctx)


@pytest.mark.parametrize("case", sorted(CASES))
def test_validation_only_refuses(case, tmp_path, ctx):
    build, pattern = CASES[case]
    (tmp_path / "dest").mkdir()
    with pytest.raises(RktError) as info:
        import_stream(io.BytesIO(build(ctx)))
    _check_error(info.value, pattern)
    assert os.listdir(tmp_path / "dest") == []


MANIFEST_ONLY = {"bad-json", "invalid-manifest", "manifest-not-utf8"}


@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("case", sorted(set(CASES) - MANIFEST_ONLY))
def test_extract_refuses(case, replace, tmp_path, ctx):
    """`extract` does not validate the manifest JSON, but everything else holds, even when
    layering onto a destination that already has content."""
    build, pattern = CASES[case]
    dest = tmp_path / "dest"
    dest.mkdir()
    if replace:
        (dest / "l").mkdir()
        (dest / "a").write_bytes(b"lower layer")
    with pytest.raises(RktError) as info:
        extract(io.BytesIO(build(ctx)), dest, rootfs_only=True, replace=replace)
    _check_error(info.value, pattern)
    _assert_contained(tmp_path, ctx)


def test_limits_default_from_env(monkeypatch):
    monkeypatch.setenv("RKT_MAX_IMAGE_SIZE", "3Ki")
    assert Limits().max_bytes == 3072
    monkeypatch.delenv("RKT_MAX_IMAGE_SIZE")
    assert Limits().max_bytes == 16 << 30


def test_bad_limit_env_is_one_line(monkeypatch):
    monkeypatch.setenv("RKT_MAX_IMAGE_SIZE", "lots")
    with pytest.raises(RktError, match=r"^RKT_MAX_IMAGE_SIZE: invalid size 'lots'"):
        Limits()


def test_bomb_cap_counts_uncompressed_bytes(tmp_path):
    """A 5 MiB zero file compresses to a few KiB; the cap is on what it expands to."""
    data = compress(tar_bytes(manifest(), {f"zeros{i}": bytes(1 << 20) for i in range(5)}), "xz")
    assert len(data) < 64 << 10
    with pytest.raises(RktError, match="larger than the limit of 1048576 bytes"):
        import_stream(io.BytesIO(data), limits=Limits(1 << 20))
    assert import_stream(io.BytesIO(data), limits=Limits(8 << 20)).size > 5 << 20


def test_dest_outside_symlink_in_lower_layer_is_replaced_not_followed(tmp_path, ctx):
    """Layering: a lower layer left `lib` as a symlink to outside; the upper layer's lib/x
    replaces the symlink with a directory rather than writing through it."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "lib").symlink_to(ctx.sentinel)
    upper = archive(_file("rootfs/lib/x", b"upper"))
    extract(io.BytesIO(upper), dest, rootfs_only=True, replace=True)
    assert (dest / "lib").is_dir() and not (dest / "lib").is_symlink()
    assert (dest / "lib" / "x").read_bytes() == b"upper"
    _assert_contained(tmp_path, ctx)
    # without layering mode the same is refused
    (dest / "lib" / "x").unlink()
    (dest / "lib").rmdir()
    (dest / "lib").symlink_to(ctx.sentinel)
    with pytest.raises(RktError, match="symlink"):
        extract(io.BytesIO(upper), dest, rootfs_only=True)
    _assert_contained(tmp_path, ctx)


def test_blob_write_failure_is_one_line():
    """/dev/full: a real ENOSPC on the blob copy."""
    tar = tar_bytes(manifest(), {"a": os.urandom(3 << 20)})
    with open("/dev/full", "wb", buffering=0) as blob:
        with pytest.raises(RktError, match="^writing the image blob: No space left on device$"):
            import_stream(io.BytesIO(compress(tar, "gzip")), blob=blob)
    assert not [t for t in threading.enumerate() if t.name == "aci-decompress"]
