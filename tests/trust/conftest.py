"""Fixtures for trust tests: trust stores in tmp dirs, signed ACIs, expired and revoked keys."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from rkt.options import GlobalOptions
from tests.helpers.aci import make_aci, manifest
from tests.helpers.gpg import GpgKey


class Store:
    """A local and a system config dir, and helpers to place keys the way rkt lays them out."""

    def __init__(self, root: Path):
        self.local = root / "local"
        self.system = root / "system"
        self.opts = GlobalOptions(local_config=self.local, system_config=self.system)

    def key_path(self, key: GpgKey, prefix: str | None = None, system: bool = False) -> Path:
        base = (self.system if system else self.local) / "trustedkeys"
        d = base / "root.d" if prefix is None else base / "prefix.d" / prefix
        return d / key.fingerprint.lower()

    def place(self, key: GpgKey, prefix: str | None = None, system: bool = False) -> Path:
        path = self.key_path(key, prefix, system)
        path.parent.mkdir(parents=True, exist_ok=True)
        return key.export(path)

    def mask(self, key: GpgKey, prefix: str | None = None) -> Path:
        path = self.key_path(key, prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
        return path


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "config")


@pytest.fixture
def signed_aci(tmp_path, gpg_key):
    """make(name, key=gpg_key) -> (aci, asc): an ACI named `name` signed by `key`."""
    def make(name: str = "example.com/app", key: GpgKey | None = None):
        aci = tmp_path / f"{name.replace('/', '_')}.aci"
        make_aci(aci, manifest(name), {"etc/hello": b"hi\n"})
        return aci, (key or gpg_key).sign(aci)
    return make


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Route Python's temporary files here, to check verification leaves nothing behind."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def _gpg(home: Path, *args: str, **kw):
    return subprocess.run(["gpg", "--batch", "--homedir", str(home), "--pinentry-mode", "loopback",
                           *args], check=True, capture_output=True, text=True, **kw)


class SpecialKey(GpgKey):
    """A GpgKey made at a faked time and with an expiry, or revoked after signing."""

    def __init__(self, home: Path, uid: str, faked_time: str | None = None, expire: str = "never"):
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.home, 0o700)
        self.uid = uid
        self.faked = ["--faked-system-time", faked_time] if faked_time else []
        _gpg(self.home, *self.faked, "--quick-gen-key", "--passphrase", "", uid, "ed25519", "sign", expire)
        out = _gpg(self.home, *self.faked, "--with-colons", "--list-keys", uid).stdout
        self.fingerprint = next(l.split(":")[9] for l in out.splitlines() if l.startswith("fpr:"))

    def _gpg(self, *args, **kw):
        return _gpg(self.home, *self.faked, *args, **kw)

    def revoke(self) -> None:
        cert = (self.home / "openpgp-revocs.d" / f"{self.fingerprint}.rev").read_text()
        cert = cert.replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----")
        _gpg(self.home, "--import", input=cert)


@pytest.fixture(scope="session")
def expired_key(tmp_path_factory):
    # Made and used for signing in January 2020, expired a day later.
    key = SpecialKey(tmp_path_factory.mktemp("gnupg-expired"), "Expired <x@example.com>",
                     faked_time="20200101T000000", expire="1d")
    yield key
    key.close()


@pytest.fixture
def revoked_key(tmp_path):
    """A key still unrevoked: sign with it, then call revoke() and export it."""
    key = SpecialKey(tmp_path / "gnupg-revoked", "Revoked <r@example.com>")
    yield key
    key.close()


def gpg_agents_for(marker: str) -> list[str]:
    """Command lines of running gpg-agent/dirmngr processes whose arguments mention `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if ("gpg-agent" in cmdline or "dirmngr" in cmdline) and marker in cmdline:
            found.append(cmdline)
    return found
