"""Names checked as appc's Go code checks them, through the real CLI: an image rkt and actool
accept (`shorthash--21`, a run of separators) is fetched, listed and named like rkt names it."""

from __future__ import annotations

import json

from tests.helpers.aci import make_aci, manifest


def test_image_name_with_a_dash_run_is_fetched_and_found(rkt, tmp_path):
    aci = tmp_path / "img.aci"
    image_id = make_aci(aci, manifest("example.com/shorthash--21", version="1.0"), {"f": b"x"})
    assert image_id.startswith(rkt("--insecure-options=image", "fetch", aci).stdout.strip())
    listed = rkt("image", "list", "--no-legend", "--full", "--fields=id,name").stdout.split()
    assert listed == [image_id, "example.com/shorthash--21:1.0"]
    shown = json.loads(rkt("image", "cat-manifest", "example.com/shorthash--21:1.0").stdout)
    assert shown["name"] == "example.com/shorthash--21"


def test_image_name_with_a_bad_edge_is_refused(rkt, tmp_path):
    aci = tmp_path / "img.aci"
    make_aci(aci, manifest("example.com/app-"), {})
    proc = rkt.fails("--insecure-options=image", "fetch", aci)
    assert "name" in proc.stderr and "AC Identifier" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
