#!/usr/bin/env python3
"""Pod start-to-exit latency with networking: `rkt run --net=default` of a stored busybox
`/bin/true` against `--net=host`, `runc run` without network, and runc plus the CNI ptp plugin
run by hand (netns add, ptp ADD, runc in that netns, ptp DEL, netns del), interleaved in the
same run (shared/reference/peer-baselines.md §1, §4-5). Everything runs inside a network namespace made
for the benchmark, so the host's network is never touched.

    python bench/net_bench.py [--runs N]

Goal (issue 13): default-network run <= 3x runc without network. Not a pass/fail test. The
network's own share of the default run is printed from stage1's phase marks (`net`..`net-up`:
the keeper's attaching, which overlaps PID 1's start; `net-down`..`net-gone`: the teardown).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from benchlib import fetch_busybox, rkt_cmd, run_once  # noqa: E402
from pod_bench import runc_bundle  # noqa: E402


def interleaved(commands: dict[str, tuple[list[str], dict]], runs: int) -> dict[str, list[float]]:
    """Each command once per round, `runs` rounds: a busy host's load drifts over all alike."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (cmd, kw) in commands.items():
            samples[name].append(run_once(cmd, **kw)[0])
    return samples


CNI = "/usr/lib/cni"

RUNC_PTP = """set -e
ip netns add "$POD"
env CNI_COMMAND=ADD CNI_CONTAINERID="$POD" CNI_NETNS=/run/netns/"$POD" CNI_IFNAME=eth0 \
    CNI_PATH={cni} {cni}/ptp < "$CONF" > /dev/null
runc run --bundle "$BUNDLE" "$POD"
env CNI_COMMAND=DEL CNI_CONTAINERID="$POD" CNI_NETNS=/run/netns/"$POD" CNI_IFNAME=eth0 \
    CNI_PATH={cni} {cni}/ptp < "$CONF" > /dev/null
ip netns del "$POD"
""".format(cni=CNI)


# the network's own share of a default-network run, from stage1's phase marks
NET_SPANS = {"  network setup": ("net", "net-up"), "  network teardown": ("net-down", "net-gone")}


def net_spans(marks: Path, begin: str, end: str) -> list[float]:
    """Milliseconds from each `begin` mark to the next `end` mark (one pair per run)."""
    spans, started = [], None
    for line in marks.read_text().splitlines() if marks.exists() else ():
        name, _, ns = line.partition(" ")
        if name == begin:
            started = int(ns)
        elif name == end and started is not None:
            spans.append((int(ns) - started) / 1e6)
            started = None
    return spans


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("net_bench: needs root")
    work = Path(tempfile.mkdtemp(prefix="rkt-netbench-"))
    hostns = f"rkt-bench-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", hostns], check=True)
    subprocess.run(["ip", "-n", hostns, "link", "set", "lo", "up"], check=True)
    inside = ["nsenter", f"--net=/run/netns/{hostns}"]
    try:
        rkt = rkt_cmd(work)
        fetch_busybox(rkt, work, "busybox-bench")
        rootfs = work / "rootfs"
        subprocess.run([*rkt, "image", "render", "--rootfs-only", "busybox-bench", str(rootfs)],
                       check=True, capture_output=True)
        bundle = runc_bundle(work, rootfs)
        spec = json.loads((bundle / "config.json").read_text())
        for ns in spec["linux"]["namespaces"]:
            if ns["type"] == "network":
                ns["path"] = f"/run/netns/{hostns}-pod"
        (work / "bundle-ptp").mkdir()
        (work / "bundle-ptp" / "config.json").write_text(json.dumps(spec))
        conf = work / "ptp.json"
        conf.write_text(json.dumps({"cniVersion": "0.4.0", "name": "bench", "type": "ptp", "ipMasq": False,
                                    "ipam": {"type": "host-local", "subnet": "10.231.1.0/24",
                                             "dataDir": str(work / "ipam"), "routes": [{"dst": "0.0.0.0/0"}]}}))
        env = {**os.environ, "POD": f"{hostns}-pod", "CONF": str(conf), "BUNDLE": str(work / "bundle-ptp")}
        marks = work / "marks"
        commands = {
            "rkt run --net=default": ([*inside, *rkt, "run", "--net=default", "busybox-bench"],
                                      {"env": {**os.environ, "RKT_BENCH_PHASES": str(marks)}}),
            "rkt run --net=host": ([*inside, *rkt, "run", "--net=host", "busybox-bench"], {}),
            "runc run (no network)": ([*inside, "runc", "run", "--bundle", str(bundle), hostns], {}),
            "runc + CNI ptp by hand": ([*inside, "sh", "-c", RUNC_PTP], {"env": env}),
        }
        for cmd, kw in commands.values():  # warm-up
            run_once(cmd, **kw)
        results = interleaved(commands, args.runs)
        subprocess.run([*inside, *rkt, "gc", "--grace-period=0s"], capture_output=True)
        med = {name: statistics.median(s) for name, s in results.items()}
        for name, samples in results.items():
            print(f"{name:<24} median {med[name]:7.1f} ms  (min {min(samples):.1f}, max {max(samples):.1f}, n={len(samples)})")
        for name, (begin, end) in NET_SPANS.items():
            spans = net_spans(marks, begin, end)
            if spans:
                print(f"{name:<24} median {statistics.median(spans):7.1f} ms  (stage1's marks {begin}..{end})")
        base = med["runc run (no network)"]
        print(f"ratio default/runc          {med['rkt run --net=default'] / base:.2f}   (goal <= 3)")
        print(f"ratio default/host          {med['rkt run --net=default'] / med['rkt run --net=host']:.2f}")
        print(f"ratio default/runc+ptp      {med['rkt run --net=default'] / med['runc + CNI ptp by hand']:.2f}")
    finally:
        subprocess.run(["ip", "netns", "del", f"{hostns}-pod"], capture_output=True)
        subprocess.run(["ip", "netns", "del", hostns], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
