"""Local Docker/OCI sources without a registry: `oci:`, `oci-archive:`, `docker-archive:`."""

from __future__ import annotations

import json

import pytest

from tests.docker.conftest import needs_tools
from tests.helpers.docker import APP_SCRIPT, run

pytestmark = [pytest.mark.root, needs_tools]

INSECURE = "--insecure-options=image"


def fetched_manifest(rkt, ref: str, **kw) -> dict:
    image_id = rkt(INSECURE, "fetch", "--full", ref, **kw).stdout.strip()
    return json.loads(rkt("image", "cat-manifest", image_id).stdout)


def labels(m: dict) -> dict:
    return {l["name"]: l["value"] for l in m["labels"]}


def test_oci_layout_with_and_without_tag(rkt, layout):
    m = fetched_manifest(rkt, f"oci:{layout}:t1")
    assert m["name"] == "layout" and labels(m)["version"] == "t1"
    assert m["app"]["exec"] == ["/bin/sh", "-c", APP_SCRIPT]
    assert (m["app"]["user"], m["app"]["group"]) == ("1234", "2345")
    again = fetched_manifest(rkt, f"oci:{layout}")  # the only image in the layout
    assert again["annotations"] == m["annotations"]


def test_oci_layout_unknown_tag(rkt, layout):
    proc = rkt.fails(INSECURE, "fetch", f"oci:{layout}:nope")
    assert 'no image tagged "nope"' in proc.stderr and "t1" in proc.stderr


def test_oci_archive(rkt, layout, tmp_path):
    archive = tmp_path / "app.tar"
    run("skopeo", "copy", f"oci:{layout}:t1", f"oci-archive:{archive}:t1")
    m = fetched_manifest(rkt, f"oci-archive:{archive}")
    assert m["name"] == "app" and m["app"]["workingDirectory"] == "/opq"


def test_docker_archive(rkt, layout, tmp_path):
    archive = tmp_path / "saved.tar"
    run("skopeo", "copy", f"oci:{layout}:t1", f"docker-archive:{archive}:example.com/test/app:t1")
    m = fetched_manifest(rkt, f"docker-archive:{archive}")
    assert m["name"] == "example.com/test/app" and labels(m)["version"] == "t1"
    assert m["app"]["environment"][0] == {"name": "FOO", "value": "bar"}
    out = tmp_path / "rootfs"
    rkt("image", "extract", "--rootfs-only", "example.com/test/app:t1", out)
    assert sorted(p.name for p in (out / "opq").iterdir()) == ["c"]
    assert not (out / "gone").exists()


def test_missing_sources_are_one_line_errors(rkt, tmp_path):
    for ref in (f"oci:{tmp_path}/none", f"oci-archive:{tmp_path}/none.tar",
                f"docker-archive:{tmp_path}/none.tar", "oci:"):
        proc = rkt.fails(INSECURE, "fetch", ref)
        assert len(proc.stderr.splitlines()) == 1, proc.stderr
