"""The seam between the executor and the security modules (caps, seccomp, protect, cgroups).

The executor calls these few functions at fixed points of an app's start; the kernel work lives
in `stage1.caps`, `stage1.seccomp`, `stage1.protect` and `stage1.cgroups`.
"""

from __future__ import annotations


def preload(seccomp_disabled: bool) -> None:
    """Import everything the hooks need while the host's filesystem is still visible: after
    pivot_root (or setns into an app's mount namespace) no module can be imported."""
    from stage1 import caps, protect, seccomp  # noqa: F401
    from stage1.cgroups import pod  # noqa: F401
    if not seccomp_disabled:
        seccomp.preload()  # libseccomp is opened from the host's /usr/lib


def check(isolators: list, *, caps_disabled: bool, seccomp_disabled: bool) -> None:
    """Validate the app's security isolators before anything runs; ValueError names the problem."""
    from stage1 import caps, seccomp
    from stage1.cgroups import limits
    caps.bounding_set(isolators, caps_disabled)
    caps.no_new_privileges_requested(isolators)
    seccomp.compute_filter(isolators, seccomp_disabled)
    limits.limits_from(isolators)


def protect_paths(rootfs: str, disabled: bool) -> None:
    """After /proc and /sys are mounted in the app's rootfs, before pivot_root."""
    from stage1 import protect
    protect.protect_paths(rootfs, disabled)


def become(isolators: list, uid: int, gid: int, sgids: list[int], *, caps_disabled: bool) -> None:
    """Drop to the app's identity keeping exactly its capability set."""
    from stage1 import caps
    capset = caps.bounding_set(isolators, caps_disabled)
    caps.drop_to(capset, uid, gid, sgids)
    caps.set_no_new_privs(isolators)


def prepare_seccomp(isolators: list, disabled: bool, stage1_rootfs: str | None = None):
    """The app's seccomp filter made ahead of its go, for `load_seccomp` (None: none); rkt's
    default one is read as stage1.build compiled it into `stage1_rootfs`, if it did."""
    from stage1 import seccomp
    return seccomp.prepare(isolators, disabled, stage1_rootfs)


def load_seccomp(isolators: list, disabled: bool, uid: int, prepared=None) -> None:
    """The very last step before exec; `prepared`: the filter from `prepare_seccomp`."""
    from stage1 import seccomp
    seccomp.load_filter(isolators, disabled, uid == 0, prepared)


_started: dict = {}  # uuid -> the pod's PodCgroups made by start_pod_cgroups


def start_pod_cgroups(uuid: str, parent: str | None = None) -> None:
    """For the pod's PID 1 as it starts: make the pod's cgroups and begin moving itself in
    from a thread (PodCgroups.attach_in_background); `pod_cgroups` then returns them."""
    from stage1.cgroups import pod
    cgroups = pod.PodCgroups.create(uuid, parent=parent)
    cgroups.attach_in_background()
    _started[uuid] = cgroups


def pod_cgroups(uuid: str, parent: str | None = None):
    """The pod's cgroups: those `start_pod_cgroups` made, else made now."""
    from stage1.cgroups import pod
    return _started.pop(uuid, None) or pod.PodCgroups.create(uuid, parent=parent)


def cleanup_cgroups(uuid: str, parent: str | None = None) -> None:
    from stage1.cgroups import pod
    pod.cleanup(uuid, parent=parent)
