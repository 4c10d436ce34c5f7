"""appc isolators: the known names, how each one's value is parsed and checked, and the
`Isolator` a manifest holds.

An app or pod lists isolators by name; known names get a typed value (`Resource`,
`CapabilitySet`, `SeccompSet`, ...) checked against appc's rules, unknown ones are kept as written
because the spec lets a runtime ignore them (stage0 warns about them).
"""

from __future__ import annotations

import math
import re

from rkt.appc.types import (ac_identifier, boolean, copy_json, fields, integer,
                            is_ac_identifier, join, nonempty_string, parse_document, parse_list,
                            string, string_map, strings)
from rkt.errors import ManifestError
from rkt.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:
    from fractions import Fraction  # loaded only when a resource value is parsed
    from typing import Any, Callable

# Linux capability names, in kernel number order (include/uapi/linux/capability.h).
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON",
    "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)
# The bounding set an app gets when it has no capability isolator (appc spec/ace.md).
DEFAULT_CAPABILITIES = frozenset({
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_KILL",
    "CAP_MKNOD", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID",
    "CAP_SETPCAP", "CAP_SETFCAP", "CAP_SYS_CHROOT",
})
# patterns as strings: `re` compiles (and caches) one when it is first used
_SYSCALL = r"[a-z_][a-z0-9_]*"
_SYSCTL_KEY = r"[^\s./]+(?:[./][^\s./]+)*"
_ERRNO = r"E[A-Z0-9]+"


class Resource(Record):
    """A resource isolator value in base units (bytes, cores, bytes/s, ops/s)."""

    default: bool
    request: Fraction | None
    limit: Fraction | None


class CapabilitySet(Record):
    capabilities: frozenset[str]


class SeccompSet(Record):
    syscalls: tuple[str, ...]
    errno: str  # "" means kill the process with SIGSYS


class SELinuxContext(Record):
    user: str
    role: str
    type: str
    level: str

    def __str__(self) -> str:
        return f"{self.user}:{self.role}:{self.type}:{self.level}"


RESOURCE_CPU = "resource/cpu"
RESOURCE_MEMORY = "resource/memory"
RESOURCE_BLOCK_BANDWIDTH = "resource/block-bandwidth"
RESOURCE_BLOCK_IOPS = "resource/block-iops"
RESOURCE_NETWORK_BANDWIDTH = "resource/network-bandwidth"
CAPS_RETAIN = "os/linux/capabilities-retain-set"
CAPS_REMOVE = "os/linux/capabilities-remove-set"
SECCOMP_RETAIN = "os/linux/seccomp-retain-set"
SECCOMP_REMOVE = "os/linux/seccomp-remove-set"
NO_NEW_PRIVILEGES = "os/linux/no-new-privileges"
OOM_SCORE_ADJ = "os/linux/oom-score-adj"
CPU_SHARES = "os/linux/cpu-shares"
SELINUX_CONTEXT = "os/linux/selinux-context"
APPARMOR_PROFILE = "os/linux/apparmor-profile"
SYSCTL = "os/unix/sysctl"


def _quantity(value: Any, path: str) -> Fraction:
    from rkt.appc.quantity import QuantityError, quantity_from_json

    try:
        q = quantity_from_json(value)
    except QuantityError as e:
        raise ManifestError(path, str(e))
    if q < 0:
        raise ManifestError(path, "must not be negative")
    return q


def _resource(default_must_be: bool) -> Callable[[Any, str], Resource]:
    def parse(value: Any, path: str) -> Resource:
        f = fields(value, path, ("default", "request", "limit"))
        default = boolean(f["default"], join(path, "default")) if "default" in f else False
        if default != default_must_be:
            raise ManifestError(join(path, "default"), f"must be {str(default_must_be).lower()}")
        if default_must_be and "request" in f:
            raise ManifestError(join(path, "request"), "not supported by this resource")
        limit = _quantity(f["limit"], join(path, "limit")) if "limit" in f else None
        request = _quantity(f["request"], join(path, "request")) if "request" in f else limit
        return Resource(default, request, limit)
    return parse


def _nonempty_set(f: dict[str, Any], path: str) -> tuple[str, ...]:
    """The `set` field of a capabilities or seccomp isolator: strings, at least one."""
    names = strings(f.get("set", []), join(path, "set"))
    if not names:
        raise ManifestError(join(path, "set"), "must not be empty")
    return names


def _capability_set(value: Any, path: str) -> CapabilitySet:
    names = _nonempty_set(fields(value, path, ("set",)), path)
    for i, cap in enumerate(names):
        if cap not in CAPABILITIES:
            raise ManifestError(join(join(path, "set"), i), f'unknown capability "{cap}"')
    return CapabilitySet(frozenset(names))


