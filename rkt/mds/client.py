"""Registering a pod with the metadata service (stage0 side), over its unix socket."""

from __future__ import annotations

import http.client
import secrets
import socket

from rkt.errors import RktError
from rkt.mds import socket_path


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 5.0):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def _request(method: str, url: str, body: bytes | None = None) -> int:
    path = socket_path()
    conn = _UnixConnection(path)
    try:
        conn.request(method, url, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError as err:
        raise RktError(f"metadata service at {path}: {err.strerror or err}; "
                       "is `rkt metadata-service` running?") from None
    finally:
        conn.close()


def new_token() -> str:
    return secrets.token_hex(32)


def register(uuid: str, token: str, pod_manifest: bytes, image_manifests: dict[str, bytes]) -> None:
    """Register a pod and its apps; raises RktError when the service refuses or is not there."""
    status = _request("PUT", f"/pods/{uuid}?token={token}", pod_manifest)
    if status != 200:
        raise RktError(f"metadata service: registering pod {uuid} failed with HTTP {status}")
    for app, manifest in image_manifests.items():
        status = _request("PUT", f"/pods/{uuid}/{app}", manifest)
        if status != 200:
            _request("DELETE", f"/pods/{uuid}")
            raise RktError(f"metadata service: registering app {app!r} failed with HTTP {status}")


def unregister(uuid: str) -> bool:
    """Forget a pod; True if it was registered. Quietly False when no service runs."""
    try:
        return _request("DELETE", f"/pods/{uuid}") == 200
    except RktError:
        return False


def mds_url(address: str, port: int, token: str) -> str:
    return f"http://{address}:{port}/{token}"


__all__ = ["register", "unregister", "new_token", "mds_url"]
