"""Pure logic of stage1: argument parsing, pod manifest reading, paths inside a rootfs, users."""

from __future__ import annotations

import json
import os

import pytest

from stage1 import init, mounts, podinfo, users

U = "0f6c5ad2-6a36-4a59-9d6b-2b3f6b1d4c10"


def test_parse_args():
    opts = init.parse_args(["--debug", "--net=none", "--interactive", "--hostname=h",
                            "--mds-token=t", "--ipc=parent", "--disable-seccomp", U])
    assert (opts.debug, opts.net, opts.interactive, opts.hostname, opts.mds_token, opts.ipc,
            opts.disable_seccomp, opts.disable_caps, opts.uuid) == \
        (True, "none", True, "h", "t", "parent", True, False, U)
    assert init.parse_args(["--net", U]).net == "default"  # bare --net is the default network
    assert init.parse_args(["--debug=false", U]).debug is False


@pytest.mark.parametrize("argv,message", [
    ([], "expected exactly one argument: the pod UUID"),
    (["a", "b"], "expected exactly one argument: the pod UUID"),
    (["--nope", U], "unknown flag --nope"),
    (["--ipc=weird", U], "invalid --ipc value 'weird': must be auto, private or parent"),
    (["../etc"], "invalid pod UUID '../etc'"),
    (["--debug=maybe", U], "invalid value 'maybe' for flag --debug"),
])
def test_parse_args_rejects(argv, message):
    with pytest.raises(init.Stage1Error, match=f"^{message.replace('(', '.').replace(')', '.')}$"):
        init.parse_args(argv)


@pytest.mark.parametrize("value,ok", [
    (U, True), (U.replace("-", ""), True), (U.upper(), True), (U[:-1], False),
    (U[:8] + "x" + U[9:], False), ("-" + U[:-1], False), ("../" + U, False), ("", False),
])
def test_uuid_validation(value, ok):
    assert podinfo.valid_uuid(value) is ok


def test_dns_conf_mode():
    assert init.parse_dns_conf_mode("") == {"resolv": "default", "hosts": "default"}
    assert init.parse_dns_conf_mode("resolv=host,hosts=stage0") == {"resolv": "host", "hosts": "stage0"}
    with pytest.raises(init.Stage1Error):
        init.parse_dns_conf_mode("resolv=bogus")


def test_network_names():
    assert init.network_namespace("host") is False
    assert init.network_namespace("none") is True
    assert init.network_namespace("default") is True
    assert init.network_namespace("default,x:IP=1.2.3.4") is True  # stage1.net checks the names


def _pod(tmp_path, apps, volumes=(), images=None):
    (tmp_path / "pod").write_text(json.dumps({"acKind": "PodManifest", "acVersion": "0.8.11",
                                              "apps": apps, "volumes": list(volumes)}))
    for a in apps:
        d = tmp_path / "appsinfo" / a["name"]
        d.mkdir(parents=True)
        image = (images or {}).get(a["name"], {"name": "example.com/x", "app": None})
        (d / "manifest").write_text(json.dumps(image))
    return podinfo.load(str(tmp_path))


def test_podinfo_reads_apps_mounts_and_implicit_volumes(tmp_path):
    app = {"exec": ["/bin/x"], "user": "0", "group": "0",
           "mountPoints": [{"name": "data", "path": "/data", "readOnly": True},
                           {"name": "logs", "path": "/logs"}],
           "eventHandlers": [{"name": "pre-start", "exec": ["/a"]}, {"name": "post-stop", "exec": ["/b"]}],
           "environment": [{"name": "A", "value": "1"}]}
    pod = _pod(tmp_path, [{"name": "a", "app": app, "mounts": [{"volume": "logs", "path": "/logs"}]}],
               volumes=[{"name": "logs", "kind": "host", "source": "/var/log"}])
    (a,) = pod.apps
    assert a.pre_start == [["/a"]] and a.post_stop == [["/b"]]
    assert [(m.volume.name, m.volume.kind, m.path, m.read_only) for m in a.mounts] == \
        [("logs", "host", "/logs", False), ("a-data", "empty", "/data", True)]
    env = podinfo.app_environment(a, "http://m/t")
    assert env == {"A": "1", "PATH": podinfo.DEFAULT_PATH, "AC_APP_NAME": "a",
                   "AC_METADATA_URL": "http://m/t", "container": "rkt"}


