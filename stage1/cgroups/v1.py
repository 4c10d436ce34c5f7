"""cgroup v1: a hierarchy per controller (/sys/fs/cgroup/memory, .../cpu,cpuacct), each holding
its own copy of the pod's cgroup tree; processes may sit at any level."""

from __future__ import annotations

import os

from stage1.cgroups import devices, limits as _limits, tree
from stage1.cgroups.manager import CONTROLLERS, Manager


class V1(Manager):
    version = 1

    def __init__(self, hierarchies: dict[str, str]):
        # every mounted hierarchy by each of its names (controllers, "name=systemd", "" for a
        # hybrid host's unified cgroup2): enter joins them all; the pod uses only CONTROLLERS
        self.hierarchies = hierarchies
        self.mounts = {c: hierarchies[c] for c in CONTROLLERS if c in hierarchies}
        self.controllers = list(self.mounts)
        self.enforces_devices = "devices" in self.mounts

    def dirs(self, rel: str) -> list[str]:
        roots = dict.fromkeys(self.mounts.values())  # joint mounts (cpu,cpuacct) count once
        return [os.path.join(root, rel) for root in roots]

    def hierarchy(self, controllers: str) -> str | None:
        names = controllers.split(",") if controllers else [""]
        return next((self.hierarchies[n] for n in names if n in self.hierarchies), None)

    def set_devices(self, rel: str, rules) -> None:
        if self.enforces_devices:
            devices.allow_only_v1(os.path.join(self.mounts["devices"], rel), rules)

    def apply(self, rel: str, limits) -> None:
        if limits.memory_bytes is not None:
            self.need("memory", _limits.MEMORY)
            self._write("memory", rel, "memory.limit_in_bytes", limits.memory_bytes)
        if limits.cfs_quota_us is not None:
            self.need("cpu", _limits.CPU)
            self._write("cpu", rel, "cpu.cfs_period_us", _limits.CFS_PERIOD_US)
            self._write("cpu", rel, "cpu.cfs_quota_us", limits.cfs_quota_us)
        if limits.cpu_shares is not None:
            self.need("cpu", _limits.CPU_SHARES)
            self._write("cpu", rel, "cpu.shares", limits.cpu_shares)

    def _write(self, controller: str, rel: str, name: str, value) -> None:
        tree.write(os.path.join(self.mounts[controller], rel, name), value)
