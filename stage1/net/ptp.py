"""The built-in networks' point-to-point link, made in-process as the CNI ptp plugin makes it.

`default` and `default-restricted` are ptp + host-local configs that stage1 generates; running
the two plugins costs two Go program starts (~10 ms at every pod start, and again to release
the address). Here the same state is made directly over rtnetlink (`link`) with the same lease
files (`ipam`): a veth pair, the pod's end `eth<i>` with its address, its connected route
replaced by a /32 route to the gateway and the subnet through it, the IPAM routes; the host's
end with the gateway's address as /32 and a host route to the pod; IPv4 forwarding on. The
result is ptp's, so that CHECK (the real ptp, with --debug) and everything reading the records
see no difference. User networks still run their plugins.
"""

from __future__ import annotations

import os

from stage1.net import ipam, link
from stage1.net.link import RT_SCOPE_LINK

RT_SCOPE_HOST, RT_SCOPE_NOWHERE = 254, 255


class PtpError(Exception):
    pass


def _ipam(config) -> tuple[dict, ipam.Subnet]:
    conf = config.plugins[0].get("ipam") or {}
    try:
        return conf, ipam.Subnet(str(conf.get("subnet", "")))
    except ipam.IpamError as err:
        raise PtpError(str(err)) from None


def add(config, at) -> dict:
    """Attach the pod (`at`: a cni.Attachment) to the built-in network `config`; ptp's result."""
    conf, subnet = _ipam(config)
    try:
        wanted = ipam.requested_ip(at.args)
        with ipam.Store(conf["dataDir"], config.name) as store:
            address = store.allocate(subnet, at.container_id, at.if_name, wanted)
    except ipam.IpamError as err:
        raise PtpError(str(err)) from None
    except OSError as err:
        raise PtpError(f"leases in {conf.get('dataDir')}: {err.strerror}") from None
    ip, gw = ipam.to_text(address), ipam.to_text(subnet.gateway)
    net, prefix = ipam.to_text(subnet.network), subnet.prefix
    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with link.Netlink(at.netns) as pod, link.Netlink() as host:
            host_name = _add_veth(pod, at.if_name, host_fd)
            pod_index, pod_mac = pod.link(at.if_name)
            host_index, host_mac = host.link(host_name)
            pod.up(pod_index)
            host.up(host_index)
            pod.add_address(pod_index, ip, prefix)
            # ptp's routing: no connected route, the gateway on the link, the subnet through it
            pod.route(False, net, prefix, pod_index, scope=RT_SCOPE_NOWHERE, protocol=0)
            pod.route(True, gw, 32, pod_index, source=ip, scope=RT_SCOPE_LINK)
            pod.route(True, net, prefix, pod_index, gateway=gw, source=ip)
            for route in conf.get("routes") or ():
                dst, _, plen = str(route.get("dst", "")).partition("/")
                pod.route(True, dst, int(plen or 32), pod_index, gateway=route.get("gw") or gw)
            host.add_address(host_index, gw, 32)
            host.route(True, ip, 32, host_index, scope=RT_SCOPE_HOST)
    except (OSError, ValueError) as err:
        # the record is saved: the keeper's teardown removes the link and the lease
        raise PtpError(f"setting up the pod's link: {getattr(err, 'strerror', None) or err}") from None
    finally:
        os.close(host_fd)
    _enable_forwarding()
    return {"cniVersion": config.version,
            "interfaces": [{"name": host_name, "mac": host_mac},
                           {"name": at.if_name, "mac": pod_mac, "sandbox": at.netns}],
            "ips": [{"version": "4", "interface": 1, "address": f"{ip}/{prefix}", "gateway": gw}],
            "routes": [dict(r) for r in conf.get("routes") or ()],
            "dns": {}}


def _add_veth(pod: link.Netlink, name: str, host_fd: int) -> str:
    """The veth pair, `name` in the pod and `veth<8 hex>` (ptp's random name) on the host."""
    for _ in range(10):
        host_name = "veth" + os.urandom(4).hex()
        try:
            pod.add_veth(name, host_name, host_fd)
            return host_name
        except FileExistsError:
            continue  # that host name is taken (the pod's is new in its namespace)
    raise OSError(17, "no free name for the host's end of the veth")


def _enable_forwarding() -> None:
    path = "/proc/sys/net/ipv4/ip_forward"
    try:
        with open(path, "r+") as f:
            if f.read().strip() != "1":
                f.seek(0)
                f.write("1")
    except OSError as err:
        raise PtpError(f"enabling IPv4 forwarding: {err.strerror}") from None


def delete(config, at) -> list[str]:
    """Release the pod's address and, when the namespace still exists (`at.netns`), delete its
    link; what failed. The kernel's veth removal waits for RCU grace periods: the address is
    released first, the link last."""
    failures = []
    try:
        conf, _subnet = _ipam(config)
        with ipam.Store(conf["dataDir"], config.name) as store:
            store.release(at.container_id, at.if_name)
    except (PtpError, KeyError) as err:
        failures.append(f"releasing the address: {err}")
    except OSError as err:
        failures.append(f"releasing the address: {err.strerror}")
    if at.netns and at.if_name:
        try:
            link.delete(at.netns, at.if_name)
        except OSError as err:
            failures.append(f"deleting {at.if_name}: {err.strerror}")
    return failures
