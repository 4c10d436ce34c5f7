"""Fetching an ACI over HTTPS into the store: signature first, then one streaming pass.

The `.asc` is downloaded before the image and its signer checked against the trust store, so
an untrusted signer fails without the image ever being requested (HTTP 202 on the signature
means "deferred": the image comes first, then the signature). The image body then streams
once: into a partial file in `cas/tmp/partial/` (what a retry resumes from with Range), into
gpg through a pipe, and into the store's import pass; the image is committed only once the
manifest matches the request, gpg accepted the signature and every dependency is stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from rkt.closing import Closing
from rkt.errors import RktError
from rkt.fetch.http import Client, HttpError, debug
from rkt.fsutil import write_all
from rkt.trust.verify import MAX_SIGNATURE_SIZE

PARTIAL_MAX_AGE = 7 * 86400  # an interrupted download nobody retried for a week is dropped


def _default_max_download() -> int:
    from rkt.aci import Limits, size_from_env

    limit = size_from_env("RKT_MAX_DOWNLOAD_SIZE")
    return Limits().max_bytes if limit is None else limit


@dataclasses.dataclass(frozen=True)
class Request:
    """One ACI to fetch: where from, and what the fetched manifest must say."""

    aci_url: str
    asc_url: str | None
    name: str | None = None            # the discovered name; None for a plain URL
    labels: tuple[tuple[str, str], ...] = ()   # requested labels, checked on the manifest
    implicit: tuple[str, ...] = ()     # labels we added (os/arch): absent in the manifest is fine
    pubkeys: tuple[str, ...] = ()      # discovered key URLs (--trust-keys-from-https)
    image_id: str | None = None        # a dependency's pinned ID
    max_size: int | None = None        # a dependency's declared size


class RemoteFetcher(Closing):
    def __init__(self, opts, store, client: Client, *, pull_policy: str, signature=None):
        self.opts, self.store, self.client = opts, store, client
        self.pull_policy, self.signature = pull_policy, signature

    def close(self) -> None:
        self.client.close()

    # -- the cache (remote table) ------------------------------------------------------------

    def cached(self, aci_url: str):
        """The remote row for `aci_url` if its image is still stored."""
        row = self.store.index.get_remote(aci_url)
        if row is None or self.store.get(row.image_id) is None:
            return None
        return row

    def _record(self, req: Request, image_id: str, resp_etag, max_age: int) -> None:
        from rkt.store.db import Remote

        self.store.index.set_remote(Remote(req.aci_url, req.asc_url, resp_etag, image_id, max_age,
                                           time.time_ns()))

    # -- fetching ------------------------------------------------------------------------------

    def fetch(self, req: Request, *, depth: int = 0) -> str:
        row = self.cached(req.aci_url)
        if row is not None:
            if self.pull_policy in ("new", "never"):
                return row.image_id
            age = (time.time_ns() - (row.download_time or 0)) / 1e9
            if row.cache_max_age and age < row.cache_max_age:
                debug(self.client.config, f"using cached image for {req.aci_url} (max-age "
                      f"{row.cache_max_age}s, {int(age)}s old)")
                return row.image_id
        elif self.pull_policy == "never":
            raise RktError(f"image {req.aci_url} is not in the store and --pull-policy=never")
        debug(self.client.config, f"remote fetching from URL {_q(req.aci_url)}")
        if self.opts.insecure_for("tls") and not self.opts.insecure_for("image"):
            from rkt import report

            report.info("image: warning: TLS verification has been disabled")  # rkt 1.30's
        signature, deferred = self._signature(req)
        if signature is not None:
            self._check_signer(req.name, signature, req.pubkeys, req.aci_url)
        partial = self._partial_path(req.aci_url)
        from rkt.lock import FileLock

        with FileLock(partial.with_name(partial.name + ".lock")) as lock:
            lock.exclusive()  # one download of a URL at a time: they share the partial file
            done = self.cached(req.aci_url)
            if done is not None and (row is None or done.download_time != row.download_time):
                # Another fetch of this URL finished while we waited for the lock: its result
                # is as fresh as ours would be.
                debug(self.client.config, f"{req.aci_url}: fetched meanwhile by another rkt")
                return done.image_id
            debug(self.client.config, f"fetching image from {req.aci_url}")
            body = self.client.open_resumable(
                req.aci_url, partial, max_bytes=req.max_size or _default_max_download(),
                what="ACI", not_modified=row.etag if row is not None else None)
            if body is None:  # 304: what we have is current
                debug(self.client.config, f"{req.aci_url}: not modified, using the stored image")
                self._record(req, row.image_id, row.etag, row.cache_max_age)
                return row.image_id
            etag, max_age = body.response.etag, body.response.max_age
            image_id = self._import(req, body, signature, deferred, partial, depth)
            self._record(req, image_id, etag, max_age)  # under the lock: a waiter finds it
        return image_id

    def _partial_path(self, url: str) -> Path:
        from rkt.store.store import KEEP_IN_TMP

        directory = self.store.cas / "tmp" / KEEP_IN_TMP
        directory.mkdir(exist_ok=True)
        for entry in os.scandir(directory):
            try:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > PARTIAL_MAX_AGE:
                    os.unlink(entry.path)
            except OSError:
                pass
        return directory / hashlib.sha256(url.encode()).hexdigest()[:40]

    def _signature(self, req: Request) -> tuple[bytes | None, bool]:
        """(signature bytes or None when not checked, deferred)."""
        if self.opts.insecure_for("image"):
            return None, False
        if self.signature is not None:
            from rkt.trust.verify import read_signature_file

            return read_signature_file(self.signature), False
        if req.asc_url is None:
            raise RktError(f"image {req.aci_url}: no signature URL; pass --signature=FILE or "
                           "skip verification with --insecure-options=image")
        debug(self.client.config, f"downloading signature from {req.asc_url}")
        try:
            resp = self.client.open(req.asc_url, ok=(200, 202), what="signature")
        except HttpError as err:
            hint = "" if err.status is None else \
                " (sign the image, or skip verification with --insecure-options=image)"
            raise RktError(err.message + hint) from None
        with resp:
            if resp.status == 202:
                debug(self.client.config, "server requested deferring the signature download")
                return None, True
            return resp.read_all(MAX_SIGNATURE_SIZE), False

    def _check_signer(self, name: str | None, signature: bytes, pubkeys: tuple[str, ...],
                      url: str) -> None:
        """Refuse early (before the image is requested) a signature by a key not trusted for
        `name` (for a plain URL, whose image name is not known yet: by no key at all); with
        --trust-keys-from-https, discovered keys are trusted first if none is."""
        from rkt.trust.keystore import Keystore
        from rkt.trust.openpgp import signature_issuer

        keystore = Keystore(self.opts)
        trusted = keystore.trusted_keys(name) if name else keystore.all_keys()
        if name and not trusted and self.opts.trust_keys_from_https and pubkeys:
            from rkt.fetch.discovery import fetch_pubkeys

            for key_url, key in fetch_pubkeys(self.client, pubkeys):
                path = keystore.add(key, prefix=name)
                debug(self.client.config, f"trusted key {key.fingerprint} from {key_url} for "
                      f"prefix {name} at {path}")
            trusted = keystore.trusted_keys(name)
        fingerprint, key_id = signature_issuer(signature)
        signer = fingerprint or key_id
        if not signer:
            return  # gpg will judge (and name) it
        for entry in trusted:
            try:
                key = entry.load()
            except RktError:
                continue  # a broken key file is reported by the full check, if it matters
            for fp in (key.fingerprint, *key.subkey_fingerprints):
                if fp == fingerprint or fp.endswith(key_id or "-"):
                    return
        if name:
            raise RktError(f"image {name} is signed by untrusted key {signer.upper()}: no key "
                           f"trusted for prefix {name} (or a parent prefix, or root) matches; "
                           f"trust its key with: rkt trust --prefix {name}")
        raise RktError(f"image {url} is signed by untrusted key {signer.upper()}: no key in the "
                       "trust store matches; trust its key with: rkt trust --prefix "
                       "<image name> <key file or URL>")

    def _import(self, req: Request, body, signature, deferred: bool, partial: Path,
                depth: int) -> str:
        work = Path(tempfile.mkdtemp(prefix="rkt-fetch-"))
        stream = tee = None
        try:
            if signature is not None and req.name:
                stream = _StreamingCheck(self.opts, req.name, signature, work, req.aci_url)
            tee = _Tee(body, stream)
            if signature is not None and not req.name:
                # A plain URL: the name gpg checks the signer against is in the manifest, the
                # first member of a normal ACI; gpg starts (and catches up) once it is read.
                tee.start_later = lambda name: _StreamingCheck(self.opts, name, signature, work,
                                                               req.aci_url)

            def verify(result) -> None:
                tee.drain()  # the signature covers the whole file, trailing bytes too
                body.sink.flush()
                _check_manifest(req, result.manifest, result.image_id, result.size)
                if tee.check is not None:
                    tee.check.result(result.manifest.name)
                elif not self.opts.insecure_for("image"):
                    sig = signature if signature is not None else self._deferred_signature(req)
                    debug(self.client.config, f"{req.aci_url}: checking the signature of the "
                          "downloaded file")
                    asc = work / "sig.asc"
                    asc.write_bytes(sig)
                    from rkt.trust.verify import verify as gpg_verify

                    try:
                        gpg_verify(self.opts, result.manifest.name, partial, asc)
                    except RktError as err:
                        raise RktError(err.message.replace(str(partial), req.aci_url)) from None
                from rkt.fetch.deps import fetch_dependencies

                fetch_dependencies(self, result.manifest, depth)

            limits = None
            if req.max_size:
                from rkt.aci import Limits

                limits = Limits(max_bytes=req.max_size)
            try:
                image_id = self.store.import_aci(tee, verify=verify, limits=limits)
            except HttpError as err:
                body.close()  # interrupted: the partial file stays for a resumed retry
                raise RktError(err.message) from None
            except RktError as err:
                body.close(keep_partial=False)
                if req.aci_url in err.message:
                    raise
                raise err.within(f"image {req.aci_url}") from None
            except BaseException:
                body.close(keep_partial=False)
                raise
            body.finish()
            return image_id
        finally:
            if tee is not None and tee.check is not None:
                tee.check.abandon()
            shutil.rmtree(work, ignore_errors=True)

    def _deferred_signature(self, req: Request) -> bytes:
        if req.asc_url is None:
            raise RktError(f"image {req.aci_url}: no signature URL")
        debug(self.client.config, f"downloading signature from {req.asc_url}")
        try:
            return self.client.get_bytes(req.asc_url, max_bytes=MAX_SIGNATURE_SIZE,
                                         what="signature").data
        except HttpError as err:
            raise RktError(err.message) from None


def _q(text: str) -> str:
    """Go's %q, as rkt's debug lines quote URLs."""
    import json

    return json.dumps(text)


def _check_manifest(req: Request, manifest, image_id: str, size: int) -> None:
    """The fetched image must be what was asked for (appc discovery's MUST)."""
    if req.name and manifest.name != req.name:
        raise RktError(f"image fetched from {req.aci_url} is named {manifest.name!r}, not the "
                       f"requested {req.name!r}")
    have = {l.name: l.value for l in manifest.labels}
    for key, value in req.labels:
        if key not in have and key in req.implicit:
            continue
        if have.get(key) != value:
            got = f"{have[key]!r}" if key in have else "missing"
            raise RktError(f"image fetched from {req.aci_url}: label {key!r} is {got}, not the "
                           f"requested {value!r}")
    if req.image_id and image_id != req.image_id:
        raise RktError(f"image fetched from {req.aci_url} has ID {image_id[:39]}, not the "
                       f"pinned {req.image_id[:39]}")
    if req.max_size and size > req.max_size:
        raise RktError(f"image fetched from {req.aci_url} is {size} bytes, over its declared "
                       f"size {req.max_size}")


PEEK_MAX_BYTES = 4 << 20  # a manifest not found in this much of the body: gpg runs after


class _Tee:
    """The body as the import pass reads it, copied into gpg's pipe on the way.

    With `start_later` set (the image name, hence the trusted keys, not known yet), the first
    bytes are held until the manifest shows in them, then gpg starts and is fed them; if it
    does not show early, the caller verifies the kept partial file afterwards."""

    def __init__(self, body, check: "_StreamingCheck | None"):
        self.body, self.check = body, check
        self.start_later = None
        self._held: list[bytes] = []
        self._held_bytes, self._next_peek = 0, 4096

    def read(self, n: int = 1 << 20) -> bytes:
        data = self.body.read(n)
        if self.start_later is not None:
            self._hold(data)
        elif self.check is not None:
            if data:
                self.check.feed(data)
            else:
                self.check.end()
        return data

    def _hold(self, data: bytes) -> None:
        self._held.append(data)
        self._held_bytes += len(data)
        if data and self._held_bytes < min(self._next_peek, PEEK_MAX_BYTES):
            return  # the import pass reads small pieces at first: peek at doubling sizes
        self._next_peek *= 2
        name = _peek_name(b"".join(self._held))
        if name is None and data and self._held_bytes < PEEK_MAX_BYTES:
            return
        start, self.start_later = self.start_later, None
        held, self._held = self._held, []
        if name is None:
            return  # no manifest up front (or the body ended): verified from the file after
        self.check = start(name)
        debug(self.body.config, f"{name}: checking the signature while downloading")
        for chunk in held:
            if chunk:
                self.check.feed(chunk)
        if not data:
            self.check.end()

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


class _StreamingCheck:
    """gpg verifying the body while it downloads: gpg reads the data from a pipe we feed."""

    def __init__(self, opts, name: str, signature: bytes, work: Path, shown_as: str):
        self.shown_as = shown_as
        self.asc = work / "sig.asc"
        self.asc.write_bytes(signature)
        self.read_fd, self.write_fd = os.pipe()
        self.name = name
        self.signer: str | None = None
        self.error: BaseException | None = None
        data = Path(f"/proc/{os.getpid()}/fd/{self.read_fd}")
        self.data_path = str(data)
        self.thread = threading.Thread(target=self._run, args=(opts, data), daemon=True)
        self.thread.start()

    def _run(self, opts, data: Path) -> None:
        from rkt.trust.verify import verify

        try:
            self.signer = verify(opts, self.name, data, self.asc)
        except BaseException as err:  # handed to the importing thread
            self.error = err
        finally:
            # With gpg gone, our own read end must go too, or feeding the pipe would block.
            os.close(self.read_fd)
            self.read_fd = -1

    def feed(self, data: bytes) -> None:
        if self.write_fd < 0:
            return
        try:
            write_all(self.write_fd, data)
        except BrokenPipeError:
            self.end()  # gpg stopped reading; its verdict says why

    def end(self) -> None:
        if self.write_fd >= 0:
            os.close(self.write_fd)
            self.write_fd = -1

    def result(self, manifest_name: str) -> str:
        self.end()
        self.thread.join()
        if self.error is not None:
            if isinstance(self.error, RktError):
                raise RktError(self.error.message.replace(self.data_path, self.shown_as))
            raise RktError(f"signature check failed: {self.error}")
        if manifest_name != self.name:
            raise RktError(f"image is named {manifest_name!r}, not {self.name!r}")
        return self.signer

    def abandon(self) -> None:
        self.end()
        self.thread.join()


def _peek_name(prefix: bytes) -> str | None:
    """The image name from a manifest among the first tar members of `prefix` (the start of
    a possibly compressed ACI), or None when it is not (yet) there."""
    import io

    from rkt.fetch import peek_name

    return peek_name(io.BytesIO(prefix))
