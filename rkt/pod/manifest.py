"""The pod manifest stage0 writes for a pod (rkt's stage0 `generatePodManifest`).

Each app names its image by ID and carries the image's app object reified with the command-line
overrides (exec and args, user and group, working directory, supplementary GIDs, isolators,
read-only rootfs, annotations), so stage1 needs nothing but this file. Every image mountPoint
gets a mount: a `--mount` at its path, or the pod volume of the mountPoint's name, or — when no
`--volume` provides one — an implicit empty volume `<app>-<mountPoint>` added to the pod, as
rkt's stage1 did at run time.

Environment precedence, lowest to highest (later sources override earlier ones):
  1. the image's `app.environment`;
  2. `--inherit-env`: the caller's environment, filling only variables still unset;
  3. `--set-env-file` files, in order;
  4. `--set-env`, in order;
  5. the per-app `--environment`, which wins, as rkt's documentation promises.
(rkt's code applied `--environment` first and let `--set-env` override it; we follow its docs.)
"""

from __future__ import annotations

import os

from rkt import report
from rkt.errors import ManifestError, RktError

TYPE_CHECKING = False  # typing's own constant, without importing typing on `rkt run`
if TYPE_CHECKING:
    from typing import Any

    from rkt.pod.spec import AppSpec, PodSpec

MUTABLE_ANNOTATION = "coreos.com/rkt/stage1/mutable"
CAPS_KINDS = ("os/linux/capabilities-retain-set", "os/linux/capabilities-remove-set")
SECCOMP_KINDS = ("os/linux/seccomp-retain-set", "os/linux/seccomp-remove-set")


def set_env(env: list[dict], name: str, value: str, override: bool = True) -> None:
    for item in env:
        if item["name"] == name:
            if override:
                item["value"] = value
            return
    env.append({"name": name, "value": value})


def _replace_isolators(app: dict, cli: dict[str, Any]) -> None:
    if not cli:
        return
    drop = set(cli)
    for kinds in (CAPS_KINDS, SECCOMP_KINDS):
        if drop & set(kinds):
            drop |= set(kinds)
    kept = [i for i in app.get("isolators") or () if i.get("name") not in drop]
    app["isolators"] = kept + [{"name": name, "value": value} for name, value in cli.items()]


def runtime_app(spec: "AppSpec", image_id: str, image: dict,
                pod_env: list[tuple[str, str, bool]]) -> dict:
    """The pod manifest's entry for one app (rkt's generateRuntimeApp); `pod_env` is the
    environment every app gets, lowest precedence first."""
    from rkt.appc.types import app_name_from_image_name

    name = spec.name or app_name_from_image_name(image["name"])
    app = image.get("app")
    if app is None:
        if not spec.exec:
            raise RktError(f'image "{spec.image}" has no app section and --exec argument is '
                           "not provided")
        app = {"exec": [spec.exec], "user": "0", "group": "0"}
    else:
        app = dict(app)
    # rkt: --exec replaces the whole command, `-- args ---` are appended to it
    exec_ = [spec.exec] if spec.exec else list(app.get("exec") or ())
    if spec.args is not None:
        exec_ += spec.args
    if not exec_:
        raise RktError(f'image "{spec.image}" has no exec command (use --exec)')
    app["exec"] = exec_
    if spec.user is not None:
        app["user"] = spec.user
    if spec.group is not None:
        app["group"] = spec.group
    if spec.working_dir is not None:
        app["workingDirectory"] = spec.working_dir
    if spec.supplementary_gids is not None:
        app["supplementaryGIDs"] = list(spec.supplementary_gids)
    _replace_isolators(app, dict(spec.isolators))
    if spec.user_annotations:
        app["userAnnotations"] = {**(app.get("userAnnotations") or {}), **dict(spec.user_annotations)}
    if spec.user_labels:
        app["userLabels"] = {**(app.get("userLabels") or {}), **dict(spec.user_labels)}

    env = [dict(e) for e in app.get("environment") or ()]
    for key, value, override in pod_env:
        set_env(env, key, value, override)
    for key, value in spec.environment:
        set_env(env, key, value)
    if env:
        app["environment"] = env

    ra: dict[str, Any] = {
        "name": name,
        "image": {"name": image["name"], "id": image_id, "labels": image.get("labels") or []},
        "app": app,
        "mounts": [{"volume": v, "path": p} for v, p in spec.mounts],
    }
    if spec.readonly_rootfs:
        ra["readOnlyRootFS"] = True
    if spec.annotations:
        ra["annotations"] = [{"name": k, "value": v} for k, v in spec.annotations]
    return ra


def fill_mount_points(pod: dict, warn=True) -> None:
    """Give every app mountPoint a mount, adding implicit empty volumes as rkt's stage1 did."""
    volumes = {v["name"] for v in pod.get("volumes") or ()}
    for ra in pod["apps"]:
        app = ra.get("app") or {}
        mounts = ra.setdefault("mounts", [])
        for mp in app.get("mountPoints") or ():
            if any(m["path"] == mp["path"] for m in mounts):
                continue  # a --mount at that path fills it
            volume = mp["name"]
            if volume not in volumes:
                # rkt's stage1 named implicit volumes <app>-<mountPoint>, one per app
                volume = f'{ra["name"]}-{mp["name"]}'
                if warn:
                    report.warn(f'no volume specified for mount point "{mp["name"]}", '
                                'implicitly creating an "empty" volume. This volume will be '
                                "removed when the pod is garbage-collected.")
                if volume not in volumes:
                    pod.setdefault("volumes", []).append(
                        {"name": volume, "kind": "empty", "mode": "0755", "uid": 0, "gid": 0})
                    volumes.add(volume)
            mounts.append({"volume": volume, "path": mp["path"]})
        if not mounts:
            del ra["mounts"]


