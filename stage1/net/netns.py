"""The pod's network namespace, held by file descriptors rather than a bind mount.

stage1 creates the namespace with unshare(2) and keeps two descriptors: the host's namespace
(where plugins run and where the parent returns) and the pod's. Plugins reach the pod's through
`/proc/<pid>/fd/<fd>` of the process holding it, so no nsfs bind mount exists anywhere: none can
leak onto the host, and the namespace lives exactly as long as a pod process or its keeper.
"""

from __future__ import annotations

import os

from stage1 import kernel


class NetNS:
    """The host's and the pod's network namespaces, as open descriptors."""

    __slots__ = ("host_fd", "pod_fd")

    def __init__(self, host_fd: int, pod_fd: int):
        self.host_fd, self.pod_fd = host_fd, pod_fd

    def path(self) -> str:
        """A path to the pod's namespace, valid while this process keeps `pod_fd` open."""
        return f"/proc/{os.getpid()}/fd/{self.pod_fd}"

    def enter_pod(self) -> None:
        kernel.current().setns(self.pod_fd, kernel.CLONE_NEWNET)

    def close(self) -> None:
        for fd in (self.host_fd, self.pod_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def create() -> NetNS:
    """A new namespace with lo up; the caller is left in the host's namespace."""
    k = kernel.current()
    host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        k.unshare(kernel.CLONE_NEWNET)
    except OSError:
        os.close(host_fd)
        raise
    try:
        pod_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        netns = NetNS(host_fd, pod_fd)
        k.link_up("lo")
    finally:
        k.setns(host_fd, kernel.CLONE_NEWNET)
    return netns