def test_podinfo_a_mount_fills_the_mount_point_at_its_path_whatever_its_volume(tmp_path):
    # rkt's GenerateMounts: a mount at a mountPoint's path fills it; no implicit volume on top
    app = {"exec": ["/bin/x"], "user": "0", "group": "0",
           "mountPoints": [{"name": "data", "path": "/data"}, {"name": "ro", "path": "/ro", "readOnly": True}]}
    pod = _pod(tmp_path, [{"name": "a", "app": app,
                           "mounts": [{"volume": "vol2", "path": "/data/"}, {"volume": "rw", "path": "/ro"}]}],
               volumes=[{"name": "vol2", "kind": "host", "source": "/srv"},
                        {"name": "rw", "kind": "host", "source": "/srv", "readOnly": False}])
    assert [(m.volume.name, m.path, m.read_only) for m in pod.apps[0].mounts] == \
        [("vol2", "/data/", False), ("rw", "/ro", False)]
    assert set(pod.volumes) == {"vol2", "rw"}


def test_podinfo_mount_point_by_name_and_read_only_rootfs(tmp_path):
    app = {"exec": ["/bin/x"], "user": "0", "group": "0",
           "mountPoints": [{"name": "data", "path": "/data", "readOnly": True}]}
    pod = _pod(tmp_path, [{"name": "a", "app": app, "readOnlyRootFS": True},
                          {"name": "b", "app": app}],
               volumes=[{"name": "data", "kind": "host", "source": "/srv"}])
    a, b = pod.apps
    assert [(m.volume.name, m.read_only) for m in a.mounts] == [("data", True)]
    assert a.read_only_rootfs and not b.read_only_rootfs


def test_podinfo_uses_the_image_app_when_the_pod_has_none(tmp_path):
    image = {"name": "example.com/x", "app": {"exec": ["/img"], "user": "1", "group": "2"}}
    pod = _pod(tmp_path, [{"name": "a"}], images={"a": image})
    assert pod.apps[0].exec == ["/img"] and pod.apps[0].user == "1"


@pytest.mark.parametrize("name,ok", [("shorthash--21", True), ("a", True), ("a-b", True),
                                     ("-a", False), ("a-", False), ("a_b", False), ("a.b", False)])
def test_podinfo_app_names_follow_appc_go_rules(name, ok):
    # appc's Go code checks characters and edges only: rkt runs an image `x/shorthash--21`.
    assert podinfo.is_ac_name(name) is ok


@pytest.mark.parametrize("apps,volumes,message", [
    ([{"name": "../x", "app": {"exec": ["/x"], "user": "0", "group": "0"}}], [], "bad or duplicate app name"),
    ([{"name": "a", "app": {"exec": [], "user": "0", "group": "0"}}], [], "app 'a': no exec"),
    ([{"name": "a", "app": {"exec": ["/x"], "user": "0", "group": "0"},
       "mounts": [{"volume": "nope", "path": "/x"}]}], [], "mount of undefined volume 'nope'"),
    ([{"name": "a", "app": {"exec": ["/x"], "user": "0", "group": "0"}}],
     [{"name": "v", "kind": "host", "source": "rel"}], "source must be an absolute path"),
    ([{"name": "a", "app": {"exec": ["/x"], "user": "0", "group": "0"}}],
     [{"name": "v", "kind": "weird"}], "unsupported kind 'weird'"),
    ([], [], "no apps"),
    ([{"name": "a", "app": {"exec": ["/x"], "user": "0", "group": "0"}}],
     [{"name": "../../x", "kind": "empty"}], "invalid volume name"),
    ([{"name": "A", "app": {"exec": ["/x"], "user": "0", "group": "0"}}], [], "bad or duplicate app name"),
    ([{"name": "a", "app": {"exec": ["/x"], "user": "0", "group": "0",
                            "environment": [{"name": "A=B", "value": "1"}]}}], [],
     "invalid environment variable 'A=B'"),
])
def test_podinfo_rejects(tmp_path, apps, volumes, message):
    with pytest.raises(podinfo.PodError, match=message.replace("(", ".").replace(")", ".")):
        _pod(tmp_path, apps, volumes)


def test_resolve_in_root_follows_symlinks_inside(tmp_path):
    root = str(tmp_path)
    os.makedirs(f"{root}/real/dir")
    os.symlink("/real", f"{root}/abs")
    os.symlink("../../../../real", f"{root}/rel")
    os.symlink("/etc/passwd", f"{root}/host")
    assert mounts.resolve_in_root(root, "/abs/dir") == f"{root}/real/dir"
    assert mounts.resolve_in_root(root, "/rel/dir") == f"{root}/real/dir"
    assert mounts.resolve_in_root(root, "/../../..") == root
    assert mounts.resolve_in_root(root, "/host", create=None) == f"{root}/etc/passwd"
    assert mounts.resolve_in_root(root, "/abs/new/sub") == f"{root}/real/new/sub"
    assert os.path.isdir(f"{root}/real/new/sub")
    assert mounts.resolve_in_root(root, "/f", create="file") == f"{root}/f"
    assert os.path.isfile(f"{root}/f")


