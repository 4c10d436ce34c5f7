"""stage0 through the real CLI with a script stage1: pod dirs, locks, overlays, manifests, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.aci import make_aci, manifest
from tests.pod.conftest import read_record, script_stage1

pytestmark = pytest.mark.root

INSECURE = "--insecure-options=image"


def run(rkt, stage1, *args, **kw):
    return rkt(INSECURE, "run", f"--stage1-path={stage1}", *args, **kw)


def prepare(rkt, stage1, *args, **kw):
    return rkt(INSECURE, "prepare", "--quiet", f"--stage1-path={stage1}", *args, **kw)


def pod_manifest(rkt, state="run") -> dict:
    return json.loads((rkt.only_pod(state) / "pod").read_bytes())


def test_run_execs_stage1_with_the_contract(rkt, stage1_script, busybox):
    proc = run(rkt, stage1_script, busybox, "--net=host", "--hostname=h1", "--ipc=private")
    assert "script stage1 script ran" in proc.stdout
    pod = rkt.only_pod("run")
    rec = read_record(pod)
    uuid = pod.name
    # rkt's order; no --dns-conf-mode when both modes are the default, as rkt
    assert rec["args"] == f"--net=host --local-config={rkt.local_config} --hostname=h1 --ipc=private {uuid}"
    assert rec["cwd"] == str(pod)
    assert "rkt: exec " not in proc.stderr  # debug lines only with --debug
    assert rec["lockpath"] == str(pod) and rec["lock"] == "held"
    assert rec["mounts"] == "1"  # the app overlay, inside the pod's mount namespace only
    assert rec["rootfs"].endswith("opt/stage2/busybox/rootfs ok")
    for rel in ("pod", "pod-created", "stage1/manifest", "stage1/rootfs/run", "stage1TreeStoreID",
                "appsinfo/busybox/treeStoreID", "appsinfo/busybox/manifest", "overlay/busybox/upper",
                "overlay/busybox/work", "stage1/rootfs/opt/stage2/busybox/rootfs",
                "stage1/rootfs/opt/stage2/busybox/manifest"):
        assert (pod / rel).exists(), rel
    tree = (pod / "appsinfo/busybox/treeStoreID").read_text()
    assert (rkt.dir / "cas" / "tree" / tree / "rootfs" / "bin" / "busybox").exists()
    assert not (pod / "stage1/rootfs/opt/stage2/busybox/rootfs/bin").exists()  # not on the host
    assert json.loads((pod / "appsinfo/busybox/manifest").read_bytes())["name"] == "example.com/busybox"
    # the pod is over: its lock is free, so it is "exited"
    assert "state=exited" in rkt("status", uuid).stdout


@pytest.mark.parametrize("version, expected, warnings", [
    (None, "--net=host", ["--hostname option is not supported by stage1",
                          "--dns-conf-mode option not supported by stage1",
                          "--ipc option is not supported by stage1"]),
    ("3", "--net=host --hostname=h1 --disable-seccomp",
     ["--dns-conf-mode option not supported by stage1", "--ipc option is not supported by stage1"]),
    ("5", "--net=host --hostname=h1 --dns-conf-mode=resolv=stage0,hosts=default --disable-seccomp",
     ["--ipc option is not supported by stage1"]),
])
def test_older_stage1_interfaces_get_only_their_flags(rkt, busybox, tmp_path, version, expected,
                                                      warnings):
    """As rkt 1.30's stage0 (measured): a flag newer than the stage1's interface version is not
    passed; those the user asked for by name are reported."""
    s1 = tmp_path / "s1.aci"
    annotations = [{"name": "coreos.com/rkt/stage1/run", "value": "/run"}]
    if version:
        annotations.append({"name": "coreos.com/rkt/stage1/interface-version", "value": version})
    script_stage1(s1, annotations=annotations)
    proc = rkt("--insecure-options=image,seccomp", "run", f"--stage1-path={s1}", busybox,
               "--net=host", "--hostname=h1", "--dns=1.2.3.4", "--ipc=private")
    pod = rkt.only_pod("run")
    args = read_record(pod)["args"].replace(f" --local-config={rkt.local_config}", "")
    assert args == f"{expected} {pod.name}"
    assert [line.removeprefix("rkt: warning: ") for line in proc.stderr.splitlines()
            if line.startswith("rkt: warning: ")] == warnings


def test_stage1_with_a_bad_interface_version_is_refused(rkt, busybox, tmp_path):
    s1 = tmp_path / "s1.aci"
    script_stage1(s1, annotations=[{"name": "coreos.com/rkt/stage1/run", "value": "/run"},
                                   {"name": "coreos.com/rkt/stage1/interface-version", "value": "five"}])
    proc = rkt.fails(INSECURE, "run", f"--stage1-path={s1}", busybox)
    assert "interface-version 'five' is not a number" in proc.stderr
    assert rkt.pod_dirs() == []


def test_exit_code_of_stage1_is_rkts(rkt, busybox, tmp_path):
    s1 = tmp_path / "s1.aci"
    script_stage1(s1, code=42)
    proc = run(rkt, s1, busybox, check=False)
    assert proc.returncode == 42, proc.stderr


def test_run_flags_reach_stage1(rkt, stage1_script, busybox):
    proc = run(rkt, stage1_script, "--debug", "--insecure-options=image,capabilities,paths,seccomp",
        busybox, "--interactive", "--dns=1.2.3.4", "--dns-search=a.example", "--dns-opt=ndots:2",
        "--dns-domain=example", "--hosts-entry=10.1.1.1=db", "--hosts-entry=10.1.1.1=db2")
    pod = rkt.only_pod("run")
    args = read_record(pod)["args"].split()
    assert args[0] == "--debug" and args[-1] == pod.name
    assert f"rkt: exec {pod}/stage1/rootfs/run --debug " in proc.stderr  # the library's debug line
    for a in ("--net=default", "--interactive", "--dns-conf-mode=resolv=stage0,hosts=stage0",
              "--disable-capabilities-restriction", "--disable-paths", "--disable-seccomp"):
        assert a in args
    etc = pod / "stage1/rootfs/etc"
    # rkt 1.30's files, byte for byte (its localhost fallback kept before the entries)
    assert (etc / "rkt-resolv.conf").read_text() == (
        "# Generated by rkt run\n\nsearch a.example\nnameserver 1.2.3.4\noptions ndots:2\n"
        "domain example\n")
    assert (etc / "rkt-hosts").read_text() == (
        "#created by rkt stage0\n127.0.0.1 localhost localhost.localdomain\n\n\n"
        "# Added by rkt run --hosts-entry\n10.1.1.1 db db2\n")


def test_no_overlay_copies_the_rootfs(rkt, stage1_script, busybox):
    run(rkt, stage1_script, "--no-overlay", busybox)
    pod = rkt.only_pod("run")
    rec = read_record(pod)
    assert rec["mounts"] == "0"
    assert (pod / "stage1/rootfs/opt/stage2/busybox/rootfs/bin/busybox").is_file()
    assert not (pod / "overlay").exists() and not (pod / "overlay-prepared").exists()


def test_prepare_then_run_prepared(rkt, stage1_script, busybox):
    uuid = prepare(rkt, stage1_script, busybox).stdout.strip()
    assert rkt.pod_dirs() == [rkt.dir / "pods" / "prepared" / uuid]
    assert not (rkt.dir / "pods/prepared" / uuid / "stage1-record").exists()
    rkt("run-prepared", "--net=none", uuid[:8])
    pod = rkt.only_pod("run")
    assert pod.name == uuid
    assert read_record(pod)["args"].startswith("--net=none ")
    again = rkt.fails("run-prepared", uuid)
    assert "not prepared" in again.stderr


def test_prepare_not_quiet_prints_uuid_last(rkt, stage1_script, busybox):
    proc = rkt(INSECURE, "prepare", f"--stage1-path={stage1_script}", busybox)
    assert proc.stdout.strip().splitlines()[-1] == rkt.only_pod("prepared").name


def test_run_prepared_errors(rkt, stage1_script, busybox):
    assert "no matches found" in rkt.fails("run-prepared", "0123abcd").stderr
    assert "UUID cannot be empty" in rkt.fails("run-prepared", "").stderr
    uuid = prepare(rkt, stage1_script, busybox).stdout.strip()
    assert uuid
    proc = rkt.fails("run-prepared", "--exec=/bin/x", uuid, code=254)
    assert "unknown flag: --exec" in proc.stderr


def test_uuid_file_save(rkt, stage1_script, busybox, tmp_path):
    uuid_file = tmp_path / "uuid"
    run(rkt, stage1_script, f"--uuid-file-save={uuid_file}", busybox)
    assert uuid_file.read_text() == rkt.only_pod("run").name


def test_failed_prepare_leaves_no_pod(rkt, busybox, tmp_path):
    not_stage1 = tmp_path / "not-stage1.aci"
    script_stage1(not_stage1, annotations=[])
    uuid_file = tmp_path / "uuid"
    proc = rkt.fails(INSECURE, "run", f"--stage1-path={not_stage1}", f"--uuid-file-save={uuid_file}",
                     busybox)
    assert "not a stage1 image" in proc.stderr
    assert rkt.pod_dirs() == []
    proc = rkt.fails(INSECURE, "run", f"--stage1-path={not_stage1}", tmp_path / "missing.aci")
    assert "missing.aci" in proc.stderr
    assert rkt.pod_dirs() == []


def test_app_without_exec_and_duplicate_names(rkt, stage1_script, busybox, tmp_path):
    noapp = tmp_path / "noapp.aci"
    make_aci(noapp, manifest("example.com/noapp", app=None))
    proc = rkt.fails(INSECURE, "run", f"--stage1-path={stage1_script}", noapp)
    assert "has no app section and --exec argument is not provided" in proc.stderr
    run(rkt, stage1_script, noapp, "--exec=/bin/true")
    assert pod_manifest(rkt)["apps"][0]["app"]["exec"] == ["/bin/true"]
    proc = rkt.fails(INSECURE, "run", f"--stage1-path={stage1_script}", busybox, busybox)
    assert "multiple apps with name busybox" in proc.stderr
    run(rkt, stage1_script, busybox, busybox, "--name=second")


def test_exec_and_args_are_reified(rkt, stage1_script, busybox):
    uuid = prepare(rkt, stage1_script, busybox, "--exec=/bin/echo", "--", "a b", "--c", "---").stdout.strip()
    # --exec replaces the image's whole command line
    app = pod_manifest(rkt, "prepared")["apps"][0]
    assert app["app"]["exec"] == ["/bin/echo", "a b", "--c"]
    assert app["image"]["id"].startswith("sha512-") and len(app["image"]["id"]) == 135
    assert app["name"] == "busybox" and uuid


def test_args_are_appended_to_the_image_exec(rkt, stage1_script, busybox):
    prepare(rkt, stage1_script, busybox, "--", "extra", "---")
    assert pod_manifest(rkt, "prepared")["apps"][0]["app"]["exec"] == [
        "/bin/sh", "-c", "echo hello from busybox", "extra"]


def test_env_precedence(rkt, stage1_script, tmp_path):
    aci = tmp_path / "env.aci"
    env = [{"name": n, "value": "image"} for n in ("IMG", "INH", "FILE", "SET", "APP")]
    m = manifest("example.com/env", exec_=["/bin/env"])
    m["app"]["environment"] = env
    from tests.helpers.aci import busybox_files
    make_aci(aci, m, busybox_files())
    env_file = tmp_path / "env"
    env_file.write_text("# comment\n\nFILE=file\nSET=file\nAPP=file\nONLYFILE=file\n")
    host = dict(os.environ, INH="host", HOSTONLY="host", SET="host", **{"BASH_FUNC_f%%": "() { :; }"})
    prepare(rkt, stage1_script, "--inherit-env", f"--set-env-file={env_file}", "--set-env=SET=set",
            "--set-env=APP=set", aci, "--environment=APP=app", env=host)
    got = {e["name"]: e["value"] for e in pod_manifest(rkt, "prepared")["apps"][0]["app"]["environment"]}
    assert got["IMG"] == "image" and got["INH"] == "image"  # inherited env fills only unset vars
    assert got["HOSTONLY"] == "host"
    assert "BASH_FUNC_f%%" not in got  # not a name an app can be given: skipped
    assert got["FILE"] == "file" and got["ONLYFILE"] == "file"
    assert got["SET"] == "set"
    assert got["APP"] == "app"  # the per-app flag wins


def test_user_group_isolators_and_annotations(rkt, stage1_script, busybox):
    prepare(rkt, stage1_script, busybox, "--user=user", "--group=1500", "--supplementary-gids=5,6",
            "--working-dir=/tmp", "--memory=64M", "--caps-retain=CAP_KILL", "--readonly-rootfs=true",
            "--annotation=a=b", "--user-annotation=c=d", "--user-label=e=f")
    ra = pod_manifest(rkt, "prepared")["apps"][0]
    app = ra["app"]
    assert (app["user"], app["group"], app["supplementaryGIDs"]) == ("user", "1500", [5, 6])
    assert app["workingDirectory"] == "/tmp"
    assert {"name": "resource/memory", "value": {"limit": "64M", "request": "64M"}} in app["isolators"]
    assert {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_KILL"]}} in app["isolators"]
    assert ra["readOnlyRootFS"] is True
    assert ra["annotations"] == [{"name": "a", "value": "b"}]
    assert app["userAnnotations"] == {"c": "d"} and app["userLabels"] == {"e": "f"}


def test_volumes_mounts_and_implicit_empty_volume(rkt, stage1_script, tmp_path):
    from tests.helpers.aci import busybox_files
    m = manifest("example.com/vols", exec_=["/bin/true"])
    m["app"]["mountPoints"] = [{"name": "data", "path": "/data"}, {"name": "cache", "path": "/cache"},
                               {"name": "logs", "path": "/logs", "readOnly": True}]
    aci = tmp_path / "vols.aci"
    make_aci(aci, m, busybox_files())
    proc = prepare(rkt, stage1_script, f"--volume=data,kind=host,source={tmp_path},readOnly=true",
                   "--volume=extra,kind=empty,mode=0700", "--mount=volume=extra,target=/extra",
                   aci, "--mount=volume=data,target=/logs")
    assert 'no volume specified for mount point "cache"' in proc.stderr
    pod = pod_manifest(rkt, "prepared")
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["data"] == {"name": "data", "kind": "host", "source": str(tmp_path), "readOnly": True}
    assert vols["vols-cache"]["kind"] == "empty"
    assert vols["extra"]["mode"] == "0700"
    mounts = pod["apps"][0]["mounts"]
    assert {"volume": "extra", "path": "/extra"} in mounts  # pod-wide --mount
    assert {"volume": "data", "path": "/logs"} in mounts  # fills mountPoint logs by path
    assert {"volume": "data", "path": "/data"} in mounts
    assert {"volume": "vols-cache", "path": "/cache"} in mounts
    assert len(mounts) == 4
    proc = rkt.fails(INSECURE, "prepare", f"--stage1-path={stage1_script}", aci,
                     "--mount=volume=nope,target=/x")
    assert 'no volume named "nope"' in proc.stderr


def test_pod_manifest_flag(rkt, stage1_script, busybox, tmp_path):
    image_id = rkt(INSECURE, "fetch", "--full", busybox).stdout.strip()
    pm = {"acVersion": "0.8.11", "acKind": "PodManifest",
          "apps": [{"name": "custom", "image": {"id": image_id}}]}
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(pm))
    run(rkt, stage1_script, f"--pod-manifest={path}")
    written = pod_manifest(rkt)
    assert written["apps"][0]["name"] == "custom"
    assert written["apps"][0]["app"]["exec"] == ["/bin/sh", "-c", "echo hello from busybox"]
    assert read_record(rkt.only_pod("run"))["rootfs"].endswith("opt/stage2/custom/rootfs ok")
    proc = rkt.fails(INSECURE, "run", f"--stage1-path={stage1_script}", f"--pod-manifest={path}",
                     busybox, code=254)
    assert "conflicting flags set with --pod-manifest (see --help)" in proc.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [{"name": "x"}]}')
    proc = rkt.fails(INSECURE, "run", f"--stage1-path={stage1_script}", f"--pod-manifest={bad}")
    assert "image" in proc.stderr and "required" in proc.stderr


def test_unprivileged_callers_are_refused(rkt, busybox):
    # The interpreter lives under /root, so drop the effective IDs after loading the CLI.
    code = (
        "import os, sys\n"
        "import rkt.cli, rkt.cli.run, rkt.cli.prepare, rkt.cli.run_prepared, rkt.cli.runflags\n"
        "import rkt.appc.types, rkt.appc.image, rkt.appc.pod, rkt.options\n"
        "os.setegid(65534); os.seteuid(65534)\n"
        "rkt.cli.main(sys.argv[1:])\n"
    )
    for cmd in (["run", str(busybox)], ["prepare", str(busybox)], ["run-prepared", "abc"]):
        proc = subprocess.run([sys.executable, "-c", code, *rkt.global_args, *cmd],
                              capture_output=True, text=True, cwd="/")
        assert proc.returncode == 254, proc.stderr
        assert "cannot run as unprivileged user" in proc.stderr
        assert "Traceback" not in proc.stderr


# What `rkt run` of a stored image must not import (issue 10): third-party packages, and the
# stdlib modules whose import alone costs milliseconds of every start (typing; dataclasses and,
# through it, inspect, ast, dis, tokenize; argparse; tempfile, threading; the json, sqlite3 and
# ctypes packages, with datetime, over their C cores _json, _sqlite3 and _ctypes). re, enum and
# ipaddress still load, with pathlib, which the run path does need.
RUN_PATH_FORBIDDEN = ("click", "requests", "cryptography", "gnupg", "pyroute2",
                      "typing", "dataclasses", "inspect", "ast", "dis", "tokenize", "argparse",
                      "tempfile", "threading", "json", "sqlite3", "datetime", "ctypes")


def imported_by(importtime: str) -> dict[str, str]:
    """`python -X importtime` output as {module: chain of importers}; a child is listed before
    its importer, one indentation step deeper."""
    rows = []
    for line in importtime.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.split("|")[2]
            if name.strip() != "imported package":
                rows.append((len(name) - len(name.lstrip()), name.strip()))
    chains = {}
    for i, (depth, name) in enumerate(rows):
        chain, want = [name], depth
        for later_depth, later in rows[i + 1:]:
            if later_depth < want:
                chain.append(later)
                want = later_depth
        chains.setdefault(name, " <- ".join(chain))
    return chains


def test_importtime_parser_names_the_importers():
    text = ("import time: self [us] | cumulative | imported package\n"
            "import time:        1 |          1 |     typing\n"
            "import time:        1 |          1 |   rkt.report\n"
            "import time:        1 |          1 |   rkt.errors\n"
            "import time:        1 |          1 | rkt.cli\n"
            "import time:        1 |          1 | json\n")
    assert imported_by(text) == {"typing": "typing <- rkt.report <- rkt.cli",
                                 "rkt.report": "rkt.report <- rkt.cli",
                                 "rkt.errors": "rkt.errors <- rkt.cli", "rkt.cli": "rkt.cli",
                                 "json": "json"}


@pytest.mark.parametrize("app_flags", [
    [],  # the image as it is: the lean path, no appc model
    # command-line values: the pod manifest goes through the appc model (rkt.appc.pod)
    ["--exec=/bin/sh", "--caps-retain=CAP_CHOWN", "--environment=A=b", "--", "-c", "exit 0"],
])
def test_run_path_imports_nothing_heavy(rkt, stage1_script, busybox, app_flags):
    rkt(INSECURE, "fetch", busybox)
    rkt(INSECURE, "fetch", stage1_script)
    # -S as the installed launcher (no site, no .pth files): only what rkt itself imports
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.run([sys.executable, "-S", "-X", "importtime", "-m", "rkt", *rkt.global_args,
                           "run", "--stage1-name=example.com/stage1-script", "--net=host",
                           "example.com/busybox", *app_flags], capture_output=True, text=True,
                          cwd=repo, timeout=120)
    assert proc.returncode == 0, proc.stderr
    modules = imported_by(proc.stderr)
    assert "rkt.pod.run" in modules and "_json" in modules  # the measurement saw the real run path
    assert ("rkt.appc.pod" in modules) == bool(app_flags)
    assert "site" not in modules
    loaded = {name: chain for name, chain in modules.items()
              if name.split(".")[0] in RUN_PATH_FORBIDDEN}
    assert not loaded, "rkt run imports:\n" + "\n".join(loaded.values())


def test_ports_must_be_declared_by_an_app(rkt, stage1_script, tmp_path):
    from tests.helpers.aci import busybox_files
    m = manifest("example.com/web", exec_=["/bin/true"])
    m["app"]["ports"] = [{"name": "http", "protocol": "tcp", "port": 80}]
    aci = tmp_path / "web.aci"
    make_aci(aci, m, busybox_files())
    prepare(rkt, stage1_script, "--port=http:127.0.0.1:8080", aci)
    assert pod_manifest(rkt, "prepared")["ports"] == [
        {"name": "http", "hostPort": 8080, "hostIP": "127.0.0.1"}]
    proc = rkt.fails(INSECURE, "prepare", f"--stage1-path={stage1_script}", "--port=dns:53", aci)
    assert 'port name "dns" is not defined by any app' in proc.stderr
    assert len(rkt.pod_dirs()) == 1


def test_overlay_falls_back_to_copy_when_unusable(rkt, stage1_script, busybox, tmp_path):
    """A data dir on overlayfs cannot hold overlay upper dirs: rkt copies instead, as rkt did."""
    for d in ("lower", "upper", "work", "merged"):
        (tmp_path / d).mkdir()
    merged = tmp_path / "merged"
    cmd = " ".join(f"'{a}'" for a in rkt.cmd(INSECURE, "prepare", "--quiet",
                                              f"--stage1-path={stage1_script}", busybox))
    cmd = cmd.replace(f"--dir={rkt.dir}", f"--dir={merged}/data")
    script = (f"mount -t overlay overlay -o lowerdir={tmp_path}/lower,upperdir={tmp_path}/upper,"
              f"workdir={tmp_path}/work {merged} && {cmd}; rc=$?; "
              f"ls {merged}/data/pods/prepared/*/stage1/rootfs/opt/stage2/busybox/rootfs/bin/busybox; "
              f"ls -d {merged}/data/pods/prepared/*/overlay 2>&1; exit $rc")
    proc = subprocess.run(["unshare", "-m", "--propagation", "slave", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "overlay filesystem not usable" in proc.stderr and "is on overlayfs" in proc.stderr
    assert "rootfs/bin/busybox" in proc.stdout
    assert "No such file or directory" in proc.stdout + proc.stderr  # no overlay/ dir


def test_run_prepared_refuses_a_tampered_tree_reference(rkt, stage1_script, busybox):
    uuid = prepare(rkt, stage1_script, busybox).stdout.strip()
    (rkt.dir / "pods/prepared" / uuid / "appsinfo/busybox/treeStoreID").write_text("../../../../etc")
    proc = rkt.fails("run-prepared", uuid)
    assert "invalid treeStoreID" in proc.stderr
    assert not (rkt.dir / "pods/run" / uuid / "stage1-record").exists()  # stage1 never ran
