"""`rkt run` with the real stage1: exit codes, exec/args, env, users, volumes, interactive, leaks."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.helpers.aci import busybox_files, make_aci, manifest
from tests.helpers.tty import run_on_tty

pytestmark = pytest.mark.root

INSECURE = "--insecure-options=image"


@pytest.fixture
def run(real_runner):
    return real_runner("host")


def sh(script: str) -> list[str]:
    return ["example.com/busybox", "--exec=/bin/sh", "--", "-c", script, "---"]


def test_exit_code_passes_through(run):
    assert run(*sh("exit 0")).returncode == 0
    proc = run(*sh("echo out; exit 3"), check=False)
    assert proc.returncode == 3 and "out" in proc.stdout


def test_multi_app_exit_code_and_status(rkt, run, tmp_path):
    uuid_file = tmp_path / "uuid"
    proc = run(f"--uuid-file-save={uuid_file}", *sh("exit 5"), "example.com/busybox", "--name=sleeper",
               "--exec=/bin/sleep", "--", "30", "---", check=False, timeout=60)
    assert proc.returncode == 5, proc.stderr
    status = rkt("status", f"--uuid-file={uuid_file}")
    assert "state=exited" in status.stdout
    assert "app-busybox=5" in status.stdout


def test_exec_and_args_for_run_and_run_prepared(rkt, run, real_stage1):
    proc = run("example.com/busybox", "--exec=/bin/echo", "--", "hello", "--world", "---")
    assert proc.stdout.strip() == "hello --world"
    uuid = rkt(INSECURE, "prepare", "--quiet", f"--stage1-path={real_stage1}", "example.com/busybox",
               "--exec=/bin/echo", "--", "prepared", "args", "---").stdout.strip()
    proc = rkt(INSECURE, "run-prepared", "--net=host", uuid)
    assert proc.stdout.strip() == "prepared args"


def test_env_precedence_inside_the_app(rkt, run, real_stage1, tmp_path):
    m = manifest("example.com/envimg", exec_=["/bin/env"])
    m["app"]["environment"] = [{"name": n, "value": "image"} for n in ("IMG", "INH", "SET", "APP")]
    aci = tmp_path / "env.aci"
    make_aci(aci, m, busybox_files())
    env_file = tmp_path / "envfile"
    env_file.write_text("FROMFILE=file\nSET=file\n")
    proc = run("--inherit-env", f"--set-env-file={env_file}", "--set-env=SET=set", "--set-env=APP=set",
               aci, "--environment=APP=app", env=dict(os.environ, INH="host", HOSTVAR="host"))
    env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    assert env["IMG"] == "image" and env["INH"] == "image"
    assert env["HOSTVAR"] == "host" and env["FROMFILE"] == "file"
    assert env["SET"] == "set" and env["APP"] == "app"
    assert env["AC_APP_NAME"] == "envimg"


def test_user_and_group(run):
    assert run(*sh("id -u; id -g"), "--user=user", "--group=extra").stdout.split() == ["1000", "1500"]
    assert run(*sh("id -u; id -g"), "--user=123", "--group=456").stdout.split() == ["123", "456"]
    out = run(*sh("id -G"), "--user=0", "--group=0", "--supplementary-gids=1500,2000").stdout.split()
    assert "1500" in out and "2000" in out
    proc = run(*sh("true"), "--user=nosuchuser", check=False)
    assert proc.returncode != 0 and "nosuchuser" in proc.stderr


def test_volumes(run, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from host")
    run(f"--volume=h,kind=host,source={host}", "--volume=e,kind=empty",
        *sh("cat /h/in > /h/copy && touch /e/x && ls /e"), "--mount=volume=h,target=/h",
        "--mount=volume=e,target=/e")
    assert (host / "copy").read_text() == "from host"
    proc = run(f"--volume=h,kind=host,source={host},readOnly=true",
               *sh("touch /h/nope"), "--mount=volume=h,target=/h", check=False)
    assert proc.returncode != 0 and not (host / "nope").exists()


def test_image_mount_points_and_implicit_empty_volume(run, tmp_path):
    m = manifest("example.com/mp", exec_=["/bin/sh", "-c", "touch /data/ok /scratch/ok && ls /data /scratch"])
    m["app"]["mountPoints"] = [{"name": "data", "path": "/data"}, {"name": "scratch", "path": "/scratch"}]
    aci = tmp_path / "mp.aci"
    make_aci(aci, m, busybox_files())
    host = tmp_path / "data"
    host.mkdir()
    proc = run(f"--volume=data,kind=host,source={host}", aci)
    assert (host / "ok").exists()
    assert 'implicitly creating an "empty" volume' in proc.stderr


def test_interactive_gets_a_tty(rkt, run, real_stage1):
    cmd = rkt.cmd(INSECURE, "run", f"--stage1-path={real_stage1}", "--net=host", "--interactive",
                  "example.com/busybox", "--exec=/bin/sh")
    typed = ((b"", b"[ -t 0 ] && echo TTY-$((20+22)); read line; echo got-$line; exit 9\n"),
             (b"TTY-42", b"typed\n"))
    code, out = run_on_tty(cmd, replies=typed)
    assert b"TTY-42" in out, out
    assert b"got-typed" in out, out
    assert code == 9


def test_stage1_from_config(rkt, real_stage1, busybox):
    from rkt import __version__

    rkt.write_config("stage1", "stage1.d", name="coreos.com/rkt/stage1-python", version=__version__,
                     location=str(real_stage1))
    rkt(INSECURE, "run", "--net=host", busybox)
    images = rkt("image", "list", "--no-legend", "--fields=name").stdout
    assert "coreos.com/rkt/stage1-python" in images
    # found by name and version from now on, the file is not needed
    rkt.write_config("stage1", "stage1.d", name="coreos.com/rkt/stage1-python", version=__version__,
                     location="/nonexistent/stage1.aci")
    rkt(INSECURE, "run", "--net=host", "example.com/busybox")


def _cgroup_dirs_with(uuids: list[str]) -> list[str]:
    # as written, systemd-escaped (`-` -> `\x2d`) or without dashes
    names = [form for u in uuids for form in (u, u.replace("-", "\\x2d"), u.replace("-", ""))]
    found = []
    for root, dirs, _ in os.walk("/sys/fs/cgroup"):
        for d in dirs:
            if any(n in d for n in names):
                found.append(os.path.join(root, d))
    return found


def test_fifty_pods_leave_nothing_behind(rkt, run):
    for i in range(50):
        proc = run(*sh(f"cat /proc/self/cgroup; exit {i % 3}"), check=False)
        assert proc.returncode == i % 3, proc.stderr
        if i == 0:  # pods do get cgroups, so the check below is not vacuous
            assert "machine-rkt" in proc.stdout, proc.stdout
    uuids = [p.name for p in rkt.pod_dirs("run")]
    assert len(uuids) == 50
    with open("/proc/self/mountinfo") as f:
        assert not [line for line in f if str(rkt.root) in line]
    rkt("gc", "--grace-period=0s")
    assert rkt.pod_dirs() == []
    assert _cgroup_dirs_with(uuids) == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert not [u for u in uuids if u in ps]


def test_dns_and_hosts_flags_reach_the_app(run):
    out = run("--dns=10.9.8.7", "--dns-search=corp.example", "--hosts-entry=10.1.2.3=db.local",
              "--hostname=web1", *sh("cat /etc/resolv.conf /etc/hosts; hostname")).stdout
    assert "nameserver 10.9.8.7" in out and "search corp.example" in out
    assert "10.1.2.3" in out and "db.local" in out
    assert out.strip().splitlines()[-1] == "web1"