def test_resolve_in_root_rejects_loops_and_files(tmp_path):
    root = str(tmp_path)
    os.symlink("/b", f"{root}/a")
    os.symlink("/a", f"{root}/b")
    with pytest.raises(mounts.MountError, match="too many levels"):
        mounts.resolve_in_root(root, "/a/x")
    (tmp_path / "file").write_text("")
    with pytest.raises(mounts.MountError, match="is not a directory"):
        mounts.resolve_in_root(root, "/file/x")


def test_users(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\nbob:x:1001:1002::/:/bin/sh\n")
    (tmp_path / "etc" / "group").write_text("root:x:0:\nstaff:x:50:bob\n")
    f = tmp_path / "owned"
    f.write_text("")
    try:
        os.chown(f, 77, 88)
    except PermissionError:
        pass  # without CAP_CHOWN the file keeps our own ids, still distinct from the lookups'
    owner = (f.stat().st_uid, f.stat().st_gid)
    root = str(tmp_path)
    assert users.resolve_user("bob", root) == 1001
    assert users.resolve_group("staff", root) == 50
    assert users.resolve_user("42", root) == 42
    assert (users.resolve_user("/owned", root), users.resolve_group("/owned", root)) == owner
    with pytest.raises(users.UserError, match="user 'eve' not found in the image's /etc/passwd"):
        users.resolve_user("eve", root)
    with pytest.raises(users.UserError, match="group from file '/missing'"):
        users.resolve_group("/missing", root)


def test_hostname_is_checked():
    with pytest.raises(init.Stage1Error, match="invalid --hostname"):
        init.parse_args(["--hostname=" + "x" * 65, U])
    with pytest.raises(init.Stage1Error, match="invalid --hostname"):
        init.parse_args(["--hostname=a/b", U])


def test_empty_values_from_rkt_stage0_mean_defaults():
    opts = init.parse_args(["--net=", "--ipc=", "--hostname=", "--mds-token=", "--private-users=",
                            "--local-config=/etc/rkt", "--mutable=false", U])
    assert (opts.ipc, opts.hostname, opts.mds_token) == ("auto", "", "")
    assert init.network_namespace(opts.net) is True


@pytest.mark.parametrize("text", ['{"a": [1, -2.5e3, "\\u00e9", null, true, {}]}', ' [] \n', '"x"', "NaN"])
def test_parse_json_reads_what_json_reads(text):
    from stage1.files import parse_json
    value = parse_json(text.encode())
    assert json.dumps(value) == json.dumps(json.loads(text))


@pytest.mark.parametrize("data", [b"{not json", b"", b"{} x", b'"\\q"', b"\xff", b"[1,]"])
def test_parse_json_rejects_what_json_rejects(data):
    from stage1.files import parse_json
    with pytest.raises(ValueError):
        parse_json(data)


def test_pod_start_imports_no_enum_re_or_json(tmp_path):
    """The waiting parent, the supervisor and an app's setup load a plain pod without enum, re or
    json (each costs every process of every pod's start ~5-10 ms of imports), and without the
    modules only some pods or hosts need (~0.3 ms each)."""
    _pod(tmp_path, [{"name": "a", "app": {"exec": ["/bin/x"], "user": "0", "group": "0"}}])
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys\n"
            f"sys.path[:0] = [{repo!r}]\n"
            "from stage1 import init, podinfo, app, supervisor, relay, logs, notify, security\n"
            f"pod = podinfo.load({str(tmp_path)!r})\n"
            "security.preload(False)\n"
            "security.check(pod.apps[0].isolators, caps_disabled=False, seccomp_disabled=False)\n"
            "security.prepare_seccomp(pod.apps[0].isolators, False)\n"
            "from stage1.cgroups import pod, limits, tree\n"
            "pod.manager()\n"
            "print(sorted({'enum', 're', 'json', 'stage1.sockets', 'stage1.userns'} & set(sys.modules)),\n"
            "      {'stage1.cgroups.v1', 'stage1.cgroups.v2'} <= set(sys.modules))\n")
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-IS", "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert (out.stdout, out.stderr) == ("[] False\n", "")
