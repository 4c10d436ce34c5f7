"""Observing pods: `rkt status` lines, `rkt list` rows, and rkt's JSON view of a pod (api/v1).

Everything here only reads the pod directory: the state comes from `rkt.pod.pods` (directory +
lock probe), times from the files stage0 and stage1 leave (`pod-created`, `pid`), exit codes from
`stage1/rootfs/rkt/status/<app>`, networks from `net-info.json` when the pod has one.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from typing import TYPE_CHECKING, Any

from rkt.errors import RktError
from rkt.pod import pods as podlib

if TYPE_CHECKING:
    from rkt.options import GlobalOptions
    from rkt.pod.pods import Pod

# states in which a pod will never run (again): what `status --wait` waits for
FINISHED_STATES = (podlib.EXITED, podlib.EXITED_GARBAGE, podlib.EXITED_DELETING,
                   podlib.ABORTED_PREPARE, podlib.GARBAGE, podlib.DELETING, "gone")
# rkt's IncludeMostDirs: what `rkt list` shows
LISTED_DIRS = ("prepare", "prepared", "run", "exited-garbage")
POLL = 0.05


# --- time formatting ----------------------------------------------------------------------------
def format_time(when: datetime.datetime | None) -> str:
    """rkt's defaultTimeLayout `2006-01-02 15:04:05.999 -0700 MST`, in local time."""
    if when is None:
        return ""
    local = when.astimezone()
    millis = local.microsecond // 1000
    frac = f".{millis:03d}".rstrip("0").rstrip(".") if millis else ""
    zone = local.strftime("%Z") or local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S") + frac + local.strftime(" %z ") + zone


