"""`rkt cat-manifest`: the pod manifest, pretty-printed by default."""

from __future__ import annotations

import json

import pytest

from tests.pod.handmade import make_pod

pytestmark = pytest.mark.root


def test_cat_manifest(rkt, tmp_path):
    pod = make_pod(rkt.dir, "prepared", tmp_path / "log")
    written = json.loads((rkt.dir / "pods" / "prepared" / pod / "pod").read_text())
    out = rkt("cat-manifest", pod).stdout
    assert "\n\t" in out
    manifest = json.loads(out)
    assert manifest["acKind"] == "PodManifest"
    assert manifest["apps"][0]["name"] == written["apps"][0]["name"] == "app"
    assert manifest["apps"][0]["image"]["id"] == written["apps"][0]["image"]["id"]
    compact = rkt("cat-manifest", "--pretty-print=false", pod[:8]).stdout
    assert "\n" not in compact.strip() and json.loads(compact) == manifest
    assert json.loads(rkt("cat-manifest", "--pretty-print", pod).stdout) == manifest
    uuid_file = tmp_path / "uuid"
    uuid_file.write_text(pod)
    assert json.loads(rkt("cat-manifest", f"--uuid-file={uuid_file}").stdout) == manifest


def test_cat_manifest_errors(rkt, tmp_path):
    rkt.fails("cat-manifest", code=254)
    proc = rkt.fails("cat-manifest", "0f746094-3438-42bc-ab37-3cf85f132e60")
    assert "no matches found" in proc.stderr
    pod = make_pod(rkt.dir, "prepared", tmp_path / "log")
    (rkt.dir / "pods" / "prepared" / pod / "pod").write_text('{"acKind": "PodManifest"}')
    proc = rkt.fails("cat-manifest", pod)
    assert "invalid pod manifest" in proc.stderr
    aborted = make_pod(rkt.dir, "prepare", tmp_path / "log", manifest=False)
    proc = rkt.fails("cat-manifest", aborted)
    assert "cannot read pod manifest" in proc.stderr
