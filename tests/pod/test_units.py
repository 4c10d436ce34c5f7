"""Pure logic of the pod library, no root needed: the stage1 call contract (entrypoints,
interface versions, run arguments), pod manifest generation from a PodSpec, durations
and list times."""

from __future__ import annotations

import datetime

import pytest

from rkt import report
from rkt.appc.pod import Volume
from rkt.duration import format_duration, parse_duration
from rkt.errors import RktError, UsageError
from rkt.pod import entrypoints
from rkt.pod.manifest import generate
from rkt.pod.spec import AppSpec, PodSpec, read_env_file
from rkt.pod.status import format_time, humanize_time

IMAGE_ID = "sha512-" + "ab" * 64


@pytest.fixture
def recorder():
    recorder = report.Recorder()
    previous = report.install(recorder)
    yield recorder
    report.install(previous)


def stage1_manifest(*annotations: tuple[str, str]) -> dict:
    return {"acKind": "ImageManifest", "name": "example.com/s1",
            "annotations": [{"name": n, "value": v} for n, v in annotations]}


RUN = "coreos.com/rkt/stage1/run"
VERSION = "coreos.com/rkt/stage1/interface-version"


@pytest.mark.parametrize("value, path", [
    ("/init", "init"), ("init", "init"), ("//opt/./bin//run", "opt/bin/run"),
])
def test_entrypoint_paths_are_normalised_inside_the_rootfs(value, path):
    assert entrypoints.entrypoint_path(stage1_manifest((RUN, value)), "run") == path


@pytest.mark.parametrize("value", ["/../../usr/bin/touch", "a/../../b", "..", "/", ""])
def test_entrypoint_paths_leaving_the_rootfs_are_refused(value):
    with pytest.raises(RktError, match="stage1 'run' entrypoint|stage1 has no 'run'"):
        entrypoints.entrypoint_path(stage1_manifest((RUN, value)), "run")


def test_first_annotation_wins_as_appc_annotations_get():
    manifest = stage1_manifest((RUN, "/first"), (RUN, "/second"))
    assert entrypoints.entrypoint_path(manifest, "run") == "first"
    with pytest.raises(RktError, match="stage1 has no 'gc' entrypoint"):
        entrypoints.entrypoint_path(manifest, "gc")


def test_entrypoint_of_a_pod(tmp_path):
    import json

    (tmp_path / "stage1").mkdir()
    (tmp_path / "stage1" / "manifest").write_text(json.dumps(stage1_manifest((RUN, "/x/run"))))
    assert entrypoints.entrypoint(tmp_path, "run") == tmp_path / "stage1" / "rootfs" / "x" / "run"
    (tmp_path / "stage1" / "manifest").write_text("[]")
    with pytest.raises(RktError, match="not a JSON object"):
        entrypoints.entrypoint(tmp_path, "run")
    (tmp_path / "stage1" / "manifest").write_text("{")
    with pytest.raises(RktError, match="not valid JSON"):
        entrypoints.entrypoint(tmp_path, "run")


@pytest.mark.parametrize("value, version", [(None, 1), ("5", 5), ("6", 6), ("+2", 2)])
def test_interface_version(value, version):
    annotations = [(RUN, "/run")] + ([(VERSION, value)] if value is not None else [])
    assert entrypoints.interface_version(stage1_manifest(*annotations)) == version


@pytest.mark.parametrize("value", ["five", "", "5.0", " 5", "1" * 20])
def test_bad_interface_version(value):
    with pytest.raises(RktError, match="is not a number"):
        entrypoints.interface_version(stage1_manifest((VERSION, value)))


def test_run_args_for_the_current_interface(recorder):
    spec = PodSpec(net=("default",), interactive=True, hostname="h", ipc="parent")
    args = entrypoints.run_args(6, spec, "U", debug=True, insecure=frozenset({"paths", "image"}),
                                dns_conf_mode="resolv=host,hosts=default", mds_token="T",
                                local_config="/etc/rkt")
    assert args == ["--debug", "--net=default", "--interactive", "--mds-token=T",
                    "--local-config=/etc/rkt", "--hostname=h",
                    "--dns-conf-mode=resolv=host,hosts=default", "--disable-paths", "--ipc=parent",
                    "U"]
    assert recorder.messages == []
    assert entrypoints.run_args(6, PodSpec(), "U") == ["--net=default", "U"]


@pytest.mark.parametrize("version, present, warned", [
    (1, [], ["--hostname", "--dns-conf-mode", "--ipc"]),
    (2, ["--hostname=h"], ["--dns-conf-mode", "--ipc"]),
    (3, ["--hostname=h", "--disable-seccomp"], ["--dns-conf-mode", "--ipc"]),
    (4, ["--hostname=h", "--dns-conf-mode=resolv=none,hosts=default", "--disable-seccomp"], ["--ipc"]),
    (5, ["--hostname=h", "--dns-conf-mode=resolv=none,hosts=default", "--disable-seccomp"], ["--ipc"]),
    (6, ["--hostname=h", "--dns-conf-mode=resolv=none,hosts=default", "--disable-seccomp",
         "--ipc=private"], []),
])
def test_run_args_by_interface_version(recorder, version, present, warned):
    spec = PodSpec(net=("host",), hostname="h", ipc="private")
    args = entrypoints.run_args(version, spec, "U", insecure=frozenset({"seccomp"}),
                                dns_conf_mode="resolv=none,hosts=default")
    assert args == ["--net=host", *present, "U"]
    assert [m.split()[0] for kind, m in recorder.messages if kind == "warn"] == warned


