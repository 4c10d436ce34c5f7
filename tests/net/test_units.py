"""Pure logic of stage1.net: network selection as rkt, CNI results of every version, the pod's
nftables table, the tagged iptables rules gc removes, resolv.conf from a result."""

from __future__ import annotations

import json

import pytest

from stage1.net import cni, dns, iptables, portfwd, setup


def write(d, name, conf):
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(json.dumps(conf))


def test_flag_parsing_and_modes():
    assert setup.parse_net_flag("") == [("default", "")]
    assert setup.parse_net_flag("a,b:IP=1.2.3.4;X=y") == [("a", ""), ("b", "IP=1.2.3.4;X=y")]
    assert not setup.contained("host") and setup.contained("none") and setup.contained("a,b")


def test_selection_follows_rkt(tmp_path):
    netd = tmp_path / "local" / "net.d"
    write(netd, "20-b.conf", {"name": "b", "type": "bridge"})
    write(netd, "10-a.conflist", {"name": "a", "cniVersion": "1.0.0", "plugins": [{"type": "ptp"}]})
    write(netd, "30-a.conf", {"name": "a", "type": "macvlan"})  # later file, same name: ignored
    (netd / "notes.txt").write_text("not a network")
    pod = tmp_path / "data" / "pods" / "run" / "u"
    pod.mkdir(parents=True)
    local = str(tmp_path / "local")
    names = lambda nets: [c.name for c in setup.select(nets, local, str(pod))]  # noqa: E731
    assert names([("default", "")]) == ["default"]
    assert names([("b", ""), ("a", "")]) == ["a", "b", "default-restricted"]  # lexical order
    assert names([("all", "")]) == ["a", "b", "default"]
    assert names([("none", "")]) == []
    # rkt sorts every network by its file name, the built-in 99-default*.conf included
    write(netd, "99-zz.conf", {"name": "zz", "type": "bridge"})
    assert names([("zz", ""), ("a", "")]) == ["a", "default-restricted", "zz"]
    chosen = setup.select([("a", "")], local, str(pod))
    assert chosen[0].is_list and chosen[0].plugins[0]["type"] == "ptp"
    restricted = json.loads(chosen[1].raw)
    assert restricted["ipam"]["subnet"] == "172.31.0.0/16" and "routes" not in restricted["ipam"]
    assert restricted["ipam"]["dataDir"] == str(tmp_path / "data" / "networks")
    with pytest.raises(setup.NetSetupError, match='^network "x" not found$'):
        setup.select([("x", "")], local, str(pod))
    with pytest.raises(setup.NetSetupError, match="^networks not found: x, y$"):
        setup.select([("y", ""), ("x", "")], local, str(pod))


def test_a_user_network_named_default_replaces_the_builtin(tmp_path):
    write(tmp_path / "net.d", "50-mine.conf", {"name": "default", "type": "bridge"})
    chosen = setup.select([("default", "")], str(tmp_path), str(tmp_path))
    assert [c.plugins[0]["type"] for c in chosen] == ["bridge"]


def test_bad_configs_are_named(tmp_path):
    (tmp_path / "x.conf").write_text("{")
    with pytest.raises(cni.NetError, match="x.conf: invalid JSON"):
        cni.load(str(tmp_path / "x.conf"))
    with pytest.raises(cni.NetError, match="no plugin type"):
        cni.parse(b'{"name": "n"}', "n.conf")
    with pytest.raises(cni.NetError, match="plugins must be"):
        cni.parse(b'{"name": "n", "plugins": []}', "n.conflist")


def test_results_of_every_version():
    old = cni.summarize({"ip4": {"ip": "172.16.28.5/24", "gateway": "172.16.28.1"},
                         "dns": {"nameservers": ["1.1.1.1"]}})
    assert (old.ip, old.mask, old.gateway, old.dns["nameservers"]) == ("172.16.28.5", "255.255.255.0",
                                                                      "172.16.28.1", ["1.1.1.1"])
    new = cni.summarize({"cniVersion": "1.0.0",
                         "interfaces": [{"name": "veth1"}, {"name": "eth0", "sandbox": "/proc/1/ns/net"}],
                         "ips": [{"address": "fd00::2/64", "interface": 1},
                                 {"address": "10.1.0.7/16", "gateway": "10.1.0.1", "interface": 1}]})
    assert (new.ip, new.mask, new.gateway, new.host_if) == ("10.1.0.7", "255.255.0.0", "10.1.0.1", "veth1")


