"""`rkt gc` marks exited pods and aborted prepares, expires prepared pods, and sweeps
garbage past the grace period through the stage1 gc entrypoint; `--mark-only` only marks."""

from __future__ import annotations

import pytest

from rkt.kernel import mounts_under
from tests.pod.handmade import Holder, make_pod, pod_dirs

pytestmark = pytest.mark.root


@pytest.fixture
def log(tmp_path):
    return tmp_path / "stage1.log"


def test_mark_only_then_sweep(rkt, log):
    exited = make_pod(rkt.dir, "run", log, exit_codes={"app": 0})
    aborted = make_pod(rkt.dir, "prepare", log, manifest=False)
    prepared = make_pod(rkt.dir, "prepared", log)
    running = make_pod(rkt.dir, "run", log)
    holder = Holder(rkt.dir / "pods" / "run" / running, pid_delay=0)
    try:
        out = rkt("gc", "--mark-only")
        assert "Garbage collecting" not in out.stdout
        dirs = pod_dirs(rkt.dir)
        assert dirs["exited-garbage"] == [exited]
        assert dirs["garbage"] == [aborted]
        assert dirs["prepared"] == [prepared]
        assert dirs["run"] == [running]
        assert not log.exists()

        # within the default grace period nothing exited is deleted; the aborted prepare is
        out = rkt("gc")
        assert out.stdout.splitlines() == [f'Garbage collecting pod "{aborted}"']
        assert "still within grace period (30m0s)" in out.stderr
        dirs = pod_dirs(rkt.dir)
        assert dirs["exited-garbage"] == [exited] and dirs["garbage"] == []

        out = rkt("gc", "--grace-period=0s")
        assert out.stdout.splitlines() == [f'Garbage collecting pod "{exited}"']
        # stage1 gc ran in the pod dir, with rkt's arguments for interface 5: --local-config DIR UUID
        assert log.read_text().split() == ["gc", str(rkt.dir / "pods/exited-garbage" / exited),
                                           "--local-config", str(rkt.local_config), exited]
        dirs = pod_dirs(rkt.dir)
        assert dirs["exited-garbage"] == [] and dirs["prepared"] == [prepared]
        assert dirs["run"] == [running]

        # prepared pods expire
        out = rkt("gc", "--expire-prepared=0s")
        assert out.stdout.splitlines() == [f'Garbage collecting pod "{prepared}"']
        assert pod_dirs(rkt.dir)["prepared"] == []
    finally:
        holder.stop()
    # the running pod only becomes garbage once it exited
    assert pod_dirs(rkt.dir)["run"] == [running]
    out = rkt("gc", "--grace-period=0s")
    assert out.stdout.splitlines() == [f'Garbage collecting pod "{running}"']
    assert all(not v for v in pod_dirs(rkt.dir).values())


def test_gc_skips_locked_garbage(rkt, log):
    busy = make_pod(rkt.dir, "garbage", log)
    holder = Holder(rkt.dir / "pods" / "garbage" / busy)
    try:
        out = rkt("gc")
        assert busy not in out.stdout
        assert pod_dirs(rkt.dir)["garbage"] == [busy]
    finally:
        holder.stop()
    rkt("gc")
    assert pod_dirs(rkt.dir)["garbage"] == []


def test_gc_unmounts_leftovers_and_never_deletes_through_a_mount(rkt, log, tmp_path):
    import subprocess

    pod = make_pod(rkt.dir, "garbage", log)
    pod_dir = rkt.dir / "pods" / "garbage" / pod
    keep = tmp_path / "host-data"
    keep.mkdir()
    (keep / "precious").write_text("do not delete")
    target = pod_dir / "stage1" / "rootfs" / "mnt"
    target.mkdir(parents=True)
    subprocess.run(["mount", "--bind", str(keep), str(target)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "none", str(target)], check=True)
    try:
        out = rkt("gc")
        assert f'Garbage collecting pod "{pod}"' in out.stdout
        assert not pod_dir.exists()
        assert (keep / "precious").read_text() == "do not delete"
        assert mounts_under(rkt.dir) == []
    finally:
        for mount in mounts_under(rkt.dir):
            subprocess.run(["umount", mount.point])


def test_gc_bad_flags(rkt):
    proc = rkt.fails("gc", "--grace-period=soon", code=254)
    assert "--grace-period" in proc.stderr
    rkt.fails("gc", "--expire-prepared=1d", code=254)


def test_gc_deletes_even_when_stage1_gc_fails_or_is_missing(rkt, log):
    broken = make_pod(rkt.dir, "exited-garbage", log)
    (rkt.dir / "pods" / "exited-garbage" / broken / "stage1" / "rootfs" / "bin" / "gc").write_text(
        "#!/bin/sh\nexit 9\n")
    missing = make_pod(rkt.dir, "exited-garbage", log)
    (rkt.dir / "pods" / "exited-garbage" / missing / "stage1" / "manifest").write_text("{}")
    out = rkt("gc", "--grace-period=0s")
    assert "exit status 9" in out.stderr
    assert "has no 'gc' entrypoint" in out.stderr
    assert pod_dirs(rkt.dir)["exited-garbage"] == []


def test_concurrent_gc_runs(rkt, log):
    import subprocess

    from tests.conftest import REPO

    made = [make_pod(rkt.dir, state, log) for state in ("run", "prepare", "garbage") * 4]
    procs = [subprocess.Popen(rkt.cmd("gc", "--grace-period=0s", "--expire-prepared=0s"), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    assert [r[2] for r in results] == [0, 0, 0], results
    collected = [line for r in results for line in r[0].splitlines()]
    assert sorted(collected) == sorted(f'Garbage collecting pod "{u}"' for u in made)
    assert all("error" not in r[1] for r in results), results
    assert all(not v for v in pod_dirs(rkt.dir).values())


def test_gc_removes_immutable_files(rkt, log):
    import subprocess

    pod = make_pod(rkt.dir, "exited-garbage", log)
    victim = rkt.dir / "pods" / "exited-garbage" / pod / "stage1" / "rootfs" / "opt" / "locked"
    victim.parent.mkdir(parents=True)
    victim.write_text("x")
    subprocess.run(["chattr", "+i", str(victim)], check=True)
    appendonly = victim.parent / "log"
    appendonly.write_text("y")
    subprocess.run(["chattr", "+a", str(appendonly)], check=True)
    try:
        out = rkt("gc", "--grace-period=0s")
        assert f'Garbage collecting pod "{pod}"' in out.stdout
        assert pod_dirs(rkt.dir)["exited-garbage"] == []
    finally:
        if victim.exists():
            subprocess.run(["chattr", "-i", str(victim)])
            subprocess.run(["chattr", "-a", str(appendonly)])


def test_gc_skips_the_stage1_gc_of_a_pod_stage1_cleaned_up(rkt, log):
    cleaned = make_pod(rkt.dir, "run", log, exit_codes={"app": 0})
    (rkt.dir / "pods" / "run" / cleaned / "stage1-cleaned-up").write_text("")
    other = make_pod(rkt.dir, "run", log, exit_codes={"app": 0})
    out = rkt("gc", "--grace-period=0s")
    assert sorted(out.stdout.splitlines()) == sorted(f'Garbage collecting pod "{u}"'
                                                     for u in (cleaned, other))
    # only the pod without the marker had its stage1 gc entrypoint run
    assert log.read_text().split() == ["gc", str(rkt.dir / "pods/exited-garbage" / other),
                                       "--local-config", str(rkt.local_config), other]
    assert all(not v for v in pod_dirs(rkt.dir).values())
