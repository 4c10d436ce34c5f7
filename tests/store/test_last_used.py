"""An image's last use: recorded by `rkt run` (Store.mark_used) as the mtime of `cas/used/<id>`
without writing the index, and seen by every lookup, `image list` and `image gc`."""

from __future__ import annotations

import json
import time

import pytest

from rkt.store import Store
from tests.helpers.aci import make_aci, manifest

HOUR_NS = 3600 * 10**9


def _age_rows(store: Store, ns: int) -> None:
    """Make every row look imported (and last used) `ns` ago."""
    then = time.time_ns() - ns
    with store.index.transaction():
        store.index.conn.execute("UPDATE aciinfo SET importtime = ?, lastused = ?", (then, then))


def _two_images(store: Store) -> tuple[str, str]:
    ids = ("sha512-" + "a" * 128, "sha512-" + "b" * 128)
    for image_id, name in zip(ids, ("example.com/used", "example.com/idle")):
        store.index.insert(image_id, name, {"version": "1"}, b"{}", 1, False)
    _age_rows(store, 2 * HOUR_NS)
    return ids


def test_mark_used_is_seen_by_every_lookup_without_an_index_write(tmp_path):
    with Store(tmp_path / "d") as store:
        used, idle = _two_images(store)
        changes = store.index.conn.total_changes
        before = time.time_ns()
        store.mark_used({used})
        store.mark_used({used})  # again: the marker exists now
        assert store.index.conn.total_changes == changes  # no sqlite write on the run path
        assert store.get(used).last_used >= before
        assert store.find("example.com/used", {"version": "1"}).last_used >= before
        assert store.resolve(used[:20]).last_used >= before
        assert store.resolve("example.com/used:1").last_used >= before
        by_id = {i.id: i for i in store.images()}
        assert by_id[used].last_used >= before
        assert by_id[idle].last_used < before - HOUR_NS  # the index's time when never marked
        assert store.get(used).import_time == by_id[idle].import_time


def test_image_gc_keeps_an_image_used_within_the_grace_period(tmp_path):
    with Store(tmp_path / "d") as store:
        used, idle = _two_images(store)
        store.mark_used([used])
        assert store.gc_images(grace_seconds=3600, keep=frozenset()) == [idle]
        assert [i.id for i in store.images()] == [used]


def test_removal_takes_the_marker_and_gc_sweeps_orphans(tmp_path):
    with Store(tmp_path / "d") as store:
        used, idle = _two_images(store)
        store.mark_used([used, idle])
        markers = tmp_path / "d" / "cas" / "used"
        store.remove(used)
        assert sorted(p.name for p in markers.iterdir()) == [idle]
        # a removal killed between the row and the marker leaves an orphan: gc takes it
        (markers / ("sha512-" + "c" * 128)).touch()
        store.gc_blobs()
        assert sorted(p.name for p in markers.iterdir()) == [idle]


@pytest.mark.root
def test_rkt_run_marks_its_images_used(rkt, tmp_path):
    """Through the real CLI: a run moves the app image's LAST USED past its import time."""
    from tests.pod.conftest import script_stage1

    aci = tmp_path / "app.aci"
    make_aci(aci, manifest("example.com/app", exec_=["/bin/true"]), {"bin/true": b""})
    stage1 = tmp_path / "stage1.aci"
    script_stage1(stage1)
    rkt("--insecure-options=image", "fetch", aci)
    with Store(rkt.dir) as store:
        _age_rows(store, 2 * HOUR_NS)
    before = time.time_ns()
    proc = rkt("--insecure-options=image", "run", f"--stage1-path={stage1}", "example.com/app",
               check=False)
    assert proc.returncode == 0, proc.stderr
    images = json.loads(rkt("image", "list", "--format=json").stdout)
    app = next(i for i in images if i["name"] == "example.com/app:1.0.0")
    assert int(app["last_used_time"]) >= before > int(app["import_time"])
    rkt("gc", "--grace-period=0s", check=False)


def test_a_store_without_the_used_dir_opens_and_gets_it_on_first_use(tmp_path):
    """A store made before cas/used existed: opening it creates nothing (a group rkt member
    could not), lookups and gc work, and the first mark_used makes the directory."""
    with Store(tmp_path / "d") as store:
        used, idle = _two_images(store)
    markers = tmp_path / "d" / "cas" / "used"
    assert not markers.exists()
    with Store(tmp_path / "d") as store:
        assert store.get(used).last_used == store.get(idle).last_used
        assert store.gc_blobs() == []
        store.mark_used([used])
        assert [p.name for p in markers.iterdir()] == [used]
