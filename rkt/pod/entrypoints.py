"""Finding and running a pod's stage1 entrypoints (`gc`, `stop`, `enter`).

The stage1 image copied into the pod (`stage1/manifest`, `stage1/rootfs/`) names each entrypoint
with an annotation `coreos.com/rkt/stage1/<name>` whose value is a path inside its rootfs; stage0
runs it with the pod directory as cwd. This is the whole of the stage0 -> stage1 call contract.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from rkt.errors import RktError

ANNOTATION_PREFIX = "coreos.com/rkt/stage1/"


def entrypoint(pod_path: Path, name: str) -> Path:
    """Host path of the stage1 entrypoint `name`; RktError if the stage1 does not declare it."""
    manifest_path = pod_path / "stage1" / "manifest"
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except OSError as err:
        raise RktError(f"cannot read stage1 manifest: {err.strerror}") from None
    except ValueError:
        raise RktError("stage1 manifest is not valid JSON") from None
    annotations = manifest.get("annotations") if isinstance(manifest, dict) else None
    wanted = ANNOTATION_PREFIX + name
    value = None
    for annotation in annotations if isinstance(annotations, list) else []:
        if isinstance(annotation, dict) and annotation.get("name") == wanted:
            value = annotation.get("value")
    if not isinstance(value, str) or not value:
        raise RktError(f"stage1 has no {name!r} entrypoint (annotation {wanted})")
    relative = os.path.normpath("/" + value).lstrip("/")
    if not relative or relative.startswith(".."):
        raise RktError(f"stage1 {name!r} entrypoint {value!r} is not a path inside its rootfs")
    return pod_path / "stage1" / "rootfs" / relative


def run(pod_path: Path, name: str, args: list[str], *, debug: bool = False,
        capture: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run entrypoint `name` with `[--debug] args` and cwd = the pod dir; its stderr goes to ours."""
    path = entrypoint(pod_path, name)
    argv = [str(path)] + (["--debug"] if debug else []) + list(args)
    try:
        return subprocess.run(argv, cwd=pod_path, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE if capture else None, timeout=timeout,
                              close_fds=True)
    except subprocess.TimeoutExpired:
        raise RktError(f"stage1 {name!r} entrypoint did not finish in {timeout:g}s") from None
    except OSError as err:
        raise RktError(f"cannot run stage1 {name!r} entrypoint {path}: {err.strerror}") from None
