"""Linux capabilities of an app: rkt's default bounding set, the appc capability isolators, and
the drop from stage1's full root privileges to exactly that set right before the app's exec.

The bounding set is what the app can ever hold. A root app gets it as its effective set at exec
(the kernel grants root every capability of its bounding set); a non-root app gets an explicit
retain-set as ambient capabilities, so `--caps-retain=CAP_NET_BIND_SERVICE` lets it bind port 80.
"""

from __future__ import annotations

from stage1 import kernel

RETAIN_SET = "os/linux/capabilities-retain-set"
REMOVE_SET = "os/linux/capabilities-remove-set"
NO_NEW_PRIVILEGES = "os/linux/no-new-privileges"

# capability numbers from linux/capability.h, in order
_NAMES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
)
NUMBERS: dict[str, int] = {f"CAP_{name}": number for number, name in enumerate(_NAMES)}
NAMES: dict[int, str] = {number: name for name, number in NUMBERS.items()}

CAP_SYS_ADMIN = NUMBERS["CAP_SYS_ADMIN"]

# appc's default set (rkt's getAppCapabilities), the bounding set when no isolator says otherwise
DEFAULT_CAPS: frozenset[str] = frozenset({
    "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_KILL",
    "CAP_MKNOD", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP",
    "CAP_SETFCAP", "CAP_SYS_CHROOT",
})


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return len(_NAMES) - 1


def all_caps() -> frozenset[int]:
    return frozenset(range(last_cap() + 1))


def name(number: int) -> str:
    return NAMES.get(number, f"CAP_{number}")


def number(cap_name: str) -> int:
    """`CAP_NET_RAW` (any case, `CAP_` optional) -> 13; ValueError names an unknown capability."""
    key = cap_name.strip().upper() if isinstance(cap_name, str) else ""
    if not key.startswith("CAP_"):
        key = "CAP_" + key
    if key not in NUMBERS:
        raise ValueError(f"unknown capability {cap_name!r}")
    return NUMBERS[key]


class CapabilitySet(frozenset):
    """A set of capability numbers that remembers whether an isolator granted it explicitly
    (a retain-set), which is what allows a non-root app to hold it as ambient capabilities."""

    explicit: bool = False

    def __new__(cls, caps=(), explicit: bool = False):
        self = super().__new__(cls, caps)
        self.explicit = explicit
        return self


def _capability_isolators(isolators) -> tuple[list[str] | None, list[str] | None]:
    retain = remove = None
    for iso in isolators or ():
        if not isinstance(iso, dict):
            raise ValueError("isolator is not a JSON object")
        iso_name = iso.get("name")
        if iso_name not in (RETAIN_SET, REMOVE_SET):
            continue
        value = iso.get("value")
        members = value.get("set") if isinstance(value, dict) else None
        if not isinstance(members, list) or not members or not all(isinstance(m, str) for m in members):
            raise ValueError(f"{iso_name}: set must be a non-empty list of capability names")
        if iso_name == RETAIN_SET:
            retain = (retain or []) + members
        else:
            remove = (remove or []) + members
    if retain is not None and remove is not None:
        raise ValueError(f"cannot have both {RETAIN_SET} and {REMOVE_SET}")
    return retain, remove


def bounding_set(isolators, disabled: bool = False) -> CapabilitySet:
    """The app's bounding set: the default 14, replaced by a retain-set or reduced by a
    remove-set; every capability with `--insecure-options=capabilities` (`disabled`)."""
    retain, remove = _capability_isolators(isolators)  # validate even when disabled
    if disabled:
        return CapabilitySet(all_caps())
    known = all_caps()
    if retain is not None:
        caps = {number(c) for c in retain}
        unsupported = sorted(name(c) for c in caps - known)
        if unsupported:
            raise ValueError(f"{RETAIN_SET}: capability not supported by this kernel: {', '.join(unsupported)}")
        return CapabilitySet(caps, explicit=True)
    caps = {NUMBERS[c] for c in DEFAULT_CAPS}
    if remove is not None:
        caps -= {number(c) for c in remove}
    return CapabilitySet(caps & known)


def _mask(caps) -> int:
    mask = 0
    for cap in caps:
        mask |= 1 << cap
    return mask


def drop_to(caps, uid: int, gid: int, supplementary_gids=()) -> None:
    """In the app's process, just before seccomp and exec: bounding set -> `caps`, identity ->
    uid/gid/groups, and the capability sets arranged so the exec'd program holds exactly `caps`
    (root) or its explicit retain-set as ambient capabilities (non-root).

    CAP_SYS_ADMIN stays effective until the exec (it is outside the bounding set, so the exec
    drops it) only so that the seccomp filter can still be installed without no_new_privs, as
    systemd does for rkt's root apps.
    """
    k = kernel.current()
    explicit = bool(getattr(caps, "explicit", False))
    caps = frozenset(caps)
    for cap in range(last_cap() + 1):
        if cap not in caps:
            k.prctl(kernel.PR_CAPBSET_DROP, cap)

    if uid != 0:
        # keep the permitted set across the uid change; we trim it right below
        k.prctl(kernel.PR_SET_KEEPCAPS, 1)
    k.set_identity(uid, gid, supplementary_gids)
    if uid != 0:
        k.prctl(kernel.PR_SET_KEEPCAPS, 0)

    _, permitted, _ = k.capget()
    keep = _mask(caps) & permitted
    transient = keep | (permitted & (1 << CAP_SYS_ADMIN))
    ambient = keep if uid != 0 and explicit else 0
    # Inheritable only as far as ambient caps require it: a root exec needs none (it gets its
    # bounding set), and an inheritable set would let a program with file-inheritable caps
    # regain them after a switch to another uid (CVE-2022-24769 in moby).
    k.capset(transient, transient, ambient)
    k.prctl(kernel.PR_CAP_AMBIENT, kernel.PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in sorted(caps):
        if ambient >> cap & 1:
            k.prctl(kernel.PR_CAP_AMBIENT, kernel.PR_CAP_AMBIENT_RAISE, cap)


def no_new_privileges_requested(isolators) -> bool:
    for iso in isolators or ():
        if isinstance(iso, dict) and iso.get("name") == NO_NEW_PRIVILEGES:
            value = iso.get("value")
            if not isinstance(value, bool):
                raise ValueError(f"{NO_NEW_PRIVILEGES}: value must be true or false")
            if value:
                return True
    return False


def set_no_new_privs(isolators) -> bool:
    """PR_SET_NO_NEW_PRIVS when the app asks for it; returns whether set."""
    if no_new_privileges_requested(isolators):
        kernel.current().prctl(kernel.PR_SET_NO_NEW_PRIVS, 1)
        return True
    return False
