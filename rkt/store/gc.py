"""What pods still use, read from the pod directory contract (never through rkt.pod).

A pod names its trees in `stage1TreeStoreID` and `appsinfo/<app>/treeStoreID`, and its images
in the `pod` manifest (`apps[].image.id`). Anything referenced by a pod dir in any state is in
use: `image gc` and `image rm` leave it alone until `rkt gc` removes the pod.
"""

from __future__ import annotations

import json
from pathlib import Path


def pod_references(data_dir: str | Path) -> tuple[set[str], set[str]]:
    """(tree IDs, image IDs) referenced by any pod directory under `<dir>/pods`."""
    trees: set[str] = set()
    images: set[str] = set()
    for pod in Path(data_dir, "pods").glob("*/*"):
        for ref in [pod / "stage1TreeStoreID", *pod.glob("appsinfo/*/treeStoreID")]:
            try:
                trees.add(ref.read_text().strip())
            except OSError:
                pass
        try:
            manifest = json.loads((pod / "pod").read_bytes())
            for app in manifest.get("apps") or []:
                image_id = (app.get("image") or {}).get("id")
                if isinstance(image_id, str):
                    images.add(image_id)
        except (OSError, ValueError, AttributeError, TypeError):
            pass
    trees.discard("")
    return trees, images
