"""rkt.cli.runflags: rkt's run/prepare argv grammar (per-app flags, `--` args `---`) turned
into a frozen PodSpec; pure logic."""

import pytest

from rkt.cli import runflags
from rkt.errors import UsageError
from rkt.pod.spec import PodSpec, Stage1Ref


def parse(command: str, argv: list[str]) -> PodSpec:
    return runflags.parse(command, argv).spec


def test_per_app_flags_follow_their_image():
    f = parse("run", ["--net=host", "a.aci", "--exec=/x", "--user=5", "--name=one",
                      "b.aci", "--group", "7", "--environment=K=V", "--readonly-rootfs"])
    assert [a.image for a in f.apps] == ["a.aci", "b.aci"]
    a, b = f.apps
    assert (a.exec, a.user, a.name, a.group) == ("/x", "5", "one", None)
    assert (b.exec, b.group, b.environment, b.readonly_rootfs) == (None, "7", (("K", "V"),), True)
    assert f.net == ("host",)


def test_app_args_between_double_and_triple_dash():
    f = parse("run", ["a.aci", "--", "--not-a-flag", "x", "---", "b.aci", "--", "y"])
    assert f.apps[0].args == ("--not-a-flag", "x")
    assert f.apps[1].args == ("y",)
    f = parse("run", ["a.aci", "--", "---"])
    assert f.apps[0].args == ()
    assert parse("run", ["a.aci"]).apps[0].args is None


def test_app_args_errors():
    with pytest.raises(UsageError, match="an image is required before any app arguments"):
        parse("run", ["--", "x"])
    with pytest.raises(UsageError, match="only one set of app arguments allowed per image"):
        parse("run", ["a.aci", "--", "x", "---", "--", "y"])


def test_mount_before_any_image_is_given_to_every_app():
    f = parse("run", ["--volume=v,kind=empty", "--volume=w,kind=empty", "--mount",
                      "volume=v,target=/a", "--mount=volume=v,target=/c", "one",
                      "--mount=volume=v,target=/b", "two", "--mount=volume=w,target=/a"])
    assert f.apps[0].mounts == (("v", "/a"), ("v", "/c"), ("v", "/b"))
    # an app's own mount at a path replaces the pod-wide one there (rkt's MergeMounts)
    assert f.apps[1].mounts == (("v", "/c"), ("w", "/a"))
    assert [v.name for v in f.volumes] == ["v", "w"]


