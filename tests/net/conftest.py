"""Network test fixtures: a network namespace standing in for the host, another for a remote
host joined to it by a veth, and the real CLI run inside the first.

Nothing here touches the real host's network: every rkt command runs under
`nsenter --net=<host netns>`, so plugins, nftables tables, iptables rules, sysctls and veths
land in a namespace the test made and removes (`ip netns del`).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.aci import Entry, busybox_files, make_aci, manifest
from tests.pod.conftest import PodRkt, busybox, real_stage1, rkt  # noqa: F401 (fixtures)

pytestmark = pytest.mark.root
FETCH = ("import sys, urllib.request\n"
         "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])).read().decode())")


class NetNS:
    """A network namespace held by a sleeping process (no /run/netns bind mount), lo up."""

    def __init__(self, name: str):
        self.name = name
        self.holder = subprocess.Popen(["unshare", "--net", "--", "sleep", "infinity"])
        self.path = f"/proc/{self.holder.pid}/ns/net"
        wait_for(lambda: os.readlink(self.path) != os.readlink("/proc/self/ns/net"),
                 what=f"netns {name}")
        self.ip("link", "set", "lo", "up")

    def ip(self, *args: str) -> str:
        return self.run("ip", *args, check=True).stdout

    def run(self, *argv, timeout: float = 30, check: bool = False, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", f"--net={self.path}", *map(str, argv)], capture_output=True,
                              text=True, timeout=timeout, check=check, **kw)

    def wget(self, url: str, timeout: float = 10) -> str:
        """The body at `url` fetched from inside this namespace, retried for `timeout` seconds
        (a server in a pod may still be starting); '' when it stays unreachable."""
        deadline = time.monotonic() + timeout
        while True:
            proc = self.run(sys.executable, "-c", FETCH, url, "2", timeout=30)
            if proc.returncode == 0 or time.monotonic() > deadline:
                return proc.stdout if proc.returncode == 0 else ""
            time.sleep(0.2)

    def links(self) -> list[str]:
        return sorted(line.split(":")[1].strip().split("@")[0]
                      for line in self.ip("-o", "link").splitlines())

    def nft_tables(self) -> list[str]:
        """nftables tables, except iptables-nft's own (it keeps them once used; its rules are
        compared by iptables_rules)."""
        out = self.run("nft", "list", "tables", check=True).stdout
        return sorted(t for t in out.splitlines()
                      if t not in ("table ip nat", "table ip filter", "table ip mangle", "table ip raw"))

    def iptables_rules(self) -> list[str]:
        out = self.run("iptables-save", check=True).stdout
        return sorted(line for line in out.splitlines() if line.startswith(("-A", ":CNI")))

    def delete(self) -> None:
        self.holder.kill()
        self.holder.wait(10)


@pytest.fixture
def hostns():
    ns = NetNS(f"rkt-host-{secrets.token_hex(3)}")
    yield ns
    ns.delete()


@pytest.fixture
def remote(hostns):
    """A second namespace (another host) on 10.99.0.2/24, joined to hostns (10.99.0.1/24)."""
    ns = NetNS(f"rkt-remote-{secrets.token_hex(3)}")
    hostns.ip("link", "add", "uplink", "type", "veth", "peer", "name", "uplink", "netns", str(ns.holder.pid))
    hostns.ip("addr", "add", "10.99.0.1/24", "dev", "uplink")
    hostns.ip("link", "set", "uplink", "up")
    ns.ip("addr", "add", "10.99.0.2/24", "dev", "uplink")
    ns.ip("link", "set", "uplink", "up")
    yield ns
    ns.delete()


class NetRkt(PodRkt):
    """The real CLI, run inside the test's host namespace."""

    netns: NetNS

    def cmd(self, *args: str) -> list[str]:
        return ["nsenter", f"--net={self.netns.path}", *super().cmd(*args)]

    def net_conf(self, filename: str, conf: dict) -> None:
        (self.local_config / "net.d").mkdir(parents=True, exist_ok=True)
        (self.local_config / "net.d" / filename).write_text(json.dumps(conf))

    def leases(self) -> list[str]:
        """IPAM leases (address files) under the data dir and the given extra dirs."""
        root = self.dir / "networks"
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                      if p.is_file() and p.name[0].isdigit()) if root.exists() else []


@pytest.fixture
def netrkt(rkt, hostns) -> NetRkt:
    rkt.__class__ = NetRkt
    rkt.netns = hostns
    return rkt


def server_aci(path: Path, name: str = "example.com/server", script: str | None = None,
               ports=(("http", 80),)) -> Path:
    """busybox serving /www/index.html (`pod <hostname>`) over HTTP on its declared port(s)."""
    files = busybox_files({"bin/httpd": Entry(kind="symlink", target="busybox"),
                           "bin/wget": Entry(kind="symlink", target="busybox"),
                           "bin/ip": Entry(kind="symlink", target="busybox"),
                           "bin/ping": Entry(kind="symlink", target="busybox"),
                           "www": Entry(kind="dir", mode=0o755)})
    script = script or 'hostname > /www/index.html; exec httpd -f -p 80 -h /www'
    m = manifest(name, exec_=["/bin/sh", "-c", script])
    m["app"]["ports"] = [{"name": n, "protocol": "tcp", "port": p} for n, p in ports]
    make_aci(path, m, files)
    return path


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def kill_all(pid: int) -> None:
    """SIGKILL `pid` and all its descendants at once (rkt run, the keeper, the pod)."""
    for p in descendants(pid):
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def wait_for(predicate, timeout: float = 20, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
