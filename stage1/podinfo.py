"""What stage1 needs from the pod directory: the reified pod manifest and the apps' image manifests.

stage0 writes `pod` (the reified pod manifest, every app by image ID with its app section filled
in) and `appsinfo/<app>/manifest` (each app's image manifest). stage1 reads them here with plain
JSON and a few shape checks, so it depends on the pod-directory contract and nothing else.
"""

from __future__ import annotations

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PodError(Exception):
    """A problem with the pod directory or its manifests; the message is one line."""


def is_ac_name(value) -> bool:
    """appc's AC Name as its Go code checks it: lowercase alphanumerics and `-`, not at either
    edge (`shorthash--21` is one). App and volume names become file names in the pod dir, so
    nothing else may pass."""
    if not isinstance(value, str) or not value or len(value) > 512:
        return False
    return (all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in value)
            and value[0] != "-" and value[-1] != "-")


def valid_uuid(value: str) -> bool:
    """A pod UUID: 32 hex digits, plain or dashed 8-4-4-4-12 (it names cgroups and the hostname)."""
    if not isinstance(value, str):
        return False
    hex_digits = value.replace("-", "")
    dashed = len(value) == 36 and all(value[i] == "-" for i in (8, 13, 18, 23))
    return (len(value) == 32 or dashed) and len(hex_digits) == 32 and \
        all(c in "0123456789abcdefABCDEF" for c in hex_digits)


class Volume:
    __slots__ = ("name", "kind", "source", "read_only", "recursive", "mode", "uid", "gid",
                 "read_only_set")

    def __init__(self, raw: dict, where: str):
        name = raw.get("name")
        kind = raw.get("kind")
        if not is_ac_name(name):
            raise PodError(f"{where}: invalid volume name {name!r}")
        if kind not in ("host", "empty"):
            raise PodError(f"{where}: volume {name!r}: unsupported kind {kind!r}")
        self.name, self.kind = name, kind
        self.source = raw.get("source") or ""
        if kind == "host" and not self.source.startswith("/"):
            raise PodError(f"{where}: volume {name!r}: source must be an absolute path")
        self.read_only = bool(raw.get("readOnly"))
        # an explicit readOnly (true or false) overrides the image mountPoint's, as in rkt
        self.read_only_set = raw.get("readOnly") is not None
        self.recursive = raw.get("recursive") is not False
        mode = raw.get("mode", "0755")
        try:
            self.mode = int(mode, 8) if isinstance(mode, str) else int(mode)
            self.uid = int(raw.get("uid", 0) or 0)
            self.gid = int(raw.get("gid", 0) or 0)
        except (TypeError, ValueError):
            raise PodError(f"{where}: volume {name!r}: bad mode, uid or gid") from None
        if not 0 <= self.mode <= 0o7777:
            raise PodError(f"{where}: volume {name!r}: bad mode {mode!r}")


class Mount:
    """One volume mounted into one app at `path` (a path inside the app's rootfs)."""

    __slots__ = ("volume", "path", "read_only")

    def __init__(self, volume: Volume, path: str, read_only: bool):
        self.volume, self.path, self.read_only = volume, path, read_only


class App:
    __slots__ = ("name", "exec", "user", "group", "supplementary_gids", "working_directory",
                 "environment", "pre_start", "post_stop", "mounts", "isolators", "ports",
                 "notify", "read_only_rootfs")

    def __init__(self, name, app: dict, mounts: list[Mount], notify: bool = False,
                 read_only_rootfs: bool = False):
        where = f"app {name!r}"
        self.name = name
        self.read_only_rootfs = read_only_rootfs  # the runtime app's readOnlyRootFS
        self.exec = app.get("exec") or []
        if not isinstance(self.exec, list) or not self.exec or \
                not all(isinstance(a, str) for a in self.exec):
            raise PodError(f"{where}: no exec")
        self.user = str(app.get("user", ""))
        self.group = str(app.get("group", ""))
        if not self.user or not self.group:
            raise PodError(f"{where}: user and group are required")
        self.supplementary_gids = [int(g) for g in app.get("supplementaryGIDs") or []]
        self.working_directory = app.get("workingDirectory") or "/"
        self.environment = [(e["name"], str(e.get("value", "")))
                            for e in app.get("environment") or []]
        for env_name, env_value in self.environment:
            if not isinstance(env_name, str) or not env_name or any(c in env_name for c in "=\0\n") \
                    or "\0" in env_value:
                raise PodError(f"{where}: invalid environment variable {env_name!r}")
        self.pre_start, self.post_stop = [], []
        for handler in app.get("eventHandlers") or []:
            exec_ = handler.get("exec")
            if not isinstance(exec_, list) or not exec_:
                raise PodError(f"{where}: event handler without exec")
            if handler.get("name") == "pre-start":
                self.pre_start.append(exec_)
            elif handler.get("name") == "post-stop":
                self.post_stop.append(exec_)
        self.isolators = app.get("isolators") or []
        self.mounts = mounts
        self.ports = [p for p in app.get("ports") or [] if isinstance(p, dict)]
        self.notify = notify  # the image speaks sd_notify (stage1.notify)


