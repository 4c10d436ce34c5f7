"""The default network end to end: addresses, routes, reachability both ways, published ports
(through the host's address from another host, and on 127.0.0.1 from the host itself), list and
status output, enter, and the complete teardown after every kind of ending."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.net.conftest import kill_all, server_aci, wait_for

pytestmark = pytest.mark.root
INSECURE = "--insecure-options=image"


def start(netrkt, real_stage1, image, *flags: str, app_args=()) -> tuple[subprocess.Popen, str]:
    """`rkt run` in the background; (its process, the pod UUID) once the pod's apps run."""
    uuid_file = netrkt.root / f"uuid-{time.monotonic_ns()}"
    proc = subprocess.Popen(netrkt.cmd(INSECURE, "run", f"--stage1-path={real_stage1}",
                                       f"--uuid-file-save={uuid_file}", *flags, image, *app_args),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            text=True)

    def running():
        if proc.poll() is not None:
            raise AssertionError(f"pod exited early: {proc.communicate()}")
        if not uuid_file.exists() or not uuid_file.read_text().strip():
            return None
        uuid = uuid_file.read_text().strip()
        status = netrkt("status", uuid, check=False).stdout
        return uuid if "pid=" in status and "pid=-1" not in status else None

    return proc, wait_for(running, what="the pod to run")


def stop(netrkt, proc: subprocess.Popen, uuid: str) -> None:
    netrkt("stop", uuid)
    proc.communicate(timeout=30)


def pod_ip(netrkt, uuid: str, network: str = "default") -> str:
    for line in netrkt("status", uuid).stdout.splitlines():
        if line.startswith("networks="):
            for item in line[len("networks="):].split(", "):
                name, _, ip = item.partition(":ip4=")
                if name == network:
                    return ip
    raise AssertionError(f"no {network} network in status of {uuid}")


def baseline(hostns, netrkt) -> dict:
    return {"links": hostns.links(), "tables": hostns.nft_tables(),
            "rules": hostns.iptables_rules(), "leases": netrkt.leases()}


def test_default_network_both_ways_list_status_enter_and_teardown(netrkt, hostns, real_stage1, tmp_path):
    before = baseline(hostns, netrkt)
    image = server_aci(tmp_path / "server.aci")
    proc, uuid = start(netrkt, real_stage1, image, "--net=default")
    try:
        ip = pod_ip(netrkt, uuid)
        assert ip.startswith("172.16.28.")
        # host -> pod, on the pod's address
        assert hostns.wget(f"http://{ip}/").startswith("rkt-")
        # pod -> host (the gateway is the host side of the veth), seen from inside with enter
        out = netrkt("enter", uuid, "/bin/sh", "-c", "ip -4 addr show eth0; ip route; ping -c1 -W2 172.16.28.1").stdout
        assert f"inet {ip}/24" in out and "default via 172.16.28.1" in out and "1 packets received" in out
        # rkt's list and status, text and JSON
        listing = netrkt("list", "--no-legend").stdout
        assert f"default:ip4={ip}" in listing
        js = json.loads(netrkt("status", "--format=json", uuid).stdout)
        assert js["networks"][0]["netName"] == "default" and js["networks"][0]["ip"] == ip
        assert js["networks"][0]["mask"] == "255.255.255.0" and js["networks"][0]["ifName"] == "eth0"
        pods = json.loads(netrkt("list", "--format=json").stdout)
        assert pods[0]["networks"][0]["ip"] == ip
        # the masquerade lives in the pod's own table
        table = hostns.run("nft", "list", "table", "ip", "rkt-" + uuid.replace("-", "")).stdout
        rules = [line.strip() for line in table.splitlines()]
        chain = rules.index("chain masquerade {")
        assert rules[chain + 1:chain + 5] == [
            "type nat hook postrouting priority srcnat; policy accept;",
            "ip daddr 172.16.28.0/24 return", "ip daddr 224.0.0.0/4 return",
            "ip saddr 172.16.28.0/24 masquerade"]
        assert len(netrkt.leases()) == 1
    finally:
        stop(netrkt, proc, uuid)
    assert baseline(hostns, netrkt) == before
    # the keeper undid everything: stage0's gc may skip the stage1 gc entrypoint
    assert [(d / "stage1-cleaned-up").exists() for d in netrkt.pod_dirs()] == [True]
    netrkt("gc", "--grace-period=0s")
    assert baseline(hostns, netrkt) == before


# a server on the other host that answers with the address a connection comes from
WHO = ("import http.server, sys\n"
       "class H(http.server.BaseHTTPRequestHandler):\n"
       "    def do_GET(self):\n"
       "        self.send_response(200); self.end_headers(); self.wfile.write(self.client_address[0].encode())\n"
       "    def log_message(self, *a): pass\n"
       "http.server.HTTPServer(('10.99.0.2', int(sys.argv[1])), H).serve_forever()\n")


