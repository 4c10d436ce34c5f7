"""rkt.fetch.http against a real HTTPS server: redirects, credentials, caps, resume, TLS."""

from __future__ import annotations

import json
import os
import time

import pytest

from rkt.fetch.http import Client, HttpConfig, HttpError
from tests.helpers.https import serve_bytes

AUTH = (("localhost", (("Authorization", "Bearer sekrit"),)),)


def test_etag_304_and_max_age(server, ca_env):
    server.routes["/x"] = serve_bytes(b"data", etag='"v1"', max_age=90)
    with Client() as client:
        resp = client.open(server.url("/x"), headers={"If-None-Match": '"v1"'}, ok=(200, 304))
        with resp:
            assert (resp.status, resp.etag, resp.max_age) == (304, '"v1"', 90)


def test_credentials_only_to_their_host(server, ca_env):
    server.routes["/a"] = lambda r: r.send(302, b"", {"Location": "https://127.0.0.1/b"})
    server.routes["/b"] = serve_bytes(b"ok")
    with Client(HttpConfig(auth=AUTH)) as client:
        assert client.get_bytes(server.url("/a"), max_bytes=10).data == b"ok"
        client.get_bytes(server.url("/a"), max_bytes=10, headers={"Authorization": "Basic own"})
    sent = [(path, headers.get("authorization")) for _, path, headers, _ in server.log]
    assert sent == [("/a", "Bearer sekrit"), ("/b", None), ("/a", "Basic own"), ("/b", None)]


def test_redirect_rules(server, ca_env):
    server.routes["/loop"] = lambda r: r.send(302, b"", {"Location": "/loop"})
    server.routes["/down"] = lambda r: r.send(301, b"", {"Location": "http://localhost/x"})
    with Client() as client:
        with pytest.raises(HttpError, match="too many redirects"):
            client.get_bytes(server.url("/loop"), max_bytes=10)
        with pytest.raises(HttpError, match="plain http is refused; use --insecure-options=http"):
            client.get_bytes(server.url("/down"), max_bytes=10)
        with pytest.raises(HttpError, match=r"https://localhost/none: HTTP 404"):
            client.get_bytes(server.url("/none"), max_bytes=10)
        with pytest.raises(HttpError, match="plain http is refused"):
            client.open("http://localhost/x")


def test_caps_and_slow_drip(server, ca_env):
    def endless(req):
        req.send_response(200)
        req.send_header("Transfer-Encoding", "chunked")
        req.end_headers()
        chunk = b"%x\r\n%s\r\n" % (65536, b"z" * 65536)
        while True:
            req.wfile.write(chunk)

    def drip(req):
        req.send_response(200)
        req.send_header("Content-Length", "1000")
        req.end_headers()
        for _ in range(1000):
            req.wfile.write(b"x")
            req.wfile.flush()
            time.sleep(0.1)

    server.routes["/endless"] = endless
    server.routes["/drip"] = drip
    server.routes["/big"] = serve_bytes(b"y" * 5000)
    config = HttpConfig(low_speed_time=1, low_speed_limit=1000, timeout=5)
    with Client(config) as client:
        with pytest.raises(HttpError, match="larger than the limit of 1000000 bytes"):
            body = client.open(server.url("/endless")).body(max_bytes=1_000_000)
            while body.read():
                pass
        with pytest.raises(HttpError, match="declared size 5000 bytes is over the limit"):
            client.get_bytes(server.url("/big"), max_bytes=100)
        assert len(client.get_bytes(server.url("/big"), max_bytes=100, truncate=True).data) == 100
        start = time.monotonic()
        with pytest.raises(HttpError, match="download interrupted after .* slower than"):
            client.get_bytes(server.url("/drip"), max_bytes=10_000)
        assert time.monotonic() - start < 5


def test_resume_and_restart(server, ca_env, tmp_path):
    data = os.urandom(300_000)
    server.routes["/img"] = serve_bytes(data, etag='"e1"')
    partial = tmp_path / "partial"
    partial.write_bytes(data[:100_000])
    (tmp_path / "partial.json").write_text(json.dumps({"url": server.url("/img"), "validator": '"e1"'}))
    with Client() as client:
        body = client.open_resumable(server.url("/img"), partial, max_bytes=10**6)
        out = b"".join(iter(body.read, b""))
        body.finish()
        assert out == data and not partial.exists()
        assert server.log[-1][2]["range"] == "bytes=100000-"
        # The resource changed (new ETag): If-Range makes the server send it whole.
        server.routes["/img"] = serve_bytes(data[::-1], etag='"e2"')
        partial.write_bytes(data[:100_000])
        (tmp_path / "partial.json").write_text(json.dumps({"url": server.url("/img"), "validator": '"e1"'}))
        body = client.open_resumable(server.url("/img"), partial, max_bytes=10**6)
        assert b"".join(iter(body.read, b"")) == data[::-1]
        body.finish()


def test_tls_verification(server, test_ca, monkeypatch):
    server.routes["/x"] = serve_bytes(b"ok")
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(var, raising=False)
    with Client() as client:
        with pytest.raises(HttpError, match="TLS failure: .*--insecure-options=tls"):
            client.get_bytes(server.url("/x"), max_bytes=10)
    with Client(HttpConfig(insecure_tls=True)) as client:
        assert client.get_bytes(server.url("/x"), max_bytes=10).data == b"ok"
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(test_ca.ca_file))
    with Client() as client:
        assert client.get_bytes(server.url("/x"), max_bytes=10).data == b"ok"


def test_scrub_removes_url_credentials_only():
    from rkt.fetch.http import scrub

    assert scrub('from "https://u:p@h:1/x.aci" and HTTP://tok@y/z') == 'from "https://h:1/x.aci" and HTTP://y/z'
    # an @ after the host, or in a docker reference's digest, is not userinfo
    for text in ("https://h/a@b", "docker://busybox@sha256:ab", "docker://r:5000/x@sha256:cd"):
        assert scrub(text) == text
