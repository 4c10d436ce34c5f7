"""The stage0 -> stage1 call contract: a pod's stage1 entrypoints and its interface version.

The stage1 image copied into the pod (`stage1/manifest`, `stage1/rootfs/`) names each entrypoint
(`run`, `enter`, `gc`, `stop`) with an annotation `coreos.com/rkt/stage1/<name>` whose value is a
path inside its rootfs, and says with `coreos.com/rkt/stage1/interface-version` which arguments
it understands (absent: version 1). stage0 runs an entrypoint with the pod directory as cwd and
passes `run` only the flags of that version, as rkt's stage0 does (getStage1Entrypoint,
getStage1InterfaceVersion, interfaceVersionSupports*). This one resolver serves every command.
"""

from __future__ import annotations

import re
from pathlib import Path

from rkt import jsonio, report
from rkt.errors import RktError

TYPE_CHECKING = False  # typing's own constant, without importing typing on `rkt run`
if TYPE_CHECKING:
    import subprocess

    from rkt.pod.spec import PodSpec

ANNOTATION_PREFIX = "coreos.com/rkt/stage1/"
INTERFACE_VERSION = ANNOTATION_PREFIX + "interface-version"
DEFAULT_DNS_CONF_MODE = "resolv=default,hosts=default"

# The first interface version that takes each `run` flag (measured against rkt 1.30's stage0:
# it drops an unsupported flag, with a warning for those the user asked for by name).
HOSTNAME_SINCE = 2
INSECURE_OPTIONS_SINCE = 3
DNS_CONF_MODE_SINCE = 4
IPC_SINCE = 6
GC_LOCAL_CONFIG_SINCE = 5

_VERSION = re.compile(r"[+-]?[0-9]{1,9}")  # what Go's strconv.Atoi takes, bounded


def read_manifest(pod_path: Path) -> dict:
    """The stage1 image manifest copied into the pod, as JSON."""
    try:
        manifest = jsonio.loads((pod_path / "stage1" / "manifest").read_bytes())
    except OSError as err:
        raise RktError(f"cannot read stage1 manifest: {err.strerror}") from None
    except ValueError:
        raise RktError("stage1 manifest is not valid JSON") from None
    if not isinstance(manifest, dict):
        raise RktError("stage1 manifest is not a JSON object")
    return manifest


def annotation(manifest: dict, name: str) -> str | None:
    """The value of annotation `name`, the first one as appc's Annotations.Get; None if absent."""
    annotations = manifest.get("annotations")
    for item in annotations if isinstance(annotations, list) else ():
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get("value")
            return value if isinstance(value, str) else None
    return None


def entrypoint_path(manifest: dict, name: str) -> str:
    """Entrypoint `name` as a normalised path relative to the stage1 rootfs. A path with a
    `..` component is refused, not clamped: rkt joined it to the rootfs and could leave it."""
    wanted = ANNOTATION_PREFIX + name
    value = annotation(manifest, wanted)
    if not value:
        raise RktError(f"stage1 has no {name!r} entrypoint (annotation {wanted})")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise RktError(f"stage1 {name!r} entrypoint {value!r} is not a path inside its rootfs")
    return "/".join(parts)


def interface_version(manifest: dict) -> int:
    value = annotation(manifest, INTERFACE_VERSION)
    if value is None:
        return 1
    if not _VERSION.fullmatch(value):
        raise RktError(f"stage1 {INTERFACE_VERSION} {value[:40]!r} is not a number")
    return int(value)


def entrypoint(pod_path: Path, name: str) -> Path:
    """Host path of the pod's stage1 entrypoint `name`; RktError if the stage1 does not declare it."""
    return pod_path / "stage1" / "rootfs" / entrypoint_path(read_manifest(pod_path), name)


def run_args(version: int, spec: "PodSpec", uuid: str, *, debug: bool = False,
             insecure: frozenset[str] = frozenset(), dns_conf_mode: str = DEFAULT_DNS_CONF_MODE,
             mds_token: str | None = None, local_config: str | None = None,
             private_users: str | None = None) -> list[str]:
    """The arguments of the `run` entrypoint for a stage1 of interface `version`, in rkt's
    order; flags the stage1 cannot take are left out with a warning, as rkt does."""
    args = ["--debug"] if debug else []
    args.append("--net=" + ",".join(spec.net or ["default"]))
    if spec.interactive:
        args.append("--interactive")
    if private_users:  # rkt passes it to every stage1 version
        args.append(f"--private-users={private_users}")
    if mds_token:
        args.append(f"--mds-token={mds_token}")
    if local_config:
        args.append(f"--local-config={local_config}")
    if spec.hostname:
        if version >= HOSTNAME_SINCE:
            args.append(f"--hostname={spec.hostname}")
        else:
            report.warn("--hostname option is not supported by stage1")
    if dns_conf_mode != DEFAULT_DNS_CONF_MODE:
        if version >= DNS_CONF_MODE_SINCE:
            args.append(f"--dns-conf-mode={dns_conf_mode}")
        else:
            report.warn("--dns-conf-mode option not supported by stage1")
    if version >= INSECURE_OPTIONS_SINCE:
        args += [flag for option, flag in (("capabilities", "--disable-capabilities-restriction"),
                                           ("paths", "--disable-paths"),
                                           ("seccomp", "--disable-seccomp")) if option in insecure]
    if spec.ipc:
        if version >= IPC_SINCE:
            args.append(f"--ipc={spec.ipc}")
        else:
            report.warn("--ipc option is not supported by stage1")
    args.append(uuid)
    return args


def gc_args(version: int, uuid: str, local_config: str | None = None) -> list[str]:
    """The arguments of the `gc` entrypoint after `--debug`, as rkt's stage0 passes them:
    `--local-config DIR` (two arguments) from interface version 5, then the UUID."""
    if local_config and version >= GC_LOCAL_CONFIG_SINCE:
        return ["--local-config", local_config, uuid]
    return [uuid]


def run(pod_path: Path, name: str, args: list[str], *, debug: bool = False,
        capture: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run entrypoint `name` with `[--debug] args` and cwd = the pod dir; its stderr goes to ours."""
    import subprocess  # not at the top: `rkt run` reads this module but execs, never spawns

    path = entrypoint(pod_path, name)
    argv = [str(path)] + (["--debug"] if debug else []) + list(args)
    try:
        return subprocess.run(argv, cwd=pod_path, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE if capture else None, timeout=timeout,
                              close_fds=True)
    except subprocess.TimeoutExpired:
        raise RktError(f"stage1 {name!r} entrypoint did not finish in {timeout:g}s") from None
    except OSError as err:
        raise RktError(f"cannot run stage1 {name!r} entrypoint {path}: {err.strerror}") from None
