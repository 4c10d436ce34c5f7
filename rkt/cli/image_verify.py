"""`rkt image verify IMAGE...`: re-hash each image's rendered tree; re-render a damaged one."""

from __future__ import annotations

import click

from rkt.cli._click import CONTEXT_SETTINGS, options


@click.command(context_settings=CONTEXT_SETTINGS,
               help="Verify the rendered tree of stored images and repair it")
@click.argument("images", nargs=-1, required=True)
def command(images: tuple[str, ...]) -> None:
    from rkt.store import Store

    messages = {
        "ok": "tree {tree} verified",
        "rendered": "tree {tree} was not rendered; rendered it",
        "repaired": "tree {tree} was damaged (content hash mismatch); re-rendered it",
    }
    with Store(options().dir) as store:
        for ref in images:
            info = store.resolve(ref)
            tree, status = store.verify_image(info.id)
            click.echo(f"{info.short_id}: " + messages[status].format(tree=tree.id))