@pytest.mark.parametrize("argv, message", [
    (["--exec=/x", "img"], "--exec must follow an image"),
    (["--user=1", "img"], "--user must follow an image"),
    (["--memory=1G", "img"], "--memory must follow an image"),
    (["img", "--exec=/a", "--exec=/b"], "--exec specified multiple times for the same image"),
    (["img", "--bogus"], "unknown flag: --bogus"),
    (["img", "--hostname"], "flag needs an argument: --hostname"),
    (["img", "--memory=16m"], "too low"),
    (["img", "--cpu=lots"], "--cpu"),
    (["img", "--caps-retain=CAP_NET_ADMIN", "--caps-remove=CAP_KILL"], "mutually exclusive"),
    (["img", "--caps-retain=NOT_A_CAP"], "unknown capability"),
    (["img", "--seccomp=chmod"], "mode=retain or mode=remove"),
    (["img", "--oom-score-adj=5000"], "--oom-score-adj"),
    (["img", "--supplementary-gids=1,x"], "not a group ID"),
    (["img", "--working-dir=rel"], "absolute path"),
    (["img", "--environment=NOEQUALS"], "NAME=VALUE"),
    (["img", "--set-env=1BAD=x"], "invalid environment variable name"),
    (["img", "--mount=volume=v"], "absolute path"),
    (["img", "--mount=volume=v,target=/a,extra=1"], "unknown mount parameter"),
    (["img", "--volume=v,kind=weird"], "volume"),
    (["img", "--net=host", "--port=http:8080"], "--port flag does not work with 'host' networking"),
    (["img", "--net=none", "--mds-register"], "mutually exclusive"),
    (["img", "--dns=host", "--dns=8.8.8.8"], "cannot be combined"),
    (["img", "--dns=host", "--dns-search=x"], "--dns=host"),
    (["img", "--dns=banana"], "not an IP address"),
    (["img", "--hosts-entry=300.1.1.1=x"], "not an IP address"),
    (["img", "--pull-policy=always"], "--pull-policy"),
    (["img", "--ipc=shared"], "--ipc"),
    (["img", "--stage1-path=/a", "--stage1-name=b"], "mutually exclusive"),
    (["a", "b", "--interactive"], "interactive option only supports one image"),
    ([], "must provide at least one image"),
    (["img", "--name=Not_An_AC_Name"], "invalid app name"),
    (["img", "--hostname=bad host"], "not a valid hostname"),
    (["img", "--hostname=a..b"], "not a valid hostname"),
    (["img", "--hostname=a."], "not a valid hostname"),
    (["img", "--hostname=caf\u00e9"], "not a valid hostname"),
    (["img", "--hostname=" + "x" * 65], "not a valid hostname"),
])
def test_bad_usage(argv, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        parse("run", argv)


@pytest.mark.parametrize("argv", [
    ["img"], ["--port=http:80"], ["--inherit-env"], ["--set-env=A=b"], ["--volume=v,kind=empty"],
    ["--mount=volume=v,target=/x"], ["--set-env-file=/f"], ["--store-only"],
    ["--no-store"],
])
def test_pod_manifest_conflicts(argv):
    with pytest.raises(UsageError, match=r"conflicting flags set with --pod-manifest \(see --help\)"):
        parse("run", ["--pod-manifest=/p.json", *argv])


@pytest.mark.parametrize("name", ["h", "-x", "web_1", "shorthash--21", "a.b-c.example.com", "x" * 64,
                                  "a-single-label-of-sixty-four-characters-is-fine-for-the-kernel-x"])
def test_hostnames_rkt_accepts(name):
    assert parse("run", ["img", f"--hostname={name}"]).hostname == name


def test_pod_manifest_alone_and_with_pod_level_run_flags():
    f = parse("run", ["--pod-manifest=/p.json", "--net=host", "--interactive", "--hostname=h"])
    assert f.pod_manifest == "/p.json" and not f.apps
    assert (f.net, f.interactive, f.hostname) == (("host",), True, "h")


def test_flag_value_forms_and_bools():
    f = parse("run", ["img", "--net", "--inherit-env=false", "--no-overlay", "--dns", "1.1.1.1",
                      "--dns=8.8.8.8,9.9.9.9", "--hosts-entry=10.0.0.1=db",
                      "--hosts-entry=10.0.0.2=a,10.0.0.1=b", "--uuid-file-save", "/u"])
    assert f.net == ("default",)  # a bare --net never eats the next word
    assert f.apps[0].image == "img" and not f.inherit_env and f.no_overlay
    assert f.dns == ("1.1.1.1", "8.8.8.8", "9.9.9.9")
    # comma-separated entries, as rkt's dns.md example `--hosts-entry 198.51.100.0=host1,198.51.100.1=host2`
    assert f.hosts_entries == (("10.0.0.1", "db"), ("10.0.0.2", "a"), ("10.0.0.1", "b"))
    assert f.uuid_file_save == "/u"
    assert not f.private_users and parse("run", ["--private-users", "img"]).private_users


def test_isolator_flags_become_appc_isolators():
    f = parse("run", ["img", "--memory=64M", "--cpu=500m", "--cpu-shares=512", "--oom-score-adj=-10",
                      "--caps-retain=CAP_NET_ADMIN,CAP_KILL", "--seccomp=mode=remove,errno=EPERM,chmod"])
    iso = dict(f.apps[0].isolators)
    assert iso["resource/memory"] == {"limit": "64M", "request": "64M"}
    assert iso["resource/cpu"] == {"limit": "500m", "request": "500m"}
    assert iso["os/linux/cpu-shares"] == 512
    assert iso["os/linux/oom-score-adj"] == -10
    assert iso["os/linux/capabilities-retain-set"] == {"set": ["CAP_NET_ADMIN", "CAP_KILL"]}
    assert iso["os/linux/seccomp-remove-set"] == {"set": ["chmod"], "errno": "EPERM"}


def test_prepare_and_run_prepared_take_their_own_flags():
    assert runflags.parse("prepare", ["--quiet", "img"]).quiet
    with pytest.raises(UsageError, match="unknown flag: --net"):
        parse("prepare", ["--net=host", "img"])
    with pytest.raises(UsageError, match="unknown flag: --quiet"):
        parse("run", ["--quiet", "img"])
    parsed = runflags.parse("run-prepared", ["--net=host", "--interactive", "abcd"])
    assert parsed.uuid == "abcd" and parsed.spec.interactive and not parsed.spec.apps
    with pytest.raises(UsageError, match="exactly one pod UUID"):
        parse("run-prepared", [])
    with pytest.raises(UsageError, match="unknown flag: --exec"):
        parse("run-prepared", ["--exec=/x", "abcd"])


def test_help():
    assert runflags.parse("run", ["--help"]).help
    assert runflags.parse("prepare", ["-h"]).help
    assert "--stage1-from-dir" in runflags.usage("run")


def test_annotation_and_port_names_are_checked():
    with pytest.raises(UsageError, match="not an AC identifier"):
        parse("run", ["img", "--annotation=Bad Name=x"])
    with pytest.raises(UsageError, match="not an AC name"):
        parse("run", ["--port=Bad_Port:80", "img"])


@pytest.mark.parametrize("flag, kind", [
    ("--stage1-path=/s.aci", "path"), ("--stage1-url=file:///s.aci", "url"),
    ("--stage1-name=example.com/s:1", "name"), ("--stage1-hash=sha512-ab", "hash"),
    ("--stage1-from-dir=s.aci", "from-dir"),
])
def test_stage1_flags_name_one_stage1(flag, kind):
    assert parse("run", [flag, "img"]).stage1 == Stage1Ref(kind, flag.partition("=")[2])
    assert parse("run", ["img"]).stage1 is None


def test_spec_is_frozen_plain_data():
    f = parse("run", ["img", "--user-label=a=1", "--annotation=example.com/x=y", "--cpu=1"])
    assert f.apps[0].user_labels == (("a", "1"),)
    assert f.apps[0].annotations == (("example.com/x", "y"),)
    with pytest.raises(AttributeError, match="cannot assign to field 'user'"):
        f.apps[0].user = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="cannot assign to field 'hostname'"):
        f.hostname = "x"  # type: ignore[misc]
