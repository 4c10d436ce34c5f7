"""Deleting a pod's link over rtnetlink (stage1.net.link), in a namespace the test makes."""

from __future__ import annotations

import pytest

from stage1.net import link
from tests.net.conftest import NetNS

pytestmark = pytest.mark.root


def test_delete_takes_the_veth_pair_and_is_idempotent(hostns):
    pod = NetNS("rkt-link-pod")
    try:
        hostns.ip("link", "add", "hostside", "type", "veth", "peer", "name", "eth0", "netns", str(pod.holder.pid))
        assert "eth0" in pod.links() and "hostside" in hostns.links()
        link.delete(pod.path, "eth0")
        assert pod.links() == ["lo"] and "hostside" not in hostns.links()
        link.delete(pod.path, "eth0")  # already gone: nothing to do
        with pytest.raises(OSError):
            link.delete(pod.path, "lo")  # the kernel refuses to delete loopback
        assert pod.links() == ["lo"]
    finally:
        pod.delete()
