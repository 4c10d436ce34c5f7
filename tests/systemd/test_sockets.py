"""Socket activation: `systemd-socket-activate` (systemd's own tool) listens on loopback ports
and starts `rkt run`; each socket reaches the app port published on it, in the app's order,
with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES right inside the pod."""

from __future__ import annotations

import socket
import subprocess
import time

from tests.conftest import REPO
from tests.systemd.conftest import run_args

PORTS = [{"name": "http", "protocol": "tcp", "port": 80, "count": 1, "socketActivated": True},
         {"name": "admin", "protocol": "tcp", "port": 81, "count": 1, "socketActivated": True},
         {"name": "plain", "protocol": "tcp", "port": 82, "count": 1}]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _ask(port: int, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
                return conn.makefile().read()
        except ConnectionRefusedError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def _fields(answer: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in answer.split() if "=" in word)


def test_sockets_reach_their_ports(rkt, real_stage1, image):
    http, admin, stray = _free_ports(3)
    aci = image(["/bin/activated", "2"], ports=PORTS)
    # listed out of order, with a socket no port wants: matching is by port, not position
    cmd = ["systemd-socket-activate", "-l", f"127.0.0.1:{stray}", "-l", f"127.0.0.1:{admin}",
           "-l", f"127.0.0.1:{http}",
           *run_args(rkt, real_stage1, f"--port=http:{http}", f"--port=admin:{admin}", aci)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = _ask(http)
        second = _ask(admin)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert first.startswith("via fd3: ") and second.startswith("via fd4: "), (first, second)
    got = _fields(first)
    assert got["LISTEN_FDS"] == "2"
    assert got["LISTEN_PID"] == got["pid"]  # the app's own pid, as the pod numbers it
    assert int(got["pid"]) < 20
    assert got["LISTEN_FDNAMES"] == "http:admin"
    assert got["fd3"] == str(http) and got["fd4"] == str(admin)
    assert b"LISTEN_FDS=2" in out  # its report on stdout went to the console


def test_app_port_without_host_port(rkt, real_stage1, image):
    """Without --port, the socket on the app's own port number is the app's."""
    (port,) = _free_ports(1)
    ports = [{"name": "svc", "protocol": "tcp", "port": port, "socketActivated": True}]
    aci = image(["/bin/activated", "1"], ports=ports)
    cmd = ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", *run_args(rkt, real_stage1, aci)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        answer = _ask(port)
        proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert _fields(answer)["LISTEN_FDNAMES"] == "svc"


def test_no_sockets_no_variables(rkt, real_stage1, image):
    aci = image(["/bin/activated", "0"], ports=PORTS)
    run = subprocess.run(run_args(rkt, real_stage1, aci), cwd=REPO, capture_output=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert b"LISTEN_PID=- LISTEN_FDS=- LISTEN_FDNAMES=-" in run.stdout
