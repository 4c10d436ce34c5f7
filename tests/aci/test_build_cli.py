"""`rkt image build` through the real CLI, and build_aci's layout checks."""

from __future__ import annotations

import io
import json
import os

import pytest

from rkt.aci import build_aci, detect_compression, import_stream
from rkt.errors import RktError
from tests.helpers.aci import manifest


@pytest.fixture
def layout(tmp_path):
    layout = tmp_path / "layout"
    (layout / "rootfs/bin").mkdir(parents=True)
    (layout / "rootfs/bin/hello").write_bytes(b"#!/bin/sh\necho hi\n")
    (layout / "manifest").write_text(json.dumps(manifest("example.com/built")))
    return layout


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


def test_output_inside_layout_is_refused(layout):
    with pytest.raises(RktError, match="inside the layout"):
        build_aci(layout, layout / "rootfs/self.aci")
    assert not (layout / "rootfs/self.aci").exists()


def test_missing_layout(rkt, tmp_path):
    proc = rkt.fails("image", "build", tmp_path / "nope", tmp_path / "o.aci")
    assert "No such file or directory" in proc.stderr


def test_long_names_and_big_ids_survive(layout, tmp_path):
    """Names past ustar's 100/155 limits and ids past 7 octal digits go through PAX records."""
    deep = layout / "rootfs" / ("x" * 150) / ("y" * 150)
    deep.mkdir(parents=True)
    (deep / ("z" * 200)).write_bytes(b"deep")
    os.symlink("t" * 300, layout / "rootfs/longlink")
    os.chown(layout / "rootfs/bin/hello", 3_000_000, 4_000_000)
    out = tmp_path / "o.aci"
    build_aci(layout, out, "none")
    dest = tmp_path / "d"
    import_stream(io.BytesIO(out.read_bytes()), dest=dest)
    assert (dest / "rootfs" / ("x" * 150) / ("y" * 150) / ("z" * 200)).read_bytes() == b"deep"
    assert os.readlink(dest / "rootfs/longlink") == "t" * 300
    st = os.stat(dest / "rootfs/bin/hello")
    assert (st.st_uid, st.st_gid) == (3_000_000, 4_000_000)
