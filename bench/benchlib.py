"""Shared pieces of the benchmarks: timing a command (wall and CPU), medians and percentiles,
the rkt command line on a private data dir, and the one JSON result file `bench/run.py` turns
into a table and a plot. Every number is reported next to a peer measured in the same run, since
this machine is shared and absolute times move with its load.
"""

from __future__ import annotations

import json
import os
import resource
import select
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RKT = REPO / ".venv" / "bin" / "rkt"


def rkt_cmd(work: Path) -> list[str]:
    """rkt with every directory private to this benchmark run."""
    return [str(RKT), f"--dir={work / 'data'}", f"--local-config={work / 'etc'}",
            f"--system-config={work / 'lib'}", "--insecure-options=image"]


def fetch_busybox(rkt: list[str], work: Path, image: str) -> None:
    """Store an uncompressed busybox image named `image`, running /bin/true, in `rkt`'s store."""
    from tests.helpers.aci import busybox_aci  # the caller put the repo on sys.path

    aci = work / "busybox.aci"
    busybox_aci(aci, name=image, exec_=["/bin/true"], compression="none")
    subprocess.run([*rkt, "fetch", str(aci)], check=True, capture_output=True)


@contextmanager
def busybox_store(prefix: str, image: str) -> Iterator[tuple[Path, list[str]]]:
    """(work dir, rkt command line) of a private store holding `image` (see fetch_busybox);
    on the way out every pod is garbage-collected and the work dir removed."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    rkt = rkt_cmd(work)
    try:
        fetch_busybox(rkt, work, image)
        yield work, rkt
    finally:
        subprocess.run([*rkt, "gc", "--grace-period=0s"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def wait_exit(proc: subprocess.Popen, timeout: float) -> int:
    """`proc`'s exit code, seen the moment it exits (its pidfd turns readable): Popen.wait and
    communicate with a timeout poll with sleeps that grow to 50 ms, which added 0-50 ms to
    the measured end of a run (most of the "teardown" once measured). SystemExit on timeout."""
    fd = os.pidfd_open(proc.pid)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            proc.kill()
            proc.wait()
            raise SystemExit(f"{' '.join(map(str, proc.args))}: timed out")
    finally:
        os.close(fd)
    return proc.wait()


def run_once(cmd: list[str], env: dict | None = None, check: bool = True,
             timeout: float = 120) -> tuple[float, int]:
    """(wall ms, exit code) of one run; its stderr goes to a file, which no read has to drain
    before the exit can be seen."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        code = wait_exit(proc, timeout)
        wall = (time.perf_counter() - start) * 1000
        if check and code != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd)} exited {code}: {err.read().decode()[-500:]}")
    return wall, code


def children_cpu() -> float:
    """User+system seconds of every waited-for child so far, to the microsecond (os.times
    counts clock ticks: 10 ms steps, coarser than the differences measured here)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], runs: int, warmup: int = 2, env: dict | None = None) -> dict:
    """Median wall and CPU time of `runs` runs after `warmup` unmeasured ones (the CPU of the
    command and every child it waited for, from our children's rusage)."""
    walls, cpus = [], []
    for i in range(warmup + runs):
        before = children_cpu()
        wall, _ = run_once(cmd, env=env)
        cpu = (children_cpu() - before) * 1000
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
