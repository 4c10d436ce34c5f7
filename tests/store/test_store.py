"""The store under concurrency and crashes, through real `rkt` processes: concurrent fetches,
fetch/rm/gc races, SIGKILL at every commit step and at random times, stale tmp cleanup, and
the index schema version."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import time

import pytest

from rkt.errors import RktError
from rkt.store import Store
from rkt.store.db import SCHEMA_VERSION
from tests.helpers.aci import make_aci, manifest
from tests.store.snapshot import store_state


def check_consistent(data_dir) -> dict:
    """Every row has its blob with the right hash, every blob its row, every tree is sealed,
    and cas/tmp is empty."""
    state = store_state(data_dir)
    cas = data_dir / "cas"
    ids = [r[0] for r in state["rows"]]
    assert sorted(f"sha512/{i[7:9]}/{i}" for i in ids) == state["blobs"]
    for image_id in ids:
        digest = hashlib.file_digest(open(cas / "blob" / "sha512" / image_id[7:9] / image_id, "rb"),
                                     "sha512").hexdigest()
        assert "sha512-" + digest == image_id
    for tree in state["trees"]:
        assert (cas / "tree" / tree / "rendered").exists(), tree
        assert (cas / "tree" / tree / "rootfs").is_dir(), tree
    assert state["tmp"] == []
    return state


def test_ten_concurrent_fetches_store_one_image(rkt, tmp_path):
    aci = tmp_path / "app.aci"
    image_id = make_aci(aci, manifest("example.com/app"), {"data": os.urandom(2 << 20)})
    procs = [subprocess.Popen(rkt.cmd("--insecure-options=image", "fetch", "--full", aci),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(10)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    assert {out for out, _, _ in results} == {image_id + "\n"}
    state = check_consistent(rkt.dir)
    assert state["rows"] == [(image_id, "example.com/app")]
    assert len(state["blobs"]) == 1 and len(state["trees"]) == 1


def test_fetch_rm_gc_race_keeps_store_consistent(rkt, tmp_path):
    acis = []
    for i in range(3):
        aci = tmp_path / f"app{i}.aci"
        make_aci(aci, manifest(f"example.com/app{i}"), {"data": os.urandom(256 << 10)})
        acis.append(aci)
    script = tmp_path / "race.sh"
    fetch = " ".join(rkt.cmd("--insecure-options=image", "fetch"))
    rm = " ".join(rkt.cmd("image", "rm"))
    gc = " ".join(rkt.cmd("image", "gc", "--grace-period=0s"))
    script.write_text(
        "set -u\n"
        f"fetcher() {{ for n in 1 2 3 4; do {fetch} $1 >/dev/null || echo FETCH-FAILED >&2; done; }}\n"
        f"remover() {{ for n in 1 2 3 4; do {rm} example.com/app$1 >/dev/null 2>&1; done; }}\n"
        f"collector() {{ for n in 1 2 3; do {gc} >/dev/null || echo GC-FAILED >&2; done; }}\n"
        f"fetcher {acis[0]} & fetcher {acis[1]} & fetcher {acis[2]} & fetcher {acis[0]} &\n"
        "remover 0 & remover 1 & collector & collector &\n"
        "wait\n")
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=300)
    assert "FAILED" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    check_consistent(rkt.dir)
    # Whatever survived works, and everything can be fetched back.
    for aci in acis:
        rkt("--insecure-options=image", "fetch", aci)
    state = check_consistent(rkt.dir)
    assert len(state["rows"]) == 3
    out = rkt("image", "verify", *[r[0] for r in state["rows"]]).stdout
    assert out.count("\n") == 3 and "damaged" not in out


@pytest.mark.parametrize("step", ["imported", "blob-placed", "tree-placed", "row-inserted"])
def test_sigkill_at_each_commit_step(rkt, tmp_path, step):
    aci = tmp_path / "app.aci"
    image_id = make_aci(aci, manifest("example.com/app"), {"data": os.urandom(1 << 20)})
    env = dict(os.environ, RKT_TEST_KILL_AT=step)
    proc = rkt("--insecure-options=image", "fetch", aci, check=False, env=env)
    assert proc.returncode == -signal.SIGKILL
    state = store_state(rkt.dir)
    assert state["tmp"] != []  # the dead importer's leftovers
    listed = rkt("image", "list", "--no-legend", "--full", "--fields=id").stdout
    after = check_consistent(rkt.dir)  # the command above cleaned up
    if step == "row-inserted":
        assert listed == image_id + "\n" and after["rows"] == [(image_id, "example.com/app")]
    else:
        assert listed == "" and after == {"rows": [], "blobs": [], "trees": [], "tmp": []}
    rkt("--insecure-options=image", "fetch", aci)
    assert check_consistent(rkt.dir)["rows"] == [(image_id, "example.com/app")]


def test_sigkill_at_random_times_during_large_fetch(rkt, tmp_path):
    aci = tmp_path / "big.aci"
    image_id = make_aci(aci, manifest("example.com/big"),
                        {f"blob{i}": os.urandom(8 << 20) for i in range(8)}, "none")
    interrupted = 0
    tmp = rkt.dir / "cas" / "tmp"
    for delay in (0, 0.05, 0.2, 0.4, 0.9):
        proc = subprocess.Popen(rkt.cmd("--insecure-options=image", "fetch", aci),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # count the delay from the import's start, not the interpreter's (slow on a busy host)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline and not (
                tmp.is_dir() and any(n.startswith("import-") for n in os.listdir(tmp))):
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        raw = store_state(rkt.dir)  # before any command cleans up: a row means a whole image
        interrupted += bool(raw["tmp"])
        for row_id, _ in raw["rows"]:
            blob = rkt.dir / "cas" / "blob" / "sha512" / row_id[7:9] / row_id
            assert "sha512-" + hashlib.file_digest(open(blob, "rb"), "sha512").hexdigest() == row_id
        listed = rkt("image", "list", "--no-legend", "--full", "--fields=id").stdout
        state = check_consistent(rkt.dir)
        assert listed in ("", image_id + "\n")
        if listed:  # it finished before the kill: then it is complete
            rkt("image", "rm", image_id)
    assert interrupted >= 2  # the kills did land in the middle of imports
    rkt("--insecure-options=image", "fetch", aci)
    assert check_consistent(rkt.dir)["rows"] == [(image_id, "example.com/big")]


def test_live_owner_work_dir_is_not_cleaned(rkt, tmp_path):
    with Store(rkt.dir) as store:
        with store._workdir("import") as work:
            (work / "partial").write_bytes(b"x")
            rkt("image", "list")
            assert (work / "partial").exists()
        # a dead owner's dir: nobody holds its lock
        (store.cas / "tmp" / "import-dead").mkdir()
        (store.cas / "tmp" / "import-dead" / "blob").write_bytes(b"x")
    rkt("image", "list")
    assert store_state(rkt.dir)["tmp"] == []


def test_index_schema_versioned(tmp_path):
    with Store(tmp_path / "d") as store:
        version = store.index.conn.execute("SELECT version FROM version").fetchall()
        tables = {r[0] for r in store.index.conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        mode = store.index.conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert version == [(SCHEMA_VERSION,)]
    assert {"version", "aciinfo", "remote"} <= tables
    assert mode == "wal"
    conn = sqlite3.connect(tmp_path / "d" / "cas" / "db" / "index.sqlite")
    conn.execute("UPDATE version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(RktError, match="schema version 99 is newer"):
        Store(tmp_path / "d")


def test_image_gc_keeps_what_pods_use(rkt, tmp_path):
    ids = []
    for i in range(3):
        aci = tmp_path / f"app{i}.aci"
        ids.append(make_aci(aci, manifest(f"example.com/app{i}"), {"f": b"%d" % i}))
        rkt("--insecure-options=image", "fetch", aci)
    with Store(rkt.dir) as store:
        trees = [store.tree_id(i) for i in ids]
    # pod A uses image 0's tree as its stage1 and lists image 1 as an app (by ID only)
    pod = rkt.dir / "pods" / "exited-garbage" / "1234"
    (pod / "appsinfo" / "app").mkdir(parents=True)
    (pod / "stage1TreeStoreID").write_text(trees[0])
    (pod / "appsinfo" / "app" / "treeStoreID").write_text(trees[0])
    (pod / "pod").write_text('{"acKind":"PodManifest","apps":[{"name":"app","image":{"id":"%s"}}]}'
                             % ids[1])
    out = rkt("image", "gc", "--grace-period=24h").stdout
    assert out.count("removed treestore") == 2  # not used by a pod, so not kept
    assert len(store_state(rkt.dir)["rows"]) == 3  # all used within the grace period
    out = rkt("image", "gc", "--grace-period=0s").stdout
    state = check_consistent(rkt.dir)
    assert sorted(r[0] for r in state["rows"]) == sorted(ids[:2])
    assert state["trees"] == [trees[0]]
    assert f'"{ids[2]}"' in out
    assert "--grace-period: invalid duration" in rkt.fails("image", "gc", "--grace-period=soon", code=254).stderr
    # image rm takes the image away, but not the tree a pod still runs from
    rkt("image", "rm", ids[0])
    assert store_state(rkt.dir)["trees"] == [trees[0]]


def test_index_migrates_with_backup(tmp_path, monkeypatch):
    from rkt.store import db

    with Store(tmp_path / "d") as store:
        store.index.insert("sha512-" + "a" * 128, "example.com/x", {}, b"{}", 1, False)
    monkeypatch.setattr(db, "MIGRATIONS", db.MIGRATIONS + [
        ("ALTER TABLE aciinfo ADD COLUMN note TEXT DEFAULT 'migrated'",)])
    with Store(tmp_path / "d") as store:
        assert store.index.conn.execute("SELECT version FROM version").fetchall() == [(2,)]
        assert store.index.conn.execute("SELECT name, note FROM aciinfo").fetchall() == [
            ("example.com/x", "migrated")]
    backups = list((tmp_path / "d" / "cas" / "db-backups").iterdir())
    assert len(backups) == 1 and backups[0].name.startswith("index-v1-")
    old = sqlite3.connect(backups[0])
    assert old.execute("SELECT version FROM version").fetchall() == [(1,)]
    old.close()


def test_crashed_reimport_never_removes_a_tree_a_pod_uses(rkt, tmp_path):
    aci = tmp_path / "app.aci"
    image_id = make_aci(aci, manifest("example.com/app"), {"f": b"1"})
    rkt("--insecure-options=image", "fetch", aci)
    tree = store_state(rkt.dir)["trees"][0]
    pod = rkt.dir / "pods" / "run" / "5678"
    pod.mkdir(parents=True)
    (pod / "stage1TreeStoreID").write_text(tree)
    rkt("image", "rm", image_id)
    assert store_state(rkt.dir)["trees"] == [tree]
    env = dict(os.environ, RKT_TEST_KILL_AT="tree-placed")
    assert rkt("--insecure-options=image", "fetch", aci, check=False, env=env).returncode < 0
    rkt("image", "list")
    state = check_consistent(rkt.dir)
    assert state["rows"] == [] and state["blobs"] == [] and state["trees"] == [tree]


def test_remote_rows_roundtrip_and_go_with_the_image(tmp_path):
    from rkt.store.db import Remote

    with Store(tmp_path / "d") as store:
        image_id = "sha512-" + "b" * 128
        store.index.insert(image_id, "example.com/r", {}, b"{}", 1, True)
        remote = Remote("https://example.com/r.aci", "https://example.com/r.aci.asc", '"etag"',
                        image_id, 3600, 123)
        store.index.set_remote(remote)
        assert store.index.get_remote(remote.aci_url) == remote
        store.remove(image_id)
        assert store.index.get_remote(remote.aci_url) is None


def test_unusable_store_dir_is_one_clear_error(rkt, tmp_path):
    rkt.dir.mkdir(parents=True)
    (rkt.dir / "cas").write_text("not a directory")
    err = rkt.fails("image", "list").stderr
    assert err.startswith("rkt: cannot open the image store in") and err.count("\n") == 1
