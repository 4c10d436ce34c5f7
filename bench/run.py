#!/usr/bin/env python3
"""`make bench`: run the benchmarks in turn with the venv's Python, then print one summary table
of issue 10's goals (each a ratio against its peer or goal, measured in the same run) and,
with --png FILE, draw it (bench/png.py, no plotting library needed).

    python bench/run.py [--png FILE] [--json FILE] [NAME...]
    (names: pod, scale, import, fetch, net, docker, tree; default: pod scale)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHMARKS = {
    "pod": "pod_bench.py",
    "scale": "scale_bench.py",
    "import": "import_bench.py",
    "fetch": "fetch_bench.py",
    "net": "net_bench.py",
    "docker": "docker_bench.py",
    "tree": "tree_check_bench.py",
}
WITH_JSON = {"pod", "scale"}


def goal_rows(results: dict) -> list[tuple[str, float, float, str]]:
    """(what, measured, goal, unit): lower is better, measured/goal <= 1 meets the goal."""
    rows = []
    pod = results.get("pod")
    if pod:
        runs = pod["runs"]
        ours = runs["rkt run --net=host"]["wall_ms"]
        for peer, goal in (("runc run", 1.5), ("crun run", 1.5), ("systemd-nspawn", 1.0),
                           ("host true", float("inf"))):
            if peer in runs:
                rows.append((f"rkt run / {peer}", ours / runs[peer]["wall_ms"], goal, "x"))
        if runs["runc run"]["cpu_ms"]:
            # CPU time moves less than wall time with the load of a shared machine
            rows.append(("rkt run CPU / runc CPU", runs["rkt run --net=host"]["cpu_ms"]
                         / runs["runc run"]["cpu_ms"], float("inf"), "x"))
        mem = pod["memory"]
        rows.append(("PSS of one pod's runtime", mem["pss_mib"], 10.0, "MiB"))
        rows.append(("PSS of a further pod", mem["pss_marginal_mib"], 6.0, "MiB"))
        conc = pod["concurrent"]
        if "p95_ms" in conc:
            rows.append((f"{conc['pods']} pods at once: start p50", conc["p50_ms"],
                         float("inf"), "ms"))
            rows.append((f"{conc['pods']} pods at once: start p95", conc["p95_ms"],
                         float("inf"), "ms"))
            rows.append((f"{conc['pods']} pods at once: wrong exits",
                         len(conc["wrong_exit_codes"]) + conc["pods"] - conc["started"], 0, ""))
    scale = results.get("scale")
    if scale:
        n, m = scale["pods"], scale["images"]
        rows.append((f"rkt list, {n} pods", scale["list, N pods"]["wall_ms"], 500.0, "ms"))
        rows.append((f"rkt gc per pod, {n} pods", scale["gc, N pods"]["per_pod_ms"], 10.0, "ms"))
        rows.append((f"rkt image list, {m} images", scale["image list, N images"]["wall_ms"],
                     500.0, "ms"))
        rows.append((f"rkt status, {n} pods / 1 pod", scale["status, N pods"]["wall_ms"]
                     / scale["status, 1 pod"]["wall_ms"], 1.2, "x"))
        rows.append(("rkt version (CLI floor)", scale["rkt version"]["wall_ms"], float("inf"), "ms"))
    return rows


def table(results: dict) -> str:
    lines = [f"{'what':<36} {'measured':>10} {'goal':>8}  ok"]
    for what, value, goal, unit in goal_rows(results):
        goal_text = "-" if goal == float("inf") else f"{goal:g}{unit}"
        ok = "" if goal == float("inf") else ("yes" if value <= goal else "NO")
        lines.append(f"{what:<36} {value:>8.2f}{unit:<2} {goal_text:>8}  {ok}")
    pod = results.get("pod")
    if pod:
        lines.append("rkt run phases (median ms): "
                     + ", ".join(f"{k} {v:.1f}" for k, v in pod["phases"].items()))
    return "\n".join(lines)


def plot(results: dict, path: str) -> None:
    from png import chart

    rows = [(what, value / goal if goal not in (0, float("inf")) else 0.0, f"{value:.1f}{unit}")
            for what, value, goal, unit in goal_rows(results)]
    phases = results.get("pod", {}).get("phases", {})
    Path(path).write_bytes(chart(rows, phases, "RKT BENCH: MEASURED / GOAL"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--png", help="write the summary as a bar chart to this PNG file")
    parser.add_argument("--json", help="keep the raw results in this JSON file")
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    out = args.json or tempfile.mkstemp(prefix="rkt-bench-", suffix=".json")[1]
    Path(out).write_text("{}")
    status = 0
    for name in args.names or ["pod", "scale"]:
        script = BENCHMARKS.get(name)
        if script is None or not (HERE / script).exists():
            print(f"unknown benchmark {name!r} (known: {', '.join(BENCHMARKS)})", file=sys.stderr)
            status = 2
            continue
        print(f"== {name} ({script})", flush=True)
        extra = ["--json", out] if name in WITH_JSON else []
        status = subprocess.run([sys.executable, str(HERE / script), *extra]).returncode or status
    results = json.loads(Path(out).read_text())
    if results:
        print("== summary")
        print(table(results))
        if args.png:
            plot(results, args.png)
            print(f"plot: {args.png}")
    if not args.json:
        Path(out).unlink()
    return status


if __name__ == "__main__":
    sys.exit(main())
