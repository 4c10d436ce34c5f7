"""The content-addressed image store under `<dir>/cas`: blobs, the index, and rendered trees.

    cas/blob/sha512/<2 hex>/<image id>   the uncompressed ACI, exactly as imported
    cas/db/index.sqlite                  the index (rkt.store.db); an image exists iff its row does
    cas/tree/<tree id>/                  rendered trees: rootfs/, manifest, hash, image, rendered
    cas/tmp/<kind>-<random>/             work in progress, flock-ed by its owner while alive
    cas/imagelocks/, cas/treelocks/      per-image and per-tree flock files

Everything becomes visible by an atomic step taken last: a blob or tree by `rename(2)` after
fsync, an image by its index row. A tmp dir records what its owner was about to commit, so
when the owner is killed the next command (finding the dir unlocked) can undo exactly that.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from rkt.errors import RktError
from rkt.fsutil import atomic_write, fsync_dir, sync_tree
from rkt.lock import FileLock
from rkt.store import layering
from rkt.store.db import ImageInfo, Index
from rkt.store.treehash import hash_tree

_HEX = re.compile(r"^[0-9a-f]+$")
MAX_DEPENDENCY_DEPTH = 32
STALE_STAGING_SECONDS = 5
# Interrupted downloads (rkt.fetch.remote) wait here to be resumed; they own their cleanup.
KEEP_IN_TMP = "partial"
# Test seam: the crash tests name a commit step here to have the process SIGKILL itself there.
_KILL_AT = os.environ.get("RKT_TEST_KILL_AT", "")


def _kill_point(step: str) -> None:
    if _KILL_AT == step:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


@dataclasses.dataclass(frozen=True)
class Tree:
    id: str
    path: Path

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"


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


class Store:
    def __init__(self, data_dir: str | os.PathLike):
        self.data_dir = Path(data_dir)
        self.cas = self.data_dir / "cas"
        try:
            for sub in ("blob", "db", "tree", "tmp", "imagelocks", "treelocks"):
                (self.cas / sub).mkdir(parents=True, exist_ok=True)
            self.index = Index(self.cas / "db")
            self.clean_tmp()
        except OSError as err:
            raise RktError(f"cannot open the image store in {self.cas}: "
                           f"{err.strerror or err}") from None

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- paths and locks ---------------------------------------------------------------------

    def blob_path(self, image_id: str) -> Path:
        return self.cas / "blob" / "sha512" / image_id[7:9] / image_id

    def tree_path(self, tree_id: str) -> Path:
        return self.cas / "tree" / tree_id

    def _image_lock(self, image_id: str) -> FileLock:
        return FileLock(self.cas / "imagelocks" / image_id)

    def _tree_lock(self, tree_id: str) -> FileLock:
        return FileLock(self.cas / "treelocks" / tree_id)

    @contextlib.contextmanager
    def _workdir(self, kind: str):
        """A private dir in cas/tmp, locked before it gets a name the cleaner looks at."""
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
            record = json.loads(journal.read_text())
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

    def images(self) -> list[ImageInfo]:
        return self.index.all()

    def get(self, image_id: str) -> ImageInfo | None:
        return self.index.get(image_id)

    def resolve(self, ref: str) -> ImageInfo:
        """An image by full ID, unique ID prefix, or `name[:version][,label=value]`."""
        if ref.startswith("sha512-"):
            digest = ref[7:]
            if not digest or len(digest) > 128 or not _HEX.match(digest):
                raise RktError(f'image ID "{ref}": not an image ID or ID prefix '
                               "(sha512- followed by lowercase hex)")
            matches = self.index.with_prefix(ref)
            if not matches:
                raise RktError(f'no image with ID "{ref}" in the store')
            if len(matches) > 1:
                raise RktError(f'image ID prefix "{ref}" is ambiguous: {len(matches)} images match')
            return matches[0]
        name, labels = parse_image_string(ref)
        found = self.find(name, labels)
        if found is None:
            raise RktError(f'no image named "{ref}" in the store')
        return found

    def find(self, name: str, labels: dict[str, str] | None = None) -> ImageInfo | None:
        """The most recently imported image with this name and (at least) these labels."""
        for info in self.index.with_name(name):
            if all(info.labels.get(k) == v for k, v in (labels or {}).items()):
                return info
        return None

    def manifest_bytes(self, image_id: str) -> bytes:
        data = self.index.manifest_bytes(image_id)
        if data is None:
            raise RktError(f'no image with ID "{image_id}" in the store')
        return data

    def manifest(self, image_id: str):
        from rkt.appc.image import ImageManifest

        return ImageManifest.from_json(self.manifest_bytes(image_id))

    def mark_used(self, image_id: str) -> None:
        self.index.mark_used(image_id)

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
            keep_tree = not manifest.dependencies
            tree_size = 0
            if keep_tree:
                if manifest.path_whitelist:
                    _prune_to_whitelist(tree_dir / "rootfs", manifest.path_whitelist)
                tree_size = _seal(tree_dir, result.image_id)  # outside any lock: it is slow
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

    def _install_tree(self, tree_id: str, tree_dir: Path, before_rename) -> bool:
        """Move a sealed tree into cas/tree, unless that tree is already there."""
        with self._tree_lock(tree_id) as lock:
            lock.exclusive()
            final = self.tree_path(tree_id)
            if (final / "rendered").exists():
                return False
            if final.exists():  # a partial tree from an older crash
                self._remove_tree(tree_id, blocking=True, locked=True)
            # Only a tree we place ourselves is ours to undo (an existing one may serve a pod).
            before_rename()
            os.rename(tree_dir, final)
            fsync_dir(final.parent)
            return True

    # -- dependencies and rendering ------------------------------------------------------------

    def dependency_tree(self, image_id: str, manifest=None, _path: tuple = ()) -> layering.Node:
        """The image and its dependencies, resolved from the store (depth-first)."""
        if manifest is None:
            manifest = self.manifest(image_id)
        if len(_path) > MAX_DEPENDENCY_DEPTH:
            raise RktError(f"dependencies of {image_id[:39]} nest deeper than {MAX_DEPENDENCY_DEPTH}")
        deps = []
        for dep in manifest.dependencies:
            info = self._resolve_dependency(dep)
            if info.id in _path or info.id == image_id:
                raise RktError(f'dependency "{dep.image_name}" forms a cycle')
            deps.append(self.dependency_tree(info.id, None, _path + (image_id,)))
        return layering.Node(image_id, tuple(manifest.path_whitelist), tuple(deps))

    def _resolve_dependency(self, dep) -> ImageInfo:
        labels = {l.name: l.value for l in dep.labels}
        what = dep.image_name + (f" ({dep.image_id})" if dep.image_id else "")
        if dep.image_id:
            info = self.index.get(dep.image_id)
            if info is None:
                raise RktError(f'dependency "{what}" is not in the store (fetching dependencies '
                               "remotely is not supported yet; fetch it first)")
            if info.name != dep.image_name:
                raise RktError(f'dependency "{what}": the stored image with that ID is named '
                               f'"{info.name}"')
            if any(info.labels.get(k) != v for k, v in labels.items()):
                raise RktError(f'dependency "{what}": the stored image does not have labels {labels}')
        else:
            info = self.find(dep.image_name, labels)
            if info is None:
                wanted = ",".join(f"{k}={v}" for k, v in labels.items())
                raise RktError(f'dependency "{dep.image_name}{"," + wanted if wanted else ""}" is '
                               "not in the store (fetching dependencies remotely is not supported "
                               "yet; fetch it first)")
        if dep.size and info.size > dep.size:
            raise RktError(f'dependency "{what}": image is {info.size} bytes, more than its '
                           f"declared size {dep.size}")
        return info

    def tree_id(self, image_id: str) -> str:
        return layering.tree_id(layering.flatten(self.dependency_tree(image_id)))

    def render(self, image_id: str, *, rebuild: bool = False) -> Tree:
        """The image's rendered tree (all dependencies applied), rendering it if needed."""
        layers = layering.flatten(self.dependency_tree(image_id))
        tree_id = layering.tree_id(layers)
        path = self.tree_path(tree_id)
        if (path / "rendered").exists() and not rebuild:
            return Tree(tree_id, path)  # trees appear and vanish by rename: no lock needed
        with self._tree_lock(tree_id) as lock:
            lock.exclusive()
            if (path / "rendered").exists() and not rebuild:
                return Tree(tree_id, path)
            with contextlib.ExitStack() as held:
                for layer_id in sorted({l.image_id for l in layers}):
                    image_lock = held.enter_context(self._image_lock(layer_id))
                    image_lock.shared()
                    if self.index.get(layer_id) is None:
                        raise RktError(f"image {layer_id[:39]} was removed while rendering")
                with self._workdir("render") as work:
                    out = work / "tree"
                    out.mkdir()
                    self._render_layers(layers, out)
                    size = _seal(out, image_id)
                    if path.exists():  # a damaged or partial render being replaced
                        self._remove_tree(tree_id, blocking=True, locked=True)
                    os.rename(out, path)
                    fsync_dir(path.parent)
            self.index.set_tree_size(image_id, size)
        return Tree(tree_id, path)

    def _render_layers(self, layers: list[layering.Layer], out: Path) -> None:
        from rkt import aci

        rootfs = out / "rootfs"
        top = layers[0]
        if len(layers) == 1 and top.whitelist is None:
            with self.checked_blob(top.image_id) as blob:
                aci.extract(blob, out)
        else:
            chosen = layering.choose_files(layers, lambda l: _members(self.blob_path(l.image_id)))
            rootfs.mkdir()
            for layer, files in reversed(list(zip(layers, chosen))):
                with self.checked_blob(layer.image_id) as blob:
                    aci.extract(blob, rootfs, rootfs_only=True, member_filter=files.__contains__,
                                replace=True)
        (out / "manifest").write_bytes(self.manifest_bytes(top.image_id))

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

    def verify_tree(self, tree_id: str) -> bool:
        """Whether a rendered tree still matches the hash recorded when it was rendered."""
        path = self.tree_path(tree_id)
        with self._tree_lock(tree_id) as lock:
            lock.shared()
            try:
                recorded = (path / "hash").read_text().strip()
            except OSError:
                return False
            if not (path / "rendered").exists():
                return False
            return hash_tree(path)[0] == recorded

    def verify_image(self, image_id: str) -> tuple[Tree, str]:
        """Check the image's render: ("ok" | "rendered" | "repaired"); a damaged one is redone."""
        tree_id = self.tree_id(image_id)
        if not (self.tree_path(tree_id) / "rendered").exists():
            return self.render(image_id), "rendered"
        if self.verify_tree(tree_id):
            return Tree(tree_id, self.tree_path(tree_id)), "ok"
        return self.render(image_id, rebuild=True), "repaired"

    # -- removal and garbage collection ----------------------------------------------------------

    def _remove_tree(self, tree_id: str, *, blocking: bool = False, locked: bool = False) -> bool:
        """Make the tree vanish atomically (rename into a work dir), then delete it."""
        path = self.tree_path(tree_id)
        with contextlib.ExitStack() as held:
            if not locked:
                lock = held.enter_context(self._tree_lock(tree_id))
                if not lock.exclusive(blocking=blocking):
                    return False
            if not path.exists():
                return False
            with self._workdir("remove") as work:
                os.rename(path, work / "tree")
                fsync_dir(path.parent)
        return True

    def trees(self) -> list[str]:
        return sorted(e.name for e in os.scandir(self.cas / "tree")
                      if e.is_dir(follow_symlinks=False) and e.name.startswith("deps-"))

    def tree_image(self, tree_id: str) -> str | None:
        try:
            return (self.tree_path(tree_id) / "image").read_text().strip()
        except OSError:
            return None

    def remove(self, image_id: str, keep_trees: frozenset[str] = frozenset()) -> None:
        """Remove an image: its row first (it is gone), then its blob and unused trees."""
        with self._image_lock(image_id) as lock:
            lock.exclusive()
            if not self.index.delete(image_id):
                raise RktError(f'no image with ID "{image_id}" in the store')
            self.blob_path(image_id).unlink(missing_ok=True)
        for tree_id in self.trees():
            if tree_id not in keep_trees and self.tree_image(tree_id) == image_id:
                self._remove_tree(tree_id)

    def gc_trees(self, keep: set[str] | frozenset[str]) -> list[str]:
        """Remove every rendered tree not in `keep`; trees being rendered right now are skipped."""
        return [t for t in self.trees() if t not in keep and self._remove_tree(t)]

    def gc_images(self, grace_seconds: float, keep: set[str] | frozenset[str],
                  keep_trees: frozenset[str] = frozenset()) -> list[str]:
        """Remove images not used within the grace period, except those in `keep`."""
        cutoff = time.time_ns() - int(grace_seconds * 1e9)
        removed = []
        for info in self.index.all():
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
        return removed


