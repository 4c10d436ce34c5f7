"""Remote fetches as the user names them: an appc name (discovered) or an http(s) ACI URL.

The pull policy decides whether the store answers first: `new` uses a stored image of that
name (or from that URL), `update` always asks the server (which may answer 304, or be skipped
while a recorded Cache-Control max-age lasts), `never` only looks in the store.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from rkt.errors import RktError
from rkt.fetch.discovery import DEFAULT_LABELS, discover
from rkt.fetch.remote import RemoteFetcher, Request


def remote_fetcher(opts, store, *, pull_policy: str, signature=None) -> RemoteFetcher:
    from rkt.fetch.http import Client, HttpConfig

    return RemoteFetcher(opts, store, Client(HttpConfig.from_options(opts)),
                         pull_policy=pull_policy, signature=signature)


def fetch_by_name(fetcher: RemoteFetcher, name: str, labels: dict[str, str], *,
                  image_id: str | None = None, max_size: int | None = None, depth: int = 0,
                  policy: str | None = None) -> str:
    policy = policy or fetcher.pull_policy
    store = fetcher.store
    if policy in ("new", "never"):
        found = store.get(image_id) if image_id else store.find(name, labels)
        if found is not None:
            return found.id
        if policy == "never":
            shown = ",".join([name, *(f"{k}={v}" for k, v in labels.items())])
            raise RktError(f'image "{shown}" is not in the store and --pull-policy=never')
    wanted = {**DEFAULT_LABELS, **labels}
    from rkt.fetch.http import debug

    debug(fetcher.client.config, f"searching for app image {name}")
    found = discover(fetcher.client, name, wanted)
    endpoint = found.endpoints[0]  # as rkt: the first endpoint
    request = Request(endpoint.aci, endpoint.asc, name, tuple(sorted(wanted.items())),
                      implicit=tuple(k for k in DEFAULT_LABELS if k not in labels),
                      pubkeys=found.pubkeys, image_id=image_id, max_size=max_size)
    return fetcher.fetch(request, depth=depth)


def signature_url(aci_url: str) -> str:
    """rkt's ascURLFromImgURL: the URL's path with `.aci` (if any) replaced by `.aci.asc`."""
    parts = urlsplit(aci_url)
    return parts._replace(path=parts.path.removesuffix(".aci") + ".aci.asc").geturl()


def fetch_url(fetcher: RemoteFetcher, url: str) -> str:
    fetcher.client.check_scheme(url)
    try:
        return fetcher.fetch(Request(url, signature_url(url)))
    except RktError as err:
        from rkt.fetch.http import scrub

        raise RktError(scrub(err.message)) from None