def _seccomp_set(value: Any, path: str) -> SeccompSet:
    f = fields(value, path, ("set", "errno"))
    names = _nonempty_set(f, path)
    for i, entry in enumerate(names):
        # `@appc.io/all`, `@rkt/default-blacklist`: scoped wildcards the runtime expands.
        ok = (entry.startswith("@") and is_ac_identifier(entry[1:])) or re.fullmatch(_SYSCALL, entry)
        if not ok:
            raise ManifestError(join(join(path, "set"), i),
                                f'"{entry}" is not a syscall name or @group wildcard')
    errno = string(f.get("errno", ""), join(path, "errno"))
    if errno and not re.fullmatch(_ERRNO, errno):
        raise ManifestError(join(path, "errno"), "must be an errno name like EPERM")
    return SeccompSet(names, errno)


def _selinux(value: Any, path: str) -> SELinuxContext:
    f = fields(value, path, ("user", "role", "type", "level"))
    parts = []
    for key in ("user", "role", "type", "level"):
        part = nonempty_string(f.get(key, ""), join(path, key))
        if key != "level" and ":" in part:
            raise ManifestError(join(path, key), 'must not contain ":"')
        parts.append(part)
    return SELinuxContext(*parts)


def _apparmor(value: Any, path: str) -> str:
    f = fields(value, path, ("profile",))
    return nonempty_string(f.get("profile", ""), join(path, "profile"))


def _sysctl(value: Any, path: str) -> tuple[tuple[str, str], ...]:
    sysctls = string_map(value, path)
    for key in sysctls:
        # Components split by `.` (or `/`, how interface names with dots are written) become a
        # path under /proc/sys, so none may be empty, `..`-like or hold whitespace.
        if not re.fullmatch(_SYSCTL_KEY, key):
            raise ManifestError(join(path, key), "must be a sysctl key like net.ipv4.ip_forward")
    return tuple(sysctls.items())


class IsolatorKind(Record):
    """How one known isolator's value is parsed, and how many an app or pod may have."""

    parse: Callable[[Any, str], Any]
    single: bool  # at most one per app / pod
    conflicts: tuple[str, ...] = ()


ISOLATOR_KINDS: dict[str, IsolatorKind] = {
    RESOURCE_CPU: IsolatorKind(_resource(False), single=False),
    RESOURCE_MEMORY: IsolatorKind(_resource(False), single=False),
    RESOURCE_BLOCK_BANDWIDTH: IsolatorKind(_resource(True), single=False),
    RESOURCE_BLOCK_IOPS: IsolatorKind(_resource(True), single=False),
    RESOURCE_NETWORK_BANDWIDTH: IsolatorKind(_resource(True), single=False),
    CAPS_RETAIN: IsolatorKind(_capability_set, single=False, conflicts=(CAPS_REMOVE,)),
    CAPS_REMOVE: IsolatorKind(_capability_set, single=False, conflicts=(CAPS_RETAIN,)),
    SECCOMP_RETAIN: IsolatorKind(_seccomp_set, single=True, conflicts=(SECCOMP_REMOVE,)),
    SECCOMP_REMOVE: IsolatorKind(_seccomp_set, single=True, conflicts=(SECCOMP_RETAIN,)),
    NO_NEW_PRIVILEGES: IsolatorKind(boolean, single=False),
    OOM_SCORE_ADJ: IsolatorKind(lambda v, p: integer(v, p, -1000, 1000), single=True),
    CPU_SHARES: IsolatorKind(lambda v, p: integer(v, p, 2, 262144), single=True),
    SELINUX_CONTEXT: IsolatorKind(_selinux, single=True),
    APPARMOR_PROFILE: IsolatorKind(_apparmor, single=True),
    SYSCTL: IsolatorKind(_sysctl, single=True),
}


def parse_isolator_value(name: str, value: Any, path: str) -> Any:
    """The typed value of a known isolator (None for an unknown name)."""
    kind = ISOLATOR_KINDS.get(name)
    return None if kind is None else kind.parse(value, path)


