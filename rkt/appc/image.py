"""The appc image manifest: the image's name, labels, dependencies and the app it runs.

`X.from_json(bytes | str | dict)` checks every appc rule and raises `ManifestError` with the JSON
path of the first bad field; `x.to_json()` gives the canonical appc JSON (camelCase keys, empty
optional fields left out as appc's Go marshaller does), so `from_json(x.to_json()) == x`.
Keys are matched case-insensitively, as Go's decoder does (`supplementaryGids` is accepted).
`App` lives here because an image defines it; a pod manifest may override it per app.
"""

from __future__ import annotations

from rkt import jsonio
from rkt.appc import types as t
from rkt.appc.isolators import Isolator, last_isolator, parse_isolators
from rkt.appc.pairs import (Annotation, EnvironmentVariable, Label, lookup, parse_annotations,
                            parse_labels)
from rkt.appc.types import AC_VERSION, fields, join
from rkt.errors import ManifestError
from rkt.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Any


class EventHandler(Record):
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

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"name": self.name, "exec": list(self.exec)}


class MountPoint(Record):
    name: str
    path: str
    read_only: bool = False

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "MountPoint":
        f = fields(obj, path, ("name", "path", "readOnly"))
        name = t.ac_name(f.get("name", ""), join(path, "name"))
        mount_path = t.required_string(f, "path", path)
        read_only = t.boolean(f.get("readOnly", False), join(path, "readOnly"))
        return cls(name, mount_path, read_only)

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"name": self.name, "path": self.path, **t.omit_empty(readOnly=self.read_only)}


class Port(Record):
    name: str
    protocol: str
    port: int
    count: int = 1
    socket_activated: bool = False

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "Port":
        f = fields(obj, path, ("name", "protocol", "port", "count", "socketActivated"))
        name = t.ac_name(f.get("name", ""), join(path, "name"))
        protocol = t.required_string(f, "protocol", path)
        if "port" not in f:
            raise ManifestError(join(path, "port"), "required")
        port = t.integer(f["port"], join(path, "port"), 1, 65535)
        # Go treats a missing or zero count as 1.
        count = t.integer(f.get("count", 0), join(path, "count"), 0) or 1
        if port + count - 1 > 65535:
            raise ManifestError(join(path, "count"), "port range must end at or below 65535")
        activated = t.boolean(f.get("socketActivated", False), join(path, "socketActivated"))
        return cls(name, protocol, port, count, activated)

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"name": self.name, "protocol": self.protocol, "port": self.port,
                "count": self.count, "socketActivated": self.socket_activated}


_APP_KEYS = ("exec", "eventHandlers", "user", "group", "supplementaryGIDs", "workingDirectory",
             "environment", "mountPoints", "ports", "isolators", "userAnnotations", "userLabels")


class App(Record):
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
    user_annotations: dict[str, str] = {}
    user_labels: dict[str, str] = {}

    @classmethod
    def _parse(cls, obj: Any, path: str) -> "App":
        f = fields(obj, path, _APP_KEYS)
        user = t.required_string(f, "user", path)
        group = t.required_string(f, "group", path)
        gids_path = join(path, "supplementaryGIDs")
        gids = tuple(t.integer(g, join(gids_path, i), 0, 2**32 - 1)
                     for i, g in enumerate(t.array(f.get("supplementaryGIDs", []), gids_path)))
        workdir = f.get("workingDirectory", "")
        if workdir != "":
            t.absolute_path(workdir, join(path, "workingDirectory"))
        environment = t.parse_list(f, "environment", path, EnvironmentVariable._parse,
                                   unique="environment variable")
        handlers = t.parse_list(f, "eventHandlers", path, EventHandler._parse,
                                unique="event handler")
        ports = t.parse_list(f, "ports", path, Port._parse, unique="port")
        return cls(
            exec=t.strings(f.get("exec", []), join(path, "exec")),
            user=user,
            group=group,
            supplementary_gids=gids,
            working_directory=workdir,
            environment=environment,
            event_handlers=handlers,
            mount_points=t.parse_list(f, "mountPoints", path, MountPoint._parse),
            ports=ports,
            isolators=parse_isolators(f, "isolators", path),
            user_annotations=t.string_map(f.get("userAnnotations", {}), join(path, "userAnnotations")),
            user_labels=t.string_map(f.get("userLabels", {}), join(path, "userLabels")),
        )

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"exec": list(self.exec), **t.omit_empty(eventHandlers=self.event_handlers),
                "user": self.user, "group": self.group,
                **t.omit_empty(supplementaryGIDs=self.supplementary_gids,
                               workingDirectory=self.working_directory,
                               environment=self.environment, mountPoints=self.mount_points,
                               ports=self.ports, isolators=self.isolators,
                               userAnnotations=self.user_annotations, userLabels=self.user_labels)}

    def env(self, name: str) -> str | None:
        return lookup(self.environment, name)

    def event_handler(self, name: str) -> EventHandler | None:
        return next((h for h in self.event_handlers if h.name == name), None)

    def isolator(self, name: str) -> Isolator | None:
        """The last isolator of that name (as appc's GetByName), or None."""
        return last_isolator(self.isolators, name)

    @property
    def unknown_isolators(self) -> tuple[Isolator, ...]:
        """Isolators this runtime does not know; the spec lets us ignore them, but we must say so."""
        return tuple(i for i in self.isolators if not i.known)


class Dependency(Record):
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
        return cls(name, image_id, parse_labels(f, "labels", path), size or None)

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"imageName": self.image_name,
                **t.omit_empty(imageID=self.image_id, labels=self.labels, size=self.size)}


_IMAGE_KEYS = ("acKind", "acVersion", "name", "labels", "app", "annotations", "dependencies",
               "pathWhitelist")


class ImageManifest(Record):
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
        f, version = t.manifest_fields(obj, path, _IMAGE_KEYS, cls.ac_kind)
        if "name" not in f:
            raise ManifestError(join(path, "name"), "required")
        name = t.ac_identifier(f["name"], join(path, "name"))
        whitelist_path = join(path, "pathWhitelist")
        whitelist = tuple(t.absolute_path(p, join(whitelist_path, i))
                          for i, p in enumerate(t.array(f.get("pathWhitelist", []), whitelist_path)))
        return cls(
            name=name,
            ac_version=version,
            labels=parse_labels(f, "labels", path),
            app=App._parse(f["app"], join(path, "app")) if "app" in f else None,
            annotations=parse_annotations(f, "annotations", path),
            dependencies=t.parse_list(f, "dependencies", path, Dependency._parse),
            path_whitelist=whitelist,
        )

    from_json = classmethod(t.parse_document)

    def to_json(self) -> dict:
        return {"acKind": self.ac_kind, "acVersion": self.ac_version, "name": self.name,
                **t.omit_empty(labels=self.labels, app=self.app, annotations=self.annotations,
                               dependencies=self.dependencies, pathWhitelist=self.path_whitelist)}

    def to_bytes(self) -> bytes:
        return jsonio.dumps(self.to_json()).encode()

    def label(self, name: str) -> str | None:
        return lookup(self.labels, name)

    def annotation(self, name: str) -> str | None:
        return lookup(self.annotations, name)
