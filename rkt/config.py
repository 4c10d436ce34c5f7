"""rkt's configuration files: `*.json` files of a `rktKind` and `rktVersion` in config subdirs.

Kinds, as in rkt: `auth` and `dockerAuth` (in `auth.d`: HTTP credentials per host, Docker
registry credentials), `paths` (`paths.d`: data and stage1-images dirs), `stage1` (`stage1.d`:
the default stage1 image). Each config dir (system < local < user) is read on its own, where a
setting given twice is an error; then the dirs are merged, later ones overriding per host,
per registry, per path and per stage1 field, exactly as rkt's `mergeConfigs`.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

from rkt.errors import RktError
from rkt.options import GlobalOptions

# subdirectory -> the kinds it may hold
SUBDIRS = {"auth.d": ("auth", "dockerAuth"), "paths.d": ("paths",), "stage1.d": ("stage1",)}
MAX_CONFIG_FILE_SIZE = 1 << 20
STAGE1_LOCATION_SCHEMES = ("docker", "file", "http", "https")


def basic_authorization(user: str, password: str) -> str:
    """The `Authorization` value of HTTP Basic auth (auth.d `basic`, docker registries)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclasses.dataclass(frozen=True)
class Auth:
    """Credentials for one host: type `basic` (user, password), `oauth` (token) or `aws`."""

    type: str
    credentials: tuple[tuple[str, str], ...]

    def get(self, field: str) -> str:
        return dict(self.credentials).get(field, "")

    def headers(self) -> dict[str, str]:
        """Headers to send; `aws` requests are signed per request, so they have none."""
        if self.type == "basic":
            return {"Authorization": basic_authorization(self.get("user"), self.get("password"))}
        if self.type == "oauth":
            return {"Authorization": f"Bearer {self.get('token')}"}
        return {}


@dataclasses.dataclass(frozen=True)
class BasicCredentials:
    user: str
    password: str


@dataclasses.dataclass(frozen=True)
class Paths:
    data: str | None = None
    stage1_images: str | None = None


@dataclasses.dataclass(frozen=True)
class Stage1:
    name: str | None = None
    version: str | None = None
    location: str | None = None


@dataclasses.dataclass(frozen=True)
class Config:
    auth: dict[str, Auth] = dataclasses.field(default_factory=dict)
    docker_auth: dict[str, BasicCredentials] = dataclasses.field(default_factory=dict)
    paths: Paths = Paths()
    stage1: Stage1 = Stage1()

    def auth_headers(self, host: str) -> dict[str, str]:
        """HTTP headers carrying the credentials configured for `host` (empty if none)."""
        auth = self.auth.get(host)
        return auth.headers() if auth else {}

    def docker_credentials(self, registry: str) -> BasicCredentials | None:
        return self.docker_auth.get(registry)

    def merged(self, over: "Config") -> "Config":
        """This config overridden by `over`, a higher-precedence directory's config."""
        stage1 = self.stage1
        if over.stage1.name:
            stage1 = dataclasses.replace(stage1, name=over.stage1.name, version=over.stage1.version)
        if over.stage1.location:
            stage1 = dataclasses.replace(stage1, location=over.stage1.location)
        return Config(
            auth={**self.auth, **over.auth},
            docker_auth={**self.docker_auth, **over.docker_auth},
            paths=Paths(data=over.paths.data or self.paths.data,
                        stage1_images=over.paths.stage1_images or self.paths.stage1_images),
            stage1=stage1)

    def to_json(self) -> dict:
        """What `rkt config` prints: one valid config entry per host, registry, and kind."""
        stage0: list[dict] = []
        for host in sorted(self.auth):
            auth = self.auth[host]
            stage0.append({"rktVersion": "v1", "rktKind": "auth", "domains": [host],
                           "type": auth.type, "credentials": dict(auth.credentials)})
        for registry in sorted(self.docker_auth):
            creds = self.docker_auth[registry]
            stage0.append({"rktVersion": "v1", "rktKind": "dockerAuth", "registries": [registry],
                           "credentials": {"user": creds.user, "password": creds.password}})
        stage0.append({"rktVersion": "v1", "rktKind": "paths", "data": self.paths.data or "",
                       "stage1-images": self.paths.stage1_images or ""})
        stage0.append({"rktVersion": "v1", "rktKind": "stage1", "name": self.stage1.name or "",
                       "version": self.stage1.version or "", "location": self.stage1.location or ""})
        return {"stage0": stage0}


