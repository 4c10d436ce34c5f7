"""cgroup directories as files: their names (rkt's systemd-style scope), creating and removing them.

Kept free of the managers so that the process waiting for the pod can remove the pod's
cgroups at its end with nothing more than this module.
"""

from __future__ import annotations

import errno
import os
import time

CGROUP_ROOT = "/sys/fs/cgroup"
SLICE = "machine.slice"


def scope_name(uuid: str) -> str:
    """systemd's escaped unit name for machine `rkt-<uuid>`, as rkt's pods were registered."""
    from stage1.podinfo import valid_uuid
    if not valid_uuid(uuid):
        raise ValueError(f"invalid pod UUID {uuid!r}")
    return "machine-" + ("rkt-" + uuid.lower()).replace("-", "\\x2d") + ".scope"


def pod_path(uuid: str) -> str:
    return f"{SLICE}/{scope_name(uuid)}"


def app_dir(name: str) -> str:
    from stage1.podinfo import is_ac_name
    if not is_ac_name(name) or len(name) > 200:
        raise ValueError(f"invalid app name {name!r}")
    return f"{name}.service"


def write(path: str, value) -> None:
    """One write(2) of `value`: a cgroup file takes each write as one command."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def read_words(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def make(path: str) -> None:
    for attempt in range(5):
        try:
            os.makedirs(path, exist_ok=True)
            return
        except FileNotFoundError:
            # another pod's cleanup removed the shared slice between our mkdirs
            if attempt == 4:
                raise


def procs(path: str) -> set[int]:
    """The pids in cgroup `path` and below."""
    pids = set()
    for dirpath, _dirnames, _files in os.walk(path):
        pids.update(int(p) for p in read_words(os.path.join(dirpath, "cgroup.procs")) if p.isdigit())
    pids.discard(0)
    return pids


def remove(paths, timeout: float) -> bool:
    """rmdir each cgroup of `paths` children first, waiting up to `timeout` seconds for exiting
    tasks to leave, then its parent (the shared slice) if that was its last pod. False when a
    cgroup is still busy after `timeout`; other errors raise OSError."""
    deadline = time.monotonic() + timeout
    if not all(_remove_tree(path, deadline) for path in paths):
        return False
    for parent in {os.path.dirname(path) for path in paths}:
        try:
            os.rmdir(parent)
        except OSError:
            pass  # other pods still in the slice
    return True


def _remove_tree(path: str, deadline: float) -> bool:
    try:
        children = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return True
    if not all(_remove_tree(child, deadline) for child in children):
        return False
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
