"""`rkt prepare`: create a pod in the prepared state and print its UUID (rkt/prepare.go)."""

from __future__ import annotations

from rkt.cli import runflags
from rkt.cli.util import ensure_superuser


def main(opts, args: list[str]) -> int:
    parsed = runflags.parse("prepare", args)
    if parsed.help:
        print(runflags.usage("prepare"))
        return 0
    ensure_superuser("prepare")
    from rkt.pod.run import prepare_pod

    pod, _ = prepare_pod(opts, parsed.spec, for_run=False)
    print(pod.uuid)
    return 0
