"""Where the image store keeps things under `<dir>/cas`: the one place that spells the layout.

    cas/blob/sha512/<2 hex>/<image id>   the uncompressed ACI, exactly as imported
    cas/db/index.sqlite                  the index (rkt.store.db); an image exists iff its row does
    cas/tree/<tree id>/                  rendered trees: rootfs/, manifest, hash, image, rendered
    cas/tmp/<kind>-<random>/             work in progress, flock-ed by its owner while alive
    cas/imagelocks/, cas/treelocks/      per-image and per-tree flock files
    cas/used/<image id>                  empty; its mtime is the image's last use (rkt.store.store)

Pod code finds a tree's rootfs here (`tree_path`) without opening the store: mounting a pod's
overlays before stage1 (and `rkt export`) needs neither sqlite nor the store's tmp cleanup.
"""

from __future__ import annotations

import os
from pathlib import Path

# Made by every store open; cas/used by the first `rkt run` (Store.mark_used) instead, so that a
# store made before it existed still opens for group rkt members, who cannot create it.
SUBDIRS = ("blob", "db", "tree", "tmp", "imagelocks", "treelocks")


def cas_dir(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / "cas"


def blob_path(data_dir: str | os.PathLike, image_id: str) -> Path:
    return cas_dir(data_dir) / "blob" / "sha512" / image_id[7:9] / image_id


def tree_path(data_dir: str | os.PathLike, tree_id: str) -> Path:
    """The directory of a rendered tree (its `rootfs/` is what an app's overlay lies over)."""
    return cas_dir(data_dir) / "tree" / tree_id
