"""`rkt rm` removes exited, prepared and aborted pods now, refuses running and preparing
ones, and reports unknown or empty UUIDs."""

from __future__ import annotations

import pytest

from tests.pod.handmade import Holder, make_pod, pod_dirs

pytestmark = pytest.mark.root


@pytest.fixture
def log(tmp_path):
    return tmp_path / "stage1.log"


def test_rm_exited_prepared_aborted(rkt, log):
    exited = make_pod(rkt.dir, "run", log, exit_codes={"app": 3})
    prepared = make_pod(rkt.dir, "prepared", log)
    aborted = make_pod(rkt.dir, "prepare", log, manifest=False)
    marked = make_pod(rkt.dir, "exited-garbage", log)
    out = rkt("rm", exited, prepared[:8], aborted, marked)
    assert out.stdout.split() == [f'"{u}"' for u in (exited, prepared, aborted, marked)]
    assert all(not v for v in pod_dirs(rkt.dir).values())
    # stage1 gc ran for the pods that had run, not for those that never did
    gc_calls = log.read_text().splitlines()
    assert sorted(line.split()[-1] for line in gc_calls) == sorted([exited, marked])


def test_rm_uuid_file(rkt, log, tmp_path):
    pod = make_pod(rkt.dir, "prepared", log)
    uuid_file = tmp_path / "uuid"
    uuid_file.write_text(pod + "\n")
    out = rkt("rm", f"--uuid-file={uuid_file}")
    assert out.stdout.strip() == f'"{pod}"'
    assert pod_dirs(rkt.dir)["prepared"] == []


def test_rm_refuses_running_and_preparing(rkt, log):
    running = make_pod(rkt.dir, "run", log)
    preparing = make_pod(rkt.dir, "prepare", log)
    holders = [Holder(rkt.dir / "pods" / "run" / running),
               Holder(rkt.dir / "pods" / "prepare" / preparing)]
    try:
        proc = rkt.fails("rm", running, preparing)
        assert f'pod "{running}" is currently running' in proc.stderr
        assert f'pod "{preparing}" is currently being prepared' in proc.stderr
        assert "failed to remove one or more pods" in proc.stderr
        assert pod_dirs(rkt.dir)["run"] == [running]
        assert pod_dirs(rkt.dir)["prepare"] == [preparing]
    finally:
        for h in holders:
            h.stop()


def test_rm_invalid(rkt, log, tmp_path):
    nonexistent = "0f746094-3438-42bc-ab37-3cf85f132e60"
    proc = rkt.fails("rm", nonexistent)
    assert f'no matches found for "{nonexistent}"' in proc.stderr
    uuid_file = tmp_path / "uuid"
    uuid_file.write_text(nonexistent)
    proc = rkt.fails("rm", f"--uuid-file={uuid_file}")
    assert f'no matches found for "{nonexistent}"' in proc.stderr
    proc = rkt.fails("rm", "")  # rkt's two lines, which scripts match
    assert "rm: cannot get pod: UUID cannot be empty" in proc.stderr
    assert "failed to remove one or more pods" in proc.stderr
    uuid_file.write_text("")
    proc = rkt.fails("rm", f"--uuid-file={uuid_file}")
    assert "empty UUID" in proc.stderr
    rkt.fails("rm", code=254)
    rkt.fails("rm", f"--uuid-file={uuid_file}", nonexistent, code=254)
    # a good pod among bad ones is still removed, and the command still fails
    good = make_pod(rkt.dir, "prepared", log)
    proc = rkt.fails("rm", nonexistent, good)
    assert f'"{good}"' in proc.stdout
    assert pod_dirs(rkt.dir)["prepared"] == []


def test_rm_hostile_uuid_files(rkt, tmp_path):
    proc = rkt.fails("rm", "--uuid-file=/dev/zero", timeout=20)
    assert "no UUID in file /dev/zero" in proc.stderr
    proc = rkt.fails("rm", f"--uuid-file={tmp_path}")
    assert "cannot read UUID file" in proc.stderr
    proc = rkt.fails("rm", f"--uuid-file={tmp_path / 'missing'}")
    assert "cannot read UUID file" in proc.stderr
    proc = rkt.fails("rm", "../../../etc")
    assert 'no matches found for "../../../etc"' in proc.stderr
