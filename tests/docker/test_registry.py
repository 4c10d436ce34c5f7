"""`docker://` against a real registry (docker-registry on 127.0.0.1): schema 2 and OCI
manifests, the converted manifest and rootfs, re-fetch, the layer cache, and refusals."""

from __future__ import annotations

import json

import pytest

from tests.docker.conftest import needs_tools
from tests.helpers.docker import APP_SCRIPT

pytestmark = [pytest.mark.root, needs_tools]

INSECURE = "--insecure-options=http,image"


def annotations(manifest: dict) -> dict:
    return {a["name"]: a["value"] for a in manifest.get("annotations", [])}


def cat_manifest(rkt, image_id: str) -> dict:
    return json.loads(rkt("image", "cat-manifest", image_id).stdout)


@pytest.mark.parametrize("tag", ["v2s2", "oci"])
def test_fetch_converts_like_docker2aci(rkt, registry, tag):
    ref = f"docker://{registry.host}/test/app:{tag}"
    image_id = rkt(INSECURE, "fetch", "--full", ref).stdout.strip()
    m = cat_manifest(rkt, image_id)
    assert m["name"] == f"127.0.0.1_{registry.port}/test/app"
    assert {l["name"]: l["value"] for l in m["labels"]} == {
        "version": tag, "os": "linux", "arch": "amd64"}
    app = m["app"]
    assert app["exec"] == ["/bin/sh", "-c", APP_SCRIPT]
    assert (app["user"], app["group"]) == ("1234", "2345")  # "app" from the image's /etc/passwd
    assert app["environment"] == [{"name": "FOO", "value": "bar"}] or \
        {"name": "FOO", "value": "bar"} in app["environment"]
    assert app["workingDirectory"] == "/opq"
    assert app["ports"][0]["name"] == "80-tcp" and app["ports"][0]["port"] == 80
    assert app["mountPoints"] == [{"name": "volume-data", "path": "/data", "readOnly": False}] \
        or app["mountPoints"][0]["path"] == "/data"
    notes = annotations(m)
    assert notes["appc.io/docker/registryurl"] == registry.host
    assert notes["appc.io/docker/repository"] == "test/app"
    assert notes["appc.io/docker/tag"] == tag
    assert notes["appc.io/docker/manifesthash"].startswith("sha256:")
    assert json.loads(notes["appc.io/docker/entrypoint"]) == ["/bin/sh"]


def test_rootfs_has_whiteouts_and_opaque_dirs_applied(rkt, registry, tmp_path):
    ref = f"docker://{registry.host}/test/app:v2s2"
    image_id = rkt(INSECURE, "fetch", "--full", ref).stdout.strip()
    out = tmp_path / "x"
    rkt("image", "extract", "--rootfs-only", image_id, out)
    assert not (out / "gone").exists()                     # .wh.gone
    assert sorted(p.name for p in (out / "opq").iterdir()) == ["c"]  # opaque: a is hidden
    assert sorted(p.name for p in (out / "keep").iterdir()) == ["k", "new"]
    assert (out / "etc/passwd").read_text().startswith("root:")
    assert not list(out.rglob(".wh.*"))


def test_rkt_run_a_registry_image(rkt, registry):
    ref = f"docker://{registry.host}/test/app:oci"
    try:
        proc = rkt(INSECURE, "run", "--net=none", ref, timeout=120)
        lines = proc.stdout.splitlines()
        assert any(l.startswith("uid=1234(app) gid=2345") for l in lines), proc.stdout
        assert "/opq" in lines and "FOO=bar" in lines
        assert "c" in lines and "a" not in lines and "gone" not in lines
    finally:
        rkt("gc", "--grace-period=0s", check=False)


