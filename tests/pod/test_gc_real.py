"""`rkt gc` of real pods (rkt's TestGC): a finished pod, a prepared pod and an aborted prepare survive
`gc --mark-only=true`, and `gc --mark-only=false --expire-prepared=0 --grace-period=0` removes
them all, leaving no pod dir, mount, process or cgroup."""

from __future__ import annotations

import pytest

from tests.pod.handmade import make_pod
from tests.pod.realpods import cgroups_of, gone, prepare

pytestmark = pytest.mark.root


def remaining(rkt) -> list[str]:
    return sorted(p.name for s in ("exited-garbage", "prepared", "garbage", "run", "prepare")
                  for p in (rkt.dir / "pods" / s).iterdir())


def test_gc_like_rkt(rkt, real_stage1, busybox, tmp_path):
    finished = prepare(rkt, real_stage1, busybox, "--exec", "/bin/true")
    rkt("run-prepared", "--net=none", finished)
    prepared = prepare(rkt, real_stage1, busybox)
    aborted = make_pod(rkt.dir, "prepare", tmp_path / "log", manifest=False)

    rkt("gc", "--mark-only=true", "--expire-prepared=0", "--grace-period=0")
    assert remaining(rkt) == sorted([finished, prepared, aborted])
    assert (rkt.dir / "pods" / "exited-garbage" / finished).is_dir()

    out = rkt("gc", "--mark-only=false", "--expire-prepared=0", "--grace-period=0").stdout
    assert sorted(out.splitlines()) == sorted(f'Garbage collecting pod "{u}"'
                                              for u in (finished, prepared, aborted))
    assert remaining(rkt) == []
    assert all(gone(rkt, u) for u in (finished, prepared, aborted))
    assert cgroups_of(finished) == []


@pytest.mark.parametrize("net", ["host", "none"])
def test_a_pod_that_ended_cleanly_is_cleaned_up_by_stage1_itself(rkt, real_stage1, busybox, net):
    """Its cgroups are gone when it ends and its network (if it had its own) was undone by its
    keeper: stage1 says so in `stage1-cleaned-up`, and gc removes it without running the gc
    entrypoint. A pod that did not end cleanly keeps the entrypoint (tests/pod/test_gc.py)."""
    pod = prepare(rkt, real_stage1, busybox, "--exec", "/bin/true")
    rkt("run-prepared", f"--net={net}", pod)
    assert (rkt.dir / "pods" / "run" / pod / "stage1-cleaned-up").exists()
    assert cgroups_of(pod) == []
    out = rkt("gc", "--grace-period=0").stdout
    assert out.splitlines() == [f'Garbage collecting pod "{pod}"']
    assert remaining(rkt) == [] and gone(rkt, pod)
