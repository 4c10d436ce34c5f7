"""Socket activation: `systemd-socket-activate` (systemd's own tool) listens on loopback ports
and starts `rkt run`; each socket reaches the app port published on it, in the app's order,
with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES right inside the pod. A socket-activated port
no socket was passed for is bound by the pod itself. Runs that need the default network (for
`--port`) run in a network namespace the test makes, standing in for the host's."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.net.conftest import NetNS
from tests.systemd.conftest import run_args, running, wait_for

# a client that retries until the server listens (it starts with the pod)
ASK = """
import socket, sys, time
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30) as conn:
            sys.stdout.write(conn.makefile().read())
            break
    except ConnectionRefusedError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
"""

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


@pytest.fixture
def hostns():
    ns = NetNS(f"rkt-sd-{secrets.token_hex(3)}")
    yield ns
    ns.delete()


def _ask(netns: str, port: int, timeout: float = 30) -> str:
    """What the server on 127.0.0.1:`port` of the network namespace `netns` answers."""
    proc = subprocess.run(["nsenter", f"--net={netns}", sys.executable, "-c", ASK, str(port),
                           str(timeout)], capture_output=True, text=True, timeout=timeout + 30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _fields(answer: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in answer.split() if "=" in word)


def test_sockets_reach_their_ports(rkt, real_stage1, image, hostns):
    http, admin, stray = _free_ports(3)
    aci = image(["/bin/activated", "2"], ports=PORTS)
    # listed out of order, with a socket no port wants: matching is by port, not position
    activate = ["nsenter", f"--net={hostns.path}",
                "systemd-socket-activate", "-l", f"127.0.0.1:{stray}", "-l", f"127.0.0.1:{admin}",
                "-l", f"127.0.0.1:{http}"]
    with running(rkt, real_stage1, f"--port=http:{http}", f"--port=admin:{admin}", aci,
                 prefix=activate) as proc:
        first = _ask(hostns.path, http)
        second = _ask(hostns.path, admin)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert first.startswith("via fd3: ") and second.startswith("via fd4: "), (first, second)
    got = _fields(first)
    assert got["LISTEN_FDS"] == "2"
    assert got["LISTEN_PID"] == got["pid"]  # the app's own pid, as the pod numbers it
    assert int(got["pid"]) < 20
    assert got["LISTEN_FDNAMES"] == "http:admin"
    assert got["fd3"] == str(http) and got["fd4"] == str(admin)
    assert b"LISTEN_FDS=2" in out  # its report on stdout went to the console
    assert f"stage1: warning: the socket systemd passed on tcp port {stray} matches no " \
           "socketActivated app port (see --port); closed" in err.decode()


def test_app_port_without_host_port(rkt, real_stage1, image):
    """Without --port, the socket on the app's own port number is the app's (no network
    needed: the socket is systemd's)."""
    (port,) = _free_ports(1)
    ports = [{"name": "svc", "protocol": "tcp", "port": port, "socketActivated": True}]
    aci = image(["/bin/activated", "1"], ports=ports)
    with running(rkt, real_stage1, aci,
                 prefix=["systemd-socket-activate", "-l", f"127.0.0.1:{port}"]) as proc:
        answer = _ask("/proc/self/ns/net", port)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert _fields(answer)["LISTEN_FDNAMES"] == "svc"


def test_unserved_ports_are_bound_in_the_pod(rkt, real_stage1, image, tmp_path):
    """Started by hand, a socket-activated app gets its sockets from the pod (as rkt's pod
    systemd bound its .socket units), listening in the pod's network on the app's ports."""
    ports = [{"name": "http", "protocol": "tcp", "port": 80, "socketActivated": True},
             {"name": "dns", "protocol": "udp", "port": 53, "socketActivated": True},
             {"name": "plain", "protocol": "tcp", "port": 82}]
    aci = image(["/bin/activated", "1"], ports=ports)
    uuid_file = tmp_path / "uuid"
    with running(rkt, real_stage1, f"--uuid-file-save={uuid_file}", aci) as proc:
        wait_for(uuid_file)
        uuid = uuid_file.read_text().strip()
        pids = rkt.dir / "pods/run" / uuid / "stage1/rootfs/rkt/pids/sd"
        wait_for(pids, timeout=60)
        answer = _ask(f"/proc/{int(pids.read_text())}/ns/net", 80)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    got = _fields(answer)
    assert answer.startswith("via fd3: ")
    assert got["LISTEN_FDS"] == "2" and got["LISTEN_FDNAMES"] == "http:dns"
    assert got["fd3"] == "80" and got["fd4"] == "53"


def test_port_the_pod_cannot_bind_fails_clearly(rkt, real_stage1, image):
    ports = [{"name": "http", "protocol": "tcp", "port": 80, "socketActivated": True}]
    one = image(["/bin/activated", "0"], name="example.com/one", ports=ports)
    two = image(["/bin/activated", "0"], name="example.com/two", ports=ports)
    run = subprocess.run(run_args(rkt, real_stage1, one, two), cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 254
    assert 'app "two": cannot listen on its socket-activated port "http" (tcp 80): ' \
           "Address already in use" in run.stderr
    assert run.stderr.count("\n") == 1, run.stderr
