"""Telling the metadata service a pod is gone, so its token stops answering at once.

stage0 registers a pod (`--mds-register`) and passes the token as `--mds-token`; when the pod's
last process has exited, stage1 removes the registration with one DELETE over the service's
root-only unix socket. Best effort: a service that is not running has nothing to forget.
"""

import os
import socket

DEFAULT_SOCKET = "/run/rkt/metadata-svc.sock"


def unregister(uuid: str) -> None:
    path = os.environ.get("RKT_MDS_SOCKET", DEFAULT_SOCKET)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(path)
            sock.sendall(f"DELETE /pods/{uuid} HTTP/1.1\r\nHost: localhost\r\n"
                         "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
            sock.recv(256)
    except OSError:
        pass
