"""`rkt image extract [--rootfs-only] [--overwrite] IMAGE DIR`: one image, no dependencies."""

from __future__ import annotations

import click

from rkt.cli._click import CONTEXT_SETTINGS, options


@click.command(context_settings=CONTEXT_SETTINGS, help="Extract a stored image to a directory")
@click.option("--rootfs-only", is_flag=True, help="extract rootfs only")
@click.option("--overwrite", is_flag=True, help="overwrite output directory")
@click.argument("image")
@click.argument("directory")
def command(rootfs_only: bool, overwrite: bool, image: str, directory: str) -> None:
    from rkt import aci
    from rkt.cli.image_render import prepare_output
    from rkt.store import Store

    opts = options()
    with Store(opts.dir) as store:
        info = store.resolve(image)
        out = prepare_output(directory, overwrite, opts.dir)
        with store.checked_blob(info.id) as blob:
            aci.extract(blob, out, rootfs_only=rootfs_only)
