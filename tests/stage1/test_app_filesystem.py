"""The app's filesystem as the run entrypoint builds it: /proc, /sys, /dev, /etc files and
volumes, and image symlinks or device nodes that must never steer a write or mount outside it."""

from __future__ import annotations

import os

import pytest

from tests.helpers.aci import Entry
from tests.stage1.poddir import app_entry, run_ok, sh

pytestmark = pytest.mark.root


def test_filesystem_layout(make_pod):
    script = ("for n in null zero full random urandom tty console; do test -c /dev/$n || echo no $n; done;"
              "test -c /dev/pts/ptmx || echo no ptmx; test \"$(readlink /dev/ptmx)\" = pts/ptmx || echo ptmx;"
              "test -d /dev/shm || echo no shm; test \"$(readlink /dev/fd)\" = /proc/self/fd || echo fd;"
              "test \"$(readlink /dev/stdout)\" = /proc/self/fd/1 || echo stdout;"
              "test \"$(readlink /etc/mtab)\" = ../proc/self/mounts || echo mtab;"
              "test -d /proc/self || echo proc; test -d /sys/kernel || echo sys;"
              "touch /sys/x 2>/dev/null && echo sys-rw; echo ok > /dev/null || echo devnull;"
              "touch /dev/shm/x || echo shm-ro; grep -q ' / ' /proc/self/mounts || echo noroot;"
              "echo done")
    pod = make_pod([sh("a", script)])
    assert run_ok(pod, "--net=host").stdout == "done\n"


def test_hostname_and_hosts(make_pod):
    pod = make_pod([sh("a", "hostname; cat /etc/hostname; cat /etc/hosts")])
    out = run_ok(pod, "--net=host").stdout
    name = f"rkt-{pod.uuid}"
    assert out.startswith(f"{name}\n{name}\n")
    assert "127.0.0.1" in out and "localhost" in out and name in out.split("\n", 2)[2]


def test_custom_hostname(make_pod):
    pod = make_pod([sh("a", "hostname; cat /etc/hostname")])
    assert run_ok(pod, "--hostname=myhost").stdout == "myhost\nmyhost\n"


def _stage0_wrote(pod, name: str, text: str) -> None:
    """A file stage0 leaves in stage1's etc/ for the run entrypoint to put in the app's /etc."""
    (pod.stage1_rootfs / "etc").mkdir()
    (pod.stage1_rootfs / "etc" / name).write_text(text)


def test_image_hosts_kept_unless_stage0_wrote_one(make_pod):
    files = {"etc/hosts": b"10.1.2.3 fromimage\n"}
    pod = make_pod([sh("a", "cat /etc/hosts", files=files)])
    assert run_ok(pod, "--net=host").stdout == "10.1.2.3 fromimage\n"
    pod2 = make_pod([sh("a", "cat /etc/hosts", files=files)])
    _stage0_wrote(pod2, "rkt-hosts", "10.9.9.9 fromstage0\n")
    assert run_ok(pod2, "--net=host").stdout == "10.9.9.9 fromstage0\n"


def test_resolv_conf_modes(make_pod):
    files = {"etc/resolv.conf": b"nameserver 10.0.0.1\n"}
    pod = make_pod([sh("a", "cat /etc/resolv.conf", files=files)])
    assert run_ok(pod, "--net=host").stdout == "nameserver 10.0.0.1\n"
    pod = make_pod([sh("a", "cat /etc/resolv.conf", files=files)])
    _stage0_wrote(pod, "rkt-resolv.conf", "nameserver 8.8.8.8\n")
    assert run_ok(pod, "--net=host", "--dns-conf-mode=resolv=stage0,hosts=default").stdout == \
        "nameserver 8.8.8.8\n"
    pod = make_pod([sh("a", "cat /etc/resolv.conf", files=files)])
    with open("/etc/resolv.conf") as f:
        assert run_ok(pod, "--net=host", "--dns-conf-mode=resolv=host").stdout == f.read()


def test_host_volumes_rw_and_ro(make_pod, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "f").write_text("data")
    vols = [{"name": "rw", "kind": "host", "source": str(rw)},
            {"name": "ro", "kind": "host", "source": str(ro), "readOnly": True}]
    pod = make_pod([sh("a", "echo hi > /mnt/rw/out; cat /mnt/ro/f; echo x > /mnt/ro/g || echo denied",
                       mounts=[{"volume": "rw", "path": "/mnt/rw"},
                               {"volume": "ro", "path": "/mnt/ro"}])], volumes=vols)
    r = run_ok(pod, "--net=host")
    assert r.stdout == "datadenied\n"
    assert (rw / "out").read_text() == "hi\n"
    assert not (ro / "g").exists()


