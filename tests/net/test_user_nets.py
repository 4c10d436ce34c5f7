"""User CNI networks from `<local-config>/net.d` with the real plugins: two pods on one bridge,
macvlan on a dummy link (plus default-restricted), a .conflist with portmap, CNI_ARGS, DNS from a
plugin result, and the metadata service reached from the default network."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.net.conftest import kill_all, server_aci, wait_for
from tests.net.test_default_net import INSECURE, baseline, pod_ip, start, stop

pytestmark = pytest.mark.root


def bridge_conf(netrkt, **extra) -> dict:
    return {"cniVersion": "0.4.0", "name": "br", "type": "bridge", "bridge": "rkttest0",
            "isGateway": True, "ipMasq": True,
            "ipam": {"type": "host-local", "subnet": "10.88.0.0/24",
                     "dataDir": str(netrkt.dir / "networks")}, **extra}


def test_two_pods_on_one_bridge_reach_each_other(netrkt, hostns, real_stage1, tmp_path):
    netrkt.net_conf("10-br.conf", bridge_conf(netrkt))
    server = server_aci(tmp_path / "server.aci")
    before = baseline(hostns, netrkt)
    first = start(netrkt, real_stage1, server, "--net=br")
    second = None
    try:
        second = start(netrkt, real_stage1, server, "--net=br:IgnoreUnknown=1;IP=10.88.0.50")
        ip1, ip2 = pod_ip(netrkt, first[1], "br"), pod_ip(netrkt, second[1], "br")
        assert ip1.startswith("10.88.0.") and ip2 == "10.88.0.50"  # CNI_ARGS reached host-local
        out = netrkt("enter", second[1], "/bin/sh", "-c", f"wget -q -O- http://{ip1}/").stdout
        assert out.startswith("rkt-") and out.strip() != ""
        # br is not `default`: default-restricted is added so that the MDS stays reachable
        assert pod_ip(netrkt, first[1], "default-restricted").startswith("172.31.")
        # the plugin's own masquerade (ipMasq) is an iptables rule tagged with the pod
        assert any(first[1] in r for r in hostns.iptables_rules())
    finally:
        stop(netrkt, *first)
        if second is not None:
            kill_all(second[0].pid)  # the second ends hard: gc must undo the plugin's rules too
            second[0].communicate(timeout=30)
    netrkt("gc", "--grace-period=0s")
    after = baseline(hostns, netrkt)
    # the bridge is the network's, not a pod's: the plugin keeps it, as CNI intends
    assert [l for l in after["links"] if l != "rkttest0"] == before["links"]
    assert after["rules"] == before["rules"] and after["tables"] == before["tables"]
    assert after["leases"] == before["leases"]


def test_macvlan_on_the_uplink_reaches_the_other_host(netrkt, hostns, remote, real_stage1, busybox):
    # this kernel has no dummy link driver: the master is the veth to the stand-in remote host
    netrkt.net_conf("20-mv.conflist", {"cniVersion": "1.0.0", "name": "mv", "plugins": [
        {"type": "macvlan", "master": "uplink", "mode": "bridge",
         "ipam": {"type": "host-local", "subnet": "10.99.0.0/24", "rangeStart": "10.99.0.100",
                  "dataDir": str(netrkt.dir / "networks")}}]})
    before = baseline(hostns, netrkt)
    out = netrkt(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=mv", busybox, "--exec=/bin/sh",
                 "--", "-c", "ip -4 -o addr show eth0; ip -4 -o addr show eth1; "
                             "ping -c1 -W2 10.99.0.2").stdout
    assert "inet 10.99.0.100/24" in out and "inet 172.31.0." in out and "1 packets received" in out
    assert baseline(hostns, netrkt) == before


def test_conflist_with_portmap_publishes_the_port(netrkt, hostns, remote, real_stage1, tmp_path):
    netrkt.net_conf("30-pm.conflist", {"cniVersion": "0.4.0", "name": "pm", "plugins": [
        {"type": "ptp", "ipMasq": True,
         "ipam": {"type": "host-local", "subnet": "10.66.0.0/24", "routes": [{"dst": "0.0.0.0/0"}],
                  "dataDir": str(netrkt.dir / "networks")}},
        {"type": "portmap", "capabilities": {"portMappings": True}}]})
    before = baseline(hostns, netrkt)
    proc, uuid = start(netrkt, real_stage1, server_aci(tmp_path / "s.aci"), "--net=pm", "--port=http:8090")
    try:
        assert remote.wget("http://10.99.0.1:8090/").startswith("rkt-")
        # portmap did it, not our table (the pod's table holds nothing: it was not created)
        assert "rkt-" + uuid.replace("-", "") not in " ".join(hostns.nft_tables())
    finally:
        stop(netrkt, proc, uuid)
    netrkt("gc", "--grace-period=0s")
    # portmap keeps its shared CNI-HOSTPORT-* chains; nothing of this pod remains
    rules = baseline(hostns, netrkt)["rules"]
    assert not [r for r in rules if uuid in r or "CNI-DN-" in r or r.startswith(":CNI-") and
                not r.startswith(":CNI-HOSTPORT-")], rules
    assert baseline(hostns, netrkt)["leases"] == before["leases"]


def test_dns_from_the_plugin_result_and_flags_win(netrkt, real_stage1, busybox):
    conf = {"cniVersion": "0.4.0", "name": "dnsnet", "type": "ptp",
            "ipam": {"type": "host-local", "subnet": "10.55.0.0/24", "dataDir": str(netrkt.dir / "networks")},
            "dns": {"nameservers": ["10.55.0.53"], "search": ["pods.test"], "options": ["ndots:2"]}}
    netrkt.net_conf("40-dns.conf", conf)
    run = (INSECURE, "run", f"--stage1-path={real_stage1}", "--net=dnsnet")
    app = (busybox, "--exec=/bin/sh", "--", "-c", "cat /etc/resolv.conf; cat /etc/hosts")
    out = netrkt(*run, *app).stdout
    assert "# Generated by rkt from network dnsnet" in out
    assert "nameserver 10.55.0.53" in out and "search pods.test" in out and "options ndots:2" in out
    out = netrkt(*run, "--dns=10.0.0.1", "--dns-search=flag.test", "--hosts-entry=10.1.1.1=db", *app).stdout
    assert "nameserver 10.0.0.1" in out and "10.55.0.53" not in out and "10.1.1.1 db" in out
    out = netrkt(*run, "--dns=none", *app).stdout
    assert "nameserver" not in out
    # host: the host's files, read-only, whatever the plugin returned
    out = netrkt(*run, "--dns=host", "--hosts-entry=host", busybox, "--exec=/bin/sh", "--", "-c",
                 "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; "
                 "(echo >> /etc/resolv.conf) 2>/dev/null || echo ro; (echo >> /etc/hosts) 2>/dev/null || echo ro").stdout
    resolv, hosts, writes = out.split("---\n")
    assert resolv == Path("/etc/resolv.conf").read_text() and hosts == Path("/etc/hosts").read_text()
    assert writes == "ro\nro\n"


def test_unknown_network_and_broken_plugin_fail_cleanly(netrkt, hostns, real_stage1, busybox):
    proc = netrkt.fails(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=nosuch", busybox)
    assert 'network "nosuch" not found' in proc.stderr and "Traceback" not in proc.stderr
    netrkt.net_conf("50-bad.conf", {"cniVersion": "0.4.0", "name": "bad", "type": "no-such-plugin"})
    before = baseline(hostns, netrkt)
    proc = netrkt.fails(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=bad", busybox)
    assert "plugin 'no-such-plugin' not found" in proc.stderr
    assert baseline(hostns, netrkt) == before


def test_metadata_service_from_the_default_network(netrkt, hostns, real_stage1, tmp_path):
    sock = str(tmp_path / "mds.sock")
    env = {**os.environ, "RKT_MDS_SOCKET": sock}
    mds = subprocess.Popen(["nsenter", f"--net={hostns.path}", sys.executable, "-m", "rkt",
                            "metadata-service"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: os.path.exists(sock), what="the metadata service")
        script = ('echo "URL=$AC_METADATA_URL"; wget -q -O- --header "Metadata-Flavor: AppContainer" '
                  '"$AC_METADATA_URL/acMetadata/v1/pod/uuid"')
        image = server_aci(tmp_path / "mds.aci", script=script)
        uuid_file = tmp_path / "uuid"
        out = netrkt(INSECURE, "run", f"--stage1-path={real_stage1}", "--mds-register",
                     f"--uuid-file-save={uuid_file}", image, env=env).stdout
        assert "URL=http://172.16.28.1:18112/" in out
        assert uuid_file.read_text().strip() in out
    finally:
        mds.terminate()
        mds.wait(10)


def test_check_runs_with_debug_and_reports_a_broken_attachment(netrkt, hostns, real_stage1, busybox):
    netrkt.net_conf("60-chk.conflist", {"cniVersion": "0.4.0", "name": "chk", "plugins": [
        {"type": "ptp", "ipam": {"type": "host-local", "subnet": "10.44.0.0/24",
                                 "dataDir": str(netrkt.dir / "networks")}}]})
    run = (INSECURE, "--debug", "run", f"--stage1-path={real_stage1}", "--net=chk", busybox, "--exec=/bin/sh")
    healthy = netrkt(*run, "--", "-c", "true")
    assert "CHECK" not in healthy.stderr
    # the app removes its own address: ptp's CHECK at the pod's end must notice
    broken = netrkt(*run, "--caps-retain=CAP_NET_ADMIN", "--", "-c", "ip addr flush dev eth0")
    assert 'network "chk": CHECK: plugin ptp CHECK failed' in broken.stderr
