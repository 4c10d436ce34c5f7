#!/usr/bin/env python3
"""Pod start-to-exit latency: `rkt run --net=host` of a stored busybox image running /bin/true,
side by side with `runc run` and `systemd-nspawn` on the same rootfs, measured in the same run
(shared/reference/peer-baselines.md §1 has the method). Also the memory of the rkt-side
processes that stay alive while a pod runs.

    python bench/pod_bench.py [--runs N]

Goals (issue "Pods"): rkt <= 1.5x runc, rkt <= 0.5x systemd-nspawn, resident rkt-side memory
<= 10 MiB. Prints medians and ratios; not a pass/fail test.
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

from tests.helpers.aci import busybox_aci  # noqa: E402

RKT = REPO / ".venv" / "bin" / "rkt"


def timed(cmd: list[str], runs: int, warmup: int = 2, **kw) -> list[float]:
    samples = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
        elapsed = (time.perf_counter() - start) * 1000
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
        if i >= warmup:
            samples.append(elapsed)
    return samples


def runc_bundle(work: Path, rootfs: Path) -> Path:
    bundle = work / "bundle"
    bundle.mkdir()
    (bundle / "rootfs").symlink_to(rootfs)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    spec["root"] = {"path": str(rootfs), "readonly": True}
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def resident_memory(rkt: list[str]) -> tuple[int, int]:
    """(RSS, PSS) in KiB summed over the rkt-side processes of a running pod (not the app)."""
    proc = subprocess.Popen([*rkt, "run", "--net=host", "busybox-bench", "--exec=/bin/sleep",
                             "--", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)

    def children(pid: int) -> list[int]:
        kids = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            kids += [int(k) for k in text]
        return kids

    rss = pss = 0
    todo = [proc.pid]
    while todo:
        pid = todo.pop()
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            kids = children(pid)
            if comm != "sleep":
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):  # exited while we looked
            continue
        todo += kids
    proc.wait()
    return rss, pss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("pod_bench: needs root")
    work = Path(tempfile.mkdtemp(prefix="rkt-bench-"))
    try:
        aci = work / "busybox.aci"
        busybox_aci(aci, name="busybox-bench", exec_=["/bin/true"], compression="none")
        rkt = [str(RKT), f"--dir={work / 'data'}", f"--local-config={work / 'etc'}",
               f"--system-config={work / 'lib'}", "--insecure-options=image"]
        subprocess.run([*rkt, "fetch", str(aci)], check=True, capture_output=True)
        rootfs = work / "rootfs"
        subprocess.run([*rkt, "image", "render", "--rootfs-only", "busybox-bench", str(rootfs)],
                       check=True, capture_output=True)
        (rootfs / "usr").mkdir(exist_ok=True)  # systemd-nspawn refuses a tree without /usr
        bundle = runc_bundle(work, rootfs)

        results = {
            "rkt run --net=host": timed([*rkt, "run", "--net=host", "busybox-bench"], args.runs),
            "runc run": timed(["runc", "run", "--bundle", str(bundle), "rkt-bench"], args.runs),
            "systemd-nspawn": timed(["systemd-nspawn", "--register=no", "--keep-unit", "-q", "-D",
                                     str(rootfs), "/bin/true"], args.runs),
        }
        subprocess.run([*rkt, "gc", "--grace-period=0s"], capture_output=True)
        med = {name: statistics.median(s) for name, s in results.items()}
        for name, samples in results.items():
            print(f"{name:<22} median {med[name]:7.1f} ms  (min {min(samples):.1f}, max {max(samples):.1f}, n={len(samples)})")
        rkt_ms = med["rkt run --net=host"]
        print(f"ratio rkt/runc           {rkt_ms / med['runc run']:.2f}   (goal <= 1.5)")
        print(f"ratio rkt/systemd-nspawn {rkt_ms / med['systemd-nspawn']:.2f}   (goal <= 0.5)")
        rss, pss = resident_memory(rkt)
        print(f"rkt-side memory while a pod runs: RSS {rss / 1024:.1f} MiB, PSS {pss / 1024:.1f} MiB (goal <= 10 MiB)")
        subprocess.run([*rkt, "gc", "--grace-period=0s"], capture_output=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
