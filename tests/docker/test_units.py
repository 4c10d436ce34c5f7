"""Pure logic of the docker fetcher: references, users, challenges, manifests, squashing."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from rkt.errors import RktError
from rkt.fetch.docker import image as im
from rkt.fetch.docker.convert import ac_identifier, resolve_user
from rkt.fetch.docker.reference import parse_reference
from rkt.fetch.docker.registry import parse_challenge, _rate_hint
from rkt.fetch.docker.squash import Squasher
from tests.helpers.docker import layer_tar


@pytest.mark.parametrize("text,registry,repo,tag,digest", [
    ("docker://busybox", "registry-1.docker.io", "library/busybox", "latest", None),
    ("docker://nginx:1.25", "registry-1.docker.io", "library/nginx", "1.25", None),
    ("docker://docker.io/user/app", "registry-1.docker.io", "user/app", "latest", None),
    ("docker://quay.io/coreos/etcd:v3", "quay.io", "coreos/etcd", "v3", None),
    ("docker://localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", None),
    ("docker://127.0.0.1:5000/app@sha256:" + "a" * 64, "127.0.0.1:5000", "app", None,
     "sha256:" + "a" * 64),
])
def test_references_follow_rkts_defaults(text, registry, repo, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repo, tag, digest)


@pytest.mark.parametrize("text", ["docker://", "docker://UPPER/case", "docker://a:b:c",
                                  "docker://x@sha256:short", "docker://x@md5:" + "a" * 32])
def test_bad_references_are_refused(text):
    with pytest.raises(RktError):
        parse_reference(text)


def test_aci_names():
    assert parse_reference("docker://busybox").aci_name == "registry-1.docker.io/library/busybox"
    assert ac_identifier("127.0.0.1:5000/x") == "127.0.0.1_5000/x"


PASSWD = b"root:x:0:0::/:/bin/sh\nweb:x:33:44::/:/bin/sh\n"
GROUP = b"root:x:0:\nstaff:x:50:\n"


@pytest.mark.parametrize("spec,expect", [
    ("", ("0", "0")), ("web", ("33", "44")), ("33", ("33", "44")), ("1000", ("1000", "0")),
    ("web:staff", ("33", "50")), ("web:7", ("33", "7")), ("5:6", ("5", "6")),
])
def test_users_resolve_as_docker(spec, expect):
    assert resolve_user(spec, PASSWD, GROUP) == expect


@pytest.mark.parametrize("spec", ["nobody", "web:nogroup"])
def test_unknown_users_are_errors(spec):
    with pytest.raises(RktError):
        resolve_user(spec, PASSWD, GROUP)


def test_challenges_and_rate_hints():
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="a:b:pull"')
    assert scheme == "bearer" and params == {"realm": "https://auth.docker.io/token",
                                             "service": "registry.docker.io", "scope": "a:b:pull"}
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
    assert "retry after 60s" in _rate_hint({"retry-after": "60"})


def test_schema1_and_platforms():
    with pytest.raises(RktError, match="schema 1"):
        im.media_type({"schemaVersion": 1})
    index = {"manifests": [{"digest": "d1", "platform": {"os": "linux", "architecture": "arm64"}},
                           {"digest": "d2", "platform": {"os": "linux", "architecture": "amd64"}}]}
    assert im.pick_platform(index, "x")["digest"] == "d2"


def squash(layers: list[bytes]) -> dict[str, tarfile.TarInfo]:
    """The members of the ACI squashed from `layers` (bottom first)."""
    read_fd, write_fd = os.pipe()
    out = io.BytesIO()
    import threading

    def drain():
        with os.fdopen(read_fd, "rb") as r:
            out.write(r.read())

    thread = threading.Thread(target=drain)
    thread.start()
    sq = Squasher(write_fd)
    for layer in reversed(layers):
        sq.add_layer(io.BytesIO(layer), "l", 1 << 30)
    sq.finish(b"{}")
    os.close(write_fd)
    thread.join()
    out.seek(0)
    with tarfile.open(fileobj=out) as tf:
        return {m.name.rstrip("/"): m for m in tf.getmembers()}


R, D, S = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE


def test_squash_semantics():
    members = squash([
        layer_tar([("a", D, None, 0o700), ("a/x", R, b"1", 0o644), ("b", R, b"b", 0o644),
                   ("c", D, None, 0o755), ("c/y", R, b"y", 0o644), ("d", D, None, 0o755),
                   ("d/z", R, b"z", 0o644), ("e", S, "/etc", 0o777)]),
        layer_tar([("a/x", R, b"2", 0o600), (".wh.b", R, b"", 0o644), ("c", R, b"f", 0o644),
                   ("d/.wh..wh..opq", R, b"", 0o644), ("d/w", R, b"w", 0o644),
                   ("e/f", R, b"f", 0o644)]),
    ])
    names = set(members)
    assert {"rootfs", "manifest", "rootfs/a", "rootfs/a/x", "rootfs/c", "rootfs/d", "rootfs/d/w",
            "rootfs/e/f"} == names
    assert members["rootfs/a"].mode == 0o700           # the lower dir keeps its metadata
    assert members["rootfs/a/x"].mode == 0o600         # the upper file wins
    assert members["rootfs/c"].isfile()                # a file replaced the dir and its child
    # an upper layer's files under "e" turn the lower symlink into a directory
    assert "rootfs/e" not in names or members["rootfs/e"].isdir()
