"""Resumed downloads after a cut connection, and auth.d credentials per host."""

from __future__ import annotations

import json
import os

import pytest

from tests.fetch.util import publish, trust
from tests.helpers.aci import manifest
from tests.helpers.https import serve_bytes
from tests.store.snapshot import store_state

pytestmark = pytest.mark.root


def _big_image(server, tmp_path, gpg_key, **kw):
    # random content so gzip cannot shrink it: the cut lands mid-body
    return publish(server, tmp_path, "localhost/app", key=gpg_key,
                   files={"data": os.urandom(600_000)}, **kw)


def _cut_after(data: bytes, n: int, etag: str):
    def handler(req):
        req.send_response(200)
        req.send_header("Content-Length", str(len(data)))
        req.send_header("ETag", etag)
        req.end_headers()
        req.wfile.write(data[:n])
        req.wfile.flush()
        req.close_connection = True
    return handler


def _partials(rkt) -> list[str]:
    d = rkt.dir / "cas" / "tmp" / "partial"
    return sorted(n for n in os.listdir(d) if not n.endswith((".lock", ".json"))) if d.exists() else []


def test_resume_after_cut_connection(rkt, server, ca_env, gpg_key, tmp_path):
    pub = _big_image(server, tmp_path, gpg_key)
    trust(rkt, gpg_key, "localhost/app")
    full = server.routes[pub["aci_route"]]
    server.routes[pub["aci_route"]] = _cut_after(pub["data"], 200_000, '"v1"')
    err = rkt.fails("fetch", "localhost/app:1.0.0", env=ca_env).stderr
    assert "download interrupted after 200000 of" in err
    assert store_state(rkt.dir)["rows"] == [] and len(_partials(rkt)) == 1
    server.routes[pub["aci_route"]] = full
    rkt("fetch", "localhost/app:1.0.0", env=ca_env)
    last = server.requested(pub["aci_route"])[-1]
    assert last[2]["range"] == "bytes=200000-" and last[2]["if-range"] == '"v1"'
    assert _partials(rkt) == [] and len(store_state(rkt.dir)["rows"]) == 1


@pytest.mark.parametrize("change", ["ignores-range", "new-etag"])
def test_restart_when_resume_is_impossible(rkt, server, ca_env, gpg_key, tmp_path, change):
    pub = _big_image(server, tmp_path, gpg_key)
    trust(rkt, gpg_key, "localhost/app")
    server.routes[pub["aci_route"]] = _cut_after(pub["data"], 200_000, '"v1"')
    rkt.fails("fetch", "localhost/app:1.0.0", env=ca_env)
    if change == "ignores-range":
        server.routes[pub["aci_route"]] = serve_bytes(pub["data"], etag='"v1"', ranges=False)
    else:
        server.routes[pub["aci_route"]] = serve_bytes(pub["data"], etag='"v2"')
    rkt("fetch", "localhost/app:1.0.0", env=ca_env)
    assert len(store_state(rkt.dir)["rows"]) == 1 and _partials(rkt) == []


def _auth(directory, domains, kind, creds):
    d = directory / "auth.d"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{kind}.json").write_text(json.dumps({"rktKind": "auth", "rktVersion": "v1",
                                                "domains": domains, "type": kind,
                                                "credentials": creds}))


def test_auth_headers_per_host_and_not_leaked(rkt, server, ca_env, gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key)
    trust(rkt, gpg_key, "localhost/app")
    # system: basic; local overrides it with a bearer token (system < local)
    _auth(rkt.system_config, ["localhost"], "basic", {"user": "u", "password": "pw-secret"})
    _auth(rkt.local_config, ["localhost"], "oauth", {"token": "tok-secret"})
    # the image itself lives on "another host" (127.0.0.1) the credentials are not for
    image = server.routes.pop(pub["aci_route"])
    server.routes["/elsewhere.aci"] = image
    server.routes[pub["aci_route"]] = lambda req: req.send(
        302, b"", {"Location": "https://127.0.0.1/elsewhere.aci"})
    out = rkt("--debug", "fetch", "localhost/app:1.0.0", env=ca_env)
    sent = {(path.split("?")[0], h.get("authorization")) for _, path, h, _ in server.log}
    assert ("/app", "Bearer tok-secret") in sent
    assert (pub["asc_route"], "Bearer tok-secret") in sent
    assert (pub["aci_route"], "Bearer tok-secret") in sent
    assert ("/elsewhere.aci", None) in sent
    assert "secret" not in out.stderr + out.stdout


def test_url_credentials_never_printed(rkt):
    # Nothing listens on port 1: the fetch fails, with its --debug trace and its error.
    for flags in ((), ("--insecure-options=image",)):
        out = rkt.fails("--debug", *flags, "fetch", "https://u:s3cret@127.0.0.1:1/x.aci")
        assert "image: remote fetching from URL" in out.stderr
        assert "s3cret" not in out.stderr + out.stdout and "u:" not in out.stderr
        assert out.stderr.strip().splitlines()[-1].startswith("rkt: ")
