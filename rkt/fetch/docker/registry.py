"""A Docker Registry HTTP API v2 client: ping, authenticate, resolve a manifest, fetch blobs.

The `/v2/` ping picks the scheme (HTTPS; plain HTTP only with `--insecure-options=http`)
and the auth challenge: `Bearer` gets a token from the realm (anonymously or with the
registry's credentials), `Basic` sends the credentials. Manifest lists and OCI indexes are
resolved to linux/amd64; schema 1 is refused. Every blob is checked against its digest while
it streams, and layers land in the layer cache (rkt.fetch.docker.cache) before conversion.
"""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import urlencode

from rkt.config import basic_authorization
from rkt.errors import RktError
from rkt.fetch.docker import cache
from rkt.fetch.docker import image as im

ACCEPT = ", ".join((im.OCI_INDEX, im.DOCKER_LIST, im.OCI_MANIFEST, im.DOCKER_MANIFEST,
                    im.DOCKER_V1_SIGNED, im.DOCKER_V1))
_ANY_STATUS = tuple(range(100, 600))
_CHALLENGE_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
MAX_TOKEN = 1 << 20
MAX_LAYER = 64 << 30


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(`bearer`|`basic`|..., params) of a WWW-Authenticate header."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
              for m in _CHALLENGE_PARAM.finditer(rest)}
    return scheme.lower(), params


def _registry_errors(data: bytes) -> str:
    try:
        errors = json.loads(data).get("errors") or []
        return "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ")
                         for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        return ""


def _rate_hint(headers) -> str:
    hints = []
    for key in ("retry-after", "ratelimit-reset", "x-ratelimit-reset"):
        if headers.get(key):
            hints.append(f"retry after {headers[key]}" + ("s" if headers[key].isdigit() else ""))
            break
    if headers.get("ratelimit-limit"):
        hints.append(f"limit {headers['ratelimit-limit']}")
    if headers.get("ratelimit-remaining"):
        hints.append(f"remaining {headers['ratelimit-remaining']}")
    return f" ({', '.join(hints)})" if hints else ""


