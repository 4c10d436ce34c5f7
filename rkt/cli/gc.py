"""`rkt gc`: mark exited and aborted pods as garbage, then sweep the garbage."""

from __future__ import annotations

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.cli._optional import optional_value_command
from rkt.cli.util import ensure_superuser
from rkt.errors import RktError

HELP = """Garbage collect rkt pods no longer in use.

This is intended to be run periodically from a timer or cron job.

Garbage collection is a 2-step process. First, stopped pods are moved to the
garbage by one invocation of the gc command. A subsequent invocation will clean
up the pod, assuming the pod has been in the garbage for more time than the
specified grace period.

Use --grace-period=0s to effectively disable the grace-period."""


@click.command(cls=optional_value_command({"--mark-only": "true"}),
               context_settings=CONTEXT_SETTINGS, help=HELP)
@click.option("--grace-period", default="30m0s", show_default=True, metavar="DURATION",
              help="duration to wait before discarding inactive pods from garbage")
@click.option("--expire-prepared", default="24h0m0s", show_default=True, metavar="DURATION",
              help="duration to wait before expiring prepared pods")
@click.option("--mark-only", type=click.BOOL, default=False, metavar="BOOL",
              help="only move exited/aborted pods to the garbage directories, delete nothing "
                   "(marks the exit time of a pod)")
def command(grace_period: str, expire_prepared: str, mark_only: bool) -> int:
    from rkt.pod import gc
    from rkt.duration import parse_duration

    opts = options()
    grace = parse_duration(grace_period, "--grace-period")
    expire = parse_duration(expire_prepared, "--expire-prepared")
    ensure_superuser("gc")
    failures = gc.collect(opts, grace, expire, mark_only=mark_only)
    if failures:
        raise RktError(f"failed to remove {failures} pod(s)")
    return 0