def test_masquerade_takes_the_pod_to_another_host_while_it_runs(netrkt, hostns, remote, real_stage1, tmp_path):
    """The other host has no route to 172.16.28.0/24: the pod reaches it only through the
    masquerade of its table, which goes with the pod."""
    before = baseline(hostns, netrkt)
    server = subprocess.Popen(["nsenter", f"--net={remote.path}", sys.executable, "-c", WHO, "8099"])
    try:
        wait_for(lambda: "10.99.0.2:8099" in remote.run("ss", "-ltn").stdout, what="the server")
        image = server_aci(tmp_path / "client.aci", name="example.com/client")
        fetch = ("/bin/sh", "--", "-c", "busybox timeout 10 wget -q -O - http://10.99.0.2:8099/")
        out = netrkt(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=default", image,
                     "--exec", *fetch).stdout
        assert out == "10.99.0.1"  # the host's address, not the pod's
        assert baseline(hostns, netrkt) == before
        # without the default network (loopback only) the same fetch has no way out
        out = netrkt(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=none", image,
                     "--exec", *fetch, check=False)
        assert out.returncode != 0 and out.stdout == ""
    finally:
        server.kill()
        server.wait(10)
    assert baseline(hostns, netrkt) == before


def test_published_port_from_another_host_and_from_localhost(netrkt, hostns, remote, real_stage1, tmp_path):
    before = baseline(hostns, netrkt)
    image = server_aci(tmp_path / "server.aci")
    proc, uuid = start(netrkt, real_stage1, image, "--port=http:8080")
    try:
        name = hostns.wget(f"http://{pod_ip(netrkt, uuid)}/")
        assert name.startswith("rkt-")
        assert remote.wget("http://10.99.0.1:8080/") == name       # another host, host's address
        assert hostns.wget("http://127.0.0.1:8080/") == name       # the host itself, loopback
        assert hostns.wget("http://10.99.0.1:8080/") == name       # the host, its own address
        assert remote.wget("http://10.99.0.1:8081/", timeout=0) == ""
    finally:
        stop(netrkt, proc, uuid)
    assert baseline(hostns, netrkt) == before


def test_port_bound_to_one_host_address(netrkt, hostns, remote, real_stage1, tmp_path):
    image = server_aci(tmp_path / "server.aci")
    proc, uuid = start(netrkt, real_stage1, image, "--port=http:127.0.0.1:8080")
    try:
        assert hostns.wget("http://127.0.0.1:8080/").startswith("rkt-")
        assert remote.wget("http://10.99.0.1:8080/", timeout=0) == ""
    finally:
        stop(netrkt, proc, uuid)


def test_undeclared_port_is_an_error(netrkt, real_stage1, tmp_path):
    image = server_aci(tmp_path / "server.aci")
    proc = netrkt.fails(INSECURE, "run", f"--stage1-path={real_stage1}", "--port=ssh:2222", image)
    assert proc.stderr == 'rkt: port name "ssh" is not defined by any app\n'
    assert not netrkt.pod_dirs()


def test_kill_9_then_gc_leaves_nothing_and_two_gcs_agree(netrkt, hostns, real_stage1, tmp_path):
    before = baseline(hostns, netrkt)
    image = server_aci(tmp_path / "server.aci")
    procs = [start(netrkt, real_stage1, image, "--port=http:8080"),
             start(netrkt, real_stage1, image, "--net=default")]
    during = baseline(hostns, netrkt)
    assert len(during["links"]) == len(before["links"]) + 2 and len(during["leases"]) == 2
    assert len(during["tables"]) == len(before["tables"]) + 2
    for proc, _uuid in procs:
        kill_all(proc.pid)  # rkt run, its network keeper and the whole pod, at once
        proc.communicate(timeout=30)
    gcs = [subprocess.Popen(netrkt.cmd("gc", "--grace-period=0s"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for gc in gcs:
        out, err = gc.communicate(timeout=120)
        assert gc.returncode == 0, err
        assert "Traceback" not in err and "problem" not in err, err
    assert not netrkt.pod_dirs()
    assert baseline(hostns, netrkt) == before


def test_kill_9_of_rkt_run_alone_stops_the_pod_and_its_keeper_tears_down(netrkt, hostns, real_stage1, tmp_path):
    """kill -9 of `rkt run` alone: the pod's PID 1 gets SIGTERM (PDEATHSIG) and stops as on
    `rkt stop`; the keeper, orphaned but still holding the netns, undoes the network completely
    once the pod is gone, before any gc; gc then finds nothing left."""
    before = baseline(hostns, netrkt)
    image = server_aci(tmp_path / "server.aci")
    proc, uuid = start(netrkt, real_stage1, image, "--port=http:8080")
    assert hostns.wget("http://127.0.0.1:8080/").startswith("rkt-")
    proc.kill()
    proc.communicate(timeout=60)  # EOF: the pod, its keeper and every plugin are gone
    wait_for(lambda: baseline(hostns, netrkt) == before, what="the keeper's teardown")
    assert "state=exited" in netrkt("status", uuid).stdout
    netrkt("gc", "--grace-period=0s")
    assert not netrkt.pod_dirs()
    assert baseline(hostns, netrkt) == before


def test_none_gives_loopback_only_and_host_shares(netrkt, hostns, real_stage1, busybox):
    out = netrkt(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=none", busybox,
                 "--exec=/bin/sh", "--", "-c", "ls /sys/class/net").stdout.split()
    assert out == ["lo"]
    out = netrkt(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=host", busybox,
                 "--exec=/bin/sh", "--", "-c", "ls /sys/class/net").stdout.split()
    assert out == hostns.links()
    assert netrkt.leases() == []
