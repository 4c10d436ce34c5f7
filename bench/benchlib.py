"""Shared pieces of the benchmarks: timing a command (wall and CPU), medians and percentiles,
the rkt command line on a private data dir, and the one JSON result file `bench/run.py` turns
into a table and a plot. Every number is reported next to a peer measured in the same run, since
this machine is shared and absolute times move with its load.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RKT = REPO / ".venv" / "bin" / "rkt"


def rkt_cmd(work: Path) -> list[str]:
    """rkt with every directory private to this benchmark run."""
    return [str(RKT), f"--dir={work / 'data'}", f"--local-config={work / 'etc'}",
            f"--system-config={work / 'lib'}", "--insecure-options=image"]


def run_once(cmd: list[str], env: dict | None = None, check: bool = True,
             timeout: float = 120) -> tuple[float, int]:
    """(wall ms, exit code) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise SystemExit(f"{' '.join(cmd)}: timed out")
    wall = (time.perf_counter() - start) * 1000
    if check and proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {err.decode()[-500:]}")
    return wall, proc.returncode


def timed(cmd: list[str], runs: int, warmup: int = 2, env: dict | None = None) -> dict:
    """Median wall and CPU time of `runs` runs after `warmup` unmeasured ones (the CPU of the
    command and every child it waited for, from our children's rusage)."""
    walls, cpus = [], []
    for i in range(warmup + runs):
        before = os.times()
        wall, _ = run_once(cmd, env=env)
        after = os.times()
        cpu = ((after.children_user - before.children_user)
               + (after.children_system - before.children_system)) * 1000
        if i >= warmup:
            walls.append(wall)
            cpus.append(cpu)
    return {"wall_ms": statistics.median(walls), "min_ms": min(walls), "max_ms": max(walls),
            "cpu_ms": statistics.median(cpus), "n": runs}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def save(name: str, result: dict, out: str | None) -> None:
    """Merge `result` under `name` into the JSON file `out` (bench/run.py reads it)."""
    if not out:
        return
    path = Path(out)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = result
    path.write_text(json.dumps(data, indent=1))
