"""Deleting an interface inside the pod's network namespace over rtnetlink.

Removing a veth makes the kernel wait for RCU grace periods (~15-25 ms here) while the caller
blocks. For the built-in networks the keeper deletes the pod's end itself while their plugin's
DEL releases the address, instead of after it, as the plugin would. `_socket` (the C module),
not `socket`: the keeper imports nothing more for it.
"""

from __future__ import annotations

import errno
import os
import struct

import _socket

from stage1 import kernel

AF_NETLINK, NETLINK_ROUTE = 16, 0
RTM_DELLINK, NLMSG_ERROR = 17, 2
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4
IFLA_IFNAME = 3


def _dellink_request(name: str) -> bytes:
    """RTM_DELLINK of interface `name`: nlmsghdr, an empty ifinfomsg, IFLA_IFNAME."""
    raw = name.encode() + b"\0"
    attr = struct.pack("=HH", 4 + len(raw), IFLA_IFNAME) + raw
    attr += bytes(-len(attr) % 4)
    body = bytes(16) + attr  # ifinfomsg: family, type, index, flags, change all 0
    return struct.pack("=IHHII", 16 + len(body), RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, 1, 0) + body


def _ack_error(reply: bytes) -> int:
    """The errno of a netlink acknowledgement (0 for success)."""
    if len(reply) < 20 or struct.unpack_from("=H", reply, 4)[0] != NLMSG_ERROR:
        return errno.EPROTO
    return -struct.unpack_from("=i", reply, 16)[0]


def _socket_in(netns_path: str):
    """A route netlink socket of the namespace at `netns_path` (a socket stays in the namespace
    it was made in); this process returns to its own namespace at once."""
    k = kernel.current()
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            k.setns(target, kernel.CLONE_NEWNET)
        finally:
            os.close(target)
        try:
            return _socket.socket(AF_NETLINK, _socket.SOCK_RAW, NETLINK_ROUTE)
        finally:
            k.setns(own, kernel.CLONE_NEWNET)
    finally:
        os.close(own)


def delete(netns_path: str, name: str) -> None:
    """Delete interface `name` in the namespace at `netns_path` (a veth takes its peer with
    it); one already gone is fine. OSError otherwise."""
    sock = _socket_in(netns_path)
    try:
        sock.sendto(_dellink_request(name), (0, 0))
        code = _ack_error(sock.recv(4096))
    finally:
        sock.close()
    if code not in (0, errno.ENODEV):
        raise OSError(code, os.strerror(code))
