"""The HTTP layer every remote fetcher shares (appc discovery, ACI downloads, docker registries).

One `Client` wraps a `requests.Session` and owns the rules a hostile or broken server must
not get around: TLS verified against the system store (or SSL_CERT_FILE/REQUESTS_CA_BUNDLE)
unless `--insecure-options=tls`, `http://` only with `--insecure-options=http` (also after a
redirect), redirects followed by hand so credentials never go to another host, a socket
timeout plus a low-speed limit against slow drips, and a byte cap on every body.

API (kept stable for rkt.fetch.docker and rkt.fetch.remote):

    client = Client(HttpConfig.from_options(opts))       # or HttpConfig(...) directly
    page = client.get_bytes(url, max_bytes=1 << 20, what="discovery page")   # Fetched
    resp = client.open(url, headers={...}, ok=(200, 304))                    # Response
    body = resp.body(max_bytes=N, what="ACI", progress=True)                 # Body: .read(n)
    body = client.open_resumable(url, partial_path, max_bytes=N, what="ACI") # resumes with Range
    body.finish()   # success: drop the partial file;  body.close() keeps it for a retry

Every failure is an `HttpError` (an `RktError`: one line naming the URL). Bodies (caps,
watchdog, partial files, progress bar) live in rkt.fetch.http_body.
"""

from __future__ import annotations

import dataclasses
import os
import ssl
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from rkt.closing import Closing
from rkt.errors import RktError
from rkt.fetch import debug as fetch_debug

MAX_REDIRECTS = 10
CHUNK = 1 << 20
READ_MIN = 1 << 10
SENSITIVE_HEADERS = ("authorization", "proxy-authorization", "cookie")
_SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                   "/etc/ssl/ca-bundle.pem", "/etc/ssl/cert.pem")


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        raise RktError(f"{name}: not a number: {os.environ[name]!r}") from None


class HttpError(RktError):
    """A failed request; `status` is the HTTP status when the server answered."""

    def __init__(self, message: str, *, url: str = "", status: int | None = None):
        super().__init__(message)
        self.url, self.status = url, status

    @classmethod
    def of(cls, what: str, url: str, why: str, *, status: int | None = None) -> "HttpError":
        """The one shape of an HTTP failure: `<what> <url, credentials removed>: <why>`."""
        return cls(f"{what} {redact(url)}: {why}" if what else f"{redact(url)}: {why}",
                   url=url, status=status)


@dataclasses.dataclass(frozen=True)
class HttpConfig:
    insecure_tls: bool = False
    allow_http: bool = False
    # host -> headers carrying its credentials (auth.d); sent only to that host
    auth: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    # Seconds a connect or a single socket read may take (RKT_HTTP_TIMEOUT).
    timeout: float = dataclasses.field(default_factory=lambda: _env_float("RKT_HTTP_TIMEOUT", 30))
    # A body slower than low_speed_limit bytes/s over low_speed_time seconds is abandoned,
    # as curl's --speed-limit/--speed-time (RKT_HTTP_LOW_SPEED_TIME, RKT_HTTP_LOW_SPEED_LIMIT).
    low_speed_time: float = dataclasses.field(
        default_factory=lambda: _env_float("RKT_HTTP_LOW_SPEED_TIME", 60))
    low_speed_limit: float = dataclasses.field(
        default_factory=lambda: _env_float("RKT_HTTP_LOW_SPEED_LIMIT", 4096))
    progress: bool | None = None  # None: a bar when stderr is a terminal
    debug: bool = False

    @classmethod
    def from_options(cls, opts, *, with_auth: bool = True) -> "HttpConfig":
        """The config rkt's global options ask for, with auth.d headers (system < local < user)."""
        auth: tuple = ()
        if with_auth:
            from rkt import config

            merged = config.load(opts)
            auth = tuple(sorted((host, tuple(sorted(a.headers().items())))
                                for host, a in merged.auth.items() if a.headers()))
        return cls(insecure_tls=opts.insecure_for("tls"), allow_http=opts.insecure_for("http"),
                   auth=auth, debug=opts.debug)

    def auth_headers(self, host: str) -> dict[str, str]:
        return dict(dict(self.auth).get(host, ()))


def ca_bundle() -> str | bool:
    """What to verify server certificates against: the standard variables, else the system
    store (requests alone would use certifi's bundle instead of the system's)."""
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        if value := os.environ.get(var):
            return value
    if cert_dir := os.environ.get("SSL_CERT_DIR"):
        return cert_dir
    default = ssl.get_default_verify_paths()
    for candidate in (default.cafile, *_SYSTEM_BUNDLES):
        if candidate and os.path.isfile(candidate):
            return candidate
    return True


