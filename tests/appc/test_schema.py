"""The JSON Schemas in specs/schemas and rkt.appc.image and rkt.appc.pod must agree on every case below.

Rules a JSON Schema cannot express (unique names, port ranges, mounts naming a defined volume,
Go's case-insensitive keys and null-as-absent) are marked VALIDATOR_ONLY: for those we assert
that the schema accepts and the validator rejects, so the gap stays documented and checked.
"""

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from referencing import Registry, Resource

from rkt.appc.image import ImageManifest
from rkt.appc.pod import PodManifest
from rkt.errors import ManifestError
from tests.appc.examples import IMAGE, POD

SCHEMAS = Path(__file__).resolve().parents[2] / "specs" / "schemas"
ID = "sha512-" + "cd" * 64
VALIDATOR_ONLY = "validator-only"


def _load(name):
    return json.loads((SCHEMAS / name).read_text())


IMAGE_SCHEMA = _load("image-manifest.schema.json")
POD_SCHEMA = _load("pod-manifest.schema.json")
REGISTRY = Registry().with_resources(
    (s["$id"], Resource.from_contents(s)) for s in (IMAGE_SCHEMA, POD_SCHEMA))
VALIDATORS = {
    ImageManifest: jsonschema.Draft202012Validator(IMAGE_SCHEMA, registry=REGISTRY),
    PodManifest: jsonschema.Draft202012Validator(POD_SCHEMA, registry=REGISTRY),
}


def test_schemas_are_valid_json_schemas():
    for schema in (IMAGE_SCHEMA, POD_SCHEMA):
        jsonschema.Draft202012Validator.check_schema(schema)


