"""`rkt stop`: ask running pods to stop, through their stage1 `stop` entrypoint."""

from __future__ import annotations

import sys

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.cli._optional import optional_value_command
from rkt.errors import RktError, UsageError


@click.command(cls=optional_value_command({"--force": "true"}),
               context_settings=CONTEXT_SETTINGS, help="Stop a pod")
@click.option("--force", type=click.BOOL, default=False, metavar="BOOL", help="forced stopping (SIGKILL)")
@click.option("--uuid-file", metavar="FILE", help="read pod UUID from file instead of argument")
@click.argument("uuids", nargs=-1, metavar="UUID...")
def command(force: bool, uuid_file: str | None, uuids: tuple[str, ...]) -> int:
    from rkt.pod import entrypoints, pods

    opts = options()
    if bool(uuids) == (uuid_file is not None):
        raise UsageError("stop: give either --uuid-file=FILE or one or more UUIDs")
    failures = 0
    for arg in uuids or (None,):
        try:
            pod = pods.resolve(opts, pods.read_uuid_file(uuid_file) if arg is None else arg)
            if not pod.is_running:
                raise RktError(f'pod "{pod.uuid}" is not running')
            done = entrypoints.run(pod.path, "stop", (["--force"] if force else []) + [pod.uuid],
                                   debug=opts.debug, timeout=60)
            if done.returncode != 0:
                raise RktError(f'error stopping "{pod.uuid}": stage1 stop exited with '
                               f"status {done.returncode}")
        except RktError as err:
            print(f"stop: {err}", file=sys.stderr)
            failures += 1
            continue
        print(f'"{pod.uuid}"', flush=True)
    if failures:
        raise RktError(f"stop: failed to stop {failures} pod(s)")
    return 0
