"""The layer cache: registry layer blobs kept by digest, so images sharing layers download them
once.

    cas/docker/sha256/<hex>     a complete, verified layer blob (as the registry sent it)
    cas/docker/tmp/<random>     a download in progress

A blob appears by `rename(2)` only after its digest checked out, and is opened before use: a
concurrent `rkt image gc` may unlink it, but never from under a conversion reading it. gc
keeps the layers named by some stored image's `appc.io/docker/layers` annotation.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from rkt.closing import Closing
from rkt.errors import RktError

LAYERS_ANNOTATION = "appc.io/docker/layers"
TMP_GRACE_SECONDS = 24 * 3600


def root(store) -> Path:
    return Path(store.cas) / "docker"


def path(store, digest: str) -> Path:
    from rkt.fetch.docker.image import check_digest

    return root(store) / "sha256" / check_digest(digest, "layer")


def open_cached(store, digest: str):
    """The cached blob (re-verified as it is read), or None."""
    from rkt.fetch.docker.image import check_digest
    from rkt.fetch.docker.sources import VerifyingReader

    try:
        f = open(path(store, digest), "rb")
    except FileNotFoundError:
        return None
    return _Evicting(VerifyingReader(f, check_digest(digest, "layer"),
                                     f"layer {digest} in the layer cache"), path(store, digest))


class _Evicting(Closing):
    """A damaged cached blob is removed when found, so the next fetch downloads it again."""

    def __init__(self, reader, where: Path):
        self.reader, self.where = reader, where

    def read(self, n: int = -1) -> bytes:
        try:
            return self.reader.read(n)
        except RktError as err:
            self.where.unlink(missing_ok=True)
            raise RktError(f"{err.message}; removed it, fetch again") from None

    def close(self) -> None:
        self.reader.close()


def new_download(store):
    """(file object, path) of a fresh temp file for a download."""
    tmp = root(store) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp, prefix="layer-")
    return os.fdopen(fd, "w+b"), Path(name)


def commit(store, tmp_path: Path, digest: str) -> None:
    """Place a verified download under its digest (atomically; a concurrent twin is fine)."""
    final = path(store, digest)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(tmp_path, final)


def stored_annotations(store, image_id: str) -> dict:
    """name -> value of a stored image's manifest annotations ({} when it cannot be read)."""
    try:
        doc = json.loads(store.manifest_bytes(image_id))
    except (RktError, ValueError):
        return {}
    return {a.get("name"): a.get("value") for a in doc.get("annotations") or []
            if isinstance(a, dict)}


def gc(store) -> list[str]:
    """Remove cached layers no stored image refers to, and abandoned downloads."""
    keep: set[str] = set()
    for info in store.images():
        keep.update(str(stored_annotations(store, info.id).get(LAYERS_ANNOTATION) or "").split())
    removed = []
    blobs = root(store) / "sha256"
    if blobs.is_dir():
        for entry in os.scandir(blobs):
            if f"sha256:{entry.name}" not in keep:
                Path(entry.path).unlink(missing_ok=True)
                removed.append(f"sha256:{entry.name}")
    tmp = root(store) / "tmp"
    if tmp.is_dir():
        for entry in os.scandir(tmp):
            try:
                if time.time() - entry.stat().st_mtime > TMP_GRACE_SECONDS:
                    Path(entry.path).unlink(missing_ok=True)
            except FileNotFoundError:
                pass
    return removed
