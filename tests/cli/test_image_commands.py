"""Every `rkt image` subcommand through the real CLI, against a store filled by `rkt fetch`."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest

from tests.helpers.aci import Entry, make_aci, manifest
from tests.store.snapshot import store_state


@pytest.fixture
def two(rkt, tmp_path):
    """Two versions of one image name, v2 imported last."""
    ids = {}
    for version in ("1.0", "2.0"):
        aci = tmp_path / f"app-{version}.aci"
        ids[version] = make_aci(aci, manifest("example.com/app", version=version), {
            "etc/version": version.encode(),
            "bin/tool": Entry(data=b"#!/bin/sh\n", mode=0o4755, uid=12, gid=34),
            "lib/link": Entry(kind="symlink", target="../etc/version"),
        })
        rkt("--insecure-options=image", "fetch", aci)
    return ids


def test_image_list_table_json_fields_sort(rkt, two):
    lines = rkt("image", "list").stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SIZE", "IMPORT", "TIME", "LAST", "USED"]
    assert [l.split()[1] for l in lines[1:]] == ["example.com/app:1.0", "example.com/app:2.0"]
    assert lines[1].split()[0] == two["1.0"][: len("sha512-") + 12]
    assert "KiB" in lines[1] and "now" in lines[1] or "second" in lines[1]
    out = rkt("image", "list", "--no-legend", "--full", "--fields=id,name,latest",
              "--sort=importtime", "--order=desc").stdout
    assert [l.split() for l in out.splitlines()] == [
        [two["2.0"], "example.com/app:2.0", "false"], [two["1.0"], "example.com/app:1.0", "false"]]
    entries = json.loads(rkt("image", "list", "--format=json").stdout)
    assert [e["id"] for e in entries] == [two["1.0"], two["2.0"]]
    assert set(entries[0]) >= {"id", "name", "import_time", "last_used_time", "size"}
    assert entries[0]["size"] > 0 and isinstance(entries[0]["import_time"], int)
    pretty = rkt("image", "list", "--format=json-pretty").stdout
    assert json.loads(pretty) == entries and "\n\t{" in pretty
    assert "unknown field" in rkt.fails("image", "list", "--fields=id,colour", code=254).stderr


def test_image_refs_resolve(rkt, two):
    def manifest_name_version(ref):
        m = json.loads(rkt("image", "cat-manifest", ref).stdout)
        return next(l["value"] for l in m["labels"] if l["name"] == "version")

    assert manifest_name_version("example.com/app") == "2.0"  # latest import wins
    assert manifest_name_version("example.com/app:1.0") == "1.0"
    assert manifest_name_version(two["1.0"][:25]) == "1.0"
    assert "not an image ID" in rkt.fails("image", "cat-manifest", "sha512-").stderr
    assert "no image named" in rkt.fails("image", "cat-manifest", "example.com/nope").stderr
    assert "no image with ID" in rkt.fails("image", "cat-manifest", "sha512-ffff").stderr


def test_image_cat_manifest(rkt, two):
    pretty = rkt("image", "cat-manifest", two["1.0"]).stdout
    compact = rkt("image", "cat-manifest", "--pretty-print=false", two["1.0"]).stdout
    assert json.loads(pretty) == json.loads(compact)
    assert "\n\t" in pretty and "\n" not in compact.rstrip("\n")
    assert json.loads(compact)["name"] == "example.com/app"


def test_image_export_is_byte_identical(rkt, tmp_path, two):
    out = tmp_path / "out.aci"
    rkt("image", "export", "example.com/app:1.0", out)
    assert "sha512-" + hashlib.sha512(out.read_bytes()).hexdigest() == two["1.0"]
    assert "--overwrite" in rkt.fails("image", "export", "example.com/app:1.0", out).stderr
    rkt("image", "export", "--overwrite", "example.com/app:2.0", out)
    assert "sha512-" + hashlib.sha512(out.read_bytes()).hexdigest() == two["2.0"]
    # and it imports as the same image
    other = type(rkt)(tmp_path / "other")
    assert other("--insecure-options=image", "fetch", "--full", out).stdout.strip() == two["2.0"]
    # a damaged blob is refused, not exported
    blob = rkt.dir / "cas" / "blob" / "sha512" / two["1.0"][7:9] / two["1.0"]
    blob.write_bytes(blob.read_bytes()[:-1024] + bytes(1024 - 1) + b"x")
    damaged = tmp_path / "damaged.aci"
    assert "damaged" in rkt.fails("image", "export", "example.com/app:1.0", damaged).stderr
    assert not damaged.exists() and not list(tmp_path.glob(".rkt-export-*"))


def test_image_extract(rkt, tmp_path, two):
    out = tmp_path / "x"
    rkt("image", "extract", "example.com/app:1.0", out)
    assert json.loads((out / "manifest").read_text())["name"] == "example.com/app"
    tool = out / "rootfs" / "bin" / "tool"
    st = os.lstat(tool)
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (12, 34)
    assert os.readlink(out / "rootfs" / "lib" / "link") == "../etc/version"
    assert "--overwrite" in rkt.fails("image", "extract", "example.com/app:1.0", out).stderr
    rkt("image", "extract", "--rootfs-only", "--overwrite", "example.com/app:2.0", out)
    assert sorted(os.listdir(out)) == ["bin", "etc", "lib"]
    for victim in ("/", rkt.dir.parent):
        assert "refusing" in rkt.fails("image", "extract", "--overwrite", "example.com/app:2.0",
                                       victim).stderr
    assert rkt.dir.is_dir()
    assert (out / "etc" / "version").read_bytes() == b"2.0"


def test_image_render(rkt, tmp_path, two):
    out = tmp_path / "r"
    rkt("image", "render", "example.com/app:1.0", out)
    assert sorted(os.listdir(out)) == ["manifest", "rootfs"]
    assert (out / "rootfs" / "etc" / "version").read_bytes() == b"1.0"
    st = os.lstat(out / "rootfs" / "bin" / "tool")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (12, 34)
    assert "--overwrite" in rkt.fails("image", "render", "example.com/app:1.0", out).stderr
    rkt("image", "render", "--rootfs-only", "--overwrite", "example.com/app:1.0", out)
    assert sorted(os.listdir(out)) == ["bin", "etc", "lib"]


@pytest.mark.parametrize("damage", ["content", "mode", "delete", "add"])
def test_image_verify_detects_and_repairs(rkt, two, damage):
    out = rkt("image", "verify", "example.com/app:1.0").stdout
    assert "verified" in out
    tree = next((rkt.dir / "cas" / "tree").iterdir())
    trees = {t.name: (t / "image").read_text() for t in (rkt.dir / "cas" / "tree").iterdir()}
    tree = rkt.dir / "cas" / "tree" / next(t for t, i in trees.items() if i == two["1.0"])
    version = tree / "rootfs" / "etc" / "version"
    if damage == "content":
        version.write_bytes(b"6.6")
    elif damage == "mode":
        os.chmod(tree / "rootfs" / "bin" / "tool", 0o777)
    elif damage == "delete":
        version.unlink()
    else:
        (tree / "rootfs" / "etc" / "intruder").write_bytes(b"")
    out = rkt("image", "verify", "example.com/app:1.0", "example.com/app:2.0").stdout.splitlines()
    assert "damaged" in out[0] and "re-rendered" in out[0]
    assert "verified" in out[1]
    assert version.read_bytes() == b"1.0"
    assert not (tree / "rootfs" / "etc" / "intruder").exists()
    assert stat.S_IMODE(os.lstat(tree / "rootfs" / "bin" / "tool").st_mode) == 0o4755
    assert "verified" in rkt("image", "verify", "example.com/app:1.0").stdout


def test_image_verify_renders_missing_tree(rkt, two):
    rkt("image", "gc")  # no pods: every tree goes, images stay (used within 24h)
    assert store_state(rkt.dir)["trees"] == []
    assert "rendered it" in rkt("image", "verify", two["2.0"]).stdout
    assert len(store_state(rkt.dir)["trees"]) == 1


def test_image_rm(rkt, two):
    out = rkt.fails("image", "rm", "example.com/app:1.0", "sha512-0000", "example.com/nope")
    assert f'successfully removed aci for image: "{two["1.0"]}"' in out.stdout
    assert "sha512-0000" in out.stderr and "example.com/nope" in out.stderr
    assert "2 image(s) cannot be removed" in out.stderr
    state = store_state(rkt.dir)
    assert state["rows"] == [(two["2.0"], "example.com/app")]
    assert len(state["trees"]) == 1 and len(state["blobs"]) == 1
    rkt("image", "rm", two["2.0"][:30])
    assert store_state(rkt.dir) == {"rows": [], "blobs": [], "trees": [], "tmp": []}


def test_image_fetch_alias(rkt, tmp_path):
    aci = tmp_path / "a.aci"
    image_id = make_aci(aci, manifest("example.com/a"))
    assert rkt("--insecure-options=image", "image", "fetch", "--full", aci).stdout.strip() == image_id


def test_ambiguous_id_prefix(rkt, tmp_path):
    from rkt.store import Store

    by_digit: dict[str, list[str]] = {}
    with Store(rkt.dir) as store:
        for i in range(17):  # pigeonhole: two IDs share their first hex digit
            aci = tmp_path / f"{i}.aci"
            make_aci(aci, manifest(f"example.com/n{i}"), compression="none")
            image_id = store.import_aci(aci)
            by_digit.setdefault(image_id[7], []).append(image_id)
    digit, ids = next((d, ids) for d, ids in by_digit.items() if len(ids) > 1)
    err = rkt.fails("image", "rm", "sha512-" + digit).stderr
    assert f'"sha512-{digit}" is ambiguous: {len(ids)} images match' in err
    assert len(store_state(rkt.dir)["rows"]) == 17
