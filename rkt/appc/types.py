"""appc's value types: names, image IDs, versions, labels, annotations and isolators.

Every validator takes the JSON value and the JSON path it came from, returns the clean value and
raises `ManifestError(path, rule)` otherwise, so a bad manifest is reported as
`manifest: app.isolators[0].value.limit: ...`. The rules follow the appc spec (0.8.11); where the
reference Go code is laxer than the spec (repeated separators in names, any image ID suffix) we
follow the spec, and where Go is stricter than the spec (unknown isolators) we follow the spec.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import TYPE_CHECKING, Any, Callable

from rkt.errors import ManifestError

if TYPE_CHECKING:  # the modules themselves load only when a manifest needs them
    import datetime
    from fractions import Fraction

AC_VERSION = "0.8.11"

AC_IDENTIFIER_RE = re.compile(r"[a-z0-9]+(?:[-._~/][a-z0-9]+)*")
AC_NAME_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9.-]*")
IMAGE_ID_RE = re.compile(r"sha512-[0-9a-f]{128}")
SHORT_ID_LENGTH = len("sha512-") + 32
_SEMVER_RE = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    r"(?:\.(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
)
# RFC 3339 date-time: Go's time.RFC3339 wants the literal `T`, seconds, and a zone.
_RFC3339_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})"
)

# The os/arch pairs appc's Go code accepts (schema/types/labels.go), longer than the prose list.
VALID_OS_ARCH: dict[str, tuple[str, ...]] = {
    "linux": ("amd64", "i386", "aarch64", "aarch64_be", "armv6l", "armv7l", "armv7b",
              "ppc64", "ppc64le", "s390x"),
    "freebsd": ("amd64", "i386", "arm"),
    "darwin": ("x86_64", "i386"),
}

EVENT_HANDLER_NAMES = ("pre-start", "post-stop")
VOLUME_KINDS = ("host", "empty")

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
_SYSCALL_RE = re.compile(r"[a-z_][a-z0-9_]*")
_SYSCTL_KEY_RE = re.compile(r"[^\s./]+(?:[./][^\s./]+)*")
_ERRNO_RE = re.compile(r"E[A-Z0-9]+")


# ---------------------------------------------------------------------------------------------
# JSON plumbing shared with rkt.appc.manifest

def join(path: str, key: str | int) -> str:
    """`join("app", "user")` -> `app.user`; `join("labels", 1)` -> `labels[1]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def fields(obj: Any, path: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The known fields of a JSON object, matched as Go's encoding/json does.

    Go matches keys case-insensitively (so `supplementaryGids` fills `supplementaryGIDs`), the
    last matching key wins, unknown keys are ignored, and `null` means absent.
    """
    if not isinstance(obj, dict):
        raise ManifestError(path, "must be a JSON object")
    exact = {n: n for n in names}
    folded = {n.casefold(): n for n in names}
    found: dict[str, Any] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            continue
        name = exact.get(key) or folded.get(key.casefold())
        if name is None:
            continue
        if value is None:
            found.pop(name, None)
        else:
            found[name] = value
    return found


def string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ManifestError(path, "must be a string")
    return value


def nonempty_string(value: Any, path: str) -> str:
    if string(value, path) == "":
        raise ManifestError(path, "must not be empty")
    return value


def boolean(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ManifestError(path, "must be true or false")
    return value


def integer(value: Any, path: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ManifestError(path, "must be an integer")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            raise ManifestError(path, f"must be at least {low}")
        raise ManifestError(path, f"must be between {low} and {high}")
    return value


def array(value: Any, path: str) -> list | tuple:
    # Tuples come from manifests built in code; JSON itself only has lists.
    if not isinstance(value, (list, tuple)):
        raise ManifestError(path, "must be a JSON array")
    return value


# No appc value nests deeper than a few levels; the cap keeps recursion (copies, comparisons,
# json.dumps) far from Python's limit whatever an unknown isolator holds.
MAX_JSON_DEPTH = 32


def copy_json(value: Any, path: str = "", depth: int = 0) -> Any:
    """A deep copy of plain JSON data, so callers cannot change a frozen manifest through it."""
    if depth > MAX_JSON_DEPTH:
        raise ManifestError(path, "nested too deeply")
    if isinstance(value, dict):
        return {k: copy_json(v, path, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_json(v, path, depth + 1) for v in value]
    return value


def strings(value: Any, path: str) -> tuple[str, ...]:
    return tuple(string(v, join(path, i)) for i, v in enumerate(array(value, path)))


def string_map(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ManifestError(path, "must be a JSON object")
    return {k: string(v, join(path, k)) for k, v in value.items()}


def absolute_path(value: Any, path: str) -> str:
    if not string(value, path).startswith("/"):
        raise ManifestError(path, "must be an absolute path")
    return value


# ---------------------------------------------------------------------------------------------
# Names, IDs and versions

def ac_identifier(value: Any, path: str = "") -> str:
    """An AC Identifier (image, label, isolator and annotation names): `example.com/app`."""
    if not isinstance(value, str) or not AC_IDENTIFIER_RE.fullmatch(value):
        raise ManifestError(path, "must be an AC Identifier" if value != "" else "required")
    return value


def ac_name(value: Any, path: str = "") -> str:
    """An AC Name (app, volume, mount point and port names): `lower-case-with-dashes`."""
    if not isinstance(value, str) or not AC_NAME_RE.fullmatch(value):
        raise ManifestError(path, "must be an AC Name" if value != "" else "required")
    return value


def is_ac_identifier(value: str) -> bool:
    return isinstance(value, str) and AC_IDENTIFIER_RE.fullmatch(value) is not None


def is_ac_name(value: str) -> bool:
    return isinstance(value, str) and AC_NAME_RE.fullmatch(value) is not None


def image_id(value: Any, path: str = "") -> str:
    """A full image ID: `sha512-` and 128 lowercase hex digits."""
    if not isinstance(value, str) or not IMAGE_ID_RE.fullmatch(value):
        raise ManifestError(path, "must be an image ID (sha512- and 128 lowercase hex digits)")
    return value


def short_id(image_id: str) -> str:
    """The form rkt shows: `sha512-` and the first 32 hex digits."""
    return image_id[:SHORT_ID_LENGTH]


def semver(value: Any, path: str = "") -> str:
    """A SemVer 2.0.0 version other than 0.0.0."""
    if not isinstance(value, str) or not _SEMVER_RE.fullmatch(value):
        raise ManifestError(path, "must be a semantic version like 0.8.11")
    if value == "0.0.0":
        raise ManifestError(path, "must not be 0.0.0")
    return value


def semver_major(version: str) -> int:
    return int(version.split(".", 1)[0])


def environment_name(value: Any, path: str = "") -> str:
    """An environment variable name: letters, digits and `_`, plus `.` and `-`."""
    if not isinstance(value, str) or not ENV_NAME_RE.fullmatch(value):
        raise ManifestError(path, "must be an environment variable name ([A-Za-z_][A-Za-z_0-9.-]*)"
                            if value != "" else "required")
    return value


def rfc3339(value: Any, path: str = "") -> datetime.datetime:
    """An RFC 3339 date-time, with the literal `T`, seconds and a time zone."""
    import datetime

    match = _RFC3339_RE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ManifestError(path, "must be an RFC 3339 date-time like 2015-01-02T15:04:05Z")
    text = value.replace("Z", "+00:00")
    frac = match.group(7)
    if frac:
        # fromisoformat wants at most 6 fractional digits; Go keeps nanoseconds.
        text = text.replace(frac, frac[:7])
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ManifestError(path, "must be an RFC 3339 date-time like 2015-01-02T15:04:05Z")


# Whitespace, and a `%` not starting an escape (Go's url.Parse: "invalid URL escape").
_BAD_URL_CHARS = re.compile(r"\s|%(?![0-9A-Fa-f]{2})")


def http_url(value: Any, path: str = "") -> str:
    """An absolute http or https URL."""
    from urllib.parse import urlsplit

    if not isinstance(value, str):
        raise ManifestError(path, "must be a string")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ManifestError(path, "must be an http or https URL")
    if parts.scheme not in ("http", "https") or _BAD_URL_CHARS.search(value):
        raise ManifestError(path, "must be an http or https URL")
    return value


def os_arch(labels: dict[str, str], path: str = "labels") -> None:
    """Reject an unknown os, or an arch unknown for that os (appc's Go whitelist)."""
    os_name = labels.get("os")
    if os_name is None:
        return
    if os_name not in VALID_OS_ARCH:
        valid = ", ".join(sorted(VALID_OS_ARCH))
        raise ManifestError(path, f'bad os "{os_name}" (must be one of: {valid})')
    arch = labels.get("arch")
    if arch is not None and arch not in VALID_OS_ARCH[os_name]:
        valid = ", ".join(VALID_OS_ARCH[os_name])
        raise ManifestError(path, f'bad arch "{arch}" for {os_name} (must be one of: {valid})')


def check_annotation_values(values: dict[str, str], paths: dict[str, str]) -> None:
    """The annotations whose values appc checks, in pod and image manifests alike."""
    if "created" in values:
        rfc3339(values["created"], paths["created"])
    for name in ("homepage", "documentation"):
        if name in values:
            http_url(values[name], paths[name])


_INVALID_AC_NAME_CHARS = re.compile(r"[^a-z0-9-]+")


def sanitize_ac_name(text: str) -> str:
    """The closest AC Name: lowercase, other characters become `-`, no dash runs or edges."""
    name = _INVALID_AC_NAME_CHARS.sub("-", text.lower())
    name = re.sub(r"-{2,}", "-", name).strip("-")
    if not name:
        raise ManifestError("", f'cannot make an AC Name from "{text}"')
    return name


def app_name_from_image_name(name: str) -> str:
    """rkt names an app after the last path element of its image name.

    `coreos.com/ace-validator-main` -> `ace-validator-main`; `example.com/My_App` -> `my-app`.
    """
    last = name.rstrip("/").rsplit("/", 1)[-1]
    return sanitize_ac_name(last)


# ---------------------------------------------------------------------------------------------
# Isolators

@dataclasses.dataclass(frozen=True)
class Resource:
    """A resource isolator value in base units (bytes, cores, bytes/s, ops/s)."""

    default: bool
    request: Fraction | None
    limit: Fraction | None


@dataclasses.dataclass(frozen=True)
class CapabilitySet:
    capabilities: frozenset[str]


@dataclasses.dataclass(frozen=True)
class SeccompSet:
    syscalls: tuple[str, ...]
    errno: str  # "" means kill the process with SIGSYS


@dataclasses.dataclass(frozen=True)
class SELinuxContext:
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


def _capability_set(value: Any, path: str) -> CapabilitySet:
    f = fields(value, path, ("set",))
    names = strings(f.get("set", []), join(path, "set"))
    if not names:
        raise ManifestError(join(path, "set"), "must not be empty")
    for i, cap in enumerate(names):
        if cap not in CAPABILITIES:
            raise ManifestError(join(join(path, "set"), i), f'unknown capability "{cap}"')
    return CapabilitySet(frozenset(names))


def _seccomp_set(value: Any, path: str) -> SeccompSet:
    f = fields(value, path, ("set", "errno"))
    names = strings(f.get("set", []), join(path, "set"))
    if not names:
        raise ManifestError(join(path, "set"), "must not be empty")
    for i, entry in enumerate(names):
        # `@appc.io/all`, `@rkt/default-blacklist`: scoped wildcards the runtime expands.
        ok = (entry.startswith("@") and is_ac_identifier(entry[1:])) or _SYSCALL_RE.fullmatch(entry)
        if not ok:
            raise ManifestError(join(join(path, "set"), i),
                                f'"{entry}" is not a syscall name or @group wildcard')
    errno = string(f.get("errno", ""), join(path, "errno"))
    if errno and not _ERRNO_RE.fullmatch(errno):
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
        if not _SYSCTL_KEY_RE.fullmatch(key):
            raise ManifestError(join(path, key), "must be a sysctl key like net.ipv4.ip_forward")
    return tuple(sysctls.items())


@dataclasses.dataclass(frozen=True)
class IsolatorKind:
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


def ip_address(value: Any, path: str) -> str:
    """A host IP in its canonical text form."""
    import ipaddress

    try:
        return str(ipaddress.ip_address(string(value, path)))
    except ValueError:
        raise ManifestError(path, "must be an IP address")
