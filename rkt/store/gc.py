"""What pods still use, read from the pod directory contract (never through rkt.pod).

A pod names its trees in `stage1TreeStoreID` and `appsinfo/<app>/treeStoreID`, and its images
in the `pod` manifest (`apps[].image.id`). Anything referenced by a pod dir in any state is in
use: `image gc` and `image rm` leave it alone until `rkt gc` removes the pod.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rkt.errors import RktError

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """A Go duration (`24h`, `1h30m`, `90s`, `0`) in seconds."""
    value = text.strip()
    if value in ("0", "+0", "-0"):
        return 0.0
    sign = -1 if value.startswith("-") else 1
    body = value.lstrip("+-")
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if not match:
            raise RktError(f'invalid duration "{text}" (use e.g. 24h, 30m, 1h30m)')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body:
        raise RktError(f'invalid duration "{text}" (use e.g. 24h, 30m, 1h30m)')
    return sign * total


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
