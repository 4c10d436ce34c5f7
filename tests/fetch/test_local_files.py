"""`rkt fetch` of local files through the real CLI: compressions, image strings, signatures
checked by real gpg against the trust store, dependencies, pull policies."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from tests.helpers.aci import compress, make_aci, manifest, tar_bytes
from tests.store.snapshot import store_state

EMPTY = {"rows": [], "blobs": [], "trees": [], "tmp": []}


def short(image_id: str) -> str:
    return image_id[: len("sha512-") + 32]


@pytest.mark.parametrize("compression", ["none", "gzip", "bzip2", "xz"])
def test_fetch_each_compression(rkt, tmp_path, compression):
    aci = tmp_path / "app.aci"
    image_id = make_aci(aci, manifest("example.com/app"), {"etc/hello": b"hi\n"}, compression)
    out = rkt("--insecure-options=image", "fetch", aci).stdout
    assert out == short(image_id) + "\n"
    state = store_state(rkt.dir)
    assert state["rows"] == [(image_id, "example.com/app")]
    assert state["blobs"] == [f"sha512/{image_id[7:9]}/{image_id}"]
    assert len(state["trees"]) == 1 and state["tmp"] == []
    tree = rkt.dir / "cas" / "tree" / state["trees"][0]
    assert (tree / "rootfs" / "etc" / "hello").read_bytes() == b"hi\n"
    assert (tree / "rendered").exists() and (tree / "image").read_text() == image_id


def test_fetch_full_file_url_relative_and_refetch(rkt, tmp_path):
    aci = tmp_path / "app.aci"
    image_id = make_aci(aci, manifest("example.com/app"))
    assert rkt("--insecure-options=image", "fetch", "--full", f"file://{aci}").stdout == image_id + "\n"
    # Fetching it again is a success that changes nothing (rkt bug #3678 made it fail).
    before = store_state(rkt.dir)
    out = rkt("--insecure-options=image", "fetch", "./app.aci", cwd=tmp_path).stdout
    assert out == short(image_id) + "\n"
    assert store_state(rkt.dir) == before


def test_fetch_by_id_prefix_and_name_from_store(rkt, tmp_path):
    aci = tmp_path / "app.aci"
    image_id = make_aci(aci, manifest("example.com/app", version="2.0"))
    rkt("--insecure-options=image", "fetch", aci)
    for ref in (image_id, image_id[:20], "example.com/app", "example.com/app:2.0",
                "example.com/app:2.0,os=linux"):
        assert rkt("fetch", "--full", "--pull-policy=never", ref).stdout == image_id + "\n", ref
    err = rkt.fails("fetch", "--pull-policy=never", "example.com/app:3.0").stderr
    assert "not in the store" in err
    err = rkt.fails("fetch", "--pull-policy=never", "example.com/other").stderr
    assert "--pull-policy=never" in err
    # (remote names and URLs: tests/fetch, against a server on loopback)
    err = rkt.fails("fetch", "sha512-0123").stderr
    assert 'no image with ID "sha512-0123"' in err and err.count("\n") == 1


def test_fetch_missing_file_and_signature(rkt, tmp_path):
    err = rkt.fails("fetch", tmp_path / "nope.aci").stderr
    assert "not found" in err and err.count("\n") == 1
    fifo = tmp_path / "fifo.aci"
    os.mkfifo(fifo)
    for path, words in ((fifo, "not a regular file"), ("/dev/zero", "not a regular file"),
                        (tmp_path, "is a directory")):
        assert words in rkt.fails("--insecure-options=image", "fetch", path, timeout=20).stderr
    aci = tmp_path / "app.aci"
    make_aci(aci, manifest("example.com/app"))
    err = rkt.fails("fetch", aci).stderr
    assert "error opening signature file" in err and "app.aci.asc" in err
    assert "--insecure-options=image" in err
    assert store_state(rkt.dir) == EMPTY


# -- signatures ---------------------------------------------------------------------------------


@pytest.fixture
def signed(tmp_path, gpg_key):
    aci = tmp_path / "app.aci"
    image_id = make_aci(aci, manifest("example.com/app"), {"etc/x": b"x"})
    gpg_key.sign(aci)
    return aci, image_id


def trust(rkt, key, prefix, tmp_path):
    keyfile = key.export(tmp_path / f"{key.fingerprint}.asc")
    rkt("trust", f"--prefix={prefix}", "--skip-fingerprint-review", keyfile)


def test_signed_image_accepted_with_prefix_key(rkt, tmp_path, signed, gpg_key):
    aci, image_id = signed
    trust(rkt, gpg_key, "example.com/app", tmp_path)
    assert rkt("fetch", aci).stdout == short(image_id) + "\n"
    assert store_state(rkt.dir)["rows"] == [(image_id, "example.com/app")]


def test_signature_flag_points_elsewhere(rkt, tmp_path, signed, gpg_key):
    aci, image_id = signed
    moved = tmp_path / "elsewhere.asc"
    (tmp_path / "app.aci.asc").rename(moved)
    trust(rkt, gpg_key, "example.com", tmp_path)
    assert rkt("fetch", f"--signature={moved}", aci).stdout == short(image_id) + "\n"


def refused(rkt, aci, *words):
    err = rkt.fails("fetch", aci).stderr
    assert err.startswith("rkt: ") and err.count("\n") == 1, err
    for word in words:
        assert word in err, err
    assert store_state(rkt.dir) == EMPTY


def test_signed_image_refused_without_keys(rkt, signed):
    refused(rkt, signed[0], "no keys trusted for prefix example.com/app",
            "rkt trust --prefix example.com/app")


def test_signed_image_refused_with_key_for_another_prefix(rkt, tmp_path, signed, gpg_key):
    trust(rkt, gpg_key, "example.org", tmp_path)
    refused(rkt, signed[0], "example.com/app")


def test_signed_image_refused_with_wrong_key(rkt, tmp_path, signed, other_gpg_key):
    trust(rkt, other_gpg_key, "example.com/app", tmp_path)
    refused(rkt, signed[0], "untrusted key")


def test_tampered_image_refused(rkt, tmp_path, signed, gpg_key):
    aci, _ = signed
    trust(rkt, gpg_key, "example.com/app", tmp_path)
    make_aci(aci, manifest("example.com/app"), {"etc/x": b"evil"})
    refused(rkt, aci, "bad signature")


def test_signature_checked_for_uncommon_layout(rkt, tmp_path, gpg_key):
    """Manifest far from the start: the check runs after the import pass, still before commit."""
    files = {f"f{i:03d}": b"x" for i in range(10)}
    tar = tar_bytes(None, files, raw_manifest=json.dumps(manifest("example.com/app")).encode())
    # The same members with the manifest moved to the end.
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        members = [(m, tf.extractfile(m).read() if m.isfile() else None) for m in tf]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for m, data in members[1:] + members[:1]:
            tf.addfile(m, io.BytesIO(data) if data is not None else None)
    aci = tmp_path / "late.aci"
    aci.write_bytes(compress(buf.getvalue(), "gzip"))
    gpg_key.sign(aci)
    refused(rkt, aci, "no keys trusted for prefix example.com/app")
    trust(rkt, gpg_key, "example.com", tmp_path)
    rkt("fetch", aci)


# -- dependencies -------------------------------------------------------------------------------


def test_dependencies_resolved_from_store(rkt, tmp_path):
    base = tmp_path / "base.aci"
    base_id = make_aci(base, manifest("example.com/base", version="1", app=None),
                       {"etc/base": b"base"})
    top = tmp_path / "top.aci"
    make_aci(top, manifest("example.com/top", dependencies=[
        {"imageName": "example.com/base", "labels": [{"name": "version", "value": "1"}]}]),
        {"etc/top": b"top"})
    # (never: no discovery of the missing dependency; tests/fetch fetches one on loopback)
    err = rkt.fails("--insecure-options=image", "fetch", "--pull-policy=never", top).stderr
    assert 'dependency "example.com/base,version=1"' in err
    assert store_state(rkt.dir) == EMPTY
    rkt("--insecure-options=image", "fetch", base)
    top_id = rkt("--insecure-options=image", "fetch", "--full", top).stdout.strip()
    out = tmp_path / "rendered"
    rkt("image", "render", "--rootfs-only", top_id, out)
    assert (out / "etc" / "base").read_bytes() == b"base"
    assert (out / "etc" / "top").read_bytes() == b"top"
    rkt("image", "rm", base_id)
    err = rkt.fails("image", "render", top_id, tmp_path / "again").stderr
    assert 'dependency "example.com/base,version=1" is not in the store' in err
    rkt("--insecure-options=image", "fetch", base)
    # A dependency by imageID must be exactly that image, with that name.
    wrong = tmp_path / "wrong.aci"
    make_aci(wrong, manifest("example.com/wrong", dependencies=[
        {"imageName": "example.com/other", "imageID": base_id}]))
    assert 'named "example.com/base"' in rkt.fails("--insecure-options=image", "fetch", wrong).stderr
    small = tmp_path / "small.aci"
    make_aci(small, manifest("example.com/small", dependencies=[
        {"imageName": "example.com/base", "imageID": base_id, "size": 100}]))
    assert "declared size 100" in rkt.fails("--insecure-options=image", "fetch", small).stderr


def test_run_path_fetch_imports_nothing_heavy(rkt, tmp_path):
    aci = tmp_path / "app.aci"
    image_id = make_aci(aci, manifest("example.com/app"))
    rkt("--insecure-options=image", "fetch", aci)
    code = (
        "import sys\n"
        "from rkt.options import GlobalOptions\n"
        "from rkt.store import Store\n"
        "from rkt.fetch import fetch\n"
        f"opts = GlobalOptions(dir={str(rkt.dir)!r})\n"
        "with Store(opts.dir) as s:\n"
        f"    assert fetch(opts, s, 'example.com/app') == {image_id!r}\n"
        f"    assert fetch(opts, s, {image_id[:30]!r}) == {image_id!r}\n"
        "    s.render(fetch(opts, s, 'example.com/app'))\n"
        "heavy = {'click', 'gnupg', 'requests', 'cryptography', 'pyroute2'} & set(sys.modules)\n"
        "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True)
