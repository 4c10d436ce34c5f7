"""Getting an image into the store from whatever the user named: the one entry point.

An image string is a path (`/x.aci`, `./x.aci`, `x.aci`, `file://...`), an image ID or ID
prefix (`sha512-...`), or an appc name (`example.com/app:1.0,os=linux`), as rkt's
`DistFromImageString` decides. Files are verified against the trust store unless
`--insecure-options=image`; the gpg check runs in a thread while the import pass streams the
file, and the image is committed only once both are done and good. Names and IDs come from the
store, or else (by pull policy) from the network: appc discovery or an http(s) URL
(rkt.fetch.names, rkt.fetch.remote).
"""

from __future__ import annotations

import os
from pathlib import Path

from rkt.errors import RktError, UsageError

PULL_POLICIES = ("new", "update", "never")
ACI_EXTENSION = ".aci"
_REMOTE_SCHEMES = ("http://", "https://", "docker://")
# Docker/OCI sources (rkt.fetch.docker): a registry, an OCI layout, or an archive.
_DOCKER_SCHEMES = ("docker://", "oci:", "oci-archive:", "docker-archive:")


def classify(ref: str) -> tuple[str, str]:
    """("path" | "id" | "name" | "remote", value) for an image string."""
    if not ref:
        raise RktError("empty image string")
    if ref.startswith("file://"):
        path = ref[len("file://"):]
        if not path:
            raise RktError(f'image "{ref}": empty file path')
        return "path", path
    if ref.startswith(_REMOTE_SCHEMES):
        return "remote", ref
    if "://" in ref:
        scheme = ref.split("://", 1)[0]
        raise RktError(f'image "{ref}": unsupported scheme "{scheme}"')
    if ref.startswith("sha512-"):
        return "id", ref
    if os.path.isabs(ref) or ref.startswith(("./", "../")) or ref.endswith(ACI_EXTENSION):
        return "path", ref
    return "name", ref


def debug(opts, message: str) -> None:
    """rkt's `--debug` lines of image resolution, `image: ...` on stderr (scripts grep them);
    the one place they are printed (rkt.fetch.http.debug adds URL scrubbing)."""
    if opts.debug:
        from rkt import report

        report.info(f"image: {message}")


def fetch(opts, store, ref: str, *, signature: str | os.PathLike | None = None,
          pull_policy: str = "new") -> str:
    """Make the image `ref` available in `store`; its full image ID."""
    if pull_policy not in PULL_POLICIES:
        raise UsageError(f"--pull-policy: unknown policy {pull_policy!r} "
                         f"(known: {', '.join(PULL_POLICIES)})")
    if ref.startswith(_DOCKER_SCHEMES):
        from rkt.fetch.docker import fetch_docker

        return fetch_docker(opts, store, ref, pull_policy=pull_policy)
    kind, value = classify(ref)
    if kind == "path":
        # A file is read whatever the pull policy, as in rkt.
        debug(opts, f"using image from file {os.path.abspath(value)}")
        return fetch_file(opts, store, Path(value), signature=signature, pull_policy=pull_policy)
    if kind == "id":
        image_id = store.resolve(value).id
        debug(opts, f"using image from the store with hash {image_id}")
        return image_id
    if kind == "name" and pull_policy != "update":
        try:
            image_id = store.resolve(value).id  # no network (nor requests import) when stored
            debug(opts, f"using image from local store for image name {value}")
            return image_id
        except RktError:
            if pull_policy == "never":
                raise RktError(f'image "{ref}" is not in the store and --pull-policy=never') from None
    from rkt.fetch import names
    from rkt.store import parse_image_string

    with names.remote_fetcher(opts, store, pull_policy=pull_policy, signature=signature) as fetcher:
        if kind == "remote":
            image_id = names.fetch_url(fetcher, value)
        else:
            name, labels = parse_image_string(value)
            image_id = names.fetch_by_name(fetcher, name, labels)
        if os.geteuid() == 0 and store.manifest(image_id).dependencies:
            store.render(image_id)  # as rkt (as root): the tree a run needs, made at fetch time
        return image_id


def fetch_file(opts, store, path: Path, *, signature=None, pull_policy: str = "new") -> str:
    src = _open_regular(path)
    with src:
        try:
            return _import_file(opts, store, path, src, signature, pull_policy)
        except RktError as err:
            raise err.within(f"fetching {path}") from None