class Pod:
    __slots__ = ("apps", "volumes", "raw")

    def __init__(self, apps, volumes, raw):
        self.apps, self.volumes, self.raw = apps, volumes, raw


def read_json(path: str, what: str) -> dict:
    """The JSON object in file `path` (`what` names it in errors); PodError otherwise."""
    from stage1.files import parse_json
    try:
        with open(path, "rb") as f:
            data = parse_json(f.read())
    except OSError as err:
        raise PodError(f"cannot read {what}: {err.strerror}") from None
    except ValueError:
        raise PodError(f"{what} is not valid JSON") from None
    if not isinstance(data, dict):
        raise PodError(f"{what} is not a JSON object")
    return data


def load(pod_dir: str = ".") -> Pod:
    """The pod at `pod_dir` (stage1 runs with cwd = the pod dir, so the default is right)."""
    try:
        return _load(pod_dir)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise PodError(f"malformed pod manifest: {type(err).__name__}: {err}") from None


def _load(pod_dir: str) -> Pod:
    from stage1.notify import supports_notify
    raw = read_json(f"{pod_dir}/pod", "pod manifest")
    if raw.get("acKind") != "PodManifest":
        raise PodError("pod manifest: acKind is not PodManifest")
    volumes = {}
    for v in raw.get("volumes") or []:
        vol = Volume(v, "pod manifest")
        volumes[vol.name] = vol
    apps, seen = [], set()
    for entry in raw.get("apps") or []:
        name = entry.get("name")
        if not is_ac_name(name) or name in seen:
            raise PodError(f"pod manifest: bad or duplicate app name {name!r}")
        seen.add(name)
        image = read_json(f"{pod_dir}/appsinfo/{name}/manifest", f"image manifest of app {name!r}")
        app = entry.get("app") or image.get("app")
        if not isinstance(app, dict):
            raise PodError(f"app {name!r}: neither the pod nor the image defines an app")
        mounts = _mounts(name, entry, app, volumes)
        apps.append(App(name, app, mounts, notify=supports_notify(image),
                        read_only_rootfs=entry.get("readOnlyRootFS") is True))
    if not apps:
        raise PodError("pod manifest: no apps")
    return Pod(apps, volumes, raw)


def _mounts(name: str, entry: dict, app: dict, volumes: dict) -> list[Mount]:
    """The app's mounts, as rkt's GenerateMounts: the runtime app's mounts first; then each
    image mountPoint whose path no mount fills, from the pod volume of its name, else from an
    implicit empty volume `<app>-<mountPoint>`. A mount is read-only when the volume says so,
    else when the image's mountPoint of the same name (or path) says so."""
    import posixpath
    mount_points = [mp for mp in app.get("mountPoints") or [] if isinstance(mp, dict)]

    def read_only(vol: Volume, mp_ro: bool) -> bool:
        return vol.read_only if vol.read_only_set else mp_ro

    mounts, filled = [], set()
    for m in entry.get("mounts") or []:
        path = m.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise PodError(f"app {name!r}: mount path {path!r} is not absolute")
        if m.get("appVolume"):
            vol = Volume(m["appVolume"], f"app {name!r}")
        else:
            vol = volumes.get(m.get("volume"))
            if vol is None:
                raise PodError(f"app {name!r}: mount of undefined volume {m.get('volume')!r}")
        filled.add(posixpath.normpath(path))
        mp_ro = any(mp.get("readOnly") for mp in mount_points
                    if mp.get("name") == vol.name or mp.get("path") == path)
        mounts.append(Mount(vol, path, read_only(vol, mp_ro)))
    for mp in mount_points:
        path = mp.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise PodError(f"app {name!r}: mount point path {path!r} is not absolute")
        if posixpath.normpath(path) in filled:
            continue  # a mount at this path fills it, whatever its volume's name
        filled.add(posixpath.normpath(path))
        vol = volumes.get(mp.get("name"))
        if vol is None:
            implicit = f"{name}-{mp.get('name')}"
            vol = volumes.get(implicit) or Volume({"name": implicit, "kind": "empty"},
                                                  f"app {name!r}")
            volumes[implicit] = vol
        mounts.append(Mount(vol, path, read_only(vol, bool(mp.get("readOnly")))))
    return mounts


def app_environment(app: App, mds_url: str | None) -> dict[str, str]:
    """The app's final environment: the reified env plus what appc requires an ACE to set."""
    env = dict(app.environment)
    env.setdefault("PATH", DEFAULT_PATH)
    env["AC_APP_NAME"] = app.name
    if mds_url:
        env["AC_METADATA_URL"] = mds_url
    env["container"] = "rkt"
    return env
