"""Docker and OCI images: resolved from a registry, an OCI layout or an archive, squashed into
one ACI and imported into the store like any other image.

`fetch_docker` is what `rkt.fetch.fetch` calls for `docker://`, `oci:`, `oci-archive:` and
`docker-archive:` images. Docker images are never signed, so `--insecure-options=image` is
required, as in rkt. An image already converted from the same manifest digest is found by
its annotations before any layer is read, so fetching it again downloads nothing.
"""

from __future__ import annotations

import os
import threading

from rkt.errors import RktError

LOCAL_SCHEMES = ("oci:", "oci-archive:", "docker-archive:")
SCHEMES = ("docker://",) + LOCAL_SCHEMES


def is_docker_image(ref: str) -> bool:
    return ref.startswith(SCHEMES)


def fetch_docker(opts, store, ref: str, *, pull_policy: str = "new") -> str:
    """Fetch, convert and store the image `ref`; its image ID."""
    if not opts.insecure_for("image"):
        raise RktError(f'image "{ref}": Docker and OCI images cannot be signature-verified; '
                       "fetching them needs --insecure-options=image")
    if ref.startswith("docker://"):
        from rkt.fetch.docker.reference import parse_reference

        parsed = parse_reference(ref)
        if pull_policy != "update":
            found = store.find(parsed.aci_name, {"version": parsed.version})
            if found is not None:
                return found.id
            if pull_policy == "never":
                raise RktError(f'image "{ref}" is not in the store and --pull-policy=never')
        from rkt.fetch.docker import registry

        reg, image = registry.resolve(opts, store, parsed, ref)
        try:
            existing = find_converted(store, image)
            if existing is not None:
                return existing
            image = open_layers(image)  # all downloaded before the conversion starts
        finally:
            reg.close()
    else:
        from rkt.fetch.docker import sources

        image = sources.load(ref)
        existing = find_converted(store, image)
        if existing is not None:
            return existing
    return convert_into_store(store, image)


def open_layers(image):
    """The image with every layer opened now (downloaded, for a registry): an error shows
    before any conversion, and a concurrent `image gc` cannot take a cached layer away."""
    import dataclasses

    files = []
    try:
        for layer in image.layers:
            files.append(layer.open())
    except BaseException:
        for f in files:
            f.close()
        raise
    return dataclasses.replace(image, layers=tuple(
        dataclasses.replace(layer, open=lambda f=f: f) for layer, f in zip(image.layers, files)))


def find_converted(store, image) -> str | None:
    """The stored image converted from the same manifest digest, name and tag, if any."""
    from rkt.fetch.docker.cache import stored_annotations

    for info in store.index.with_name(image.name):
        if info.labels.get("version") != image.tag:
            continue
        if stored_annotations(store, info.id).get("appc.io/docker/manifesthash") == image.digest:
            return info.id
    return None


def convert_into_store(store, image) -> str:
    """Squash the layers into an ACI streamed through a pipe into the store's import."""
    from rkt.aci import Limits
    from rkt.fetch.docker.convert import image_manifest
    from rkt.fetch.docker.squash import Squasher

    read_fd, write_fd = os.pipe()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            squasher = Squasher(write_fd)
            budget = Limits().max_bytes
            for layer in reversed(image.layers):
                with layer.open() as src:
                    budget -= squasher.add_layer(src, layer.digest, budget)
            squasher.finish(image_manifest(image, squasher.accounts,
                                           [layer.digest for layer in image.layers]))
        except BaseException as err:  # handed to the importing thread
            failure.append(err)
        finally:
            os.close(write_fd)

    thread = threading.Thread(target=produce, name="docker-squash", daemon=True)
    thread.start()
    import_error = None
    try:
        with os.fdopen(read_fd, "rb") as src:
            image_id = store.import_aci(src)
    except RktError as err:
        import_error = err
    finally:
        thread.join()
    if failure and isinstance(failure[0], RktError):
        raise failure[0].within(f'converting "{image.original or image.name}"')
    if import_error is not None:
        raise import_error.within(f'converting "{image.original or image.name}"')
    if failure:
        err = failure[0]
        if isinstance(err, OSError):
            raise RktError(f'converting "{image.original}": {err.strerror or err}')
        raise err
    return image_id
