"""cgroup directories as files: their names (rkt's systemd-style scope), creating and removing them.

Kept free of the managers so that the process waiting for the pod can remove the pod's
cgroups at its end with nothing more than this module.
"""

from __future__ import annotations

import errno
import os
import time

from stage1.files import write_atomic

CGROUP_ROOT = "/sys/fs/cgroup"
SLICE = "machine.slice"


def scope_name(uuid: str) -> str:
    """systemd's escaped unit name for machine `rkt-<uuid>`, as rkt's pods were registered."""
    from stage1.podinfo import valid_uuid
    if not valid_uuid(uuid):
        raise ValueError(f"invalid pod UUID {uuid!r}")
    return "machine-" + ("rkt-" + uuid.lower()).replace("-", "\\x2d") + ".scope"


def pod_path(uuid: str, parent: str | None = None) -> str:
    """The pod's cgroup: in machine.slice, or under `parent`, the systemd service `rkt run` was
    started in (rkt ran nspawn --keep-unit there: the pod is part of the unit)."""
    return f"{parent or SLICE}/{scope_name(uuid)}"


def membership(proc_cgroup: str) -> dict[str, str]:
    """A /proc/<pid>/cgroup file: the cgroup path in each hierarchy, by the hierarchy's
    controllers ("name=systemd", "" for the unified one)."""
    with open(proc_cgroup) as f:
        lines = f.read().splitlines()
    return dict(line.split(":", 2)[1:] for line in lines)


def service_cgroup(proc_cgroup: str = "/proc/self/cgroup", unified: bool | None = None) -> str | None:
    """The cgroup of the systemd service this process runs in (`system.slice/x.service`),
    from the hierarchy systemd tracks units by: the unified one when it is what is mounted at
    the cgroup root (`unified`, found when None), even where the kernel also lists v1
    hierarchies (a cgroup v2 container on a hybrid host), else name=systemd; None outside a
    service."""
    try:
        paths = membership(proc_cgroup)
    except OSError:
        return None
    if unified is None:
        unified = os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))
    path = paths.get("") if unified else paths.get("name=systemd", paths.get(""))
    if not path or not path.rstrip("/").endswith(".service"):
        return None
    parts = [p for p in path.split("/") if p]
    if any(p in (".", "..") for p in parts):
        return None
    return "/".join(parts)


PARENT_FILE = "cgroup-parent"  # in the pod dir: where the pod's cgroups are, for gc
RUN_LEAF = "rkt-run"


def join_service(root: str = CGROUP_ROOT) -> str | None:
    """For the waiting parent of `rkt run`, before it forks the pod: the service cgroup it runs
    in, recorded in the pod dir for the supervisor and gc. On cgroup v2 it also moves itself
    to a leaf of the service, since the pod's cgroups below need the service to hold no
    process (cgroup v2's no-internal-process rule)."""
    parent = service_cgroup()
    if parent is None:
        return None
    record_parent(parent)
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        leaf = os.path.join(root, parent, RUN_LEAF)
        make(leaf)
        write(os.path.join(leaf, "cgroup.procs"), os.getpid())
    return parent


def record_parent(parent: str | None, pod_dir: str = ".") -> None:
    if parent:
        write_atomic(os.path.join(pod_dir, PARENT_FILE), parent + "\n")


def recorded_parent(pod_dir: str = ".") -> str | None:
    """The service cgroup the pod ran under (None: machine.slice); a file gc trusts only when it
    names a service, so that no other cgroup can be made a pod's."""
    try:
        with open(os.path.join(pod_dir, PARENT_FILE)) as f:
            parent = f.read().strip()
    except OSError:
        return None
    parts = parent.split("/")
    if not parent.endswith(".service") or any(p in ("", ".", "..") for p in parts):
        return None
    return parent


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
    """rmdir each cgroup of `paths` (those listed before their parent go with one rmdir each;
    children nobody listed are found and removed first), waiting up to `timeout` seconds for
    exiting tasks to leave, then the parents outside `paths` (the shared slice) if that was
    their last pod. False when a cgroup is still busy after `timeout`; other errors raise
    OSError."""
    deadline = time.monotonic() + timeout
    if not all(_remove_tree(path, deadline) for path in paths):
        return False
    for parent in {os.path.dirname(path) for path in paths}.difference(paths):
        try:
            os.rmdir(parent)
        except OSError:
            pass  # other pods still in the slice
    return True


def _remove_tree(path: str, deadline: float) -> bool:
    retried = False
    while True:
        try:
            os.rmdir(path)
            return True
        except FileNotFoundError:
            return True
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise
        if retried and time.monotonic() >= deadline:
            return False
        # busy: child cgroups, removed here, or tasks still leaving
        try:
            with os.scandir(path) as entries:
                children = [e.path for e in entries if e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return True
        if not all(_remove_tree(child, deadline) for child in children):
            return False
        if not children:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        retried = True
