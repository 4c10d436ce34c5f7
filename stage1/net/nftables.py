"""The default network's masquerade in the pod's nftables table, made over nfnetlink directly.

Running `nft` costs ~8 ms of CPU at every start and again at every end (its libraries load for
a three-rule table); one netlink batch does the same in well under a millisecond. The table
`ip rkt-<uuid>` gets a base chain `masquerade` (nat, postrouting, srcnat priority) with rkt's
ptp masquerade: traffic to the subnet or to multicast returns unchanged, traffic from the
subnet to anywhere else is masqueraded. Published ports are still written by `nft` (portfwd)
into other chains of the same table, and the whole table goes with one deletion here.
"""

from __future__ import annotations

import errno
import struct

import _socket

from stage1.net import netlink
from stage1.net.netlink import NLM_F_ACK, attr

NETLINK_NETFILTER, NFPROTO_IPV4, NFNL_SUBSYS_NFTABLES = 12, 2, 10
NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END = 16, 17
NFT_MSG_NEWTABLE, NFT_MSG_DELTABLE, NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE = 0, 2, 3, 6
NLM_F_CREATE, NLM_F_APPEND = 0x400, 0x800
NESTED = 0x8000
NF_INET_POST_ROUTING, NF_IP_PRI_NAT_SRC = 4, 100
NFT_REG_VERDICT, NFT_REG_1, NFT_RETURN = 0, 1, -5
NFT_PAYLOAD_NETWORK_HEADER, IP_SADDR, IP_DADDR = 1, 12, 16
CHAIN = "masquerade"


def _nest(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NESTED, b"".join(attrs))


def _str(kind: int, text: str) -> bytes:
    return attr(kind, text.encode() + b"\0")


def _u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack(">i" if value < 0 else ">I", value))


def _expr(name: str, *data: bytes) -> bytes:
    """One NFTA_LIST_ELEM: NFTA_EXPR_NAME, NFTA_EXPR_DATA."""
    return _nest(1, _str(1, name), *((_nest(2, *data),) if data else ()))


def _value(kind: int, raw: bytes) -> bytes:
    return _nest(kind, attr(1, raw))  # NFTA_DATA_VALUE


def _prefix_match(offset: int, cidr: str) -> list[bytes]:
    """payload (IPv4 address at `offset`) & mask == network: `ip saddr|daddr <cidr>`."""
    address, _, length = cidr.partition("/")
    mask = (0xFFFFFFFF << (32 - int(length))) & 0xFFFFFFFF
    network = int.from_bytes(netlink.ipv4(address), "big") & mask
    return [_expr("payload", _u32(1, NFT_REG_1), _u32(2, NFT_PAYLOAD_NETWORK_HEADER),
                  _u32(3, offset), _u32(4, 4)),
            _expr("bitwise", _u32(1, NFT_REG_1), _u32(2, NFT_REG_1), _u32(3, 4),
                  _value(4, mask.to_bytes(4, "big")), _value(5, bytes(4))),
            _expr("cmp", _u32(1, NFT_REG_1), _u32(2, 0), _value(3, network.to_bytes(4, "big")))]


def _rule(table: str, exprs: list[bytes]) -> tuple[int, int, bytes]:
    return (NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND,
            _str(1, table) + _str(2, CHAIN) + _nest(4, *exprs))


def masquerade_messages(table: str, subnet: str) -> list[tuple[int, int, bytes]]:
    """(type, flags, attributes) of the table, its chain and its three rules."""
    back = _expr("immediate", _u32(1, NFT_REG_VERDICT),
                 _nest(2, _nest(2, _u32(1, NFT_RETURN))))  # NFTA_DATA_VERDICT: NFTA_VERDICT_CODE
    hook = _nest(4, _u32(1, NF_INET_POST_ROUTING), _u32(2, NF_IP_PRI_NAT_SRC))
    return [(NFT_MSG_NEWTABLE, NLM_F_CREATE, _str(1, table)),
            (NFT_MSG_NEWCHAIN, NLM_F_CREATE, _str(1, table) + _str(3, CHAIN) + hook + _str(7, "nat")),
            _rule(table, _prefix_match(IP_DADDR, subnet) + [back]),
            _rule(table, _prefix_match(IP_DADDR, "224.0.0.0/4") + [back]),
            _rule(table, _prefix_match(IP_SADDR, subnet) + [_expr("masq")])]


def _batch(messages: list[tuple[int, int, bytes]]) -> bytes:
    """The messages between a batch's begin and end, the last one acknowledged."""
    def message(kind: int, flags: int, seq: int, family: int, res_id: int, body: bytes) -> bytes:
        head = struct.pack("=BBH", family, 0, _socket.htons(res_id))  # struct nfgenmsg
        return netlink.message(kind, flags, seq, head + body)

    parts = [message(NFNL_MSG_BATCH_BEGIN, 0, 1, 0, NFNL_SUBSYS_NFTABLES, b"")]
    for seq, (kind, flags, body) in enumerate(messages, start=2):
        last = NLM_F_ACK if seq == len(messages) + 1 else 0
        parts.append(message(NFNL_SUBSYS_NFTABLES << 8 | kind, flags | last, seq, NFPROTO_IPV4, 0, body))
    parts.append(message(NFNL_MSG_BATCH_END, 0, len(messages) + 2, 0, NFNL_SUBSYS_NFTABLES, b""))
    return b"".join(parts)


def send(messages: list[tuple[int, int, bytes]]):
    """Apply the messages as one transaction (all or nothing); OSError with the kernel's errno.
    Returns the socket, for the caller to close (see `delete_table`)."""
    sock = netlink.open_socket(NETLINK_NETFILTER)
    try:
        netlink.exchange(sock, _batch(messages), len(messages) + 1)
        return sock
    except BaseException:
        sock.close()
        raise


def add_masquerade(table: str, subnet: str) -> None:
    send(masquerade_messages(table, subnet)).close()


class Deleted:
    """A table deleted (its rules no longer apply) whose socket is still open: closing it waits
    for the kernel to free what the deletion left (RCU grace periods, under nf_tables' commit
    lock, which a veth's removal also takes), unless that is done by then. Close it after the
    pod's links are gone, and the two waits overlap."""

    def __init__(self, sock):
        self.sock = sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def delete_table(table: str) -> Deleted:
    """Delete table `ip <table>` and everything in it (one already gone is fine)."""
    try:
        return Deleted(send([(NFT_MSG_DELTABLE, 0, _str(1, table))]))
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise
        return Deleted(None)
