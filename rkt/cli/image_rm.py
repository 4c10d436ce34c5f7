"""`rkt image rm IMAGE...`: remove images by ID, unique ID prefix or name."""

from __future__ import annotations

import sys

import click

from rkt.cli._click import CONTEXT_SETTINGS, options
from rkt.errors import EXIT_FAILURE, RktError


@click.command(context_settings=CONTEXT_SETTINGS,
               help="Remove one or more images with the given IDs or image names from the local store")
@click.argument("images", nargs=-1, required=True)
def command(images: tuple[str, ...]) -> int:
    from rkt.store import Store
    from rkt.store.gc import pod_references

    opts = options()
    failed = removed = 0
    with Store(opts.dir) as store:
        used_trees, _ = pod_references(opts.dir)
        for ref in images:
            try:
                info = store.resolve(ref)
                store.remove(info.id, keep_trees=frozenset(used_trees))
            except RktError as err:
                print(f"rkt: image {ref}: {err}", file=sys.stderr)
                failed += 1
                continue
            click.echo(f'successfully removed aci for image: "{info.id}"')
            removed += 1
    if removed:
        click.echo(f"rm: {removed} image(s) successfully removed")
    if failed:
        print(f"rkt: {failed} image(s) cannot be removed", file=sys.stderr)
        return EXIT_FAILURE
    return 0
