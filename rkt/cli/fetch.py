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
# rkt 1.30 still accepts its pre-1.25 flags (hidden, with cobra's deprecation notice).
@click.option("--store-only", is_flag=True, hidden=True)
@click.option("--no-store", is_flag=True, hidden=True)
@click.argument("images", nargs=-1, required=True)
def command(full: bool, signatures: tuple[str, ...], pull_policy: str, store_only: bool,
            no_store: bool, images: tuple[str, ...]) -> None:
    from rkt.errors import RktError
    from rkt.fetch import fetch
    from rkt.store import Store

    for flag, given, policy in (("--store-only", store_only, "never"), ("--no-store", no_store, "update")):
        if given:
            click.echo(f"Flag {flag} has been deprecated, please use --pull-policy={policy}", err=True)
            pull_policy = policy
    if store_only and no_store:
        raise RktError("both --store-only and --no-store specified")
    if len(signatures) > len(images):
        raise click.UsageError("more --signature flags than images")
    opts = options()
    with Store(opts.dir) as store:
        for i, ref in enumerate(images):
            signature = signatures[i] if i < len(signatures) else None
            image_id = fetch(opts, store, ref, signature=signature, pull_policy=pull_policy)
            click.echo(image_id if full else image_id[: len("sha512-") + 32])
