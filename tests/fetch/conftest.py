"""Fixtures for remote-fetch tests: a test CA, a real HTTPS server on 127.0.0.1:443 (so names
under `localhost/...` discover to it), and an rkt whose subprocess environment trusts that CA."""

from __future__ import annotations

import os

import pytest

from tests.helpers.https import HttpsServer, TestCA


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def server(test_ca):
    if os.geteuid() != 0:
        pytest.skip("binding port 443 needs root")
    with HttpsServer(test_ca) as srv:
        yield srv


@pytest.fixture
def ca_env(test_ca, monkeypatch) -> dict:
    """The environment (also set in this process) under which only the test CA is trusted."""
    env = test_ca.env()
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca_file))
    return env
