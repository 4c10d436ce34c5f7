"""Configuration files: rkt's kinds, merged system < local < user, and `rkt config` output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rkt import config
from rkt.errors import RktError
from rkt.options import GlobalOptions


def write(directory: Path, subdir: str, name: str, doc) -> Path:
    path = directory / subdir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def basic(domains, user="user", password="userPassword"):
    return {"rktKind": "auth", "rktVersion": "v1", "domains": domains, "type": "basic",
            "credentials": {"user": user, "password": password}}


def oauth(domains, token):
    return {"rktKind": "auth", "rktVersion": "v1", "domains": domains, "type": "oauth",
            "credentials": {"token": token}}


def docker(registries, user="docker", password="dockerPassword"):
    return {"rktKind": "dockerAuth", "rktVersion": "v1", "registries": registries,
            "credentials": {"user": user, "password": password}}


def paths(**fields):
    return {"rktKind": "paths", "rktVersion": "v1", **fields}


def stage1(**fields):
    return {"rktKind": "stage1", "rktVersion": "v1", **fields}


@pytest.fixture
def dirs(tmp_path):
    opts = GlobalOptions(system_config=tmp_path / "system", local_config=tmp_path / "local",
                         user_config=tmp_path / "user")
    return opts


def stage0(rkt) -> list[dict]:
    return json.loads(rkt("config", "--pretty-print=false").stdout)["stage0"]


# The cases of rkt's tests/rkt_config_test.go, through the real CLI.

def test_one_auth_domain(rkt):
    write(rkt.local_config, "auth.d", "basic.json", basic(["coreos.com"]))
    assert basic(["coreos.com"]) in stage0(rkt)


def test_one_docker_registry(rkt):
    write(rkt.local_config, "auth.d", "docker.json", docker(["quay.io"]))
    assert docker(["quay.io"]) in stage0(rkt)


def test_paths_entry(rkt):
    entry = paths(data="/home/me/rkt/data", **{"stage1-images": "/home/me/rkt/stage1-images"})
    write(rkt.local_config, "paths.d", "paths.json", entry)
    assert entry in stage0(rkt)


def test_paths_overridden_per_field_in_user_dir(rkt):
    write(rkt.system_config, "paths.d", "paths.json",
          paths(data="/usr/lib/rkt/data", **{"stage1-images": "/usr/lib/rkt/stage1-images"}))
    write(rkt.user_config, "paths.d", "paths.json", paths(data="/home/me/rkt/data"))
    assert paths(data="/home/me/rkt/data", **{"stage1-images": "/usr/lib/rkt/stage1-images"}) in stage0(rkt)


def test_stage1_entry_and_location_override(rkt):
    write(rkt.local_config, "stage1.d", "stage1.json",
          stage1(name="example.com/rkt/stage1", version="1.2.3", location="http://example.com/stage1.aci"))
    assert stage1(name="example.com/rkt/stage1", version="1.2.3",
                  location="http://example.com/stage1.aci") in stage0(rkt)
    write(rkt.user_config, "stage1.d", "stage1.json", stage1(location="http://localhost:8080/stage1.aci"))
    assert stage1(name="example.com/rkt/stage1", version="1.2.3",
                  location="http://localhost:8080/stage1.aci") in stage0(rkt)


def test_entries_split_per_domain_and_registry(rkt):
    write(rkt.user_config, "auth.d", "basic.json", basic(["tectonic.com", "coreos.com"]))
    write(rkt.user_config, "auth.d", "docker.json", docker(["quay.io", "gcr.io"]))
    got = stage0(rkt)
    for entry in (basic(["tectonic.com"]), basic(["coreos.com"]), docker(["quay.io"]), docker(["gcr.io"])):
        assert entry in got


def test_user_dir_overrides_one_domain_and_one_registry(rkt):
    write(rkt.system_config, "auth.d", "basic.json", basic(["tectonic.com", "coreos.com"]))
    write(rkt.user_config, "auth.d", "basic.json", oauth(["tectonic.com"], "someToken"))
    write(rkt.system_config, "auth.d", "docker.json", docker(["quay.io", "gcr.io"]))
    write(rkt.user_config, "auth.d", "docker.json", docker(["gcr.io"], "over", "written"))
    got = stage0(rkt)
    for entry in (oauth(["tectonic.com"], "someToken"), basic(["coreos.com"]),
                  docker(["quay.io"]), docker(["gcr.io"], "over", "written")):
        assert entry in got
    assert basic(["tectonic.com"]) not in got


def test_empty_config_and_pretty_print(rkt):
    out = rkt("config").stdout
    assert out.startswith('{\n\t"stage0": [')
    assert json.loads(out) == {"stage0": [
        {"rktVersion": "v1", "rktKind": "paths", "data": "", "stage1-images": ""},
        {"rktVersion": "v1", "rktKind": "stage1", "name": "", "version": "", "location": ""}]}


def test_bad_file_through_cli(rkt):
    bad = write(rkt.local_config, "auth.d", "bad.json", "{not json")
    proc = rkt.fails("config")
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"rkt: config file {bad}: invalid JSON")


# The library API other modules use.

def test_precedence_system_local_user(dirs):
    write(dirs.system_config, "auth.d", "a.json", oauth(["a.com", "b.com", "c.com"], "system"))
    write(dirs.local_config, "auth.d", "a.json", oauth(["b.com", "c.com"], "local"))
    write(dirs.user_config, "auth.d", "a.json", oauth(["c.com"], "user"))
    write(dirs.system_config, "stage1.d", "s.json", stage1(name="example.com/s1", version="1", location="/s1.aci"))
    write(dirs.local_config, "stage1.d", "s.json", stage1(name="example.com/s2", version="2"))
    write(dirs.local_config, "paths.d", "p.json", paths(data="/var/lib/local"))
    cfg = config.load(dirs)
    assert cfg.auth_headers("a.com") == {"Authorization": "Bearer system"}
    assert cfg.auth_headers("b.com") == {"Authorization": "Bearer local"}
    assert cfg.auth_headers("c.com") == {"Authorization": "Bearer user"}
    assert cfg.auth_headers("d.com") == {}
    assert (cfg.stage1.name, cfg.stage1.version, cfg.stage1.location) == ("example.com/s2", "2", "/s1.aci")
    assert cfg.paths.data == "/var/lib/local" and cfg.paths.stage1_images is None


def test_auth_headers_and_docker_credentials(dirs):
    write(dirs.local_config, "auth.d", "basic.json", basic(["coreos.com"], "foo", "bar"))
    write(dirs.local_config, "auth.d", "aws.json", {
        "rktKind": "auth", "rktVersion": "v1", "domains": ["s3.amazonaws.com"], "type": "aws",
        "credentials": {"accessKeyID": "AKID", "secretAccessKey": "secret"}})
    write(dirs.local_config, "auth.d", "docker.json", docker(["quay.io"], "u", "p"))
    cfg = config.load(dirs)
    assert cfg.auth_headers("coreos.com") == {"Authorization": "Basic Zm9vOmJhcg=="}
    assert cfg.auth["s3.amazonaws.com"].type == "aws" and cfg.auth_headers("s3.amazonaws.com") == {}
    assert cfg.docker_credentials("quay.io") == config.BasicCredentials("u", "p")
    assert cfg.docker_credentials("gcr.io") is None


def test_non_json_files_subdirs_and_symlinks_are_skipped(dirs, tmp_path):
    write(dirs.local_config, "auth.d", "README", "not json at all")
    write(dirs.local_config, "auth.d", "sub/x.json", "{broken")
    target = write(tmp_path, "elsewhere", "t.json", oauth(["x.com"], "t"))
    (dirs.local_config / "auth.d" / "link.json").symlink_to(target)
    assert config.load(dirs).auth == {}


@pytest.mark.parametrize("subdir, doc, message", [
    ("auth.d", "{not json", "invalid JSON"),
    ("auth.d", "[]", "expected a JSON object"),
    ("auth.d", {"rktVersion": "v1"}, "no rktKind specified"),
    ("auth.d", {"rktKind": "auth"}, "no rktVersion specified"),
    ("auth.d", paths(data="/x"), "expects configuration files of kinds auth, dockerAuth"),
    ("auth.d", {**basic(["a.com"]), "rktVersion": "v2"}, "no parser available for configuration of kind 'auth' and version 'v2'"),
    ("auth.d", {**basic(["a.com"]), "domains": []}, "no domains specified"),
    ("auth.d", {**basic(["a.com"]), "domains": "a.com"}, "domains: must be a list"),
    ("auth.d", {**basic(["a.com"]), "type": "kerberos"}, "unknown auth type: 'kerberos'"),
    ("auth.d", basic(["a.com"], password=""), "password not specified"),
    ("auth.d", oauth(["a.com"], ""), "no oauth bearer token specified"),
    ("auth.d", {**docker(["quay.io"]), "registries": None}, "no registries specified"),
    ("paths.d", paths(data="relative/dir"), "data directory must be an absolute path"),
    ("paths.d", paths(data=7), "data: must be a string"),
    ("stage1.d", stage1(name="example.com/s1"), "name specified, but version is missing"),
    ("stage1.d", stage1(version="1"), "version specified, but name is missing"),
    ("stage1.d", stage1(location="stage1.aci"), "relative path or a URL without scheme"),
    ("stage1.d", stage1(location="ftp://x/stage1.aci"), "invalid scheme 'ftp'"),
])
def test_invalid_file_is_named(dirs, subdir, doc, message):
    path = write(dirs.local_config, subdir, "bad.json", doc)
    with pytest.raises(RktError) as err:
        config.load(dirs)
    assert str(err.value).startswith(f"config file {path}: ")
    assert message in str(err.value)


@pytest.mark.parametrize("subdir, first, second, message", [
    ("auth.d", basic(["a.com"]), oauth(["a.com"], "t"), "auth for domain 'a.com' is already specified"),
    ("auth.d", docker(["quay.io"]), docker(["quay.io"]), "docker registry 'quay.io' are already specified"),
    ("paths.d", paths(data="/a"), paths(data="/b"), "data directory is already specified"),
    ("stage1.d", stage1(location="/a.aci"), stage1(location="/b.aci"), "location of a default stage1"),
])
def test_same_setting_twice_in_one_dir(dirs, subdir, first, second, message):
    write(dirs.system_config, subdir, "1.json", first)
    write(dirs.system_config, subdir, "2.json", second)
    with pytest.raises(RktError, match=message):
        config.load(dirs)


def test_config_dir_that_is_a_file(dirs):
    dirs.local_config.parent.mkdir(parents=True, exist_ok=True)
    dirs.local_config.write_text("")
    with pytest.raises(RktError, match="expected a directory"):
        config.load(dirs)
