"""What every Docker/OCI image source resolves to: a config, ordered layers, and provenance.

Registries, OCI layouts and archives all end as a `DockerImage`: the parsed image config
(Entrypoint, Cmd, Env, ...), its layers bottom first (each one opened on demand), and the
names and digest the converted ACI records in its annotations. Manifest parsing shared by
the registry and the OCI layout sources lives here too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Callable

from rkt.errors import RktError

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEX_TYPES = (DOCKER_LIST, OCI_INDEX)
MAX_MANIFEST = 4 << 20
MAX_CONFIG = 8 << 20
MAX_INDEX_DEPTH = 4  # documents read through indexes pointing at indexes; the last must be a manifest
PLATFORM = ("linux", "amd64")


@dataclasses.dataclass(frozen=True)
class Layer:
    digest: str              # sha256:... of the blob as stored (compressed)
    media_type: str
    size: int
    open: Callable[[], object]  # a binary file object of the blob, verified as it is read


@dataclasses.dataclass(frozen=True)
class DockerImage:
    name: str                # the ACI name, `REGISTRY/REPOSITORY`
    tag: str                 # the version label
    registry: str
    repository: str
    digest: str              # of the image manifest (or, for docker-archive, of the config)
    original: str            # what the user wrote
    config: dict
    layers: tuple[Layer, ...]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str, what: str) -> str:
    """The hex of a `sha256:<64 hex>` digest; anything else is refused (it becomes a path)."""
    algo, _, hexpart = digest.partition(":") if isinstance(digest, str) else ("", "", "")
    if algo != "sha256" or len(hexpart) != 64 or any(c not in "0123456789abcdef" for c in hexpart):
        raise RktError(f"{what}: unsupported or invalid digest {digest!r} (want sha256:<hex>)")
    return hexpart


def parse_json(data: bytes, what: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise RktError(f"{what}: invalid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise RktError(f"{what}: not a JSON object")
    return doc


def media_type(doc: dict, fallback: str = "") -> str:
    """A manifest's type from its own `mediaType` (or the response header), schema 1 refused."""
    kind = doc.get("mediaType") or fallback
    if doc.get("schemaVersion") == 1 or kind in (DOCKER_V1, DOCKER_V1_SIGNED):
        raise RktError("Docker schema 1 manifests are not supported (deprecated since 2017; "
                       "push the image again with a current client)")
    if not kind:
        if "manifests" in doc:
            kind = OCI_INDEX
        elif "layers" in doc:
            kind = OCI_MANIFEST
    return kind


def pick_platform(index: dict, what: str) -> dict:
    """The linux/amd64 descriptor of a manifest list or OCI index."""
    entries = index.get("manifests")
    if not isinstance(entries, list):
        raise RktError(f"{what}: index without a manifests list")
    seen = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        platform = entry.get("platform") or {}
        pair = (platform.get("os"), platform.get("architecture"))
        if pair == PLATFORM:
            return entry
        seen.append("/".join(str(p) for p in pair))
    if len(entries) == 1 and isinstance(entries[0], dict) and not entries[0].get("platform"):
        return entries[0]
    raise RktError(f"{what}: no linux/amd64 image in the manifest list "
                   f"(it has: {', '.join(seen) or 'nothing'})")


def layer_descriptors(manifest: dict, what: str) -> tuple[dict, list[dict]]:
    """(config descriptor, layer descriptors) of an image manifest, checked."""
    config = manifest.get("config")
    layers = manifest.get("layers")
    if not isinstance(config, dict) or not isinstance(layers, list):
        raise RktError(f"{what}: image manifest without config or layers")
    check_digest(config.get("digest"), f"{what}: config")
    for layer in layers:
        if not isinstance(layer, dict):
            raise RktError(f"{what}: invalid layer descriptor")
        check_digest(layer.get("digest"), f"{what}: layer")
        kind = str(layer.get("mediaType", ""))
        if "foreign" in kind or "nondistributable" in kind:
            if not layer.get("urls"):
                raise RktError(f"{what}: foreign layer {layer['digest']} has no URL")
    return config, layers
