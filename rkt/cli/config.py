"""`rkt config`: print the merged configuration as rkt's `{"stage0": [...]}` JSON."""

from __future__ import annotations

import json

import click

from rkt.cli._click import CONTEXT_SETTINGS, options


@click.command(context_settings=CONTEXT_SETTINGS,
               help="Print configuration for each stage in JSON format.\n\n"
                    'The output is JSON with "stage0" as key and rkt configuration entries as '
                    "values, in the format of rkt's configuration files.")
@click.option("--pretty-print", type=click.BOOL, is_flag=False, flag_value=True, default=True,
              show_default=True,
              help="apply indent to format the output")
def command(pretty_print: bool) -> None:
    from rkt.config import load

    doc = load(options()).to_json()
    print(json.dumps(doc, indent="\t" if pretty_print else None))
