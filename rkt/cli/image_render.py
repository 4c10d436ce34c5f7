"""`rkt image render [--rootfs-only] [--overwrite] IMAGE DIR`: the image with its dependencies."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.errors import RktError
from rkt.fsutil import copy_tree


def prepare_output(directory: str, overwrite: bool, data_dir: Path | None = None) -> Path:
    """An empty output directory: an existing one is an error unless --overwrite replaces it."""
    out = Path(directory)
    if os.path.lexists(out):
        if not overwrite:
            raise RktError(f"{out}: already exists (use --overwrite to replace it)")
        real = out.resolve()
        protected = [Path("/")] + ([Path(data_dir).resolve()] if data_dir is not None else [])
        if any(real == p or real in p.parents for p in protected):
            raise RktError(f"{out}: refusing to overwrite / or a directory holding the rkt data dir")
        if out.is_dir() and not out.is_symlink():
            shutil.rmtree(out)
        else:
            out.unlink()
    out.mkdir(parents=True)
    return out


@click.command(context_settings=CONTEXT_SETTINGS,
               help="Render a stored image to a directory with all its dependencies")
@click.option("--rootfs-only", is_flag=True, help="render rootfs only")
@click.option("--overwrite", is_flag=True, help="overwrite output directory")
@click.argument("image")
@click.argument("directory")
def command(rootfs_only: bool, overwrite: bool, image: str, directory: str) -> None:
    from rkt.store import Store

    with Store(options().dir) as store:
        info = store.resolve(image)
        tree = store.render(info.id)
        out = prepare_output(directory, overwrite, options().dir)
        if rootfs_only:
            copy_tree(tree.rootfs, out)
        else:
            copy_tree(tree.rootfs, out / "rootfs")
            shutil.copy2(tree.path / "manifest", out / "manifest")
