"""Layering an image over its dependencies: which layer provides which file of the rootfs.

This is the pure part of rendering (appc spec/ace.md "Filesystem Setup", pkg/acirenderer).
The dependency tree is flattened upper-first, depth-first (`A->[B,C], C->[D]` gives A, C, D, B);
walking that list, the first layer to offer a path wins. A layer's non-directories must be in
its own pathWhitelist; a dependency additionally gets only the whitelist of the top-most
ancestor on its branch that has one (applied to directories too); and a path is dropped when an
upper layer already put a non-directory at one of its parents. Extracting the chosen files in
reverse order (lowest layer first) then gives the rendered rootfs.
"""

from __future__ import annotations

import posixpath

from rkt.record import Record
from rkt.store.treehash import sha512

TYPE_CHECKING = False  # typing's own constant, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Callable, Iterable

class Node(Record):
    """An image in a dependency tree: its ID, own pathWhitelist and resolved dependencies."""

    image_id: str
    whitelist: tuple[str, ...] = ()
    deps: tuple["Node", ...] = ()


class Layer(Record):
    image_id: str
    level: int
    whitelist: frozenset[str] | None          # the layer's own whitelist (None: keep all)
    ancestor_whitelist: frozenset[str] | None  # the top-most ancestor's whitelist on its branch


def normalize_whitelist(paths: Iterable[str]) -> frozenset[str] | None:
    """Whitelist entries as rootfs-absolute clean paths (`/c/` -> `/c`); empty means no list."""
    cleaned = frozenset(posixpath.normpath("/" + p.lstrip("/")) for p in paths)
    return cleaned or None


def flatten(root: Node) -> list[Layer]:
    """The dependency tree as a list, upper image first; a shared dependency appears once per
    branch, each time with that branch's whitelist."""
    layers: list[Layer] = []

    def visit(node: Node, level: int, inherited: frozenset[str] | None) -> None:
        own = normalize_whitelist(node.whitelist)
        layers.append(Layer(node.image_id, level, own, inherited))
        below = inherited if inherited is not None else own
        for dep in reversed(node.deps):
            visit(dep, level + 1, below)

    visit(root, 0, None)
    return layers


def tree_id(layers: list[Layer]) -> str:
    """The tree store ID: a hash of the flattened list of image IDs (rkt treestore GetID)."""
    digest = sha512(",".join(l.image_id for l in layers).encode()).hexdigest()
    return "deps-sha512-" + digest[:64]


def choose_files(layers: list[Layer],
                 members: Callable[[Layer], Iterable[tuple[str, bool]]]) -> list[set[str]]:
    """For each layer, the rootfs paths (`/a/b`) it provides to the rendered tree.

    `members(layer)` yields `(path, is_dir)` for every rootfs entry of that layer's image,
    paths rootfs-absolute (`/` is the rootfs directory itself).
    """
    provided: dict[str, bool] = {}  # path -> is a directory, for paths already chosen
    chosen: list[set[str]] = []
    for layer in layers:
        mine: set[str] = set()
        for path, is_dir in members(layer):
            if path == "/":
                mine.add(path)
                continue
            if not is_dir and layer.whitelist is not None and path not in layer.whitelist:
                continue
            if layer.ancestor_whitelist is not None and path not in layer.ancestor_whitelist:
                continue
            if path in provided or _under_non_directory(path, provided):
                continue
            mine.add(path)
            provided[path] = is_dir
        chosen.append(mine)
    return chosen


def _under_non_directory(path: str, provided: dict[str, bool]) -> bool:
    parent = posixpath.dirname(path)
    while parent not in ("/", ""):
        if provided.get(parent) is False:
            return True
        parent = posixpath.dirname(parent)
    return False
