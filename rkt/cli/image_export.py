"""`rkt image export [--overwrite] IMAGE OUT.aci`: the stored ACI, byte for byte (same ID)."""

from __future__ import annotations

import os

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.errors import RktError
from rkt.fsutil import atomic_file


@click.command(context_settings=CONTEXT_SETTINGS, help="Export a stored image to an ACI file")
@click.option("--overwrite", is_flag=True, help="overwrite the output ACI")
@click.argument("image")
@click.argument("output")
def command(overwrite: bool, image: str, output: str) -> None:
    from rkt.store import Store

    if os.path.lexists(output) and not overwrite:
        raise RktError(f"{output}: already exists (use --overwrite to replace it)")
    if os.path.isdir(output):
        raise RktError(f"{output}: is a directory")
    with Store(options().dir) as store:
        info = store.resolve(image)
        # the hash is checked inside atomic_file: a damaged blob leaves nothing behind
        with atomic_file(output) as dst, store.checked_blob(info.id) as blob:
            while chunk := blob.read(1 << 20):
                dst.write(chunk)
