"""Publishing signed ACIs on the test HTTPS server the way appc discovery finds them."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.aci import make_aci, manifest
from tests.helpers.https import serve_bytes

TEMPLATE = "https://localhost/images/{name}-{version}-{os}-{arch}.{ext}"


def discovery_page(prefix: str, template: str = TEMPLATE, pubkeys: str | None = None,
                   extra: str = "") -> bytes:
    tags = f'<meta name="ac-discovery" content="{prefix} {template}">'
    if pubkeys:
        tags += f'<meta name="ac-discovery-pubkeys" content="{prefix} {pubkeys}">'
    return f"<html><head>{tags}{extra}</head><body>hi</body></html>".encode()


def page_route(prefix: str) -> str:
    """The server path of https://{prefix}?ac-discovery=1 (names are under localhost/)."""
    return "/" + prefix.partition("/")[2]


def image_path(name: str, version: str, os_: str = "linux", arch: str = "amd64", ext: str = "aci") -> str:
    return "/images/" + f"{name}-{version}-{os_}-{arch}.{ext}"


def publish(server, tmp: Path, name: str, version: str = "1.0.0", *, key=None, files=None,
            etag: str | None = '"v1"', max_age: int | None = None, page: bool = True,
            manifest_obj: dict | None = None, serve_name: str | None = None) -> dict:
    """Build, sign and serve `name` (discovery page at https://localhost/<name>); a dict with
    the aci bytes, its paths and the server paths."""
    aci = tmp / f"{name.replace('/', '_')}-{version}.aci"
    make_aci(aci, manifest_obj or manifest(name, version), files or {"etc/hello": b"hi\n"})
    served = serve_name or name
    aci_route, asc_route = image_path(served, version), image_path(served, version, ext="aci.asc")
    server.routes[aci_route] = serve_bytes(aci.read_bytes(), etag=etag, max_age=max_age)
    if key is not None:
        asc = key.sign(aci)
        server.routes[asc_route] = serve_bytes(asc.read_bytes())
    if page:
        server.routes[page_route(name)] = serve_bytes(discovery_page(name))
    return {"aci": aci, "data": aci.read_bytes(), "aci_route": aci_route, "asc_route": asc_route}


def trust(rkt, key, prefix: str) -> None:
    path = rkt.local_config / "trustedkeys" / "prefix.d" / prefix / key.fingerprint.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    key.export(path)
