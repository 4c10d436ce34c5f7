"""The pod's nftables table: its published ports and the default network's masquerade.

Each pod owns one table, `ip rkt-<uuid>`, so that removing it is a single idempotent deletion
whatever happened to the pod. The masquerade and the deletion go over nfnetlink (`nftables`);
port forwards are written by `nft`. A published port is a DNAT from any local address (rkt's
`addrtype LOCAL`: the host's addresses for other hosts, and 127.0.0.1 for the host itself) to
the pod's address; connections from 127.0.0.1 are masqueraded and need `route_localnet` on the
host side of the pod's link, which rkt never set up for loopback (rkt #1256, #3886).
"""

from __future__ import annotations

from stage1.net import proc

NFT = "nft"
NFT_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin")


class PortError(Exception):
    pass


class Forward:
    """Host `host_ip:host_port` (any local address when host_ip is empty) to the pod's port."""

    __slots__ = ("name", "protocol", "host_port", "pod_port", "host_ip")

    def __init__(self, name: str, protocol: str, host_port: int, pod_port: int, host_ip: str = ""):
        self.name, self.protocol, self.host_port = name, protocol, host_port
        self.pod_port, self.host_ip = pod_port, host_ip

    def _key(self) -> tuple:
        return (self.name, self.protocol, self.host_port, self.pod_port, self.host_ip)

    def __eq__(self, other) -> bool:
        return isinstance(other, Forward) and self._key() == other._key()

    def __repr__(self) -> str:
        return f"Forward{self._key()!r}"


def forwards(pod_manifest: dict, image_apps: dict[str, dict]) -> list[Forward]:
    """The pod manifest's `ports` matched with the ports its apps declare (by name)."""
    declared: dict[str, dict] = {}
    for entry in pod_manifest.get("apps") or ():
        app = entry.get("app") or image_apps.get(entry.get("name")) or {}
        for port in app.get("ports") or ():
            declared.setdefault(port.get("name"), port)
    found = []
    for exposed in pod_manifest.get("ports") or ():
        port = declared.get(exposed.get("name"))
        if port is None:
            raise PortError(f'port name "{exposed.get("name")}" is not defined by any app')
        protocol = str(port.get("protocol", "tcp")).lower()
        if protocol not in ("tcp", "udp"):
            raise PortError(f'port "{exposed["name"]}": protocol {protocol!r} cannot be forwarded')
        host_ip = exposed.get("hostIP") or ""
        if host_ip in ("0.0.0.0", "::"):
            host_ip = ""
        if ":" in host_ip:
            raise PortError(f'port "{exposed["name"]}": IPv6 host address {host_ip} is not supported')
        found.append(Forward(exposed["name"], protocol, int(exposed["hostPort"]),
                             int(port["port"]), host_ip))
    return found


def table_name(uuid: str) -> str:
    return "rkt-" + uuid.replace("-", "").lower()


def ruleset(uuid: str, pod_ip: str, forwards_: tuple) -> str:
    """The port forwards to `pod_ip` in the pod's table (chains beside `nftables`' masquerade)."""
    dnat, snat = [], []
    for fw in forwards_:
        dst = f"ip daddr {fw.host_ip} " if fw.host_ip else ""
        dnat.append(f"fib daddr type local {dst}{fw.protocol} dport {fw.host_port} "
                    f"dnat to {pod_ip}:{fw.pod_port}")
        snat.append(f"ip saddr 127.0.0.0/8 ip daddr {pod_ip} {fw.protocol} dport {fw.pod_port} masquerade")
    lines = [f"table ip {table_name(uuid)} {{"]
    for chain, hook in (("prerouting", "prerouting priority dstnat"),
                        ("output", "output priority -100")):
        lines += [f"  chain {chain} {{", f"    type nat hook {hook};", *(f"    {r}" for r in dnat), "  }"]
    lines += ["  chain postrouting {", "    type nat hook postrouting priority srcnat;",
              *(f"    {r}" for r in snat), "  }"]
    return "\n".join(lines + ["}"]) + "\n"


def install(uuid: str, pod_ip: str, forwards_: tuple) -> None:
    """Add the port forwards to the pod's table (made if need be) with `nft -f`."""
    nft = proc.find(NFT, NFT_DIRS)
    if nft is None:
        raise PortError("nft (Debian package nftables) is needed to publish ports")
    try:
        code, err = proc.run([nft, "-f", "-"], stdin=ruleset(uuid, pod_ip, forwards_).encode(),
                             env=proc.TOOL_ENV, capture="stderr", other="devnull")
    except OSError as error:
        raise PortError(f"cannot run {nft}: {error.strerror}") from None
    if code != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise PortError(f"nft: {lines[0] if lines else f'exit status {code}'}")


def masquerade(uuid: str, subnet: str) -> None:
    """The default network's masquerade in the pod's table (nftables.add_masquerade)."""
    from stage1.net import nftables
    try:
        nftables.add_masquerade(table_name(uuid), subnet)
    except OSError as err:
        raise PortError(f"masquerade in table {table_name(uuid)}: {err.strerror}") from None


def remove(uuid: str):
    """Delete the pod's table, idempotently; a `nftables.Deleted` to close once the pod's links
    are gone too."""
    from stage1.net import nftables
    try:
        return nftables.delete_table(table_name(uuid))
    except OSError as err:
        raise PortError(f"deleting table {table_name(uuid)}: {err.strerror}") from None


def route_localnet(interface: str) -> None:
    """Let the host route 127.0.0.1-sourced packets out of `interface` (the pod's host side),
    so that DNAT of 127.0.0.1 reaches the pod. Only that interface changes; a network without
    a host-side link (macvlan, ipvlan) has none, and its ports answer on other addresses only."""
    if not interface:
        return
    if "/" in interface or interface.startswith("."):
        raise PortError(f"invalid host interface name {interface!r}")
    try:
        with open(f"/proc/sys/net/ipv4/conf/{interface}/route_localnet", "w") as f:
            f.write("1")
    except OSError as err:
        raise PortError(f"route_localnet on {interface}: {err.strerror}") from None
