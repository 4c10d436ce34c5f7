"""The one interface both cgroup versions implement (youki's libcgroups `CgroupManager`).

A cgroup is named by its path relative to the hierarchy root (`rel`); a manager knows where that
is on disk for each hierarchy it uses and turns limits, device rules and pids into file writes.
"""

from __future__ import annotations

import errno
import os

from stage1.cgroups import tree

# only the controllers that carry isolators or policy, so that a pod costs few mkdirs
CONTROLLERS = ("memory", "cpu", "pids", "devices")


class Manager:
    version = 0
    enforces_devices = False
    controllers: list[str] = []  # those of CONTROLLERS this host offers

    def dirs(self, rel: str) -> list[str]:
        """The directories of cgroup `rel`, one per hierarchy used."""
        raise NotImplementedError

    def hierarchy(self, controllers: str) -> str | None:
        """Mount point of the hierarchy a /proc/<pid>/cgroup line names ("" is the unified one)."""
        raise NotImplementedError

    def apply(self, rel: str, limits) -> None:
        """Write `limits` (a limits.Limits) into cgroup `rel`; OSError when the kernel refuses."""
        raise NotImplementedError

    def set_devices(self, rel: str, rules) -> None:
        """Allow only the devices of `rules` (devices.allow lines) in `rel`."""
        raise NotImplementedError

    def prepare(self, rel: str) -> None:
        """Create the cgroup `rel` (and its parents) in every hierarchy used."""
        for path in self.dirs(rel):
            tree.make(path)

    def attach(self, rel: str, pid: int) -> None:
        for path in self.dirs(rel):
            tree.write(os.path.join(path, "cgroup.procs"), pid)

    def procs(self, rel: str) -> set[int]:
        return set().union(*(tree.procs(path) for path in self.dirs(rel)))

    def remove(self, rel: str, timeout: float = 2.0) -> None:
        """Remove `rel` and its children, waiting (up to `timeout`) for exiting tasks to go."""
        if not tree.remove(self.dirs(rel), timeout):
            raise OSError(errno.EBUSY, f"cgroup {rel} is still busy")

    def join(self, pid: int) -> None:
        """Move this process into every cgroup process `pid` is in, in every hierarchy."""
        for controllers, path in tree.membership(f"/proc/{pid}/cgroup").items():
            base = self.hierarchy(controllers)
            procs = f"{base}{path}/cgroup.procs"
            if base and os.path.exists(procs):
                tree.write(procs, os.getpid())

    def need(self, controller: str, what: str) -> None:
        if controller not in self.controllers:
            raise OSError(errno.ENOTSUP, f"{what} needs the {controller} cgroup controller, "
                          "which is not available")
