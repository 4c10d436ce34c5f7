"""The pod's nftables table: its published ports and the default network's masquerade.

Each pod owns one table, `ip rkt-<uuid>`, so that removing it is a single idempotent command
whatever happened to the pod. A published port is a DNAT from any local address (rkt's
`addrtype LOCAL`: the host's addresses for other hosts, and 127.0.0.1 for the host itself) to
the pod's address; connections from 127.0.0.1 are masqueraded and need `route_localnet` on the
host side of the pod's link, which rkt never set up for loopback (rkt #1256, #3886).
"""

from __future__ import annotations

import os

from stage1.net import proc

NFT = "nft"
NFT_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin")
ENV = {"PATH": "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin"}


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


def ruleset(uuid: str, pod_ip: str, *, masquerade_from: str = "", forwards_: tuple = ()) -> str:
    """The table for a pod: masquerade of the traffic leaving `masquerade_from` (its subnet),
    and its port forwards to `pod_ip`. The masquerade names the subnet, not the pod's address,
    so that the table can be made while the plugins still choose that address; every pod on
    the subnet has the same rule, and the first NAT rule matching a connection decides it."""
    dnat, snat = [], []
    for fw in forwards_:
        dst = f"ip daddr {fw.host_ip} " if fw.host_ip else ""
        dnat.append(f"fib daddr type local {dst}{fw.protocol} dport {fw.host_port} "
                    f"dnat to {pod_ip}:{fw.pod_port}")
        snat.append(f"ip saddr 127.0.0.0/8 ip daddr {pod_ip} {fw.protocol} dport {fw.pod_port} masquerade")
    if masquerade_from:
        snat.append(f"ip saddr {masquerade_from} ip daddr != {{ {masquerade_from}, 224.0.0.0/4 }} masquerade")
    lines = [f"table ip {table_name(uuid)} {{"]
    if dnat:
        for chain, hook in (("prerouting", "prerouting priority dstnat"),
                            ("output", "output priority -100")):
            lines += [f"  chain {chain} {{", f"    type nat hook {hook};", *(f"    {r}" for r in dnat), "  }"]
    if snat:
        lines += ["  chain postrouting {", "    type nat hook postrouting priority srcnat;",
                  *(f"    {r}" for r in snat), "  }"]
    return "\n".join(lines + ["}"]) + "\n"


def _nft_path() -> str | None:
    return next((f"{d}/{NFT}" for d in NFT_DIRS if os.access(f"{d}/{NFT}", os.X_OK)), None)


def _nft_start(script: str, *, missing_ok: bool = False) -> proc.Running | None:
    """`nft -f -` started on `script`; None when nft is missing and `missing_ok`."""
    nft = _nft_path()
    if nft is None:
        if missing_ok:
            return None  # without nft installed no table can exist
        raise PortError("nft (Debian package nftables) is needed for this pod's network")
    try:
        return proc.start([nft, "-f", "-"], stdin=script.encode(), env=ENV, capture="stderr",
                          other="devnull")
    except OSError as error:
        raise PortError(f"cannot run {nft}: {error.strerror}") from None


def nft_done(running: proc.Running | None) -> None:
    """Wait for an nft started by `_nft_start`; PortError with its first error line."""
    if running is None:
        return
    code, err = running.wait()
    if code != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise PortError(f"nft: {lines[0] if lines else f'exit status {code}'}")


def install_start(uuid: str, pod_ip: str, *, masquerade_from: str = "",
                  forwards_: tuple = ()) -> proc.Running | None:
    """Start creating the pod's table (`nft_done` waits for it); None when there is nothing to
    put in it."""
    if not masquerade_from and not forwards_:
        return None
    return _nft_start(ruleset(uuid, pod_ip, masquerade_from=masquerade_from, forwards_=forwards_))


def remove_start(uuid: str) -> proc.Running | None:
    """Start deleting the pod's table (declaring it first makes the deletion succeed when it is
    gone); `nft_done` waits for it. The kernel's table removal waits for RCU grace periods: the
    plugins' DEL runs meanwhile."""
    return _nft_start(f"table ip {table_name(uuid)}\ndelete table ip {table_name(uuid)}\n",
                      missing_ok=True)


def remove(uuid: str) -> None:
    """Delete the pod's table, idempotently."""
    nft_done(remove_start(uuid))


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