def test_refetch_is_a_noop_and_layers_are_shared(rkt, registry):
    first = rkt(INSECURE, "fetch", "--full", f"docker://{registry.host}/test/app:v2s2").stdout
    cache = rkt.dir / "cas" / "docker" / "sha256"
    before = {p.name: p.stat().st_ino for p in cache.iterdir()}
    assert len(before) == 2  # umoci's layer and the whiteout layer
    again = rkt(INSECURE, "fetch", "--full", f"docker://{registry.host}/test/app:v2s2").stdout
    assert again == first
    assert {p.name: p.stat().st_ino for p in cache.iterdir()} == before
    # the OCI push of the same image shares its layer blobs: nothing new is downloaded
    rkt(INSECURE, "fetch", f"docker://{registry.host}/test/app:oci")
    assert {p.name: p.stat().st_ino for p in cache.iterdir()} == before
    assert len(rkt("image", "list", "--no-legend").stdout.splitlines()) == 2


def test_fetch_by_digest(rkt, registry):
    first = rkt(INSECURE, "fetch", "--full", f"docker://{registry.host}/test/app:v2s2").stdout
    digest = annotations(cat_manifest(rkt, first.strip()))["appc.io/docker/manifesthash"]
    by_digest = rkt(INSECURE, "fetch", "--full", f"docker://{registry.host}/test/app@{digest}")
    m = cat_manifest(rkt, by_digest.stdout.strip())
    assert {l["name"]: l["value"] for l in m["labels"]}["version"] == digest


def test_image_gc_drops_unreferenced_layers(rkt, registry):
    image_id = rkt(INSECURE, "fetch", "--full", f"docker://{registry.host}/test/app:v2s2").stdout
    cache = rkt.dir / "cas" / "docker" / "sha256"
    rkt("image", "gc")
    assert len(list(cache.iterdir())) == 2  # still used by the image
    rkt("image", "rm", image_id.strip())
    rkt("image", "gc")
    assert list(cache.iterdir()) == []


def test_plain_http_needs_the_insecure_option(rkt, registry):
    proc = rkt.fails("--insecure-options=image", "fetch", f"docker://{registry.host}/test/app:oci")
    assert "--insecure-options=http" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_unsigned_docker_images_need_insecure_image(rkt, registry):
    proc = rkt.fails("--insecure-options=http", "fetch", f"docker://{registry.host}/test/app:oci")
    assert "--insecure-options=image" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_unknown_tag_and_repository(rkt, registry):
    proc = rkt.fails(INSECURE, "fetch", f"docker://{registry.host}/test/app:nope")
    assert 'rkt: ' in proc.stderr and '"nope" not found' in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    proc = rkt.fails(INSECURE, "fetch", f"docker://{registry.host}/no/such")
    assert "not found" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert rkt("image", "list", "--no-legend").stdout.strip() == ""


def test_manifest_list_resolves_to_linux_amd64(rkt, registry):
    import requests

    base = f"http://{registry.host}/v2/test/app"
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    resp = requests.get(f"{base}/manifests/v2s2", headers=accept, timeout=10)
    digest, size = resp.headers["Docker-Content-Digest"], len(resp.content)

    def push_list(tag, platforms):
        doc = {"schemaVersion": 2,
               "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
               "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                              "digest": digest, "size": size,
                              "platform": {"os": "linux", "architecture": arch}}
                             for arch in platforms]}
        put = requests.put(f"{base}/manifests/{tag}", data=json.dumps(doc), timeout=10, headers={
            "Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json"})
        assert put.status_code == 201, put.text

    push_list("multi", ["arm64", "amd64"])
    push_list("armonly", ["arm64", "ppc64le"])
    image_id = rkt(INSECURE, "fetch", "--full", f"docker://{registry.host}/test/app:multi")
    m = cat_manifest(rkt, image_id.stdout.strip())
    assert annotations(m)["appc.io/docker/manifesthash"] == digest
    proc = rkt.fails(INSECURE, "fetch", f"docker://{registry.host}/test/app:armonly")
    assert "no linux/amd64" in proc.stderr and "linux/arm64" in proc.stderr
