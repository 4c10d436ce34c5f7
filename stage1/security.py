"""The seam between the executor and the security modules (caps, seccomp, protect, cgroups).

The executor calls these few functions at fixed points of an app's start; the kernel work lives
in `stage1.caps`, `stage1.seccomp`, `stage1.protect` and `stage1.cgroups`.
"""

from __future__ import annotations

import os


def preload(seccomp_disabled: bool) -> None:
    """Import everything the hooks need while the host's filesystem is still visible: after
    pivot_root (or setns into an app's mount namespace) no module can be imported."""
    from stage1 import caps, cgroups, protect, seccomp  # noqa: F401
    if not seccomp_disabled:
        seccomp.preload()  # pyseccomp, without its two `ldconfig -p` runs


def check(isolators: list, *, caps_disabled: bool, seccomp_disabled: bool) -> None:
    """Validate the app's security isolators before anything runs; ValueError names the problem."""
    from stage1 import caps, cgroups, seccomp
    caps.bounding_set(isolators, caps_disabled)
    caps.no_new_privileges_requested(isolators)
    seccomp.compute_filter(isolators, seccomp_disabled)
    cgroups.limits_from(isolators)


def protect_paths(rootfs: str, disabled: bool) -> None:
    """After /proc and /sys are mounted in the app's rootfs, before pivot_root."""
    from stage1 import protect
    protect.protect_paths(rootfs, disabled)


def become(isolators: list, uid: int, gid: int, sgids: list[int], *, caps_disabled: bool) -> None:
    """Drop to the app's identity keeping exactly its capability set."""
    from stage1 import caps
    capset = caps.bounding_set(isolators, caps_disabled)
    caps.drop_to(capset, uid, gid, sgids)
    caps.no_new_privs(isolators)


def load_seccomp(isolators: list, disabled: bool, uid: int) -> None:
    """The very last step before exec."""
    from stage1 import seccomp
    seccomp.load_filter(isolators, disabled, uid == 0)


def pod_cgroups(uuid: str):
    from stage1 import cgroups
    return cgroups.PodCgroups.create(uuid)


def cleanup_cgroups(uuid: str) -> None:
    from stage1 import cgroups
    cgroups.cleanup(uuid)


def _fallback() -> None:
    """Until the security modules land: identity only, no filters (kept tiny on purpose)."""
    import sys
    import types

    if not os.path.exists(os.path.join(os.path.dirname(__file__), "caps.py")):
        caps = types.ModuleType("stage1.caps")
        caps.bounding_set = lambda isolators, disabled: set()

        def drop_to(capset, uid, gid, sgids):
            os.setgroups(sgids)
            os.setgid(gid)
            os.setuid(uid)
        caps.drop_to = drop_to
        caps.no_new_privs = lambda isolators: None
        sys.modules["stage1.caps"] = caps
    if not os.path.exists(os.path.join(os.path.dirname(__file__), "seccomp.py")):
        seccomp = types.ModuleType("stage1.seccomp")
        seccomp.load_filter = lambda isolators, disabled, user_is_root: None
        sys.modules["stage1.seccomp"] = seccomp
    if not os.path.exists(os.path.join(os.path.dirname(__file__), "protect.py")):
        protect = types.ModuleType("stage1.protect")
        protect.protect_paths = lambda rootfs, disabled: None
        sys.modules["stage1.protect"] = protect
    if not os.path.exists(os.path.join(os.path.dirname(__file__), "cgroups.py")):
        cgroups = types.ModuleType("stage1.cgroups")

        class _App:
            def attach(self, pid):
                pass

        class _Pod:
            @classmethod
            def create(cls, uuid):
                return cls()

            def app(self, name, isolators):
                return _App()

            def remove(self):
                pass
        cgroups.PodCgroups = _Pod
        cgroups.cleanup = lambda uuid: None
        sys.modules["stage1.cgroups"] = cgroups
    import stage1
    for name in ("caps", "seccomp", "protect", "cgroups"):
        if f"stage1.{name}" in sys.modules:
            setattr(stage1, name, sys.modules[f"stage1.{name}"])


_fallback()
