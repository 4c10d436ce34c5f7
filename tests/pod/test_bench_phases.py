"""RKT_BENCH_PHASES: a real `rkt run` marks each phase (stage0's and stage1's) once, in order,
on the one monotonic clock, so bench/pod_bench.py can split a run's time; without the variable
nothing is written."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.root

ORDER = ["parse", "resolve", "manifest", "render", "exec", "stage1", "app", "exit", "done"]


def test_run_marks_every_phase_in_order(rkt, real_stage1, busybox, tmp_path):
    marks = tmp_path / "marks"
    env = {**os.environ, "RKT_BENCH_PHASES": str(marks)}
    proc = rkt("--insecure-options=image", "run", "--net=host", f"--stage1-path={real_stage1}",
               str(busybox), "--exec=/bin/sh", "--", "-c", "exit 3", env=env, check=False)
    assert proc.returncode == 3, proc.stderr
    lines = [line.split() for line in marks.read_text().splitlines()]
    assert [name for name, _ in lines] == ORDER
    times = [int(ns) for _, ns in lines]
    assert times == sorted(times)

