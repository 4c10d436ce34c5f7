"""Links, addresses and routes over rtnetlink, for the built-in networks' own ptp (`stage1.net.ptp`).

A `Netlink` is a route netlink socket of one network namespace (`netlink.open_socket`: the
caller never has to stay in the pod's). Requests are sent with an acknowledgement and fail
with OSError(errno).
"""

from __future__ import annotations

import errno
import struct

from stage1.net import netlink
from stage1.net.netlink import NLM_F_ACK, attr, attributes, ipv4

NETLINK_ROUTE, AF_INET = 0, 2
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE, RTM_DELROUTE = 16, 17, 18, 20, 24, 25
NLM_F_EXCL, NLM_F_CREATE = 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_TXQLEN, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 13, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST = 1, 2, 4
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PREFSRC = 1, 4, 5, 7
IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_BOOT, RTPROT_KERNEL, RTN_UNICAST = 254, 3, 2, 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("=BxHiII", 0, 0, index, flags, change)


class Netlink:
    """A route netlink socket in the namespace at `netns_path` (ours when empty)."""

    def __init__(self, netns_path: str = ""):
        self._seq = 0
        self.sock = netlink.open_socket(NETLINK_ROUTE, netns_path)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Netlink:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def request(self, kind: int, body: bytes, flags: int = 0) -> bytes:
        """Send one request and return the reply message (for a GET) after its acknowledgement;
        OSError with the kernel's errno."""
        self._seq += 1
        return netlink.exchange(self.sock, netlink.message(kind, NLM_F_ACK | flags, self._seq, body),
                                self._seq)

    # -- links ----------------------------------------------------------------------------------
    def link(self, name: str) -> tuple[int, str]:
        """(index, MAC address) of interface `name`; OSError ENODEV when there is none."""
        reply = self.request(RTM_GETLINK, _ifinfo() + attr(IFLA_IFNAME, name.encode() + b"\0"))
        index = struct.unpack_from("=i", reply, 20)[0]
        mac = attributes(reply, 32).get(IFLA_ADDRESS, b"")
        return index, ":".join(f"{b:02x}" for b in mac)

    def add_veth(self, name: str, peer: str, peer_netns_fd: int) -> None:
        """A veth pair: `name` here, `peer` in the namespace of `peer_netns_fd`; no transmit
        queue length on either end, as CNI's plugins make them."""
        no_queue = attr(IFLA_TXQLEN, struct.pack("=I", 0))
        peer_info = _ifinfo() + attr(IFLA_IFNAME, peer.encode() + b"\0") + no_queue + \
            attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
        info = attr(IFLA_INFO_KIND, b"veth\0") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info))
        self.request(RTM_NEWLINK, _ifinfo() + attr(IFLA_IFNAME, name.encode() + b"\0") + no_queue +
                     attr(IFLA_LINKINFO, info), NLM_F_CREATE | NLM_F_EXCL)

    def up(self, index: int) -> None:
        self.request(RTM_NEWLINK, _ifinfo(index, IFF_UP, IFF_UP))

    def delete(self, name: str) -> None:
        """Delete interface `name` (a veth takes its peer with it); one already gone is fine."""
        try:
            self.request(RTM_DELLINK, _ifinfo() + attr(IFLA_IFNAME, name.encode() + b"\0"))
        except OSError as err:
            if err.errno != errno.ENODEV:
                raise

    # -- addresses and routes -------------------------------------------------------------------
    def add_address(self, index: int, address: str, prefix: int) -> None:
        """`address/prefix` on interface `index`, with the subnet's broadcast address below /31
        (as `ip addr add ... brd +` and CNI's plugins)."""
        body = struct.pack("=BBBBi", AF_INET, prefix, 0, RT_SCOPE_UNIVERSE, index)
        body += attr(IFA_LOCAL, ipv4(address)) + attr(IFA_ADDRESS, ipv4(address))
        if prefix < 31:
            host_bits = (1 << (32 - prefix)) - 1
            value = int.from_bytes(ipv4(address), "big") | host_bits
            body += attr(IFA_BROADCAST, value.to_bytes(4, "big"))
        self.request(RTM_NEWADDR, body, NLM_F_CREATE | NLM_F_EXCL)

    def route(self, add: bool, dst: str, prefix: int, index: int, *, gateway: str = "",
              source: str = "", scope: int = RT_SCOPE_UNIVERSE, protocol: int = RTPROT_BOOT) -> None:
        """Add (or delete) the IPv4 route to `dst/prefix` out of interface `index`."""
        body = struct.pack("=BBBBBBBBI", AF_INET, prefix, 0, 0, RT_TABLE_MAIN, protocol, scope,
                           RTN_UNICAST, 0)
        body += attr(RTA_OIF, struct.pack("=i", index))
        if prefix:
            body += attr(RTA_DST, ipv4(dst))
        if gateway:
            body += attr(RTA_GATEWAY, ipv4(gateway))
        if source:
            body += attr(RTA_PREFSRC, ipv4(source))
        if add:
            self.request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL)
        else:
            self.request(RTM_DELROUTE, body)


def delete(netns_path: str, name: str) -> None:
    """Delete interface `name` in the namespace at `netns_path`; one already gone is fine.
    Removing a veth makes the kernel wait for RCU grace periods (~15-25 ms here)."""
    with Netlink(netns_path) as nl:
        nl.delete(name)
