"""Registry TLS and authentication against real registries: HTTPS with a test CA, htpasswd
basic auth and the token flow
(a JWT token server signing with a test certificate the registry trusts), with credentials
from rkt's auth.d `dockerAuth`, `$REGISTRY_AUTH_FILE` and `~/.docker/config.json`."""

from __future__ import annotations

import base64
import json
import os

import pytest

from tests.docker.conftest import PASSWORD, USER, needs_tools

pytestmark = [pytest.mark.root, needs_tools]

INSECURE = "--insecure-options=http,image"


def docker_auth(rkt, registry: str, user: str, password: str) -> None:
    auth_d = rkt.local_config / "auth.d"
    auth_d.mkdir(exist_ok=True)
    (auth_d / "registry.json").write_text(json.dumps({
        "rktKind": "dockerAuth", "rktVersion": "v1", "registries": [registry],
        "credentials": {"user": user, "password": password}}))


def auths_file(path, registry: str, user: str, password: str) -> dict:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {registry: {"auth": token}}}))
    return {**os.environ, "REGISTRY_AUTH_FILE": str(path)}


def test_basic_auth_needs_credentials(rkt, basic_registry):
    proc = rkt.fails(INSECURE, "fetch", f"docker://{basic_registry.host}/test/app:v2s2")
    assert "unauthorized" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_basic_auth_with_rkt_docker_auth(rkt, basic_registry):
    docker_auth(rkt, basic_registry.host, USER, PASSWORD)
    rkt(INSECURE, "fetch", f"docker://{basic_registry.host}/test/app:v2s2")


def test_basic_auth_wrong_password(rkt, basic_registry):
    docker_auth(rkt, basic_registry.host, USER, "wrong")
    proc = rkt.fails(INSECURE, "fetch", f"docker://{basic_registry.host}/test/app:v2s2")
    assert "unauthorized" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_basic_auth_with_registry_auth_file(rkt, basic_registry, tmp_path):
    env = auths_file(tmp_path / "auth.json", basic_registry.host, USER, PASSWORD)
    rkt(INSECURE, "fetch", f"docker://{basic_registry.host}/test/app:v2s2", env=env)


def test_token_auth_anonymous_pull_of_a_public_repository(rkt, token_registry):
    rkt(INSECURE, "fetch", f"docker://{token_registry.host}/public/app:t1")
    assert token_registry.tokens.server.requested("/token")


def test_token_auth_private_repository_needs_credentials(rkt, token_registry):
    proc = rkt.fails(INSECURE, "fetch", f"docker://{token_registry.host}/private/app:t1")
    assert "unauthorized" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_token_auth_with_docker_config_json(rkt, token_registry, tmp_path):
    home = tmp_path / "home"
    (home / ".docker").mkdir(parents=True)
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (home / ".docker" / "config.json").write_text(json.dumps(
        {"auths": {f"http://{token_registry.host}": {"auth": token}}}))
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG")}
    rkt(INSECURE, "fetch", f"docker://{token_registry.host}/private/app:t1",
        env={**env, "HOME": str(home)})
    sent = [e[2].get("authorization", "") for e in token_registry.tokens.server.requested("/token")]
    assert any(s.startswith("Basic ") for s in sent)


def test_token_auth_bad_credentials(rkt, token_registry):
    docker_auth(rkt, token_registry.host, USER, "wrong")
    proc = rkt.fails(INSECURE, "fetch", f"docker://{token_registry.host}/private/app:t1")
    assert "credentials rejected" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_https_registry_verified_against_the_ca(rkt, tls_registry):
    env = tls_registry.ca.env()
    rkt("--insecure-options=image", "fetch", f"docker://{tls_registry.host}/test/app:oci", env=env)


def test_https_registry_with_an_untrusted_certificate(rkt, tls_registry):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR")}
    proc = rkt.fails("--insecure-options=image", "fetch",
                     f"docker://{tls_registry.host}/test/app:oci", env=env)
    assert "TLS" in proc.stderr and "--insecure-options=tls" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    rkt("--insecure-options=image,tls", "fetch", f"docker://{tls_registry.host}/test/app:oci",
        env=env)
