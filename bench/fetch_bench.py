#!/usr/bin/env python3
"""Remote fetch throughput: `rkt fetch NAME` over HTTPS on loopback (discovery, signature
first, one streaming pass of download + gpg + import into the store) against `curl` +
`gpg --verify` + `tar -x` of the same file from the same server, measured in the same run.

    python bench/fetch_bench.py [--mb 400] [--runs 3] [--compression gzip|none]

The server is tests/helpers/https.py on 127.0.0.1:443 with a CA made for the run; the image
is `--mb` MB of files (half random, half text: about 200 MB gzipped by default), signed with
a throwaway ed25519 key. A `local` column times `rkt fetch FILE` of the same ACI from disk,
which separates the network's cost from the import's.
Everything lives in a temporary directory under /tmp, removed at the end. Goal (issue 12):
ours <= 1.1x the peer sum. Prints medians and the ratio; not a pass/fail test. Needs root.
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from benchlib import run_once  # noqa: E402
from rkt.aci import build_aci  # noqa: E402
from tests.fetch.util import discovery_page, image_path, page_route  # noqa: E402
from tests.helpers.aci import manifest  # noqa: E402
from tests.helpers.gpg import GpgKey  # noqa: E402
from tests.helpers.https import HttpsServer, TestCA, serve_bytes  # noqa: E402

NAME = "localhost/fetch-bench"


def make_image(root: Path, mb: int, compression: str) -> Path:
    layout = root / "layout"
    rootfs = layout / "rootfs" / "data"
    rootfs.mkdir(parents=True)
    (layout / "manifest").write_text(json.dumps(manifest(NAME, "1.0")))
    text = (b"the quick brown fox jumps over the lazy dog %d\n" * 20000)[: 1 << 20]
    for i in range(mb):
        (rootfs / f"f{i:04d}").write_bytes(os.urandom(1 << 20) if i % 2 else text)
    aci = root / "bench.aci"
    build_aci(layout, aci, compression)
    shutil.rmtree(layout)
    return aci


def timed(cmd: list[str], env: dict) -> float:
    """Wall milliseconds of one run."""
    return run_once(cmd, env=env, timeout=900)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=400, help="uncompressed MB of files")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--compression", default="gzip", choices=("gzip", "none"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("fetch_bench: needs root (the server binds 127.0.0.1:443)")
    root = Path(tempfile.mkdtemp(prefix="rkt-fetch-bench-", dir="/tmp"))
    key = server = None
    try:
        aci = make_image(root, args.mb, args.compression)
        key = GpgKey(root / "gnupg", "Fetch Bench <bench@example.com>")
        asc = key.sign(aci)
        ca = TestCA(root / "ca")
        env = ca.env()
        server = HttpsServer(ca)
        aci_route, asc_route = image_path(NAME, "1.0"), image_path(NAME, "1.0", ext="aci.asc")
        server.routes[aci_route] = serve_bytes(aci.read_bytes())
        server.routes[asc_route] = serve_bytes(asc.read_bytes())
        server.routes[page_route(NAME)] = serve_bytes(discovery_page(NAME))
        config = root / "etc"
        trusted = config / "trustedkeys" / "prefix.d" / NAME / key.fingerprint.lower()
        trusted.parent.mkdir(parents=True)
        key.export(trusted)
        size = aci.stat().st_size
        print(f"image: {size / 1e6:.1f} MB ({args.compression}), {args.runs} runs after a warm-up")
        rows: dict[str, list[float]] = {"curl": [], "gpg": [], "tar": [], "sum": [], "ours": [],
                                        "local": []}
        for i in range(args.runs + 1):
            work = Path(tempfile.mkdtemp(dir=root))
            (work / "x").mkdir()
            got = work / "got.aci"
            curl = timed(["curl", "-sSf", "-o", str(got), server.url(aci_route)], env) + \
                timed(["curl", "-sSf", "-o", f"{got}.asc", server.url(asc_route)], env)
            gpg = timed(["gpg", "--batch", "--homedir", str(key.home), "--verify", f"{got}.asc",
                         str(got)], env)
            tar = timed(["tar", "-xzf" if args.compression == "gzip" else "-xf", str(got), "-C",
                         str(work / "x")], env)
            ours = timed([sys.executable, "-m", "rkt", f"--dir={work / 'rkt'}",
                          f"--local-config={config}", f"--system-config={root / 'none'}",
                          "fetch", f"{NAME}:1.0"], env)
            shutil.rmtree(work / "rkt")
            local = timed([sys.executable, "-m", "rkt", f"--dir={work / 'rkt'}",
                           f"--local-config={config}", f"--system-config={root / 'none'}",
                           "fetch", str(aci)], env)
            shutil.rmtree(work)
            subprocess.run(["sync"])
            if i == 0:
                continue
            for name, value in (("curl", curl), ("gpg", gpg), ("tar", tar),
                                ("sum", curl + gpg + tar), ("ours", ours), ("local", local)):
                rows[name].append(value)
        med = {k: statistics.median(v) for k, v in rows.items()}
        print(f"{'curl':>7} {'gpg':>7} {'tar -x':>7} {'peer sum':>9} {'ours':>7} {'ratio':>6} "
              f"{'MB/s':>6} {'local':>7}")
        print(f"{med['curl']:>7.0f} {med['gpg']:>7.0f} {med['tar']:>7.0f} {med['sum']:>9.0f} "
              f"{med['ours']:>7.0f} {med['ours'] / med['sum']:>6.2f} {size / 1e3 / med['ours']:>6.0f} "
              f"{med['local']:>7.0f}")
        print("ratio = rkt fetch / (curl + gpg --verify + tar -x), medians in ms; goal <= 1.10")
    finally:
        if server is not None:
            server.close()
        if key is not None:
            key.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
