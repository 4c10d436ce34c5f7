"""Hostile layers get the ACI import's guarantees: no write outside the rootfs (traversal,
symlinks, hard links, whiteouts), bombs stopped by the size limit, corrupt blobs refused,
and never a partial image in the store."""

from __future__ import annotations

import gzip
import json
import os
import tarfile

import pytest

from tests.helpers.docker import layer_tar, write_layout

INSECURE = "--insecure-options=image"
REG, DIR, SYM, LNK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


def assert_nothing_stored(rkt):
    assert rkt("image", "list", "--no-legend").stdout.strip() == ""
    assert list((rkt.dir / "cas" / "tmp").iterdir()) == []


def refuse(rkt, tmp_path, layers, *expect, env=None):
    layout = write_layout(tmp_path / "layout", layers)
    proc = rkt.fails(INSECURE, "fetch", f"oci:{layout}:t1", env=env)
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    for text in expect:
        assert text in proc.stderr, proc.stderr
    assert_nothing_stored(rkt)
    return proc


def extracted(rkt, tmp_path, layers):
    layout = write_layout(tmp_path / "layout", layers)
    image_id = rkt(INSECURE, "fetch", "--full", f"oci:{layout}:t1").stdout.strip()
    out = tmp_path / "out"
    rkt("image", "extract", "--rootfs-only", image_id, out)
    return out


def test_dotdot_member_is_refused(rkt, tmp_path):
    refuse(rkt, tmp_path, [layer_tar([("../escape", REG, b"x", 0o644)])], "'..'")
    assert not (tmp_path / "escape").exists()


def test_write_through_a_symlink_of_the_same_layer_is_refused(rkt, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    refuse(rkt, tmp_path, [layer_tar([("link", SYM, str(outside), 0o777),
                                      ("link/pwned", REG, b"x", 0o644)])], "symlink")
    assert list(outside.iterdir()) == []


def test_upper_layer_dir_replaces_a_lower_symlink(rkt, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = extracted(rkt, tmp_path, [layer_tar([("link", SYM, str(outside), 0o777)]),
                                    layer_tar([("link/file", REG, b"x", 0o644)])])
    assert list(outside.iterdir()) == []
    assert (out / "link").is_dir() and not (out / "link").is_symlink()
    assert (out / "link/file").read_bytes() == b"x"


@pytest.mark.parametrize("name", [".wh..", "sub/.wh..", "../.wh.etc", ".wh."])
def test_bad_whiteouts_are_refused(rkt, tmp_path, name):
    refuse(rkt, tmp_path, [layer_tar([("sub", DIR, None, 0o755), ("f", REG, b"f", 0o644)]),
                           layer_tar([(name, REG, b"", 0o644)])])


def test_whiteouts_only_hide_lower_layers_of_the_image(rkt, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("still here")
    out = extracted(rkt, tmp_path, [
        layer_tar([("etc", DIR, None, 0o755), ("etc/passwd", REG, b"root:x:0:0::/:/bin/sh\n", 0o644),
                   ("tmp", DIR, None, 0o755), ("tmp/x", REG, b"x", 0o644)]),
        layer_tar([(".wh.etc", REG, b"", 0o644), ("tmp/.wh..wh..opq", REG, b"", 0o644),
                   (f"{str(victim).lstrip('/')}/.wh.x", REG, b"", 0o644),
                   ("/.wh.victim", REG, b"", 0o644)]),
    ])
    assert victim.read_text() == "still here"
    assert not (out / "etc").exists()
    assert (out / "tmp").is_dir() and list((out / "tmp").iterdir()) == []


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd", "missing"])
def test_hard_links_must_point_into_the_same_layer(rkt, tmp_path, target):
    refuse(rkt, tmp_path, [layer_tar([("etc", DIR, None, 0o755),
                                      ("etc/passwd", REG, b"p", 0o644)]),
                           layer_tar([("x", LNK, target, 0o644)])])


def test_decompression_bomb_is_stopped(rkt, tmp_path):
    bomb = layer_tar([("zeros", REG, bytes(32 << 20), 0o644)])
    env = {**os.environ, "RKT_MAX_IMAGE_SIZE": "8Mi"}
    refuse(rkt, tmp_path, [bomb], "limit", env=env)


def test_corrupt_layer_blob_is_refused(rkt, tmp_path):
    layout = write_layout(tmp_path / "layout", [layer_tar([("f", REG, b"data", 0o644)])])
    index = json.loads((layout / "index.json").read_text())
    manifest_hex = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs/sha256" / manifest_hex).read_bytes())
    blob = layout / "blobs/sha256" / manifest["layers"][0]["digest"].split(":")[1]
    blob.write_bytes(gzip.compress(layer_tar([("f", REG, b"evil", 0o644)])))
    proc = rkt.fails(INSECURE, "fetch", f"oci:{layout}:t1")
    assert "digest mismatch" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert_nothing_stored(rkt)


def test_zstd_layers_are_refused_clearly(rkt, tmp_path):
    layout = write_layout(tmp_path / "layout", [b"\x28\xb5\x2f\xfd" + bytes(600)], compress=False)
    proc = rkt.fails(INSECURE, "fetch", f"oci:{layout}:t1")
    assert "zstd" in proc.stderr
    assert_nothing_stored(rkt)


def test_unknown_user_is_a_clear_error(rkt, tmp_path):
    layout = write_layout(tmp_path / "layout", [layer_tar([("f", REG, b"x", 0o644)])],
                          config={"Cmd": ["/f"], "User": "nobody-here"})
    proc = rkt.fails(INSECURE, "fetch", f"oci:{layout}:t1")
    assert '"nobody-here" not found' in proc.stderr
    assert_nothing_stored(rkt)
