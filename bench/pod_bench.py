#!/usr/bin/env python3
"""Pod start-to-exit latency: `rkt run --net=host` of a stored busybox image running /bin/true,
side by side with runc, crun (if installed), systemd-nspawn and the host's `true` on the same
rootfs, measured in the same run (shared/reference/peer-baselines.md §1 has the method); the
time split by phase; the memory of the rkt-side processes while pods run; 20 pods at once.

    python bench/pod_bench.py [--runs N] [--concurrent N] [--json FILE]

Phases come from RKT_BENCH_PHASES (stage0's `rkt.report.phase`, stage1's `files.phase`):
start+parse (interpreter, imports, flags), resolve (stage1 and app images), manifest (pod
manifest), render (pod dir), exec prep (DNS files, overlays), stage1 start (the second
interpreter), stage1 setup (namespaces, mounts, until the apps run), app, teardown (stage1's
waiting parent once PID 1 is gone: cgroups, network, the pod marked cleaned up), kernel exit
(that process's exit: the pod's mount namespace ends, and the apps' overlays' unmount syncs the
upper filesystem: a journal commit and a disk flush, plus every dirty page of that filesystem).
Goals (issue 10): rkt <= 1.5x runc; PSS <= 10 MiB for one pod, <= 6 MiB per further pod.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import busybox_store, percentile, save, timed, wait_exit  # noqa: E402

IMAGE = "busybox-bench"
# (name of the span, mark it starts at, mark it ends at); "start"/"end" are the bench's own
PHASES = [("start+parse", "start", "parse"), ("resolve", "parse", "resolve"),
          ("manifest", "resolve", "manifest"), ("render", "manifest", "render"),
          ("exec prep", "render", "exec"), ("stage1 start", "exec", "stage1"),
          ("stage1 setup", "stage1", "app"), ("app", "app", "exit"), ("teardown", "exit", "done"),
          ("kernel exit", "done", "end")]


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def read_marks(path: Path) -> dict[str, int]:
    marks = {}
    for line in path.read_text().splitlines():
        name, _, ns = line.partition(" ")
        marks.setdefault(name, int(ns))
    return marks


def runc_bundle(work: Path, rootfs: Path) -> Path:
    bundle = work / "bundle"
    bundle.mkdir()
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    spec["root"] = {"path": str(rootfs), "readonly": True}
    (bundle / "config.json").write_text(json.dumps(spec))
    return bundle


def phase_split(rkt: list[str], work: Path, runs: int) -> dict[str, float]:
    """Median ms of each phase over `runs` runs."""
    spans: dict[str, list[float]] = {name: [] for name, _, _ in PHASES}
    for i in range(runs):
        marks_file = work / f"phases-{i}"
        env = {**os.environ, "RKT_BENCH_PHASES": str(marks_file)}
        start = now_ns()
        proc = subprocess.Popen([*rkt, "run", "--net=host", IMAGE], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if wait_exit(proc, 120) != 0:
            raise SystemExit(f"rkt run exited {proc.returncode}")
        marks = {"start": start, **read_marks(marks_file), "end": now_ns()}
        for name, begin, end in PHASES:
            if begin in marks and end in marks:
                spans[name].append((marks[end] - marks[begin]) / 1e6)
    return {name: statistics.median(v) for name, v in spans.items() if v}


def _children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def runtime_memory(roots: list[int]) -> tuple[int, int]:
    """(RSS, PSS) in KiB summed over the processes under `roots`, the apps (sleep) excluded."""
    rss = pss = 0
    todo = list(roots)
    while todo:
        pid = todo.pop()
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            kids = _children(pid)
            if comm != "sleep":
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1])
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):  # exited while we looked
            continue
        todo += kids
    return rss, pss


def memory(rkt: list[str]) -> dict[str, float]:
    """PSS of one running pod's runtime processes, and the marginal PSS of a second pod."""
    def start() -> subprocess.Popen:
        return subprocess.Popen([*rkt, "run", "--net=host", IMAGE, "--exec=/bin/sleep", "--", "4"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    first = start()
    time.sleep(2)
    rss1, pss1 = runtime_memory([first.pid])
    first.wait()
    pods = [start(), start()]
    time.sleep(2.5)
    rss2, pss2 = runtime_memory([p.pid for p in pods])
    for p in pods:
        p.wait()
    return {"rss_mib": rss1 / 1024, "pss_mib": pss1 / 1024,
            "pss_2pods_mib": pss2 / 1024, "pss_marginal_mib": (pss2 - pss1) / 1024}


def concurrent(rkt: list[str], work: Path, count: int) -> dict:
    """`count` pods started at once, each exiting with its own code; start latency (spawn to
    the apps running) as p50/p95, and whether every exit code came through."""
    procs = []
    for i in range(count):
        marks = work / f"conc-{i}"
        env = {**os.environ, "RKT_BENCH_PHASES": str(marks)}
        procs.append((i % 7, marks, now_ns(), subprocess.Popen(
            [*rkt, "run", "--net=host", IMAGE, "--exec=/bin/sh", "--", "-c", f"exit {i % 7}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    latencies, wrong = [], []
    for want, marks, started, proc in procs:
        _, err = proc.communicate(timeout=300)
        if proc.returncode != want:
            wrong.append(f"want {want} got {proc.returncode}: {err.decode().strip()[-200:]}")
        if marks.exists() and "app" in (m := read_marks(marks)):
            latencies.append((m["app"] - started) / 1e6)
    if not latencies:
        return {"pods": count, "started": 0, "wrong_exit_codes": wrong}
    return {"pods": count, "started": len(latencies), "wrong_exit_codes": wrong,
            "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95),
            "max_ms": max(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--json", help="merge the results into this JSON file")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("pod_bench: needs root")
    with busybox_store("rkt-bench-", IMAGE) as (work, rkt):
        rootfs = work / "rootfs"
        subprocess.run([*rkt, "image", "render", "--rootfs-only", IMAGE, str(rootfs)],
                       check=True, capture_output=True)
        (rootfs / "usr").mkdir(exist_ok=True)  # systemd-nspawn refuses a tree without /usr
        bundle = runc_bundle(work, rootfs)
        commands = {
            "rkt run --net=host": [*rkt, "run", "--net=host", IMAGE],
            "runc run": ["runc", "run", "--bundle", str(bundle), "rkt-bench"],
            "systemd-nspawn": ["systemd-nspawn", "--register=no", "--keep-unit", "-q", "-D",
                               str(rootfs), "/bin/true"],
            "host true": ["/bin/true"],
        }
        if shutil.which("crun"):
            commands["crun run"] = ["crun", "run", "--bundle", str(bundle), "rkt-bench-crun"]
        # interleaved rounds: a load spike on this shared machine hits every command alike
        rounds = [{name: timed(cmd, 1, warmup=1 if r == 0 else 0) for name, cmd in commands.items()}
                  for r in range(args.runs)]
        runs = {name: {"wall_ms": statistics.median(r[name]["wall_ms"] for r in rounds),
                       "cpu_ms": statistics.median(r[name]["cpu_ms"] for r in rounds),
                       "n": args.runs} for name in commands}
        subprocess.run([*rkt, "gc", "--grace-period=0s"], capture_output=True)
        result = {"runs": runs, "phases": phase_split(rkt, work, max(5, args.runs // 2)),
                  "memory": memory(rkt), "concurrent": concurrent(rkt, work, args.concurrent)}
        subprocess.run([*rkt, "gc", "--grace-period=0s"], capture_output=True)
        report(result)
        save("pod", result, args.json)


def report(result: dict) -> None:
    runs = result["runs"]
    ours = runs["rkt run --net=host"]
    for name, r in runs.items():
        ratio = ours["wall_ms"] / r["wall_ms"] if r["wall_ms"] else float("nan")
        print(f"{name:<22} wall {r['wall_ms']:7.1f} ms  cpu {r['cpu_ms']:6.1f} ms  "
              f"rkt/this {ratio:5.2f}")
    print(f"goal: rkt/runc <= 1.5 -> {ours['wall_ms'] / runs['runc run']['wall_ms']:.2f}")
    print("phases (median ms): " + ", ".join(f"{k} {v:.1f}" for k, v in result["phases"].items()))
    m = result["memory"]
    print(f"memory: one pod RSS {m['rss_mib']:.1f} MiB, PSS {m['pss_mib']:.1f} MiB (goal <= 10); "
          f"second pod +{m['pss_marginal_mib']:.1f} MiB PSS (goal <= 6)")
    c = result["concurrent"]
    print(f"concurrent: {c['started']}/{c['pods']} started, start latency p50 "
          f"{c.get('p50_ms', 0):.0f} ms p95 {c.get('p95_ms', 0):.0f} ms, wrong exit codes: "
          f"{len(c['wrong_exit_codes'])}")
    for line in c["wrong_exit_codes"][:3]:
        print(f"  {line}")


if __name__ == "__main__":
    main()
