"""Small helpers shared by command modules; no click here, the run path uses them too."""

from __future__ import annotations

import os

from rkt.errors import RktError


def ensure_superuser(command: str) -> None:
    """rkt refuses these commands to non-root callers with this exact wording."""
    if os.geteuid() != 0:
        raise RktError(f"{command}: cannot run as unprivileged user")


def format_table(headers: list[str], rows: list[list[str]], legend: bool = True) -> str:
    """Tab-aligned columns like rkt's tabwriter output (padding 1, tab separated)."""
    table = ([headers] if legend else []) + rows
    if not table:
        return ""
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    out = []
    for row in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        out.append("\t".join(cells).rstrip())
    return "\n".join(out)
