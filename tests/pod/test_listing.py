"""How stage0 finds pods on disk: one scandir per state dir, UUID names only, a pod caught in two
dirs mid-rename counted in the later one, and a whole UUID looked up without listing."""

from __future__ import annotations

import uuid

from rkt.options import GlobalOptions
from rkt.pod import pods


def _opts(tmp_path) -> GlobalOptions:
    return GlobalOptions(dir=tmp_path)


def test_is_pod_uuid_takes_only_canonical_lowercase_uuids():
    good = str(uuid.uuid4())
    assert pods.is_pod_uuid(good)
    for bad in (good.upper(), good.replace("-", ""), good + "x", "x" + good[1:], "", "..", "a" * 36):
        assert not pods.is_pod_uuid(bad), bad


def test_listing_skips_non_pods_and_prefers_the_later_state(tmp_path):
    opts = _opts(tmp_path)
    root = pods.init_dirs(opts)
    a, b, c = sorted(str(uuid.uuid4()) for _ in range(3))
    (root / "prepared" / a).mkdir()
    (root / "run" / b).mkdir()
    (root / "exited-garbage" / b).mkdir()  # mid-rename: the later dir wins
    (root / "run" / "not-a-pod").mkdir()
    (root / "run" / c).write_text("")  # a file, not a pod dir
    (root / "garbage" / c.upper()).mkdir()
    found = pods.all_pods(opts)
    assert [(p.uuid, p.dir_state) for p in found] == [(a, "prepared"), (b, "exited-garbage")]
    assert [p.uuid for p in pods.all_pods(opts, ("prepared",))] == [a]
    assert pods.all_uuids(opts) == [a, b]


def test_resolve_a_whole_uuid_or_a_unique_prefix(tmp_path):
    opts = _opts(tmp_path)
    root = pods.init_dirs(opts)
    a = str(uuid.uuid4())
    (root / "run" / a).mkdir()
    assert pods.resolve(opts, a.upper()).dir_state == "run"
    assert pods.resolve(opts, a[:6]).uuid == a
