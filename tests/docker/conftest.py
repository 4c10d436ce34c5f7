"""Session fixtures for Docker/OCI tests: an OCI layout built with umoci, and real registries
on 127.0.0.1 (open, htpasswd basic auth, token auth) sharing one storage dir, into which the
layout is pushed once with skopeo as Docker schema 2 and as OCI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import docker as dk
from tests.helpers.https import TestCA

USER, PASSWORD = "rkt-user", "s3cret-pass"

needs_tools = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in
                                 ("umoci", "skopeo", "docker-registry", "htpasswd")),
    reason="needs root, umoci, skopeo, docker-registry and htpasswd (make deps)")


@pytest.fixture(scope="session")
def layout(tmp_path_factory) -> Path:
    if os.geteuid() != 0:
        pytest.skip("umoci unpack needs root")
    return dk.build_layout(tmp_path_factory.mktemp("oci"))


@pytest.fixture(scope="session")
def storage(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("registry-storage")


@pytest.fixture(scope="session")
def registry(tmp_path_factory, storage, layout):
    """An open registry holding test/app:v2s2, test/app:oci, public/app:t1 and private/app:t1."""
    reg = dk.Registry(tmp_path_factory.mktemp("registry"), storage)
    try:
        src = f"oci:{layout}:t1"
        reg.push(src, "test/app:v2s2", "v2s2")
        reg.push(src, "test/app:oci", "oci")
        reg.push(src, "public/app:t1", "v2s2")
        reg.push(src, "private/app:t1", "v2s2")
        yield reg
    finally:
        reg.close()


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory, storage, registry):
    root = tmp_path_factory.mktemp("basic-registry")
    path = dk.htpasswd(root / "htpasswd", USER, PASSWORD)
    reg = dk.Registry(root, storage, {"htpasswd": {"realm": "rkt-test", "path": str(path)}})
    yield reg
    reg.close()


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory, storage, registry):
    root = tmp_path_factory.mktemp("token-registry")
    tokens = dk.TokenServer(root, USER, PASSWORD)
    try:
        reg = dk.Registry(root, storage, tokens.auth_section())
        reg.tokens = tokens
        yield reg
        reg.close()
    finally:
        tokens.close()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory, storage, registry):
    """The same images over HTTPS, with a certificate from a test CA (`.ca`)."""
    ca = TestCA(tmp_path_factory.mktemp("registry-ca"))
    reg = dk.Registry(tmp_path_factory.mktemp("tls-registry"), storage, tls=ca)
    reg.ca = ca
    yield reg
    reg.close()