def humanize_time(when: datetime.datetime | None, now: datetime.datetime | None = None) -> str:
    """go-humanize's relative time (`3 minutes ago`), as `rkt list` prints without --full."""
    if when is None:
        return ""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    delta = (now - when).total_seconds()
    suffix = "ago"
    if delta < 0:
        delta, suffix = -delta, "from now"
    minute, hour, day = 60, 3600, 86400
    week, month, year = 7 * day, 30 * day, 365 * day
    steps = [(1, None, "now"), (2, 1, "1 second"), (minute, 1, "%d seconds"),
             (2 * minute, 1, "1 minute"), (hour, minute, "%d minutes"), (2 * hour, 1, "1 hour"),
             (day, hour, "%d hours"), (2 * day, 1, "1 day"), (week, day, "%d days"),
             (2 * week, 1, "1 week"), (month, week, "%d weeks"), (2 * month, 1, "1 month"),
             (year, month, "%d months"), (18 * month, 1, "1 year"), (2 * year, 1, "2 years"),
             (37 * year, year, "%d years")]
    for limit, unit, text in steps:
        if delta < limit:
            if unit is None:
                return text
            return (text % (delta // unit) if "%d" in text else text) + " " + suffix
    return "a long while " + suffix


# --- pieces of a pod ----------------------------------------------------------------------------
def networks(pod: "Pod") -> list[dict]:
    """The networks stage1 recorded in `net-info.json` (rkt's netinfo), [] for host/none."""
    try:
        data = json.loads((pod.path / "net-info.json").read_bytes())
    except (OSError, ValueError):
        return []
    return [n for n in data if isinstance(n, dict)] if isinstance(data, list) else []


def format_networks(nets: list[dict]) -> str:
    return ", ".join(f"{n.get('netName', '')}:ip4={n.get('ip', '')}" for n in nets)


def manifest_json(pod: "Pod") -> dict | None:
    """The pod manifest as plain JSON, or None before stage0 wrote it; RktError if unreadable."""
    try:
        with open(f"{pod.path}/pod", "rb") as f:  # a str path: `rkt list` reads one per pod
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise RktError(f"pod {pod.uuid}: cannot read pod manifest: {err.strerror}") from None
    try:
        manifest = json.loads(data)
    except ValueError:
        raise RktError(f"pod {pod.uuid}: pod manifest is not valid JSON") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("apps", []), list):
        raise RktError(f"pod {pod.uuid}: pod manifest is not a PodManifest")
    return manifest


def app_entries(manifest: dict | None) -> list[dict]:
    apps = (manifest or {}).get("apps") or []
    return [a for a in apps if isinstance(a, dict) and isinstance(a.get("name"), str)]


def app_image_name(pod: "Pod", app_name: str) -> str:
    """`name[:version]` from the app's image manifest copied into the pod (`appsinfo/<app>`),
    so it is still known after `rkt image rm`."""
    if "/" in app_name or app_name in ("", ".", ".."):
        raise RktError(f"pod {pod.uuid}: invalid app name {app_name!r}")
    try:
        with open(f"{pod.path}/appsinfo/{app_name}/manifest", "rb") as f:
            manifest = json.loads(f.read())
    except (OSError, ValueError) as err:
        raise RktError(f"pod {pod.uuid}: no image manifest for app {app_name!r}") from err
    name = manifest.get("name") if isinstance(manifest, dict) else None
    if not isinstance(name, str):
        raise RktError(f"pod {pod.uuid}: invalid image manifest for app {app_name!r}")
    for label in manifest.get("labels") or []:
        if isinstance(label, dict) and label.get("name") == "version":
            return f"{name}:{label.get('value')}"
    return name


def wait_pid(pod: "Pod", timeout: float = 1.0) -> int | None:
    """The pod's pid; a running pod may not have written it yet, so give it `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        pid = pod.pid()
        if pid is not None or not pod.is_running or time.monotonic() >= deadline:
            return pid
        time.sleep(POLL)
        pod.refresh()


# --- rkt status ---------------------------------------------------------------------------------
def status_lines(pod: "Pod") -> list[str]:
    """rkt status's `key=value` lines for the pod's current state."""
    state = pod.state
    lines = [f"state={state}", f"created={format_time(pod.created)}"]
    started = pod.started
    if started is not None:
        lines.append(f"started={format_time(started)}")
    if state == podlib.RUNNING:
        lines.append(f"networks={format_networks(networks(pod))}")
    if state in (podlib.RUNNING, podlib.DELETING, podlib.EXITED_DELETING, podlib.EXITED,
                 podlib.EXITED_GARBAGE):
        pid = wait_pid(pod)
        if pid is None and pod.is_running:
            raise RktError(f"unable to get PID for pod {pod.uuid}")
        lines.append(f"pid={pid if pid is not None else -1}")
        lines.append(f"exited={'true' if state in (podlib.EXITED, podlib.EXITED_GARBAGE) else 'false'}")
        if state != podlib.RUNNING:
            codes = pod.app_exit_codes()
            names = [a["name"] for a in app_entries(manifest_json(pod))]
            for name in names + sorted(set(codes) - set(names)):
                if name in codes:
                    lines.append(f"app-{name}={codes[name]}")
    return lines


def _unix(when: datetime.datetime | None, nanos: bool = False) -> int | None:
    if when is None:
        return None
    return int(when.timestamp() * 1_000_000_000) if nanos else int(when.timestamp())


def _app_state(pod_state: str) -> str:
    if pod_state == podlib.PREPARED:
        return "created"
    if pod_state == podlib.RUNNING:
        return "running"
    if pod_state in (podlib.DELETING, podlib.EXITED_DELETING, podlib.EXITED,
                     podlib.EXITED_GARBAGE, podlib.GARBAGE):
        return "exited"
    return "unknown"


def _app_info(pod: "Pod", manifest: dict, app: dict, codes: dict[str, int]) -> dict:
    name = app["name"]
    info: dict[str, Any] = {"name": name, "state": _app_state(pod.state)}
    for key, when in (("created_at", pod.created), ("started_at", pod.started),
                      ("finished_at", pod.gc_marked)):
        if when is not None:
            info[key] = _unix(when, nanos=True)
    if name in codes:
        info["state"] = "exited"
        info["exit_code"] = codes[name]
    # keep the key order of rkt's v1.App
    ordered = {k: info[k] for k in ("name", "state", "created_at", "started_at", "finished_at",
                                    "exit_code") if k in info}
    image = app.get("image") if isinstance(app.get("image"), dict) else {}
    ordered["image_id"] = image.get("id", "")
    volumes = {v.get("name"): v for v in manifest.get("volumes") or [] if isinstance(v, dict)}
    mounts = []
    for mount in app.get("mounts") or []:
        if not isinstance(mount, dict):
            continue
        volume = mount.get("appVolume") or volumes.get(mount.get("volume")) or {}
        mounts.append({"name": mount.get("volume", ""), "container_path": mount.get("path", ""),
                       "host_path": volume.get("source", ""),
                       "read_only": bool(volume.get("readOnly", False))})
    if mounts:
        ordered["mounts"] = mounts
    runtime_app = app.get("app") if isinstance(app.get("app"), dict) else {}
    for key, field in (("user_annotations", "userAnnotations"), ("user_labels", "userLabels")):
        if runtime_app.get(field):
            ordered[key] = runtime_app[field]
    return ordered


def pod_info(pod: "Pod") -> dict:
    """rkt's api/v1 Pod: the JSON of `rkt status --format=json` and `rkt list --format=json`."""
    info: dict[str, Any] = {"name": pod.uuid, "state": pod.state}
    nets = networks(pod) if pod.is_running else []
    if nets:
        info["networks"] = nets
    manifest = manifest_json(pod)
    apps = app_entries(manifest)
    if apps:
        codes = pod.app_exit_codes()
        info["app_names"] = [a["name"] for a in apps]
        info["apps"] = [_app_info(pod, manifest, a, codes) for a in apps]
    for key, when in (("created_at", pod.created), ("started_at", pod.started)):
        if when is not None:
            info[key] = _unix(when)
    for key, field in (("user_annotations", "userAnnotations"), ("user_labels", "userLabels")):
        if manifest and isinstance(manifest.get(field), dict) and manifest[field]:
            info[key] = manifest[field]
    return info


def dump_json(value: Any, pretty: bool) -> str:
    if pretty:
        return json.dumps(value, indent="\t", ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- waiting ------------------------------------------------------------------------------------
def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None or timeout < 0 else time.monotonic() + timeout


def wait_finished(pod: "Pod", timeout: float | None) -> None:
    """Block until the pod has run and finished (or never will); timeout None/<0 = forever."""
    deadline = _deadline(timeout)
    while pod.refresh().state not in FINISHED_STATES:
        if deadline is not None and time.monotonic() >= deadline:
            raise RktError(f"timed out waiting for pod {pod.uuid} to finish")
        time.sleep(POLL)


def is_ready(pod: "Pod") -> bool:
    """rkt: the supervisor's `rkt/supervisor-status -> ready` (ours links it to `starting` first);
    a stage1 that does not write it is ready once it runs and has written its pid."""
    if not pod.is_running:
        return False
    marker = pod.stage1_rootfs / "rkt" / "supervisor-status"
    try:
        return os.readlink(marker) == "ready"
    except FileNotFoundError:
        return pod.pid() is not None
    except OSError:
        return False


def wait_ready(pod: "Pod", timeout: float | None) -> None:
    deadline = _deadline(timeout)
    while not is_ready(pod.refresh()):
        if pod.state in FINISHED_STATES:
            raise RktError(f"pod {pod.uuid} finished before it was ready (state {pod.state})")
        if deadline is not None and time.monotonic() >= deadline:
            raise RktError(f"timed out waiting for pod {pod.uuid} to be ready")
        time.sleep(POLL)


# --- rkt list -----------------------------------------------------------------------------------
def listed_pods(opts: "GlobalOptions") -> list["Pod"]:
    return podlib.all_pods(opts, LISTED_DIRS)


def list_rows(opts: "GlobalOptions", full: bool) -> tuple[list[list[str]], list[str]]:
    """`rkt list` table rows (one per app; pod columns only on its first row) and the problems
    met on the way, reported after the table as rkt does."""
    rows: list[list[str]] = []
    problems: list[str] = []
    now = datetime.datetime.now(datetime.timezone.utc)
    for pod in listed_pods(opts):
        when = (format_time if full else (lambda t: humanize_time(t, now)))
        try:
            apps = app_entries(manifest_json(pod))
        except RktError as err:
            problems.append(str(err))
            continue
        uuid = pod.uuid if full else pod.uuid[:8]
        pod_cols = [pod.state, when(pod.created), when(pod.started),
                    format_networks(networks(pod)) if pod.is_running else ""]
        if not apps:
            rows.append([uuid, "-", "-"] + (["-"] if full else []) + pod_cols)
            continue
        for app in apps:
            try:
                image_name = app_image_name(pod, app["name"])
            except RktError as err:
                problems.append(str(err))
                image_name = "--"
            image = app.get("image") if isinstance(app.get("image"), dict) else {}
            image_id = str(image.get("id", ""))[:19]
            rows.append([uuid, app["name"], image_name] + ([image_id] if full else []) + pod_cols)
            uuid, pod_cols = "", ["", "", "", ""]
    return rows, problems


def list_headers(full: bool) -> list[str]:
    return (["UUID", "APP", "IMAGE NAME"] + (["IMAGE ID"] if full else [])
            + ["STATE", "CREATED", "STARTED", "NETWORKS"])


def list_json(opts: "GlobalOptions") -> tuple[list[dict], list[str]]:
    infos, problems = [], []
    for pod in listed_pods(opts):
        try:
            infos.append(pod_info(pod))
        except RktError as err:
            problems.append(str(err))
    return infos, problems
