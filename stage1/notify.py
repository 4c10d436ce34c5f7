"""sd_notify inside the pod: a NOTIFY_SOCKET for every app whose image says it speaks it.

An image annotated `appc.io/executor/supports-systemd-notify` = `true` gets its own datagram
socket (abstract, in the pod's network namespace). The pod is ready once every app started and
every such app sent READY=1 (rkt: its stage1 systemd reached its default target); then the
relay marks `rkt/supervisor-status` ready and the host's NOTIFY_SOCKET gets READY=1. STATUS=,
WATCHDOG=1, STOPPING=1 and the like go to the host when an app sends them; MAINPID= and file
descriptor stores never do (pod pids mean nothing there). The waiting parent of `rkt run`
(systemd's main pid) does the host send, so `NotifyAccess=main` suffices.
"""

from __future__ import annotations

import os

ANNOTATION = "appc.io/executor/supports-systemd-notify"
# what an app may tell the host; READY=1 is held back until the whole pod is ready
FORWARDED = (b"STATUS=", b"WATCHDOG=1", b"STOPPING=1", b"RELOADING=1", b"ERRNO=",
             b"EXTEND_TIMEOUT_USEC=", b"WATCHDOG_USEC=")
SUPERVISOR_STATUS = "rkt/supervisor-status"


def supports_notify(image_manifest: dict) -> bool:
    """rkt's supportsNotify: the annotation parses as a true boolean (Go's strconv.ParseBool)."""
    for annotation in image_manifest.get("annotations") or []:
        if isinstance(annotation, dict) and annotation.get("name") == ANNOTATION:
            return str(annotation.get("value")) in ("1", "t", "T", "true", "TRUE", "True")
    return False


def socket_name(uuid: str, index: int) -> str:
    """The app's NOTIFY_SOCKET value (`@` = Linux abstract namespace)."""
    return f"@rkt/{uuid}/notify/{index}"


def bind(uuid: str, index: int):
    """The app's socket, bound before the app starts (so its first sd_notify cannot be lost).
    SO_PASSCRED tells senders in the pod (pid > 0) from host processes (pid 0): with
    --net=host the abstract name is visible on the host."""
    import _socket
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_PASSCRED, 1)
    sock.bind("\0" + socket_name(uuid, index)[1:])
    sock.setblocking(False)
    return sock


class Readiness:
    """Tracks which apps still owe READY=1 and turns app messages into host messages."""

    def __init__(self, notify_apps: list[str], stage1_rootfs: str):
        self.waiting = set(notify_apps)
        self.started = False
        self.ready = False
        self.marker = f"{stage1_rootfs}/{SUPERVISOR_STATUS}"

    def receive(self, sock, app: str) -> list[bytes]:
        """Read one datagram from `app`'s socket; the messages for the host."""
        import _socket
        try:
            data, ancdata, _flags, _addr = sock.recvmsg(4096, _socket.CMSG_SPACE(12))
        except (BlockingIOError, InterruptedError):
            return []
        pid = 0
        for level, kind, payload in ancdata:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_CREDENTIALS and len(payload) >= 4:
                pid = int.from_bytes(payload[:4], "little")
        if pid == 0:
            return []  # not from the pod
        out = []
        for line in data.split(b"\n"):
            if line == b"READY=1":
                self.waiting.discard(app)
            elif line.startswith(FORWARDED):
                out.append(line)
        return out + self._check()

    def apps_started(self) -> list[bytes]:
        self.started = True
        return self._check()

    def _check(self) -> list[bytes]:
        if self.ready or not self.started or self.waiting:
            return []
        self.ready = True
        try:
            os.symlink("ready", self.marker + ".tmp")
            os.rename(self.marker + ".tmp", self.marker)
        except OSError:
            pass
        return [b"READY=1"]


def connect_host(address: str | None):
    """The host's NOTIFY_SOCKET, connected before the pod gets its own network namespace (an
    abstract address lives in the host's); None without one."""
    if not address or address[0] not in "/@":
        return None
    import _socket
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        sock.connect("\0" + address[1:] if address[0] == "@" else address)
    except OSError:
        sock.close()
        return None
    return sock


def forward(packet_fd: int, host_sock) -> bool:
    """In the waiting parent: one packet from the relay to the host; False at EOF."""
    try:
        data = os.read(packet_fd, 4096)
    except InterruptedError:
        return True
    if not data:
        return False
    try:
        host_sock.send(data)
    except OSError:
        pass
    return True
