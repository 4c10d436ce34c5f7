#!/usr/bin/env python3
"""rkt's commands with many pods and images: `rkt list`, `rkt status`, `rkt gc` with N exited
pods and `rkt image list` with N images (rkt's users saw gc and list slow down with pod count,
rkt #3960).

    python bench/scale_bench.py [--pods N] [--images N] [--json FILE]

The pods are one real exited pod (`rkt run` of busybox /bin/true) cloned N times under new
UUIDs with `cp -al` (same files as real pods, hard-linked, so N costs no disk); the images are
N tiny distinct ACIs imported through the store. `rkt status` is timed with 1 pod and with N to
show it does not grow with the pod count. Goals (issue 10): list <= 0.5 s, gc <= 10 ms per pod,
image list <= 0.5 s, status O(1).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import busybox_store, run_once, save, timed  # noqa: E402

IMAGE = "busybox-bench"


def clone_pods(data: Path, count: int) -> list[str]:
    """`count` copies of the one exited pod in run/, as exited pods of their own."""
    run = data / "pods" / "run"
    (template,) = list(run.iterdir())
    uuids = [template.name]
    for _ in range(count - 1):
        name = str(uuid.uuid4())
        subprocess.run(["cp", "-al", str(template), str(run / name)], check=True)
        uuids.append(name)
    return uuids


def tiny_aci(i: int) -> bytes:
    """An uncompressed ACI with a manifest and an empty rootfs, distinct per `i`."""
    manifest = {"acKind": "ImageManifest", "acVersion": "0.8.11",
                "name": f"example.com/scale-{i}",
                "labels": [{"name": "version", "value": "1.0.0"}, {"name": "os", "value": "linux"},
                           {"name": "arch", "value": "amd64"}]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("manifest", json.dumps(manifest).encode()), ("rootfs", None)):
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def import_images(data: Path, count: int) -> None:
    from rkt.store import Store

    with Store(data) as store:
        for i in range(count):
            store.import_aci(io.BytesIO(tiny_aci(i)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", help="merge the results into this JSON file")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("scale_bench: needs root")
    with busybox_store("rkt-scale-", IMAGE) as (work, rkt):
        data = work / "data"
        subprocess.run([*rkt, "run", "--net=host", IMAGE], check=True, capture_output=True)
        first = next((data / "pods" / "run").iterdir()).name
        result = {"pods": args.pods, "images": args.images,
                  "host true": timed(["/bin/true"], args.runs),
                  "rkt version": timed([*rkt, "version"], args.runs),
                  "status, 1 pod": timed([*rkt, "status", first], args.runs)}
        clone_pods(data, args.pods)
        result["status, N pods"] = timed([*rkt, "status", first], args.runs)
        result["list, N pods"] = timed([*rkt, "list"], args.runs)
        wall, code = run_once([*rkt, "gc", "--grace-period=0s"], check=False, timeout=3600)
        left = len(list((data / "pods" / "exited-garbage").iterdir()))
        result["gc, N pods"] = {"wall_ms": wall, "per_pod_ms": wall / args.pods,
                                "exit": code, "left": left}
        import_images(data, args.images)
        result["image list, N images"] = timed([*rkt, "image", "list"], args.runs)
        report(result)
        save("scale", result, args.json)


def report(r: dict) -> None:
    for name, v in r.items():
        if isinstance(v, dict) and "wall_ms" in v:
            extra = f"  ({v['per_pod_ms']:.1f} ms/pod, {v['left']} left)" if "per_pod_ms" in v else ""
            print(f"{name:<24} {v['wall_ms']:8.1f} ms{extra}")
    print(f"goals (N={r['pods']} pods, {r['images']} images): list <= 500 ms, gc <= 10 ms/pod, "
          f"image list <= 500 ms, status N/1 ~ 1 -> "
          f"{r['status, N pods']['wall_ms'] / r['status, 1 pod']['wall_ms']:.2f}")


if __name__ == "__main__":
    main()
