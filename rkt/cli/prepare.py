"""`rkt prepare`: create a pod in the prepared state and print its UUID (rkt/prepare.go)."""

from __future__ import annotations

from rkt.cli import runflags


def main(opts, args: list[str]) -> int:
    parsed = runflags.command_line("prepare", args)
    if parsed is None:
        return 0
    from rkt.pod.run import prepare_pod

    pod, _ = prepare_pod(opts, parsed.spec, for_run=False)
    print(pod.uuid)
    return 0
