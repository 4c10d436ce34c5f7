"""`rkt image export [--overwrite] IMAGE OUT.aci`: the stored ACI, byte for byte (same ID)."""

from __future__ import annotations

import hashlib
import os
import tempfile

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.errors import RktError


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
        out_dir = os.path.dirname(os.path.abspath(output))
        try:
            src = open(store.blob_path(info.id), "rb")
        except FileNotFoundError:
            raise RktError(f"image {info.short_id}: its blob is missing from the store") from None
        with src:
            fd, tmp = tempfile.mkstemp(prefix=".rkt-export-", dir=out_dir)
            try:
                digest = hashlib.sha512()
                with os.fdopen(fd, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        digest.update(chunk)
                        dst.write(chunk)
                    dst.flush()
                    os.fsync(dst.fileno())
                if "sha512-" + digest.hexdigest() != info.id:
                    raise RktError(f"image {info.short_id}: its blob in the store is damaged "
                                   "(hash mismatch); nothing exported")
                os.chmod(tmp, 0o644)
                os.replace(tmp, output)
            except BaseException:
                os.unlink(tmp)
                raise
