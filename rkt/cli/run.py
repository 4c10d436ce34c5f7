"""`rkt run`: prepare a pod from images and flags, then become its stage1 (rkt/run.go)."""

from __future__ import annotations

from rkt.cli import runflags


def main(opts, args: list[str]) -> int:
    parsed = runflags.command_line("run", args)
    if parsed is None:
        return 0
    from rkt import report

    report.phase("parse")
    from rkt.pod.run import exec_stage1, prepare_pod

    pod, lock = prepare_pod(opts, parsed.spec, for_run=True)
    exec_stage1(opts, parsed.spec, pod, lock)
    return 254  # not reached: exec_stage1 replaces the process or raises
