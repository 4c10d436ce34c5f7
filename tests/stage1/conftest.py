"""Fixtures for stage1 tests: the stage1 ACI, pod directories, and a host-cleanliness check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.stage1.poddir import PodDir


@pytest.fixture(scope="session")
def stage1_aci(tmp_path_factory) -> Path:
    from stage1 import build
    out = tmp_path_factory.mktemp("stage1") / "stage1.aci"
    build.build(str(out))
    return out


def _mounts() -> set[tuple[str, str]]:
    with open("/proc/self/mountinfo") as f:
        return {(line.split()[0], line.split()[4]) for line in f}


def _pod_processes(marker: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


def _cgroups_named(part: str) -> list[str]:
    found = []
    for dirpath, dirnames, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(dirpath, d) for d in dirnames if part in d]
    return found


@pytest.fixture
def make_pod(tmp_path, stage1_aci):
    """make_pod(apps, volumes=()) -> PodDir; after the test: no mount, process or cgroup left."""
    mounts_before = _mounts()
    pods: list[PodDir] = []

    def make(apps, volumes=()):
        pod = PodDir.create(tmp_path, stage1_aci, apps, volumes)
        pods.append(pod)
        return pod

    yield make
    # other work on this machine may mount elsewhere meanwhile: judge only what pods could touch
    ours = ("/dev", "/proc", "/sys", "/run", str(tmp_path))
    after = _mounts()
    assert [m for m in after - mounts_before if m[1].startswith(ours)] == [], "mounts leaked"
    assert [m for m in mounts_before - after if m[1].startswith(ours)] == [], "host mounts lost"
    for pod in pods:
        assert _pod_processes(pod.uuid) == []
        assert _pod_processes(str(pod.path)) == []
        # the run itself removes its cgroups; gc must then find nothing to do and succeed
        assert _cgroups_named(pod.uuid[:8]) == []
        assert pod.entry("gc", pod.uuid).returncode == 0  # escaped or not, the first 8 hex stay


@pytest.fixture
def recording():
    """A RecordingKernel in place of Linux for the test: the calls are noted, nothing happens."""
    from stage1 import kernel
    fake = kernel.RecordingKernel()
    previous = kernel.use(fake)
    yield fake
    kernel.use(previous)