def check_isolator_set(names: list[str], path: str) -> None:
    """At most one of each single-instance isolator; no conflicting pair (e.g. both seccomp sets)."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        kind = ISOLATOR_KINDS.get(name)
        if kind is not None:
            if kind.single and name in seen:
                raise ManifestError(join(path, i), f"at most one {name} isolator is allowed")
            for other in kind.conflicts:
                if other in seen:
                    raise ManifestError(join(path, i), f"{name} cannot be combined with {other}")
        seen.add(name)


def resource_bytes(value: Fraction | None) -> int | None:
    return None if value is None else math.ceil(value)


def resource_millis(value: Fraction | None) -> int | None:
    return None if value is None else math.ceil(value * 1000)


_RESOURCES = (RESOURCE_CPU, RESOURCE_MEMORY, RESOURCE_BLOCK_BANDWIDTH, RESOURCE_BLOCK_IOPS,
              RESOURCE_NETWORK_BANDWIDTH)


def _typed(kind: type, names: tuple[str, ...], what: str,
           convert: Callable[[Any], Any] | None = None, doc: str | None = None) -> property:
    """A view of the typed value of the isolators named `names`; TypeError on any other."""
    def get(self: Isolator) -> Any:
        if self.name not in names or not isinstance(self.parsed, kind):
            raise TypeError(f"isolator {self.name} has no {what}")
        return self.parsed if convert is None else convert(self.parsed)
    return property(get, doc=doc)


class Isolator(Record):
    """One isolator: `value` is the JSON as written (kept for round trips), `parsed` its typed
    form for known names (None for names this runtime does not know; see `known`)."""

    name: str
    value: Any
    # `parsed` is set below and is no field: not compared, shown or replaced

    def __post_init__(self) -> None:
        # Built in code or by replace(): the typed value always matches `value`.
        value = copy_json(self.value, "value")
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "parsed", parse_isolator_value(self.name, value, "value"))

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Isolator":
        f = fields(obj, path, ("name", "value"))
        name = ac_identifier(f.get("name", ""), join(path, "name"))
        if "value" not in f:
            raise ManifestError(join(path, "value"), "required")
        # Checked here first so an error names the field's full path.
        value = copy_json(f["value"], join(path, "value"))
        parse_isolator_value(name, value, join(path, "value"))
        return cls(name, value)

    from_json = classmethod(parse_document)

    @classmethod
    def make(cls, name: str, value: Any) -> "Isolator":
        """A validated isolator built in code, e.g. from `--memory=1G`."""
        return cls._parse({"name": name, "value": value}, "isolator")

    def to_json(self) -> dict:
        return {"name": self.name, "value": copy_json(self.value)}

    @property
    def known(self) -> bool:
        return self.name in ISOLATOR_KINDS

    resource = _typed(Resource, _RESOURCES, "resource value",
                      doc="Request/limit as exact Fractions of base units (any resource/* isolator).")
    memory_limit = _typed(Resource, (RESOURCE_MEMORY,), "memory limit",
                          lambda r: resource_bytes(r.limit),
                          "resource/memory limit in bytes (rounded up), None when only a request "
                          "is given.")
    memory_request = _typed(Resource, (RESOURCE_MEMORY,), "memory request",
                            lambda r: resource_bytes(r.request))
    cpu_limit_millicores = _typed(Resource, (RESOURCE_CPU,), "cpu limit",
                                  lambda r: resource_millis(r.limit))
    cpu_request_millicores = _typed(Resource, (RESOURCE_CPU,), "cpu request",
                                    lambda r: resource_millis(r.request))
    capabilities = _typed(CapabilitySet, (CAPS_RETAIN, CAPS_REMOVE), "capabilities",
                          lambda c: c.capabilities,
                          "The CAP_* names of a capabilities retain or remove set.")
    seccomp = _typed(SeccompSet, (SECCOMP_RETAIN, SECCOMP_REMOVE), "seccomp set",
                     doc='`.syscalls` (names and @wildcards) and `.errno` ("" = kill with SIGSYS).')
    enabled = _typed(bool, (NO_NEW_PRIVILEGES,), "boolean value",
                     doc="os/linux/no-new-privileges.")
    oom_score_adj = _typed(int, (OOM_SCORE_ADJ,), "oom score adjustment")
    cpu_shares = _typed(int, (CPU_SHARES,), "cpu shares")
    selinux_context = _typed(SELinuxContext, (SELINUX_CONTEXT,), "SELinux context")
    apparmor_profile = _typed(str, (APPARMOR_PROFILE,), "AppArmor profile")
    sysctls = _typed(tuple, (SYSCTL,), "sysctls", dict)


def parse_isolators(obj: dict, key: str, path: str) -> tuple[Isolator, ...]:
    isolators = parse_list(obj, key, path, Isolator._parse)
    check_isolator_set([i.name for i in isolators], join(path, key))
    return isolators


def last_isolator(isolators: tuple[Isolator, ...], name: str) -> Isolator | None:
    for isolator in reversed(isolators):
        if isolator.name == name:
            return isolator
    return None
