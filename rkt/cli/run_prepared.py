"""`rkt run-prepared UUID`: run a pod made by `rkt prepare` (rkt/run_prepared.go)."""

from __future__ import annotations

from rkt.cli import runflags
from rkt.cli.util import ensure_superuser


def main(opts, args: list[str]) -> int:
    parsed = runflags.parse("run-prepared", args)
    if parsed.help:
        print(runflags.usage("run-prepared"))
        return 0
    ensure_superuser("run-prepared")
    from rkt.pod.run import exec_stage1, lock_prepared

    pod, lock = lock_prepared(opts, parsed.uuid)
    exec_stage1(opts, parsed.spec, pod, lock)
    return 254  # not reached
