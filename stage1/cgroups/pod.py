"""The cgroups of one pod: the manager chosen once for this host, the pod's scope and its apps'
cgroups with their limits and device policy, and the cleanup `gc` relies on."""

from __future__ import annotations

import os
import time

from stage1 import procfs
from stage1.cgroups import devices as _devices, limits as _limits, tree
from stage1.cgroups.manager import Manager


def detect(mountinfo: str = "/proc/self/mountinfo", root: str = tree.CGROUP_ROOT) -> Manager:
    """v2 when the unified hierarchy is mounted at `root` itself; otherwise v1 with whatever
    hierarchies are mounted (a hybrid host's cgroup2 at root/unified is only joined by enter)."""
    hierarchies: dict[str, str] = {}
    for mount in procfs.mountinfo(mountinfo):
        if mount.fstype == "cgroup2":
            if mount.mount_point == root:
                from stage1.cgroups.v2 import V2  # imported here: a host runs one of the two
                return V2(root)
            hierarchies.setdefault("", mount.mount_point)
        elif mount.fstype == "cgroup":
            for option in mount.super_options.split(","):
                if option not in ("rw", "ro"):
                    hierarchies.setdefault(option, mount.mount_point)
    from stage1.cgroups.v1 import V1
    return V1(hierarchies)


_manager: Manager | None = None


def manager() -> Manager:
    """This host's manager, detected on first use."""
    global _manager
    _manager = _manager or detect()
    return _manager


class AppCgroup:
    def __init__(self, pod: "PodCgroups", name: str, limits: _limits.Limits):
        self.pod, self.name, self.limits = pod, name, limits
        self.rel = f"{pod.rel}/{tree.app_dir(name)}"
        self._devices_set = False

    def attach(self, pid: int) -> None:
        """Move `pid` (0: this process) into the app's cgroup and set its oom_score_adj.

        Under the device policy, device nodes that stage1 mounted into the app's namespace
        (device volumes, the console) are allowed first: the rule is that what stage1 gave the
        app, it may use."""
        mgr = self.pod.manager
        if self.limits.devices is not None and mgr.enforces_devices and not self._devices_set:
            extra = [d for d in _devices.mounted_devices(pid) if d not in self.limits.devices]
            mgr.set_devices(self.rel, self.limits.devices + extra)
            self._devices_set = True
        mgr.attach(self.rel, pid)
        if self.limits.oom_score_adj is not None:
            _limits.set_oom_score_adj(pid, self.limits.oom_score_adj)

    def paths(self) -> list[str]:
        return self.pod.manager.dirs(self.rel)


class PodCgroups:
    """The cgroups of one pod; `create` it before the apps start, `remove` it after they end."""

    def __init__(self, uuid: str, mgr: Manager | None = None, parent: str | None = None):
        self.uuid = uuid
        self.rel = tree.pod_path(uuid, parent)
        self.manager = mgr or manager()
        self.apps: dict[str, AppCgroup] = {}
        self._mover = None  # (lock, errors) of the thread moving us in (attach_in_background)

    @classmethod
    def create(cls, uuid: str, mgr: Manager | None = None,
               parent: str | None = None) -> "PodCgroups":
        pod = cls(uuid, mgr, parent)
        pod.manager.prepare(pod.rel)
        return pod

    def app(self, name: str, isolators, devices=(), *, device_policy: bool = True) -> AppCgroup:
        """The app's cgroup with its limits written; ValueError for a bad isolator, OSError
        when the kernel refuses a limit. `devices`: (host path, read_only) of the app's
        device-node volumes, allowed on top of the standard devices; `device_policy=False`
        (--insecure-options=paths, as rkt) allows every device."""
        limits = _limits.limits_from(isolators)
        if device_policy:
            limits.devices = list(_devices.STANDARD_DEVICES) + _devices.device_rules(devices)
        group = AppCgroup(self, name, limits)
        self.manager.prepare(group.rel)
        self.manager.apply(group.rel, limits)
        self.apps[name] = group
        return group

    def attach_in_background(self) -> None:
        """Start moving this process into the pod's cgroup from a thread, which `attach(0)`
        waits for. A pod's first move into a cgroup waits out an RCU grace period (the kernel's
        cgroup_threadgroup_rwsem; 5-10 ms here): the caller does other work meanwhile, where
        it would sit in write(2). A thread, not a child: a fork costs as much in copied pages."""
        import _thread

        done = _thread.allocate_lock()
        done.acquire()
        failed: list[BaseException] = []

        def move() -> None:
            try:
                self._attach(os.getpid())
            except BaseException as err:  # noqa: BLE001 - attach(0) reports it
                failed.append(err)
            finally:
                done.release()

        self._mover = (done, failed)
        _thread.start_new_thread(move, ())

    def attach(self, pid: int) -> None:
        """Put a pod-level process (the supervisor) in the pod's cgroup (v2: its `stage1` leaf);
        0: this process, which attach_in_background may be moving already."""
        if pid == 0 and self._mover is not None:
            (done, failed), self._mover = self._mover, None
            done.acquire()
            if failed:
                raise failed[0]
            return
        self._attach(pid)

    def _attach(self, pid: int) -> None:
        rel = self.rel if self.manager.version == 1 else f"{self.rel}/stage1"
        if self.manager.version == 2:
            self.manager.prepare(rel)
        self.manager.attach(rel, pid)

    def paths(self) -> list[str]:
        return self.manager.dirs(self.rel)

    def remove(self, timeout: float = 2.0) -> None:
        self.manager.remove(self.rel, timeout)


def cleanup(uuid: str, timeout: float = 2.0, parent: str | None = None) -> None:
    """For `gc`: kill whatever is left in the pod's cgroups and remove them."""
    import signal

    mgr = manager()
    rel = tree.pod_path(uuid, parent)
    for _round in range(3):
        left = mgr.procs(rel)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    mgr.remove(rel, timeout)
