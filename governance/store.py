"""The scan store: every scan and its findings, in SQLite (stdlib sqlite3, WAL mode).

Schema (version 2; `schema_version` holds one row per migration applied, in order):

    scans          id, source, pack, pack_fingerprint, tool_version, started, finished,
                   status (running / complete / partial / interrupted), meta (JSON)
    repositories   per scan: name, position (order done), head_sha, settings_fingerprint,
                   status (scanned / failed / reused), reused_from (scan id)
    findings       per scan and repository: policy, position, outcome, severity, reused,
                   body_id
    finding_bodies the rest of a finding (title, confidence, message, remediation,
                   locations, details, waiver, and the finding before waivers when a waiver
                   changed it) as JSON, stored once whatever the number of scans repeating it

A scan writes each repository (its row and all its findings) in one transaction when the
repository is done, so a scan stopped at any point, even by SIGKILL, leaves a consistent
database that a resumed scan continues. Readers see whole repositories only (WAL: readers
never block the writer). A `running` scan that no process runs any more was killed.

The file is created private to the user (0600): findings quote private repositories.
Credentials never reach it. A file that is not a governance store, or one written by a
newer version, is refused with a clear message (ConfigError: exit code 2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance.engine import RepoResult
from governance.errors import ConfigError
from governance.models import Confidence, Finding, Location, Outcome, Severity, Waiver

DEFAULT_NAME = "governance.db"
SCHEMA_VERSION = 2
# PRAGMA application_id: "GOVN". Marks the file as a governance store.
APPLICATION_ID = int.from_bytes(b"GOVN", "big")

RUNNING, COMPLETE, PARTIAL, INTERRUPTED = "running", "complete", "partial", "interrupted"
FINISHED = (COMPLETE, PARTIAL)  # ran to the end (partial: some finding is an error)
UNFINISHED = (RUNNING, INTERRUPTED)
SCANNED, FAILED, REUSED = "scanned", "failed", "reused"


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class ScanRow:
    id: int
    source: str
    pack: str
    pack_fingerprint: str
    tool_version: str
    started: str
    finished: str | None
    status: str
    meta: dict[str, Any]

    @property
    def done(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True)
class RepoState:
    """A repository as a scan recorded it."""

    name: str
    position: int
    head_sha: str | None
    settings_fingerprint: str | None
    status: str
    findings: int
    errors: int


@dataclass(frozen=True)
class PruneResult:
    scans: list[int]
    bodies: int


# --------------------------------------------------------------------------- migrations

Step = Callable[[sqlite3.Connection], None]


def _create_v1(conn: sqlite3.Connection) -> None:
    """Version 1: every finding stored whole, once per scan."""
    for statement in (
        f"PRAGMA application_id = {APPLICATION_ID}",
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied TEXT NOT NULL)",
        """CREATE TABLE scans (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            pack TEXT NOT NULL,
            pack_fingerprint TEXT NOT NULL,
            tool_version TEXT NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT NOT NULL
                CHECK (status IN ('running', 'complete', 'partial', 'interrupted')),
            meta TEXT NOT NULL DEFAULT '{}')""",
        "CREATE INDEX scans_by_source ON scans (source, id)",
        """CREATE TABLE repositories (
            scan_id INTEGER NOT NULL REFERENCES scans (id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            position INTEGER NOT NULL,
            head_sha TEXT,
            settings_fingerprint TEXT,
            status TEXT NOT NULL,
            reused_from INTEGER,
            PRIMARY KEY (scan_id, name)) WITHOUT ROWID""",
        """CREATE TABLE findings (
            scan_id INTEGER NOT NULL,
            repository TEXT NOT NULL,
            policy TEXT NOT NULL,
            position INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            severity TEXT NOT NULL,
            reused INTEGER NOT NULL DEFAULT 0,
            title TEXT NOT NULL,
            confidence TEXT NOT NULL,
            message TEXT NOT NULL,
            remediation TEXT NOT NULL,
            locations TEXT NOT NULL,
            details TEXT NOT NULL,
            waiver TEXT,
            unwaived TEXT,
            PRIMARY KEY (scan_id, repository, policy),
            FOREIGN KEY (scan_id, repository) REFERENCES repositories (scan_id, name)
                ON DELETE CASCADE) WITHOUT ROWID""",
    ):
        conn.execute(statement)


_V2_FINDINGS = """CREATE TABLE {name} (
    scan_id INTEGER NOT NULL,
    repository TEXT NOT NULL,
    policy TEXT NOT NULL,
    position INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    severity TEXT NOT NULL,
    reused INTEGER NOT NULL DEFAULT 0,
    body_id INTEGER NOT NULL,  -- finding_bodies.id (no REFERENCES: pruning stays fast)
    PRIMARY KEY (scan_id, repository, policy),
    FOREIGN KEY (scan_id, repository) REFERENCES repositories (scan_id, name)
        ON DELETE CASCADE) WITHOUT ROWID"""


def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """Version 2: finding bodies deduplicated across scans.

    A nightly scan repeats most findings word for word; storing the text once and a small
    row per scan keeps the store's growth per scan to the rows. Every v1 finding is moved.
    """
    conn.execute("""CREATE TABLE finding_bodies (
        id INTEGER PRIMARY KEY,
        digest BLOB NOT NULL UNIQUE,
        body TEXT NOT NULL)""")
    conn.execute(_V2_FINDINGS.format(name="findings_v2"))
    rows = conn.execute(
        "SELECT scan_id, repository, policy, position, outcome, severity, reused, title, "
        "confidence, message, remediation, locations, details, waiver, unwaived FROM findings")
    for row in rows.fetchall():
        body = _body_text({
            "title": row[7], "confidence": row[8], "message": row[9], "remediation": row[10],
            "locations": json.loads(row[11]), "details": json.loads(row[12]),
            "waiver": json.loads(row[13]) if row[13] else None,
            "unwaived": json.loads(row[14]) if row[14] else None,
        })
        conn.execute("INSERT INTO findings_v2 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (*row[:7], _intern_body(conn, body)))
    conn.execute("DROP TABLE findings")
    conn.execute("ALTER TABLE findings_v2 RENAME TO findings")


# Ordered: a new database runs them all, an older one those after its version.
MIGRATIONS: tuple[tuple[int, Step], ...] = ((1, _create_v1), (2, _v1_to_v2))
assert MIGRATIONS[-1][0] == SCHEMA_VERSION


def _body_text(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str)


def _intern_body(conn: sqlite3.Connection, text: str) -> int:
    digest = hashlib.sha256(text.encode("utf-8")).digest()[:16]
    row = conn.execute("SELECT id FROM finding_bodies WHERE digest = ?", (digest,)).fetchone()
    if row is not None:
        return int(row[0])
    cursor = conn.execute("INSERT INTO finding_bodies (digest, body) VALUES (?, ?)",
                          (digest, text))
    assert cursor.lastrowid is not None
    return cursor.lastrowid


# --------------------------------------------------------------------------- the store

class Store:
    """One governance store file. `create=False` refuses a missing or empty file (read
    commands: an empty file is a store that a scan is creating; they never initialise it)."""

    def __init__(self, path: Path, *, create: bool = True):
        self.path = path
        if path.is_dir():
            raise ConfigError("is a folder, not a governance store", str(path))
        if not path.exists():
            if not create:
                raise ConfigError("no governance store here; `governance scan` creates it",
                                  str(path))
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        try:
            self._conn = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
        except sqlite3.Error as error:
            raise ConfigError(f"cannot open the store: {error}", str(path)) from None
        try:
            self._open(create)
        except sqlite3.DatabaseError as error:
            self._conn.close()
            raise ConfigError(f"not a governance store ({error})", str(path)) from None
        except BaseException:
            self._conn.close()
            raise

    def _open(self, create: bool) -> None:
        conn = self._conn
        # One read transaction, one snapshot: a store that a scan is creating right now is
        # seen before its first migration or after it, never half (no mark but tables).
        conn.execute("BEGIN")
        try:
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {row[0] for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.execute("COMMIT")
        if application_id != APPLICATION_ID and tables:
            raise ConfigError("not a governance store (an SQLite database of something else)",
                              str(self.path))
        if not tables:
            if not create:  # empty: a scan is creating it; a reader must not race it
                raise ConfigError("no governance store here yet; `governance scan` creates it",
                                  str(self.path))
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # only before the first table
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across crashes of us
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 30000")
        version = self._version()
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"written by a newer version of governance (store schema v{version}; this "
                f"version reads up to v{SCHEMA_VERSION}): upgrade governance", str(self.path))
        if version < SCHEMA_VERSION:
            self._migrate()

    def _version(self) -> int:
        exists = self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if not exists:
            if self._conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
                raise ConfigError("damaged governance store: no schema_version table",
                                  str(self.path))
            return 0
        row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        for version, step in MIGRATIONS:
            with self.transaction():
                if self._version() >= version:  # another process got there first
                    continue
                step(self._conn)
                self._conn.execute("INSERT INTO schema_version VALUES (?, ?)",
                                   (version, utc_now()))

    @property
    def version(self) -> int:
        return self._version()

    @property
    def connection(self) -> sqlite3.Connection:
        """For read queries of governance.history."""
        return self._conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back on any exception, Ctrl-C included."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ scans

    def begin_scan(self, source: str, pack: str, pack_fingerprint: str, tool_version: str,
                   meta: Mapping[str, Any], started: str | None = None) -> int:
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO scans (source, pack, pack_fingerprint, tool_version, started, "
                "status, meta) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (source, pack, pack_fingerprint, tool_version, started or utc_now(), RUNNING,
                 json.dumps(meta, default=str)))
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def reopen_scan(self, scan_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE scans SET status = ?, finished = NULL WHERE id = ?",
                         (RUNNING, scan_id))

    def keep_only(self, scan_id: int, seen: Iterable[str]) -> list[str]:
        """Drop the repositories of a scan not in `seen`: those an earlier run of a resumed
        scan recorded that the last listing no longer holds (deleted, excluded)."""
        keep = set(seen)
        with self.transaction() as conn:
            gone = [name for (name,) in conn.execute(
                "SELECT name FROM repositories WHERE scan_id = ?", (scan_id,))
                if name not in keep]
            conn.executemany("DELETE FROM repositories WHERE scan_id = ? AND name = ?",
                             [(scan_id, name) for name in gone])
        return gone

    def finish_scan(self, scan_id: int, status: str, meta: Mapping[str, Any]) -> None:
        """The scan ran to its end."""
        with self.transaction() as conn:
            conn.execute("UPDATE scans SET status = ?, finished = ?, meta = ? WHERE id = ?",
                         (status, utc_now(), json.dumps(meta, default=str), scan_id))

    def set_status(self, scan_id: int, status: str) -> None:
        with self.transaction() as conn:
            conn.execute("UPDATE scans SET status = ? WHERE id = ?", (status, scan_id))

    def delete_scan(self, scan_id: int) -> None:
        with self.transaction() as conn:
            conn.execute("DELETE FROM scans WHERE id = ?", (scan_id,))

    _SCAN_COLUMNS = ("id, source, pack, pack_fingerprint, tool_version, started, finished, "
                     "status, meta")

    def scan(self, scan_id: int) -> ScanRow | None:
        row = self._conn.execute(f"SELECT {self._SCAN_COLUMNS} FROM scans WHERE id = ?",
                                 (scan_id,)).fetchone()
        return _scan_row(row) if row else None

    def scans(self, source: str | None = None, *, finished: bool | None = None,
              fingerprint: str | None = None, before: int | None = None,
              limit: int | None = None) -> list[ScanRow]:
        """Scans, newest first, filtered by source, status (finished or not), pack
        fingerprint, and id (`before`: older than that scan)."""
        where: list[str] = ["1 = 1"]
        params: list[object] = []
        if source is not None:
            where.append("source = ?")
            params.append(source)
        if finished is not None:
            statuses = FINISHED if finished else UNFINISHED
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if fingerprint is not None:
            where.append("pack_fingerprint = ?")
            params.append(fingerprint)
        if before is not None:
            where.append("id < ?")
            params.append(before)
        sql = (f"SELECT {self._SCAN_COLUMNS} FROM scans WHERE {' AND '.join(where)} "
               "ORDER BY id DESC")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_scan_row(row) for row in self._conn.execute(sql, params)]

    def latest(self, source: str | None = None, **filters: Any) -> ScanRow | None:
        found = self.scans(source, limit=1, **filters)
        return found[0] if found else None

    def sources(self) -> list[str]:
        return [row[0] for row in self._conn.execute(
            "SELECT source FROM scans GROUP BY source ORDER BY MAX(id) DESC")]

    # ------------------------------------------------------------------ repositories

    def repository_states(self, scan_id: int) -> dict[str, RepoState]:
        rows = self._conn.execute(
            "SELECT r.name, r.position, r.head_sha, r.settings_fingerprint, r.status, "
            "COUNT(f.policy), COALESCE(SUM(f.outcome = 'error'), 0) "
            "FROM repositories r LEFT JOIN findings f "
            "ON f.scan_id = r.scan_id AND f.repository = r.name "
            "WHERE r.scan_id = ? GROUP BY r.name", (scan_id,))
        return {row[0]: RepoState(row[0], int(row[1]), row[2], row[3], row[4], int(row[5]),
                                  int(row[6])) for row in rows}

    def record_repository(self, scan_id: int, position: int, result: RepoResult,
                          reused_from: int | None = None) -> None:
        """A repository and all its findings, in one transaction."""
        name = result.ref.name
        with self.transaction() as conn:
            conn.execute("DELETE FROM repositories WHERE scan_id = ? AND name = ?",
                         (scan_id, name))
            conn.execute(
                "INSERT INTO repositories (scan_id, name, position, head_sha, "
                "settings_fingerprint, status, reused_from) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (scan_id, name, position, result.head_sha, result.settings_fingerprint,
                 result.status, reused_from))
            conn.executemany(
                "INSERT INTO findings (scan_id, repository, policy, position, outcome, "
                "severity, reused, body_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(scan_id, name, final.policy, index, final.outcome.value,
                  final.severity.value, int(final.policy in result.carried),
                  _intern_body(conn, _body_text(_body(final, before))))
                 for index, (final, before) in enumerate(
                     zip(result.findings, result.unwaived, strict=True))])

    def findings(self, scan_id: int, repository: str, *, unwaived: bool = False
                 ) -> list[Finding]:
        """A repository's findings in a scan; `unwaived`: as they were before waivers."""
        rows = self._conn.execute(
            "SELECT f.repository, f.policy, f.outcome, f.severity, b.body FROM findings f "
            "JOIN finding_bodies b ON b.id = f.body_id "
            "WHERE f.scan_id = ? AND f.repository = ? ORDER BY f.position",
            (scan_id, repository))
        return [_finding(row, unwaived) for row in rows]

    def iter_findings(self, scan_id: int) -> Iterator[Finding]:
        """Every finding of a scan, in the order the repositories were done."""
        rows = self._conn.execute(
            "SELECT f.repository, f.policy, f.outcome, f.severity, b.body FROM findings f "
            "JOIN repositories r ON r.scan_id = f.scan_id AND r.name = f.repository "
            "JOIN finding_bodies b ON b.id = f.body_id "
            "WHERE f.scan_id = ? ORDER BY r.position, f.position", (scan_id,))
        for row in rows:
            yield _finding(row, False)

    def export_spool(self, scan_id: int, path: Path) -> int:
        """A scan's findings as a spool (JSON lines of Finding.as_dict), for the renderers."""
        count = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for finding in self.iter_findings(scan_id):
                out.write(json.dumps(finding.as_dict(), default=str) + "\n")
                count += 1
        return count

    # ------------------------------------------------------------------ retention

    def prune(self, keep: int | None = None, older_than: dt.datetime | None = None,
              source: str | None = None) -> PruneResult:
        """Delete old scans: beyond the `keep` newest finished scans of each source, and
        (if given) finished scans started before `older_than`. The newest finished scan of
        each source and an unfinished scan newer than it (resumable) always stay; unfinished
        scans older than it can never be resumed and go."""
        if keep is not None and keep < 1:
            raise ConfigError("--keep must be at least 1: the latest scan always stays")
        doomed: list[int] = []
        for each in ([source] if source else self.sources()):
            finished = self.scans(each, finished=True)
            if not finished:
                continue
            newest = finished[0].id
            for rank, row in enumerate(finished):
                if row.id == newest:
                    continue
                too_many = keep is not None and rank >= keep
                too_old = older_than is not None and _parse_time(row.started) < older_than
                if too_many or too_old:
                    doomed.append(row.id)
            doomed.extend(r.id for r in self.scans(each, finished=False) if r.id < newest)
        with self.transaction() as conn:
            conn.executemany("DELETE FROM scans WHERE id = ?", [(i,) for i in doomed])
            cursor = conn.execute("DELETE FROM finding_bodies WHERE id NOT IN "
                                  "(SELECT body_id FROM findings)")
            bodies = cursor.rowcount
        self._conn.execute("PRAGMA incremental_vacuum")
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return PruneResult(sorted(set(doomed)), bodies)

    def check_integrity(self) -> list[str]:
        """SQLite's integrity check plus foreign keys; empty when all is well."""
        problems = [row[0] for row in self._conn.execute("PRAGMA integrity_check")
                    if row[0] != "ok"]
        problems += [f"foreign key: {row}" for row in
                     self._conn.execute("PRAGMA foreign_key_check")]
        return problems


def _scan_row(row: Sequence[Any]) -> ScanRow:
    try:
        meta = json.loads(row[8]) if row[8] else {}
    except ValueError:
        meta = {}
    return ScanRow(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                   meta if isinstance(meta, dict) else {})


def _parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _body(final: Finding, before: Finding) -> dict[str, Any]:
    changed = (before.outcome is not final.outcome or before.message != final.message
               or before.details != final.details)
    return {
        "title": final.title,
        "confidence": final.confidence.value,
        "message": final.message,
        "remediation": final.remediation,
        "locations": [[loc.path, loc.line, loc.note] for loc in final.locations],
        "details": final.details,
        "waiver": final.waiver.as_dict() if final.waiver else None,
        "unwaived": {"outcome": before.outcome.value, "message": before.message,
                     "details": before.details} if changed else None,
    }


def _finding(row: Sequence[Any], unwaived: bool) -> Finding:
    repository, policy, outcome, severity, text = row
    body = json.loads(text)
    message, details, waiver = body["message"], body["details"], body.get("waiver")
    before = body.get("unwaived")
    if unwaived and before:
        outcome, message, details, waiver = (before["outcome"], before["message"],
                                             before["details"], None)
    elif unwaived:
        waiver = None
    return Finding(
        repository=repository,
        policy=policy,
        outcome=Outcome(outcome),
        severity=Severity(severity),
        message=message,
        locations=tuple(Location(path, line, note) for path, line, note in body["locations"]),
        remediation=body["remediation"],
        title=body["title"],
        confidence=Confidence(body["confidence"]),
        details=details if isinstance(details, dict) else {},
        waiver=_waiver(waiver) if waiver else None,
    )


def _waiver(data: Mapping[str, Any]) -> Waiver:
    expires = data.get("expires")
    return Waiver(repository=str(data["repository"]), policy=str(data["policy"]),
                  reason=str(data["reason"]), owner=str(data["owner"]),
                  expires=dt.date.fromisoformat(expires) if expires else None)
