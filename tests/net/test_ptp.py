"""The built-in networks' own ptp (stage1.net.ptp, link, ipam) against the real plugins: the
same links, addresses and routes as CNI ptp makes, accepted by ptp's CHECK, undone by either
side's DEL, and leases shared with host-local in one directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from stage1.net import ipam, setup
from tests.net.conftest import NetNS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CNI = "/usr/lib/cni"
OWN = ("import sys\n"
       f"sys.path[:0] = [{REPO!r}]\n"
       "from stage1.files import dump_json, parse_json\n"
       "from stage1.net import cni, ptp\n"
       "command, conf, netns, container = sys.argv[1:5]\n"
       "config = cni.parse(conf.encode(), '/x/99-default.conf')\n"
       "at = cni.Attachment(container, netns, 'eth0', '', ())\n"
       "if command == 'ADD':\n"
       "    print(dump_json(ptp.add(config, at)))\n"
       "else:\n"
       "    print(dump_json(ptp.delete(config, at)))\n")
REACH = ("import socket, sys\n"
         "try:\n"
         "    socket.create_connection((sys.argv[1], 9), timeout=5)\n"
         "except ConnectionRefusedError:\n"
         "    print('refused')\n")


def own(hostns: NetNS, command: str, conf: dict, pod: NetNS | None, container: str):
    """stage1.net.ptp's ADD or DEL, run inside the test's host namespace."""
    out = hostns.run(sys.executable, "-IS", "-c", OWN, command, json.dumps(conf),
                     pod.path if pod else "", container, check=True).stdout
    return json.loads(out)


def plugin(hostns: NetNS, command: str, conf: dict, pod: NetNS | None, container: str,
           prev: dict | None = None) -> subprocess.CompletedProcess:
    """The real ptp plugin, as a CNI runtime runs it."""
    data = {**conf, **({"prevResult": prev} if prev else {})}
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_NETNS": pod.path if pod else "",
           "CNI_IFNAME": "eth0", "CNI_PATH": CNI, "PATH": os.environ["PATH"]}
    return hostns.run("env", *[f"{k}={v}" for k, v in env.items()], f"{CNI}/ptp",
                      input=json.dumps(data), check=False)


def state(hostns: NetNS, pod: NetNS, result: dict) -> dict:
    """The pod's and the host's view of one attachment, with its own address, gateway and
    host interface name written as IP, GW and VETH."""
    ip, gw = result["ips"][0]["address"].split("/")[0], result["ips"][0]["gateway"]
    veth = result["interfaces"][0]["name"]

    def norm(text: str) -> list[str]:
        text = re.sub(r"\b" + re.escape(ip) + r"\b", "IP", text.replace(veth, "VETH"))
        text = re.sub(r"\b" + re.escape(gw) + r"\b", "GW", text)
        text = re.sub(r"(?<=@if)\d+|^\d+:|link/ether \S+ brd \S+|valid_lft.*|link-netnsid \d+", "", text, flags=re.M)
        return sorted(line.split() and " ".join(line.split()) for line in text.splitlines() if line.strip())

    return {"pod routes": norm(pod.ip("-4", "route")), "pod address": norm(pod.ip("-4", "addr", "show", "eth0")),
            "pod link": norm(pod.ip("-o", "link", "show", "eth0")),
            "host routes": norm("\n".join(l for l in hostns.ip("-4", "route").splitlines() if veth in l)),
            "host address": norm(hostns.ip("-4", "addr", "show", veth)),
            "forwarding": hostns.run("cat", "/proc/sys/net/ipv4/ip_forward").stdout}


@pytest.mark.root
def test_own_ptp_makes_what_the_plugin_makes_and_either_undoes_the_other(hostns, tmp_path):
    conf = setup.builtin_config("default", str(tmp_path / "leases"))
    pods = [NetNS("rkt-ptp-plugin"), NetNS("rkt-ptp-own")]
    try:
        made = plugin(hostns, "ADD", conf, pods[0], "by-plugin")
        assert made.returncode == 0, made.stdout
        theirs = json.loads(made.stdout)
        ours = own(hostns, "ADD", conf, pods[1], "by-stage1")
        assert [i["name"] for i in ours["interfaces"]][1:] == ["eth0"]
        assert ours["ips"][0]["address"] == "172.16.28.3/24" and ours["ips"][0]["gateway"] == "172.16.28.1"
        assert {k: v for k, v in ours.items() if k not in ("interfaces", "ips")} == \
            {k: v for k, v in theirs.items() if k not in ("interfaces", "ips")}
        assert state(hostns, pods[1], ours) == state(hostns, pods[0], theirs)
        # the pods reach each other through the host, as two ptp pods do (a refusal is an answer)
        knock = pods[1].run(sys.executable, "-c", REACH, "172.16.28.2")
        assert knock.stdout == "refused\n", knock.stderr
        # ptp's own CHECK accepts what we made
        checked = plugin(hostns, "CHECK", conf, pods[1], "by-stage1", prev=ours)
        assert checked.returncode == 0, checked.stdout
        # each side's DEL undoes what the other made: links and leases
        assert own(hostns, "DEL", conf, pods[0], "by-plugin") == []
        deleted = plugin(hostns, "DEL", conf, pods[1], "by-stage1", prev=ours)
        assert deleted.returncode == 0, deleted.stdout
        assert pods[0].links() == pods[1].links() == ["lo"]
        assert not [n for n in hostns.links() if n.startswith("veth")]
        assert sorted(os.listdir(tmp_path / "leases" / "default")) == ["last_reserved_ip.0", "lock"]
        # and again, with nothing left: DEL is idempotent, without the netns too
        assert own(hostns, "DEL", conf, pods[1], "by-stage1") == []
        assert own(hostns, "DEL", conf, None, "by-stage1") == []
    finally:
        for pod in pods:
            pod.delete()


def host_local(command: str, data_dir, container: str) -> subprocess.CompletedProcess:
    conf = {"cniVersion": "0.4.0", "name": "default",
            "ipam": {"type": "host-local", "subnet": "172.16.28.0/29", "dataDir": str(data_dir)}}
    env = {"CNI_COMMAND": command, "CNI_CONTAINERID": container, "CNI_NETNS": "/nonexistent",
           "CNI_IFNAME": "eth0", "CNI_PATH": CNI, "PATH": os.environ["PATH"]}
    return subprocess.run([f"{CNI}/host-local"], input=json.dumps(conf), env=env, capture_output=True,
                          text=True, timeout=30)


def test_leases_are_host_locals(tmp_path):
    """Round-robin from the last lease, the gateway skipped, wrapping around; host-local and we
    continue each other's sequence and release each other's leases."""
    subnet = ipam.Subnet("172.16.28.0/29")  # hosts .1 (gateway) to .6
    with ipam.Store(str(tmp_path), "default") as store:
        got = [ipam.to_text(store.allocate(subnet, f"c{i}", "eth0")) for i in range(2)]
    assert got == ["172.16.28.2", "172.16.28.3"]
    added = host_local("ADD", tmp_path, "hl")
    assert added.returncode == 0, added.stdout
    assert json.loads(added.stdout)["ips"][0]["address"] == "172.16.28.4/29"
    with ipam.Store(str(tmp_path), "default") as store:
        assert ipam.to_text(store.allocate(subnet, "c2", "eth0")) == "172.16.28.5"
        store.release("c0", "eth0")
        assert ipam.to_text(store.allocate(subnet, "c3", "eth0")) == "172.16.28.6"
        assert ipam.to_text(store.allocate(subnet, "c4", "eth0")) == "172.16.28.2"  # wrapped, .1 skipped
        with pytest.raises(ipam.IpamError, match="no IP addresses available"):
            store.allocate(subnet, "c5", "eth0")
        with pytest.raises(ipam.IpamError, match="duplicate allocation"):
            store.allocate(subnet, "c2", "eth0")
        store.release("hl", "eth0")  # host-local's lease
        with pytest.raises(ipam.IpamError, match="is subnet's gateway"):
            store.allocate(subnet, "c6", "eth0", "172.16.28.1")
        assert ipam.to_text(store.allocate(subnet, "c6", "eth0", "172.16.28.4")) == "172.16.28.4"
        with pytest.raises(ipam.IpamError, match="not available"):
            store.allocate(subnet, "c7", "eth0", "172.16.28.4")
    assert host_local("DEL", tmp_path, "c6").returncode == 0  # ours, released by host-local
    leases = sorted(n for n in os.listdir(tmp_path / "default") if n[0].isdigit())
    assert leases == ["172.16.28.2", "172.16.28.3", "172.16.28.5", "172.16.28.6"]
    (tmp_path / "default" / "172.16.28.4").write_text("legacy")  # an old host-local's: the ID alone
    with ipam.Store(str(tmp_path), "default") as store:
        store.release("legacy", "eth0")
    assert not (tmp_path / "default" / "172.16.28.4").exists()


def test_cni_args_as_host_local_reads_them():
    assert ipam.requested_ip("") == ""
    assert ipam.requested_ip("IP=172.16.28.9") == "172.16.28.9"
    assert ipam.requested_ip("IgnoreUnknown=1;FOO=bar;IP=172.16.28.9") == "172.16.28.9"
    with pytest.raises(ipam.IpamError, match="unknown args"):
        ipam.requested_ip("FOO=bar")
    with pytest.raises(ipam.IpamError, match="invalid pair"):
        ipam.requested_ip("IP")
    with pytest.raises(ipam.IpamError, match="error parsing"):
        ipam.requested_ip("IP=1.2.3")
