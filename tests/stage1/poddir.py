"""Hand-built pod directories, laid out as stage0 would leave them, to run the real stage1.

`PodDir.create(base, apps=[...])` writes `pod` (a reified pod manifest), `appsinfo/<app>/manifest`,
the stage1 image (`stage1/manifest`, `stage1/rootfs/`) from the ACI `stage1.build` makes, and each
app's rootfs as a plain directory at `stage1/rootfs/opt/stage2/<app>/rootfs`, extracted from a
busybox ACI made by tests/helpers/aci.py. Nothing is mounted on the host.
"""

from __future__ import annotations

import fcntl
import io
import json
import os
import subprocess
import tarfile
import time
import uuid as _uuid
from pathlib import Path

from tests.helpers import aci
from tests.helpers.output import app_output


_TRUSTED = {"filter": "fully_trusted"} if hasattr(tarfile, "fully_trusted_filter") else {}


def extract(tar: bytes, dest: Path, *, rootfs_only: bool = False) -> None:
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        for member in tf.getmembers():
            name = member.name
            if rootfs_only:
                if not name.startswith("rootfs/"):
                    continue
                member.name = name[len("rootfs/"):]
            # the interpreter's own behaviour: Debian's 3.11.2 predates extraction filters
            tf.extract(member, dest, **_TRUSTED)


def app_entry(name: str, exec_: list[str], *, user="0", group="0", files=None, mounts=(),
              image_extra=None, **app_fields) -> dict:
    """One app: its image (busybox + files) and its reified app section (+ app_fields)."""
    app = {"exec": exec_, "user": user, "group": group}
    app.update(app_fields)
    return {"name": name, "app": app, "files": aci.busybox_files(files),
            "image": aci.manifest(f"example.com/{name}", exec_=exec_, **(image_extra or {})),
            "mounts": list(mounts)}


class PodDir:
    def __init__(self, path: Path, uuid: str):
        self.path, self.uuid = path, uuid

    @classmethod
    def create(cls, base: Path, stage1_aci: Path, apps: list[dict], volumes=()) -> "PodDir":
        uuid = str(_uuid.uuid4())
        path = base / "pods" / "run" / uuid
        path.mkdir(parents=True)
        extract(Path(stage1_aci).read_bytes(), path / "stage1")
        manifest_apps = []
        for entry in apps:
            tar = aci.tar_bytes(entry["image"], entry["files"])
            info = path / "appsinfo" / entry["name"]
            info.mkdir(parents=True)
            (info / "manifest").write_text(json.dumps(entry["image"]))
            (info / "treeStoreID").write_text("deps-" + aci.image_id(tar))
            rootfs = path / "stage1" / "rootfs" / "opt" / "stage2" / entry["name"] / "rootfs"
            rootfs.mkdir(parents=True)
            extract(tar, rootfs, rootfs_only=True)
            manifest_apps.append({"name": entry["name"],
                                  "image": {"name": entry["image"]["name"], "id": aci.image_id(tar)},
                                  "app": entry["app"], "mounts": entry["mounts"]})
        pod = {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": manifest_apps,
               "volumes": list(volumes)}
        (path / "pod").write_text(json.dumps(pod))
        return cls(path, uuid)

    @property
    def stage1_rootfs(self) -> Path:
        return self.path / "stage1" / "rootfs"

    def rootfs(self, app: str) -> Path:
        return self.stage1_rootfs / "opt" / "stage2" / app / "rootfs"

    def status(self, app: str) -> str | None:
        p = self.stage1_rootfs / "rkt" / "status" / app
        return p.read_text() if p.exists() else None

    def entrypoint(self, name: str) -> str:
        m = json.loads((self.path / "stage1" / "manifest").read_text())
        value = {a["name"]: a["value"] for a in m["annotations"]}[f"coreos.com/rkt/stage1/{name}"]
        return str(self.stage1_rootfs / value.lstrip("/"))

    def run_cmd(self, *flags: str) -> list[str]:
        extra = os.environ.get("STAGE1_TEST_FLAGS", "").split()  # e.g. --debug while developing
        return [self.entrypoint("run"), *flags, *extra, self.uuid]

    def spawn(self, *flags: str, stdin=subprocess.DEVNULL, **kw) -> subprocess.Popen:
        """Start `stage1/run` as stage0 would: cwd = pod dir, the pod dir locked in RKT_LOCK_FD."""
        lock = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        env = {"RKT_LOCK_FD": str(lock), "PATH": "/usr/bin:/bin"}
        try:
            return subprocess.Popen(self.run_cmd(*flags), cwd=self.path, env=env, stdin=stdin,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    pass_fds=(lock,), **kw)
        finally:
            os.close(lock)

    def run(self, *flags: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        proc = self.spawn(*flags, **kw)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise
        return app_output(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))

    def entry(self, name: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([self.entrypoint(name), *args], cwd=self.path, capture_output=True,
                              text=True, timeout=timeout)


SH = "/bin/sh"


def sh(name: str, script: str, **kw) -> dict:
    return app_entry(name, [SH, "-c", script], **kw)


def run_ok(pod: PodDir, *flags, **kw) -> subprocess.CompletedProcess:
    r = pod.run(*flags, **kw)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def wait_for(path: Path, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
