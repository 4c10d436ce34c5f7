"""Go's duration syntax (`30m`, `1h30m`, `1.5s`, `0`), which rkt's gc, image gc and status flags take.

`parse_duration` accepts exactly what Go's time.ParseDuration accepts and returns seconds;
`format_duration` prints a duration back the way Go does (`30m0s`, `24h0m0s`).
"""

from __future__ import annotations

import re

from rkt.errors import UsageError

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
          "h": 3600.0}
_TERM = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str, flag: str = "duration") -> float:
    """Seconds in a Go duration string; a UsageError naming `flag` when it is not one."""
    s = text.strip()
    sign = 1.0
    if s[:1] in ("+", "-"):
        sign, s = (-1.0 if s[0] == "-" else 1.0), s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise UsageError(f'{flag}: invalid duration "{text}"')
    total, pos = 0.0, 0
    while pos < len(s):
        match = _TERM.match(s, pos)
        if not match:
            raise UsageError(f'{flag}: invalid duration "{text}" (use e.g. 30s, 10m, 1h30m)')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """Go's Duration.String() for whole seconds and up: 0s, 10s, 30m0s, 24h0m0s."""
    whole = int(round(seconds))
    if whole == 0:
        return "0s"
    sign = "-" if whole < 0 else ""
    whole = abs(whole)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"
