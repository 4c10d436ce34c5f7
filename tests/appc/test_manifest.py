"""Image and pod manifests: appc's examples and Go tests (schema/*_test.go, types/app_test.go,
port_test.go), error paths, canonical JSON, and a fuzz of odd JSON types."""

import copy
import json

import pytest

from rkt.appc.image import App, Dependency, ImageManifest, Port
from rkt.appc.pairs import EnvironmentVariable, Label
from rkt.appc.pod import Mount, PodManifest, RuntimeApp, RuntimeImage, Volume
from rkt.errors import ManifestError
from tests.appc.examples import DEPENDENCY_ID, IMAGE, POD

ID = "sha512-" + "ab" * 64


def image(**extra) -> dict:
    return {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/app", **extra}


def pod(**extra) -> dict:
    return {"acKind": "PodManifest", "acVersion": "0.8.11", **extra}


def app(**extra) -> dict:
    return {"exec": ["/app"], "user": "0", "group": "0", **extra}


def error(cls, data) -> ManifestError:
    with pytest.raises(ManifestError) as e:
        cls.from_json(data)
    return e.value


# --- the appc examples -------------------------------------------------------------------------

def test_image_example():
    m = ImageManifest.from_json(json.dumps(IMAGE).encode())
    assert m.name == "example.com/reduce-worker"
    assert (m.label("version"), m.label("os"), m.label("arch"), m.label("nope")) == \
        ("1.0.0", "linux", "amd64", None)
    assert m.app.exec == ("/usr/bin/reduce-worker", "--quiet")
    assert (m.app.user, m.app.group) == ("100", "300")
    assert m.app.event_handler("post-stop").exec == ("/usr/bin/deregister-worker", "--verbose")
    assert dict(m.app.environment) == {"REDUCE_WORKER_DEBUG": "true"}
    assert m.app.env("REDUCE_WORKER_DEBUG") == "true"
    assert m.app.isolator("resource/cpu").cpu_limit_millicores == 20
    assert m.app.isolator("os/linux/capabilities-retain-set").capabilities == \
        {"CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"}
    assert m.app.unknown_isolators == ()
    assert m.app.ports == (Port("health", "tcp", 4000, 1, True),)
    assert m.dependencies == (Dependency("example.com/reduce-worker-base", DEPENDENCY_ID,
                                         (Label("os", "linux"), Label("env", "canary"))),)
    assert m.path_whitelist[-1] == "/etc/systemd/system/"
    assert m.annotation("homepage") == "https://example.com"
    assert ImageManifest.from_json(m.to_json()) == m


def test_image_example_placeholder_image_id_is_rejected():
    bad = copy.deepcopy(IMAGE)
    bad["dependencies"][0]["imageID"] = "sha512-..."
    e = error(ImageManifest, bad)
    assert e.path == "dependencies[0].imageID"


def test_pod_example():
    m = PodManifest.from_json(json.dumps(POD))
    assert [a.name for a in m.apps] == ["reduce-worker", "backup", "register"]
    assert m.app("backup").image.labels == (Label("version", "latest"),)
    assert m.app("backup").mounts[1] == Mount("buildoutput", "/mnt/out")
    assert m.app("register").app is None
    assert m.volume("dbvolume") == Volume("dbvolume", "host", "/opt/tenant1/database", read_only=True)
    assert m.volume("buildoutput").mode == "0777"
    assert m.isolator("os/unix/sysctl").sysctls == {"net.ipv4.tcp_fin_timeout": "6"}
    assert m.annotation("ip-address") == "10.1.2.3"
    assert PodManifest.from_json(m.to_json()) == m


# --- canonical JSON ------------------------------------------------------------------------------

def test_empty_app_is_not_written():
    # image_test.go TestEmptyApp: no "app": {} appears on the way out.
    m = ImageManifest.from_json(image())
    assert m.to_json() == image()
    assert m.app is None


def test_canonical_json_omits_empty_optional_fields():
    m = ImageManifest.from_json(image(labels=[], annotations=[], dependencies=[], pathWhitelist=[],
                                      app=app(environment=[], isolators=[], ports=[],
                                              mountPoints=[], eventHandlers=[],
                                              workingDirectory="", supplementaryGIDs=[])))
    assert m.to_json() == image(app=app())


def test_port_json_has_every_field_and_count_defaults_to_1():
    m = App.from_json(app(ports=[{"name": "www", "protocol": "tcp", "port": 80, "count": 0}]))
    assert m.to_json()["ports"] == [{"name": "www", "protocol": "tcp", "port": 80, "count": 1,
                                     "socketActivated": False}]


def test_round_trip_is_stable():
    for cls, doc in ((ImageManifest, IMAGE), (PodManifest, POD)):
        once = cls.from_json(doc).to_json()
        assert cls.from_json(once).to_json() == once
        assert json.loads(cls.from_json(once).to_bytes()) == once


def test_pod_annotations_keep_null_apart_from_empty():
    absent = PodManifest.from_json(pod())
    null = PodManifest.from_json(pod(annotations=None))
    empty = PodManifest.from_json(pod(annotations=[]))
    assert absent.annotations is None and null.annotations is None
    assert empty.annotations == ()
    assert absent.to_json()["annotations"] is None
    assert empty.to_json()["annotations"] == []
    assert PodManifest.from_json(empty.to_json()).annotations == ()
    assert PodManifest.from_json(null.to_json()).annotations is None


def test_built_in_code():
    m = PodManifest(
        apps=(RuntimeApp("main", RuntimeImage(ID, "example.com/main"),
                         App(exec=("/bin/sh",), environment=(EnvironmentVariable("A", "1"),)),
                         mounts=(Mount("data", "/data"),)),),
        volumes=(Volume("data", "empty"),),
        annotations=(),
    )
    assert m.volumes[0].mode == "0755" and m.volumes[0].uid == 0
    assert PodManifest.from_json(m.to_bytes()) == m


# --- image manifest rules ----------------------------------------------------------------------

@pytest.mark.parametrize("doc, path, rule", [
    ({"name": "example.com/test"}, "acKind", "required"),
    (image(acKind="PodManifest"), "acKind", 'must be "ImageManifest"'),
    (image(acKind=""), "acKind", "required"),
    (image(acVersion=None), "acVersion", "required"),
    (image(acVersion="0.0.0"), "acVersion", "must not be 0.0.0"),
    (image(acVersion="v0.8.11"), "acVersion", "must be a semantic version like 0.8.11"),
    (image(name=None), "name", "required"),
    (image(name="Example.com/app"), "name", "must be an AC Identifier"),
    (image(labels=[{"name": "version", "value": "1"}, {"name": "version", "value": "2"}]),
     "labels[1]", 'duplicate label "version"'),
    (image(labels=[{"name": "name", "value": "x"}]), "labels[0].name", 'a label must not be called "name"'),
    (image(labels=[{"name": "os", "value": "plan9"}]), "labels",
     'bad os "plan9" (must be one of: darwin, freebsd, linux)'),
    (image(labels={"version": "1"}), "labels", "must be a JSON array"),
    (image(labels=[{"name": "version", "value": 1}]), "labels[0].value", "must be a string"),
    (image(annotations=[{"name": "a", "value": "b"}, {"name": "a", "value": "b"}]),
     "annotations[1]", 'duplicate annotation "a"'),
    (image(annotations=[{"name": "created", "value": "garbage"}]), "annotations[0].value",
     "must be an RFC 3339 date-time like 2015-01-02T15:04:05Z"),
    (image(annotations=[{"name": "x", "value": "1"}, {"name": "homepage", "value": "not-A$@#URL"}]),
     "annotations[1].value", "must be an http or https URL"),
    (image(annotations=[{"name": "documentation", "value": "ftp://isnotallowed.com"}]),
     "annotations[0].value", "must be an http or https URL"),
    (image(dependencies=[{"imageID": ID}]), "dependencies[0].imageName", "required"),
    (image(dependencies=[{"imageName": "a", "size": -1}]), "dependencies[0].size", "must be at least 0"),
    (image(dependencies=[{"imageName": "a", "labels": [{"name": "os", "value": "linux"},
                                                        {"name": "arch", "value": "arm"}]}]),
     "dependencies[0].labels", 'bad arch "arm" for linux (must be one of: amd64, i386, aarch64, '
     'aarch64_be, armv6l, armv7l, armv7b, ppc64, ppc64le, s390x)'),
    (image(pathWhitelist=["bin/sh"]), "pathWhitelist[0]", "must be an absolute path"),
    (image(app=app(user="")), "app.user", "required"),
    (image(app={"exec": ["/a"], "user": "0"}), "app.group", "required"),
    (image(app=app(user=0)), "app.user", "must be a string"),
    (image(app=app(eventHandlers=[{"name": "pre-start"}, {"name": "pre-stop"}])),
     "app.eventHandlers[1].name", "must be pre-start or post-stop"),
    (image(app=app(eventHandlers=[{"exec": ["/x"]}])), "app.eventHandlers[0].name", "required"),
    (image(app=app(eventHandlers=[{"name": "post-stop"}, {"name": "pre-start"}, {"name": "post-stop"}])),
     "app.eventHandlers[2]", 'duplicate event handler "post-stop"'),
    (image(app=app(workingDirectory="stuff")), "app.workingDirectory", "must be an absolute path"),
    (image(app=app(workingDirectory="../home/fred")), "app.workingDirectory", "must be an absolute path"),
    (image(app=app(environment=[{"name": "0DEBUG", "value": "true"}])), "app.environment[0].name",
     "must be an environment variable name ([A-Za-z_][A-Za-z_0-9.-]*)"),
    (image(app=app(environment=[{"name": "DEBUG", "value": "1"}, {"name": "DEBUG", "value": "1"}])),
     "app.environment[1]", 'duplicate environment variable "DEBUG"'),
    (image(app=app(environment=[{"value": "1"}])), "app.environment[0].name", "required"),
    (image(app=app(exec="not a list")), "app.exec", "must be a JSON array"),
    (image(app=app(exec=["/a", 1])), "app.exec[1]", "must be a string"),
    (image(app=app(supplementaryGIDs=[-1])), "app.supplementaryGIDs[0]", "must be between 0 and 4294967295"),
    (image(app=app(supplementaryGIDs=["1"])), "app.supplementaryGIDs[0]", "must be an integer"),
    (image(app=app(mountPoints=[{"name": "db"}])), "app.mountPoints[0].path", "required"),
    (image(app=app(mountPoints=[{"name": "db_1", "path": "/db"}])), "app.mountPoints[0].name",
     "must be an AC Name"),
    (image(app=app(ports=[{"name": "www", "protocol": "tcp", "port": 0}])), "app.ports[0].port",
     "must be between 1 and 65535"),
    (image(app=app(ports=[{"name": "www", "protocol": "tcp", "port": 65536}])), "app.ports[0].port",
     "must be between 1 and 65535"),
    (image(app=app(ports=[{"name": "www", "protocol": "tcp", "port": 65535, "count": 2}])),
     "app.ports[0].count", "port range must end at or below 65535"),
    (image(app=app(ports=[{"name": "www", "protocol": "tcp", "port": "80"}])), "app.ports[0].port",
     "must be an integer"),
    (image(app=app(ports=[{"name": "www", "protocol": "tcp", "port": 80.0}])), "app.ports[0].port",
     "must be an integer"),
    (image(app=app(ports=[{"name": "www", "port": 80}])), "app.ports[0].protocol", "required"),
    (image(app=app(ports=[{"name": "www", "protocol": "tcp"}])), "app.ports[0].port", "required"),
    (image(app=app(ports=[{"name": "www", "protocol": "tcp", "port": 80},
                          {"name": "www", "protocol": "udp", "port": 80}])),
     "app.ports[1]", 'duplicate port "www"'),
    (image(app=app(isolators=[{"name": "os/linux/cpu-shares", "value": 1}])),
     "app.isolators[0].value", "must be between 2 and 262144"),
    (image(app=app(userLabels={"a": 1})), "app.userLabels.a", "must be a string"),
    (image(app=[]), "app", "must be a JSON object"),
    ("[]", "", "must be a JSON object"),
])
def test_image_manifest_rules(doc, path, rule):
    e = error(ImageManifest, doc)
    assert (e.path, e.rule) == (path, rule)
    assert str(e) == f"manifest: {path}: {rule}" if path else f"manifest: {rule}"


@pytest.mark.parametrize("data", [b"", b"{", b"garbage", b"\xff\xfe", b'{"a": NaN}', b"[" * 100000,
                                  b"1" * 5000, "{\"acKind\": \"ImageManifest\",}"])
def test_bad_json(data):
    e = error(ImageManifest, data)
    assert e.path == "" and e.rule.startswith("invalid JSON: ")
    assert str(e).startswith("manifest: invalid JSON: ")


@pytest.mark.parametrize("data", [None, 5, ["a"], object()])
def test_not_json_at_all(data):
    assert error(ImageManifest, data).rule == "must be a JSON object"


@pytest.mark.parametrize("apps", [
    # app_test.go TestAppValid
    app(workingDirectory="/tmp"),
    app(eventHandlers=[{"name": "pre-start"}, {"name": "post-stop"}],
        environment=[{"name": "DEBUG", "value": "true"}], workingDirectory="/tmp"),
    app(exec=["/app", "arg1", "arg2"]),
    {"exec": None, "user": "0", "group": "0"},
    app(exec=[]),
    app(exec=["app"]),
    app(exec=["bin/app", "arg1"]),
    {"user": "0", "group": "0"},
])
def test_good_apps(apps):
    parsed = App.from_json(apps)
    assert App.from_json(parsed.to_json()) == parsed


def test_keys_match_case_insensitively_as_in_go():
    # app_test.go TestAppUnmarshal uses Go field names as keys.
    a = App.from_json('{"Exec":["/a"],"User":"0","Group":"0","UserAnnotations":{"weird!":"normal?"},'
                      '"UserLabels":{"one!":"two?"}}')
    assert a == App(exec=("/a",), user_annotations={"weird!": "normal?"},
                    user_labels={"one!": "two?"})
    assert error(App, '{"Exec":["notfullyqualified"]}').path == "user"
    assert error(App, '{"Exec":"not a list","User":"0","Group":"0"}').path == "exec"
    for key in ("supplementaryGIDs", "supplementaryGids", "SupplementaryGids", "SUPPLEMENTARYGIDS"):
        assert App.from_json(app(**{key: [10, 20]})).supplementary_gids == (10, 20)
    assert App.from_json(app(supplementaryGids=[3])).to_json()["supplementaryGIDs"] == [3]


def test_null_means_absent():
    m = ImageManifest.from_json(image(labels=None, app=None, annotations=None))
    assert m == ImageManifest("example.com/app")


def test_unknown_keys_are_ignored():
    assert ImageManifest.from_json(image(future={"x": 1})) == ImageManifest("example.com/app")


def test_dependency_size_and_id():
    m = ImageManifest.from_json(image(dependencies=[{"imageName": "example.com/base", "imageID": ID,
                                                     "size": 1024}]))
    assert m.dependencies[0] == Dependency("example.com/base", ID, (), 1024)
    assert m.to_json()["dependencies"] == [{"imageName": "example.com/base", "imageID": ID, "size": 1024}]


# --- pod manifest rules --------------------------------------------------------------------------

def runtime_app(name="a", **extra) -> dict:
    return {"name": name, "image": {"id": ID}, **extra}


@pytest.mark.parametrize("doc, path, rule", [
    ({}, "acKind", "required"),
    (pod(acKind="ImageManifest"), "acKind", 'must be "PodManifest"'),
    (pod(acVersion="1"), "acVersion", "must be a semantic version like 0.8.11"),
    (pod(apps=[runtime_app("foo"), runtime_app("bar"), runtime_app("foo")]), "apps[2]",
     'duplicate app name "foo"'),
    (pod(apps=[runtime_app("Foo")]), "apps[0].name", "must be an AC Name"),
    (pod(apps=[{"name": "a"}]), "apps[0].image", "required"),
    (pod(apps=[{"name": "a", "image": {"name": "example.com/a"}}]), "apps[0].image.id", "required"),
    (pod(apps=[{"name": "a", "image": {"id": "sha512-abc"}}]), "apps[0].image.id",
     "must be an image ID (sha512- and 128 lowercase hex digits)"),
    (pod(apps=[runtime_app(app={"user": "0"})]), "apps[0].app.group", "required"),
    (pod(apps=[runtime_app(mounts=[{"path": "/db"}])]), "apps[0].mounts[0].volume", "required"),
    (pod(apps=[runtime_app(mounts=[{"volume": "db"}])], volumes=[{"name": "db", "kind": "empty"}]),
     "apps[0].mounts[0].path", "required"),
    (pod(apps=[runtime_app(mounts=[{"volume": "db", "path": "/db"}])]), "apps[0].mounts[0].volume",
     'no volume named "db" in volumes'),
    (pod(apps=[runtime_app(annotations=[{"name": "a", "value": "1"}, {"name": "a", "value": "2"}])]),
     "apps[0].annotations[1]", 'duplicate annotation "a"'),
    (pod(apps=[runtime_app(readOnlyRootFS="yes")]), "apps[0].readOnlyRootFS", "must be true or false"),
    (pod(volumes=[{"name": "simplename", "kind": "empty"},
                  {"name": "simplename", "kind": "host", "source": "/tmp"}]),
     "volumes[1]", 'duplicate volume name "simplename"'),
    (pod(volumes=[{"name": "v", "kind": "tmpfs"}]), "volumes[0].kind", "must be host or empty"),
    (pod(volumes=[{"name": "v"}]), "volumes[0].kind", "required"),
    (pod(volumes=[{"name": "v", "kind": "host"}]), "volumes[0].source", "required for a host volume"),
    (pod(volumes=[{"name": "v", "kind": "host", "source": "tmp"}]), "volumes[0].source",
     "must be an absolute path"),
    (pod(volumes=[{"name": "v", "kind": "host", "source": "/tmp", "uid": 0}]), "volumes[0].uid",
     "not allowed for a host volume"),
    (pod(volumes=[{"name": "v", "kind": "empty", "source": "/tmp"}]), "volumes[0].source",
     "not allowed for an empty volume"),
    (pod(volumes=[{"name": "v", "kind": "empty", "mode": "0999"}]), "volumes[0].mode",
     'must be an octal mode like "0755"'),
    (pod(volumes=[{"name": "v", "kind": "empty", "mode": 755}]), "volumes[0].mode", "must be a string"),
    (pod(volumes=[{"name": "v", "kind": "empty", "uid": -1}]), "volumes[0].uid",
     "must be between 0 and 4294967294"),
    (pod(ports=[{"name": "www"}]), "ports[0].hostPort", "required"),
    (pod(ports=[{"name": "www", "hostPort": 0}]), "ports[0].hostPort", "must be between 1 and 65535"),
    (pod(ports=[{"name": "www", "hostPort": 80, "hostIP": "999.1.1.1"}]), "ports[0].hostIP",
     "must be an IP address"),
    (pod(ports=[{"name": "www", "hostPort": 80}, {"name": "www", "hostPort": 81}]), "ports[1]",
     'duplicate port name "www"'),
    (pod(isolators=[{"name": "os/unix/sysctl", "value": {"a": "1"}},
                    {"name": "os/unix/sysctl", "value": {"b": "1"}}]),
     "isolators[1]", "at most one os/unix/sysctl isolator is allowed"),
    (pod(annotations=[{"name": "created", "value": "yesterday"}]), "annotations[0].value",
     "must be an RFC 3339 date-time like 2015-01-02T15:04:05Z"),
    (pod(apps={}), "apps", "must be a JSON array"),
])
def test_pod_manifest_rules(doc, path, rule):
    e = error(PodManifest, doc)
    assert (e.path, e.rule) == (path, rule)


def test_ace_validator_pod():
    m = PodManifest.from_json(pod(
        apps=[runtime_app("ace-validator-main", mounts=[{"volume": "database", "path": "/db"}]),
              runtime_app("ace-validator-sidekick", mounts=[{"volume": "database", "path": "/db"}])],
        volumes=[{"name": "database", "kind": "empty"}]))
    assert m.to_json()["volumes"] == [{"name": "database", "kind": "empty", "mode": "0755",
                                       "uid": 0, "gid": 0}]


def test_exposed_ports_and_app_volume():
    m = PodManifest.from_json(pod(
        apps=[runtime_app(mounts=[{"volume": "x", "path": "/x",
                                   "appVolume": {"name": "x", "kind": "host", "source": "/srv"}}])],
        ports=[{"name": "www", "hostPort": 8080, "hostIP": "0:0::1"},
               {"name": "dns", "hostPort": 53, "podPort": {"name": "dns", "protocol": "udp", "port": 53}}]))
    assert m.apps[0].mounts[0].app_volume.source == "/srv"
    assert m.ports[0].host_ip == "::1"  # written back in canonical form
    assert m.ports[1].pod_port == Port("dns", "udp", 53)
    assert PodManifest.from_json(m.to_json()) == m


# --- fuzz: any JSON in any place gives a ManifestError, never another exception -----------------

ODD = [None, True, False, 0, -1, 1.5, 2**70, "", "x", "/", [], {}, [None], [1], {"a": None},
       {"name": 1}, ["x"] * 3]


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _replace(doc, path, value):
    doc = copy.deepcopy(doc)
    if not path:
        return value
    node = doc
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


_DELETE = object()


@pytest.mark.parametrize("cls, doc", [(ImageManifest, IMAGE), (PodManifest, POD)])
def test_fuzz_odd_types(cls, doc):
    tried = 0
    for path in _paths(doc):
        for value in ODD + ([_DELETE] if path else []):
            mutated = _replace(doc, path, value)
            try:
                parsed = cls.from_json(mutated)
            except ManifestError as e:
                assert "\n" not in str(e)
            else:
                assert cls.from_json(parsed.to_json()) == parsed
            tried += 1
    assert tried > 1000


def test_frozen_manifests_do_not_share_mutable_json():
    doc = app(isolators=[{"name": "example.com/x", "value": {"a": [1]}}])
    parsed = App.from_json(doc)
    doc["isolators"][0]["value"]["a"].append(2)
    out = parsed.to_json()
    out["isolators"][0]["value"]["a"].append(3)
    assert parsed.isolators[0].value == {"a": [1]}


def test_manifests_built_in_code_may_use_tuples_and_odd_keys():
    assert App.from_json({"exec": ("/bin/sh", "-c"), "user": "0", "group": "0", 5: "x"}).exec == \
        ("/bin/sh", "-c")


@pytest.mark.parametrize("url, ok", [("https://example.com/a%20b", True), ("https://example.com/100%", False),
                                     ("https://example.com/%zz", False)])
def test_url_escapes(url, ok):
    doc = image(annotations=[{"name": "homepage", "value": url}])
    if ok:
        ImageManifest.from_json(doc)
    else:
        assert error(ImageManifest, doc).rule == "must be an http or https URL"


@pytest.mark.parametrize("depth", [200, 500, 900, 990, 5000])
def test_deeply_nested_isolator_values_are_refused_cleanly(depth):
    text = json.dumps(image(app=app(isolators=[{"name": "example.com/x", "value": "@"}])))
    text = text.replace('"@"', "[" * depth + "]" * depth)
    e = error(ImageManifest, text)
    assert e.rule.endswith("nested too deeply")


def test_self_referencing_dict_from_code():
    value: dict = {}
    value["again"] = value
    assert error(App, app(isolators=[{"name": "example.com/x", "value": value}])).rule == \
        "nested too deeply"
