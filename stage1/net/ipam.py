"""Address leases of the built-in networks, in the CNI host-local plugin's own files.

`<dataDir>/<network>/` holds one file per leased address (named by it, containing
`<container id>\\r\\n<interface>`), `last_reserved_ip.0` (where the next search starts) and
`lock` (flock'ed around every change): the same store host-local keeps, so the two can share a
directory and either can release what the other leased. Addresses are handed out round-robin
from the subnet's first host address, the gateway (the first) excepted, as host-local does.
"""

from __future__ import annotations

import fcntl
import os

LINE_BREAK = "\r\n"
LAST = "last_reserved_ip.0"


class IpamError(Exception):
    pass


class Subnet:
    """An IPv4 subnet as integers: network address, prefix length, first and last host."""

    __slots__ = ("network", "prefix", "first", "last")

    def __init__(self, text: str):
        address, _, prefix = text.partition("/")
        try:
            self.prefix = int(prefix)
            value = to_int(address)
        except ValueError:
            raise IpamError(f"invalid subnet {text!r}") from None
        if not 0 < self.prefix <= 30:
            raise IpamError(f"subnet {text} is too small or not IPv4")
        mask = (0xFFFFFFFF << (32 - self.prefix)) & 0xFFFFFFFF
        self.network = value & mask
        self.first, self.last = self.network + 1, (self.network | ~mask & 0xFFFFFFFF) - 1

    def __contains__(self, value: int) -> bool:
        return self.first <= value <= self.last

    @property
    def gateway(self) -> int:
        return self.first


def to_int(address: str) -> int:
    parts = address.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise ValueError(f"invalid IPv4 address {address!r}")
    return int.from_bytes(bytes(int(p) for p in parts), "big")


def to_text(value: int) -> str:
    return ".".join(str(b) for b in value.to_bytes(4, "big"))


def requested_ip(cni_args: str) -> str:
    """The `IP=` of CNI_ARGS (K=V;K2=V2), refusing what host-local refuses: unknown keys unless
    IgnoreUnknown is true, and pairs that are not K=V."""
    found, unknown, ignore = "", [], False
    for pair in cni_args.split(";") if cni_args else ():
        key, sep, value = pair.partition("=")
        if not sep or "=" in value:
            raise IpamError(f"ARGS: invalid pair {pair!r}")
        if key == "IP":
            try:
                found = to_text(to_int(value))
            except ValueError as err:
                raise IpamError(f"ARGS: error parsing value of pair {pair!r}: {err}") from None
        elif key == "IgnoreUnknown":
            ignore = value.lower() in ("1", "true")
        else:
            unknown.append(pair)
    if unknown and not ignore:
        raise IpamError(f"ARGS: unknown args {unknown!r}")
    return found


class Store:
    """The leases of one network, locked while in use (`with Store(...) as store`)."""

    def __init__(self, data_dir: str, network: str):
        self.dir = os.path.join(data_dir, network)
        self._lock = -1

    def __enter__(self) -> Store:
        os.makedirs(self.dir, 0o755, exist_ok=True)
        self._lock = os.open(os.path.join(self.dir, "lock"), os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_exc) -> None:
        os.close(self._lock)  # and with it the flock

    def _reserve(self, value: int, owner: str) -> bool:
        try:
            fd = os.open(os.path.join(self.dir, to_text(value)),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, owner.encode())
        finally:
            os.close(fd)
        with open(os.path.join(self.dir, LAST), "w") as f:
            f.write(to_text(value))
        return True

    def _leases(self):
        """(path, content) of every lease file."""
        for name in os.listdir(self.dir):
            if name[0].isdigit():
                path = os.path.join(self.dir, name)
                try:
                    with open(path, newline="") as f:  # keep the \r\n
                        yield path, f.read().strip()
                except OSError:
                    continue

    def allocate(self, subnet: Subnet, container_id: str, if_name: str, wanted: str = "") -> int:
        """Lease an address of `subnet` to the container's interface: `wanted`, or the next free
        one after the last leased (wrapping around), as host-local does."""
        owner = container_id.strip() + LINE_BREAK + if_name
        if wanted:
            value = to_int(wanted)
            if value not in subnet:
                raise IpamError(f"requested IP address {wanted} is not in the subnet")
            if value == subnet.gateway:
                raise IpamError(f"requested ip {wanted} is subnet's gateway")
            if not self._reserve(value, owner):
                raise IpamError(f"requested IP address {wanted} is not available")
            return value
        for _path, content in self._leases():
            if content == owner:
                raise IpamError(f"{container_id} already has an address: duplicate allocation is not allowed")
        try:
            with open(os.path.join(self.dir, LAST)) as f:
                last = to_int(f.read().strip())
        except (OSError, ValueError):
            last = 0
        start = last + 1 if last in subnet and last != subnet.last else subnet.first
        size = subnet.last - subnet.first + 1
        for step in range(size):
            value = subnet.first + (start - subnet.first + step) % size
            if value != subnet.gateway and self._reserve(value, owner):
                return value
        raise IpamError(f"no IP addresses available in subnet {to_text(subnet.network)}/{subnet.prefix}")

    def release(self, container_id: str, if_name: str) -> None:
        """Remove the container's leases on `if_name` (or, as host-local, legacy ones naming only
        the container); nothing leased is fine."""
        owner = container_id.strip() + LINE_BREAK + if_name
        found = False
        leases = list(self._leases())
        for path, content in leases:
            if content == owner:
                _remove(path)
                found = True
        if not found:
            for path, content in leases:
                if content == container_id.strip():
                    _remove(path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
