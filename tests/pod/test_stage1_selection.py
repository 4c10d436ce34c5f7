"""Which stage1 a pod runs under: --stage1-path/-url/-name/-hash/-from-dir, stage1.d config, the default."""

from __future__ import annotations

import pytest

from rkt.errors import RktError
from tests.pod.conftest import script_stage1

pytestmark = pytest.mark.root

INSECURE = "--insecure-options=image"


@pytest.fixture
def stage1s(tmp_path):
    """Two script stage1 images that say who they are."""
    a, b = tmp_path / "s1-a.aci", tmp_path / "s1-b.aci"
    ids = {"a": script_stage1(a, tag="A", name="example.com/stage1-a", version="1.0.0"),
           "b": script_stage1(b, tag="B", name="example.com/stage1-b", version="2.0.0")}
    return {"a": a, "b": b, "ids": ids}


def ran(proc, tag):
    assert proc.returncode == 0, proc.stderr
    return f"script stage1 {tag} ran" in proc.stdout


def test_stage1_path_and_url(rkt, stage1s, busybox):
    assert ran(rkt(INSECURE, "run", f"--stage1-path={stage1s['a']}", busybox), "A")
    assert ran(rkt(INSECURE, "run", f"--stage1-url=file://{stage1s['b']}", busybox), "B")
    proc = rkt.fails(INSECURE, "run", "--stage1-path=/nonexistent.aci", busybox)
    assert "stage1 image /nonexistent.aci: not found" in proc.stderr


def test_stage1_name_and_hash_from_the_store(rkt, stage1s, busybox):
    proc = rkt.fails(INSECURE, "run", "--stage1-name=example.com/stage1-b", busybox)
    assert 'stage1 image "example.com/stage1-b" is not in the store' in proc.stderr
    rkt(INSECURE, "fetch", stage1s["a"])
    rkt(INSECURE, "fetch", stage1s["b"])
    assert ran(rkt(INSECURE, "run", "--stage1-name=example.com/stage1-b:2.0.0", busybox), "B")
    assert ran(rkt(INSECURE, "run", "--stage1-name=example.com/stage1-a", busybox), "A")
    rkt.fails(INSECURE, "run", "--stage1-name=example.com/stage1-a:9.9.9", busybox)
    assert ran(rkt(INSECURE, "run", f"--stage1-hash={stage1s['ids']['b'][:20]}", busybox), "B")
    tree = (rkt.pod_dirs("run")[0] / "stage1TreeStoreID").read_text()
    assert tree.startswith("deps-sha512-")


def test_stage1_from_dir(rkt, stage1s, busybox, tmp_path):
    images = tmp_path / "stage1-images"
    images.mkdir()
    (images / "mine.aci").write_bytes(stage1s["b"].read_bytes())
    rkt.write_config("paths", "paths.d", **{"stage1-images": str(images)})
    assert ran(rkt(INSECURE, "run", "--stage1-from-dir=mine.aci", busybox), "B")
    proc = rkt.fails(INSECURE, "run", "--stage1-from-dir=../mine.aci", busybox)
    assert "must be a file name" in proc.stderr


def test_stage1_from_config_name_version_location(rkt, stage1s, busybox, tmp_path):
    rkt.write_config("stage1", "stage1.d", name="example.com/stage1-a", version="1.0.0",
                     location=str(stage1s["a"]))
    assert ran(rkt(INSECURE, "run", busybox), "A")
    # imported once: now it comes from the store, even with the file gone
    moved = tmp_path / "gone.aci"
    stage1s["a"].rename(moved)
    assert ran(rkt(INSECURE, "run", busybox), "A")
    # the user config overrides the local one; an explicit flag overrides both
    rkt.write_config("stage1", "stage1.d", where="user", name="example.com/stage1-b",
                     version="2.0.0", location=f"file://{stage1s['b']}")
    assert ran(rkt(INSECURE, "run", busybox), "B")
    assert ran(rkt(INSECURE, "run", f"--stage1-path={moved}", busybox), "A")


def test_missing_default_stage1_is_explained(rkt, busybox, tmp_path):
    rkt.write_config("stage1", "stage1.d", name="example.com/stage1-none", version="1",
                     location=str(tmp_path / "none.aci"))
    proc = rkt.fails(INSECURE, "run", busybox)
    assert "example.com/stage1-none:1 is not in the store" in proc.stderr
    assert rkt.pod_dirs() == []


def test_stage1_flags_are_exclusive(rkt, stage1s, busybox):
    proc = rkt.fails(INSECURE, "run", f"--stage1-path={stage1s['a']}", "--stage1-hash=sha512-00",
                     busybox, code=254)
    assert "mutually exclusive" in proc.stderr


def test_builtin_default_is_imported_once_then_found_by_name(tmp_path, monkeypatch):
    """No flag, no config: the installed default ACI, imported on first use only."""
    from rkt.options import GlobalOptions
    from rkt.pod import stage1
    from rkt.store import Store

    aci = tmp_path / "lib" / "rkt" / "stage1.aci"
    aci.parent.mkdir(parents=True)
    image_id = script_stage1(aci, name=stage1.DEFAULT_NAME, version=stage1.default_version())
    monkeypatch.setattr("sys.prefix", str(tmp_path))
    assert stage1.default_location() == aci
    opts = GlobalOptions(dir=tmp_path / "data", local_config=tmp_path / "l",
                         system_config=tmp_path / "s", user_config=None)
    with Store(opts.dir) as store:
        assert stage1.select(opts, store, None) == image_id
        aci.unlink()
        assert stage1.select(opts, store, None) == image_id  # from the store now
    opts = GlobalOptions(dir=tmp_path / "fresh", local_config=tmp_path / "l",
                         system_config=tmp_path / "s")
    with Store(opts.dir) as store, pytest.raises(RktError, match="does not exist"):
        stage1.select(opts, store, None)
