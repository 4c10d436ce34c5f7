"""What a pod should be: the plain data `rkt run` and `rkt prepare` hand to the pod library.

The command line (or any other front end) builds one `PodSpec` — its apps as `AppSpec`s, and
the pod-level choices: volumes, ports, networking, DNS, stage1, storage — and the library
(`rkt.pod.run`, `rkt.pod.manifest`, `rkt.pod.stage1`) consumes only that, so the library knows
nothing of flags. The environment-file format (`NAME=VALUE` lines) and the merging of pod-wide
and per-app mounts live here too: they define what the spec's fields mean.
"""

from __future__ import annotations

from pathlib import Path

from rkt.errors import ManifestError, RktError
from rkt.record import Record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Any

    from rkt.appc.pod import Volume

PULL_POLICIES = ("new", "update", "never")
IPC_MODES = ("auto", "private", "parent")
STAGE1_KINDS = ("path", "url", "name", "hash", "from-dir")

Pair = tuple[str, str]


class AppSpec(Record):
    """One app of the pod: its image and what overrides the image's app section."""

    image: str  # as the user named it: file, name[:version], ID, URL
    exec: str | None = None  # replaces the image's whole exec command
    args: tuple[str, ...] | None = None  # appended to exec; None: none given
    name: str | None = None  # None: from the image name
    mounts: tuple[Pair, ...] = ()  # (volume, target path), pod-wide ones merged in
    user: str | None = None
    group: str | None = None
    supplementary_gids: tuple[int, ...] | None = None
    working_dir: str | None = None
    readonly_rootfs: bool | None = None
    environment: tuple[Pair, ...] = ()  # the per-app environment; wins over the pod's
    # (isolator name, appc JSON value); they replace the image's isolators of the same kind
    isolators: tuple[tuple[str, Any], ...] = ()
    signature: str | None = None  # a local signature file for the image
    annotations: tuple[Pair, ...] = ()  # of the runtime app in the pod manifest
    user_annotations: tuple[Pair, ...] = ()
    user_labels: tuple[Pair, ...] = ()


class Stage1Ref(Record):
    """An explicitly chosen stage1 image: a file `path`, a file:// `url`, a store `name`
    (NAME[:VERSION]) or `hash`, or a file name `from-dir` the stage1-images directory."""

    kind: str
    value: str


class PodSpec(Record):
    """A pod to prepare (apps, volumes, ports, environment, stage1, storage) and the settings
    it runs with (network, DNS, hosts, hostname, interactive, IPC, metadata service)."""

    apps: tuple[AppSpec, ...] = ()
    pod_manifest: str | None = None  # a user-written pod manifest file, instead of apps
    volumes: tuple["Volume", ...] = ()
    ports: tuple[tuple[str, str | None, int], ...] = ()  # (port name, host IP, host port)
    # environment for every app, lowest to highest precedence: the caller's (inherit_env),
    # the env files in order, then set_env; an app's own `environment` wins over all
    inherit_env: bool = False
    set_env_files: tuple[str, ...] = ()
    set_env: tuple[Pair, ...] = ()
    stage1: Stage1Ref | None = None  # None: the configured default
    pull_policy: str = "new"
    no_overlay: bool = False
    private_users: bool = False  # user namespace with a random UID/GID shift (needs no_overlay)
    uuid_file_save: str | None = None
    # how it runs
    net: tuple[str, ...] | None = None  # None: the default network
    dns: tuple[str, ...] = ()  # name servers, or ("host",) / ("none",)
    dns_search: tuple[str, ...] = ()
    dns_opt: tuple[str, ...] = ()
    dns_domain: str | None = None
    hosts_entries: tuple[Pair, ...] = ()  # (IP, hostname), or (("host", ""),)
    hostname: str | None = None
    interactive: bool = False
    mds_register: bool = False
    ipc: str | None = None

    @property
    def dns_host_or_none(self) -> bool:
        """`--dns=host` / `--dns=none`: resolv.conf from the host, or none at all."""
        return bool(self.dns) and self.dns[0] in ("host", "none")


def merge_mounts(pod_mounts: tuple[Pair, ...] | list[Pair],
                 app_mounts: tuple[Pair, ...] | list[Pair]) -> tuple[Pair, ...]:
    """rkt's MergeMounts: an app's own mount wins over a pod-wide one at the same path."""
    app_paths = {path for _, path in app_mounts}
    return tuple([(v, p) for v, p in pod_mounts if p not in app_paths] + list(app_mounts))


def parse_env_pair(text: str) -> Pair:
    """`NAME=VALUE` with an appc environment name; ValueError saying what is wrong."""
    from rkt.appc.types import environment_name

    key, eq, value = text.partition("=")
    if not eq or not key:
        raise ValueError(f"{text!r} is not in the form NAME=VALUE")
    try:
        environment_name(key)
    except ManifestError:
        raise ValueError(f"invalid environment variable name {key!r}") from None
    return key, value


def read_env_file(path: str) -> list[Pair]:
    """An environment file: NAME=VALUE lines; blank lines and `#` comments are skipped."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not text"
        raise RktError(f"--set-env-file {path}: {reason}") from None
    pairs = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            pairs.append(parse_env_pair(line))
        except ValueError as err:
            raise RktError(f"--set-env-file {path}:{lineno}: {err}") from None
    return pairs