def test_plugin_input_adds_name_version_prev_result_and_capabilities():
    conf = cni.parse(json.dumps({"name": "n", "cniVersion": "0.4.0", "plugins": [
        {"type": "ptp"}, {"type": "portmap", "capabilities": {"portMappings": True}}]}).encode(), "n.conflist")
    runtime = {"portMappings": [{"hostPort": 80}], "bandwidth": {}}
    first = json.loads(cni._plugin_input(conf, conf.plugins[0], None, runtime))
    assert first == {"type": "ptp", "name": "n", "cniVersion": "0.4.0"}
    second = json.loads(cni._plugin_input(conf, conf.plugins[1], {"ips": []}, runtime))
    assert second["prevResult"] == {"ips": []}
    assert second["runtimeConfig"] == {"portMappings": [{"hostPort": 80}]}
    single = cni.parse(b'{"name": "s", "type": "bridge"}', "s.conf")
    assert cni._plugin_input(single, single.plugins[0], None, None) == single.raw
    assert conf.supports_check and not single.supports_check


def test_ports_are_matched_by_name():
    pod = {"apps": [{"name": "a", "app": {"ports": [{"name": "http", "protocol": "tcp", "port": 80}]}},
                    {"name": "b"}],
           "ports": [{"name": "http", "hostPort": 8080}, {"name": "dns", "hostPort": 53, "hostIP": "10.0.0.1"}]}
    fws = portfwd.forwards(pod, {"b": {"ports": [{"name": "dns", "protocol": "UDP", "port": 5353}]}})
    assert fws == [portfwd.Forward("http", "tcp", 8080, 80), portfwd.Forward("dns", "udp", 53, 5353, "10.0.0.1")]
    with pytest.raises(portfwd.PortError, match='port name "ssh" is not defined by any app'):
        portfwd.forwards({"apps": [], "ports": [{"name": "ssh", "hostPort": 22}]}, {})


def test_the_pods_table():
    uuid = "6a0714ae-3b7f-494a-aee5-c1851da0716d"
    text = portfwd.ruleset(uuid, "172.16.28.2", (portfwd.Forward("http", "tcp", 8080, 80, "10.0.0.1"),))
    assert text.startswith("table ip rkt-6a0714ae3b7f494aaee5c1851da0716d {")
    assert "fib daddr type local ip daddr 10.0.0.1 tcp dport 8080 dnat to 172.16.28.2:80" in text
    assert "ip saddr 127.0.0.0/8 ip daddr 172.16.28.2 tcp dport 80 masquerade" in text
    assert "chain masquerade" not in text  # the default network's: stage1.net.nftables


def test_the_masquerade_batch():
    """One transaction: the table, its nat chain and three rules, only the last acknowledged."""
    from stage1.net import nftables
    messages = nftables.masquerade_messages("rkt-x", "172.16.28.0/24")
    assert [m[0] for m in messages] == [nftables.NFT_MSG_NEWTABLE, nftables.NFT_MSG_NEWCHAIN] + \
        [nftables.NFT_MSG_NEWRULE] * 3
    batch = nftables._batch(messages)
    kinds, offset = [], 0
    while offset < len(batch):
        length, kind, flags = __import__("struct").unpack_from("=IHH", batch, offset)
        kinds.append((kind, bool(flags & nftables.NLM_F_ACK)))
        offset += length
    assert kinds[0] == (nftables.NFNL_MSG_BATCH_BEGIN, False) and kinds[-1] == (nftables.NFNL_MSG_BATCH_END, False)
    assert [ack for _, ack in kinds[1:-1]] == [False] * 4 + [True]
    assert b"masq\0" in batch and b"nat\0" in batch and bytes([172, 16, 28, 0]) in batch


def test_tagged_iptables_rules():
    uuid = "4f58450d-c555-4d9c-a8bb-04587b787834"
    saved = "\n".join([
        "*nat", ":CNI-5bb8 - [0:0]",
        '-A POSTROUTING -s 10.66.0.2/32 -m comment --comment "name: \\"pm\\" id: \\"%s\\"" -j CNI-5bb8' % uuid,
        '-A CNI-5bb8 ! -d 224.0.0.0/4 -m comment --comment "name: \\"pm\\" id: \\"%s\\"" -j MASQUERADE' % uuid,
        '-A POSTROUTING -s 10.66.0.3/32 -m comment --comment "name: \\"pm\\" id: \\"other\\"" -j CNI-9999',
        "COMMIT"])
    rules, chains = iptables.tagged_rules(saved, uuid)
    assert len(rules) == 2 and rules[0].startswith("POSTROUTING -s 10.66.0.2/32")
    assert chains == ["CNI-5bb8"]