def image(**extra):
    return {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/app", **extra}


def app(**extra):
    return {"exec": ["/app"], "user": "0", "group": "0", **extra}


def iso(name, value):
    return image(app=app(isolators=[{"name": name, "value": value}]))


def pod(**extra):
    return {"acKind": "PodManifest", "acVersion": "0.8.11", **extra}


def rapp(name="a", **extra):
    return {"name": name, "image": {"id": ID}, **extra}


def with_change(doc, change):
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


# (manifest class, JSON document, expected: True (valid) | False (invalid) | VALIDATOR_ONLY)
CASES = {
    # --- good image manifests
    "image example": (ImageManifest, IMAGE, True),
    "minimal image": (ImageManifest, image(), True),
    "prerelease version": (ImageManifest, image(acVersion="1.0.0-rc.1+build.2"), True),
    "os/arch ok": (ImageManifest, image(labels=[{"name": "os", "value": "darwin"},
                                                {"name": "arch", "value": "x86_64"}]), True),
    "arch without os": (ImageManifest, image(labels=[{"name": "arch", "value": "pdp11"}]), True),
    "full app": (ImageManifest, image(app=app(
        eventHandlers=[{"name": "pre-start", "exec": ["/p"]}, {"name": "post-stop", "exec": ["/q"]}],
        supplementaryGIDs=[1, 2], workingDirectory="/srv", environment=[{"name": "A.b-c", "value": ""}],
        mountPoints=[{"name": "data", "path": "/data", "readOnly": True}],
        ports=[{"name": "www", "protocol": "tcp", "port": 65535, "count": 1}],
        userAnnotations={"x": "y"}, userLabels={"k": "v"})), True),
    # appc's Go code checks a name's characters and edges, not the spec text's stricter regex
    "repeated separator in name": (ImageManifest, image(name="example.com//app"), True),
    "repeated dash in name": (ImageManifest, image(name="shorthash--21"), True),
    "dash-underscore label name": (ImageManifest, image(labels=[{"name": "a-_b", "value": "x"}]), True),
    "supplementaryGids spelling": (ImageManifest, image(app=app(supplementaryGids=[5])), True),
    "unknown isolator": (ImageManifest, iso("example.com/ponies", [1, 2]), True),
    "memory quantity number": (ImageManifest, iso("resource/memory", {"limit": 1024}), True),
    "cpu request and limit": (ImageManifest, iso("resource/cpu", {"request": "250m", "limit": "1.5"}), True),
    "block iops": (ImageManifest, iso("resource/block-iops", {"default": True, "limit": "1k"}), True),
    "seccomp wildcard": (ImageManifest, iso("os/linux/seccomp-retain-set",
                                            {"set": ["@appc.io/all"], "errno": "EPERM"}), True),
    "selinux": (ImageManifest, iso("os/linux/selinux-context",
                                   {"user": "u", "role": "r", "type": "t", "level": "s0:c1"}), True),
    "dependency": (ImageManifest, image(dependencies=[{"imageName": "example.com/base", "imageID": ID,
                                                       "size": 10}]), True),
    "annotations ok": (ImageManifest, image(annotations=[
        {"name": "created", "value": "2014-10-27T19:32:27.67021798+01:00"},
        {"name": "homepage", "value": "http://example.com/x?y=1"}]), True),
    # --- bad image manifests, both agree
    "no acKind": (ImageManifest, {"acVersion": "0.8.11", "name": "a"}, False),
    "wrong acKind": (ImageManifest, image(acKind="PodManifest"), False),
    "zero version": (ImageManifest, image(acVersion="0.0.0"), False),
    "v-prefixed version": (ImageManifest, image(acVersion="v1.0.0"), False),
    "no name": (ImageManifest, {"acKind": "ImageManifest", "acVersion": "0.8.11"}, False),
    "uppercase name": (ImageManifest, image(name="Example.com/app"), False),
    "label called name": (ImageManifest, image(labels=[{"name": "name", "value": "x"}]), False),
    "bad os": (ImageManifest, image(labels=[{"name": "os", "value": "plan9"}]), False),
    "bad arch for os": (ImageManifest, image(labels=[{"name": "arch", "value": "arm"},
                                                     {"name": "os", "value": "linux"}]), False),
    "bad created": (ImageManifest, image(annotations=[{"name": "created", "value": "2014-10-27"}]), False),
    "ftp homepage": (ImageManifest, image(annotations=[{"name": "homepage", "value": "ftp://x"}]), False),
    "no user": (ImageManifest, image(app={"group": "0"}), False),
    "empty group": (ImageManifest, image(app=app(group="")), False),
    "relative workdir": (ImageManifest, image(app=app(workingDirectory="srv")), False),
    "bad env name": (ImageManifest, image(app=app(environment=[{"name": "1A", "value": ""}])), False),
    "bad event handler": (ImageManifest, image(app=app(eventHandlers=[{"name": "on-start"}])), False),
    "two pre-start handlers": (ImageManifest, image(app=app(eventHandlers=[
        {"name": "pre-start"}, {"name": "pre-start"}])), False),
    "port zero": (ImageManifest, image(app=app(ports=[{"name": "p", "protocol": "tcp", "port": 0}])), False),
    "port as string": (ImageManifest, image(app=app(ports=[{"name": "p", "protocol": "tcp", "port": "1"}])), False),
    "negative gid": (ImageManifest, image(app=app(supplementaryGIDs=[-1])), False),
    "mount point without path": (ImageManifest, image(app=app(mountPoints=[{"name": "x"}])), False),
    "cpu-shares too low": (ImageManifest, iso("os/linux/cpu-shares", 1), False),
    "oom too high": (ImageManifest, iso("os/linux/oom-score-adj", 1001), False),
    "nnp not bool": (ImageManifest, iso("os/linux/no-new-privileges", "true"), False),
    "memory default true": (ImageManifest, iso("resource/memory", {"default": True, "limit": "1G"}), False),
    "memory capital K": (ImageManifest, iso("resource/memory", {"limit": "1K"}), False),
    "bandwidth with request": (ImageManifest, iso("resource/network-bandwidth",
                                                  {"default": True, "request": "1", "limit": "1"}), False),
    "unknown capability": (ImageManifest, iso("os/linux/capabilities-retain-set", {"set": ["CAP_PONIES"]}), False),
    "empty capability set": (ImageManifest, iso("os/linux/capabilities-remove-set", {"set": []}), False),
    "bad errno": (ImageManifest, iso("os/linux/seccomp-remove-set", {"set": ["reboot"], "errno": "-EPERM"}), False),
    "two seccomp sets": (ImageManifest, image(app=app(isolators=[
        {"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"]}},
        {"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}}])), False),
    "caps retain and remove": (ImageManifest, image(app=app(isolators=[
        {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_KILL"]}},
        {"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_KILL"]}}])), False),
    "selinux colon": (ImageManifest, iso("os/linux/selinux-context",
                                         {"user": "u:x", "role": "r", "type": "t", "level": "s0"}), False),
    "isolator without value": (ImageManifest, image(app=app(isolators=[{"name": "resource/cpu"}])), False),
    "relative whitelist": (ImageManifest, image(pathWhitelist=["etc/passwd"]), False),
    "placeholder dependency id": (ImageManifest, with_change(
        IMAGE, lambda d: d["dependencies"][0].update(imageID="sha512-...")), False),
    # --- image manifest rules only the validator can check
    "duplicate labels": (ImageManifest, image(labels=[{"name": "version", "value": "1"},
                                                      {"name": "version", "value": "2"}]), VALIDATOR_ONLY),
    "duplicate annotations": (ImageManifest, image(annotations=[{"name": "a", "value": "1"},
                                                                {"name": "a", "value": "1"}]), VALIDATOR_ONLY),
    "duplicate env": (ImageManifest, image(app=app(environment=[{"name": "A", "value": "1"},
                                                                {"name": "A", "value": "2"}])), VALIDATOR_ONLY),
    "port range past 65535": (ImageManifest, image(app=app(ports=[
        {"name": "p", "protocol": "tcp", "port": 65000, "count": 1000}])), VALIDATOR_ONLY),
    "duplicate port names": (ImageManifest, image(app=app(ports=[
        {"name": "p", "protocol": "tcp", "port": 1}, {"name": "p", "protocol": "udp", "port": 1}])),
        VALIDATOR_ONLY),
    "Go-style key with bad value": (ImageManifest, image(app=app(User="")), VALIDATOR_ONLY),
    "impossible date": (ImageManifest, image(annotations=[{"name": "created",
                                                           "value": "2014-02-30T00:00:00Z"}]), VALIDATOR_ONLY),
    # --- pod manifests
    "pod example": (PodManifest, POD, True),
    "minimal pod": (PodManifest, pod(), True),
    "pod with nulls as Go writes them": (PodManifest, pod(apps=[], volumes=None, isolators=None,
                                                          annotations=None, ports=None), True),
    "pod empty volume defaults": (PodManifest, pod(apps=[rapp(mounts=[{"volume": "v", "path": "/v"}])],
                                                   volumes=[{"name": "v", "kind": "empty"}]), True),
    "pod exposed port": (PodManifest, pod(ports=[{"name": "www", "hostPort": 8080, "hostIP": "127.0.0.1",
                                                  "podPort": {"name": "www", "protocol": "tcp", "port": 80}}]), True),
    "pod unknown isolator": (PodManifest, pod(isolators=[{"name": "example.com/x", "value": None or 0}]), True),
    "pod wrong kind": (PodManifest, pod(acKind="ImageManifest"), False),
    "pod app bad name": (PodManifest, pod(apps=[rapp("App")]), False),
    "pod app name with a dash run": (PodManifest, pod(apps=[rapp("shorthash--21")]), True),
    "pod app name ending in a dash": (PodManifest, pod(apps=[rapp("app-")]), False),
    "pod app without image id": (PodManifest, pod(apps=[{"name": "a", "image": {"name": "example.com/a"}}]), False),
    "pod short image id": (PodManifest, pod(apps=[{"name": "a", "image": {"id": ID[:39]}}]), False),
    "pod app without user": (PodManifest, pod(apps=[rapp(app={"group": "0"})]), False),
    "pod host volume without source": (PodManifest, pod(volumes=[{"name": "v", "kind": "host"}]), False),
    "pod host volume relative": (PodManifest, pod(volumes=[{"name": "v", "kind": "host", "source": "x"}]), False),
    "pod host volume with mode": (PodManifest, pod(volumes=[{"name": "v", "kind": "host", "source": "/x",
                                                             "mode": "0700"}]), False),
    "pod empty volume with source": (PodManifest, pod(volumes=[{"name": "v", "kind": "empty",
                                                                "source": "/x"}]), False),
    "pod volume bad kind": (PodManifest, pod(volumes=[{"name": "v", "kind": "nfs"}]), False),
    "pod volume bad mode": (PodManifest, pod(volumes=[{"name": "v", "kind": "empty", "mode": "17777"}]), False),
    "pod mount without path": (PodManifest, pod(apps=[rapp(mounts=[{"volume": "v"}])],
                                                volumes=[{"name": "v", "kind": "empty"}]), False),
    "pod port without hostPort": (PodManifest, pod(ports=[{"name": "www"}]), False),
    "pod two sysctl isolators": (PodManifest, pod(isolators=[{"name": "os/unix/sysctl", "value": {}},
                                                             {"name": "os/unix/sysctl", "value": {}}]), False),
    "pod sysctl key escaping /proc/sys": (PodManifest, pod(isolators=[
        {"name": "os/unix/sysctl", "value": {"../../etc/x": "1"}}]), False),
    "pod bad annotation": (PodManifest, pod(annotations=[{"name": "documentation", "value": "x"}]), False),
    "duplicate app names": (PodManifest, pod(apps=[rapp("a"), rapp("a")]), VALIDATOR_ONLY),
    "duplicate volume names": (PodManifest, pod(volumes=[{"name": "v", "kind": "empty"},
                                                         {"name": "v", "kind": "host", "source": "/x"}]),
                               VALIDATOR_ONLY),
    "mount of undefined volume": (PodManifest, pod(apps=[rapp(mounts=[{"volume": "v", "path": "/v"}])]),
                                  VALIDATOR_ONLY),
    "duplicate exposed ports": (PodManifest, pod(ports=[{"name": "p", "hostPort": 1},
                                                        {"name": "p", "hostPort": 2}]), VALIDATOR_ONLY),
}


def test_table_is_big_enough():
    assert len(CASES) >= 40
    assert sum(1 for *_, want in CASES.values() if want is True) >= 15
    assert sum(1 for *_, want in CASES.values() if want is False) >= 25


@pytest.mark.parametrize("case", list(CASES))
def test_schema_and_validator_agree(case):
    cls, doc, want = CASES[case]
    try:
        cls.from_json(doc)
        validator_ok = True
    except ManifestError:
        validator_ok = False
    errors = list(VALIDATORS[cls].iter_errors(doc))
    schema_ok = not errors
    if want is VALIDATOR_ONLY:
        assert (schema_ok, validator_ok) == (True, False), "not a validator-only case any more"
    else:
        assert validator_ok == want, f"validator says {validator_ok}"
        assert schema_ok == want, f"schema says {schema_ok}: {[e.message for e in errors][:3]}"


def test_canonical_output_satisfies_the_schema():
    for cls, doc in ((ImageManifest, IMAGE), (PodManifest, POD), (PodManifest, pod())):
        out = cls.from_json(doc).to_json()
        assert not list(VALIDATORS[cls].iter_errors(out))


def test_schema_and_validator_agree_on_mutated_examples():
    """Every field of both examples replaced by odd JSON (or removed): the two must agree, except
    where a rule is validator-only (here: mounts naming a volume the pod does not define)."""
    from tests.appc.test_manifest import _DELETE, _paths, _replace

    odd = [True, -1, 1.5, "", "x", [1], {"name": 1}, _DELETE]
    compared = 0
    for cls, doc in ((ImageManifest, IMAGE), (PodManifest, POD)):
        for path in _paths(doc):
            for value in odd if path else ():
                mutated = _replace(doc, path, value)
                try:
                    cls.from_json(mutated)
                    validator_ok, rule = True, ""
                except ManifestError as e:
                    validator_ok, rule = False, e.rule
                schema_ok = VALIDATORS[cls].is_valid(mutated)
                if validator_ok != schema_ok:
                    assert (schema_ok, rule.startswith("no volume named")) == (True, True), \
                        (path, value, rule)
                compared += 1
    assert compared > 800
