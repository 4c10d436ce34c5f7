"""Real pods for the pod command tests: prepare / run-prepared / run with the real stage1."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.conftest import REPO


def prepare(rkt, stage1: Path, aci: Path, *app_args: str, flags: tuple[str, ...] = ()) -> str:
    out = rkt("--insecure-options=image", "prepare", "--quiet", f"--stage1-path={stage1}",
              *flags, str(aci), *app_args).stdout
    return out.strip().splitlines()[-1]


def run_prepared_in_background(rkt, pod_uuid: str) -> subprocess.Popen:
    return subprocess.Popen(rkt.cmd("run-prepared", "--net=none", pod_uuid), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def status(rkt, pod_uuid: str) -> dict:
    out = rkt("status", pod_uuid).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def wait_running(rkt, pod_uuid: str, proc: subprocess.Popen | None = None,
                 timeout: float = 20) -> dict:
    """Status of the pod once it runs and its apps started (pid written)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"pod exited early: {proc.communicate()}")
        current = status(rkt, pod_uuid)
        if current["state"] == "running" and current.get("pid", "-1") != "-1":
            return current
        time.sleep(0.1)
    raise AssertionError(f"pod {pod_uuid} did not start: {status(rkt, pod_uuid)}")


def cgroups_of(pod_uuid: str) -> list[str]:
    """cgroup directories (any hierarchy, a few levels deep) whose name mentions the pod."""
    found = []
    short = pod_uuid.replace("-", "")
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        depth = top.count("/") - 3
        if pod_uuid in top or short in top:
            found.append(top)
            dirs[:] = []
        elif depth >= 4:
            dirs[:] = []
    return found


def gone(rkt, pod_uuid: str) -> bool:
    return not any(p.name == pod_uuid for p in rkt.pod_dirs())
