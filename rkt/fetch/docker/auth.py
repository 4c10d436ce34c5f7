"""Registry credentials: rkt's `auth.d` `dockerAuth` files first, then the standard auth files
of the Docker and containers tools (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/
auth.json`, `~/.docker/config.json`), whose `auths` map a registry to `auth` (base64
`user:password`) or `username`/`password`. Credential helpers (`credsStore`) are not run.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from rkt.errors import RktError
from rkt.fetch.docker.reference import DOCKER_HUB

_HUB_KEYS = ("docker.io", "index.docker.io", DOCKER_HUB)
MAX_AUTH_FILE = 1 << 20


def _aliases(registry: str) -> tuple[str, ...]:
    return _HUB_KEYS if registry == DOCKER_HUB else (registry,)


def _auth_files() -> list[Path]:
    files = []
    if env := os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(env))
    if runtime := os.environ.get("XDG_RUNTIME_DIR"):
        files.append(Path(runtime, "containers", "auth.json"))
    docker_config = os.environ.get("DOCKER_CONFIG")
    if docker_config:
        files.append(Path(docker_config, "config.json"))
    elif home := os.environ.get("HOME"):
        files.append(Path(home, ".docker", "config.json"))
    return files


def _key_host(key: str) -> str:
    """`https://index.docker.io/v1/` -> `index.docker.io`; `host:5000` stays."""
    if "://" in key:
        return urlsplit(key).netloc
    return key.split("/", 1)[0]


def _from_file(path: Path, registry: str) -> tuple[str, str] | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_AUTH_FILE + 1)
    except OSError:
        return None
    if len(data) > MAX_AUTH_FILE:
        raise RktError(f"{path}: larger than {MAX_AUTH_FILE} bytes")
    try:
        auths = json.loads(data).get("auths") or {}
    except (ValueError, AttributeError):
        raise RktError(f"{path}: invalid JSON") from None
    if not isinstance(auths, dict):
        raise RktError(f"{path}: auths is not an object")
    wanted = _aliases(registry)
    for key, entry in auths.items():
        if _key_host(str(key)) not in wanted or not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            try:
                user, colon, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, TypeError):
                raise RktError(f"{path}: auths[{key!r}].auth is not base64 of user:password") from None
            if colon:
                return user, password
        if entry.get("username"):
            return str(entry["username"]), str(entry.get("password", ""))
    return None


def credentials(opts, registry: str) -> tuple[str, str] | None:
    """(user, password) for `registry`, or None for anonymous access."""
    from rkt import config

    merged = config.load(opts)
    for alias in _aliases(registry):
        found = merged.docker_credentials(alias)
        if found is not None:
            return found.user, found.password
    for path in _auth_files():
        found = _from_file(path, registry)
        if found is not None:
            return found
    return None
