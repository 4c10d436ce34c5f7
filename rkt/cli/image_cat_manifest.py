"""`rkt image cat-manifest [--pretty-print] IMAGE`: the stored image manifest."""

from __future__ import annotations

import json

import click

from rkt.cli._click import CONTEXT_SETTINGS, options


@click.command(context_settings=CONTEXT_SETTINGS, help="Inspect and print the image manifest")
@click.option("--pretty-print", type=click.BOOL, default=True, is_flag=False, flag_value=True,
              show_default=True, help="apply indent to format the output")
@click.argument("image")
def command(pretty_print: bool, image: str) -> None:
    from rkt.store import Store

    with Store(options().dir) as store:
        manifest = store.manifest(store.resolve(image).id)
    data = manifest.to_json()
    click.echo(json.dumps(data, indent="\t") if pretty_print else
               json.dumps(data, separators=(",", ":")))
