"""Fixtures for the systemd protocol tests: the pod fixtures of tests/pod (leak checks, the real
stage1), the static helper programs, and images built from busybox plus those helpers."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.helpers.aci import Entry, busybox_files, make_aci, manifest
from tests.pod.conftest import real_stage1, rkt  # noqa: F401 - fixtures
from tests.systemd import tools


@pytest.fixture(scope="session")
def helpers(tmp_path_factory) -> dict[str, bytes]:
    return tools.build(tmp_path_factory.mktemp("sd-tools"))


@pytest.fixture
def image(tmp_path, helpers):
    """image(exec, name=..., notify=None|bool, ports=[...], mount_points=[...],
    event_handlers=[...], **manifest keys) -> ACI path."""
    count = [0]

    def make(exec_, name="example.com/sd", notify=None, ports=None, mount_points=None,
             event_handlers=None, **extra) -> Path:
        count[0] += 1
        m = manifest(name, exec_=exec_, **extra)
        if mount_points:
            m["app"]["mountPoints"] = mount_points
        if event_handlers:
            m["app"]["eventHandlers"] = event_handlers
        if notify is not None:
            m["annotations"] = [{"name": "appc.io/executor/supports-systemd-notify",
                                 "value": "true" if notify else "false"}]
        if ports:
            m["app"]["ports"] = ports
        files = busybox_files({"bin/sdnotify": Entry(data=helpers["sdnotify"], mode=0o755),
                               "bin/activated": Entry(data=helpers["activated"], mode=0o755)})
        path = tmp_path / f"img{count[0]}.aci"
        make_aci(path, m, files)
        return path
    return make


class NotifySocket:
    """A host NOTIFY_SOCKET the test holds: datagrams with the sender's pid and arrival time."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    def receive(self, timeout: float) -> tuple[bytes, int, float] | None:
        self.sock.settimeout(timeout)
        try:
            data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
        except socket.timeout:
            return None
        pid = next((int.from_bytes(d[:4], "little") for level, kind, d in anc
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS), -1)
        return data, pid, time.monotonic()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path):
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


def run_args(rkt, stage1: Path, *args) -> list[str]:
    # --net=none unless ports need a network: the default network attaches the pod in the
    # host's own netns (tests/net runs it inside namespaces of its own)
    args = [str(a) for a in args]
    net = [] if any(a.startswith(("--port", "--net")) for a in args) else ["--net=none"]
    return rkt.cmd("--insecure-options=image", "run", *net, f"--stage1-path={stage1}", *args)


@contextmanager
def running(rkt, stage1: Path, *args, env=None, prefix=()) -> Iterator[subprocess.Popen]:
    """`rkt run` started in the background, killed and reaped on the way out whatever the
    test asserted meanwhile (a no-op once the test saw it exit)."""
    proc = subprocess.Popen([*prefix, *run_args(rkt, stage1, *args)], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


def wait_for(path: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear"
        time.sleep(0.02)
