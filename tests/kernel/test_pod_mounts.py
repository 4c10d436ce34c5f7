"""The mounts the pod code asks for, in order, against the RecordingKernel (no root needed):
the app overlays `rkt run` mounts in the pod's namespace, the read-only view `rkt export`
builds, and what `rkt gc` unmounts before it deletes a pod. The real-namespace tests in
tests/pod check the same paths with the real kernel."""

from __future__ import annotations

import errno
import json

import pytest

from rkt import kernel
from rkt.errors import RktError
from rkt.kernel import MS_BIND, MS_RDONLY, MS_REC, MS_SLAVE, RecordingKernel
from rkt.pod import poddir

TREE = "deps-sha512-" + "ab" * 32


def _pod(tmp_path, apps=("web", "db")):
    pod, trees = tmp_path / "pod", tmp_path / "cas" / "tree"
    (trees / TREE / "rootfs").mkdir(parents=True)
    pod.mkdir()
    (pod / "pod").write_text(json.dumps({"apps": [{"name": a} for a in apps]}))
    for app in apps:
        (pod / "appsinfo" / app).mkdir(parents=True)
        (pod / "appsinfo" / app / "treeStoreID").write_text(TREE)
    return pod, trees


def test_run_mounts_each_app_overlay_after_making_root_rslave(tmp_path):
    pod, trees = _pod(tmp_path)
    overlays = poddir.overlay_mounts(pod, tmp_path)
    fake = RecordingKernel()
    with kernel.using(fake):
        poddir.mount_overlays(overlays)
    lower = trees / TREE / "rootfs"
    assert fake.calls[:2] == [("unshare", None, kernel.CLONE_NEWNS),
                              ("mount", "/", None, None, MS_REC | MS_SLAVE, None)]
    assert fake.calls[2:] == [
        ("mount", str(poddir.app_rootfs(pod, app)), "overlay", "overlay", 0,
         f"lowerdir={lower},upperdir={pod}/overlay/{app}/upper,workdir={pod}/overlay/{app}/work")
        for app in ("web", "db")]


def test_run_stops_at_the_first_overlay_that_fails(tmp_path):
    pod, trees = _pod(tmp_path)
    web = poddir.app_rootfs(pod, "web")
    fake = RecordingKernel(fail={("mount", str(web)): [errno.ENODEV]})
    with kernel.using(fake), pytest.raises(RktError, match=f"^cannot mount the overlay at {web}: "):
        poddir.mount_overlays(poddir.overlay_mounts(pod, tmp_path))
    assert [c[1] for c in fake.calls] == [None, "/", str(web)]


def test_run_refuses_a_tree_gone_from_the_store_before_any_mount(tmp_path):
    pod, trees = _pod(tmp_path)
    (trees / TREE / "rootfs").rmdir()
    with pytest.raises(RktError, match="gone from the store"):
        poddir.overlay_mounts(pod, tmp_path)


def test_overlay_support_check_uses_statfs(tmp_path):
    fake = RecordingKernel()
    with kernel.using(fake):
        assert poddir.overlay_unsupported(tmp_path) is None  # the fake says ext4
    assert fake.calls == [("statfs", str(tmp_path))]


def test_export_bind_mounts_a_copy_and_overlays_an_upper_dir_read_only(tmp_path):
    from rkt.pod.export import mount_app_rootfs

    lower, upper, rootfs = tmp_path / "lower", tmp_path / "upper", tmp_path / "rootfs"
    fake = RecordingKernel()
    with kernel.using(fake):
        mount_app_rootfs(lower, None, rootfs)
        mount_app_rootfs(lower, upper, rootfs)
    assert fake.calls == [
        ("mount", str(rootfs), str(lower), None, MS_BIND | MS_REC, None),
        ("mount", str(rootfs), "overlay", "overlay", MS_RDONLY, f"lowerdir={upper}:{lower}"),
    ]


def _garbage_pod(tmp_path):
    import uuid

    from rkt.pod.pods import Pod

    root = tmp_path / "pods"
    pod_uuid = str(uuid.uuid4())
    (root / "garbage" / pod_uuid / "stage1" / "rootfs" / "mnt").mkdir(parents=True)
    return Pod(root, pod_uuid, "garbage")


def test_gc_unmounts_what_is_left_under_a_pod_deepest_first_then_deletes_it(tmp_path, capsys):
    from rkt.pod.gc import delete_pod

    pod = _garbage_pod(tmp_path)
    mnt = str(pod.path.resolve() / "stage1" / "rootfs" / "mnt")
    fake = RecordingKernel([(mnt, {"shared"}), (mnt, set()), ("/elsewhere", set())])
    with kernel.using(fake):
        assert delete_pod(None, pod)
    assert fake.calls == [("mount", mnt, None, None, kernel.MS_PRIVATE, None),
                          ("umount2", mnt, 0), ("umount2", mnt, 0)]
    assert not pod.path.exists()


def test_gc_never_deletes_through_a_mount_it_cannot_remove(tmp_path, capsys):
    from rkt.pod.gc import delete_pod

    pod = _garbage_pod(tmp_path)
    mnt = str(pod.path.resolve() / "stage1" / "rootfs" / "mnt")
    fake = RecordingKernel([(mnt, set())], fail={("umount2", mnt): [errno.EPERM]})
    with kernel.using(fake):
        assert not delete_pod(None, pod)
    assert (pod.path / "stage1" / "rootfs" / "mnt").is_dir()
    assert f"cannot unmount {mnt}: Operation not permitted" in capsys.readouterr().err
