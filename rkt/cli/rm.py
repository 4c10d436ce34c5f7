"""`rkt rm`: remove exited, prepared or aborted pods now."""

from __future__ import annotations

import sys

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.cli.util import ensure_superuser
from rkt.errors import RktError, UsageError


@click.command(context_settings=CONTEXT_SETTINGS,
               help="Remove all files and resources associated with an exited pod.\n\n"
                    "Unlike gc, rm allows users to remove specific pods.")
@click.option("--uuid-file", metavar="FILE", help="read pod UUID from file instead of argument")
@click.argument("uuids", nargs=-1, metavar="UUID...")
def command(uuid_file: str | None, uuids: tuple[str, ...]) -> int:
    from rkt.pod import gc, pods

    opts = options()
    ensure_superuser("rm")
    if bool(uuids) == (uuid_file is not None):
        raise UsageError("rm: give either --uuid-file=FILE or one or more UUIDs")
    failed = False
    for arg in uuids or (None,):
        try:
            pod = pods.resolve(opts, pods.read_uuid_file(uuid_file) if arg is None else arg)
        except RktError as err:  # rkt's wording, which scripts match
            print(f"rm: cannot get pod: {err}", file=sys.stderr)
            failed = True
            continue
        try:
            gc.remove(opts, pod)
        except RktError as err:
            print(f"rm: {err}", file=sys.stderr)
            failed = True
            continue
        print(f'"{pod.uuid}"', flush=True)
    if failed:
        raise RktError("failed to remove one or more pods")
    return 0
