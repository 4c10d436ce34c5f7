"""The content-addressed image store under `<dir>/cas` (layout: rkt.store.layout): blobs and
the index here, dependency and rendered trees in rkt.store.trees (mixed into `Store`).

Everything becomes visible by an atomic step taken last: a blob or tree by `rename(2)` after
fsync, an image by its index row. A tmp dir records what its owner was about to commit, so
when the owner is killed the next command (finding the dir unlocked) can undo exactly that.
"""
from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from rkt import jsonio
from rkt.closing import Closing
from rkt.errors import RktError
from rkt.fsutil import atomic_write, fsync_dir
from rkt.lock import FileLock
from rkt.store import layering, layout
from rkt.store.db import ImageInfo, Index
from rkt.store.trees import TreeStore, prune_to_whitelist, seal_tree

_HEX = r"[0-9a-f]+"  # for re.fullmatch: compiled on first use, not on every `rkt run`
STALE_STAGING_SECONDS = 5
# Interrupted downloads (rkt.fetch.remote) wait here to be resumed; they own their cleanup.
KEEP_IN_TMP = "partial"
# Test seam: the crash tests name a commit step here to have the process SIGKILL itself there.
_KILL_AT = os.environ.get("RKT_TEST_KILL_AT", "")


def _kill_point(step: str) -> None:
    if _KILL_AT == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def parse_image_string(ref: str) -> tuple[str, dict[str, str]]:
    """`name[:version][,label=value...]` (appc's app string) -> (name, labels)."""
    head, *pairs = ref.split(",")
    name, colon, version = head.partition(":")
    labels: dict[str, str] = {}
    if colon:
        if not version:
            raise RktError(f'image "{ref}": empty version after ":"')
        labels["version"] = version
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise RktError(f'image "{ref}": bad label {pair!r} (want name=value)')
        labels[key] = value
    if not name:
        raise RktError(f'image "{ref}": empty name')
    return name, labels


def _share_with_group(cas: Path) -> int | None:
    """A store set up for group `rkt` (setgid dirs, rkt's tmpfiles entry) gets files its members
    can write too, whoever makes them (blob dirs, lock files, work dirs), as rkt's umask(0) with
    its 2770/0660 modes did; the previous umask, to restore, or None when left alone."""
    import stat
    try:
        shared = os.stat(cas).st_mode & (stat.S_ISGID | stat.S_IWGRP) == stat.S_ISGID | stat.S_IWGRP
    except OSError:
        return None
    if not shared:
        return None
    previous = os.umask(0o077)
    os.umask(previous & ~0o070)
    return previous


