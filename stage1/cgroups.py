"""Control groups: each pod gets `machine.slice/machine-rkt\\x2d<uuid>.scope` (rkt's name for it)
and each app a child cgroup there, where the resource isolators become kernel limits.

cgroup v1 (a hierarchy per controller) and v2 (one unified hierarchy) are two implementations of
one small interface, chosen once from /proc/self/mountinfo. Only the controllers that carry
isolators or policy are used (memory, cpu, pids, devices) so that a pod costs few mkdirs.
Each app also gets rkt's closed device policy (devices.allow on v1, an eBPF program on v2).
Quantities arrive as appc/Kubernetes strings ("1G", "500m", "50Mi") and are parsed here.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import time

from stage1 import sys as _sys

MEMORY = "resource/memory"
CPU = "resource/cpu"
CPU_SHARES = "os/linux/cpu-shares"
OOM_SCORE_ADJ = "os/linux/oom-score-adj"

CGROUP_ROOT = "/sys/fs/cgroup"
CONTROLLERS = ("memory", "cpu", "pids", "devices")

# rkt's DevicePolicy=closed: the standard pseudo devices and terminals, nothing else (so that
# CAP_MKNOD, in the default set, cannot reach a host disk through a hand-made node)
STANDARD_DEVICES = (
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",  # null zero full random urandom
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",  # tty console ptmx pts/*
)
SLICE = "machine.slice"
CFS_PERIOD_US = 100_000
CFS_MIN_QUOTA_US = 1_000

# patterns compile on first use (re caches them): nothing to pay at import on the run path
_UUID = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\Z"
_APP_NAME = r"^[a-z0-9]+([-._~/][a-z0-9]+)*\Z"


# --- quantities -------------------------------------------------------------------------------

# suffix -> (numerator, denominator); integers only (fractions would cost 4 ms of imports)
_SUFFIXES = {
    "": (1, 1), "n": (1, 10**9), "u": (1, 10**6), "m": (1, 1000),
    "k": (10**3, 1), "M": (10**6, 1), "G": (10**9, 1), "T": (10**12, 1), "P": (10**15, 1),
    "E": (10**18, 1), "Ki": (2**10, 1), "Mi": (2**20, 1), "Gi": (2**30, 1), "Ti": (2**40, 1),
    "Pi": (2**50, 1), "Ei": (2**60, 1),
}
_QUANTITY = r"^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?\Z"


def parse_quantity(text, scale: int = 1) -> int:
    """A Kubernetes resource quantity ("1G", "50Mi", "500m", "0.5", "1e3") times `scale`,
    rounded up to an integer (as Kubernetes' Value() and MilliValue() round)."""
    if isinstance(text, bool):
        raise ValueError(f"invalid quantity {text!r}")
    if isinstance(text, int):
        return text * scale
    if isinstance(text, float):
        text = repr(text)
    match = re.match(_QUANTITY, text) if isinstance(text, str) and len(text) < 64 else None
    if not match or not (match.group(2) or match.group(3)):
        raise ValueError(f"invalid quantity {text!r}")
    sign, whole, fraction, exponent, suffix = match.groups()
    fraction = fraction or ""
    numerator = int((whole or "0") + fraction) * scale
    denominator = 10 ** len(fraction)
    if exponent is not None:
        power = int(exponent)
        if abs(power) > 30:
            raise ValueError(f"invalid quantity {text!r}")
        if power >= 0:
            numerator *= 10 ** power
        else:
            denominator *= 10 ** -power
    mul, div = _SUFFIXES[suffix or ""]
    numerator, denominator = numerator * mul, denominator * div
    value = -(-numerator // denominator)
    return -value if sign == "-" and value else value


# --- what the isolators ask for -----------------------------------------------------------------

class Limits:
    """Resource limits of one app, in kernel units."""

    def __init__(self, memory_bytes=None, cpu_millis=None, cpu_shares=None, oom_score_adj=None,
                 devices=None):
        self.memory_bytes = memory_bytes
        self.devices = devices  # devices.allow lines, None: no device policy
        self.cpu_millis = cpu_millis
        self.cpu_shares = cpu_shares
        self.oom_score_adj = oom_score_adj

    @property
    def cfs_quota_us(self) -> int | None:
        if self.cpu_millis is None:
            return None
        return max(CFS_MIN_QUOTA_US, self.cpu_millis * CFS_PERIOD_US // 1000)

    @property
    def cpu_weight(self) -> int | None:
        """cgroup v2's cpu.weight for v1 cpu.shares (the conversion runc and Kubernetes use)."""
        if self.cpu_shares is None:
            return None
        return 1 + ((self.cpu_shares - 2) * 9999) // 262142

    def __eq__(self, other):
        return isinstance(other, Limits) and vars(self) == vars(other)

    def __repr__(self):
        return f"Limits({', '.join(f'{k}={v!r}' for k, v in vars(self).items() if v is not None)})"


def _int_value(name, value, low, high) -> int:
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: value must be an integer from {low} to {high}")
    return value


def _resource_limit(name, value, scale: int) -> int | None:
    if not isinstance(value, dict):
        raise ValueError(f"{name}: value must be an object with request and limit")
    limit = value.get("limit")  # a request alone limits nothing (rkt used Limit() only)
    if limit is None:
        return None
    try:
        quantity = parse_quantity(limit, scale)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from None
    if quantity <= 0:
        raise ValueError(f"{name}: limit must be positive, not {limit!r}")
    return quantity


def limits_from(isolators) -> Limits:
    """The resource isolators of an app as Limits (ValueError names a bad one)."""
    limits = Limits()
    for iso in isolators or ():
        if not isinstance(iso, dict):
            raise ValueError("isolator is not a JSON object")
        name, value = iso.get("name"), iso.get("value")
        if name == MEMORY:
            quantity = _resource_limit(name, value, 1)
            if quantity is not None:
                limits.memory_bytes = quantity
        elif name == CPU:
            millis = _resource_limit(name, value, 1000)
            if millis is not None:
                if millis > 2**63 // CFS_PERIOD_US:
                    raise ValueError(f"{name}: limit {value.get('limit')!r} is too large")
                limits.cpu_millis = millis
        elif name == CPU_SHARES:
            limits.cpu_shares = _int_value(name, value, 2, 262144)
        elif name == OOM_SCORE_ADJ:
            limits.oom_score_adj = _int_value(name, value, -1000, 1000)
    return limits


# --- names --------------------------------------------------------------------------------------

def scope_name(uuid: str) -> str:
    """systemd's escaped unit name for machine `rkt-<uuid>`, as rkt's pods were registered."""
    if not isinstance(uuid, str) or not re.match(_UUID, uuid):
        raise ValueError(f"invalid pod UUID {uuid!r}")
    return "machine-" + ("rkt-" + uuid.lower()).replace("-", "\\x2d") + ".scope"


def pod_path(uuid: str) -> str:
    return f"{SLICE}/{scope_name(uuid)}"


def _app_dir(name: str) -> str:
    if not isinstance(name, str) or not re.match(_APP_NAME, name) or "/" in name or len(name) > 200:
        raise ValueError(f"invalid app name {name!r}")
    return f"{name}.service"


# --- the kernel side ----------------------------------------------------------------------------

def _write(path: str, value) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)


def _read_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field) if "\\" in field else field


def _mountinfo(path: str = "/proc/self/mountinfo") -> list[tuple[str, str, str]]:
    """(mount point, fs type, super options) of each mount."""
    result = []
    with open(path) as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            mount_point = _unescape(fields[4])
            result.append((mount_point, fields[sep + 1], fields[sep + 3] if len(fields) > sep + 3 else ""))
    return result


class Manager:
    """One cgroup version. `dirs(rel)` are the cgroup directories of relative path `rel`, one per
    hierarchy used; the rest turns limits into file writes."""

    version = 0
    enforces_devices = False

    def dirs(self, rel: str) -> list[str]:
        raise NotImplementedError

    def prepare(self, rel: str) -> None:
        """Create the cgroup `rel` (and its parents) in every hierarchy used."""
        for path in self.dirs(rel):
            _mkdirs(path)

    def apply(self, rel: str, limits: Limits) -> None:
        raise NotImplementedError

    def attach(self, rel: str, pid: int) -> None:
        for path in self.dirs(rel):
            _write(os.path.join(path, "cgroup.procs"), pid)

    def set_devices(self, rel: str, rules) -> None:
        """Allow only the devices of `rules` (devices.allow lines) in `rel`."""
        raise NotImplementedError

    def procs(self, rel: str) -> set[int]:
        pids = set()
        for path in self.dirs(rel):
            for dirpath, _dirnames, _files in os.walk(path):
                pids.update(int(p) for p in _read_lines(os.path.join(dirpath, "cgroup.procs")) if p.isdigit())
        pids.discard(0)
        return pids

    def remove(self, rel: str, timeout: float = 2.0) -> None:
        """Remove `rel` and its children, waiting (up to `timeout`) for exiting tasks to go."""
        deadline = time.monotonic() + timeout
        for path in self.dirs(rel):
            _rmtree(path, deadline)
        for path in self.dirs(SLICE):
            try:
                os.rmdir(path)  # the shared slice, when this was its last pod
            except OSError:
                pass


def _mkdirs(path: str) -> None:
    for attempt in range(5):
        try:
            os.makedirs(path, exist_ok=True)
            return
        except FileNotFoundError:
            # another pod's cleanup removed the shared slice between our mkdirs
            if attempt == 4:
                raise


def _rmtree(path: str, deadline: float) -> None:
    try:
        children = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return
    for child in children:
        _rmtree(child, deadline)
    while True:
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


class V1(Manager):
    """A hierarchy per controller, e.g. /sys/fs/cgroup/memory; joint mounts (cpu,cpuacct)
    count once."""

    version = 1

    def __init__(self, mounts: dict[str, str]):
        self.mounts = mounts  # controller -> mount point
        self.enforces_devices = "devices" in mounts

    def dirs(self, rel: str) -> list[str]:
        seen, result = set(), []
        for controller in CONTROLLERS:
            root = self.mounts.get(controller)
            if root and root not in seen:
                seen.add(root)
                result.append(os.path.join(root, rel))
        return result

    def set_devices(self, rel: str, rules) -> None:
        if "devices" in self.mounts:
            path = os.path.join(self.mounts["devices"], rel)
            _write(os.path.join(path, "devices.deny"), "a")
            for line in rules:
                _write(os.path.join(path, "devices.allow"), line)

    def _need(self, controller: str, what: str) -> str:
        if controller not in self.mounts:
            raise OSError(errno.ENOTSUP, f"{what} needs the {controller} cgroup controller, which is not mounted")
        return self.mounts[controller]

    def apply(self, rel: str, limits: Limits) -> None:
        if limits.memory_bytes is not None:
            root = self._need("memory", MEMORY)
            _write(os.path.join(root, rel, "memory.limit_in_bytes"), limits.memory_bytes)
        if limits.cfs_quota_us is not None:
            root = self._need("cpu", CPU)
            _write(os.path.join(root, rel, "cpu.cfs_period_us"), CFS_PERIOD_US)
            _write(os.path.join(root, rel, "cpu.cfs_quota_us"), limits.cfs_quota_us)
        if limits.cpu_shares is not None:
            root = self._need("cpu", CPU_SHARES)
            _write(os.path.join(root, rel, "cpu.shares"), limits.cpu_shares)


class V2(Manager):
    """The unified hierarchy: controllers are enabled top-down through cgroup.subtree_control,
    and only leaves hold processes (the pod's own processes go to its `stage1` leaf)."""

    version = 2

    def __init__(self, root: str = CGROUP_ROOT):
        self.root = root
        available = set(_read_lines(os.path.join(root, "cgroup.controllers")))
        self.controllers = [c for c in CONTROLLERS if c in available]

    def dirs(self, rel: str) -> list[str]:
        return [os.path.join(self.root, rel)]

    def prepare(self, rel: str) -> None:
        """Make `rel` and enable our controllers for children on the way down (not in `rel`
        itself, so that it may still become a leaf holding processes)."""
        _mkdirs(os.path.join(self.root, rel))
        enable = " ".join("+" + c for c in self.controllers)
        if not enable:
            return
        parts = rel.split("/")
        for depth in range(len(parts)):
            parent = os.path.join(self.root, *parts[:depth])
            control = os.path.join(parent, "cgroup.subtree_control")
            if set(self.controllers) <= set(_read_lines(control)):
                continue
            _write(control, enable)

    enforces_devices = True

    def set_devices(self, rel: str, rules) -> None:
        """cgroup v2 has no devices files: an eBPF program decides, attached to the cgroup."""
        program = device_program(rules)
        prog_fd = _sys.bpf_load_cgroup_device_program(program)
        try:
            dir_fd = os.open(os.path.join(self.root, rel), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                _sys.bpf_attach_cgroup_device_program(dir_fd, prog_fd)
            finally:
                os.close(dir_fd)
        finally:
            os.close(prog_fd)  # the cgroup holds it now

    def _need(self, controller: str, what: str) -> None:
        if controller not in self.controllers:
            raise OSError(errno.ENOTSUP, f"{what} needs the {controller} cgroup controller, which is not available")

    def apply(self, rel: str, limits: Limits) -> None:
        path = os.path.join(self.root, rel)
        if limits.memory_bytes is not None:
            self._need("memory", MEMORY)
            _write(os.path.join(path, "memory.max"), limits.memory_bytes)
        if limits.cfs_quota_us is not None:
            self._need("cpu", CPU)
            _write(os.path.join(path, "cpu.max"), f"{limits.cfs_quota_us} {CFS_PERIOD_US}")
        if limits.cpu_weight is not None:
            self._need("cpu", CPU_SHARES)
            _write(os.path.join(path, "cpu.weight"), limits.cpu_weight)


def detect(mountinfo: str = "/proc/self/mountinfo", root: str = CGROUP_ROOT) -> Manager:
    """v2 when the unified hierarchy is mounted at `root` itself; otherwise v1 with whatever
    controllers are mounted (a hybrid host's cgroup2 at root/unified is ignored)."""
    mounts: dict[str, str] = {}
    for mount_point, fstype, options in _mountinfo(mountinfo):
        if fstype == "cgroup2" and mount_point == root:
            return V2(root)
        if fstype == "cgroup":
            for option in options.split(","):
                if option in CONTROLLERS and option not in mounts:
                    mounts[option] = mount_point
    return V1(mounts)


_manager: Manager | None = None


def manager() -> Manager:
    global _manager
    if _manager is None:
        _manager = detect()
    return _manager


# --- oom_score_adj ------------------------------------------------------------------------------

def _proc_dir(pid: int) -> str:
    """/proc/<pid> for `pid` as this process sees it, also when /proc belongs to an outer pid
    namespace (stage1's supervisor is PID 1 of the pod but still sees the host's /proc)."""
    if pid in (0, os.getpid()):
        return "/proc/self"
    me = os.readlink("/proc/self")
    if me == str(os.getpid()):
        return f"/proc/{pid}"
    own_ns = os.readlink("/proc/self/ns/pid")
    candidates = []
    for task in os.listdir(f"/proc/{me}/task"):
        candidates += _read_lines(f"/proc/{me}/task/{task}/children")
    for candidate in candidates + [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open(f"/proc/{candidate}/status") as f:
                nspid = next((line.split()[1:] for line in f if line.startswith("NSpid:")), [])
            if nspid and nspid[-1] == str(pid) and os.readlink(f"/proc/{candidate}/ns/pid") == own_ns:
                return f"/proc/{candidate}"
        except OSError:
            continue
    raise OSError(errno.ESRCH, f"no process {pid}")


def set_oom_score_adj(pid: int, value: int) -> None:
    """Write /proc/<pid>/oom_score_adj (pid 0: this process); lowering it needs CAP_SYS_RESOURCE."""
    _write(f"{_proc_dir(pid)}/oom_score_adj", int(value))


_DEV_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_DEV_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    import struct
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def device_program(rules) -> bytes:
    """A BPF_PROG_TYPE_CGROUP_DEVICE program allowing exactly `rules` (devices.allow lines such
    as "c 1:3 rwm", "c 136:* rw"): the v2 equivalent of devices.deny "a" + devices.allow."""
    ldxw, and32, rsh32, mov32_reg, mov32_imm, jne_imm, exit_ = 0x61, 0x54, 0x74, 0xBC, 0xB4, 0x55, 0x95
    # r1 points at {u32 access_type (access << 16 | type), u32 major, u32 minor}:
    # r2 = type, r3 = access, r4 = major, r5 = minor
    program = [_insn(ldxw, 2, 1, 0), _insn(and32, 2, imm=0xFFFF), _insn(ldxw, 3, 1, 0),
               _insn(rsh32, 3, imm=16), _insn(ldxw, 4, 1, 4), _insn(ldxw, 5, 1, 8)]
    for rule in rules:
        kind, numbers, access = rule.split()
        major, minor = numbers.split(":")
        denied = ~sum(_DEV_ACCESS[a] for a in access) & 0x7
        # each test jumps past the end of this rule's block when it does not match
        tests = []
        if kind != "a":
            tests.append([(jne_imm, 2, _DEV_TYPES[kind])])
        tests.append([(mov32_reg, 0, 3), (and32, 0, denied), (jne_imm, 0, 0)])  # no denied access
        if major != "*":
            tests.append([(jne_imm, 4, int(major))])
        if minor != "*":
            tests.append([(jne_imm, 5, int(minor))])
        size = sum(len(t) for t in tests) + 2
        position = 0
        for test in tests:
            for code, reg, imm in test:
                position += 1
                if code == jne_imm:
                    program.append(_insn(code, reg, off=size - position, imm=imm))
                elif code == mov32_reg:
                    program.append(_insn(code, reg, src=imm))
                else:
                    program.append(_insn(code, reg, imm=imm))
        program += [_insn(mov32_imm, 0, imm=1), _insn(exit_)]  # allow
    program += [_insn(mov32_imm, 0, imm=0), _insn(exit_)]  # deny the rest
    return b"".join(program)


def mounted_devices(pid: int) -> list[str]:
    """devices.allow lines for the device nodes mounted in the mount namespace of `pid`
    (read-only mounts allow reading only)."""
    proc = _proc_dir(pid)
    rules = []
    with open(f"{proc}/mountinfo") as f:
        lines = f.read().splitlines()
    for line in lines:
        fields = line.split()
        mount_point = _unescape(fields[4])
        try:
            st = os.stat(f"{proc}/root{mount_point}", follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
            access = "r" if "ro" in fields[5].split(",") else "rw"
            rules.append(f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {access}")
    return rules


def device_rules(devices) -> list[str]:
    """devices.allow lines for device-node volumes given as (host path, read_only)."""
    rules = []
    for path, read_only in devices:
        st = os.stat(path)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            kind = "c" if stat.S_ISCHR(st.st_mode) else "b"
            rules.append(f"{kind} {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} {'r' if read_only else 'rw'}")
    return rules


# --- the pod's cgroups ----------------------------------------------------------------------------

class AppCgroup:
    def __init__(self, pod: "PodCgroups", name: str, limits: Limits):
        self.pod, self.name, self.limits = pod, name, limits
        self.rel = f"{pod.rel}/{_app_dir(name)}"
        self._devices_set = False

    def attach(self, pid: int) -> None:
        """Move `pid` (0: this process) into the app's cgroup and set its oom_score_adj.

        Under the device policy, device nodes that stage1 mounted into the app's namespace
        (device volumes, the console) are allowed first: the rule is that what stage1 gave the
        app, it may use."""
        if self.limits.devices is not None and self.pod.manager.enforces_devices and not self._devices_set:
            extra = [d for d in mounted_devices(pid) if d not in self.limits.devices]
            self.pod.manager.set_devices(self.rel, self.limits.devices + extra)
            self._devices_set = True
        self.pod.manager.attach(self.rel, pid)
        if self.limits.oom_score_adj is not None:
            set_oom_score_adj(pid, self.limits.oom_score_adj)


class PodCgroups:
    """The cgroups of one pod; `create` it before the apps start, `remove` it after they end."""

    def __init__(self, uuid: str, mgr: Manager | None = None):
        self.uuid = uuid
        self.rel = pod_path(uuid)
        self.manager = mgr or manager()
        self.apps: dict[str, AppCgroup] = {}

    @classmethod
    def create(cls, uuid: str, mgr: Manager | None = None) -> "PodCgroups":
        pod = cls(uuid, mgr)
        pod.manager.prepare(pod.rel)
        return pod

    def app(self, name: str, isolators, devices=(), *, device_policy: bool = True) -> AppCgroup:
        """The app's cgroup with its limits written; ValueError for a bad isolator, OSError
        when the kernel refuses a limit. `devices`: (host path, read_only) of the app's
        device-node volumes, allowed on top of the standard devices; `device_policy=False`
        (--insecure-options=paths, as rkt) allows every device. cgroup v1 only: v2 would need
        an eBPF program."""
        limits = limits_from(isolators)
        if device_policy:
            limits.devices = list(STANDARD_DEVICES) + device_rules(devices)
        group = AppCgroup(self, name, limits)
        self.manager.prepare(group.rel)
        self.manager.apply(group.rel, limits)
        self.apps[name] = group
        return group

    def attach(self, pid: int) -> None:
        """Put a pod-level process (the supervisor) in the pod's cgroup."""
        rel = self.rel if self.manager.version == 1 else f"{self.rel}/stage1"
        if self.manager.version == 2:
            self.manager.prepare(rel)
        self.manager.attach(rel, pid)

    def paths(self) -> list[str]:
        return self.manager.dirs(self.rel)

    def remove(self, timeout: float = 2.0) -> None:
        self.manager.remove(self.rel, timeout)


def cleanup(uuid: str, timeout: float = 2.0) -> None:
    """For `gc`: kill whatever is left in the pod's cgroups and remove them."""
    import signal

    mgr = manager()
    rel = pod_path(uuid)
    for _round in range(3):
        left = mgr.procs(rel)
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)
    mgr.remove(rel, timeout)
