"""`rkt enter`: run a command in the namespaces and rootfs of an app of a running pod."""

from __future__ import annotations

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.cli.util import ensure_superuser


@click.command(context_settings={**CONTEXT_SETTINGS, "allow_interspersed_args": False},
               help="Enter the namespaces of an app within a rkt pod.\n\n"
                    "Without CMD, runs /bin/sh.")
@click.option("--app", metavar="NAME", help="name of the app to enter within the specified pod")
@click.argument("uuid")
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED)
def command(app: str | None, uuid: str, cmd: tuple[str, ...]) -> int:
    from rkt.pod import enter, pods

    opts = options()
    ensure_superuser("enter")
    command = list(cmd)
    if command[:1] == ["--"]:  # `rkt enter UUID -- CMD ...`
        command = command[1:]
    enter.enter(pods.resolve(opts, uuid), app, command)
    return 254  # not reached: enter execs the stage1 entrypoint
