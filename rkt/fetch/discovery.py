"""appc meta discovery: from an image name and labels to the URLs of its ACI, signature and keys.

`https://{prefix}?ac-discovery=1` is fetched for the name, then for each shorter `/` prefix,
until a page has an `ac-discovery` tag whose prefix the name starts with (tags for a parent
prefix on the same page count); templates are rendered with `{name}`, `{ext}` and every label
(`version` defaulting to `latest`, as appc's code), and one with a `{...}` left is skipped.
`ac-discovery-pubkeys` tags are collected the same way for `rkt trust --prefix` and
`--trust-keys-from-https`. Only the first 1 MiB of a page is read.
"""

from __future__ import annotations

import dataclasses
import html.parser
import re
from urllib.parse import quote

from rkt.errors import RktError
from rkt.fetch.http import Client, HttpError, debug

MAX_PAGE_BYTES = 1 << 20
DEFAULT_LABELS = {"os": "linux", "arch": "amd64"}
_LEFTOVER = re.compile(r"\{[^{}]*\}")


@dataclasses.dataclass(frozen=True)
class Endpoint:
    aci: str
    asc: str


@dataclasses.dataclass(frozen=True)
class Discovered:
    endpoints: tuple[Endpoint, ...]
    pubkeys: tuple[str, ...]


class _MetaParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, str, str]] = []  # (meta name, prefix, value)

    def handle_starttag(self, tag, attrs):
        if tag != "meta":
            return
        attr = {k.lower(): (v or "") for k, v in attrs}
        name = attr.get("name", "")
        if not name.startswith("ac-"):
            return
        content = attr.get("content", "").strip()
        prefix, _, value = content.partition(" ")
        if prefix and value.strip():
            self.tags.append((name, prefix, value.strip()))


def meta_tags(page: bytes) -> list[tuple[str, str, str]]:
    parser = _MetaParser()
    try:
        parser.feed(page.decode("utf-8", "replace"))
        parser.close()
    except Exception:  # noqa: BLE001 - junk HTML yields whatever tags were read before it
        pass
    return parser.tags


def render(template: str, name: str, labels: dict[str, str], ext: str) -> str | None:
    """The template with its variables filled, or None if one is left unfilled."""
    values = {**labels, "name": name, "ext": ext}
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return None if _LEFTOVER.search(out) else out


def prefixes(name: str) -> list[str]:
    """`a.com/p/sub` -> [`a.com/p/sub`, `a.com/p`, `a.com`]."""
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _page_urls(prefix: str, allow_http: bool) -> list[str]:
    path = quote(prefix, safe="/:@-._~")
    urls = [f"https://{path}?ac-discovery=1"]
    if allow_http:
        urls.append(f"http://{path}?ac-discovery=1")
    return urls


def discover(client: Client, name: str, labels: dict[str, str], *, want: str = "aci") -> Discovered:
    """Walk `name`'s prefixes until one page yields what is wanted ("aci" or "pubkeys")."""
    labels = {**labels}
    labels.setdefault("version", "latest")
    tried: list[str] = []
    for prefix in prefixes(name):
        for url in _page_urls(prefix, client.config.allow_http):
            debug(client.config, f"meta tag discovery on {url}")
            try:
                page = client.get_bytes(url, max_bytes=MAX_PAGE_BYTES, truncate=True,
                                        what="discovery page")
            except HttpError as err:
                tried.append(f"{url} ({_short(err, url)})")
                continue
            found = _from_page(page.data, name, labels)
            if (found.endpoints if want == "aci" else found.pubkeys):
                return found
            tried.append(f"{url} (no ac-discovery{'-pubkeys' if want != 'aci' else ''} tag "
                         f"for {name}{', page cut at 1 MiB' if page.truncated else ''})")
    what = "image" if want == "aci" else "public keys"
    raise RktError(f"discovery of {what} for {name} failed; tried: " + "; ".join(tried))


def _short(err: HttpError, url: str) -> str:
    text = err.message
    for head in (url + ": ", "discovery page " + url + ": "):
        if text.startswith(head):
            return text[len(head):]
    return text


def _from_page(page: bytes, name: str, labels: dict[str, str]) -> Discovered:
    endpoints, pubkeys = [], []
    for meta, prefix, value in meta_tags(page):
        if not name.startswith(prefix):
            continue
        if meta == "ac-discovery":
            aci = render(value, name, labels, "aci")
            asc = render(value, name, labels, "aci.asc")
            if aci and asc:
                endpoints.append(Endpoint(aci, asc))
        elif meta == "ac-discovery-pubkeys":
            pubkeys.append(value)
    return Discovered(tuple(endpoints), tuple(pubkeys))


def fetch_pubkeys(client: Client, urls) -> list:
    """(url, PublicKey) for every key at the discovered key URLs; each must parse."""
    from rkt.trust.openpgp import MAX_KEY_FILE_SIZE, KeyFileError, parse_public_keys

    out = []
    for url in urls:
        debug(client.config, f"fetching public key from {url}")
        try:
            data = client.get_bytes(url, max_bytes=MAX_KEY_FILE_SIZE, what="public key").data
        except HttpError as err:
            raise RktError(err.message) from None
        try:
            out.extend((url, key) for key in parse_public_keys(data))
        except KeyFileError as err:
            raise RktError(f"public key {url}: {err}") from None
    return out
