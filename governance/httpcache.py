"""On-disk cache for forge API scans, so a repeat scan costs (almost) no rate limit.

One SQLite database (stdlib sqlite3, WAL mode) under a cache folder, with four tables:

- `responses`: conditional-request cache. The key is a hash of an identity fingerprint
  and the URL; the value is the ETag, the body and the `Link` header (pagination), so a
  `304 Not Modified` answer (free of rate-limit charge on GitHub) can be served from disk;
- `blobs`: file contents by git blob id (content-addressed: a blob whose id did not
  change is never fetched again), or the fact that a blob is binary;
- `trees`: a commit's recursive file listing by git tree id (content-addressed);
- `repos`: per identity and repository, what the last scan saw (head commit, tree,
  `pushed_at`), to skip work on repositories that did not change.

Every row records the day it was last written or read (`used`, a day number), so
`ForgeCache.evict` can drop what recent scans no longer touch. Reads do not write: the
rows they touch are remembered and marked in one batched `UPDATE` (at most once per row
and day), flushed every few hundred rows and on `close`.

Credentials never reach the database: callers pass an identity *fingerprint* (a hash),
see `fingerprint`. The folder is created private to the user (0700), the file 0600, since
it holds the contents of private repositories.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.errors import ConfigError

logger = logging.getLogger(__name__)

DATABASE_NAME = "forge-cache.sqlite3"
_SCHEMA_VERSION = 2  # 2: a `used` day number on every cached row

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, etag TEXT NOT NULL, link TEXT NOT NULL, body BLOB NOT NULL,
    stored REAL NOT NULL, used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
    sha TEXT PRIMARY KEY, binary INTEGER NOT NULL, data BLOB NOT NULL, used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS trees (sha TEXT PRIMARY KEY, data BLOB NOT NULL,
    used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS repos (key TEXT PRIMARY KEY, state TEXT NOT NULL,
    used INTEGER NOT NULL);
"""

# The cached tables: name -> (key column, payload columns measured by `stats`).
_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "responses": ("key", ("key", "etag", "link", "body")),
    "blobs": ("sha", ("sha", "data")),
    "trees": ("sha", ("sha", "data")),
    "repos": ("key", ("key", "state")),
}
# Rows read but not yet marked as used today, written together once there are this many.
_TOUCH_BATCH = 500
_SECONDS_PER_DAY = 86_400


