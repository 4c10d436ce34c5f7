"""`rkt image build [--compression=gzip|none] [--overwrite] LAYOUT_DIR OUT.aci`: a validated,
deterministic ACI from a layout directory (`manifest` + `rootfs/`), like appc's `actool build`."""

from __future__ import annotations

import os

import click

from rkt.cli._click import CONTEXT_SETTINGS
from rkt.errors import RktError


@click.command(context_settings=CONTEXT_SETTINGS, help="Build an ACI from a layout directory")
@click.option("--compression", type=click.Choice(["gzip", "none"]), default="gzip",
              show_default=True, help="compression of the output ACI")
@click.option("--overwrite", is_flag=True, help="overwrite the output ACI if it exists")
@click.argument("layout_dir")
@click.argument("output")
def command(compression: str, overwrite: bool, layout_dir: str, output: str) -> None:
    from rkt.aci import build_aci

    if os.path.isdir(output):
        raise RktError(f"{output}: is a directory")
    if os.path.lexists(output) and not overwrite:
        raise RktError(f"{output}: already exists (use --overwrite to replace it)")
    build_aci(layout_dir, output, compression)
