"""The netlink wire format shared by stage1's two netlink users: rtnetlink (`link`) and nfnetlink (`nftables`).

A message is a 16-byte header and a body ending in attributes (type, length, value; 4-byte
aligned); the kernel answers a request flagged NLM_F_ACK with an NLMSG_ERROR whose code is 0
on success. `_socket` (the C module), not `socket`: stage1 imports nothing more for it.
"""

from __future__ import annotations

import os
import struct

import _socket

AF_NETLINK = 16
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK = 0x1, 0x4


def attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + bytes(-len(raw) % 4)


def attributes(data: bytes, offset: int) -> dict[int, bytes]:
    """The (first of each kind of) attributes from `offset` on."""
    found = {}
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        if length < 4:
            break
        found.setdefault(kind & 0x3FFF, data[offset + 4:offset + length])
        offset += (length + 3) & ~3
    return found


def ipv4(address: str) -> bytes:
    return bytes(int(part) for part in address.split("."))


def message(kind: int, flags: int, seq: int, body: bytes) -> bytes:
    """One request: the header (NLM_F_REQUEST added to `flags`) and `body`."""
    return struct.pack("=IHHII", 16 + len(body), kind, NLM_F_REQUEST | flags, seq, 0) + body


def open_socket(protocol: int, netns_path: str = ""):
    """A netlink socket of `protocol` in the network namespace at `netns_path` (ours when
    empty): a socket stays in the namespace it was made in, so the caller never has to."""
    if not netns_path:
        return _socket.socket(AF_NETLINK, _socket.SOCK_RAW, protocol)
    from stage1 import kernel  # here: nftables' socket, in our namespace, needs no libc (ctypes)

    k = kernel.current()
    own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            k.setns(target, kernel.CLONE_NEWNET)
        finally:
            os.close(target)
        try:
            return _socket.socket(AF_NETLINK, _socket.SOCK_RAW, protocol)
        finally:
            k.setns(own, kernel.CLONE_NEWNET)
    finally:
        os.close(own)


def exchange(sock, requests: bytes, last_seq: int) -> bytes:
    """Send `requests` (one or a batch, the one numbered `last_seq` flagged NLM_F_ACK) and wait
    for that acknowledgement; the last reply to it (a GET's answer, b"" for none). OSError with
    the kernel's errno when it refuses any of them."""
    sock.sendto(requests, (0, 0))
    answer = b""
    while True:
        data = sock.recv(65536)
        offset = 0
        while offset + 16 <= len(data):
            length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, offset)
            if kind == NLMSG_ERROR:
                code = -struct.unpack_from("=i", data, offset + 16)[0]
                if code:
                    raise OSError(code, os.strerror(code))
                if seq == last_seq:
                    return answer
            elif seq == last_seq:
                if kind == NLMSG_DONE:
                    return answer
                answer = data[offset:offset + length]
            offset += (length + 3) & ~3