class Registry:
    """One repository on one registry, with its scheme and credentials settled once."""

    def __init__(self, opts, registry: str, repository: str):
        from rkt.fetch.docker.auth import credentials
        from rkt.fetch.http import Client, HttpConfig

        self.opts = opts
        self.registry, self.repository = registry, repository
        # auth.d `auth` entries are for appc hosts; registries use dockerAuth (as rkt)
        self.client = Client(HttpConfig.from_options(opts, with_auth=False))
        self.creds = credentials(opts, registry)
        self.base = ""
        self.auth: dict[str, str] = {}

    def close(self) -> None:
        self.client.close()

    def _who(self) -> str:
        return f"{self.registry}/{self.repository}"

    # -- connection and authentication ------------------------------------------------------

    def connect(self) -> None:
        from rkt.fetch.http import HttpError

        try:
            resp = self.client.open(f"https://{self.registry}/v2/", ok=_ANY_STATUS,
                                    what=f"registry {self.registry}")
            self.base = f"https://{self.registry}"
        except HttpError as err:
            if err.status is not None:
                raise
            if not self.opts.insecure_for("http"):
                raise RktError(f"{err.message}; a plain-HTTP registry needs "
                               "--insecure-options=http") from None
            resp = self.client.open(f"http://{self.registry}/v2/", ok=_ANY_STATUS,
                                    what=f"registry {self.registry}")
            self.base = f"http://{self.registry}"
        with resp:
            if resp.status == 401:
                self._authenticate(resp.headers.get("www-authenticate", ""))
            elif resp.status != 200:
                self._fail(resp, "ping")

    def _authenticate(self, challenge: str) -> None:
        scheme, params = parse_challenge(challenge)
        basic = basic_authorization(*self.creds) if self.creds is not None else None
        if scheme == "basic":
            if basic is None:
                raise RktError(f"{self._who()}: unauthorized: the registry requires credentials "
                               "(auth.d dockerAuth, ~/.docker/config.json or $REGISTRY_AUTH_FILE)")
            self.auth = {"Authorization": basic}
        elif scheme == "bearer":
            self.auth = {"Authorization": "Bearer " + self._token(params, basic)}
        else:
            raise RktError(f"{self._who()}: unsupported authentication scheme {scheme!r}")

    def _token(self, params: dict[str, str], basic: str | None) -> str:
        realm = params.get("realm")
        if not realm:
            raise RktError(f"{self._who()}: Bearer challenge without a realm")
        query = {"scope": f"repository:{self.repository}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        resp = self.client.open(url, headers={"Authorization": basic} if basic else None,
                                ok=_ANY_STATUS, what="token server")
        with resp:
            data = resp.read_all(MAX_TOKEN)
            if resp.status in (401, 403):
                why = "credentials rejected" if basic else "anonymous access refused"
                raise RktError(f"{self._who()}: unauthorized: the token server says {why} "
                               f"(HTTP {resp.status})")
            if resp.status != 200:
                raise RktError(f"{self._who()}: token server answered HTTP {resp.status}")
        try:
            doc = json.loads(data)
            token = doc.get("token") or doc.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RktError(f"{self._who()}: the token server sent no token")
        return token

    def _fail(self, resp, what: str, reference: str = ""):
        body = b""
        try:
            body = resp.read_all(1 << 16)
        except RktError:
            pass
        detail = _registry_errors(body)
        who = self._who()
        if resp.status == 401:
            hint = "" if self.creds else " (no credentials configured for this registry)"
            raise RktError(f"{who}: unauthorized: {detail or 'authentication required'}{hint}")
        if resp.status == 403:
            raise RktError(f"{who}: access denied: {detail or 'forbidden'}")
        if resp.status == 404 and what == "manifest":
            if "NAME_UNKNOWN" in detail:
                raise RktError(f"{who}: repository not found")
            raise RktError(f'{who}: tag or digest "{reference}" not found')
        if resp.status == 429:
            raise RktError(f"{who}: rate limit exceeded{_rate_hint(resp.headers)}")
        raise RktError(f"{who}: {what}: HTTP {resp.status}" + (f": {detail}" if detail else ""))

    def _get(self, path: str, what: str, reference: str = "", headers: dict | None = None):
        url = f"{self.base}/v2/{self.repository}/{path}"
        resp = self.client.open(url, headers={**self.auth, **(headers or {})}, ok=_ANY_STATUS,
                                what=what)
        challenge = resp.headers.get("www-authenticate", "")
        if resp.status == 401 and challenge and not self.auth:
            # a registry that let the ping through may still challenge for the repository
            resp.close()
            self._authenticate(challenge)
            resp = self.client.open(url, headers={**self.auth, **(headers or {})},
                                    ok=_ANY_STATUS, what=what)
        if resp.status != 200:
            with resp:
                self._fail(resp, what, reference)
        return resp

    # -- manifests and blobs ---------------------------------------------------------------

    def manifest(self, reference: str) -> tuple[dict, str]:
        """(the image manifest, its digest) for a tag or digest, through any index."""
        for _ in range(im.MAX_INDEX_DEPTH):
            with self._get(f"manifests/{reference}", "manifest", reference,
                           {"Accept": ACCEPT}) as resp:
                data = resp.read_all(im.MAX_MANIFEST)
                header_type = resp.headers.get("content-type", "").split(";")[0].strip()
            digest = im.sha256_digest(data)
            if reference.startswith("sha256:") and digest != reference:
                raise RktError(f"{self._who()}: manifest digest mismatch (asked for {reference}, "
                               f"got {digest})")
            doc = im.parse_json(data, f"{self._who()}: manifest")
            kind = im.media_type(doc, header_type)
            if kind in im.INDEX_TYPES:
                reference = im.pick_platform(doc, self._who())["digest"]
                im.check_digest(reference, self._who())
                continue
            if kind not in im.MANIFEST_TYPES:
                raise RktError(f"{self._who()}: unsupported manifest type {kind!r}")
            return doc, digest
        raise RktError(f"{self._who()}: manifest indexes nest too deeply")

    def blob(self, digest: str, max_bytes: int) -> bytes:
        with self._get(f"blobs/{digest}", f"blob {digest}") as resp:
            data = resp.read_all(max_bytes)
        if im.sha256_digest(data) != digest:
            raise RktError(f"{self._who()}: blob {digest}: digest mismatch")
        return data

    def download_layer(self, store, desc: dict):
        """The layer blob from the cache, or downloaded into it (verified); an open file."""
        digest = desc["digest"]
        cached = cache.open_cached(store, digest)
        if cached is not None:
            return cached
        expect = im.check_digest(digest, self._who())
        out, tmp = cache.new_download(store)
        try:
            hasher = hashlib.sha256()
            with self._get(f"blobs/{digest}", f"layer {digest[7:19]}") as resp:
                body = resp.body(max_bytes=MAX_LAYER, progress=None)
                while data := body.read(1 << 20):
                    hasher.update(data)
                    out.write(data)
            if hasher.hexdigest() != expect:
                raise RktError(f"{self._who()}: layer {digest}: digest mismatch (got "
                               f"sha256:{hasher.hexdigest()})")
            out.flush()
            cache.commit(store, tmp, digest)
        except BaseException:
            out.close()
            tmp.unlink(missing_ok=True)
            raise
        out.seek(0)
        return out


def resolve(opts, store, ref, shown: str) -> tuple[Registry, im.DockerImage]:
    """The connected registry and the image `ref` (a parsed Reference) names. Only the
    manifest and config are fetched: opening a layer downloads it (into the layer cache), so
    an image already converted costs no layer transfer."""
    reg = Registry(opts, ref.registry, ref.repository)
    try:
        reg.connect()
        manifest, digest = reg.manifest(ref.reference)
        config_desc, descs = im.layer_descriptors(manifest, shown)
        config = im.parse_json(reg.blob(config_desc["digest"], im.MAX_CONFIG), f"{shown}: config")
    except BaseException:
        reg.close()
        raise
    layers = tuple(im.Layer(d["digest"], str(d.get("mediaType", "")), int(d.get("size") or 0),
                            lambda d=d: reg.download_layer(store, d)) for d in descs)
    return reg, im.DockerImage(name=ref.aci_name, tag=ref.version, registry=ref.registry,
                               repository=ref.repository, digest=digest, original=str(ref),
                               config=config, layers=layers)
