"""rkt.kernel without root: the mountinfo parser, the unmount order and its error handling,
and the private mount namespace, all against the RecordingKernel fake."""

from __future__ import annotations

import errno

import pytest

from rkt import kernel
from rkt.errors import RktError
from rkt.kernel import MNT_DETACH, MS_PRIVATE, MS_REC, MS_SLAVE, RecordingKernel

MOUNTINFO = "\n".join([
    "20 1 0:1 / / rw shared:1 - ext4 /dev/sda rw",
    r"30 20 0:2 / /p/pod rw shared:5 - tmpfs t rw",
    r"31 30 0:3 /sub /p/pod/a\040b/c rw master:2 propagate_from:1 - tmpfs t rw",
    r"32 30 0:4 / /p/pod/x rw - tmpfs t rw",
    r"33 32 0:5 / /p/pod/x rw - overlay over\134lay rw,lowerdir=/l",
    r"34 20 0:6 / /p/pod2 rw - tmpfs t rw",
    "garbage line",
])


def test_parse_mountinfo_fields_and_escapes():
    mounts = kernel.parse_mountinfo(MOUNTINFO)
    assert [m.mount_id for m in mounts] == [20, 30, 31, 32, 33, 34]
    sub = mounts[2]
    assert (sub.parent_id, sub.root, sub.point) == (30, "/sub", "/p/pod/a b/c")
    assert sub.optional == {"master", "propagate_from"}
    assert (mounts[4].fstype, mounts[4].source) == ("overlay", "over\\lay")
    assert mounts[3].optional == frozenset()


def test_mounts_under_orders_deepest_and_topmost_first():
    found = kernel.mounts_under("/p/pod", MOUNTINFO)
    assert [m.point for m in found] == ["/p/pod/a b/c", "/p/pod/x", "/p/pod/x", "/p/pod"]
    assert [m.mount_id for m in found[1:3]] == [33, 32]  # the stacked one first
    assert kernel.mounts_under("/p/po", MOUNTINFO) == []  # a prefix of a name is not a parent


def test_unmount_all_makes_propagating_mounts_private_first_then_unmounts_deepest_first():
    fake = RecordingKernel([("/p/pod", {"shared"}), ("/p/pod/x", set()),
                            ("/p/pod/x/y", {"master"}), ("/elsewhere", {"shared"})])
    with kernel.using(fake):
        assert kernel.unmount_all("/p/pod") == []
    assert fake.calls == [
        ("mount", "/p/pod/x/y", None, None, MS_PRIVATE, None),
        ("mount", "/p/pod", None, None, MS_PRIVATE, None),
        ("umount2", "/p/pod/x/y", 0),
        ("umount2", "/p/pod/x", 0),
        ("umount2", "/p/pod", 0),
    ]
    assert fake.mounts == [("/elsewhere", {"shared"})]


def test_unmount_all_detaches_a_busy_mount_and_ignores_vanished_ones():
    fake = RecordingKernel([("/p/pod", set()), ("/p/pod/busy", set())],
                           fail={("umount2", "/p/pod/busy"): [errno.EBUSY],
                                 ("umount2", "/p/pod"): [errno.EINVAL]})
    with kernel.using(fake):
        left = kernel.unmount_all("/p/pod")
    assert ("umount2", "/p/pod/busy", MNT_DETACH) in fake.calls
    assert left == ["/p/pod"]  # EINVAL means "not a mount": not an error, but it is still listed


def test_gc_unmount_all_reports_what_stays_mounted_or_fails():
    from rkt.pod.gc import unmount_all

    fake = RecordingKernel([("/p/pod", set())], fail={("umount2", "/p/pod"): [errno.EINVAL]})
    with kernel.using(fake), pytest.raises(RktError, match="^/p/pod is still mounted$"):
        unmount_all("/p/pod")
    fake = RecordingKernel([("/p/pod", set())], fail={("umount2", "/p/pod"): [errno.EPERM]})
    with kernel.using(fake), pytest.raises(RktError, match="^cannot unmount /p/pod: "):
        unmount_all("/p/pod")


def test_private_mount_namespace_makes_root_rslave_before_anything_else():
    fake = RecordingKernel()
    with kernel.using(fake):
        kernel.private_mount_namespace()
    assert fake.calls == [("unshare", None, kernel.CLONE_NEWNS),
                          ("mount", "/", None, None, MS_REC | MS_SLAVE, None)]
    assert fake.mounts == []


def test_private_mount_namespace_failure_is_one_line():
    fake = RecordingKernel(fail={("unshare", None): [errno.EPERM]})
    with kernel.using(fake), pytest.raises(RktError, match="^cannot enter a private mount "
                                                           "namespace: Operation not permitted$"):
        kernel.private_mount_namespace()
    assert len(fake.calls) == 1  # no mount after a failed unshare


def test_using_restores_the_previous_kernel():
    before = kernel.current()
    with kernel.using(RecordingKernel()) as fake:
        assert kernel.current() is fake
    assert kernel.current() is before


def test_netns_handle_enters_with_setns(tmp_path):
    nsfile = tmp_path / "net"
    nsfile.write_text("")
    fake = RecordingKernel()
    with kernel.using(fake), kernel.NetNS(nsfile) as ns:
        ns.enter()
        assert fake.calls == [("setns", None, ns.fd, kernel.CLONE_NEWNET)]
    assert ns.fd == -1


def test_in_netns_returns_to_the_namespace_it_came_from(tmp_path):
    nsfile = tmp_path / "net"
    nsfile.write_text("")
    fake = RecordingKernel()
    with kernel.using(fake), kernel.NetNS(nsfile) as target:
        with kernel.in_netns(target):
            assert fake.calls == [("setns", None, target.fd, kernel.CLONE_NEWNET)]
        (_, _, home_fd, nstype), = fake.calls[1:]
        assert home_fd != target.fd and nstype == kernel.CLONE_NEWNET


def test_real_kernel_mountinfo_and_statfs():
    real = kernel.LinuxKernel()
    points = [m.point for m in kernel.parse_mountinfo(real.mountinfo())]
    assert "/" in points
    assert real.statfs_type("/proc") == 0x9FA0  # PROC_SUPER_MAGIC
    with pytest.raises(OSError) as err:
        real.umount2("/nonexistent-mount-point-of-rkt-tests")
    assert err.value.errno in (errno.ENOENT, errno.EPERM, errno.EINVAL)