class Store(TreeStore, Closing):
    def __init__(self, data_dir: str | os.PathLike):
        self.data_dir = Path(data_dir)
        self.cas = layout.cas_dir(data_dir)
        self._manifests: dict[str, bytes] = {}
        self._umask = _share_with_group(self.cas)
        try:
            for sub in layout.SUBDIRS:
                (self.cas / sub).mkdir(parents=True, exist_ok=True)
            self.index = Index(self.cas / "db")
            self.clean_tmp()
        except OSError as err:
            raise RktError(f"cannot open the image store in {self.cas}: "
                           f"{err.strerror or err}") from None

    def close(self) -> None:
        self.index.close()
        if self._umask is not None:
            os.umask(self._umask)
            self._umask = None

    # -- paths and locks ---------------------------------------------------------------------

    def blob_path(self, image_id: str) -> Path:
        return layout.blob_path(self.data_dir, image_id)

    def _image_lock(self, image_id: str) -> FileLock:
        return FileLock(self.cas / "imagelocks" / image_id)

    @contextlib.contextmanager
    def _workdir(self, kind: str):
        """A private dir in cas/tmp, locked before it gets a name the cleaner looks at."""
        import shutil
        import tempfile

        staging = tempfile.mkdtemp(prefix=".new-", dir=self.cas / "tmp")
        lock = FileLock(staging)
        lock.exclusive()
        final = self.cas / "tmp" / f"{kind}-{os.path.basename(staging)[5:]}"
        os.rename(staging, final)
        try:
            yield final
        finally:
            shutil.rmtree(final, ignore_errors=True)
            lock.close()

    def clean_tmp(self) -> list[str]:
        """Remove what killed commands left in cas/tmp; a dir whose owner lives stays locked."""
        cleaned = []
        tmp = self.cas / "tmp"
        for entry in os.scandir(tmp):
            if entry.name == KEEP_IN_TMP:
                continue
            path = Path(entry.path)
            if entry.name.startswith(".new-"):
                # Between mkdtemp and the owner's lock: only an old one is surely abandoned.
                try:
                    if time.time() - entry.stat(follow_symlinks=False).st_mtime < STALE_STAGING_SECONDS:
                        continue
                except FileNotFoundError:
                    continue
            try:
                lock = FileLock(path, create=False)
            except (RktError, OSError):
                continue
            try:
                if not lock.exclusive(blocking=False):
                    continue
                if not path.exists():
                    continue
                self._undo_commit(path)
                if entry.is_dir(follow_symlinks=False):
                    import shutil

                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                cleaned.append(entry.name)
            finally:
                lock.close()
        return cleaned

    def _undo_commit(self, work: Path) -> None:
        """A dead importer that got as far as placing the blob/tree, but not the index row."""
        journal = work / "commit"
        try:
            record = jsonio.loads(journal.read_text())
            image_id, tree_id = record["image"], record.get("tree")
        except (OSError, ValueError, KeyError, TypeError):
            return
        if not isinstance(image_id, str) or not image_id.startswith("sha512-"):
            return
        with self._image_lock(image_id) as lock:
            lock.exclusive()
            if self.index.get(image_id) is not None:
                return
            self.blob_path(image_id).unlink(missing_ok=True)
            if isinstance(tree_id, str) and tree_id.startswith("deps-"):
                self._remove_tree(tree_id, blocking=True)

    # -- lookups ----------------------------------------------------------------------------

    def _used_path(self, image_id: str) -> Path:
        return self.cas / "used" / image_id

    def _with_use(self, info: ImageInfo | None) -> ImageInfo | None:
        """The row with its last use as `mark_used` recorded it (the later of the two)."""
        if info is None:
            return None
        try:
            used = os.stat(self._used_path(info.id)).st_mtime_ns
        except OSError:
            return info
        return info.replace(last_used=used) if used > info.last_used else info

    def images(self) -> list[ImageInfo]:
        return [self._with_use(info) for info in self.index.all()]

    def get(self, image_id: str) -> ImageInfo | None:
        return self._with_use(self.index.get(image_id))

    def resolve(self, ref: str) -> ImageInfo:
        """An image by full ID, unique ID prefix, or `name[:version][,label=value]`."""
        if ref.startswith("sha512-"):
            digest = ref[7:]
            if not digest or len(digest) > 128 or not re.fullmatch(_HEX, digest):
                raise RktError(f'image ID "{ref}": not an image ID or ID prefix '
                               "(sha512- followed by lowercase hex)")
            matches = self.index.with_prefix(ref)
            if not matches:
                raise RktError(f'no image with ID "{ref}" in the store')
            if len(matches) > 1:
                raise RktError(f'image ID prefix "{ref}" is ambiguous: {len(matches)} images match')
            return self._with_use(matches[0])
        name, labels = parse_image_string(ref)
        found = self.find(name, labels)
        if found is None:
            raise RktError(f'no image named "{ref}" in the store')
        return found

    def find(self, name: str, labels: dict[str, str] | None = None) -> ImageInfo | None:
        """The most recently imported image with this name and (at least) these labels."""
        for info in self.index.with_name(name):
            if all(info.labels.get(k) == v for k, v in (labels or {}).items()):
                return self._with_use(info)
        return None

    def manifest_bytes(self, image_id: str) -> bytes:
        # An image's manifest never changes (its ID hashes it): read once per command.
        data = self._manifests.get(image_id)
        if data is None:
            data = self.index.manifest_bytes(image_id)
            if data is None:
                raise RktError(f'no image with ID "{image_id}" in the store')
            self._manifests[image_id] = data
        return data

    def manifest(self, image_id: str):
        from rkt.appc.image import ImageManifest

        return ImageManifest.from_json(self.manifest_bytes(image_id))

    def mark_used(self, image_ids) -> None:
        """Record that pods now use these images (`image gc` keeps them for its grace period).

        The time is the mtime of `cas/used/<id>`, not an index write: a write is what makes
        sqlite sync its journal and, as the last connection closes, checkpoint and sync the
        database, milliseconds on every `rkt run` for a hint that may be lost to a power cut.
        """
        now = time.time_ns()
        for image_id in image_ids:
            path = self._used_path(image_id)
            try:
                os.utime(path, ns=(now, now))
            except FileNotFoundError:
                path.parent.mkdir(exist_ok=True)
                # 0o666: the umask decides, as for every store file (group rkt's store: 0o664)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
                os.close(fd)
                os.utime(path, ns=(now, now))

    # -- import -----------------------------------------------------------------------------

    def import_aci(self, src, *, verify=None, limits=None) -> str:
        """Import an ACI (a path or a binary file object, any compression); its image ID.

        One pass decompresses, hashes, copies the tar to a blob and extracts it (for an image
        without dependencies that extraction is its render). `verify(result)` runs before
        anything is committed and may raise to refuse the image. Importing an image that is
        already stored succeeds and changes nothing.
        """
        from rkt import aci

        with self._workdir("import") as work:
            tree_dir = work / "tree"
            tree_dir.mkdir()
            with contextlib.ExitStack() as stack:
                if isinstance(src, (str, os.PathLike)):
                    try:
                        src = stack.enter_context(open(src, "rb"))
                    except OSError as err:
                        raise RktError(f"{src}: {err.strerror}") from None
                blob = stack.enter_context(open(work / "blob", "wb"))
                kwargs = {"limits": limits} if limits is not None else {}
                result = aci.import_stream(src, blob=blob, dest=tree_dir, **kwargs)
                blob.flush()
                os.fsync(blob.fileno())
            manifest = result.manifest
            _kill_point("imported")
            if verify is not None:
                verify(result)
            self.dependency_tree(result.image_id, manifest)  # every dependency must be stored
            if self.index.get(result.image_id) and self.blob_path(result.image_id).exists():
                return result.image_id  # already stored: nothing to do
            # the tree store is root's (rkt's 2700 cas/tree): a member of group rkt only fetches
            keep_tree = not manifest.dependencies and os.access(self.cas / "tree", os.W_OK)
            tree_size = 0
            if keep_tree:
                if manifest.path_whitelist:
                    prune_to_whitelist(tree_dir / "rootfs", manifest.path_whitelist)
                tree_size = seal_tree(tree_dir, result.image_id)  # outside any lock: it is slow
            return self._commit(work, result, tree_dir if keep_tree else None, tree_size)

    def _commit(self, work: Path, result, tree_dir: Path | None, tree_size: int) -> str:
        image_id = result.image_id
        tree_id = layering.tree_id([layering.Layer(image_id, 0, None, None)]) if tree_dir else None
        with self._image_lock(image_id) as lock:
            lock.exclusive()
            known = self.index.get(image_id) is not None
            blob = self.blob_path(image_id)
            if known and blob.exists():
                return image_id
            # The journal lets a cleaner undo the steps below if we die before the row.
            journal = work / "commit"
            _write_journal(journal, image_id, None)
            blob.parent.mkdir(parents=True, exist_ok=True)
            os.rename(work / "blob", blob)
            fsync_dir(blob.parent)
            _kill_point("blob-placed")
            if tree_dir is not None:
                placed = self._install_tree(
                    tree_id, tree_dir, before_rename=lambda: _write_journal(journal, image_id, tree_id))
                tree_size = tree_size if placed else 0
                _kill_point("tree-placed")
            if not known:
                manifest = result.manifest
                labels = {l.name: l.value for l in manifest.labels}
                self.index.insert(image_id, manifest.name, labels, bytes(result.manifest_bytes),
                                  result.size, latest="version" not in labels, tree_size=tree_size)
                _kill_point("row-inserted")
            journal.unlink()
        return image_id

    @contextlib.contextmanager
    def checked_blob(self, image_id: str):
        """The blob, re-hashed as it is read (as appc's renderer): a damaged blob never
        makes it into a tree."""
        try:
            reader = _HashingReader(open(self.blob_path(image_id), "rb"))
        except FileNotFoundError:
            raise RktError(f"image {image_id[:39]}: its blob is missing from the store; "
                           "remove the image and fetch it again") from None
        with reader.file:
            yield reader
            while reader.read(1 << 20):
                pass
            if "sha512-" + reader.hash.hexdigest() != image_id:
                raise RktError(f"image {image_id[:39]}: its blob in the store is damaged (hash "
                               "mismatch); remove the image and fetch it again")

    # -- removal and garbage collection ----------------------------------------------------------

    def remove(self, image_id: str, keep_trees: frozenset[str] = frozenset()) -> None:
        """Remove an image: its row first (it is gone), then its blob and unused trees."""
        with self._image_lock(image_id) as lock:
            lock.exclusive()
            if not self.index.delete(image_id):
                raise RktError(f'no image with ID "{image_id}" in the store')
            self.blob_path(image_id).unlink(missing_ok=True)
            self._used_path(image_id).unlink(missing_ok=True)
        for tree_id in self.trees():
            if tree_id not in keep_trees and self.tree_image(tree_id) == image_id:
                self._remove_tree(tree_id)

    def gc_images(self, grace_seconds: float, keep: set[str] | frozenset[str],
                  keep_trees: frozenset[str] = frozenset()) -> list[str]:
        """Remove images not used within the grace period, except those in `keep`."""
        cutoff = time.time_ns() - int(grace_seconds * 1e9)
        removed = []
        for info in self.images():
            if info.id in keep or info.last_used > cutoff:
                continue
            try:
                self.remove(info.id, keep_trees=keep_trees)
            except RktError:
                continue  # removed by someone else meanwhile
            removed.append(info.id)
        return removed

    def gc_blobs(self) -> list[str]:
        """Remove blobs that have no index row (left by a killed import or removal)."""
        removed = []
        for blob in (self.cas / "blob" / "sha512").glob("??/sha512-*"):
            image_id = blob.name
            if self.index.get(image_id) is not None:
                continue
            with self._image_lock(image_id) as lock:
                if not lock.exclusive(blocking=False):
                    continue
                if self.index.get(image_id) is None:
                    blob.unlink(missing_ok=True)
                    removed.append(image_id)
        with contextlib.suppress(FileNotFoundError), os.scandir(self.cas / "used") as used:
            for entry in used:  # left by a removal killed halfway
                if self.index.get(entry.name) is None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        return removed


class _HashingReader:
    def __init__(self, file):
        import hashlib

        self.file = file
        self.hash = hashlib.sha512()

    def read(self, n: int = -1) -> bytes:
        data = self.file.read(n)
        self.hash.update(data)
        return data


def _write_journal(journal: Path, image_id: str, tree_id: str | None) -> None:
    atomic_write(journal, jsonio.dumps({"image": image_id, "tree": tree_id}))


