"""`rkt run-prepared UUID`: run a pod made by `rkt prepare` (rkt/run_prepared.go)."""

from __future__ import annotations

from rkt.cli import runflags


def main(opts, args: list[str]) -> int:
    parsed = runflags.command_line("run-prepared", args)
    if parsed is None:
        return 0
    from rkt.pod.run import exec_stage1, lock_prepared

    pod, lock = lock_prepared(opts, parsed.uuid)
    exec_stage1(opts, parsed.spec, pod, lock)
    return 254  # not reached: exec_stage1 replaces the process or raises
