"""Pods on disk: a pod's state is the directory it sits in plus whether its flock is held.

Pods live in `<dir>/pods/<dir_state>/<uuid>/` with dir states `embryo prepare prepared run
exited-garbage garbage`; a transition is an atomic rename(2) done under the pod dir's flock, and
the user-facing state (rkt's names: `preparing` vs `aborted prepare`, `running` vs `exited`, ...)
comes from a non-blocking shared-lock probe, exactly as rkt's pkg/pod (see
Documentation/devel/pod-lifecycle.md). `created` is the mtime of `pod-created` (written when
preparation finishes) and `started` the mtime of the `pid` (or `ppid`) file stage1 writes.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from rkt.errors import RktError
from rkt.fsutil import atomic_write, fsync_dir
from rkt.lock import FileLock, LockBusy

TYPE_CHECKING = False  # typing's own constant, without importing typing on `rkt run`
if TYPE_CHECKING:
    import datetime

    from rkt.appc.pod import PodManifest
    from rkt.options import GlobalOptions

# In lifecycle order: listing and lookup follow it, so a pod caught mid-rename is found in
# the later directory on a second look rather than missed.
DIR_STATES = ("embryo", "prepare", "prepared", "run", "exited-garbage", "garbage")

EMBRYO = "embryo"
PREPARING = "preparing"
ABORTED_PREPARE = "aborted prepare"
PREPARED = "prepared"
RUNNING = "running"
DELETING = "deleting"
EXITED_DELETING = "exited deleting"
EXITED = "exited"
EXITED_GARBAGE = "exited garbage"
GARBAGE = "garbage"

# dir state -> (state when the dir lock is free, state when someone holds it)
_STATES = {
    "embryo": (EMBRYO, EMBRYO),
    "prepare": (ABORTED_PREPARE, PREPARING),
    "prepared": (PREPARED, PREPARED),
    "run": (EXITED, RUNNING),
    "exited-garbage": (EXITED_GARBAGE, EXITED_DELETING),
    "garbage": (GARBAGE, DELETING),
}

POD_CREATED_FILE = "pod-created"


def pods_root(opts: "GlobalOptions") -> Path:
    return Path(opts.dir) / "pods"


def init_dirs(opts: "GlobalOptions") -> Path:
    root = pods_root(opts)
    try:
        for name in DIR_STATES:
            (root / name).mkdir(mode=0o750, parents=True, exist_ok=True)
    except OSError as err:
        raise RktError(f"cannot create pods directory {root}: {err.strerror}") from None
    return root


def _utc(seconds: float) -> datetime.datetime:
    import datetime  # for listings only: not on `rkt run`'s path

    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


def _mtime(path: str | Path) -> datetime.datetime | None:
    try:
        return _utc(os.stat(path).st_mtime)
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


class Pod:
    """One pod as found on disk; `state` is probed when the object is made (call `refresh()`)."""

    def __init__(self, root: Path, uuid: str, dir_state: str):
        self.root = root
        self.uuid = uuid
        self.dir_state = dir_state
        self.state = ""
        self.refresh(locate=False)

    def __repr__(self) -> str:
        return f"Pod({self.uuid}, {self.state})"

    @property
    def path(self) -> Path:
        # cached per dir state: `rkt list` asks for it a dozen times per pod
        cached = self.__dict__.get("_path")
        if cached is None or cached[0] != self.dir_state:
            cached = self.__dict__["_path"] = (self.dir_state, self.root / self.dir_state / self.uuid)
        return cached[1]

    def _probe_locked(self) -> bool:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        try:
            probe = FileLock.from_fd(fd, self.path)
            if probe.shared(blocking=False):
                probe.unlock()
                return False
            return True
        finally:
            os.close(fd)

    def refresh(self, locate: bool = True) -> "Pod":
        """Recompute dir_state and state from the disk; `gone` when the pod vanished."""
        if locate:
            found = _locate(self.root, self.uuid)
            if found is None:
                self.state = "gone"
                return self
            self.dir_state = found
        free, held = _STATES[self.dir_state]
        self.state = free if free == held else (held if self._probe_locked() else free)
        return self

    # --- state helpers -------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self.state == RUNNING

    @property
    def after_run(self) -> bool:
        return self.state in (EXITED, EXITED_GARBAGE, EXITED_DELETING)

    # --- files ---------------------------------------------------------------------------
    def manifest(self) -> "PodManifest":
        from rkt.appc.pod import PodManifest

        data = self.manifest_bytes()
        try:
            return PodManifest.from_json(data)
        except RktError as err:
            raise err.within(f"pod {self.uuid}: invalid pod manifest") from None

    def manifest_bytes(self) -> bytes:
        try:
            return (self.path / "pod").read_bytes()
        except OSError as err:
            raise RktError(f"pod {self.uuid}: cannot read pod manifest: {err.strerror}") from None

    @property
    def created(self) -> datetime.datetime | None:
        if self.state not in (PREPARED, RUNNING) and not self.after_run:
            return None
        return _mtime(f"{self.path}/{POD_CREATED_FILE}") or _mtime(f"{self.path}/pod")

    @property
    def started(self) -> datetime.datetime | None:
        if not (self.is_running or self.after_run):
            return None
        return _mtime(f"{self.path}/pid") or _mtime(f"{self.path}/ppid")

    @property
    def gc_marked(self) -> datetime.datetime | None:
        """When gc marked the pod: the ctime its rename into a garbage dir left behind."""
        if self.dir_state not in ("exited-garbage", "garbage"):
            return None
        try:
            return _utc(os.lstat(self.path).st_ctime)
        except OSError:
            return None

    def pid(self) -> int | None:
        pid = _read_int(self.path / "pid")
        return pid if pid is not None else _read_int(self.path / "ppid")

    @property
    def stage1_rootfs(self) -> Path:
        return self.path / "stage1" / "rootfs"

    def app_exit_codes(self) -> dict[str, int]:
        """Exit codes stage1 recorded in `stage1/rootfs/rkt/status/<app>`, by app name."""
        status_dir = self.stage1_rootfs / "rkt" / "status"
        try:
            names = sorted(os.listdir(status_dir))
        except OSError:
            return {}
        try:
            apps = {str(a.name) for a in self.manifest().apps}
        except Exception:
            apps = None
        codes = {}
        for name in names:
            if apps is not None and name not in apps:
                continue
            code = _read_int(status_dir / name)
            if code is not None:
                codes[name] = code
        return codes

    def app_names(self) -> list[str]:
        return [str(a.name) for a in self.manifest().apps]

    # --- locking and transitions ---------------------------------------------------------
    def lock(self, exclusive: bool = True, blocking: bool = True) -> FileLock:
        """An open FileLock on the pod dir, acquired; LockBusy when non-blocking and held."""
        try:
            lock = FileLock(self.path, create=False)
        except RktError:
            raise RktError(f"pod {self.uuid}: no longer exists") from None
        got = lock.exclusive(blocking) if exclusive else lock.shared(blocking)
        if not got:
            lock.close()
            raise LockBusy(f"pod {self.uuid} is locked by another process")
        return lock

    def rename_to(self, dir_state: str, durable: bool = True) -> None:
        """Atomically move the pod to another state dir; the caller holds the lock when rkt does.
        `durable=False` leaves the target dir's fsync to the caller (one for many moves)."""
        if dir_state not in DIR_STATES:
            raise ValueError(dir_state)
        target_dir = self.root / dir_state
        try:
            os.rename(self.path, target_dir / self.uuid)
        except OSError as err:
            if err.errno == errno.ENOENT:
                raise RktError(f"pod {self.uuid}: no longer in {self.dir_state}") from None
            raise RktError(f"pod {self.uuid}: cannot move to {dir_state}: {err.strerror}") from None
        self.dir_state = dir_state
        if durable:
            fsync_dir(target_dir)
        self.refresh(locate=False)