def debug(config: HttpConfig, message: str) -> None:
    """rkt.fetch.debug's `image: ...` trace (HttpConfig carries `debug` as the options do),
    with any credentials in the URLs it names scrubbed."""
    if config.debug:
        fetch_debug(config, scrub(message))


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def scrub(text: str) -> str:
    """`text` with the user:password@ part of every URL in it removed (a URL the user typed
    may carry credentials; they are never printed)."""
    import re

    # http(s) only: in docker://NAME@sha256:... the @ starts a digest, not credentials
    return re.sub(r"(https?://)[^/@\s\"']*@", r"\1", text, flags=re.I)


def redact(url: str) -> str:
    """The URL without any user:password@ part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


class Client(Closing):
    def __init__(self, config: HttpConfig | None = None):
        import requests

        self.config = config or HttpConfig()
        self.session = requests.Session()
        # No .netrc credentials or environment CA overrides behind our back: proxies are
        # taken from the environment per request (honouring no_proxy) in _send.
        self.session.trust_env = False
        self.session.verify = False if self.config.insecure_tls else ca_bundle()
        self.session.headers["User-Agent"] = "rkt-python"
        self.session.headers["Accept-Encoding"] = "identity"
        if self.config.insecure_tls:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def close(self) -> None:
        self.session.close()

    # -- requests ------------------------------------------------------------------------------

    def check_scheme(self, url: str, *, context: str = "") -> None:
        scheme = urlsplit(url).scheme
        if scheme == "https":
            return
        if scheme == "http":
            if self.config.allow_http:
                return
            raise HttpError(f"{context}{redact(url)}: plain http is refused; use "
                            "--insecure-options=http to allow it", url=url)
        raise HttpError(f"{context}{redact(url)}: unsupported URL scheme {scheme!r}", url=url)

    def open(self, url: str, *, headers: dict[str, str] | None = None, ok=(200,),
             what: str = "") -> "Response":
        """GET `url`, following redirects under the rules above; the response's status must
        be one of `ok` (else an HttpError naming the status and URL)."""
        self.check_scheme(url)
        origin = _origin(url)
        extra = dict(headers or {})
        first = url
        for _ in range(MAX_REDIRECTS + 1):
            hop = dict(extra)
            if _origin(url) == origin:
                hop = {**self.config.auth_headers(origin[1]), **hop}
            else:
                # Another host (or scheme/port) gets neither auth.d credentials nor the
                # caller's own credentials.
                hop = {k: v for k, v in hop.items() if k.lower() not in SENSITIVE_HEADERS}
            resp = self._send(url, hop, what)
            if resp.status_code in (301, 302, 303, 307, 308) and "location" in resp.headers:
                target = urljoin(url, resp.headers["location"])
                resp.close()
                debug(self.config, f"redirected from {redact(url)} to {redact(target)}")
                self.check_scheme(target, context=f"{redact(url)} redirects to ")
                url = target
                continue
            response = Response(self, resp, url, what)
            if resp.status_code not in ok:
                response.close()
                raise _status_error(resp, url, what)
            return response
        raise HttpError.of(what, first, f"too many redirects (more than {MAX_REDIRECTS})")

    def _send(self, url: str, headers: dict[str, str], what: str):
        import requests
        from requests.utils import get_environ_proxies

        try:
            return self.session.get(url, headers=headers, stream=True, allow_redirects=False,
                                    timeout=(self.config.timeout, self.config.timeout),
                                    proxies=get_environ_proxies(url))
        except requests.exceptions.SSLError as err:
            raise HttpError.of(what, url, f"TLS failure: {_reason(err)} (use "
                               "--insecure-options=tls to skip verification)") from None
        except requests.exceptions.Timeout:
            raise HttpError.of(what, url, f"timed out after {self.config.timeout:g}s") from None
        except requests.exceptions.ConnectionError as err:
            raise HttpError.of(what, url, f"cannot connect: {_reason(err)}") from None
        except requests.exceptions.RequestException as err:
            raise HttpError.of(what, url, _reason(err)) from None

    def get_bytes(self, url: str, *, max_bytes: int, headers=None, ok=(200,), what: str = "",
                  truncate: bool = False) -> "Fetched":
        """A whole (small) body in memory; over `max_bytes` is an error, or with `truncate`
        only the first `max_bytes` are kept (a discovery page's head is all that matters)."""
        resp = self.open(url, headers=headers, ok=ok, what=what)
        with resp:
            body = resp.body(max_bytes=None if truncate else max_bytes, what=what, progress=False)
            data = body.read(max_bytes + 1)  # n bytes unless the body ends first, as a file's
            return Fetched(resp.url, resp.status, dict(resp.headers), data[:max_bytes],
                           truncated=len(data) > max_bytes)

    def open_resumable(self, url: str, partial: Path, *, headers=None, max_bytes: int,
                       what: str = "", progress: bool | None = None,
                       not_modified: str | None = None) -> "Body | None":
        """A body that replays `partial` (bytes kept from an interrupted download of `url`)
        and continues with a Range request; when the server ignores the Range or the
        resource changed (If-Range), it starts over. Network bytes are appended to `partial`.
        With `not_modified` (an ETag) it is sent as If-None-Match, and a 304 returns None."""
        from rkt.fetch.http_body import PartialMeta

        meta = PartialMeta.load(partial)
        have = partial.stat().st_size if partial.exists() and meta and meta.url == url else 0
        hdrs = dict(headers or {})
        if have and meta.validator:
            hdrs.update({"Range": f"bytes={have}-", "If-Range": meta.validator})
        if not_modified:
            hdrs["If-None-Match"] = not_modified
        resp = self.open(url, headers=hdrs, ok=(200, 206, 304) if not_modified else (200, 206),
                         what=what)
        if resp.status == 304:
            resp.close()
            return None
        validator = resp.headers.get("etag") or resp.headers.get("last-modified")
        resumed = resp.status == 206 and have and _range_start(resp) == have \
            and validator == meta.validator
        if resp.status == 206 and not resumed:
            resp.close()  # a range we did not ask for, or of something else: start over
            partial.unlink(missing_ok=True)
            PartialMeta.remove(partial)
            return self.open_resumable(url, partial, headers=headers, max_bytes=max_bytes,
                                       what=what, progress=progress, not_modified=not_modified)
        if resumed:
            debug(self.config, f"resuming {redact(url)} at byte {have}")
        else:
            have = 0
        sink = open(partial, "ab" if resumed else "wb")
        if validator:
            PartialMeta(url, validator).save(partial)
        else:
            PartialMeta.remove(partial)
        return resp.body(max_bytes=max_bytes, what=what, progress=progress,
                         replay=partial if resumed else None, replay_bytes=have, sink=sink,
                         partial=partial)


def _reason(err: BaseException) -> str:
    """The innermost useful text of a requests/urllib3 exception, on one line."""
    seen = err
    while seen.__context__ is not None or (seen.args and isinstance(seen.args[0], BaseException)):
        nxt = seen.args[0] if seen.args and isinstance(seen.args[0], BaseException) else seen.__context__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    text = str(getattr(seen, "reason", None) or seen)
    if isinstance(seen, ssl.SSLCertVerificationError):
        text = seen.verify_message or text
    return " ".join(text.split())


def _status_error(resp, url: str, what: str) -> HttpError:
    return HttpError.of(what, url, f"HTTP {resp.status_code} {resp.reason or ''}".rstrip(),
                        status=resp.status_code)


def _range_start(resp) -> int | None:
    value = resp.headers.get("content-range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


@dataclasses.dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    status: int
    headers: dict
    data: bytes
    truncated: bool = False


class Response(Closing):
    """An open response: status, headers and the final URL; `body()` reads it."""

    def __init__(self, client: Client, resp, url: str, what: str):
        self.client, self.raw, self.url, self.what = client, resp, url, what
        self.status = resp.status_code
        self.headers = resp.headers  # case-insensitive

    @property
    def etag(self) -> str | None:
        return self.headers.get("etag")

    @property
    def max_age(self) -> int:
        """Cache-Control max-age in seconds (0 when absent, or when no-cache/no-store)."""
        value = self.headers.get("cache-control", "")
        directives = [d.strip().lower() for d in value.split(",")]
        if "no-cache" in directives or "no-store" in directives:
            return 0
        for d in directives:
            if d.startswith("max-age="):
                try:
                    return max(0, int(d[8:].strip('"')))
                except ValueError:
                    return 0
        return 0

    @property
    def content_length(self) -> int | None:
        try:
            value = int(self.headers.get("content-length", ""))
        except ValueError:
            return None
        return value if value >= 0 else None

    def body(self, *, max_bytes: int | None, what: str | None = None, progress: bool | None = None,
             **kw) -> "Body":
        from rkt.fetch.http_body import Body

        return Body(self, max_bytes=max_bytes, what=self.what if what is None else what,
                    progress=progress, **kw)

    def read_all(self, limit: int) -> bytes:
        """The whole (small) body, refused past `limit` bytes."""
        # Body.read fills n bytes unless the body ends first; past `limit` it raises
        return self.body(max_bytes=limit, progress=False).read(limit + 1)

    def close(self) -> None:
        self.raw.close()