def test_resolv_conf_from_a_result(tmp_path):
    results = [("a", {}), ("b", {"nameservers": ["10.0.0.53"], "search": ["x.test"], "domain": "x.test"})]
    assert dns.write_from_cni(str(tmp_path), "stage0", results) is None
    assert dns.write_from_cni(str(tmp_path), "default", results) == "b"
    assert (tmp_path / dns.RESOLV).read_text() == ("# Generated by rkt from network b\nnameserver 10.0.0.53\n"
                                                   "search x.test\ndomain x.test\n")
    assert dns.write_from_cni(str(tmp_path), "default", results) is None  # the first one stays


def test_ipv6_host_address_and_disable_check_and_the_main_network(tmp_path):
    with pytest.raises(portfwd.PortError, match="IPv6 host address ::1 is not supported"):
        portfwd.forwards({"apps": [{"name": "a", "app": {"ports": [{"name": "p", "port": 1}]}}],
                          "ports": [{"name": "p", "hostPort": 1, "hostIP": "::1"}]}, {})
    off = cni.parse(b'{"name": "n", "cniVersion": "1.0.0", "disableCheck": true, "plugins": [{"type": "ptp"}]}',
                    "n.conflist")
    assert not off.supports_check
    portfwd.route_localnet("")  # no host-side link (macvlan): nothing to set, no error
    write(tmp_path / "net.d", "10-m.conf", {"name": "m", "type": "macvlan", "ipMasq": False})
    write(tmp_path / "net.d", "20-b.conf", {"name": "b", "type": "bridge", "ipMasq": True})
    nets = setup.select([("m", ""), ("b", "")], str(tmp_path), str(tmp_path))
    assert setup._forwardable(nets, str(tmp_path)) == 1  # the first masqueraded one
    nets = setup.select([("m", "")], str(tmp_path), str(tmp_path))
    assert [n.name for n in nets] == ["m", "default-restricted"]
    assert setup._forwardable(nets, str(tmp_path)) == 1  # none masqueraded: the last


@pytest.mark.parametrize("value", [{"a": [1, -2.5e3, "\u00e9\"\n", None, True, {}]}, [], "x", 0.1,
                                   {"cniVersion": "0.4.0", "ipam": {"routes": [{"dst": "0.0.0.0/0"}]}}])
def test_dump_json_writes_what_json_writes(value):
    from stage1.files import dump_json
    assert dump_json(value) == json.dumps(value)


def test_dump_json_refuses_what_json_refuses():
    from stage1.files import dump_json
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        dump_json({"a": {1}})


def test_network_start_and_teardown_import_no_enum_re_or_json(tmp_path):
    """The waiting parent attaches the pod's networks, and its keeper later detaches them,
    without enum, re or json: ~10 ms of imports on every default-network start."""
    import os
    import subprocess
    import sys
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = {"cniVersion": "0.4.0", "interfaces": [{"name": "veth1"}],
              "ips": [{"version": "4", "address": "172.16.28.5/24", "gateway": "172.16.28.1"}]}
    code = ("import sys\n"
            f"sys.path[:0] = [{repo!r}]\n"
            "from stage1 import init\n"
            "from stage1.net import cni, keeper, link, portfwd, setup\n"
            f"configs = setup.select([('default', '')], '', {str(tmp_path)!r})\n"
            "cni._plugin_input(configs[0], configs[0].plugins[0], {'x': 1}, {})\n"
            "from stage1.files import parse_json\n"
            f"cni.summarize(parse_json({json.dumps(result).encode()!r}))\n"
            f"setup._save({str(tmp_path)!r}, [{{'netName': 'default'}}])\n"
            f"setup._load_records({str(tmp_path)!r})\n"
            "from stage1.net import nftables\n"
            "nftables._batch(nftables.masquerade_messages('u', setup.DEFAULT_SUBNET))\n"
            "print(sorted({'enum', 're', 'json'} & set(sys.modules)))\n")
    (tmp_path / "net").mkdir()
    out = subprocess.run([sys.executable, "-IS", "-c", code], capture_output=True, text=True, timeout=60)
    assert (out.stdout, out.stderr) == ("[]\n", "")


def test_the_keepers_report_on_attaching():
    import os
    for report, expected in ((b"ok 172.16.28.1", "172.16.28.1"), (b"ok ", "")):
        r, w = os.pipe()
        os.write(w, report)
        os.close(w)
        assert setup.wait_attached(r) == expected
    for report, message in ((b'err network "x": plugin failed', 'network "x": plugin failed'),
                            (b"", "the network's keeper ended before attaching it")):
        r, w = os.pipe()
        os.write(w, report)
        os.close(w)
        with pytest.raises(setup.NetSetupError, match=message):
            setup.wait_attached(r)