def _seal(tree_dir: Path, image_id: str) -> int:
    """Record the tree's content hash and image, flush it all, then mark it rendered; the
    bytes of its files."""
    digest, size = hash_tree(tree_dir)
    (tree_dir / "hash").write_text(digest)
    (tree_dir / "image").write_text(image_id)
    sync_tree(tree_dir)
    (tree_dir / "rendered").touch()
    fsync_dir(tree_dir)
    return size


class _HashingReader:
    def __init__(self, file):
        self.file = file
        self.hash = hashlib.sha512()

    def read(self, n: int = -1) -> bytes:
        data = self.file.read(n)
        self.hash.update(data)
        return data


def _write_journal(journal: Path, image_id: str, tree_id: str | None) -> None:
    atomic_write(journal, json.dumps({"image": image_id, "tree": tree_id}))


def _members(blob: Path):
    """(rootfs-absolute path, is a directory) for each rootfs entry of a stored (plain) tar."""
    import tarfile

    try:
        with tarfile.open(blob, "r:") as tf:
            for member in tf:
                name = member.name.strip("/")
                if name == "rootfs":
                    yield "/", True
                elif name.startswith("rootfs/"):
                    yield os.path.normpath("/" + name[len("rootfs/"):]), member.isdir()
    except (OSError, tarfile.TarError) as err:
        raise RktError(f"blob {blob.name[:39]}: {err}") from None


def _prune_to_whitelist(rootfs: Path, whitelist) -> None:
    """Drop non-directories not named in the image's own pathWhitelist (directories stay)."""
    keep = layering.normalize_whitelist(whitelist)
    if keep is None:
        return
    for dirpath, dirnames, filenames in os.walk(rootfs):
        rel = os.path.relpath(dirpath, rootfs)
        rel_dir = "/" if rel == "." else "/" + rel
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel not in keep:
                os.unlink(os.path.join(dirpath, name))
