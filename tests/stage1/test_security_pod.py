"""The security isolators end to end: real pods through the real stage1 `run` entrypoint (hand-made
pod directories, as stage0 leaves them), checked from inside the app."""

from __future__ import annotations

import os

import pytest

from stage1 import caps
from tests.helpers.aci import Entry
from tests.stage1.poddir import app_entry

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

BB = "/bin/busybox"
PROBE = (
    "grep -E '^(CapBnd|CapEff|Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\\t';"
    "echo probe > /proc/sys/kernel/hostname 2>/dev/null && echo hostname-writable;"
    "echo kallsyms=$(cat /proc/kallsyms 2>/dev/null | wc -c);"
    f"{BB} mknod /tmp/disk b 8 0 2>/dev/null && echo mknod-disk-ok;"
    "true"
)


def probe_app(name="a", **fields):
    return app_entry(name, ["/bin/sh", "-c", PROBE], **fields)


def fields(out: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in out.splitlines() if ":" in line)


def default_mask() -> str:
    return f"{sum(1 << caps.NUMBERS[n] for n in caps.DEFAULT_CAPS):016x}"


def run(pod, *flags):
    r = pod.run("--net=host", *flags)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_an_app_runs_confined_by_default(make_pod):
    out = run(make_pod([probe_app()]))
    f = fields(out)
    assert f["CapBnd"] == f["CapEff"] == default_mask()
    assert f["Seccomp"] == "2" and f["NoNewPrivs"] == "0"
    assert "hostname-writable" not in out and "kallsyms=0" in out.split()
    assert "mknod-disk-ok" not in out  # CAP_MKNOD, but the device policy is closed


def test_insecure_options_lift_each_restriction(make_pod):
    pod = make_pod([probe_app()])
    out = run(pod, "--disable-capabilities-restriction", "--disable-paths", "--disable-seccomp")
    f = fields(out)
    assert int(f["CapBnd"], 16) & (1 << caps.NUMBERS["CAP_SYS_ADMIN"])
    assert f["Seccomp"] == "0"
    assert "hostname-writable" in out  # the pod's own UTS namespace
    assert "kallsyms=0" not in out.split()
    assert "mknod-disk-ok" in out  # no device policy either, as rkt


def test_isolators_from_the_pod_manifest(make_pod):
    isolators = [
        {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_NET_BIND_SERVICE", "CAP_CHOWN"]}},
        {"name": "os/linux/seccomp-remove-set", "value": {"set": ["mkdir", "mkdirat"], "errno": "EPERM"}},
    ]
    script = (PROBE + "; id -u; mkdir /tmp/x 2>&1; touch /tmp/y && chown 1 /tmp/y && echo chown-ok")
    pod = make_pod([app_entry("a", ["/bin/sh", "-c", script], user="1000", group="1000",
                              isolators=isolators,
                              files={"tmp": Entry(kind="dir", mode=0o1777)})])
    out = run(pod)
    f = fields(out)
    want = f"{(1 << caps.NUMBERS['CAP_NET_BIND_SERVICE']) | (1 << caps.NUMBERS['CAP_CHOWN']):016x}"
    assert f["CapBnd"] == f["CapEff"] == want  # a non-root app holds its retain-set
    assert f["Seccomp"] == "2" and f["NoNewPrivs"] == "1"
    assert "1000" in out.split()
    assert "Operation not permitted" in out and "chown-ok" in out


def test_memory_limit_kills_the_app(make_pod):
    isolators = [{"name": "resource/memory", "value": {"limit": "16Mi"}}]
    pod = make_pod([app_entry("a", [BB, "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=2"],
                              isolators=isolators)])
    r = pod.run("--net=host")
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert pod.status("a").strip() == str(128 + 9), pod.status("a")  # SIGKILL by the OOM killer


def test_a_device_volume_is_usable_under_the_closed_policy(make_pod):
    script = (f"{BB} dd if=/fuse of=/dev/null count=0 2>/dev/null && echo read-ok;"
              f"{BB} mknod /tmp/fuse c 10 229 && {BB} dd if=/dev/zero of=/tmp/fuse count=0 2>/dev/null"
              " || echo write-refused")
    pod = make_pod([app_entry("a", ["/bin/sh", "-c", script], mounts=[{"volume": "fuse", "path": "/fuse"}])],
                   volumes=[{"name": "fuse", "kind": "host", "source": "/dev/fuse", "readOnly": True}])
    out = run(pod)
    assert out.split() == ["read-ok", "write-refused"], out  # as mounted: read-only


@pytest.mark.parametrize("isolator, message", [
    ({"name": "resource/memory", "value": {"limit": "lots"}}, "resource/memory: invalid quantity 'lots'"),
    ({"name": "os/linux/seccomp-remove-set", "value": {"set": ["no_such_call"]}}, "unknown syscall no_such_call"),
    ({"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_BOGUS"]}}, "unknown capability"),
])
def test_a_bad_isolator_fails_the_pod_with_one_line(make_pod, isolator, message):
    pod = make_pod([app_entry("a", ["/bin/true"], isolators=[isolator])])
    r = pod.run("--net=host")
    assert r.returncode == 254, (r.stdout, r.stderr)
    assert message in r.stderr and "Traceback" not in r.stderr, r.stderr
