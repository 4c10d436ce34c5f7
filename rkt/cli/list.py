"""`rkt list`: a table (or JSON) of the pods and their apps."""

from __future__ import annotations

import sys

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.cli._optional import optional_value_command
from rkt.errors import UsageError


@click.command(cls=optional_value_command({"--no-legend": "true", "--full": "true"}),
               context_settings=CONTEXT_SETTINGS,
               help="List pods.\n\nDisplays a table of information about the pods.")
@click.option("--no-legend", type=click.BOOL, default=False, metavar="BOOL", help="suppress a legend with the list")
@click.option("--full", type=click.BOOL, default=False, metavar="BOOL", help="use long output format")
@click.option("--format", "fmt", default="", metavar="json|json-pretty",
              help="output format: 'json', 'json-pretty'; a table if empty")
def command(no_legend: bool, full: bool, fmt: str) -> int:
    from rkt.cli.util import format_table
    from rkt.pod import status

    opts = options()
    if fmt not in ("", "json", "json-pretty"):
        raise UsageError(f"--format: unknown format {fmt!r} (use json or json-pretty)")
    if fmt:
        infos, problems = status.list_json(opts)
        # no pods is Go's nil slice in rkt: `null`, which scripts test for
        print(status.dump_json(infos or None, fmt == "json-pretty"))
    else:
        rows, problems = status.list_rows(opts, full)
        table = format_table(status.list_headers(full), rows, legend=not no_legend)
        if table:
            print(table)
    if problems:
        print("Unable to list some pods:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    return 0
