"""appc image and pod manifests as frozen dataclasses.

`X.from_json(bytes | str | dict)` checks every appc rule and raises `ManifestError` with the JSON
path of the first bad field; `x.to_json()` gives the canonical appc JSON (camelCase keys, empty
optional fields left out as appc's Go marshaller does), so `from_json(x.to_json()) == x`.
Keys are matched case-insensitively, as Go's decoder does (`supplementaryGids` is accepted).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, NamedTuple

from rkt.appc import types as t
from rkt.appc.types import (
    AC_VERSION,
    CapabilitySet,
    Resource,
    SeccompSet,
    SELinuxContext,
    fields,
    join,
)
from rkt.errors import ManifestError, UsageError

__all__ = [
    "AC_VERSION", "Annotation", "App", "Dependency", "EnvironmentVariable", "EventHandler",
    "ExposedPort", "ImageManifest", "Isolator", "Label", "Mount", "MountPoint", "PodManifest",
    "Port", "RuntimeApp", "RuntimeImage", "Volume", "load_json",
]


def load_json(data: bytes | bytearray | str | dict) -> Any:
    """Parse manifest bytes/text (a dict passes through); bad JSON is a ManifestError."""
    if isinstance(data, dict):
        return data
    if not isinstance(data, (bytes, bytearray, str)):
        raise ManifestError("", "must be a JSON object")

    def no_constants(name: str):
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(data, parse_constant=no_constants)
    except RecursionError:
        raise ManifestError("", "invalid JSON: nested too deeply") from None
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, int-digits limit
        reason = "a number has too many digits" if "digits" in str(e) else str(e)
        raise ManifestError("", f"invalid JSON: {reason}") from None


def _list(obj: dict, key: str, path: str, parse) -> tuple:
    items = t.array(obj.get(key, []), join(path, key))
    return tuple(parse(item, join(join(path, key), i)) for i, item in enumerate(items))


def _unique(items: Iterable, path: str, what: str, attr: str = "name") -> None:
    seen: set = set()
    for i, item in enumerate(items):
        name = getattr(item, attr)
        if name in seen:
            raise ManifestError(join(path, i), f'duplicate {what} "{name}"')
        seen.add(name)


def _from_json(cls, data, path: str = ""):
    try:
        return cls._parse(load_json(data), path)
    except RecursionError:  # a dict built in code can nest without bound
        raise ManifestError(path, "nested too deeply") from None


# ---------------------------------------------------------------------------------------------
# name/value pairs: NamedTuples, so `dict(app.environment)` and `label.name` both work

class Label(NamedTuple):
    name: str
    value: str

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Label":
        f = fields(obj, path, ("name", "value"))
        name = t.ac_identifier(f.get("name", ""), join(path, "name"))
        if name == "name":
            raise ManifestError(join(path, "name"), 'a label must not be called "name"')
        return cls(name, t.string(f.get("value", ""), join(path, "value")))

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        return {"name": self.name, "value": self.value}


class Annotation(NamedTuple):
    name: str
    value: str

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Annotation":
        f = fields(obj, path, ("name", "value"))
        name = t.ac_identifier(f.get("name", ""), join(path, "name"))
        return cls(name, t.string(f.get("value", ""), join(path, "value")))

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        return {"name": self.name, "value": self.value}


class EnvironmentVariable(NamedTuple):
    name: str
    value: str

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "EnvironmentVariable":
        f = fields(obj, path, ("name", "value"))
        name = t.environment_name(f.get("name", ""), join(path, "name"))
        return cls(name, t.string(f.get("value", ""), join(path, "value")))

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        return {"name": self.name, "value": self.value}


def _labels(obj: dict, key: str, path: str) -> tuple[Label, ...]:
    labels = _list(obj, key, path, Label._parse)
    _unique(labels, join(path, key), "label")
    t.os_arch(dict(labels), join(path, key))
    return labels


def _annotations(obj: dict, key: str, path: str) -> tuple[Annotation, ...]:
    annotations = _list(obj, key, path, Annotation._parse)
    _unique(annotations, join(path, key), "annotation")
    values = dict(annotations)
    where = {a.name: join(join(join(path, key), i), "value") for i, a in enumerate(annotations)}
    t.check_annotation_values(values, where)
    return annotations


def _lookup(pairs: Iterable, name: str) -> str | None:
    for pair in pairs:
        if pair.name == name:
            return pair.value
    return None


# ---------------------------------------------------------------------------------------------
# app

@dataclasses.dataclass(frozen=True)
class EventHandler:
    name: str  # "pre-start" or "post-stop"
    exec: tuple[str, ...] = ()

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "EventHandler":
        f = fields(obj, path, ("name", "exec"))
        name = f.get("name", "")
        if name == "":
            raise ManifestError(join(path, "name"), "required")
        if name not in t.EVENT_HANDLER_NAMES:
            raise ManifestError(join(path, "name"), "must be pre-start or post-stop")
        return cls(name, t.strings(f.get("exec", []), join(path, "exec")))

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        return {"name": self.name, "exec": list(self.exec)}


@dataclasses.dataclass(frozen=True)
class MountPoint:
    name: str
    path: str
    read_only: bool = False

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "MountPoint":
        f = fields(obj, path, ("name", "path", "readOnly"))
        name = t.ac_name(f.get("name", ""), join(path, "name"))
        mount_path = f.get("path", "")
        if mount_path == "":
            raise ManifestError(join(path, "path"), "required")
        t.string(mount_path, join(path, "path"))
        read_only = t.boolean(f.get("readOnly", False), join(path, "readOnly"))
        return cls(name, mount_path, read_only)

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        out = {"name": self.name, "path": self.path}
        if self.read_only:
            out["readOnly"] = True
        return out


@dataclasses.dataclass(frozen=True)
class Port:
    name: str
    protocol: str
    port: int
    count: int = 1
    socket_activated: bool = False

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Port":
        f = fields(obj, path, ("name", "protocol", "port", "count", "socketActivated"))
        name = t.ac_name(f.get("name", ""), join(path, "name"))
        protocol = f.get("protocol", "")
        if protocol == "":
            raise ManifestError(join(path, "protocol"), "required")
        t.string(protocol, join(path, "protocol"))
        if "port" not in f:
            raise ManifestError(join(path, "port"), "required")
        port = t.integer(f["port"], join(path, "port"), 1, 65535)
        # Go treats a missing or zero count as 1.
        count = t.integer(f.get("count", 0), join(path, "count"), 0) or 1
        if port + count - 1 > 65535:
            raise ManifestError(join(path, "count"), "port range must end at or below 65535")
        activated = t.boolean(f.get("socketActivated", False), join(path, "socketActivated"))
        return cls(name, protocol, port, count, activated)

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        return {"name": self.name, "protocol": self.protocol, "port": self.port,
                "count": self.count, "socketActivated": self.socket_activated}


@dataclasses.dataclass(frozen=True)
class Isolator:
    """One isolator: `value` is the JSON as written (kept for round trips), `parsed` its typed
    form for known names (None for names this runtime does not know; see `known`)."""

    name: str
    value: Any
    parsed: Any = dataclasses.field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Built in code or by dataclasses.replace(): the typed value always matches `value`.
        value = t.copy_json(self.value, "value")
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "parsed", t.parse_isolator_value(self.name, value, "value"))

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Isolator":
        f = fields(obj, path, ("name", "value"))
        name = t.ac_identifier(f.get("name", ""), join(path, "name"))
        if "value" not in f:
            raise ManifestError(join(path, "value"), "required")
        # Checked here first so an error names the field's full path.
        value = t.copy_json(f["value"], join(path, "value"))
        t.parse_isolator_value(name, value, join(path, "value"))
        return cls(name, value)

    from_json = classmethod(_from_json)

    @classmethod
    def make(cls, name: str, value: Any) -> "Isolator":
        """A validated isolator built in code, e.g. from `--memory=1G`."""
        return cls._parse({"name": name, "value": value}, "isolator")

    def to_json(self) -> dict:
        return {"name": self.name, "value": t.copy_json(self.value)}

    @property
    def known(self) -> bool:
        return self.name in t.ISOLATOR_KINDS

    def _typed(self, kind: type, names: tuple[str, ...], what: str):
        if self.name not in names or not isinstance(self.parsed, kind):
            raise TypeError(f"isolator {self.name} has no {what}")
        return self.parsed

    _RESOURCES = (t.RESOURCE_CPU, t.RESOURCE_MEMORY, t.RESOURCE_BLOCK_BANDWIDTH,
                  t.RESOURCE_BLOCK_IOPS, t.RESOURCE_NETWORK_BANDWIDTH)

    @property
    def resource(self) -> Resource:
        """Request/limit as exact Fractions of base units (any resource/* isolator)."""
        return self._typed(Resource, self._RESOURCES, "resource value")

    @property
    def memory_limit(self) -> int | None:
        """resource/memory limit in bytes (rounded up), None when only a request is given."""
        return t.resource_bytes(self._typed(Resource, (t.RESOURCE_MEMORY,), "memory limit").limit)

    @property
    def memory_request(self) -> int | None:
        return t.resource_bytes(self._typed(Resource, (t.RESOURCE_MEMORY,), "memory request").request)

    @property
    def cpu_limit_millicores(self) -> int | None:
        return t.resource_millis(self._typed(Resource, (t.RESOURCE_CPU,), "cpu limit").limit)

    @property
    def cpu_request_millicores(self) -> int | None:
        return t.resource_millis(self._typed(Resource, (t.RESOURCE_CPU,), "cpu request").request)

    @property
    def capabilities(self) -> frozenset[str]:
        """The CAP_* names of a capabilities retain or remove set."""
        return self._typed(CapabilitySet, (t.CAPS_RETAIN, t.CAPS_REMOVE), "capabilities").capabilities

    @property
    def seccomp(self) -> SeccompSet:
        """`.syscalls` (names and @wildcards) and `.errno` ("" = kill with SIGSYS)."""
        return self._typed(SeccompSet, (t.SECCOMP_RETAIN, t.SECCOMP_REMOVE), "seccomp set")

    @property
    def enabled(self) -> bool:
        """os/linux/no-new-privileges."""
        return self._typed(bool, (t.NO_NEW_PRIVILEGES,), "boolean value")

    @property
    def oom_score_adj(self) -> int:
        return self._typed(int, (t.OOM_SCORE_ADJ,), "oom score adjustment")

    @property
    def cpu_shares(self) -> int:
        return self._typed(int, (t.CPU_SHARES,), "cpu shares")

    @property
    def selinux_context(self) -> SELinuxContext:
        return self._typed(SELinuxContext, (t.SELINUX_CONTEXT,), "SELinux context")

    @property
    def apparmor_profile(self) -> str:
        return self._typed(str, (t.APPARMOR_PROFILE,), "AppArmor profile")

    @property
    def sysctls(self) -> dict[str, str]:
        return dict(self._typed(tuple, (t.SYSCTL,), "sysctls"))


def _isolators(obj: dict, key: str, path: str) -> tuple[Isolator, ...]:
    isolators = _list(obj, key, path, Isolator._parse)
    t.check_isolator_set([i.name for i in isolators], join(path, key))
    return isolators


def _last(isolators: tuple[Isolator, ...], name: str) -> Isolator | None:
    for isolator in reversed(isolators):
        if isolator.name == name:
            return isolator
    return None


_APP_KEYS = ("exec", "eventHandlers", "user", "group", "supplementaryGIDs", "workingDirectory",
             "environment", "mountPoints", "ports", "isolators", "userAnnotations", "userLabels")


@dataclasses.dataclass(frozen=True)
class App:
    """How to run an image: argv, identity, environment, event handlers, mounts, ports, isolators."""

    exec: tuple[str, ...] = ()
    user: str = "0"
    group: str = "0"
    supplementary_gids: tuple[int, ...] = ()
    working_directory: str = ""  # "" means "/"
    environment: tuple[EnvironmentVariable, ...] = ()
    event_handlers: tuple[EventHandler, ...] = ()
    mount_points: tuple[MountPoint, ...] = ()
    ports: tuple[Port, ...] = ()
    isolators: tuple[Isolator, ...] = ()
    user_annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    user_labels: dict[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "App":
        f = fields(obj, path, _APP_KEYS)
        user = f.get("user", "")
        if user == "":
            raise ManifestError(join(path, "user"), "required")
        group = f.get("group", "")
        if group == "":
            raise ManifestError(join(path, "group"), "required")
        t.string(user, join(path, "user"))
        t.string(group, join(path, "group"))
        gids_path = join(path, "supplementaryGIDs")
        gids = tuple(t.integer(g, join(gids_path, i), 0, 2**32 - 1)
                     for i, g in enumerate(t.array(f.get("supplementaryGIDs", []), gids_path)))
        workdir = f.get("workingDirectory", "")
        if workdir != "":
            t.absolute_path(workdir, join(path, "workingDirectory"))
        environment = _list(f, "environment", path, EnvironmentVariable._parse)
        _unique(environment, join(path, "environment"), "environment variable")
        handlers = _list(f, "eventHandlers", path, EventHandler._parse)
        _unique(handlers, join(path, "eventHandlers"), "event handler")
        ports = _list(f, "ports", path, Port._parse)
        _unique(ports, join(path, "ports"), "port")
        return cls(
            exec=t.strings(f.get("exec", []), join(path, "exec")),
            user=user,
            group=group,
            supplementary_gids=gids,
            working_directory=workdir,
            environment=environment,
            event_handlers=handlers,
            mount_points=_list(f, "mountPoints", path, MountPoint._parse),
            ports=ports,
            isolators=_isolators(f, "isolators", path),
            user_annotations=t.string_map(f.get("userAnnotations", {}), join(path, "userAnnotations")),
            user_labels=t.string_map(f.get("userLabels", {}), join(path, "userLabels")),
        )

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"exec": list(self.exec)}
        if self.event_handlers:
            out["eventHandlers"] = [h.to_json() for h in self.event_handlers]
        out["user"] = self.user
        out["group"] = self.group
        if self.supplementary_gids:
            out["supplementaryGIDs"] = list(self.supplementary_gids)
        if self.working_directory:
            out["workingDirectory"] = self.working_directory
        if self.environment:
            out["environment"] = [e.to_json() for e in self.environment]
        if self.mount_points:
            out["mountPoints"] = [m.to_json() for m in self.mount_points]
        if self.ports:
            out["ports"] = [p.to_json() for p in self.ports]
        if self.isolators:
            out["isolators"] = [i.to_json() for i in self.isolators]
        if self.user_annotations:
            out["userAnnotations"] = dict(self.user_annotations)
        if self.user_labels:
            out["userLabels"] = dict(self.user_labels)
        return out

    def env(self, name: str) -> str | None:
        return _lookup(self.environment, name)

    def event_handler(self, name: str) -> EventHandler | None:
        return next((h for h in self.event_handlers if h.name == name), None)

    def isolator(self, name: str) -> Isolator | None:
        """The last isolator of that name (as appc's GetByName), or None."""
        return _last(self.isolators, name)

    @property
    def unknown_isolators(self) -> tuple[Isolator, ...]:
        """Isolators this runtime does not know; the spec lets us ignore them, but we must say so."""
        return tuple(i for i in self.isolators if not i.known)


# ---------------------------------------------------------------------------------------------
# image manifest

@dataclasses.dataclass(frozen=True)
class Dependency:
    image_name: str
    image_id: str | None = None
    labels: tuple[Label, ...] = ()
    size: int | None = None  # bytes; caps the download (0/None: no cap)

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Dependency":
        f = fields(obj, path, ("imageName", "imageID", "labels", "size"))
        name = t.ac_identifier(f.get("imageName", ""), join(path, "imageName"))
        image_id = t.image_id(f["imageID"], join(path, "imageID")) if "imageID" in f else None
        size = t.integer(f["size"], join(path, "size"), 0) if "size" in f else None
        return cls(name, image_id, _labels(f, "labels", path), size or None)

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"imageName": self.image_name}
        if self.image_id:
            out["imageID"] = self.image_id
        if self.labels:
            out["labels"] = [label.to_json() for label in self.labels]
        if self.size:
            out["size"] = self.size
        return out


def _ac_version(f: dict, path: str) -> str:
    if "acVersion" not in f:
        raise ManifestError(join(path, "acVersion"), "required")
    return t.semver(f["acVersion"], join(path, "acVersion"))


def _ac_kind(f: dict, path: str, kind: str) -> None:
    if "acKind" not in f or f["acKind"] == "":
        raise ManifestError(join(path, "acKind"), "required")
    if f["acKind"] != kind:
        raise ManifestError(join(path, "acKind"), f'must be "{kind}"')


_IMAGE_KEYS = ("acKind", "acVersion", "name", "labels", "app", "annotations", "dependencies",
               "pathWhitelist")


@dataclasses.dataclass(frozen=True)
class ImageManifest:
    name: str
    ac_version: str = AC_VERSION
    labels: tuple[Label, ...] = ()
    app: App | None = None
    annotations: tuple[Annotation, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    path_whitelist: tuple[str, ...] = ()

    ac_kind = "ImageManifest"

    @classmethod
    def _parse(cls, obj: Any, path: str = "") -> "ImageManifest":
        f = fields(obj, path, _IMAGE_KEYS)
        _ac_kind(f, path, cls.ac_kind)
        version = _ac_version(f, path)
        if "name" not in f:
            raise ManifestError(join(path, "name"), "required")
        name = t.ac_identifier(f["name"], join(path, "name"))
        whitelist_path = join(path, "pathWhitelist")
        whitelist = tuple(t.absolute_path(p, join(whitelist_path, i))
                          for i, p in enumerate(t.array(f.get("pathWhitelist", []), whitelist_path)))
        return cls(
            name=name,
            ac_version=version,
            labels=_labels(f, "labels", path),
            app=App._parse(f["app"], join(path, "app")) if "app" in f else None,
            annotations=_annotations(f, "annotations", path),
            dependencies=_list(f, "dependencies", path, Dependency._parse),
            path_whitelist=whitelist,
        )

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"acKind": self.ac_kind, "acVersion": self.ac_version,
                               "name": self.name}
        if self.labels:
            out["labels"] = [label.to_json() for label in self.labels]
        if self.app is not None:
            out["app"] = self.app.to_json()
        if self.annotations:
            out["annotations"] = [a.to_json() for a in self.annotations]
        if self.dependencies:
            out["dependencies"] = [d.to_json() for d in self.dependencies]
        if self.path_whitelist:
            out["pathWhitelist"] = list(self.path_whitelist)
        return out

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json()).encode()

    def label(self, name: str) -> str | None:
        return _lookup(self.labels, name)

    def annotation(self, name: str) -> str | None:
        return _lookup(self.annotations, name)


# ---------------------------------------------------------------------------------------------
# pod manifest

# The spellings Go's strconv.ParseBool accepts, which rkt's flag parsing inherits.
_GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
             **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}
_VOLUME_KEYS = ("name", "kind", "source", "readOnly", "recursive", "mode", "uid", "gid")
_EMPTY_MODE = "0755"


@dataclasses.dataclass(frozen=True)
class Volume:
    """A pod volume: `host` (bind mount of an absolute `source`) or `empty` (a fresh directory
    with `mode`/`uid`/`gid`, defaulting to "0755", 0, 0). `read_only`/`recursive` keep None for
    "not said" because rkt treats an unset recursive as recursive."""

    name: str
    kind: str
    source: str = ""
    read_only: bool | None = None
    recursive: bool | None = None
    mode: str | None = None
    uid: int | None = None
    gid: int | None = None

    def __post_init__(self) -> None:
        if self.kind == "empty":
            for attr, default in (("mode", _EMPTY_MODE), ("uid", 0), ("gid", 0)):
                if getattr(self, attr) is None:
                    object.__setattr__(self, attr, default)

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Volume":
        f = fields(obj, path, _VOLUME_KEYS)
        return cls._check(f, path)

    @classmethod
    def _check(cls, f: dict, path: str) -> "Volume":
        name = t.ac_name(f.get("name", ""), join(path, "name"))
        kind = f.get("kind", "")
        if kind == "":
            raise ManifestError(join(path, "kind"), "required")
        if kind not in t.VOLUME_KINDS:
            raise ManifestError(join(path, "kind"), "must be host or empty")
        source = t.string(f.get("source", ""), join(path, "source"))
        read_only = t.boolean(f["readOnly"], join(path, "readOnly")) if "readOnly" in f else None
        recursive = t.boolean(f["recursive"], join(path, "recursive")) if "recursive" in f else None
        mode = uid = gid = None
        if kind == "host":
            if source == "":
                raise ManifestError(join(path, "source"), "required for a host volume")
            t.absolute_path(source, join(path, "source"))
            for key in ("mode", "uid", "gid"):
                if key in f:
                    raise ManifestError(join(path, key), "not allowed for a host volume")
        else:
            if source != "":
                raise ManifestError(join(path, "source"), "not allowed for an empty volume")
            if "mode" in f:
                mode = t.string(f["mode"], join(path, "mode"))
                if not mode or len(mode) > 5 or any(c not in "01234567" for c in mode) \
                        or int(mode, 8) > 0o7777:
                    raise ManifestError(join(path, "mode"), 'must be an octal mode like "0755"')
            if "uid" in f:
                uid = t.integer(f["uid"], join(path, "uid"), 0, 2**32 - 2)
            if "gid" in f:
                gid = t.integer(f["gid"], join(path, "gid"), 0, 2**32 - 2)
        return cls(name, kind, source, read_only, recursive, mode, uid, gid)

    from_json = classmethod(_from_json)

    @classmethod
    def from_string(cls, text: str) -> "Volume":
        """rkt's `--volume` syntax: `NAME,kind=host,source=/p[,readOnly=true][,recursive=false]`
        or `NAME,kind=empty[,mode=0700,uid=1,gid=2]`. Errors are UsageErrors."""
        name, _, rest = text.partition(",")
        f: dict[str, Any] = {"name": name}
        for part in rest.split(",") if rest else ():
            key, eq, value = part.partition("=")
            if not eq:
                raise UsageError(f'volume "{text}": "{part}" is not key=value')
            if key not in _VOLUME_KEYS or key == "name":
                raise UsageError(f'volume "{text}": unknown parameter "{key}"')
            if key in f:
                raise UsageError(f'volume "{text}": "{key}" given twice')
            if key in ("readOnly", "recursive"):
                if value not in _GO_BOOLS:
                    raise UsageError(f'volume "{text}": {key} must be true or false')
                f[key] = _GO_BOOLS[value]
            elif key in ("uid", "gid"):
                if not value.isdecimal() or not value.isascii():
                    raise UsageError(f'volume "{text}": {key} must be a number')
                f[key] = int(value)
            else:
                f[key] = value
        try:
            return cls._check(f, "")
        except ManifestError as e:
            field = f" {e.path}" if e.path else ""
            raise UsageError(f'volume "{text}":{field} {e.rule}') from None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.source:
            out["source"] = self.source
        if self.read_only is not None:
            out["readOnly"] = self.read_only
        if self.recursive is not None:
            out["recursive"] = self.recursive
        for key in ("mode", "uid", "gid"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def __str__(self) -> str:
        """The `--volume` syntax again, as rkt's Volume.String()."""
        parts = [self.name, f"kind={self.kind}"]
        if self.source:
            parts.append(f"source={self.source}")
        for key, value in (("readOnly", self.read_only), ("recursive", self.recursive)):
            if value is not None:
                parts.append(f"{key}={str(value).lower()}")
        if self.kind == "empty":
            for key, value, default in (("mode", self.mode, _EMPTY_MODE), ("uid", self.uid, 0),
                                        ("gid", self.gid, 0)):
                if value != default:
                    parts.append(f"{key}={value}")
        return ",".join(parts)


@dataclasses.dataclass(frozen=True)
class Mount:
    """An app mount: the pod volume `volume` at `path`; `app_volume` overrides the lookup."""

    volume: str
    path: str
    app_volume: Volume | None = None

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Mount":
        f = fields(obj, path, ("volume", "path", "appVolume"))
        volume = t.ac_name(f.get("volume", ""), join(path, "volume"))
        mount_path = f.get("path", "")
        if mount_path == "":
            raise ManifestError(join(path, "path"), "required")
        t.string(mount_path, join(path, "path"))
        app_volume = (Volume._parse(f["appVolume"], join(path, "appVolume"))
                      if "appVolume" in f else None)
        return cls(volume, mount_path, app_volume)

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"volume": self.volume, "path": self.path}
        if self.app_volume is not None:
            out["appVolume"] = self.app_volume.to_json()
        return out


@dataclasses.dataclass(frozen=True)
class RuntimeImage:
    id: str
    name: str | None = None
    labels: tuple[Label, ...] = ()

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "RuntimeImage":
        f = fields(obj, path, ("name", "id", "labels"))
        if "id" not in f:
            raise ManifestError(join(path, "id"), "required")
        image_id = t.image_id(f["id"], join(path, "id"))
        name = t.ac_identifier(f["name"], join(path, "name")) if "name" in f else None
        return cls(image_id, name, _labels(f, "labels", path))

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        out: dict[str, Any] = {}
        if self.name is not None:
            out["name"] = self.name
        out["id"] = self.id
        if self.labels:
            out["labels"] = [label.to_json() for label in self.labels]
        return out


@dataclasses.dataclass(frozen=True)
class RuntimeApp:
    """One app of a pod: its name, its image (by ID) and the app that replaces the image's."""

    name: str
    image: RuntimeImage
    app: App | None = None
    read_only_root_fs: bool = False
    mounts: tuple[Mount, ...] = ()
    annotations: tuple[Annotation, ...] = ()

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "RuntimeApp":
        f = fields(obj, path, ("name", "image", "app", "readOnlyRootFS", "mounts", "annotations"))
        name = t.ac_name(f.get("name", ""), join(path, "name"))
        if "image" not in f:
            raise ManifestError(join(path, "image"), "required")
        return cls(
            name=name,
            image=RuntimeImage._parse(f["image"], join(path, "image")),
            app=App._parse(f["app"], join(path, "app")) if "app" in f else None,
            read_only_root_fs=t.boolean(f.get("readOnlyRootFS", False), join(path, "readOnlyRootFS")),
            mounts=_list(f, "mounts", path, Mount._parse),
            annotations=_annotations(f, "annotations", path),
        )

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "image": self.image.to_json()}
        if self.app is not None:
            out["app"] = self.app.to_json()
        if self.read_only_root_fs:
            out["readOnlyRootFS"] = True
        if self.mounts:
            out["mounts"] = [m.to_json() for m in self.mounts]
        if self.annotations:
            out["annotations"] = [a.to_json() for a in self.annotations]
        return out


@dataclasses.dataclass(frozen=True)
class ExposedPort:
    """A pod port published on the host: app port `name` on `host_port` (all IPs by default)."""

    name: str
    host_port: int
    host_ip: str | None = None
    pod_port: Port | None = None

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "ExposedPort":
        f = fields(obj, path, ("name", "hostPort", "hostIP", "podPort"))
        name = t.ac_name(f.get("name", ""), join(path, "name"))
        if "hostPort" not in f:
            raise ManifestError(join(path, "hostPort"), "required")
        host_port = t.integer(f["hostPort"], join(path, "hostPort"), 1, 65535)
        host_ip = t.ip_address(f["hostIP"], join(path, "hostIP")) if "hostIP" in f else None
        pod_port = Port._parse(f["podPort"], join(path, "podPort")) if "podPort" in f else None
        return cls(name, host_port, host_ip, pod_port)

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "hostPort": self.host_port}
        if self.host_ip is not None:
            out["hostIP"] = self.host_ip
        if self.pod_port is not None:
            out["podPort"] = self.pod_port.to_json()
        return out


_POD_KEYS = ("acVersion", "acKind", "apps", "volumes", "isolators", "annotations", "ports",
             "userAnnotations", "userLabels")


@dataclasses.dataclass(frozen=True)
class PodManifest:
    """A reified pod: every app names its image by ID and every mount has a volume.

    `annotations` is None when the JSON had null or nothing, () for `[]`: the metadata service
    must serve back exactly what the manifest holds.
    """

    apps: tuple[RuntimeApp, ...] = ()
    volumes: tuple[Volume, ...] = ()
    isolators: tuple[Isolator, ...] = ()
    annotations: tuple[Annotation, ...] | None = None
    ports: tuple[ExposedPort, ...] = ()
    ac_version: str = AC_VERSION
    user_annotations: dict[str, str] = dataclasses.field(default_factory=dict)
    user_labels: dict[str, str] = dataclasses.field(default_factory=dict)

    ac_kind = "PodManifest"

    @classmethod
    def _parse(cls, obj: Any, path: str = "") -> "PodManifest":
        f = fields(obj, path, _POD_KEYS)
        _ac_kind(f, path, cls.ac_kind)
        version = _ac_version(f, path)
        apps = _list(f, "apps", path, RuntimeApp._parse)
        _unique(apps, join(path, "apps"), "app name")
        volumes = _list(f, "volumes", path, Volume._parse)
        _unique(volumes, join(path, "volumes"), "volume name")
        ports = _list(f, "ports", path, ExposedPort._parse)
        _unique(ports, join(path, "ports"), "port name")
        names = {v.name for v in volumes}
        for i, app in enumerate(apps):
            for j, mount in enumerate(app.mounts):
                if mount.app_volume is None and mount.volume not in names:
                    where = join(join(join(join(path, "apps"), i), "mounts"), j)
                    raise ManifestError(join(where, "volume"),
                                        f'no volume named "{mount.volume}" in volumes')
        return cls(
            apps=apps,
            volumes=volumes,
            isolators=_isolators(f, "isolators", path),
            annotations=_annotations(f, "annotations", path) if "annotations" in f else None,
            ports=ports,
            ac_version=version,
            user_annotations=t.string_map(f.get("userAnnotations", {}), join(path, "userAnnotations")),
            user_labels=t.string_map(f.get("userLabels", {}), join(path, "userLabels")),
        )

    from_json = classmethod(_from_json)

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "acVersion": self.ac_version,
            "acKind": self.ac_kind,
            "apps": [a.to_json() for a in self.apps],
            "volumes": [v.to_json() for v in self.volumes],
            "isolators": [i.to_json() for i in self.isolators],
            "annotations": (None if self.annotations is None
                            else [a.to_json() for a in self.annotations]),
            "ports": [p.to_json() for p in self.ports],
        }
        if self.user_annotations:
            out["userAnnotations"] = dict(self.user_annotations)
        if self.user_labels:
            out["userLabels"] = dict(self.user_labels)
        return out

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json()).encode()

    def app(self, name: str) -> RuntimeApp | None:
        return next((a for a in self.apps if a.name == name), None)

    def volume(self, name: str) -> Volume | None:
        return next((v for v in self.volumes if v.name == name), None)

    def annotation(self, name: str) -> str | None:
        return _lookup(self.annotations or (), name)

    def isolator(self, name: str) -> Isolator | None:
        return _last(self.isolators, name)

    @property
    def unknown_isolators(self) -> tuple[Isolator, ...]:
        return tuple(i for i in self.isolators if not i.known)
