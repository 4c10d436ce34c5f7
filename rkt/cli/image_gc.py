"""`rkt image gc [--grace-period=24h]`: drop unused rendered trees and long-unused images."""

from __future__ import annotations

import click

from rkt.cli._click import CONTEXT_SETTINGS, options


@click.command(context_settings=CONTEXT_SETTINGS, help="Garbage collect local store.\n\n"
               "This is intended to be run periodically from a timer or cron job.\n\n"
               "The default grace period is 24h. Use --grace-period=0s to effectively disable\n"
               "the grace-period.")
@click.option("--grace-period", default="24h", show_default=True,
              help="duration to wait since an image was last used before removing it")
def command(grace_period: str) -> None:
    from rkt.lock import FileLock
    from rkt.store import Store
    from rkt.duration import parse_duration
    from rkt.store.gc import pod_references

    grace = parse_duration(grace_period, "--grace-period")
    if grace < 0:
        raise click.UsageError("--grace-period must not be negative")
    opts = options()
    locks = opts.dir / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    # rkt's prepareLock: run/prepare hold it shared from rendering until the pod dir names
    # its trees, so nothing can be collected in between.
    with Store(opts.dir) as store, FileLock(locks / "prepareLock") as prepare:
        prepare.exclusive()
        used_trees, used_images = pod_references(opts.dir)
        used_images |= {store.tree_image(t) for t in used_trees} - {None}
        for tree_id in store.gc_trees(used_trees):
            click.echo(f"successfully removed treestore {tree_id}")
        for image_id in store.gc_images(grace, used_images, frozenset(used_trees)):
            click.echo(f'successfully removed aci for image: "{image_id}"')
        store.gc_blobs()
        store.clean_tmp()
        from rkt.fetch.docker import cache

        cache.gc(store)  # docker layers no remaining image was converted from
