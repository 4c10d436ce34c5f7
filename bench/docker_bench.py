#!/usr/bin/env python3
"""`docker://` fetch throughput: our fetch (download + verify + squash + store import) of a
~100 MB three-layer image from a local registry, against `skopeo copy` of it to an OCI
layout + `umoci unpack`, in the same run.

    python bench/docker_bench.py [--runs N]

The image is built with umoci from copies of /usr/lib/python3.11, /usr/share/vim and
/usr/share/i18n (one layer each), pushed with skopeo to Debian's docker-registry on a free
loopback port. Every run starts from an empty store / empty layout (no layer cache).
Goal (issue 8): ours <= 1.0x the peer sum. Prints medians and the ratio; not a pass/fail test.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from benchlib import run_once  # noqa: E402
from tests.helpers.docker import Registry, run  # noqa: E402

LAYERS = ["/usr/lib/python3.11", "/usr/share/vim", "/usr/share/i18n"]


def build_image(root: Path) -> Path:
    layout, bundle = root / "layout", root / "bundle"
    run("umoci", "init", "--layout", layout)
    run("umoci", "new", "--image", f"{layout}:t1")
    for src in LAYERS:
        shutil.rmtree(bundle, ignore_errors=True)
        run("umoci", "unpack", "--image", f"{layout}:t1", bundle)
        dst = bundle / "rootfs" / src.strip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-a", src, str(dst)], check=True)
        run("umoci", "repack", "--image", f"{layout}:t1", bundle, timeout=600)
    run("umoci", "config", "--image", f"{layout}:t1", "--config.cmd", "/bin/true")
    shutil.rmtree(bundle)
    return layout


def timed(cmd: list[str]) -> float:
    """Wall seconds of one run."""
    return run_once(cmd, timeout=900)[0] / 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="docker-bench-"))
    reg = None
    try:
        layout = build_image(root)
        reg = Registry(root / "registry", root / "storage")
        reg.push(f"oci:{layout}:t1", "bench/app:t1", "v2s2")
        ref = f"docker://{reg.host}/bench/app:t1"
        size = sum(f.stat().st_size for f in (root / "storage").rglob("data"))
        print(f"image: {len(LAYERS)} layers, {size / 1e6:.0f} MB compressed in the registry")
        ours, skopeo, umoci = [], [], []
        for i in range(args.runs):
            store = root / f"store{i}"
            ours.append(timed([sys.executable, "-m", "rkt", f"--dir={store}",
                               "--insecure-options=http,image", "fetch", ref]))
            shutil.rmtree(store)
            oci = root / f"oci{i}"
            skopeo.append(timed(["skopeo", "copy", "--src-tls-verify=false", ref,
                                 f"oci:{oci}:t1"]))
            umoci.append(timed(["umoci", "unpack", "--image", f"{oci}:t1", str(root / f"b{i}")]))
            shutil.rmtree(oci)
            shutil.rmtree(root / f"b{i}")
        o, s, u = (statistics.median(x) for x in (ours, skopeo, umoci))
        print(f"{'rkt fetch docker:// (download+verify+squash+store)':55} {o:7.2f} s")
        print(f"{'skopeo copy -> OCI layout':55} {s:7.2f} s")
        print(f"{'umoci unpack':55} {u:7.2f} s")
        print(f"{'ratio ours / (skopeo + umoci)':55} {o / (s + u):7.2f}x  (goal <= 1.0x)")
    finally:
        if reg is not None:
            reg.close()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
