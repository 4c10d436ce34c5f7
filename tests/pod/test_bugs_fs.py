"""An app's filesystem through the real CLI: `--readonly-rootfs`, and host volumes mounted at an
image mountPoint under another name (rkt matches mounts to mountPoints by path)."""

from __future__ import annotations

import pytest

from tests.helpers.aci import busybox_files, make_aci, manifest

pytestmark = pytest.mark.root


@pytest.fixture
def run(real_runner):
    return real_runner("none")


def sh(script: str, *flags: str) -> list[str]:
    return ["example.com/busybox", "--exec=/bin/sh", *flags, "--", "-c", script, "---"]


def test_readonly_rootfs_keeps_volumes_and_api_filesystems_writable(run, tmp_path):
    vol, ro = tmp_path / "vol", tmp_path / "ro"
    vol.mkdir()
    ro.mkdir()
    script = ("touch /x 2>/dev/null && echo rootfs-rw; touch /tmp/x 2>/dev/null && echo tmp-rw;"
              "echo hi > /etc/hosts 2>/dev/null && echo etc-rw;"
              "touch /v/ok || echo vol-ro; touch /r/no 2>/dev/null && echo ro-vol-rw;"
              "touch /dev/shm/ok || echo shm-ro; echo x > /dev/null || echo null-ro;"
              "echo 0 > /proc/self/oom_score_adj || echo proc-ro;"
              "grep -q rkt- /etc/hostname || echo no-hostname; echo done")
    proc = run(f"--volume=v,kind=host,source={vol}", f"--volume=r,kind=host,source={ro},readOnly=true",
               *sh(script, "--readonly-rootfs=true"), "--mount=volume=v,target=/v",
               "--mount=volume=r,target=/r")
    assert proc.stdout == "done\n", proc.stderr
    assert (vol / "ok").exists() and not (ro / "no").exists()
    # without the flag the same image's rootfs is writable (the flag is what changed it)
    assert run(*sh("touch /x && echo rw")).stdout == "rw\n"


def test_readonly_rootfs_per_app(run):
    proc = run(*sh("touch /x 2>/dev/null || echo ro", "--readonly-rootfs"),
               "example.com/busybox", "--name=rw", "--exec=/bin/sh", "--", "-c",
               "touch /x && echo rw", "---")
    assert sorted(proc.stdout.split()) == ["ro", "rw"], proc.stderr


def test_host_volume_fills_a_mount_point_of_another_name(run, tmp_path):
    m = manifest("example.com/mp", exec_=["/bin/sh", "-c", "cat /data/f; echo new > /data/g; ls /data"])
    m["app"]["mountPoints"] = [{"name": "data", "path": "/data"}]
    aci = tmp_path / "mp.aci"
    make_aci(aci, m, busybox_files())
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("host\n")
    proc = run(f"--volume=vol2,kind=host,source={src}", aci, "--mount=volume=vol2,target=/data")
    assert proc.stdout == "host\nf\ng\n", proc.stderr
    assert (src / "g").read_text() == "new\n"
    assert "implicitly creating" not in proc.stderr
