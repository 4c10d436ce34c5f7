"""Value checks for the run family's flags: each turns one flag value into spec data or fails.

Every parser takes the flag name (for the message) and the raw value and raises `UsageError`
(exit 254, as rkt), so that bad usage fails before any pod exists. appc rules (names, isolator values,
environment names) are asked of `rkt.appc.types`, imported lazily to keep `rkt run` fast.
"""

from __future__ import annotations

from rkt.errors import ManifestError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Any, Callable


def is_ip(text: str) -> bool:
    """An IPv4 or IPv6 address (ipaddress is imported only when a flag names one)."""
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def key_value(flag: str, value: str) -> tuple[str, str]:
    key, eq, val = value.partition("=")
    if not eq or not key:
        raise UsageError(f"{flag}: {value!r} is not in the form NAME=VALUE")
    return key, val


def env_pair(flag: str, value: str) -> tuple[str, str]:
    from rkt.pod.spec import parse_env_pair

    try:
        return parse_env_pair(value)
    except ValueError as err:
        raise UsageError(f"{flag}: {err}") from None


def mount(flag: str, value: str) -> tuple[str, str]:
    from rkt.appc.types import is_ac_name

    found: dict[str, str] = {}
    for part in value.split(","):
        key, eq, val = part.partition("=")
        if not eq:
            raise UsageError(f"{flag}: {part!r} is not key=value in {value!r}")
        if key not in ("volume", "target"):
            raise UsageError(f'{flag}: unknown mount parameter "{key}"')
        if key in found:
            raise UsageError(f"{flag}: {key} given twice in {value!r}")
        found[key] = val
    volume, target = found.get("volume", ""), found.get("target", "")
    if not is_ac_name(volume):
        raise UsageError(f'{flag}: invalid volume name "{volume}" in {value!r}')
    if not target.startswith("/"):
        raise UsageError(f"{flag}: target must be an absolute path in {value!r}")
    return volume, target


def gids(flag: str, value: str) -> list[int]:
    found = []
    for part in value.split(","):
        if not part.isdecimal() or not part.isascii() or int(part) > 2**32 - 2:
            raise UsageError(f"{flag}: {part!r} is not a group ID")
        found.append(int(part))
    return found


def isolator(flag: str, name: str, value: Any) -> Any:
    from rkt.appc.isolators import parse_isolator_value

    try:
        parse_isolator_value(name, value, "")
    except ManifestError as err:
        raise UsageError(f"{flag}: {err.rule}") from None
    return value


def memory(flag: str, value: str) -> Any:
    from rkt.appc.isolators import RESOURCE_MEMORY, parse_isolator_value, resource_bytes

    isolator(flag, RESOURCE_MEMORY, {"limit": value, "request": value})
    limit = resource_bytes(parse_isolator_value(RESOURCE_MEMORY, {"limit": value}, "").limit)
    # rkt refuses tiny limits: --memory=16m means 16 milli-bytes, surely a typo for 16M
    if limit is not None and limit < 4096:
        raise UsageError(f"{flag}: memory limit of {limit} bytes too low. "
                         "Try a reasonable value, such as --memory=16M")
    return {"limit": value, "request": value}


def integer(flag: str, value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise UsageError(f"{flag}: {value!r} is not an integer") from None


def caps(flag: str, value: str) -> list[str]:
    return [c.strip() for c in value.split(",") if c.strip()]


def seccomp(flag: str, value: str) -> tuple[str, dict]:
    from rkt.appc.isolators import SECCOMP_REMOVE, SECCOMP_RETAIN

    mode, errno, syscalls = None, None, []
    for part in value.split(","):
        if part.startswith("mode="):
            mode = part[5:]
        elif part.startswith("errno="):
            errno = part[6:]
        elif part:
            syscalls.append(part)
    if mode not in ("retain", "remove"):
        raise UsageError(f"{flag}: mode=retain or mode=remove is required in {value!r}")
    name = SECCOMP_RETAIN if mode == "retain" else SECCOMP_REMOVE
    iso: dict[str, Any] = {"set": syscalls}
    if errno:
        iso["errno"] = errno
    return name, isolator(flag, name, iso)


def hosts_entry(flag: str, value: str) -> tuple[str, str]:
    if value == "host":
        return "host", ""
    ip, eq, host = value.partition("=")
    if not is_ip(ip):
        raise UsageError(f"{flag}: {ip!r} is not an IP address (want IP=HOSTNAME or host)")
    if not eq or not host or any(c.isspace() for c in host):
        raise UsageError(f"{flag}: {value!r} is not IP=HOSTNAME")
    return ip, host


def port(flag: str, value: str) -> tuple[str, str | None, int]:
    """NAME:[HOSTIP:]HOSTPORT"""
    from rkt.appc.types import is_ac_name

    name, sep, rest = value.partition(":")
    if not sep or not name:
        raise UsageError(f"{flag}: {value!r} is not NAME:[HOSTIP:]HOSTPORT")
    if not is_ac_name(name):
        raise UsageError(f"{flag}: port name {name!r} is not an AC name")
    host_ip: str | None = None
    if ":" in rest:
        host_ip, _, rest = rest.rpartition(":")
        if not is_ip(host_ip.strip("[]")):
            raise UsageError(f"{flag}: {host_ip!r} is not an IP address")
    if not rest.isdecimal() or not 0 < int(rest) < 65536:
        raise UsageError(f"{flag}: {rest!r} is not a port number")
    return name, host_ip, int(rest)


def networks(flag: str, value: str) -> list[str]:
    return [n.strip() for n in value.split(",") if n.strip()] or ["default"]


_HOSTNAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def hostname(flag: str, value: str) -> str:
    # rkt hands the name to stage1 unchecked and systemd in its pod keeps what its hostname rule
    # allows (letters, digits, `-` and `_` in dot-separated labels, at most the kernel's 64
    # bytes), dropping the rest: we take the same names and refuse, rather than mangle, others.
    labels = value.split(".")
    if len(value) > 64 or not all(label and set(label) <= _HOSTNAME_CHARS for label in labels):
        raise UsageError(f"{flag}: {value!r} is not a valid hostname")
    return value


def abs_path(flag: str, value: str) -> str:
    if not value.startswith("/"):
        raise UsageError(f"{flag}: {value!r} must be an absolute path")
    return value


def nonempty(flag: str, value: str) -> str:
    if not value:
        raise UsageError(f"{flag}: empty value")
    return value


def volume(flag: str, value: str):
    from rkt.appc.pod import Volume

    return Volume.from_string(value)


def choice(choices) -> Callable[[str, str], str]:
    def parse(flag: str, value: str) -> str:
        if value not in choices:
            raise UsageError(f"{flag}: {value!r} is not one of {', '.join(choices)}")
        return value
    return parse


def annotation_name(flag: str, name: str) -> None:
    from rkt.appc.types import is_ac_identifier

    if not is_ac_identifier(name):
        raise UsageError(f'{flag}: "{name}" is not an AC identifier (like example.com/key)')
