"""A rendered tree changed behind the store's back: `rkt run` notices it (stat digest, see
rkt.store.treehash) and renders it again, as rkt did, unless `--insecure-options=ondisk`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rkt.store import Store

pytestmark = pytest.mark.root

BAD = "tree cache is in a bad state"


def _busybox_tree(rkt) -> Path:
    trees = [t for t in (rkt.dir / "cas" / "tree").iterdir() if (t / "rootfs" / "bin" / "busybox").exists()]
    assert len(trees) == 1, trees
    return trees[0]


@pytest.fixture
def run(rkt, real_stage1, busybox):
    def run(script: str, *flags: str, insecure: str = "image", **kw):
        return rkt(f"--insecure-options={insecure}", "run", f"--stage1-path={real_stage1}",
                   "--net=none", *flags, str(busybox), "--exec=/bin/sh", "--", "-c", script, "---", **kw)
    return run


def test_damaged_tree_is_rendered_again_unless_ondisk(run, rkt):
    first = run("cat /etc/group")
    tree = _busybox_tree(rkt)
    original = (tree / "rootfs" / "etc" / "group").read_bytes()
    assert first.stdout.encode() == original and BAD not in first.stderr
    # same size, same mtime: only the content (and ctime, which nobody can set back) changed
    group = tree / "rootfs" / "etc" / "group"
    st = group.stat()
    group.write_bytes(original.replace(b"root", b"evil"))
    os.utime(group, ns=(st.st_atime_ns, st.st_mtime_ns))
    (tree / "rootfs" / "planted").write_text("x")
    proc = run("cat /etc/group; test -e /planted && echo planted; true")
    assert proc.stdout.encode() == original, proc.stdout
    assert BAD in proc.stderr
    # repaired: the next run is quiet
    assert BAD not in run("true").stderr
    # --insecure-options=ondisk: rkt's "skip the tree store check"; the damage is used as is
    group.write_bytes(original.replace(b"root", b"evil"))
    proc = run("cat /etc/group", insecure="image,ondisk")
    assert "evil" in proc.stdout and BAD not in proc.stderr


def test_pods_writing_their_rootfs_never_damage_the_tree(run, rkt):
    run("echo changed > /etc/group; rm /bin/cat; mkdir /newdir")
    run("echo changed > /etc/group", "--no-overlay")
    proc = run("cat /etc/group")
    assert BAD not in proc.stderr and "changed" not in proc.stdout


def test_tree_intact_store_api(rkt, busybox):
    rkt("--insecure-options=image", "fetch", str(busybox))
    store = Store(rkt.dir)
    try:
        image_id = store.images()[0].id
        tree = store.render(image_id)
        assert store.tree_intact(tree.id)
        os.chmod(tree.rootfs / "bin" / "busybox", 0o700)
        assert not store.tree_intact(tree.id)
        tree = store.render_checked(image_id)
        assert store.tree_intact(tree.id)
        # a tree sealed before stat digests existed: the full hash decides, then the digest is kept
        (tree.path / "stat").unlink()
        assert store.tree_intact(tree.id) and (tree.path / "stat").exists()
        (tree.path / "stat").unlink()
        (tree.rootfs / "etc" / "passwd").write_text("x")
        assert not store.tree_intact(tree.id)
    finally:
        store.close()
