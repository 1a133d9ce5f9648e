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

Credentials never reach the database: callers pass an identity *fingerprint* (a hash),
see `fingerprint`. The folder is created private to the user (0700), the file 0600, since
it holds the contents of private repositories.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.errors import ConfigError

DATABASE_NAME = "forge-cache.sqlite3"
_SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, etag TEXT NOT NULL, link TEXT NOT NULL, body BLOB NOT NULL,
    stored REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (
    sha TEXT PRIMARY KEY, binary INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS trees (sha TEXT PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS repos (key TEXT PRIMARY KEY, state TEXT NOT NULL);
"""


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
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.executescript(_SCHEMA)
            row = connection.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            if row is None:
                connection.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)",
                                   (str(_SCHEMA_VERSION),))
            elif row[0] != str(_SCHEMA_VERSION):
                # An older layout: start afresh rather than misread it.
                connection.executescript(
                    "DELETE FROM responses; DELETE FROM blobs; DELETE FROM trees; "
                    "DELETE FROM repos;")
                connection.execute("UPDATE meta SET value = ? WHERE key = 'version'",
                                   (str(_SCHEMA_VERSION),))
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return connection

    def close(self) -> None:
        """Close every connection; the cache reopens them when used again."""
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
        row = self._connection().execute(
            "SELECT etag, body, link FROM responses WHERE key = ?",
            (self._response_key(identity, url),),
        ).fetchone()
        if row is None:
            return None
        return CachedResponse(row[0], zlib.decompress(row[1]), row[2])

    def store_response(self, identity: str, url: str, response: CachedResponse) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
            (self._response_key(identity, url), response.etag, response.link,
             zlib.compress(response.body), time.time()),
        )

    # ------------------------------------------------------------------ blobs

    def blob(self, sha: str) -> CachedBlob | None:
        row = self._connection().execute(
            "SELECT binary, data FROM blobs WHERE sha = ?", (sha,)).fetchone()
        if row is None:
            return None
        return CachedBlob(bool(row[0]), zlib.decompress(row[1]))

    def known_blobs(self, shas: Iterable[str]) -> set[str]:
        """Which of these blob ids the cache holds (text or binary marker)."""
        wanted = list(dict.fromkeys(shas))
        found: set[str] = set()
        connection = self._connection()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = connection.execute(f"SELECT sha FROM blobs WHERE sha IN ({marks})", chunk)
            found.update(row[0] for row in rows)
        return found

    def store_blobs(self, blobs: Mapping[str, CachedBlob]) -> None:
        if not blobs:
            return
        connection = self._connection()
        with _transaction(connection):
            connection.executemany(
                "INSERT OR REPLACE INTO blobs VALUES (?, ?, ?)",
                [(sha, int(blob.binary), zlib.compress(blob.data)) for sha, blob in blobs.items()],
            )

    # ------------------------------------------------------------------ trees

    def tree(self, sha: str) -> Any:
        """A stored tree listing (JSON-compatible value), or None."""
        row = self._connection().execute("SELECT data FROM trees WHERE sha = ?", (sha,)).fetchone()
        return None if row is None else json.loads(zlib.decompress(row[0]))

    def store_tree(self, sha: str, listing: Any) -> None:
        data = zlib.compress(json.dumps(listing, separators=(",", ":")).encode("utf-8"))
        self._connection().execute("INSERT OR REPLACE INTO trees VALUES (?, ?)", (sha, data))

    # ------------------------------------------------------------------ repository state

    def state(self, identity: str, repository: str) -> dict[str, Any] | None:
        row = self._connection().execute(
            "SELECT state FROM repos WHERE key = ?", (fingerprint(identity, repository),)
        ).fetchone()
        if row is None:
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def store_state(self, identity: str, repository: str, state: Mapping[str, Any]) -> None:
        self._connection().execute(
            "INSERT OR REPLACE INTO repos VALUES (?, ?)",
            (fingerprint(identity, repository), json.dumps(dict(state), sort_keys=True)),
        )
        if self.journal is not None:
            self.journal.append((identity, repository, dict(state)))


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    connection.execute("BEGIN")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
