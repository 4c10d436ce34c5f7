"""The appc pod manifest: a reified pod, each app naming its image by ID, with volumes,
mounts, pod-level isolators and published ports.

Same conventions as `rkt.appc.image` (`from_json`/`to_json`, JSON paths in errors). `Volume` also
reads and writes rkt's `--volume` flag syntax, since a volume given on the command line and one in a
manifest must obey the same rules.
"""

from __future__ import annotations

from rkt import jsonio
from rkt.appc import types as t
from rkt.appc.image import App, Port
from rkt.appc.isolators import Isolator, last_isolator, parse_isolators
from rkt.appc.pairs import Annotation, Label, lookup, parse_annotations, parse_labels
from rkt.appc.types import AC_VERSION, fields, join
from rkt.errors import ManifestError, UsageError
from rkt.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Any


# The spellings Go's strconv.ParseBool accepts, which rkt's flag parsing inherits.
_GO_BOOLS = {**dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True),
             **dict.fromkeys(("0", "f", "F", "FALSE", "false", "False"), False)}
_VOLUME_KEYS = ("name", "kind", "source", "readOnly", "recursive", "mode", "uid", "gid")
_EMPTY_MODE = "0755"


class Volume(Record):
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

    from_json = classmethod(t.parse_document)

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


class Mount(Record):
    """An app mount: the pod volume `volume` at `path`; `app_volume` overrides the lookup."""

    volume: str
    path: str
    app_volume: Volume | None = None

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Mount":
        f = fields(obj, path, ("volume", "path", "appVolume"))
        volume = t.ac_name(f.get("volume", ""), join(path, "volume"))
        mount_path = t.required_string(f, "path", path)
        app_volume = (Volume._parse(f["appVolume"], join(path, "appVolume"))
                      if "appVolume" in f else None)
        return cls(volume, mount_path, app_volume)

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"volume": self.volume, "path": self.path,
                **t.omit_empty(appVolume=self.app_volume)}


class RuntimeImage(Record):
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
        return cls(image_id, name, parse_labels(f, "labels", path))

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {**t.omit_empty(name=self.name), "id": self.id, **t.omit_empty(labels=self.labels)}


class RuntimeApp(Record):
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
            mounts=t.parse_list(f, "mounts", path, Mount._parse),
            annotations=parse_annotations(f, "annotations", path),
        )

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"name": self.name, "image": self.image.to_json(),
                **t.omit_empty(app=self.app, readOnlyRootFS=self.read_only_root_fs,
                               mounts=self.mounts, annotations=self.annotations)}


class ExposedPort(Record):
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

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"name": self.name, "hostPort": self.host_port,
                **t.omit_empty(hostIP=self.host_ip, podPort=self.pod_port)}


_POD_KEYS = ("acVersion", "acKind", "apps", "volumes", "isolators", "annotations", "ports",
             "userAnnotations", "userLabels")


class PodManifest(Record):
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
    user_annotations: dict[str, str] = {}
    user_labels: dict[str, str] = {}

    ac_kind = "PodManifest"

    @classmethod
    def _parse(cls, obj: Any, path: str = "") -> "PodManifest":
        f, version = t.manifest_fields(obj, path, _POD_KEYS, cls.ac_kind)
        apps = t.parse_list(f, "apps", path, RuntimeApp._parse, unique="app name")
        volumes = t.parse_list(f, "volumes", path, Volume._parse, unique="volume name")
        ports = t.parse_list(f, "ports", path, ExposedPort._parse, unique="port name")
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
            isolators=parse_isolators(f, "isolators", path),
            annotations=parse_annotations(f, "annotations", path) if "annotations" in f else None,
            ports=ports,
            ac_version=version,
            user_annotations=t.string_map(f.get("userAnnotations", {}), join(path, "userAnnotations")),
            user_labels=t.string_map(f.get("userLabels", {}), join(path, "userLabels")),
        )

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        # Unlike the parts, the pod's lists are written even when empty (and null annotations
        # as null), as rkt writes them.
        return {
            "acVersion": self.ac_version,
            "acKind": self.ac_kind,
            "apps": [a.to_json() for a in self.apps],
            "volumes": [v.to_json() for v in self.volumes],
            "isolators": [i.to_json() for i in self.isolators],
            "annotations": (None if self.annotations is None
                            else [a.to_json() for a in self.annotations]),
            "ports": [p.to_json() for p in self.ports],
            **t.omit_empty(userAnnotations=self.user_annotations, userLabels=self.user_labels),
        }

    def to_bytes(self) -> bytes:
        return jsonio.dumps(self.to_json()).encode()

    def app(self, name: str) -> RuntimeApp | None:
        return next((a for a in self.apps if a.name == name), None)

    def volume(self, name: str) -> Volume | None:
        return next((v for v in self.volumes if v.name == name), None)

    def annotation(self, name: str) -> str | None:
        return lookup(self.annotations or (), name)

    def isolator(self, name: str) -> Isolator | None:
        return last_isolator(self.isolators, name)

    @property
    def unknown_isolators(self) -> tuple[Isolator, ...]:
        return tuple(i for i in self.isolators if not i.known)
