"""Registry answers a real docker-registry never gives on demand (rate limits, schema 1,
blobs that do not match their digest), from a scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import tarfile

import pytest

from tests.helpers.docker import layer_tar
from tests.helpers.https import HttpsServer

INSECURE = "--insecure-options=http,image"


@pytest.fixture
def fake():
    with HttpsServer(None, port=0, tls=False) as srv:
        srv.routes["/v2/"] = lambda req: req.send(200, b"{}")
        srv.host = f"127.0.0.1:{srv.port}"
        yield srv


def manifest_route(srv, repo, tag, doc, content_type):
    body = json.dumps(doc).encode()
    srv.routes[f"/v2/{repo}/manifests/{tag}"] = lambda req: req.send(
        200, body, {"Content-Type": content_type})


def test_rate_limit_reports_the_reset_hint(rkt, fake):
    fake.routes["/v2/x/app/manifests/latest"] = lambda req: req.send(
        429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}',
        {"Retry-After": "3600", "RateLimit-Limit": "100;w=21600", "RateLimit-Remaining": "0;w=21600"})
    proc = rkt.fails(INSECURE, "fetch", f"docker://{fake.host}/x/app")
    assert "rate limit exceeded" in proc.stderr and "retry after 3600s" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_schema1_is_refused(rkt, fake):
    manifest_route(fake, "x/app", "latest", {"schemaVersion": 1, "name": "x/app", "tag": "latest",
                                             "fsLayers": [], "history": []},
                   "application/vnd.docker.distribution.manifest.v1+prettyjws")
    proc = rkt.fails(INSECURE, "fetch", f"docker://{fake.host}/x/app")
    assert "schema 1" in proc.stderr and len(proc.stderr.splitlines()) == 1


def serve_small_image(fake, tag: str = "latest") -> tuple[str, bytes]:
    """A one-layer schema 2 image x/app:TAG on the fake registry; (layer digest, layer)."""
    layer = layer_tar([("f", tarfile.REGTYPE, b"data", 0o644)])
    good = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"os": "linux", "architecture": "amd64",
                         "rootfs": {"type": "layers", "diff_ids": [good]}}).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest_route(fake, "x/app", tag, {
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar",
                    "digest": good, "size": len(layer)}]},
        "application/vnd.docker.distribution.manifest.v2+json")
    fake.routes[f"/v2/x/app/blobs/{config_digest}"] = lambda req: req.send(200, config)
    fake.routes[f"/v2/x/app/blobs/{good}"] = lambda req: req.send(200, layer)
    return good, layer


def test_pull_policies_as_rkt(rkt, fake):
    # rkt 1.30 (maybeCheckRemoteFromStore): `new` and `never` use the stored image of that
    # reference without asking the registry; `update` (rkt fetch's default) asks again.
    serve_small_image(fake)
    ref = f"docker://{fake.host}/x/app"
    err = rkt.fails(INSECURE, "fetch", "--pull-policy=never", ref).stderr
    assert "--pull-policy=never" in err and not fake.log
    first = rkt(INSECURE, "fetch", "--full", ref).stdout
    n = len(fake.log)
    for policy in ("new", "never"):
        assert rkt(INSECURE, "fetch", "--full", f"--pull-policy={policy}", ref).stdout == first
    assert len(fake.log) == n
    assert rkt(INSECURE, "fetch", "--full", ref).stdout == first
    assert any("/manifests/latest" in e[1] for e in fake.log[n:])


def test_blob_digest_mismatch_is_refused(rkt, fake):
    good, layer = serve_small_image(fake)
    fake.routes[f"/v2/x/app/blobs/{good}"] = lambda req: req.send(200, layer.replace(b"data",
                                                                                     b"evil"))
    proc = rkt.fails(INSECURE, "fetch", f"docker://{fake.host}/x/app")
    assert "digest mismatch" in proc.stderr and len(proc.stderr.splitlines()) == 1
    assert rkt("image", "list", "--no-legend").stdout.strip() == ""
    assert not list((rkt.dir / "cas" / "docker" / "sha256").glob("*"))
    # the good blob converts
    fake.routes[f"/v2/x/app/blobs/{good}"] = lambda req: req.send(200, layer)
    rkt(INSECURE, "fetch", f"docker://{fake.host}/x/app")


def test_unauthorized_without_a_challenge_is_one_line(rkt, fake):
    fake.routes["/v2/x/app/manifests/latest"] = lambda req: req.send(
        401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}')
    proc = rkt.fails(INSECURE, "fetch", f"docker://{fake.host}/x/app")
    assert "unauthorized" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_layer_progress_bar_only_on_a_tty(rkt, fake):
    from tests.helpers.tty import run_on_tty

    good, _ = serve_small_image(fake)
    ref = f"docker://{fake.host}/x/app"
    quiet = rkt(INSECURE, "fetch", "--full", ref)  # stderr is a pipe here: no bar
    assert "Downloading" not in quiet.stderr and fake.requested(f"/v2/x/app/blobs/{good}")
    rkt("image", "rm", quiet.stdout.strip())
    rkt("image", "gc")  # drops the layer no image uses: the next fetch downloads it again
    code, shown = run_on_tty(rkt.cmd(INSECURE, "fetch", ref), timeout=120)
    assert code == 0, shown
    assert f"Downloading layer {good[7:19]}: [".encode() in shown and b"B/s" in shown