def test_empty_volume_mode_and_owner(make_pod):
    vol = {"name": "e", "kind": "empty", "mode": "0700", "uid": 1000, "gid": 1500}
    pod = make_pod([sh("a", "stat -c '%a %u %g' /e; touch /e/x", user="1000", group="1000",
                       mounts=[{"volume": "e", "path": "/e"}])], volumes=[vol])
    assert run_ok(pod, "--net=host").stdout == "700 1000 1500\n"


def test_implicit_empty_volume_for_mount_point(make_pod):
    app = sh("a", "touch /data/x && echo ok", mountPoints=[{"name": "data", "path": "/data"}])
    pod = make_pod([app])
    assert run_ok(pod, "--net=host").stdout == "ok\n"
    assert (pod.path / "sharedVolumes" / "a-data" / "x").exists()  # rkt's <app>-<mountPoint>


def test_symlinked_mount_target_resolved_inside_rootfs(make_pod, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("vol")
    host_target = tmp_path / "hostdir"  # the symlink points here on the host: must stay untouched
    files = {"link": Entry(kind="symlink", target=str(host_target)),
             "rel": Entry(kind="symlink", target="../../real")}
    pod = make_pod([sh("a", "cat /link/v/f; cat /rel/w/f",
                       files=files,
                       mounts=[{"volume": "s", "path": "/link/v"}, {"volume": "s", "path": "/rel/w"}])],
                   volumes=[{"name": "s", "kind": "host", "source": str(src)}])
    assert run_ok(pod, "--net=host").stdout == "volvol"
    assert not host_target.exists()
    assert (pod.rootfs("a") / str(host_target).lstrip("/") / "v").is_dir()
    assert (pod.rootfs("a") / "real" / "w").is_dir()


def test_image_symlinks_never_steer_etc_writes_to_the_host(make_pod, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    files = {"etc/hostname": Entry(kind="symlink", target=str(victim)),
             "etc/hosts": Entry(kind="symlink", target="/proc/sys/kernel/hostname"),
             "etc/resolv.conf": Entry(kind="symlink", target=str(victim) + "2")}
    pod = make_pod([sh("a", "cat /etc/hostname; cat /etc/resolv.conf", files=files)])
    with open("/proc/sys/kernel/hostname") as f:
        host_name = f.read()
    with open("/etc/resolv.conf") as f:
        host_resolv = f.read()
    r = run_ok(pod, "--net=host", "--dns-conf-mode=resolv=host")
    assert r.stdout == f"rkt-{pod.uuid}\n{host_resolv}"
    assert victim.read_text() == "untouched" and not os.path.exists(str(victim) + "2")
    with open("/proc/sys/kernel/hostname") as f:
        assert f.read() == host_name


def test_device_node_in_image_is_replaced_not_written(make_pod):
    files = {"etc/hostname": Entry(kind="chr", major=1, minor=3, mode=0o666)}  # /dev/null's numbers
    pod = make_pod([sh("a", "test -f /etc/hostname && cat /etc/hostname", files=files)])
    assert run_ok(pod, "--net=host").stdout == f"rkt-{pod.uuid}\n"


def test_mount_target_cannot_escape_the_rootfs(make_pod, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    pod = make_pod([sh("a", "test -d /escape && echo inside",
                       mounts=[{"volume": "s", "path": "/../../../../escape"}])],
                   volumes=[{"name": "s", "kind": "host", "source": str(src)}])
    assert run_ok(pod, "--net=host").stdout == "inside\n"
    assert not os.path.exists("/escape")


def test_missing_volume_source_fails_clearly(make_pod, tmp_path):
    pod = make_pod([app_entry("a", ["/bin/true"], mounts=[{"volume": "s", "path": "/s"}])],
                   volumes=[{"name": "s", "kind": "host", "source": str(tmp_path / "nope")}])
    r = pod.run("--net=host")
    assert r.returncode == 254
    assert r.stderr == f'stage1: app "a": volume \'s\': source {tmp_path / "nope"} does not exist\n'
