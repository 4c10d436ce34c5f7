"""Pod directories made by hand, in any state, with a stub stage1 (as rkt's tests/stub-stage1).

They follow the pod directory contract of docs/design.md, so the pod commands can be tested on
states that are hard to reach with real pods (aborted prepares, pods whose pid file is late) and
without depending on stage0/stage1 code. A "running" pod is a real process holding the pod
dir's flock, as stage1 does; killing it makes the pod exited.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid as uuidlib
from pathlib import Path

IMAGE_ID = "sha512-" + "ab" * 64

LOCK_HOLDER = r"""
import fcntl, os, signal, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
delay = float(sys.argv[2])
if delay >= 0:
    time.sleep(delay)
    with open(os.path.join(sys.argv[1], "pid"), "w") as f:
        f.write(str(os.getpid()))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(1)
"""


def image_manifest(name: str, version: str | None = "1.0.0") -> dict:
    labels = [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}]
    if version:
        labels.insert(0, {"name": "version", "value": version})
    return {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name, "labels": labels,
            "app": {"exec": ["/bin/true"], "user": "0", "group": "0"}}


def stub_stage1(pod: Path, log: Path) -> None:
    """A stage1 whose gc/stop/enter entrypoints are shell scripts that log their argv and cwd."""
    rootfs = pod / "stage1" / "rootfs"
    (rootfs / "bin").mkdir(parents=True, exist_ok=True)
    scripts = {
        "gc": f'echo "gc $PWD $*" >> {log}\n',
        "stop": f'echo "stop $*" >> {log}\n'
                'if [ "$1" = --force ]; then sig=KILL; else sig=TERM; fi\n'
                'kill -$sig "$(cat pid)"\n',
        "enter": f'echo "enter $PWD $*" >> {log}\necho "entered $*"\n',
    }
    annotations = [{"name": "coreos.com/rkt/stage1/interface-version", "value": "5"}]
    for name, body in scripts.items():
        script = rootfs / "bin" / name
        script.write_text("#!/bin/sh\n" + body)
        script.chmod(0o755)
        annotations.append({"name": f"coreos.com/rkt/stage1/{name}", "value": f"/bin/{name}"})
    manifest = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/stub-stage1",
                "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}],
                "annotations": annotations}
    (pod / "stage1" / "manifest").write_text(json.dumps(manifest))


def make_pod(data_dir: Path, dir_state: str, log: Path, *, apps=(("app", "example.com/app", "1.0.0"),),
             manifest: bool = True, exit_codes: dict | None = None, pid: int | None = None,
             pod_uuid: str | None = None) -> str:
    """A pod dir in `pods/<dir_state>/`; returns its UUID."""
    pod_uuid = pod_uuid or str(uuidlib.uuid4())
    root = data_dir / "pods"
    for state in ("embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"):
        (root / state).mkdir(parents=True, exist_ok=True)
    pod = root / dir_state / pod_uuid
    pod.mkdir()
    stub_stage1(pod, log)
    if manifest:
        runtime_apps = []
        for name, image, version in apps:
            runtime_apps.append({"name": name, "image": {"name": image, "id": IMAGE_ID},
                                 "app": {"exec": ["/bin/true"], "user": "0", "group": "0"}})
            info = pod / "appsinfo" / name
            info.mkdir(parents=True)
            (info / "manifest").write_text(json.dumps(image_manifest(image, version)))
            (info / "treeStoreID").write_text("deps-" + IMAGE_ID)
        (pod / "pod").write_text(json.dumps({"acKind": "PodManifest", "acVersion": "0.8.11",
                                             "apps": runtime_apps}))
        (pod / "pod-created").write_text("")
    if pid is not None:
        (pod / "pid").write_text(str(pid))
    status = pod / "stage1" / "rootfs" / "rkt" / "status"
    for name, code in (exit_codes or {}).items():
        status.mkdir(parents=True, exist_ok=True)
        (status / name).write_text(str(code))
    return pod_uuid


class Holder:
    """A process holding a pod dir's lock: the pod is `running` (or `preparing` in prepare/)
    while it lives. `pid_delay` >= 0 writes the `pid` file after that many seconds."""

    def __init__(self, pod_dir: Path, pid_delay: float = -1):
        self.proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(pod_dir), str(pid_delay)],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait(self, timeout: float = 10) -> int:
        return self.proc.wait(timeout=timeout)


def pod_dirs(data_dir: Path) -> dict[str, list[str]]:
    root = data_dir / "pods"
    return {s: sorted(os.listdir(root / s)) for s in os.listdir(root)} if root.exists() else {}
