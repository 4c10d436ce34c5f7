"""Small helpers shared by command modules; no click here, the run path uses them too."""

from __future__ import annotations

import os

from rkt.errors import RktError


def ensure_superuser(command: str) -> None:
    """rkt refuses these commands to non-root callers with this exact wording."""
    if os.geteuid() != 0:
        raise RktError(f"{command}: cannot run as unprivileged user")


def format_table(headers: list[str], rows: list[list[str]], legend: bool = True) -> str:
    """Columns as rkt prints them: each cell ends with a tab, aligned by Go's tabwriter with
    tab padding (so `cut -f` and `awk` see the cells rkt's users script against)."""
    from rkt.cli.helptext import tabwrite

    table = ([headers] if legend else []) + rows
    if not table:
        return ""
    return tabwrite("\n".join("\t".join(row) for row in table))
