#!/usr/bin/env python3
"""What `rkt run` pays to check a rendered tree before using it (rkt's tree store check), on
a ~200 MB tree: our stat digest (rkt.store.treehash.stat_digest, what `rkt run` checks),
the full content hash (`hash_tree`, what rkt's Check computed and `rkt image verify` runs),
and `tar -c | sha512sum` of the same tree as the peer baseline, in the same run.

    python bench/tree_check_bench.py [--runs N] [--mb 200]

The tree is copied from /usr/lib/python3.11, /usr/share/{vim,i18n} and /usr/lib/x86_64-linux-gnu
(many small files and some large ones, like a distribution image) into a temporary directory
under /var/tmp, removed at the end. Page cache warm (a first pass reads everything). Prints
medians and ratios; not a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rkt.store.treehash import hash_tree, stat_digest  # noqa: E402

SOURCES = ["/usr/lib/python3.11", "/usr/share/vim", "/usr/share/i18n", "/usr/lib/x86_64-linux-gnu"]


def make_tree(root: Path, limit: int) -> tuple[int, int]:
    """Copy files from SOURCES under root/rootfs until `limit` bytes; (files, bytes)."""
    rootfs = root / "rootfs"
    count = total = 0
    for source in SOURCES:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            rel = os.path.relpath(dirpath, "/")
            os.makedirs(rootfs / rel, exist_ok=True)
            for name in sorted(filenames):
                src = os.path.join(dirpath, name)
                if os.path.islink(src) or not os.path.isfile(src):
                    continue
                try:
                    shutil.copyfile(src, rootfs / rel / name)
                except OSError:
                    continue
                count += 1
                total += os.path.getsize(src)
                if total >= limit:
                    return count, total
    return count, total


def timed(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rkt-tree-bench-", dir="/var/tmp"))
    try:
        files, size = make_tree(work, args.mb << 20)
        tar_sha = lambda: subprocess.run(  # noqa: E731
            f"tar -C {work} -cf - . | sha512sum", shell=True, check=True, capture_output=True)
        tar_sha()  # warm the page cache
        stat_s = timed(lambda: stat_digest(work), args.runs)
        full_s = timed(lambda: hash_tree(work), args.runs)
        tar_s = timed(tar_sha, args.runs)
        print(f"tree: {files} files, {size / 2**20:.0f} MiB; median of {args.runs} runs, warm cache")
        print(f"{'check':<34}{'seconds':>10}{'vs tar|sha512sum':>18}")
        for name, secs in (("stat digest (rkt run's check)", stat_s),
                           ("full content hash (image verify)", full_s),
                           ("tar -c | sha512sum (peer)", tar_s)):
            print(f"{name:<34}{secs:>10.3f}{secs / tar_s:>17.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