def image(name="example.com/app", **app) -> dict:
    return {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name,
            "app": {"exec": ["/bin/app"], "user": "0", "group": "0", **app}}


def test_manifest_from_spec_environment_precedence(tmp_path, monkeypatch, recorder):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=file\nBOTH=file\n\nHOME=file\n")
    monkeypatch.setenv("HOME", "/root-from-caller")
    monkeypatch.setenv("CALLER_ONLY", "caller")
    monkeypatch.setenv("BASH_FUNC_f%%", "() { :; }")  # not an appc name: skipped
    spec = PodSpec(apps=(AppSpec("app.aci", environment=(("BOTH", "app"),)),),
                   inherit_env=True, set_env_files=(str(env_file),),
                   set_env=(("BOTH", "set"), ("SET", "set")))
    pod = generate(spec, [(IMAGE_ID, image(environment=[{"name": "IMAGE", "value": "i"},
                                                          {"name": "HOME", "value": "/image"}]))])
    env = {e["name"]: e["value"] for e in pod["apps"][0]["app"]["environment"]}
    assert env["IMAGE"] == "i" and env["CALLER_ONLY"] == "caller"
    assert env["HOME"] == "file"  # the caller's only fills unset names; files override
    assert env["FROM_FILE"] == "file" and env["SET"] == "set"
    assert env["BOTH"] == "app"  # the per-app environment wins
    assert "BASH_FUNC_f%%" not in env


def test_manifest_from_spec_overrides_and_mounts(recorder):
    spec = PodSpec(apps=(AppSpec("app.aci", exec="/bin/other", args=("a", "b"), name="web",
                                 mounts=(("data", "/srv"),), user="5", group="6",
                                 supplementary_gids=(7, 8), working_dir="/w",
                                 readonly_rootfs=True, annotations=(("example.com/a", "1"),),
                                 user_labels=(("tier", "front"),),
                                 isolators=(("os/linux/cpu-shares", 512),)),),
                   volumes=(Volume.from_string("data,kind=empty"),))
    pod = generate(spec, [(IMAGE_ID, image(mountPoints=[{"name": "data", "path": "/srv"},
                                                        {"name": "cache", "path": "/c"}]))])
    ra = pod["apps"][0]
    assert ra["name"] == "web" and ra["readOnlyRootFS"] is True
    app = ra["app"]
    assert app["exec"] == ["/bin/other", "a", "b"]
    assert (app["user"], app["group"], app["supplementaryGIDs"]) == ("5", "6", [7, 8])
    assert app["workingDirectory"] == "/w" and app["userLabels"] == {"tier": "front"}
    assert app["isolators"] == [{"name": "os/linux/cpu-shares", "value": 512}]
    assert ra["annotations"] == [{"name": "example.com/a", "value": "1"}]
    assert ra["mounts"] == [{"volume": "data", "path": "/srv"}, {"volume": "web-cache", "path": "/c"}]
    assert [v["name"] for v in pod["volumes"]] == ["data", "web-cache"]
    # the implicit volume for /c is announced through the reporter, /srv has its --mount
    assert [kind for kind, _ in recorder.messages] == ["warn"]
    assert 'mount point "cache"' in recorder.messages[0][1]


def test_env_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "env"
    bad.write_text("OK=1\n1BAD=x\n")
    with pytest.raises(RktError, match=r"--set-env-file .*env:2: invalid environment variable name"):
        read_env_file(str(bad))
    with pytest.raises(RktError, match="--set-env-file .*missing"):
        read_env_file(str(tmp_path / "missing"))


def test_go_durations_parse_and_print_as_go_does():
    assert parse_duration("30m") == 1800
    assert parse_duration("1h30m") == 5400
    assert parse_duration("0s") == 0 and parse_duration("0") == 0
    assert parse_duration("1.5s") == 1.5
    assert parse_duration("10ms") == pytest.approx(0.01)
    assert parse_duration("-1s") == -1
    for bad in ("", "10", "1x", "m", "1h-5m", "h1"):
        with pytest.raises(UsageError, match="invalid duration"):
            parse_duration(bad)
    assert format_duration(1800) == "30m0s"
    assert format_duration(86400) == "24h0m0s"
    assert format_duration(0) == "0s"


def test_list_times_are_humanized_as_go_humanize():
    now = datetime.datetime(2026, 1, 10, 12, 0, tzinfo=datetime.timezone.utc)
    ago = lambda **kw: humanize_time(now - datetime.timedelta(**kw), now)  # noqa: E731
    assert ago(seconds=0) == "now"
    assert ago(seconds=1) == "1 second ago"
    assert ago(seconds=45) == "45 seconds ago"
    assert ago(minutes=1, seconds=30) == "1 minute ago"
    assert ago(minutes=10) == "10 minutes ago"
    assert ago(hours=5) == "5 hours ago"
    assert ago(days=1) == "1 day ago"
    assert ago(days=3) == "3 days ago"
    assert ago(days=15) == "2 weeks ago"
    assert humanize_time(None) == ""
    stamp = format_time(datetime.datetime(2026, 1, 10, 12, 0, 0, 250000, tzinfo=datetime.timezone.utc))
    assert ".25 " in stamp and stamp[:4] == "2026"