def load(opts: GlobalOptions) -> Config:
    """The merged configuration of the system, local and (if given) user config dirs."""
    config = Config()
    for directory in opts.config_dirs:
        config = config.merged(load_dir(Path(directory)))
    return config


class _DirConfig:
    """The settings of one config dir while its files are read; a repeated setting is an error."""

    def __init__(self):
        self.auth: dict[str, Auth] = {}
        self.docker_auth: dict[str, BasicCredentials] = {}
        self.paths: dict[str, str] = {}
        self.stage1: dict[str, str] = {}

    def freeze(self) -> Config:
        return Config(self.auth, self.docker_auth,
                      Paths(self.paths.get("data"), self.paths.get("stage1-images")),
                      Stage1(self.stage1.get("name"), self.stage1.get("version"),
                             self.stage1.get("location")))


def load_dir(directory: Path) -> Config:
    """The configuration of one directory (missing directory: empty configuration)."""
    config = _DirConfig()
    if not _is_dir(directory):
        return config.freeze()
    for subdir, kinds in SUBDIRS.items():
        sub = directory / subdir
        if not _is_dir(sub):
            continue
        try:
            names = sorted(os.listdir(sub))
        except OSError as err:
            raise RktError(f"config dir {sub}: {err.strerror}") from None
        for name in names:
            path = sub / name
            # As rkt: only regular *.json files directly inside; symlinks and subdirs are skipped.
            if not name.endswith(".json") or not stat.S_ISREG(os.lstat(path).st_mode):
                continue
            try:
                _parse_file(config, path, kinds)
            except _Invalid as err:
                raise RktError(f"config file {path}: {err}") from None
    return config.freeze()


def _is_dir(path: Path) -> bool:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    except OSError as err:
        raise RktError(f"config dir {path}: {err.strerror}") from None
    if not stat.S_ISDIR(mode):
        raise RktError(f"config dir {path}: expected a directory")
    return True


class _Invalid(Exception):
    pass


