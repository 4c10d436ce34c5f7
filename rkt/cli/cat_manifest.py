"""`rkt cat-manifest`: print a pod's manifest."""

from __future__ import annotations

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.cli._optional import optional_value_command
from rkt.errors import UsageError


@click.command(cls=optional_value_command({"--pretty-print": "true"}),
               context_settings=CONTEXT_SETTINGS,
               help="Inspect and print the pod manifest.\n\nUUID should be the UUID of a pod")
@click.option("--pretty-print", type=click.BOOL, default=True, show_default=True,
              help="apply indent to format the output")
@click.option("--uuid-file", metavar="FILE", help="read pod UUID from file instead of argument")
@click.argument("uuid", required=False)
def command(pretty_print: bool, uuid_file: str | None, uuid: str | None) -> int:
    from rkt.pod import pods
    from rkt.pod.status import dump_json

    opts = options()
    if (uuid is None) == (uuid_file is None):
        raise UsageError("cat-manifest: give either --uuid-file=FILE or a UUID")
    pod = pods.resolve(opts, uuid if uuid is not None else pods.read_uuid_file(uuid_file))
    manifest = pod.manifest()
    print(dump_json(manifest.to_json(), pretty_print))
    return 0
