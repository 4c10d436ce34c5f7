"""`rkt fetch [--full] [--signature=FILE] [--pull-policy=new|update|never] IMAGE...`."""

from __future__ import annotations

import click

from rkt.cli._click import CONTEXT_SETTINGS, options


@click.command(context_settings=CONTEXT_SETTINGS,
               help="Fetch image(s) and store them in the local store")
@click.option("--full", is_flag=True, help="print the full image hash after fetching")
@click.option("--signature", "signatures", multiple=True, metavar="FILE",
              help="local signature file to use in validating the preceding image")
@click.option("--pull-policy", default="update", show_default=True,
              type=click.Choice(["new", "update", "never"]),
              help="when to fetch an image from a remote")
@click.argument("images", nargs=-1, required=True)
def command(full: bool, signatures: tuple[str, ...], pull_policy: str, images: tuple[str, ...]) -> None:
    from rkt.fetch import fetch
    from rkt.store import Store

    if len(signatures) > len(images):
        raise click.UsageError("more --signature flags than images")
    opts = options()
    with Store(opts.dir) as store:
        for i, ref in enumerate(images):
            signature = signatures[i] if i < len(signatures) else None
            image_id = fetch(opts, store, ref, signature=signature, pull_policy=pull_policy)
            click.echo(image_id if full else image_id[: len("sha512-") + 32])
