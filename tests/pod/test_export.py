"""`rkt export`: an exited pod's app rootfs with its changes as an ACI that imports and runs
again; with overlay (upper over the rendered tree) and with --no-overlay (the pod's copy)."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile

import pytest

from tests.conftest import REPO
from tests.pod.handmade import Holder, make_pod
from tests.pod.realpods import cgroups_of, prepare

pytestmark = pytest.mark.root

CHANGE = "echo changed > /etc/newfile && rm /etc/group && mkdir -p /data && echo x > /data/y"


def members(aci):
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(aci.read_bytes()))) as tf:
        return {m.name: m for m in tf.getmembers()}, json.loads(tf.extractfile("manifest").read())


@pytest.mark.parametrize("no_overlay", [False, True])
def test_export_reimport_run(rkt, real_stage1, busybox, tmp_path, no_overlay):
    flags = ("--no-overlay",) if no_overlay else ()
    pod = prepare(rkt, real_stage1, busybox, "--exec", "/bin/sh", "--", "-c", CHANGE, flags=flags)
    rkt("run-prepared", "--net=none", pod)
    out = tmp_path / "exported.aci"
    rkt("export", pod, str(out))
    names, manifest = members(out)
    assert manifest["name"] == "example.com/busybox"
    assert "rootfs/etc/newfile" in names and "rootfs/data/y" in names
    assert "rootfs/etc/group" not in names and "rootfs/etc/passwd" in names
    assert names["rootfs/bin/busybox"].mode & 0o111
    assert not any(n.startswith("rootfs/.") for n in names)
    actool = REPO / "build" / "appc-tools" / "actool"  # built by the conformance harness
    if actool.exists():
        subprocess.run([str(actool), "validate", str(out)], check=True)

    # the pod itself is untouched by the export and can go
    rkt.fails("export", pod, str(out))  # exists
    rkt("export", "--overwrite", pod, str(out))
    rkt("rm", pod)

    proc = rkt("--insecure-options=image", "run", "--net=none", f"--stage1-path={real_stage1}", str(out),
               "--exec", "/bin/sh", "--", "-c",
               "cat /etc/newfile /data/y && test ! -e /etc/group")
    assert "changed\nx" in proc.stdout
    rkt("gc", "--grace-period=0s")
    assert all(not list(d.iterdir()) for d in (rkt.dir / "pods").iterdir())
    assert cgroups_of(pod) == []


def test_export_refusals(rkt, tmp_path):
    log = tmp_path / "log"
    aborted = make_pod(rkt.dir, "prepare", log, manifest=True)
    proc = rkt.fails("export", aborted, str(tmp_path / "x.aci"))
    assert "is aborted prepare: only exited or prepared pods" in proc.stderr
    running = make_pod(rkt.dir, "run", log)
    holder = Holder(rkt.dir / "pods" / "run" / running, pid_delay=0)
    try:
        proc = rkt.fails("export", running, str(tmp_path / "x.aci"))
        assert "is running: only exited or prepared pods" in proc.stderr
    finally:
        holder.stop()
    two = make_pod(rkt.dir, "run", log, apps=(("a", "example.com/a", "1"), ("b", "example.com/b", "1")))
    proc = rkt.fails("export", two, str(tmp_path / "x.aci"))
    assert "several apps" in proc.stderr
    proc = rkt.fails("export", "--app=a", two, str(tmp_path / "nowhere" / "x.aci"))
    assert "does not exist" in proc.stderr
    proc = rkt.fails("export", two, str(tmp_path / "x.tar"))
    assert "extension must be .aci" in proc.stderr
    proc = rkt.fails("export", "--app=a", two, str(tmp_path / "x.aci"))
    assert "no rootfs" in proc.stderr or "gone from the store" in proc.stderr
    assert not (tmp_path / "x.aci").exists()
    assert not (rkt.dir / "tmp").exists() or list((rkt.dir / "tmp").iterdir()) == []
