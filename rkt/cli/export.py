"""`rkt export`: export an app of an exited pod, with its changes, to an ACI file."""

from __future__ import annotations

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.cli._optional import optional_value_command
from rkt.cli.util import ensure_superuser


@click.command(cls=optional_value_command({"--overwrite": "true"}),
               context_settings=CONTEXT_SETTINGS,
               help="Export an app from an exited pod to an ACI file.\n\n"
                    "UUID should be the UUID of an exited (or prepared) pod; the ACI holds the "
                    "app's rootfs including the changes the app made.")
@click.option("--app", metavar="NAME", help="name of the app to export (needed with several apps)")
@click.option("--overwrite", type=click.BOOL, default=False, metavar="BOOL", help="overwrite output ACI")
@click.argument("uuid")
@click.argument("output", metavar="OUTPUT_ACI_FILE")
def command(app: str | None, overwrite: bool, uuid: str, output: str) -> int:
    from rkt.pod import export, pods

    opts = options()
    ensure_superuser("export")
    export.export(opts, pods.resolve(opts, uuid), output, app=app, overwrite=overwrite)
    return 0
