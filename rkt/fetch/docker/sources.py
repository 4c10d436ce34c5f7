"""Images without a registry, in skopeo's syntax: `oci:PATH[:TAG]`, `oci-archive:FILE[:TAG]`,
`docker-archive:FILE[:REF]` (what `docker save` writes).

An OCI layout (a directory, or a tar of one) is read through its `index.json` to the image
manifest, whose config and layers are blobs named by digest; a docker archive has a
`manifest.json` naming its config and layer tar files. Archives are read in place (members
opened inside the tar), never unpacked; every blob is checked against its digest as it is read.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

from rkt.closing import Closing
from rkt.errors import RktError
from rkt.fetch.docker import image as im
from rkt.fetch.docker.convert import ac_identifier

SCHEMES = ("oci:", "oci-archive:", "docker-archive:")
REF_NAME = "org.opencontainers.image.ref.name"


class VerifyingReader(Closing):
    """A blob's file object that fails at its end if the bytes do not have the expected digest
    (`lenient_compressed`: a compressed docker-archive layer is named by its tar's digest)."""

    def __init__(self, file, hexdigest: str, what: str, *, lenient_compressed: bool = False):
        self.file = file
        self.expect = hexdigest
        self.what = what
        self.hash = hashlib.sha256()
        self.lenient = lenient_compressed
        self.first = True
        self.checked = False

    def read(self, n: int = -1) -> bytes:
        data = self.file.read(n)
        if self.first and data:
            self.first = False
            if self.lenient and data[:2] == b"\x1f\x8b":
                self.hash = None
        if self.hash is not None:
            if data:
                self.hash.update(data)
            elif not self.checked and n != 0:
                self.checked = True
                if self.hash.hexdigest() != self.expect:
                    raise RktError(f"{self.what}: digest mismatch (expected sha256:{self.expect}, "
                                   f"got sha256:{self.hash.hexdigest()})")
        return data

    def close(self) -> None:
        self.file.close()


class _Dir:
    def __init__(self, root: Path):
        self.root = root

    def open(self, rel: str):
        try:
            return open(self.root / rel, "rb")
        except FileNotFoundError:
            raise RktError(f"{self.root}: {rel} not found") from None
        except OSError as err:
            raise RktError(f"{self.root / rel}: {err.strerror}") from None


class _Tar:
    def __init__(self, path: Path):
        self.path = path
        try:
            self.tar = tarfile.open(path, "r:")
        except FileNotFoundError:
            raise RktError(f"{path}: not found") from None
        except (OSError, tarfile.TarError) as err:
            raise RktError(f"{path}: not an uncompressed tar archive ({err})") from None
        self.members = {os.path.normpath(m.name.lstrip("/")): m for m in self.tar.getmembers()}

    def open(self, rel: str):
        member = self.members.get(os.path.normpath(rel))
        if member is None:
            raise RktError(f"{self.path}: {rel} not found in the archive")
        try:
            f = self.tar.extractfile(member)
        except (KeyError, tarfile.TarError) as err:
            raise RktError(f"{self.path}: {rel}: {err}") from None
        if f is None:
            raise RktError(f"{self.path}: {rel} is not a file")
        return f


def _read(store, rel: str, limit: int, what: str) -> bytes:
    with store.open(rel) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise RktError(f"{what}: larger than {limit} bytes")
    return data


def _blob(store, digest: str, limit: int, what: str) -> bytes:
    hexpart = im.check_digest(digest, what)
    data = _read(store, f"blobs/sha256/{hexpart}", limit, what)
    if im.sha256_digest(data) != digest:
        raise RktError(f"{what}: digest mismatch (expected {digest}, got {im.sha256_digest(data)})")
    return data


def _layer(store, desc: dict, what: str) -> im.Layer:
    digest = desc["digest"]
    hexpart = im.check_digest(digest, what)
    rel = f"blobs/sha256/{hexpart}"
    return im.Layer(digest, str(desc.get("mediaType", "")), int(desc.get("size") or 0),
                    lambda: VerifyingReader(store.open(rel), hexpart, f"layer {digest}"))


def split_source(ref: str) -> tuple[str, str, str | None]:
    """(scheme, path, tag or None) of `oci:PATH[:TAG]` and the archive forms."""
    scheme, _, rest = ref.partition(":")
    path, colon, tag = rest.partition(":")
    if not path:
        raise RktError(f'image "{ref}": empty path after "{scheme}:"')
    if colon and not tag:
        raise RktError(f'image "{ref}": empty reference after the path')
    return scheme + ":", path, tag or None


def load(ref: str) -> im.DockerImage:
    """The image a local source names."""
    scheme, path, tag = split_source(ref)
    if scheme == "docker-archive:":
        return _docker_archive(ref, Path(path), tag)
    if scheme == "oci:":
        root = Path(path)
        if not root.is_dir():
            raise RktError(f'image "{ref}": {path} is not an OCI layout directory')
        store = _Dir(root)
    else:
        store = _Tar(Path(path))
    return _oci(ref, store, Path(path), tag)


def _oci(ref: str, store, path: Path, tag: str | None) -> im.DockerImage:
    index = im.parse_json(_read(store, "index.json", im.MAX_MANIFEST, f"{path}: index.json"),
                          f"{path}: index.json")
    entries = [e for e in index.get("manifests") or [] if isinstance(e, dict)]
    tags = {(e.get("annotations") or {}).get(REF_NAME): e for e in entries}
    if tag is not None:
        desc = tags.get(tag)
        if desc is None:
            known = ", ".join(sorted(str(k) for k in tags if k)) or "none"
            raise RktError(f'image "{ref}": no image tagged "{tag}" in {path} (tags: {known})')
    elif len(entries) == 1:
        desc = entries[0]
    elif "latest" in tags:
        desc = tags["latest"]
    else:
        raise RktError(f'image "{ref}": {path} holds {len(entries)} images; name one with :TAG')
    what = f'image "{ref}"'
    tag = tag or (desc.get("annotations") or {}).get(REF_NAME) or "latest"
    for _ in range(im.MAX_INDEX_DEPTH):
        doc = im.parse_json(_blob(store, desc.get("digest"), im.MAX_MANIFEST, what), what)
        kind = im.media_type(doc, str(desc.get("mediaType", "")))
        if kind not in im.INDEX_TYPES:
            break
        desc = im.pick_platform(doc, what)
    else:
        raise RktError(f"{what}: image indexes nest too deeply")
    config_desc, layers = im.layer_descriptors(doc, what)
    config = im.parse_json(_blob(store, config_desc["digest"], im.MAX_CONFIG, f"{what}: config"),
                           f"{what}: config")
    name = ac_identifier(path.name.removesuffix(".tar"))
    return im.DockerImage(name=name, tag=str(tag), registry="", repository=name,
                          digest=desc["digest"], original="", config=config,
                          layers=tuple(_layer(store, d, what) for d in layers))


def _docker_archive(ref: str, path: Path, wanted: str | None) -> im.DockerImage:
    from rkt.fetch.docker.reference import parse_reference

    store = _Tar(path)
    what = f'image "{ref}"'
    doc = im.parse_json(b'{"m":' + _read(store, "manifest.json", im.MAX_MANIFEST, what) + b"}",
                        what).get("m")
    if not isinstance(doc, list) or not doc or not all(isinstance(e, dict) for e in doc):
        raise RktError(f"{what}: manifest.json is not a list of images")
    entry = doc[0]
    if wanted is not None:
        for candidate in doc:
            if wanted in (candidate.get("RepoTags") or []):
                entry = candidate
                break
        else:
            raise RktError(f'{what}: no image "{wanted}" in {path}')
    elif len(doc) > 1:
        raise RktError(f"{what}: {path} holds {len(doc)} images; name one with :REF")
    config_bytes = _read(store, str(entry.get("Config", "")), im.MAX_CONFIG, f"{what}: config")
    config = im.parse_json(config_bytes, f"{what}: config")
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    files = entry.get("Layers") or []
    if not isinstance(files, list) or len(files) != len(diff_ids):
        raise RktError(f"{what}: manifest.json lists {len(files)} layers, the config "
                       f"{len(diff_ids)}")
    layers = []
    for rel, diff_id in zip(files, diff_ids):
        hexpart = im.check_digest(diff_id, f"{what}: layer")
        layers.append(im.Layer(diff_id, "application/vnd.docker.image.rootfs.diff.tar", 0,
                               lambda rel=str(rel), h=hexpart, d=diff_id: VerifyingReader(
                                   store.open(rel), h, f"layer {d}", lenient_compressed=True)))
    repo_tags = entry.get("RepoTags") or []
    tagged = wanted or (repo_tags[0] if repo_tags and isinstance(repo_tags[0], str) else None)
    if tagged:
        parsed = parse_reference(tagged)
        registry, repository, tag = parsed.registry, parsed.repository, parsed.tag or "latest"
        name = parsed.aci_name
    else:
        registry, tag = "", "latest"
        name = repository = ac_identifier(path.name.removesuffix(".tar"))
    return im.DockerImage(name=name, tag=tag, registry=registry, repository=repository,
                          digest=im.sha256_digest(config_bytes), original="", config=config,
                          layers=tuple(layers))
