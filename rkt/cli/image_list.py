"""`rkt image list`: the stored images, in rkt's columns and formats."""

from __future__ import annotations

import json
import math
import time

import click

from rkt.cli._click import CONTEXT_SETTINGS, options

FIELDS = ("id", "name", "size", "importtime", "lastused", "latest")
DEFAULT_FIELDS = "id,name,size,importtime,lastused"
SORT_FIELDS = ("id", "name", "importtime", "lastused", "size", "latest")
HEADERS = {"id": "ID", "name": "NAME", "size": "SIZE", "importtime": "IMPORT TIME",
           "lastused": "LAST USED", "latest": "LATEST"}
_SHORT_ID = len("sha512-") + 12  # rkt's image list trims IDs to 12 hex digits


def human_bytes(n: int) -> str:
    """go-humanize IBytes as vendored in rkt 1.30, without a space: `5B`, `1.5KiB`, `20MiB`."""
    if n < 10:
        return f"{n}B"
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    exp = min(int(math.floor(math.log(n) / math.log(1024))), len(units) - 1)
    value = math.floor(n / 1024 ** exp * 10 + 0.5) / 10
    return f"{value:.1f}{units[exp]}" if value < 10 else f"{value:.0f}{units[exp]}"


_MINUTE, _HOUR, _DAY = 60, 3600, 86400
_WEEK, _MONTH, _YEAR = 7 * _DAY, 30 * _DAY, 12 * 30 * _DAY
_MAGNITUDES = [
    (1, "now", 1), (2, "1 second {}", 1), (_MINUTE, "{n} seconds {}", 1),
    (2 * _MINUTE, "1 minute {}", 1), (_HOUR, "{n} minutes {}", _MINUTE),
    (2 * _HOUR, "1 hour {}", 1), (_DAY, "{n} hours {}", _HOUR), (2 * _DAY, "1 day {}", 1),
    (_WEEK, "{n} days {}", _DAY), (2 * _WEEK, "1 week {}", 1), (_MONTH, "{n} weeks {}", _WEEK),
    (2 * _MONTH, "1 month {}", 1), (_YEAR, "{n} months {}", _MONTH),
    (18 * _MONTH, "1 year {}", 1), (2 * _YEAR, "2 years {}", 1),
]


def human_time(ns: int, now: float | None = None) -> str:
    """go-humanize Time: `now`, `3 minutes ago`, `2 days ago`."""
    delta = (now if now is not None else time.time()) - ns / 1e9
    label = "ago" if delta >= 0 else "from now"
    delta = abs(delta)
    for limit, fmt, unit in _MAGNITUDES:
        if delta < limit:
            return fmt.format(label, n=int(delta // unit))
    return f"{int(delta // _YEAR)} years {label}"


def full_time(ns: int) -> str:
    """Go's `2006-01-02 15:04:05.999 -0700 MST` layout, in local time."""
    t = time.localtime(ns // 1_000_000_000)
    millis = f"{(ns // 1_000_000) % 1000:03d}".rstrip("0")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", t) + (f".{millis}" if millis else "")
    return f"{stamp} {time.strftime('%z %Z', t)}"


def _field_list(value: str, allowed: tuple[str, ...], flag: str) -> list[str]:
    chosen: list[str] = []
    for word in value.split(","):
        word = word.strip().lower().replace(" ", "")
        if word not in allowed:
            raise click.BadParameter(f'unknown field "{word}" (accepted: {", ".join(allowed)})',
                                     param_hint=flag)
        if word in chosen:
            raise click.BadParameter(f'duplicated field "{word}"', param_hint=flag)
        chosen.append(word)
    return chosen


@click.command(context_settings=CONTEXT_SETTINGS, help="List images in the local store")
@click.option("--fields", default=DEFAULT_FIELDS, show_default=True,
              help=f"comma-separated list of fields to display ({', '.join(FIELDS)})")
@click.option("--sort", "sort_by", default="importtime", show_default=True,
              help=f"sort by a comma-separated list of fields ({', '.join(SORT_FIELDS)})")
@click.option("--order", type=click.Choice(["asc", "desc"], case_sensitive=False), default="asc",
              show_default=True, help="sort order")
@click.option("--no-legend", is_flag=True, help="suppress a legend with the list")
@click.option("--full", is_flag=True, help="use long output format")
@click.option("--format", "fmt", type=click.Choice(["", "json", "json-pretty"]), default="",
              help="output format: json or json-pretty (default: a table)")
def command(fields: str, sort_by: str, order: str, no_legend: bool, full: bool, fmt: str) -> None:
    from rkt.cli.util import format_table
    from rkt.store import Store

    shown = _field_list(fields, FIELDS, "--fields")
    sort_keys = _field_list(sort_by, SORT_FIELDS, "--sort")
    with Store(options().dir) as store:
        images = store.images()
    key_of = {"id": lambda i: i.id, "name": lambda i: (i.name, i.version or ""),
              "importtime": lambda i: i.import_time, "lastused": lambda i: i.last_used,
              "size": lambda i: i.size + i.tree_size, "latest": lambda i: i.latest}
    images.sort(key=lambda i: tuple(key_of[k](i) for k in sort_keys),
                reverse=order.lower() == "desc")

    def name(info) -> str:
        return f"{info.name}:{info.version}" if info.version is not None else info.name

    if fmt:
        entries = [{"id": i.id, "name": name(i), "import_time": i.import_time,
                    "last_used_time": i.last_used, "size": i.size + i.tree_size} for i in images]
        # rkt's v1.ImageListEntry; an empty store is Go's nil slice, `null`
        click.echo(json.dumps(entries or None, indent="\t") if fmt == "json-pretty"
                   else json.dumps(entries or None, separators=(",", ":")))
        return
    now = time.time()
    cells = {
        "id": lambda i: i.id if full else i.id[:_SHORT_ID],
        "name": name,
        "size": lambda i: str(i.size + i.tree_size) if full else human_bytes(i.size + i.tree_size),
        "importtime": lambda i: full_time(i.import_time) if full else human_time(i.import_time, now),
        "lastused": lambda i: full_time(i.last_used) if full else human_time(i.last_used, now),
        "latest": lambda i: str(i.latest).lower(),
    }
    rows = [[cells[f](i) for f in shown] for i in images]
    table = format_table([HEADERS[f] for f in shown], rows, legend=not no_legend)
    if table:
        click.echo(table)
