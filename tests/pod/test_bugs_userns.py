"""`--private-users`: the apps run in a user namespace, root inside being a random shifted UID
outside (rkt's pkg/user uid ranges); the `--no-overlay` copy is chowned by the shift; overlay
is refused as rkt refuses it. And /sys/fs/cgroup, read-only, as rkt mounts it for apps."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import REPO
from tests.helpers.output import without_app_prefixes
from tests.pod.realpods import gone, wait_running

pytestmark = pytest.mark.root

INSECURE = "--insecure-options=image"


def test_private_users_root_inside_shifted_outside(rkt, real_stage1, busybox, tmp_path):
    rkt(INSECURE, "fetch", busybox)
    uuid_file = tmp_path / "uuid"
    script = ("id -u; id -g; stat -c '%u %g' /bin/busybox /etc/passwd /etc/hostname; touch /created; "
              "stat -c %u /created; cat /proc/self/uid_map; echo ready; sleep 60")
    proc = subprocess.Popen(rkt.cmd(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=none",
                                    "--private-users", "--no-overlay", f"--uuid-file-save={uuid_file}",
                                    "example.com/busybox", "--exec=/bin/sh", "--", "-c", script, "---"),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        lines = [without_app_prefixes(proc.stdout.readline()) for _ in range(8)]
        assert lines[-1] == "ready\n", (lines, proc.stderr.read() if proc.poll() is not None else "")
        assert lines[:6] == ["0\n", "0\n", "0 0\n", "0 0\n", "0 0\n", "0\n"], lines
        uuid = uuid_file.read_text().strip()
        wait_running(rkt, uuid, proc)
        pod = rkt.pod_dir(uuid)
        shift, count = map(int, (pod / "private-users-prepared").read_text().split(":"))
        assert shift > 0 and shift % 65536 == 0 and shift < 1 << 31 and count == 65536
        assert lines[6].split() == ["0", str(shift), "65536"]
        rootfs = pod / "stage1" / "rootfs" / "opt" / "stage2" / "busybox" / "rootfs"
        for name in ("bin/busybox", "etc/passwd", "created"):
            st = os.lstat(rootfs / name)
            assert (st.st_uid, st.st_gid) == (shift, shift), name
        host_pid = int((pod / "stage1" / "rootfs" / "rkt" / "pids" / "busybox").read_text())
        with open(f"/proc/{host_pid}/status") as f:
            ids = {k: v.split() for k, v in (line.split(":", 1) for line in f) if k in ("Uid", "Gid")}
        assert ids["Uid"][0] == str(shift) and ids["Gid"][0] == str(shift)
        # enter joins the app's user namespace: root inside, the shifted uid outside
        entered = rkt("enter", uuid, "/bin/sh", "-c", "id -u; cat /proc/self/uid_map")
        assert entered.stdout.split() == ["0", "0", str(shift), "65536"]
        rkt("stop", uuid)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in proc.stderr.read()
    rkt("gc", "--grace-period=0s")
    assert gone(rkt, uuid)


def test_private_users_needs_no_overlay(rkt, real_stage1, busybox):
    proc = rkt.fails(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=none",
                     "--private-users", str(busybox))
    assert proc.stderr == ("rkt: cannot use both overlay and user namespace: not implemented yet. "
                           "(Try --no-overlay)\n")
    assert not rkt.pod_dirs()
    proc = rkt.fails(INSECURE, "prepare", f"--stage1-path={real_stage1}", "--private-users", str(busybox))
    assert "(Try --no-overlay)" in proc.stderr


@pytest.mark.parametrize("userns", [(), ("--private-users", "--no-overlay")])
def test_sys_fs_cgroup_read_only_as_rkt_mounts_it(rkt, real_stage1, busybox, userns):
    # rkt hides /sys/fs from apps unless --insecure-options=paths, as here
    script = ("test -d /sys/fs/cgroup/memory || test -f /sys/fs/cgroup/cgroup.controllers || echo empty;"
              "grep -c ' /sys/fs/cgroup[ /].* ro,' /proc/self/mountinfo >/dev/null || echo not-ro;"
              "touch /sys/fs/cgroup/x 2>/dev/null && echo writable; echo done")
    proc = rkt("--insecure-options=image,paths", "run", f"--stage1-path={real_stage1}", "--net=none",
               *userns, str(busybox), "--exec=/bin/sh", "--", "-c", script, "---")
    assert proc.stdout == "done\n", proc.stderr
    hidden = rkt(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=none", str(busybox),
                 "--exec=/bin/sh", "--", "-c", "ls /sys/fs/cgroup 2>/dev/null || echo hidden", "---")
    assert hidden.stdout == "hidden\n"


def test_private_users_post_stop_handler_runs_in_the_app_user_namespace(rkt, real_stage1, tmp_path):
    from tests.helpers.aci import busybox_files, make_aci, manifest

    m = manifest("example.com/post", exec_=["/bin/true"])
    m["app"]["eventHandlers"] = [{"name": "post-stop", "exec": [
        "/bin/sh", "-c", "id -u > /v/post; stat -c %u /bin/busybox >> /v/post"]}]
    aci = tmp_path / "post.aci"
    make_aci(aci, m, busybox_files())
    vol = tmp_path / "vol"
    vol.mkdir(mode=0o777)
    os.chmod(vol, 0o777)  # the handler is the shifted root on the host: not the owner here
    rkt(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=none", "--private-users", "--no-overlay",
        f"--volume=v,kind=host,source={vol}", str(aci), "--mount=volume=v,target=/v")
    assert (vol / "post").read_text() == "0\n0\n"
    (pod,) = rkt.pod_dirs()
    shift = int((pod / "private-users-prepared").read_text().split(":")[0])
    assert (vol / "post").stat().st_uid == shift


def test_shift_tree_shifts_a_hard_linked_file_once(tmp_path):
    """An image with hard links (busybox applets often are) shifts each inode once."""
    from rkt.pod.userns import shift_tree

    if os.geteuid() != 0:
        pytest.skip("chown to a shifted owner needs root")
    root = tmp_path / "rootfs"
    root.mkdir()
    (root / "a").write_text("x")
    os.link(root / "a", root / "b")
    shift_tree(root, 100000)
    assert {os.lstat(root / n).st_uid for n in ("a", "b", ".")} == {100000}
