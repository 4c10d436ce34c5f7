"""`rkt image build` through the real CLI: output, compression, overwrite and bad layouts."""

from __future__ import annotations

import json
import os

import pytest

from rkt.aci import detect_compression, import_stream
from tests.helpers.aci import make_layout


@pytest.fixture
def layout(tmp_path):
    return make_layout(tmp_path)


def test_build_then_import(rkt, layout, tmp_path):
    out = tmp_path / "out.aci"
    proc = rkt("image", "build", layout, out)
    assert proc.stdout == "" and proc.stderr == ""
    assert detect_compression(out.read_bytes()[:512]) == "gzip"
    result = import_stream(out, dest=tmp_path / "dest")
    assert result.manifest.name == "example.com/built"
    assert (tmp_path / "dest/rootfs/bin/hello").read_bytes() == b"#!/bin/sh\necho hi\n"


def test_build_uncompressed_and_deterministic(rkt, layout, tmp_path):
    rkt("image", "build", "--compression=none", layout, tmp_path / "a.aci")
    rkt("image", "build", "--compression", "none", layout, tmp_path / "b.aci")
    data = (tmp_path / "a.aci").read_bytes()
    assert detect_compression(data[:512]) == "none"
    assert data == (tmp_path / "b.aci").read_bytes()


def test_refuses_to_overwrite_without_flag(rkt, layout, tmp_path):
    out = tmp_path / "out.aci"
    out.write_bytes(b"precious")
    proc = rkt.fails("image", "build", layout, out)
    assert proc.stderr.startswith("rkt: ") and "--overwrite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"precious"
    rkt("image", "build", "--overwrite", layout, out)
    assert import_stream(out).manifest.name == "example.com/built"


def test_bad_compression_is_a_usage_error(rkt, layout, tmp_path):
    rkt.fails("image", "build", "--compression=zstd", layout, tmp_path / "o.aci", code=254)
    assert not (tmp_path / "o.aci").exists()


@pytest.mark.parametrize("breakage, message", [
    ("extra", "unrecognized file path in layout: 'extra'"),
    ("no-manifest", "no image manifest"),
    ("no-rootfs", "no rootfs"),
    ("rootfs-file", "rootfs is not a directory"),
    ("manifest-symlink", "manifest is not a regular file"),
    ("bad-manifest", "manifest: "),
    ("bad-json", "manifest: "),
])
def test_invalid_layouts_are_refused(rkt, layout, tmp_path, breakage, message):
    if breakage == "extra":
        (layout / "extra").write_text("x")
    elif breakage == "no-manifest":
        (layout / "manifest").unlink()
    elif breakage == "no-rootfs":
        (layout / "rootfs/bin/hello").unlink()
        (layout / "rootfs/bin").rmdir()
        (layout / "rootfs").rmdir()
    elif breakage == "rootfs-file":
        os.rename(layout / "rootfs", tmp_path / "moved")
        (layout / "rootfs").write_text("file")
    elif breakage == "manifest-symlink":
        os.rename(layout / "manifest", tmp_path / "m")
        (layout / "manifest").symlink_to(tmp_path / "m")
    elif breakage == "bad-manifest":
        (layout / "manifest").write_text(json.dumps({"acKind": "ImageManifest"}))
    else:
        (layout / "manifest").write_text("{")
    out = tmp_path / "out.aci"
    proc = rkt.fails("image", "build", layout, out)
    assert message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".out.aci")] == []


def test_missing_layout(rkt, tmp_path):
    proc = rkt.fails("image", "build", tmp_path / "nope", tmp_path / "o.aci")
    assert "No such file or directory" in proc.stderr