def _parse_file(config: _DirConfig, path: Path, kinds: tuple[str, ...]) -> None:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_FILE_SIZE + 1)
    except OSError as err:
        raise _Invalid(err.strerror) from None
    if len(raw) > MAX_CONFIG_FILE_SIZE:
        raise _Invalid(f"larger than {MAX_CONFIG_FILE_SIZE} bytes")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise _Invalid(f"invalid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise _Invalid("expected a JSON object")
    kind = _string(doc, "rktKind")
    version = _string(doc, "rktVersion")
    _present((kind, "no rktKind specified"), (version, "no rktVersion specified"))
    if kind not in kinds:
        raise _Invalid(f"the configuration directory {str(path.parent)!r} expects configuration "
                       f"files of kinds {', '.join(kinds)}, but this file has kind {kind!r}")
    if version != "v1":
        raise _Invalid(f"no parser available for configuration of kind {kind!r} and version {version!r}")
    _PARSERS[kind](config, doc)


def _string(doc: dict, field: str) -> str:
    value = doc.get(field)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _Invalid(f"{field}: must be a string")
    return value


def _present(*checks: tuple[str, str]) -> None:
    """(value, message) pairs: the message of the first empty value is the error. Fields are
    read (and type-checked) before any is required, so a wrong type is reported first."""
    for value, message in checks:
        if not value:
            raise _Invalid(message)


def _string_list(doc: dict, field: str, what: str) -> list[str]:
    value = doc.get(field)
    if value is None or value == []:
        raise _Invalid(f"no {what} specified")
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Invalid(f"{field}: must be a list of non-empty strings")
    return value


def _object(doc: dict, field: str) -> dict:
    value = doc.get(field)
    if value is None:
        raise _Invalid(f"no {field} specified")
    if not isinstance(value, dict):
        raise _Invalid(f"{field}: must be a JSON object")
    return value


def _basic(doc: dict) -> BasicCredentials:
    creds = _object(doc, "credentials")
    user, password = _string(creds, "user"), _string(creds, "password")
    _present((user, "user not specified"), (password, "password not specified"))
    return BasicCredentials(user, password)


def _parse_auth(config: _DirConfig, doc: dict) -> None:
    domains = _string_list(doc, "domains", "domains")
    kind = _string(doc, "type")
    _present((kind, "no auth type specified"))
    if kind == "basic":
        basic = _basic(doc)
        creds = (("user", basic.user), ("password", basic.password))
    elif kind == "oauth":
        token = _string(_object(doc, "credentials"), "token")
        _present((token, "no oauth bearer token specified"))
        creds = (("token", token),)
    elif kind == "aws":
        raw = _object(doc, "credentials")
        key_id, secret = _string(raw, "accessKeyID"), _string(raw, "secretAccessKey")
        _present((key_id, "no AWS Access Key ID specified"),
                 (secret, "no AWS Secret Access Key specified"))
        creds = (("accessKeyID", key_id), ("secretAccessKey", secret))
        if region := _string(raw, "awsRegion"):
            creds += (("awsRegion", region),)
    else:
        raise _Invalid(f"unknown auth type: {kind!r} (known: basic, oauth, aws)")
    for domain in domains:
        if domain in config.auth:
            raise _Invalid(f"auth for domain {domain!r} is already specified")
        config.auth[domain] = Auth(kind, creds)


def _parse_docker_auth(config: _DirConfig, doc: dict) -> None:
    registries = _string_list(doc, "registries", "registries")
    creds = _basic(doc)
    for registry in registries:
        if registry in config.docker_auth:
            raise _Invalid(f"credentials for docker registry {registry!r} are already specified")
        config.docker_auth[registry] = creds


def _parse_paths(config: _DirConfig, doc: dict) -> None:
    for field, what in (("data", "data directory"), ("stage1-images", "stage1 images directory")):
        value = _string(doc, field)
        if not value:
            continue
        if field in config.paths:
            raise _Invalid(f"{what} is already specified")
        if not os.path.isabs(value):
            raise _Invalid(f"{what} must be an absolute path")
        config.paths[field] = value


def _parse_stage1(config: _DirConfig, doc: dict) -> None:
    name, version, location = _string(doc, "name"), _string(doc, "version"), _string(doc, "location")
    if version and not name:
        raise _Invalid("invalid stage1 configuration: default stage1 image version specified, "
                       "but name is missing")
    if name and not version:
        raise _Invalid("invalid stage1 configuration: default stage1 image name specified, "
                       "but version is missing")
    if location and not os.path.isabs(location):
        from urllib.parse import urlsplit

        scheme = urlsplit(location).scheme
        if not scheme:
            raise _Invalid("invalid stage1 configuration: default stage1 image location is "
                           "either a relative path or a URL without scheme")
        if scheme not in STAGE1_LOCATION_SCHEMES:
            raise _Invalid(f"invalid stage1 configuration: default stage1 image location URL has "
                           f"invalid scheme {scheme!r}, allowed schemes are "
                           + ", ".join(STAGE1_LOCATION_SCHEMES))
    if name:
        if "name" in config.stage1:
            raise _Invalid("name and version of a default stage1 image are already specified")
        config.stage1.update(name=name, version=version)
    if location:
        if "location" in config.stage1:
            raise _Invalid("location of a default stage1 image is already specified")
        config.stage1["location"] = location


_PARSERS: dict[str, Any] = {"auth": _parse_auth, "dockerAuth": _parse_docker_auth,
                            "paths": _parse_paths, "stage1": _parse_stage1}
