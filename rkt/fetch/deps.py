"""Dependencies of a fetched image, fetched before it is committed (appc's acirenderer needs
them all): each by discovery of its name and labels, its ID checked when the manifest pins one,
its size capped when the manifest declares one. A dependency already stored is used as is."""

from __future__ import annotations

from rkt.errors import RktError

MAX_DEPTH = 32


def _stored(store, dep) -> bool:
    if dep.image_id:
        return store.get(dep.image_id) is not None
    return store.find(dep.image_name, {l.name: l.value for l in dep.labels}) is not None


def missing(store, manifest) -> list:
    """The manifest's dependencies not in the store (no network, no heavy imports)."""
    return [dep for dep in manifest.dependencies if not _stored(store, dep)]


def fetch_dependencies(fetcher, manifest, depth: int) -> None:
    store = fetcher.store
    for dep in missing(store, manifest):
        labels = {l.name: l.value for l in dep.labels}
        if depth + 1 > MAX_DEPTH:
            raise RktError(f"dependencies of {manifest.name} nest deeper than {MAX_DEPTH}")
        from rkt.fetch.names import fetch_by_name  # names -> remote -> deps: import late

        try:
            fetch_by_name(fetcher, dep.image_name, labels, image_id=dep.image_id,
                          max_size=dep.size or None, depth=depth + 1, policy="new")
        except RktError as err:
            raise err.within(f"dependency {dep.image_name} of {manifest.name}") from None
