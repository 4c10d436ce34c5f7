"""Resource limits of one app: the appc isolators (memory, cpu, cpu-shares, oom-score-adj)
turned into kernel units, ready for a cgroup manager to write.

Quantities arrive as appc/Kubernetes strings ("1G", "500m", "50Mi") and are parsed here, with
integers only (fractions would cost 4 ms of imports on the run path).
"""

from __future__ import annotations

from stage1 import procfs
from stage1.cgroups import tree

MEMORY = "resource/memory"
CPU = "resource/cpu"
CPU_SHARES = "os/linux/cpu-shares"
OOM_SCORE_ADJ = "os/linux/oom-score-adj"

CFS_PERIOD_US = 100_000
CFS_MIN_QUOTA_US = 1_000

# suffix -> (numerator, denominator)
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
    import re  # here: re imports enum (~8 ms), and most apps have no resource isolator
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


class Limits:
    """Resource limits of one app, in kernel units."""

    def __init__(self, memory_bytes=None, cpu_millis=None, cpu_shares=None, oom_score_adj=None,
                 devices=None):
        self.memory_bytes = memory_bytes
        self.devices = devices  # devices.allow lines, None: no device policy (set by the pod)
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
    text = value.strip() if isinstance(value, str) else ""
    digits = text[1:] if text.startswith(("+", "-")) else text
    if digits.isascii() and digits.isdigit():  # [+-]?[0-9]+
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


def set_oom_score_adj(pid: int, value: int) -> None:
    """Write /proc/<pid>/oom_score_adj (pid 0: this process); lowering it needs CAP_SYS_RESOURCE."""
    tree.write(f"{procfs.proc_dir(pid)}/oom_score_adj", int(value))
