"""The store's index: an sqlite3 database of stored images and where they came from.

rkt kept this index in a cznic/ql database (`cas/db/ql.db`); we keep the same tables and
meanings in sqlite (`cas/db/index.sqlite`), versioned by a `version` table and brought up to
date by ordered migrations. WAL mode and a busy timeout let many rkt processes share it; every
write is one short transaction, so an image is visible exactly when its row is committed.
"""

from __future__ import annotations

# The sqlite3 package is this C module plus DB-API helpers for dates, whose `datetime` import
# (with the package's own modules, ~1.5 ms) every `rkt run` paid; the index stores ns integers.
import _sqlite3 as sqlite3
import time
from pathlib import Path

from rkt import jsonio
from rkt.errors import RktError
from rkt.lock import FileLock
from rkt.record import Record

BUSY_TIMEOUT_MS = 60_000

# Each migration takes the schema from version i to i + 1; append, never edit.
MIGRATIONS: list[tuple[str, ...]] = [
    (
        "CREATE TABLE version (version INTEGER NOT NULL)",
        """CREATE TABLE aciinfo (
            id TEXT PRIMARY KEY,           -- image ID: sha512- + 128 hex
            name TEXT NOT NULL,
            labels TEXT NOT NULL,          -- JSON object of the manifest labels
            manifest BLOB NOT NULL,        -- the manifest bytes as stored in the ACI
            importtime INTEGER NOT NULL,   -- ns since the epoch
            lastused INTEGER NOT NULL,     -- ns since the epoch
            size INTEGER NOT NULL,         -- bytes of the (uncompressed) blob
            treestoresize INTEGER NOT NULL DEFAULT 0,
            latest INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX aciinfo_name ON aciinfo (name)",
        """CREATE TABLE remote (
            aciurl TEXT PRIMARY KEY,
            sigurl TEXT,
            etag TEXT,
            blobkey TEXT,                  -- image ID of the download
            cachemaxage INTEGER,           -- seconds, from Cache-Control: max-age
            downloadtime INTEGER           -- ns since the epoch
        )""",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)
MAX_BACKUPS = 5  # as rkt's cas/db-backups


class ImageInfo(Record):
    id: str
    name: str
    labels: dict
    import_time: int  # ns since the epoch
    last_used: int
    size: int
    tree_size: int
    latest: bool

    @property
    def version(self) -> str | None:
        return self.labels.get("version")

    @property
    def short_id(self) -> str:
        return self.id[: len("sha512-") + 32]


class Remote(Record):
    aci_url: str
    sig_url: str | None
    etag: str | None
    image_id: str
    cache_max_age: int  # seconds
    download_time: int  # ns since the epoch


_INFO_COLUMNS = "id, name, labels, importtime, lastused, size, treestoresize, latest"


def _info(row) -> ImageInfo:
    return ImageInfo(row[0], row[1], jsonio.loads(row[2]), row[3], row[4], row[5], row[6],
                     bool(row[7]))


class Index:
    def __init__(self, db_dir: Path):
        db_dir.mkdir(parents=True, exist_ok=True)
        path = db_dir / "index.sqlite"
        self.conn = self._connect(path)
        try:
            if self._version() == len(MIGRATIONS):
                self._pragmas(path)  # WAL is already on: setting it again takes no lock
                return  # every command but the first after an upgrade: no index lock
            # Turning WAL on, creating the schema or migrating it happens under the index lock
            # (the version checked again there): two first commands never race to switch the
            # journal (which sqlite may refuse at once, busy timeout or not) or build the tables.
            with FileLock(db_dir / "index.lock") as lock:
                lock.exclusive()
                self._pragmas(path)
                self._migrate(db_dir.parent / "db-backups")
        except BaseException:
            self.conn.close()
            raise

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            return sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.DatabaseError as err:
            raise RktError(f"store index {path}: {err}") from None

    def _pragmas(self, path: Path) -> None:
        try:
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as err:
            raise RktError(f"store index {path}: {err}") from None

    def _version(self) -> int:
        """The schema version of the index (0: a new, empty database)."""
        try:
            has_version = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='version'").fetchone()
            if not has_version:
                return 0
            row = self.conn.execute("SELECT version FROM version").fetchone()
        except sqlite3.DatabaseError as err:
            raise RktError(f"store index: {err}") from None
        return row[0] if row else 0

    def _migrate(self, backups: Path) -> None:
        latest = len(MIGRATIONS)
        current = self._version()
        try:
            if current > latest:
                raise RktError(f"store index schema version {current} is newer than this rkt "
                               f"supports ({latest})")
            if current == latest:
                return
            if current > 0:
                self._backup(backups, current)
            with self.transaction():
                for statements in MIGRATIONS[current:]:
                    for sql in statements:
                        self.conn.execute(sql)
                self.conn.execute("DELETE FROM version")
                self.conn.execute("INSERT INTO version (version) VALUES (?)", (latest,))
        except sqlite3.DatabaseError as err:
            raise RktError(f"store index: {err}") from None

    def _backup(self, backups: Path, version: int) -> None:
        """A copy of the index before migrating it, keeping the newest few (as rkt)."""
        backups.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(backups / f"index-v{version}-{time.time_ns()}.sqlite")
        try:
            self.conn.backup(target)
        finally:
            target.close()
        for old in sorted(backups.glob("index-v*.sqlite"), key=lambda p: p.stat().st_mtime)[:-MAX_BACKUPS]:
            old.unlink(missing_ok=True)

    def transaction(self):
        return _Transaction(self.conn)

    def close(self) -> None:
        self.conn.close()

    # -- images --------------------------------------------------------------------------

    def get(self, image_id: str) -> ImageInfo | None:
        row = self.conn.execute(f"SELECT {_INFO_COLUMNS} FROM aciinfo WHERE id = ?",
                                (image_id,)).fetchone()
        return _info(row) if row else None

    def manifest_bytes(self, image_id: str) -> bytes | None:
        row = self.conn.execute("SELECT manifest FROM aciinfo WHERE id = ?", (image_id,)).fetchone()
        return bytes(row[0]) if row else None

    def with_prefix(self, prefix: str) -> list[ImageInfo]:
        """Rows whose ID starts with `prefix` (non-empty): a range of the primary key's index,
        where LIKE (case-insensitive) would read every row, manifests included."""
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self.conn.execute(
            f"SELECT {_INFO_COLUMNS} FROM aciinfo WHERE id >= ? AND id < ?", (prefix, end))
        return [_info(r) for r in rows]

    def with_name(self, name: str) -> list[ImageInfo]:
        rows = self.conn.execute(
            f"SELECT {_INFO_COLUMNS} FROM aciinfo WHERE name = ? ORDER BY importtime DESC", (name,))
        return [_info(r) for r in rows]

    def all(self) -> list[ImageInfo]:
        rows = self.conn.execute(f"SELECT {_INFO_COLUMNS} FROM aciinfo ORDER BY importtime")
        return [_info(r) for r in rows]

    def insert(self, image_id: str, name: str, labels: dict, manifest: bytes, size: int,
               latest: bool, tree_size: int = 0) -> bool:
        """Add the image's row; False if it is already there (a re-import changes nothing)."""
        now = time.time_ns()
        with self.transaction():
            if self.conn.execute("SELECT 1 FROM aciinfo WHERE id = ?", (image_id,)).fetchone():
                return False
            self.conn.execute(
                "INSERT INTO aciinfo (id, name, labels, manifest, importtime, lastused, size,"
                " treestoresize, latest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (image_id, name, jsonio.dumps(labels, sort_keys=True), manifest, now, now, size,
                 tree_size, int(latest)))
        return True

    def delete(self, image_id: str) -> bool:
        with self.transaction():
            cur = self.conn.execute("DELETE FROM aciinfo WHERE id = ?", (image_id,))
            self.conn.execute("DELETE FROM remote WHERE blobkey = ?", (image_id,))
        return cur.rowcount > 0

    def set_tree_size(self, image_id: str, size: int) -> None:
        with self.transaction():
            self.conn.execute("UPDATE aciinfo SET treestoresize = ? WHERE id = ?", (size, image_id))

    # -- remotes (filled by the remote fetcher) ----------------------------------------------

    def get_remote(self, aci_url: str) -> Remote | None:
        row = self.conn.execute(
            "SELECT aciurl, sigurl, etag, blobkey, cachemaxage, downloadtime FROM remote"
            " WHERE aciurl = ?", (aci_url,)).fetchone()
        return Remote(*row) if row else None

    def set_remote(self, remote: Remote) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR REPLACE INTO remote (aciurl, sigurl, etag, blobkey, cachemaxage,"
                " downloadtime) VALUES (?, ?, ?, ?, ?, ?)",
                (remote.aci_url, remote.sig_url, remote.etag, remote.image_id,
                 remote.cache_max_age, remote.download_time))


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT: writers queue on the busy timeout instead of failing."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
        return False
