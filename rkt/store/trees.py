"""The tree side of the store: dependency trees and the rendered trees under `cas/tree/`.

A tree is an image with all its dependencies applied (rkt.store.layering decides which layer
gives which file), extracted from re-hashed blobs, sealed (content hash recorded, flushed, then
marked `rendered`) and moved into place by one rename under the tree's lock. `TreeStore` is
mixed into `Store`, whose index, image locks and work dirs it uses; pods name trees by ID.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from rkt import jsonio
from rkt.errors import RktError
from rkt.fsutil import fsync_dir, sync_tree
from rkt.lock import FileLock
from rkt.record import Record
from rkt.store import layering, layout
from rkt.store.db import ImageInfo
from rkt.store.treehash import hash_tree, stat_digest

MAX_DEPENDENCY_DEPTH = 32


class Tree(Record):
    """A rendered tree: `path/rootfs` is the image's rootfs, dependencies applied."""

    id: str
    path: Path

    @property
    def rootfs(self) -> Path:
        return self.path / "rootfs"


class TreeStore:
    """Dependency resolution, rendering, verification and removal of trees (part of Store)."""

    cas: Path

    def tree_path(self, tree_id: str) -> Path:
        return layout.tree_path(self.cas.parent, tree_id)

    def _tree_lock(self, tree_id: str) -> FileLock:
        return FileLock(self.cas / "treelocks" / tree_id)

    def dependency_tree(self, image_id: str, manifest=None, _path: tuple = ()) -> layering.Node:
        """The image and its dependencies, resolved from the store (depth-first)."""
        if manifest is None:
            # The stored manifest was validated on import: an image without dependencies (the
            # common case) needs only its whitelist, read without building the manifest model.
            raw = jsonio.loads(self.manifest_bytes(image_id))
            if not raw.get("dependencies"):
                return layering.Node(image_id, tuple(raw.get("pathWhitelist") or ()), ())
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
                raise RktError(f'dependency "{what}" is not in the store; fetch it first')
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
                               "not in the store; fetch it first")
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
                    size = seal_tree(out, image_id)
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

    def tree_intact(self, tree_id: str) -> bool:
        """Whether a rendered tree is as it was sealed, by its stat digest (a stat walk, see
        rkt.store.treehash); a tree sealed before digests existed gets the full hash check,
        and its digest is recorded when it passes."""
        path = self.tree_path(tree_id)
        with self._tree_lock(tree_id) as lock:
            lock.shared()
            if not (path / "rendered").exists():
                return False
            try:
                recorded = (path / "stat").read_text().strip()
            except FileNotFoundError:
                recorded = None
            except OSError:
                return False
            if recorded is not None:
                return stat_digest(path) == recorded
            try:
                if hash_tree(path)[0] != (path / "hash").read_text().strip():
                    return False
            except OSError:
                return False
            _write_stat_digest(path)
            return True

    def render_checked(self, image_id: str) -> Tree:
        """`render`, then, as rkt before it runs a tree (unless --insecure-options=ondisk): a
        tree changed on disk since its render is rendered again."""
        from rkt import report

        tree = self.render(image_id)
        if self.tree_intact(tree.id):
            return tree
        report.warn(f"tree cache is in a bad state: {tree.id} changed on disk since it was "
                    "rendered; rebuilding it")
        return self.render(image_id, rebuild=True)

    def verify_image(self, image_id: str) -> tuple[Tree, str]:
        """Check the image's render: ("ok" | "rendered" | "repaired"); a damaged one is redone."""
        tree_id = self.tree_id(image_id)
        if not (self.tree_path(tree_id) / "rendered").exists():
            return self.render(image_id), "rendered"
        if self.verify_tree(tree_id):
            return Tree(tree_id, self.tree_path(tree_id)), "ok"
        return self.render(image_id, rebuild=True), "repaired"

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

    def gc_trees(self, keep: set[str] | frozenset[str]) -> list[str]:
        """Remove every rendered tree not in `keep`; trees being rendered right now are skipped."""
        return [t for t in self.trees() if t not in keep and self._remove_tree(t)]


def seal_tree(tree_dir: Path, image_id: str) -> int:
    """Record the tree's content hash and image, flush it all, then mark it rendered; the
    bytes of its files."""
    digest, size = hash_tree(tree_dir)
    (tree_dir / "hash").write_text(digest)
    (tree_dir / "image").write_text(image_id)
    _write_stat_digest(tree_dir)
    sync_tree(tree_dir)
    (tree_dir / "rendered").touch()
    fsync_dir(tree_dir)
    return size


def _write_stat_digest(tree_dir: Path) -> None:
    """Record the tree's stat digest (written by rename: a reader never sees half of it)."""
    tmp = tree_dir / "stat.tmp"
    tmp.write_text(stat_digest(tree_dir))
    os.rename(tmp, tree_dir / "stat")


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


def prune_to_whitelist(rootfs: Path, whitelist) -> None:
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
