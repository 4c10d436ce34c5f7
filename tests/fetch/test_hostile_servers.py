"""Hostile and broken servers: each case ends in a one-line error within bounded time, with
nothing (partial) in the store. Small limits come from the client's environment knobs."""

from __future__ import annotations

import os
import time

import pytest

from tests.fetch.util import discovery_page, page_route, publish, trust
from tests.helpers.aci import manifest, tar_bytes
from tests.helpers.https import serve_bytes
from tests.store.snapshot import store_state

pytestmark = pytest.mark.root

LIMITS = {"RKT_HTTP_TIMEOUT": "3", "RKT_HTTP_LOW_SPEED_TIME": "1", "RKT_HTTP_LOW_SPEED_LIMIT": "2000",
          "RKT_MAX_DOWNLOAD_SIZE": "4Mi"}


@pytest.fixture
def setup(rkt, server, ca_env, gpg_key, tmp_path):
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key)
    trust(rkt, gpg_key, "localhost/app")
    return pub, {**ca_env, **LIMITS}


def _fails_fast(rkt, env, *args, within: float = 20) -> str:
    start = time.monotonic()
    err = rkt.fails(*args, env=env, timeout=within + 30).stderr
    assert time.monotonic() - start < within, err
    assert len(err.strip().splitlines()) == 1, err
    state = store_state(rkt.dir)
    assert state["rows"] == [] and state["blobs"] == [] and state["trees"] == [], state
    assert set(state["tmp"]) <= {"partial"}, state
    return err


def _stream(req, head: bytes, filler: bytes, length: int | None = None, delay: float = 0):
    req.send_response(200)
    if length is None:
        req.send_header("Transfer-Encoding", "chunked")
    else:
        req.send_header("Content-Length", str(length))
    req.end_headers()

    def out(data):
        req.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if length is None else data)
        req.wfile.flush()
    out(head)
    while True:
        out(filler)
        if delay:
            time.sleep(delay)


def test_endless_body(rkt, server, setup):
    pub, env = setup
    tar = tar_bytes(manifest("localhost/app", "1.0.0"), {"etc/hello": b"hi\n"})
    server.routes[pub["aci_route"]] = lambda req: _stream(req, tar, b"\0" * 65536)
    err = _fails_fast(rkt, env, "fetch", "localhost/app:1.0.0")
    assert "larger than the limit of 4194304 bytes" in err
    # a refused body is not kept for resuming
    assert all(n.endswith(".lock") for n in os.listdir(rkt.dir / "cas" / "tmp" / "partial"))


def _serve_aci(pub, req, behaviour: str):
    """The ACI route answering as a broken or hostile server would."""
    data, route = pub["data"], pub["aci_route"]
    if behaviour == "body larger than declared":
        _stream(req, data, data, length=len(data) // 2)
    elif behaviour == "declared size over limit":
        req.send(200, b"x" * 5_000_000)
    elif behaviour == "slow drip":
        _stream(req, data[:10], b"x", length=len(data), delay=0.05)
    elif behaviour == "stalled":
        _stream(req, data[:10], b"", length=len(data), delay=30)
    elif behaviour == "redirect loop":
        req.send(302, b"", {"Location": route})
    elif behaviour == "redirect to plain http":
        req.send(302, b"", {"Location": "http://localhost" + route})


@pytest.mark.parametrize("behaviour, expected", [
    ("body larger than declared", ["localhost/app"]),
    ("declared size over limit", ["declared size 5000000 bytes is over the limit"]),
    ("slow drip", ["slower than 2000 bytes/s"]),
    ("stalled", ["download interrupted"]),
    ("redirect loop", ["too many redirects", "{route}"]),
    ("redirect to plain http", ["redirects to http://localhost", "--insecure-options=http"]),
])
def test_broken_aci_server(rkt, server, setup, behaviour, expected):
    pub, env = setup
    server.routes[pub["aci_route"]] = lambda req: _serve_aci(pub, req, behaviour)
    err = _fails_fast(rkt, env, "fetch", "localhost/app:1.0.0")
    for text in expected:
        assert text.format(route=pub["aci_route"]) in err


def test_huge_discovery_page(rkt, server, setup):
    _, env = setup
    page = b"<html><head>" + b"<!-- padding -->" * 400_000 + discovery_page("localhost/big")
    server.routes[page_route("localhost/big")] = serve_bytes(page)
    err = _fails_fast(rkt, env, "fetch", "localhost/big")
    assert "page cut at 1 MiB" in err


def test_not_found_names_the_url(rkt, server, setup):
    pub, env = setup
    del server.routes[pub["aci_route"]]
    err = _fails_fast(rkt, env, "fetch", "localhost/app:1.0.0")
    assert f"https://localhost{pub['aci_route']}: HTTP 404" in err


def test_missing_signature(rkt, server, setup):
    pub, env = setup
    del server.routes[pub["asc_route"]]
    err = _fails_fast(rkt, env, "fetch", "localhost/app:1.0.0")
    assert "HTTP 404" in err and "--insecure-options=image" in err
    assert not server.requested(pub["aci_route"])
