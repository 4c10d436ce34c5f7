"""Socket activation: listening sockets `rkt run` got from systemd, handed to the apps.

systemd (a .socket unit, or systemd-socket-activate) starts `rkt run` with LISTEN_FDS sockets
from fd 3 and LISTEN_PID = its pid, which stage0's exec keeps for stage1's run entrypoint. Each
socket goes to the app port marked `socketActivated` whose port it listens on: the host port
`--port NAME:PORT` published it on, else the app's own port, and TCP for stream sockets, UDP
for datagram ones (rkt's pod systemd matched its .socket units the same way). The app gets them
from fd 3 with LISTEN_FDS, LISTEN_PID (its pid inside the pod) and LISTEN_FDNAMES (its port
names); a socket no port wants is closed. A `socketActivated` port no passed socket serves gets
one bound by the pod itself, in the pod's network on the app's port (rkt's pod systemd bound its
.socket unit then), so such an app runs the same when `rkt run` is started by hand.
"""

from __future__ import annotations

import fcntl  # here, not in install: after pivot_root nothing can be imported
import os

SD_LISTEN_FDS_START = 3


def inherited(environ) -> list[tuple[int, str]]:
    """The (fd, name) pairs passed to this process; they stop being inherited by anything we
    exec until an app claims them. The variables are removed, as sd_listen_fds(unset=1) does."""
    fds_raw, pid_raw = environ.pop("LISTEN_FDS", ""), environ.pop("LISTEN_PID", "")
    names_raw = environ.pop("LISTEN_FDNAMES", "")
    try:
        count, pid = int(fds_raw), int(pid_raw)
    except ValueError:
        return []
    if pid != os.getpid() or count <= 0:
        return []
    names = names_raw.split(":") if names_raw else []
    out = []
    for i in range(count):
        fd = SD_LISTEN_FDS_START + i
        try:
            os.set_inheritable(fd, False)
        except OSError:
            continue
        out.append((fd, names[i] if i < len(names) else "unknown"))
    return out


def _local_port(fd: int) -> tuple[str, int] | None:
    """("tcp"|"udp", port) of a listening INET socket."""
    import _socket
    sock = _socket.socket(fileno=os.dup(fd))
    try:
        if sock.family not in (_socket.AF_INET, _socket.AF_INET6):
            return None
        kind = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_TYPE)
        proto = {_socket.SOCK_STREAM: "tcp", _socket.SOCK_DGRAM: "udp"}.get(kind)
        return (proto, sock.getsockname()[1]) if proto else None
    finally:
        sock.close()


def listening(fds: list[tuple[int, str]]) -> set[tuple[str, int]]:
    """The ("tcp"|"udp", port) pairs the passed sockets listen on."""
    return {key for key in (_local_port(fd) for fd, _ in fds) if key is not None}


class SocketError(Exception):
    """A socket-activated port the pod could not listen on."""


def wanted(apps) -> bool:
    return any(port.get("socketActivated") for app in apps for port in app.ports)


def bind(protocol: str, port) -> int:
    """A listening socket on every address of the pod's network (IPv6 and IPv4, as systemd's
    BindIPv6Only=both that rkt asked for; IPv4 alone where the pod has no IPv6); its fd."""
    import _socket
    kind = _socket.SOCK_DGRAM if protocol == "udp" else _socket.SOCK_STREAM
    if not isinstance(port, int) or not 0 < port < 65536 or protocol not in ("tcp", "udp"):
        raise OSError(f"not a {protocol} port: {port!r}")
    try:
        sock = _socket.socket(_socket.AF_INET6, kind | _socket.SOCK_CLOEXEC)
        sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 0)
        address = ("::", port)
    except OSError:
        sock = _socket.socket(_socket.AF_INET, kind | _socket.SOCK_CLOEXEC)
        address = ("0.0.0.0", port)
    try:
        sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            if sock.family != _socket.AF_INET6:
                raise
            # no IPv6 in this network (disabled): IPv4 alone
            sock.close()
            sock = _socket.socket(_socket.AF_INET, kind | _socket.SOCK_CLOEXEC)
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", port))
        if kind == _socket.SOCK_STREAM:
            sock.listen(_socket.SOMAXCONN)
        return sock.detach()
    except BaseException:
        sock.close()
        raise


def assign(apps, pod_raw: dict, fds: list[tuple[int, str]]) -> dict[str, list[tuple[int, str]]]:
    """app name -> [(fd, port name)] in the order of the app's ports; unclaimed fds closed,
    unserved ports bound here (SocketError, with every fd closed, when one cannot be)."""
    host_ports = {}
    for exposed in pod_raw.get("ports") or []:
        if isinstance(exposed, dict) and isinstance(exposed.get("hostPort"), int):
            host_ports[exposed.get("name")] = exposed["hostPort"]
    by_port = {}
    for fd, _name in fds:
        key = _local_port(fd)
        if key is not None:
            by_port.setdefault(key, []).append(fd)
    claimed: dict[str, list[tuple[int, str]]] = {}
    used = set()
    for app in apps:
        for port in app.ports:
            if not port.get("socketActivated"):
                continue
            protocol = str(port.get("protocol", "tcp")).lower()
            key = (protocol, host_ports.get(port.get("name"), port.get("port")))
            fd = next((fd for fd in by_port.get(key, []) if fd not in used), None)
            if fd is None:
                try:
                    fd = bind(protocol, port.get("port"))
                except OSError as err:
                    _close_all(fds, claimed)
                    name, number = port.get("name"), port.get("port")
                    raise SocketError(f'app "{app.name}": cannot listen on its socket-activated '
                                      f'port "{name}" ({protocol} {number}): '
                                      f"{err.strerror or err}") from None
            used.add(fd)
            claimed.setdefault(app.name, []).append((fd, str(port.get("name"))))
    for fd, _name in fds:
        if fd not in used:
            # as rkt warned of a port it guessed: a socket on the wrong port is a unit to fix
            where = _local_port(fd)
            from stage1.files import say
            say(f"warning: the socket systemd passed on {where[0]} port {where[1]} matches no "
                "socketActivated app port (see --port); closed" if where else
                "warning: a socket systemd passed is not an INET listening socket; closed")
            os.close(fd)
    return claimed


def _close_all(fds, claimed) -> None:
    for fd in {fd for fd, _ in fds} | {fd for got in claimed.values() for fd, _ in got}:
        try:
            os.close(fd)
        except OSError:
            pass


def install(fds: list[tuple[int, str]], env: dict) -> None:
    """In the app's process, just before exec: its sockets at fd 3.. and the variables."""
    if not fds:
        return
    # first above the target numbers (a source may sit on one), then into place, inheritable
    above = SD_LISTEN_FDS_START + len(fds)
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, above) for fd, _ in fds]
    for i, fd in enumerate(moved):
        os.dup2(fd, SD_LISTEN_FDS_START + i, inheritable=True)
        os.close(fd)
    env["LISTEN_FDS"] = str(len(fds))
    env["LISTEN_PID"] = str(os.getpid())
    env["LISTEN_FDNAMES"] = ":".join(name for _, name in fds)
