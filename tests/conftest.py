"""Shared fixtures: an isolated rkt (its own --dir and config dirs), ACI and GPG fixture builders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.gpg import GpgKey
from tests.helpers.output import app_output

REPO = Path(__file__).resolve().parent.parent


class Rkt:
    """Runs the real `rkt` CLI in a subprocess with isolated data and config directories."""

    def __init__(self, root: Path):
        self.root = root
        self.dir = root / "data"
        self.local_config = root / "local"
        self.system_config = root / "system"
        self.user_config = root / "user"
        for d in (self.local_config, self.system_config, self.user_config):
            d.mkdir(parents=True, exist_ok=True)

    @property
    def global_args(self) -> list[str]:
        return [f"--dir={self.dir}", f"--local-config={self.local_config}",
                f"--system-config={self.system_config}", f"--user-config={self.user_config}"]

    def cmd(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "rkt", *self.global_args, *map(str, args)]

    def __call__(self, *args, check: bool | None = True, input: str | bytes | None = None,
                 timeout: float = 120, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
        """Run rkt; with check=True a non-zero exit fails the test showing stderr."""
        proc = subprocess.run(self.cmd(*args), capture_output=True, input=input, timeout=timeout,
                              text=not isinstance(input, bytes), env=env, cwd=kw.pop("cwd", REPO), **kw)
        if any(str(a) in ("run", "run-prepared") for a in args):
            proc = app_output(proc)  # what the apps wrote; raw_stdout keeps the prefixes
        if check and proc.returncode != 0:
            pytest.fail(f"rkt {' '.join(map(str, args))} exited {proc.returncode}\n"
                        f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def fails(self, *args, code: int = 254, **kw) -> subprocess.CompletedProcess:
        """Run rkt expecting exit `code` and a one-line `rkt: ...` error, never a traceback."""
        proc = self(*args, check=False, **kw)
        assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc


@pytest.fixture
def rkt(tmp_path) -> Rkt:
    return Rkt(tmp_path / "rkt")


@pytest.fixture(scope="session")
def gpg_key(tmp_path_factory):
    key = GpgKey(tmp_path_factory.mktemp("gnupg-a"), "Test Signer A <a@example.com>")
    yield key
    key.close()


@pytest.fixture(scope="session")
def other_gpg_key(tmp_path_factory):
    key = GpgKey(tmp_path_factory.mktemp("gnupg-b"), "Test Signer B <b@example.com>")
    yield key
    key.close()


def pytest_configure(config):
    config.addinivalue_line("markers", "root: needs root (real namespaces, mounts)")


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root")
        for item in items:
            if "root" in item.keywords:
                item.add_marker(skip)
