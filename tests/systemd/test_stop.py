"""Stopping a pod as `systemctl stop` does: SIGTERM to `rkt run` stops the apps, runs their
post-stop handlers, records their exit codes and ends the pod with nothing left behind; started
from a service, the pod lives in the service's cgroup, as rkt's did (nspawn --keep-unit)."""

from __future__ import annotations

import os
import secrets
import signal
from pathlib import Path

import pytest

from tests.pod.realpods import cgroups_of, status
from tests.systemd.conftest import running, wait_for

CGROUP = Path("/sys/fs/cgroup")
TRAP = "trap 'echo got-term; exit 7' TERM; touch /data/started; while :; do sleep 0.1; done"
QUIET = "trap 'exit 0' TERM; touch /data/quiet-started; while :; do sleep 0.1; done"
POST_STOP = [{"name": "post-stop", "exec": ["/bin/sh", "-c", "echo post > /data/post-stop"]}]


def _systemd_hierarchy() -> Path:
    """Where systemd tracks units: the name=systemd hierarchy (v1), else the unified one."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[-3] == "cgroup" and "name=systemd" in fields[-1]:
                return Path(fields[4])
    return CGROUP


@pytest.fixture
def service():
    """A cgroup named like a systemd service, as systemd would have made for a unit."""
    name = f"rkt-test-{secrets.token_hex(4)}.service"
    path = _systemd_hierarchy() / name
    path.mkdir()
    yield name, path
    for top in [CGROUP / h for h in os.listdir(CGROUP)] + [CGROUP]:
        base = top / name
        if base.is_dir():
            for dirpath, _dirs, _files in sorted(os.walk(base), key=lambda w: -len(w[0])):
                os.rmdir(dirpath)


def _stop_and_check(rkt, proc, data: Path, uuid_file: Path) -> str:
    wait_for(data / "started")
    wait_for(data / "quiet-started")  # both traps set: the exit codes below are the traps'
    uuid = uuid_file.read_text().strip()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    # the first app to fail decides the exit code: a's trap exits 7
    assert proc.returncode == 7, err
    assert (data / "post-stop").read_text() == "post\n"
    final = status(rkt, uuid)
    assert final["state"] == "exited"
    assert final["app-a"] == "7" and final["app-b"] == "0"
    assert cgroups_of(uuid) == []
    assert "got-term" in rkt("logs", "--app=a", uuid).stdout
    return uuid


def _two_apps(image, tmp_path):
    """App a traps TERM (exit 7, post-stop handler), app b exits 0 on it; both share /data."""
    data = tmp_path / "data"
    data.mkdir()
    mp = [{"name": "data", "path": "/data"}]
    a = image(["/bin/sh", "-c", TRAP], name="example.com/a", mount_points=mp,
              event_handlers=POST_STOP)
    b = image(["/bin/sh", "-c", QUIET], name="example.com/b", mount_points=mp)
    return data, a, b, tmp_path / "uuid"


def test_sigterm_stops_the_pod_cleanly(rkt, real_stage1, image, tmp_path):
    data, a, b, uuid_file = _two_apps(image, tmp_path)
    with running(rkt, real_stage1, f"--uuid-file-save={uuid_file}",
                 f"--volume=data,kind=host,source={data}", a, b) as proc:
        _stop_and_check(rkt, proc, data, uuid_file)


def test_in_a_service_the_pod_stays_in_its_cgroup(rkt, real_stage1, image, tmp_path, service):
    name, path = service
    data, a, b, uuid_file = _two_apps(image, tmp_path)
    # as systemd starts a unit's main process: inside the unit's cgroup
    with running(rkt, real_stage1, f"--uuid-file-save={uuid_file}",
                 f"--volume=data,kind=host,source={data}", a, b,
                 prefix=["sh", "-c", f'echo $$ > {path}/cgroup.procs && exec "$@"', "sh"]) as proc:
        wait_for(data / "started")
        uuid = uuid_file.read_text().strip()
        pod_dir = rkt.pod_dir(uuid)
        assert (pod_dir / "cgroup-parent").read_text().strip() == name
        app_pid = int((pod_dir / "stage1/rootfs/rkt/pids/a").read_text())
        supervisor = int((pod_dir / "pid").read_text())
        for pid in (app_pid, supervisor):
            lines = dict(line.split(":", 2)[1:] for line in
                         Path(f"/proc/{pid}/cgroup").read_text().splitlines())
            tracked = lines.get("name=systemd", lines.get(""))
            assert tracked.startswith(f"/{name}"), lines  # systemd counts it as the unit's
            if "memory" in lines:
                assert lines["memory"].startswith(f"/{name}/machine-rkt"), lines
        _stop_and_check(rkt, proc, data, uuid_file)
        # what KillMode=mixed would SIGKILL after the main process: nothing
        left = [p for d, _, _ in os.walk(path) for p in (Path(d) / "cgroup.procs").read_text().split()]
        assert left == []


@pytest.mark.parametrize("content,expected", [
    ("9:name=systemd:/system.slice/web.service\n4:memory:/\n0::/\n", "system.slice/web.service"),
    ("0::/system.slice/web.service\n", "system.slice/web.service"),  # cgroup v2
    ("9:name=systemd:/user.slice/user-0.slice/session-3.scope\n0::/\n", None),
    ("9:name=systemd:/\n", None),
    ("0::/system.slice/../x.service\n", None),
])
def test_service_cgroup_from_proc(tmp_path, content, expected):
    from stage1.cgroups import tree
    proc = tmp_path / "cgroup"
    proc.write_text(content)
    assert tree.service_cgroup(str(proc), unified=False) == expected


def test_service_cgroup_on_a_unified_root_ignores_v1_lines(tmp_path):
    """A cgroup v2 system (here: systemd in a container on a hybrid host) tracks units in the
    unified hierarchy even when the kernel still lists v1 ones, which name no service."""
    from stage1.cgroups import tree
    proc = tmp_path / "cgroup"
    proc.write_text("9:name=systemd:/..\n4:memory:/\n0::/system.slice/web.service/rkt-run\n")
    assert tree.service_cgroup(str(proc), unified=True) is None  # rkt-run: already moved
    proc.write_text("9:name=systemd:/payload\n4:memory:/\n0::/system.slice/web.service\n")
    assert tree.service_cgroup(str(proc), unified=True) == "system.slice/web.service"


def test_gc_trusts_only_a_service_as_recorded_parent(tmp_path):
    from stage1.cgroups import tree
    tree.record_parent("system.slice/web.service", str(tmp_path))
    assert tree.recorded_parent(str(tmp_path)) == "system.slice/web.service"
    for bad in ("machine.slice", "system.slice/../../x.service", "/abs.service", ""):
        (tmp_path / tree.PARENT_FILE).write_text(bad + "\n")
        assert tree.recorded_parent(str(tmp_path)) is None, bad