def _check_ports(pod: dict) -> None:
    declared = {p["name"] for ra in pod["apps"] for p in (ra.get("app") or {}).get("ports") or ()}
    for port in pod.get("ports") or ():
        if port["name"] not in declared:
            raise RktError(f'port name "{port["name"]}" is not defined by any app')


def pod_environment(spec: "PodSpec") -> list[tuple[str, str, bool]]:
    """(name, value, override) for every app, lowest precedence first: the caller's
    variables fill only names still unset, env files and set_env override."""
    from rkt.pod.spec import read_env_file

    env: list[tuple[str, str, bool]] = []
    if spec.inherit_env:
        from rkt.appc.types import is_env_name

        # The caller's environment may hold names no app can be given (bash exports
        # functions as `BASH_FUNC_f%%`): those are skipped, not fatal.
        env += [(k, v, False) for k, v in os.environ.items() if is_env_name(k)]
    env += [(k, v, True) for path in spec.set_env_files for k, v in read_env_file(path)]
    env += [(k, v, True) for k, v in spec.set_env]
    return env


def generate(spec: "PodSpec", images: list[tuple[str, dict]]) -> dict:
    """The pod manifest (JSON) for the spec's apps; `images` holds (image ID, image
    manifest JSON) for each of `spec.apps`, in order."""
    from rkt import APPC_VERSION

    pod_env = pod_environment(spec)
    apps: list[dict] = []
    for app, (image_id, image) in zip(spec.apps, images):
        ra = runtime_app(app, image_id, image, pod_env)
        if any(a["name"] == ra["name"] for a in apps):
            raise RktError(f"error: multiple apps with name {ra['name']} (use --name)")
        apps.append(ra)
    pod: dict[str, Any] = {
        "acVersion": APPC_VERSION,
        "acKind": "PodManifest",
        "apps": apps,
        "volumes": [v.to_json() for v in spec.volumes],
        "isolators": [],
        "annotations": [{"name": MUTABLE_ANNOTATION, "value": "false"}],
        "ports": [{"name": n, "hostPort": port, **({"hostIP": ip} if ip else {})}
                  for n, ip, port in spec.ports],
    }
    fill_mount_points(pod)
    _check_ports(pod)
    return validate(pod) if _has_command_line_values(spec) else pod


# AppSpec and PodSpec fields whose values the command line writes into the pod manifest
_APP_VALUES = ("exec", "args", "name", "mounts", "user", "group", "supplementary_gids",
               "working_dir", "environment", "isolators", "annotations", "user_annotations",
               "user_labels")
_POD_VALUES = ("volumes", "ports", "inherit_env", "set_env_files", "set_env")


def _has_command_line_values(spec: "PodSpec") -> bool:
    """Whether the manifest holds anything but what the stored image manifests gave it (they
    were validated when imported) and our constants. Only then does it need the full
    validation, whose model (rkt.appc.pod) costs more to import than all the rest of
    generating a plain `rkt run IMAGE`'s manifest."""
    return (any(getattr(spec, f) not in (None, (), False) for f in _POD_VALUES)
            or any(getattr(app, f) not in (None, ()) for app in spec.apps for f in _APP_VALUES))


def validate(pod: dict) -> dict:
    """The canonical JSON of a fully validated pod manifest."""
    from rkt.appc.pod import PodManifest

    try:
        return PodManifest.from_json(pod).to_json()
    except ManifestError as err:
        raise RktError(f"invalid pod manifest: {err.message}") from None


def from_file(path: str, store) -> tuple[dict, list[str]]:
    """`--pod-manifest`: the user's manifest, apps completed from their images as stage1 expects;
    also the image IDs, which must be in the store."""
    from rkt.appc.pod import PodManifest

    try:
        data = open(path, "rb").read()
    except OSError as err:
        raise RktError(f"--pod-manifest {path}: {err.strerror}") from None
    try:
        pod = PodManifest.from_json(data).to_json()
    except ManifestError as err:
        raise RktError(f"--pod-manifest {path}: {err.message}") from None
    if not pod["apps"]:
        raise RktError(f"--pod-manifest {path}: pod must contain at least one application")
    ids = []
    for ra in pod["apps"]:
        info = store.resolve(ra["image"]["id"])
        ra["image"]["id"] = info.id
        ids.append(info.id)
        if ra.get("app") is None:
            image = store.manifest(info.id).to_json()
            if image.get("app") is None:
                raise RktError(f'--pod-manifest {path}: app "{ra["name"]}" has no app section '
                               "and neither has its image")
            ra["app"] = image["app"]
    fill_mount_points(pod)
    return validate(pod), ids
