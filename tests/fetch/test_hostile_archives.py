"""A corpus of invalid and hostile archives and manifests, each fetched through the real CLI:
each is refused with one line and exit 254, the store is left exactly as it was (rows, blobs,
trees, nothing in cas/tmp), and nothing is written outside the store."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import tarfile

import pytest

from tests.helpers.aci import make_aci, manifest
from tests.store.snapshot import files_under, store_state

ESCAPE_TARGET = "/tmp/rkt-hostile-escape-target"


def tar_of(members: list[tuple[str, str, bytes | str]], *, fmt=tarfile.PAX_FORMAT) -> bytes:
    """members: (name, kind, payload); kinds file/dir/symlink/hardlink/fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            data = payload.encode() if isinstance(payload, str) and kind == "file" else payload
            if kind == "file":
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("symlink", "hardlink"):
                info.linkname = payload
            tf.addfile(info)
    return buf.getvalue()


GOOD = json.dumps(manifest("example.com/hostile"))


def aci_with(*rootfs: tuple[str, str, bytes | str], manifest_json: str = GOOD) -> bytes:
    return tar_of([("manifest", "file", manifest_json), ("rootfs", "dir", b""), *rootfs])


def bad_manifest(**changes) -> bytes:
    m = manifest("example.com/hostile")
    m.update(changes)
    return aci_with(manifest_json=json.dumps(m))


def bomb() -> bytes:
    return gzip.compress(aci_with(("rootfs/zeros", "file", b"\0" * (3 << 20))))


def many_member_bomb() -> bytes:
    chunk = b"\0" * (1 << 20)
    return gzip.compress(aci_with(*[(f"rootfs/z{i}", "file", chunk) for i in range(3)]))


def truncated_tar() -> bytes:
    data = aci_with(("rootfs/big", "file", b"y" * 100_000))
    return data[: len(data) // 2]


CORPUS = {
    "empty file": lambda: b"",
    "random bytes": lambda: os.urandom(4096),
    "gzip of garbage": lambda: gzip.compress(os.urandom(2048)),
    "truncated gzip": lambda: gzip.compress(aci_with(("rootfs/a", "file", "a" * 5000)))[:300],
    "bzip2 of garbage": lambda: bz2.compress(os.urandom(2048)),
    "corrupt xz": lambda: lzma.compress(aci_with())[:40] + b"\0" * 64,
    "truncated tar": truncated_tar,
    "no manifest": lambda: tar_of([("rootfs", "dir", b""), ("rootfs/a", "file", "a")]),
    "no rootfs": lambda: tar_of([("manifest", "file", GOOD)]),
    "manifest is a directory": lambda: tar_of([("manifest", "dir", b""), ("rootfs", "dir", b"")]),
    "manifest is a symlink": lambda: tar_of([("manifest", "symlink", "/etc/passwd"),
                                              ("rootfs", "dir", b"")]),
    "rootfs is a file": lambda: tar_of([("manifest", "file", GOOD), ("rootfs", "file", "x")]),
    "manifest not JSON": lambda: aci_with(manifest_json="{not json"),
    "manifest JSON array": lambda: aci_with(manifest_json="[1, 2]"),
    "manifest wrong acKind": lambda: bad_manifest(acKind="PodManifest"),
    "manifest bad name": lambda: bad_manifest(name="Not A Valid/Name"),
    "manifest unknown os": lambda: bad_manifest(labels=[{"name": "os", "value": "plan9"}]),
    "manifest bad acVersion": lambda: bad_manifest(acVersion="one"),
    "manifest bad event handler": lambda: bad_manifest(app={
        "exec": ["/bin/true"], "user": "0", "group": "0",
        "eventHandlers": [{"name": "pre-stop", "exec": ["/x"]}]}),
    "manifest bad dependency id": lambda: bad_manifest(dependencies=[
        {"imageName": "example.com/base", "imageID": "md5-1234"}]),
    "file outside rootfs": lambda: aci_with(("etc/passwd", "file", "root::0:0::/:/bin/sh")),
    "duplicate entry": lambda: aci_with(("rootfs/a", "file", "1"), ("rootfs/a", "file", "2")),
    "duplicate manifest": lambda: tar_of([("manifest", "file", GOOD), ("rootfs", "dir", b""),
                                          ("manifest", "file", GOOD)]),
    "absolute path": lambda: aci_with((ESCAPE_TARGET + "-abs", "file", "x")),
    "dot-dot path": lambda: aci_with(("rootfs/../../../../" + ESCAPE_TARGET.lstrip("/") + "-dd",
                                      "file", "x")),
    "write through absolute symlink": lambda: aci_with(
        ("rootfs/link", "symlink", "/tmp"), ("rootfs/link/rkt-hostile-escape-target-sym", "file", "x")),
    "write through relative symlink": lambda: aci_with(
        ("rootfs/up", "symlink", "../../../../../../../tmp"),
        ("rootfs/up/rkt-hostile-escape-target-rel", "file", "x")),
    "hardlink to host file": lambda: aci_with(("rootfs/shadow", "hardlink", "/etc/shadow")),
    "hardlink escaping with dot-dot": lambda: aci_with(("rootfs/h", "hardlink", "../../etc/passwd")),
    "hardlink to a directory": lambda: aci_with(("rootfs/d", "dir", b""),
                                                 ("rootfs/h", "hardlink", "rootfs/d")),
    "decompression bomb": bomb,
    "decompression bomb of small members": many_member_bomb,
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_hostile_archive_rejected(rkt, tmp_path, case):
    # A valid image first, so "unchanged" means more than "empty".
    good = tmp_path / "good.aci"
    make_aci(good, manifest("example.com/good"), {"etc/ok": b"ok"})
    rkt("--insecure-options=image", "fetch", good)
    before = store_state(rkt.dir)
    outside_before = files_under(tmp_path) - files_under(rkt.root)

    aci = tmp_path / "hostile.aci"
    aci.write_bytes(CORPUS[case]())
    env = dict(os.environ, RKT_MAX_IMAGE_SIZE="2Mi")
    proc = rkt.fails("--insecure-options=image", "fetch", aci, env=env)
    assert proc.stderr.startswith("rkt: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "internal error" not in proc.stderr, proc.stderr
    assert proc.stdout == ""
    assert store_state(rkt.dir) == before
    outside_after = files_under(tmp_path) - files_under(rkt.root)
    assert outside_after == outside_before | {"hostile.aci"}
    for suffix in ("-abs", "-dd", "-sym", "-rel"):
        assert not os.path.lexists(ESCAPE_TARGET + suffix)
    # and the store still works
    assert rkt("image", "list", "--no-legend", "--fields=name").stdout == "example.com/good:1.0.0\n"


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 20