def _open_regular(path: Path):
    """The file opened for reading, refused unless regular (a FIFO or device would block or
    never end); O_NONBLOCK keeps the open itself from hanging on a FIFO."""
    import fcntl
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise RktError(f"image file {path}: not found") from None
    except OSError as err:
        raise RktError(f"image file {path}: {err.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise RktError(f"image file {path}: is a directory" if stat.S_ISDIR(mode)
                       else f"image file {path}: not a regular file")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return os.fdopen(fd, "rb")


def _import_file(opts, store, path: Path, src, signature, pull_policy: str) -> str:
    if opts.insecure_for("image"):
        return store.import_aci(src, verify=_with_dependencies(opts, store, None, pull_policy))
    asc = Path(signature) if signature else Path(f"{path}.asc")
    if not asc.exists():
        raise RktError(f"error opening signature file {asc}: no such file or directory; sign the "
                       "image, pass --signature=FILE, or skip verification with --insecure-options=image")
    # gpg reads the very file we import (through our fd), not whatever the path names by
    # then: swapping the file mid-fetch cannot get an unsigned image past the check.
    same_file = Path(f"/proc/{os.getpid()}/fd/{src.fileno()}")
    check = _SignatureCheck(opts, same_file, asc, _peek_name(same_file), shown_as=path)
    try:
        return store.import_aci(src, verify=_with_dependencies(opts, store, check, pull_policy))
    finally:
        check.join()


def _with_dependencies(opts, store, verify, pull_policy: str):
    """The import's verify hook, plus: dependencies missing from the store are fetched by
    discovery (as rkt does for any image) before the image is committed."""
    def hook(result) -> None:
        if verify is not None:
            verify(result)
        from rkt.fetch.deps import fetch_dependencies, missing  # light: rkt.errors only

        if pull_policy != "never" and missing(store, result.manifest):
            from rkt.fetch import names

            with names.remote_fetcher(opts, store, pull_policy="new") as fetcher:
                fetch_dependencies(fetcher, result.manifest, 0)
    return hook


class _SignatureCheck:
    """gpg verification in a thread, started as soon as the image name is known."""

    def __init__(self, opts, aci: Path, asc: Path, name: str | None, *, shown_as: Path):
        self.opts, self.aci, self.asc, self.name = opts, aci, asc, name
        self.shown_as = shown_as
        self.error: BaseException | None = None
        self.thread = None
        if name is not None:
            import threading

            self.thread = threading.Thread(target=self._run, args=(name,), daemon=True)
            self.thread.start()

    def _run(self, name: str) -> None:
        from rkt.trust.verify import verify

        try:
            verify(self.opts, name, self.aci, self.asc)
        except RktError as err:  # handed to the importing thread
            self.error = RktError(err.message.replace(str(self.aci), str(self.shown_as)))
        except BaseException as err:
            self.error = err

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def __call__(self, result) -> None:
        name = result.manifest.name
        if self.thread is None:
            self._run(name)
        else:
            self.thread.join()
            if name != self.name:
                raise RktError(f"image file {self.aci}: manifest name changed while reading it")
        if self.error is not None:
            if isinstance(self.error, RktError):
                raise self.error
            raise RktError(f"signature check failed: {self.error}")


def _peek_name(path: Path) -> str | None:
    try:
        f = open(path, "rb")
    except OSError:
        return None
    with f:
        return peek_name(f)


def peek_name(src) -> str | None:
    """The image name from a manifest among the first tar members of the (possibly
    compressed) ACI read from `src`, if it is there.

    ACIs normally start with their manifest; then the signature check can start before the
    (long) import pass. Anything unusual, a truncated start included, returns None and the
    check simply runs after it.
    """
    import json
    import tarfile

    try:
        with tarfile.open(fileobj=src, mode="r|*") as tf:
            for _ in range(4):
                member = tf.next()
                if member is None:
                    return None
                if member.name.strip("/") == "manifest" and member.isfile():
                    if member.size > 1 << 20:
                        return None
                    data = json.loads(tf.extractfile(member).read())
                    name = data.get("name") if isinstance(data, dict) else None
                    return name if isinstance(name, str) and name else None
    except Exception:  # hostile input is judged by the import pass, not here
        return None
    return None
