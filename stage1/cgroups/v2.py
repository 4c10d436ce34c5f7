"""cgroup v2: one unified hierarchy. Controllers are enabled top-down through
cgroup.subtree_control, and only leaves hold processes (the pod's own go to its `stage1` leaf)."""

from __future__ import annotations

import os

from stage1.cgroups import devices, limits as _limits, tree
from stage1.cgroups.manager import CONTROLLERS, Manager


class V2(Manager):
    version = 2
    enforces_devices = True

    def __init__(self, root: str = tree.CGROUP_ROOT):
        self.root = root
        available = set(tree.read_words(os.path.join(root, "cgroup.controllers")))
        self.controllers = [c for c in CONTROLLERS if c in available]

    def dirs(self, rel: str) -> list[str]:
        return [os.path.join(self.root, rel)]

    def hierarchy(self, controllers: str) -> str | None:
        return self.root if controllers == "" else None

    def prepare(self, rel: str) -> None:
        """Make `rel` and enable our controllers for children on the way down (not in `rel`
        itself, so that it may still become a leaf holding processes)."""
        tree.make(os.path.join(self.root, rel))
        enable = " ".join("+" + c for c in self.controllers)
        if not enable:
            return
        parts = rel.split("/")
        for depth in range(len(parts)):
            control = os.path.join(self.root, *parts[:depth], "cgroup.subtree_control")
            if not set(self.controllers) <= set(tree.read_words(control)):
                tree.write(control, enable)

    def set_devices(self, rel: str, rules) -> None:
        devices.allow_only_v2(os.path.join(self.root, rel), rules)

    def apply(self, rel: str, limits) -> None:
        path = os.path.join(self.root, rel)
        if limits.memory_bytes is not None:
            self.need("memory", _limits.MEMORY)
            tree.write(os.path.join(path, "memory.max"), limits.memory_bytes)
        if limits.cfs_quota_us is not None:
            self.need("cpu", _limits.CPU)
            tree.write(os.path.join(path, "cpu.max"), f"{limits.cfs_quota_us} {_limits.CFS_PERIOD_US}")
        if limits.cpu_weight is not None:
            self.need("cpu", _limits.CPU_SHARES)
            tree.write(os.path.join(path, "cpu.weight"), limits.cpu_weight)
