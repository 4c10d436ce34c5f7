"""What a store holds, read straight from disk (not through rkt.store), for before/after checks."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


def store_state(data_dir: Path) -> dict:
    cas = Path(data_dir) / "cas"
    rows = []
    db = cas / "db" / "index.sqlite"
    if db.exists():
        conn = sqlite3.connect(db)
        try:
            rows = sorted(conn.execute("SELECT id, name FROM aciinfo").fetchall())
        finally:
            conn.close()

    def listing(sub: str, pattern: str = "*") -> list[str]:
        base = cas / sub
        return sorted(str(p.relative_to(base)) for p in base.glob(pattern)) if base.exists() else []

    return {"rows": rows, "blobs": listing("blob", "sha512/*/*"), "trees": listing("tree"),
            "tmp": listing("tmp")}


def files_under(root: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, n), root)
            for d, dirs, files in os.walk(root) for n in dirs + files}
