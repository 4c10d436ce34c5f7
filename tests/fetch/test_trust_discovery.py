"""Public keys from discovery: `rkt trust --prefix P` without a key file, https key URLs, and
`--trust-keys-from-https` on fetch."""

from __future__ import annotations

import pytest

from tests.fetch.util import discovery_page, page_route, publish
from tests.helpers.https import serve_bytes

pytestmark = pytest.mark.root


def _serve_key(server, key, tmp_path, route="/keys/pubkeys.gpg"):
    server.routes[route] = serve_bytes(key.export(tmp_path / "pub.asc").read_bytes())
    return server.url(route)


def test_trust_prefix_discovers_keys(rkt, server, ca_env, gpg_key, tmp_path):
    url = _serve_key(server, gpg_key, tmp_path)
    server.routes[page_route("localhost/app")] = serve_bytes(
        discovery_page("localhost/app", pubkeys=url))
    out = rkt("trust", "--prefix", "localhost/app", "--skip-fingerprint-review", env=ca_env)
    assert f'key: "{url}"' in out.stderr
    stored = rkt.local_config / "trustedkeys" / "prefix.d" / "localhost/app" / gpg_key.fingerprint.lower()
    assert stored.exists()
    assert "without fingerprint review" in out.stdout


def test_trust_prefix_review_needs_a_tty(rkt, server, ca_env, gpg_key, tmp_path):
    url = _serve_key(server, gpg_key, tmp_path)
    server.routes[page_route("localhost/app")] = serve_bytes(discovery_page("localhost/app", pubkeys=url))
    err = rkt.fails("trust", "--prefix", "localhost/app", env=ca_env).stderr
    assert "--skip-fingerprint-review" in err
    assert not (rkt.local_config / "trustedkeys").exists()


def test_trust_prefix_without_keys_lists_urls(rkt, server, ca_env):
    err = rkt.fails("trust", "--prefix", "localhost/none", env=ca_env).stderr
    assert "https://localhost/none?ac-discovery=1" in err and "https://localhost?ac-discovery=1" in err


def test_trust_https_key_url(rkt, server, ca_env, gpg_key, tmp_path):
    url = _serve_key(server, gpg_key, tmp_path)
    rkt("trust", "--prefix", "localhost/app", "--skip-fingerprint-review", url, env=ca_env)
    assert (rkt.local_config / "trustedkeys" / "prefix.d" / "localhost/app").is_dir()


def test_trust_keys_from_https_on_fetch(rkt, server, ca_env, gpg_key, tmp_path):
    url = _serve_key(server, gpg_key, tmp_path)
    pub = publish(server, tmp_path, "localhost/app", key=gpg_key, page=False)
    server.routes[page_route("localhost/app")] = serve_bytes(discovery_page("localhost/app", pubkeys=url))
    err = rkt.fails("fetch", "localhost/app:1.0.0", env=ca_env).stderr
    assert "rkt trust --prefix localhost/app" in err
    assert not server.requested(pub["aci_route"])
    rkt("--trust-keys-from-https", "fetch", "localhost/app:1.0.0", env=ca_env)
    assert server.requested(pub["aci_route"])