def today() -> int:
    """The current day number (days since 1970-01-01, UTC): the unit of `used`."""
    return int(time.time() // _SECONDS_PER_DAY)


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/governance, else ~/.cache/governance."""
    base = os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "governance"


def fingerprint(*parts: str) -> str:
    """A stable, one-way identity for cache keys: never the credential itself."""
    digest = hashlib.sha256(b"governance-cache-v1")
    for part in parts:
        digest.update(b"\0" + part.encode("utf-8"))
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedResponse:
    etag: str
    body: bytes
    link: str = ""


@dataclass(frozen=True)
class CachedBlob:
    binary: bool
    data: bytes


@dataclass(frozen=True)
class TableStats:
    rows: int
    bytes: int  # stored payload (compressed bodies, keys), not counting SQLite's overhead


@dataclass(frozen=True)
class CacheStats:
    tables: dict[str, TableStats]
    file_bytes: int  # the database file plus its write-ahead log

    @property
    def rows(self) -> int:
        return sum(table.rows for table in self.tables.values())


@dataclass(frozen=True)
class EvictionStats:
    removed: dict[str, int] = field(default_factory=dict)  # rows deleted per table
    file_bytes_before: int = 0
    file_bytes_after: int = 0

    @property
    def rows(self) -> int:
        return sum(self.removed.values())


class ForgeCache:
    """Thread-safe: each thread gets its own connection (WAL lets readers and one writer
    work at once; writers wait for each other up to `timeout` seconds)."""

    def __init__(self, folder: Path, timeout: float = 30.0):
        self.folder = folder.expanduser()
        self.path = self.folder / DATABASE_NAME
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        # table -> keys read while their `used` day was older than today (see _touch).
        self._touched: dict[str, set[str]] = {table: set() for table in _TABLES}
        # When a list: every store_state is also appended to it (identity, repository,
        # state), for the process that lists to learn what a worker saw (governance.distributed).
        self.journal: list[tuple[str, str, dict[str, Any]]] | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                self.path.touch(mode=0o600)
            self._connection()
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(f"cannot use the cache folder {self.folder}: {error}") from None

    # ------------------------------------------------------------------ connections

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, timeout=self._timeout, check_same_thread=False, isolation_level=None
            )
            # Only takes effect on a new, empty file (an older file is converted by the
            # first `evict`): freed pages can then be returned with incremental_vacuum.
            connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            row = connection.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None:
                connection.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)",
                                   (str(_SCHEMA_VERSION),))
            elif row[0] != str(_SCHEMA_VERSION):
                # An older layout: start afresh rather than misread it (dropped, not
                # emptied, since the tables' columns changed).
                with _transaction(connection, immediate=True):
                    current = connection.execute(
                        "SELECT value FROM meta WHERE key = 'version'").fetchone()
                    if current[0] != str(_SCHEMA_VERSION):  # no other thread did it meanwhile
                        for table in _TABLES:
                            connection.execute(f"DROP TABLE IF EXISTS {table}")
                        connection.execute("UPDATE meta SET value = ? WHERE key = 'version'",
                                           (str(_SCHEMA_VERSION),))
                connection.executescript(_SCHEMA)
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        """Record what was read, then close every connection; the cache reopens them when
        used again."""
        try:
            self.flush()
        except sqlite3.Error as error:
            # A lost mark only makes a later eviction drop those rows a little earlier.
            logger.debug("forge cache: could not record which entries were used: %s", error)
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()

    # ------------------------------------------------------------------ responses

    @staticmethod
    def _response_key(identity: str, url: str) -> str:
        return fingerprint(identity, url)

    def response(self, identity: str, url: str) -> CachedResponse | None:
        key = self._response_key(identity, url)
        row = self._connection().execute(
            "SELECT etag, body, link, used FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self._touch("responses", key, row[3])
        return CachedResponse(row[0], zlib.decompress(row[1]), row[2])

    def store_response(self, identity: str, url: str, response: CachedResponse) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
            (self._response_key(identity, url), response.etag, response.link,
             zlib.compress(response.body), time.time(), today()),
        )

    # ------------------------------------------------------------------ blobs

    def blob(self, sha: str) -> CachedBlob | None:
        row = self._connection().execute(
            "SELECT binary, data, used FROM blobs WHERE sha = ?", (sha,)).fetchone()
        if row is None:
            return None
        self._touch("blobs", sha, row[2])
        return CachedBlob(bool(row[0]), zlib.decompress(row[1]))

    def known_blobs(self, shas: Iterable[str]) -> set[str]:
        """Which of these blob ids the cache holds (text or binary marker)."""
        wanted = list(dict.fromkeys(shas))
        found: set[str] = set()
        connection = self._connection()
        day = today()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = connection.execute(
                f"SELECT sha, used FROM blobs WHERE sha IN ({marks})", chunk).fetchall()
            found.update(row[0] for row in rows)
            # Known means used: the caller will not fetch it, so it counts as a read.
            self._touch_many("blobs", [sha for sha, used in rows if used < day])
        return found

    def store_blobs(self, blobs: Mapping[str, CachedBlob]) -> None:
        if not blobs:
            return
        connection = self._connection()
        day = today()
        with _transaction(connection):
            connection.executemany(
                "INSERT OR REPLACE INTO blobs VALUES (?, ?, ?, ?)",
                [(sha, int(blob.binary), zlib.compress(blob.data), day)
                 for sha, blob in blobs.items()],
            )

    # ------------------------------------------------------------------ trees

    def tree(self, sha: str) -> Any:
        """A stored tree listing (JSON-compatible value), or None."""
        row = self._connection().execute(
            "SELECT data, used FROM trees WHERE sha = ?", (sha,)).fetchone()
        if row is None:
            return None
        self._touch("trees", sha, row[1])
        return json.loads(zlib.decompress(row[0]))

    def store_tree(self, sha: str, listing: Any) -> None:
        data = zlib.compress(json.dumps(listing, separators=(",", ":")).encode("utf-8"))
        self._connection().execute("INSERT OR REPLACE INTO trees VALUES (?, ?, ?)",
                                   (sha, data, today()))

    # ------------------------------------------------------------------ repository state

    def state(self, identity: str, repository: str) -> dict[str, Any] | None:
        key = fingerprint(identity, repository)
        row = self._connection().execute(
            "SELECT state, used FROM repos WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        self._touch("repos", key, row[1])
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def store_state(self, identity: str, repository: str, state: Mapping[str, Any]) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO repos VALUES (?, ?, ?)",
            (fingerprint(identity, repository), json.dumps(dict(state), sort_keys=True),
             today()),
        )
        if self.journal is not None:
            self.journal.append((identity, repository, dict(state)))


    # ------------------------------------------------------------------ last use, eviction

    def _touch(self, table: str, key: str, used: int) -> None:
        if used < today():
            self._touch_many(table, [key])

    def _touch_many(self, table: str, keys: Iterable[str]) -> None:
        """Remember rows read today whose `used` is older; written in batches (flush)."""
        with self._lock:
            pending = self._touched[table]
            pending.update(keys)
            full = sum(len(keys_) for keys_ in self._touched.values()) >= _TOUCH_BATCH
        if full:
            self.flush()

    def flush(self) -> None:
        """Mark the rows read since the last flush as used today (one transaction)."""
        with self._lock:
            touched = {table: sorted(keys) for table, keys in self._touched.items() if keys}
            for pending in self._touched.values():
                pending.clear()
        if not touched:
            return
        day = today()
        connection = self._connection()
        with _transaction(connection):
            for table, keys in touched.items():
                column = _TABLES[table][0]
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    connection.execute(
                        f"UPDATE {table} SET used = ? WHERE {column} IN ({marks}) AND used < ?",
                        [day, *chunk, day])

    def _file_bytes(self) -> int:
        wal = self.path.with_name(self.path.name + "-wal")
        return sum(path.stat().st_size for path in (self.path, wal) if path.exists())

    def stats(self) -> CacheStats:
        """Rows and stored bytes per table, and the size of the file on disk."""
        self.flush()
        connection = self._connection()
        tables: dict[str, TableStats] = {}
        for table, (_, columns) in _TABLES.items():
            size = " + ".join(f"length({column})" for column in columns)
            rows, stored = connection.execute(
                f"SELECT COUNT(*), COALESCE(SUM({size}), 0) FROM {table}").fetchone()
            tables[table] = TableStats(rows=int(rows), bytes=int(stored))
        return CacheStats(tables=tables, file_bytes=self._file_bytes())

    def evict(self, older_than_days: int) -> EvictionStats:
        """Delete what no scan wrote or read in the last `older_than_days` days (0: all not
        used today), then return the freed space to the file system."""
        if older_than_days < 0:
            raise ValueError("older_than_days must be 0 or more")
        self.flush()
        before = self._file_bytes()
        oldest_kept = today() - older_than_days
        connection = self._connection()
        removed: dict[str, int] = {}
        with _transaction(connection, immediate=True):
            for table in _TABLES:
                cursor = connection.execute(f"DELETE FROM {table} WHERE used < ?", (oldest_kept,))
                removed[table] = cursor.rowcount
        if connection.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:  # incremental
            # executescript steps the pragma to the end (execute frees a single page).
            connection.executescript("PRAGMA incremental_vacuum;")
        else:
            # A file made before auto_vacuum was set: convert it, once (rewrites the file).
            connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
            connection.execute("VACUUM")
        # In WAL mode the file only shrinks when the log is written back into it.
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return EvictionStats(removed=removed, file_bytes_before=before,
                             file_bytes_after=self._file_bytes())


@contextmanager
def _transaction(connection: sqlite3.Connection, immediate: bool = False) -> Iterator[None]:
    connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
