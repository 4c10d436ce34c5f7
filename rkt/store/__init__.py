"""The local image store (`<dir>/cas`): see rkt.store.store for the guarantees and
rkt.store.layout for the layout. Names load on first use, so that `rkt.store.layout` stays
cheap for the pod code that only needs a tree's path."""

from __future__ import annotations

__all__ = ["ImageInfo", "Store", "Tree", "parse_image_string"]


def __getattr__(name: str):
    if name == "ImageInfo":
        from rkt.store.db import ImageInfo

        return ImageInfo
    if name == "Tree":
        from rkt.store.trees import Tree

        return Tree
    if name in ("Store", "parse_image_string"):
        from rkt.store import store

        return getattr(store, name)
    raise AttributeError(f"module 'rkt.store' has no attribute {name!r}")
