"""The appc image manifest of a Docker/OCI image, as docker2aci wrote it (squashed).

Name `REGISTRY/REPOSITORY`, labels version (the tag), os and arch; the app from the
config's Entrypoint+Cmd, Env, WorkingDir, User (names resolved in the image's own
/etc/passwd and /etc/group, as Docker does), ExposedPorts as ports and Volumes as mount
points; docker2aci's `appc.io/docker/*` annotations record where the image came from.
"""

from __future__ import annotations

import json
import re

from rkt.appc import types as t
from rkt.errors import RktError

AC_VERSION = "0.8.11"
_ARCH = {"amd64": "amd64", "386": "i386", "arm64": "aarch64", "ppc64le": "ppc64le",
         "s390x": "s390x", "arm": "armv7l"}
_BAD_ID_CHARS = re.compile(r"[^a-z0-9~._/-]+")


def ac_identifier(text: str) -> str:
    """appc's SanitizeACIdentifier: lowercase, invalid runs become `_`, edges trimmed."""
    name = _BAD_ID_CHARS.sub("_", text.lower())
    name = re.sub(r"([-._~/])[-._~/]+", r"\1", name).strip("-._~/")
    if not t.is_ac_identifier(name):
        raise RktError(f'cannot make an appc name from "{text}"')
    return name


def _passwd(data: bytes | None) -> list[list[str]]:
    if not data:
        return []
    rows = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def resolve_user(spec: str, passwd: bytes | None, group: bytes | None) -> tuple[str, str]:
    """(uid, gid) for Docker's `User` (`name`, `uid`, `name:group`, `uid:gid`, ...).

    A user alone gets its primary group from /etc/passwd (0 if it has no entry, as Docker).
    """
    if not spec:
        return "0", "0"
    user, _, grp = spec.partition(":")
    users = _passwd(passwd)
    entry = None
    for row in users:
        if len(row) >= 4 and (row[0] == user or (user.isdigit() and row[2] == user)):
            entry = row
            break
    if user.isdigit():
        uid = user
    elif entry is not None and entry[2].isdigit():
        uid = entry[2]
    else:
        raise RktError(f'image config: user "{user}" not found in the image\'s /etc/passwd')
    if not grp:
        gid = entry[3] if entry is not None and entry[3].isdigit() else "0"
    elif grp.isdigit():
        gid = grp
    else:
        for row in _passwd(group):
            if len(row) >= 3 and row[0] == grp and row[2].isdigit():
                gid = row[2]
                break
        else:
            raise RktError(f'image config: group "{grp}" not found in the image\'s /etc/group')
    return uid, gid


def _ports(exposed) -> list[dict]:
    ports = []
    for spec in sorted(exposed or {}):
        number, _, proto = str(spec).partition("/")
        try:
            port = int(number)
        except ValueError:
            raise RktError(f"image config: invalid exposed port {spec!r}") from None
        if not 0 < port < 65536:
            raise RktError(f"image config: invalid exposed port {spec!r}")
        ports.append({"name": t.sanitize_ac_name(str(spec)), "protocol": proto or "tcp",
                      "port": port})
    return sorted(ports, key=lambda p: p["name"])


def _mount_points(volumes) -> list[dict]:
    points, seen = [], {}
    for path in sorted(volumes or {}):
        if not isinstance(path, str) or not path.startswith("/"):
            raise RktError(f"image config: invalid volume {path!r} (must be an absolute path)")
        name = t.sanitize_ac_name("volume/" + path)
        count = seen.get(name, 0)
        seen[name] = count + 1
        points.append({"name": f"{name}-{count}" if count else name, "path": path})
    return sorted(points, key=lambda p: p["name"])


def _strings(value, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RktError(f"image config: {what} is not a list of strings")
    return value


def image_manifest(image, accounts: dict[str, bytes], layer_digests: list[str]) -> bytes:
    """The ACI manifest (JSON bytes, deterministic) of `image` (a DockerImage)."""
    config = image.config
    inner = config.get("config") or {}
    if not isinstance(inner, dict):
        raise RktError("image config: `config` is not an object")
    labels = [{"name": "version", "value": image.tag}]
    os_name = str(config.get("os") or "linux")
    arch = _ARCH.get(str(config.get("architecture") or "amd64"))
    labels.append({"name": "os", "value": os_name})
    if arch:
        labels.append({"name": "arch", "value": arch})
    entrypoint = _strings(inner.get("Entrypoint"), "Entrypoint")
    cmd = _strings(inner.get("Cmd"), "Cmd")
    uid, gid = resolve_user(str(inner.get("User") or ""), accounts.get("etc/passwd"),
                            accounts.get("etc/group"))
    env = []
    for item in _strings(inner.get("Env"), "Env"):
        name, eq, value = item.partition("=")
        if eq and t.is_env_name(name):
            env.append({"name": name, "value": value})
    app: dict = {"exec": entrypoint + cmd, "user": uid, "group": gid}
    if env:
        app["environment"] = env
    workdir = inner.get("WorkingDir")
    if isinstance(workdir, str) and workdir:
        app["workingDirectory"] = workdir if workdir.startswith("/") else "/" + workdir
    if inner.get("Volumes"):
        app["mountPoints"] = _mount_points(inner["Volumes"])
    if inner.get("ExposedPorts"):
        app["ports"] = _ports(inner["ExposedPorts"])
    annotations = {
        "appc.io/docker/registryurl": image.registry,
        "appc.io/docker/repository": image.repository,
        "appc.io/docker/tag": image.tag,
        "appc.io/docker/manifesthash": image.digest,
        "appc.io/docker/originalname": image.original,
        "appc.io/docker/layers": " ".join(layer_digests),
    }
    if entrypoint:
        annotations["appc.io/docker/entrypoint"] = json.dumps(entrypoint)
    if cmd:
        annotations["appc.io/docker/cmd"] = json.dumps(cmd)
    created = config.get("created")
    if isinstance(created, str):
        try:
            t.rfc3339(created)
            annotations["created"] = created
        except RktError:
            pass
    author = config.get("author")
    if isinstance(author, str) and author:
        annotations["authors"] = author
    doc = {
        "acKind": "ImageManifest",
        "acVersion": AC_VERSION,
        "name": image.name,
        "labels": labels,
        "app": app,
        "annotations": [{"name": k, "value": v} for k, v in annotations.items() if v],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
