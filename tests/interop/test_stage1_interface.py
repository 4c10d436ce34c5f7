"""The stage1 interface both ways, against the reference rkt 1.30: rkt's stage0 runs our stage1,
our stage0 runs rkt's fly stage1, with and without overlay, through run, status, enter, stop
and gc. Every command runs in the test's private mount namespace (see conftest.py)."""

from __future__ import annotations

import subprocess
import time

import pytest

pytestmark = pytest.mark.root

OVERLAY = [pytest.param([], id="overlay"), pytest.param(["--no-overlay"], id="no-overlay")]


def _cmd(ns, stage0: str):
    return ns.rkt if stage0 == "ours" else ns.ref


def _pods(ns, stage0: str):
    data = ns.ours.dir if stage0 == "ours" else ns.ref_dir / "data"
    return sorted(p for p in (data / "pods").glob("*/*") if p.is_dir())


def _check(proc: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{what}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _wait_running(ns, stage0: str, run: subprocess.Popen) -> str:
    """The UUID of the one pod, once `status` says it runs with a pid."""
    cmd = _cmd(ns, stage0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert run.poll() is None, f"rkt run ended early: {run.returncode} {run.communicate()}"
        pods = [p for p in _pods(ns, stage0) if p.parent.name == "run"]
        if pods and (pods[0] / "pid").exists():
            uuid = pods[0].name
            status = ns.run(cmd("status", uuid)).stdout
            if "state=running" in status:
                return uuid
        time.sleep(0.1)
    pytest.fail("the pod did not start in 60s")


def _gc_all(ns, stage0: str) -> None:
    _check(ns.run(_cmd(ns, stage0)("gc", "--grace-period=0s")), "gc")
    assert _pods(ns, stage0) == [], "gc left pods behind"


def _run_exit_code(ns, stage0: str, stage1, aci, extra) -> None:
    proc = ns.run(_cmd(ns, stage0)("--insecure-options=image", "run", *extra,
                                   f"--stage1-path={stage1}", aci))
    assert proc.returncode == 7, (proc.returncode, proc.stdout, proc.stderr)
    assert "hello from the app" in proc.stdout
    assert "Traceback" not in proc.stderr
    uuid = _pods(ns, stage0)[0].name
    assert "state=exited" in _check(ns.run(_cmd(ns, stage0)("status", uuid)), "status").stdout
    _gc_all(ns, stage0)


def _nft_tables() -> str:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                          timeout=30).stdout


def _lifecycle(ns, stage0: str, stage1, aci, extra, *, app_status: bool) -> None:
    cmd = _cmd(ns, stage0)
    run = subprocess.Popen(cmd("--insecure-options=image", "run", *extra,
                               f"--stage1-path={stage1}", aci),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        uuid = _wait_running(ns, stage0, run)
        if app_status:  # our stage1 on the default network: the pod's nftables table exists
            assert uuid.replace("-", "") in _nft_tables()
        listed = _check(ns.run(cmd("list", "--full", "--no-legend")), "list").stdout
        assert uuid in listed and "running" in listed, listed
        entered = _check(ns.run(cmd("enter", uuid, "/bin/echo", "inside the app"), timeout=60),
                         "enter")
        assert "inside the app" in entered.stdout
        _check(ns.run(cmd("stop", uuid)), "stop")
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode in (143, -15), (run.returncode, out, err)  # the app died of SIGTERM
    assert "Traceback" not in err, err
    status = _check(ns.run(cmd("status", uuid)), "status").stdout
    assert "state=exited" in status, status
    if app_status:  # our stage1 records each app's exit status; fly has no supervisor to
        assert "app-sleeper=143" in status, status
    _gc_all(ns, stage0)
    # our stage1's default network is gone with the pod: its nftables table too
    assert uuid.replace("-", "") not in _nft_tables()


@pytest.mark.parametrize("extra", OVERLAY)
def test_rkt_stage0_runs_our_stage1(ns, our_stage1, apps, extra):
    _run_exit_code(ns, "ref", our_stage1, apps["exit7"], extra)


@pytest.mark.parametrize("extra", OVERLAY)
def test_our_stage0_runs_rkt_fly_stage1(ns, reference, apps, extra):
    _run_exit_code(ns, "ours", reference / "stage1-fly.aci", apps["exit7"], extra)


@pytest.mark.parametrize("extra", OVERLAY)
def test_rkt_stage0_manages_a_pod_of_our_stage1(ns, our_stage1, apps, extra):
    _lifecycle(ns, "ref", our_stage1, apps["sleeper"], extra, app_status=True)


@pytest.mark.parametrize("extra", OVERLAY)
def test_our_stage0_manages_a_fly_pod(ns, reference, apps, extra):
    _lifecycle(ns, "ours", reference / "stage1-fly.aci", apps["sleeper"], extra, app_status=False)


def test_rkt_stage0_pod_dir_as_our_stage1_sees_it(ns, our_stage1, apps):
    """rkt's overlay layout: our stage1 writes its status through the stage1 overlay, and rkt
    reads it from the upper dir (overlay/<stage1 tree>/upper/rkt/status/<app>)."""
    proc = ns.run(ns.ref("--insecure-options=image", "run", f"--stage1-path={our_stage1}",
                         apps["exit7"]))
    assert proc.returncode == 7, proc.stderr
    pod = _pods(ns, "ref")[0]
    tree = (pod / "stage1TreeStoreID").read_text()
    assert (pod / "overlay" / tree / "upper" / "rkt" / "status" / "exit7").read_text() == "7"
    assert (pod / "appsinfo" / "exit7" / "manifest").is_file()
    _gc_all(ns, "ref")


def test_our_pod_dir_has_what_rkt_stage1s_read(ns, reference, apps):
    """The app's image manifest beside its rootfs (rkt's common.ImageManifestPath)."""
    proc = ns.run(ns.rkt("--insecure-options=image", "run", "--no-overlay",
                         f"--stage1-path={reference / 'stage1-fly.aci'}", apps["exit7"]))
    assert proc.returncode == 7, proc.stderr
    pod = _pods(ns, "ours")[0]
    stage2 = pod / "stage1" / "rootfs" / "opt" / "stage2" / "exit7"
    assert (stage2 / "manifest").read_bytes() == (pod / "appsinfo/exit7/manifest").read_bytes()
    assert (stage2 / "rootfs" / "bin" / "busybox").is_file()
    assert (pod / "pgid").is_file()  # fly's own file: fly ran here
    _gc_all(ns, "ours")


def test_prepared_pod_dir_matches_rkts(ns, our_stage1, apps):
    """Every file and directory rkt 1.30's prepare leaves in a pod dir, with its mode, is in
    ours (ours also holds the stage1 rootfs and overlay dirs, which rkt makes at run time)."""
    layouts = {}
    for who, cmd in (("ref", ns.ref), ("ours", ns.rkt)):
        proc = _check(ns.run(cmd("--insecure-options=image", "prepare", "--quiet",
                                 f"--stage1-path={our_stage1}", apps["exit7"])), "prepare")
        uuid = proc.stdout.strip().splitlines()[-1]
        pod = next(p for p in _pods(ns, who) if p.name == uuid)
        layouts[who] = {str(p.relative_to(pod)): oct(p.stat().st_mode & 0o7777)
                        for p in pod.rglob("*") if not str(p.relative_to(pod)).startswith(
                            ("stage1/rootfs", "overlay/"))}
        _check(ns.run(cmd("rm", uuid)), "rm")
    missing = {path: mode for path, mode in layouts["ref"].items()
               if layouts["ours"].get(path) != mode}
    assert not missing, f"rkt's {missing}, ours {layouts['ours']}"


def test_dns_and_hosts_files_are_rkts(ns, our_stage1, apps):
    """--dns*/--hosts-entry: the files our stage0 hands stage1 are rkt 1.30's, byte for byte,
    so an app sees the same /etc/resolv.conf and /etc/hosts under either stage0."""
    seen = {}
    for who, cmd in (("ref", ns.ref), ("ours", ns.rkt)):
        proc = ns.run(cmd("--insecure-options=image", "run", "--net=host", "--dns=10.9.8.7",
                          "--dns-search=corp.example", "--dns-opt=ndots:2",
                          "--hosts-entry=10.1.1.1=db", f"--stage1-path={our_stage1}",
                          apps["exit7"], "--exec=/bin/sh", "--",
                          "-c", "cat /etc/resolv.conf; echo ---; cat /etc/hosts"))
        _check(proc, f"{who} run")
        seen[who] = proc.stdout
        _gc_all(ns, who)
    assert seen["ours"] == seen["ref"]
    assert "nameserver 10.9.8.7" in seen["ours"] and "127.0.0.1 localhost" in seen["ours"]
