#!/usr/bin/env python3
"""ACI import throughput: our one-pass import (decompress + sha512 + layout check + extract)
with the gpg signature check running concurrently, against `gpg --verify` + `tar -x` of the
same file, measured in the same run (shared/reference/peer-baselines.md §2-3 has the method).

    python bench/import_bench.py [--runs N] [--tmpfs]

With --tmpfs the extractions go to a tmpfs mounted for the run (CPU-bound, no disk noise).

The image is built from copies of /usr/lib/python3*, /usr/share/{package-lists,vim,i18n}
(~7.7k entries, ~250 MB), gzip and plain, signed with a throwaway ed25519 key. Everything lives
in a temporary directory under /tmp, removed at the end. Goal (issue "Images"): our import
<= 1.1x the peer sum. Prints medians and ratios; not a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
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

from rkt.aci import build_aci, import_stream  # noqa: E402
from tests.helpers.aci import manifest  # noqa: E402
from tests.helpers.gpg import GpgKey  # noqa: E402

SOURCES = ["/usr/lib/python3.11", "/usr/lib/python3", "/usr/share/package-lists",
           "/usr/share/vim", "/usr/share/i18n"]


def make_layout(root: Path) -> Path:
    layout = root / "layout"
    rootfs = layout / "rootfs"
    rootfs.mkdir(parents=True)
    (layout / "manifest").write_text(json.dumps(manifest("example.com/import-bench")))
    for src in SOURCES:
        if os.path.isdir(src):
            dst = rootfs / src.strip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-a", src, str(dst)], check=True)
    return layout


def fresh_dir(root: Path, tag: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"x-{tag}-", dir=root))


def gpg_verify_cmd(key: GpgKey, aci: Path) -> list[str]:
    return ["gpg", "--batch", "--homedir", str(key.home), "--verify", f"{aci}.asc", str(aci)]


def peer(key: GpgKey, aci: Path, dest: Path, compressed: bool) -> tuple[float, float]:
    """(gpg --verify ms, tar -x ms), each a separate process, as a shell would run them."""
    start = time.perf_counter()
    subprocess.run(gpg_verify_cmd(key, aci), check=True, capture_output=True)
    gpg_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    subprocess.run(["tar", "-xzf" if compressed else "-xf", str(aci), "-C", str(dest)],
                   check=True)
    return gpg_ms, (time.perf_counter() - start) * 1000


def ours(key: GpgKey, aci: Path, dest: Path, blob: Path | None) -> float:
    """import_stream into `dest` while gpg checks the signature on the other core."""
    start = time.perf_counter()
    gpg = subprocess.Popen(gpg_verify_cmd(key, aci), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    with open(aci, "rb") as src:
        if blob is None:
            import_stream(src, dest=dest)
        else:
            with open(blob, "wb") as out:
                import_stream(src, dest=dest, blob=out)
    if gpg.wait() != 0:
        raise SystemExit("gpg --verify failed")
    return (time.perf_counter() - start) * 1000


def count_entries(layout: Path) -> int:
    return sum(1 + len(dirs) + len(files) for _, dirs, files in os.walk(layout / "rootfs")) + 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tmpfs", action="store_true", help="extract into a tmpfs")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rkt-import-bench-", dir="/tmp"))
    key = None
    scratch = root / "scratch"
    scratch.mkdir()
    if args.tmpfs:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4g", "tmpfs", str(scratch)],
                       check=True)
    try:
        layout = make_layout(root)
        images = {"gzip": root / "img.aci", "none": root / "img-plain.aci"}
        for compression, path in images.items():
            build_aci(layout, path, compression)
        tar_size = images["none"].stat().st_size
        print(f"image: {count_entries(layout)} entries, {tar_size / 1e6:.1f} MB tar, "
              f"{images['gzip'].stat().st_size / 1e6:.1f} MB gzip")
        shutil.rmtree(layout)
        key = GpgKey(root / "gnupg", "Import Bench <bench@example.com>")
        for path in images.values():
            key.sign(path)
        print(f"{'image':<6} {'gpg':>7} {'tar -x':>7} {'peer sum':>9} {'ours':>7} "
              f"{'ours+blob':>9} {'ratio':>6} {'MB/s':>6}")
        for compression, aci in images.items():
            rows = {"gpg": [], "tar": [], "sum": [], "ours": [], "blob": []}
            for i in range(args.runs + 1):  # the first round warms the page cache
                dirs = [fresh_dir(scratch, t) for t in ("peer", "ours", "blob")]
                gpg_ms, tar_ms = peer(key, aci, dirs[0], compression == "gzip")
                ours_ms = ours(key, aci, dirs[1], None)
                blob_ms = ours(key, aci, dirs[2], scratch / "blob")
                for d in dirs:
                    shutil.rmtree(d)
                (scratch / "blob").unlink()
                subprocess.run(["sync"])
                if i == 0:
                    continue
                for name, value in (("gpg", gpg_ms), ("tar", tar_ms), ("sum", gpg_ms + tar_ms),
                                    ("ours", ours_ms), ("blob", blob_ms)):
                    rows[name].append(value)
            med = {k: statistics.median(v) for k, v in rows.items()}
            print(f"{compression:<6} {med['gpg']:>7.0f} {med['tar']:>7.0f} {med['sum']:>9.0f} "
                  f"{med['ours']:>7.0f} {med['blob']:>9.0f} {med['ours'] / med['sum']:>6.2f} "
                  f"{tar_size / 1e3 / med['ours']:>6.0f}")
        print(f"ratio = ours / (gpg --verify + tar -x), medians in ms, extracting to "
              f"{'tmpfs' if args.tmpfs else 'disk (/tmp)'}; goal <= 1.10")
    finally:
        if key is not None:
            key.close()
        if args.tmpfs:
            subprocess.run(["umount", str(scratch)])
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