def _uuid4() -> str:
    """A random (version 4) UUID in canonical form; the uuid module costs more to import
    than `rkt run` spends on everything else of a pod's name."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_pod(opts: "GlobalOptions") -> tuple[Pod, FileLock]:
    """A fresh pod in `prepare/`, its lock held exclusively (rkt's NewPod: embryo, lock, rename)."""
    root = init_dirs(opts)
    pod_uuid = _uuid4()
    embryo = root / "embryo" / pod_uuid
    try:
        embryo.mkdir(mode=0o750)
    except OSError as err:
        raise RktError(f"cannot create pod directory: {err.strerror}") from None
    lock = FileLock(embryo, create=False)
    try:
        lock.exclusive()
        # No fsync: after a crash a pod still being prepared is garbage wherever it lies.
        os.rename(embryo, root / "prepare" / pod_uuid)
    except BaseException:
        lock.close()
        try:
            os.rmdir(embryo)
        except OSError:
            pass
        raise
    pod = Pod.__new__(Pod)
    pod.root, pod.uuid, pod.dir_state, pod.state = root, pod_uuid, "prepare", PREPARING
    lock.path = pod.path
    return pod, lock


def _locate(root: Path, pod_uuid: str) -> str | None:
    """The state dir holding the pod, looked for in lifecycle order (see DIR_STATES)."""
    for name in DIR_STATES:
        if os.path.isdir(f"{root}/{name}/{pod_uuid}"):
            return name
    return None


def get(opts: "GlobalOptions", pod_uuid: str) -> Pod | None:
    root = pods_root(opts)
    dir_state = _locate(root, pod_uuid)
    return None if dir_state is None else Pod(root, pod_uuid, dir_state)


# a string for re.fullmatch (compiled on first use, not on every `rkt run`)
_UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def is_pod_uuid(name: str) -> bool:
    """A pod directory name: a UUID in canonical lowercase form (anything else is not ours)."""
    return re.fullmatch(_UUID_RE, name) is not None


def _listing(opts: "GlobalOptions") -> dict[str, str]:
    """uuid -> dir state of every pod dir, from one scandir per state dir (no stat per pod).
    A pod caught mid-rename in two dirs counts in the later one, as `get` would find it."""
    root = pods_root(opts)
    found: dict[str, str] = {}
    for name in DIR_STATES:
        try:
            with os.scandir(root / name) as entries:
                for entry in entries:
                    if is_pod_uuid(entry.name) and entry.is_dir(follow_symlinks=False):
                        found[entry.name] = name
        except FileNotFoundError:
            continue
        except OSError as err:
            raise RktError(f"cannot read pods directory {root / name}: {err.strerror}") from None
    return found


def all_uuids(opts: "GlobalOptions") -> list[str]:
    return sorted(_listing(opts))


def all_pods(opts: "GlobalOptions", dir_states=DIR_STATES) -> list[Pod]:
    """Every pod (in `dir_states`), sorted by UUID; pods that vanish while listing are skipped
    (rkt's WalkPods)."""
    root = pods_root(opts)
    listing = _listing(opts)
    pods = []
    for pod_uuid in sorted(listing):
        if listing[pod_uuid] not in dir_states:
            continue
        pod = Pod(root, pod_uuid, listing[pod_uuid])
        if not os.path.isdir(pod.path):  # moved on since we listed
            pod = get(opts, pod_uuid)
        if pod is not None:
            pods.append(pod)
    return pods


def resolve(opts: "GlobalOptions", uuid_or_prefix: str) -> Pod:
    """The pod whose UUID is or starts with the argument (case-insensitive, unique prefix)."""
    wanted = uuid_or_prefix.strip().lower()
    if not wanted:
        raise RktError("UUID cannot be empty")
    if is_pod_uuid(wanted):  # a whole UUID: found without listing every pod
        pod = get(opts, wanted)
        if pod is not None:
            return pod
    matches = [u for u in all_uuids(opts) if u.startswith(wanted)]
    if not matches:
        raise RktError(f'no matches found for "{uuid_or_prefix}"')
    if len(matches) > 1:
        raise RktError(f'ambiguous UUID prefix "{uuid_or_prefix}"')
    pod = get(opts, matches[0])
    if pod is None:
        raise RktError(f'no matches found for "{uuid_or_prefix}"')
    return pod


def read_uuid_file(path: str | os.PathLike) -> str:
    """The UUID stored by `--uuid-file-save`, surrounding whitespace removed."""
    try:
        with open(path, "rb") as f:  # bounded: the file may be /dev/zero or huge
            text = f.read(4096).decode()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not text"
        raise RktError(f"cannot read UUID file {path}: {reason}") from None
    value = text.strip()
    if not value:
        raise RktError(f"empty UUID in file {path}")
    if not value.isprintable():
        raise RktError(f"no UUID in file {path}")
    return value


def write_uuid_file(path: str | os.PathLike, pod_uuid: str) -> None:
    """Write atomically so a reader never sees a partial UUID (rkt writes it as the pod exists)."""
    try:
        atomic_write(path, pod_uuid, durable=False)
    except OSError as err:
        raise RktError(f"cannot save UUID to {path}: {err.strerror}") from None
