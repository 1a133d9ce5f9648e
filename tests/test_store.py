"""The scan store: what a scan records, reports rendered from it, migrations, bad files,
retention. Scans run over real git repositories through run_scan and the real CLI."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from governance.demo import make_repo
from governance.errors import ConfigError
from governance.scan import ScanRequest, canonical_source, run_scan
from governance.store import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, Store

WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
WAIVER = """waivers:
  - {repository: "acme/legacy", policy: fixture-behaviour, reason: "being retired",
     owner: team@example.invalid, expires: 2030-01-31}
"""


def org(folder: Path, modes: dict[str, str]) -> Path:
    for name, mode in modes.items():
        make_repo(folder / name, {"MODE": mode + "\n", ".github/workflows/ci.yml": WORKFLOW})
    return folder


def scan(source: Path, config: Path, out: Path, **request: Any) -> Any:
    return run_scan(ScanRequest(f"local:{source}", config, store=out / "governance.db",
                                **request), out)


def spool(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    return org(tmp_path / "acme", {"api": "pass", "legacy": "fail", "web": "fail",
                                   "broken": "crash"})


def test_a_scan_is_recorded_whole_and_exports_the_same_findings(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    outcome = scan(acme, write_config(WAIVER), tmp_path / "out")
    with Store(tmp_path / "out" / "governance.db", create=False) as store:
        row = store.scan(outcome.scan_id)
        assert row is not None
        assert (row.source, row.pack, row.status) == (f"local:{acme}", "fixture-all", "partial")
        assert row.finished is not None and row.tool_version
        states = store.repository_states(row.id)
        assert sorted(states) == ["acme/api", "acme/broken", "acme/legacy", "acme/web"]
        assert {s.status for s in states.values()} == {"scanned"}
        assert states["acme/broken"].errors == 1
        assert all(s.findings == 2 and s.head_sha and len(s.head_sha) == 40
                   for s in states.values())
        exported = tmp_path / "exported.jsonl"
        assert store.export_spool(row.id, exported) == 8
    # Every field comes back, waivers, locations and details included, in the same order.
    assert spool(exported) == spool(outcome.spool)
    waived = [f for f in spool(exported) if f["outcome"] == "waived"]
    assert [(f["repository"], f["waiver"]["owner"], f["waiver"]["expires"]) for f in waived] == [
        ("acme/legacy", "team@example.invalid", "2030-01-31")]


def test_store_file_is_private_wal_and_marked_as_a_governance_store(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "governance.db"
    with Store(path) as store:
        conn = store.connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert store.version == SCHEMA_VERSION
        assert [v for (v,) in conn.execute("SELECT version FROM schema_version")] == [1, 2]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_reports_render_from_the_store_without_scanning(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path, cli: Callable[..., Any]
) -> None:
    write_config(WAIVER)
    first = cli("scan", "local:acme", "--out", "out", "-f", "json", "-f", "csv")
    assert first.code == 3, first.text  # partial: acme/broken crashes
    assert "scan 1 recorded in out/governance.db: 4 scanned" in first.text
    shutil.rmtree(acme)  # the repositories are gone: rendering cannot rescan
    again = cli("report", "--db", "out/governance.db", "--scan", "latest", "--out", "again",
                "-f", "json", "-f", "csv")
    assert again.code == 0, again.text
    assert "wrote again/findings.json" in again.text
    original = json.loads((tmp_path / "out" / "findings.json").read_text())
    rendered = json.loads((tmp_path / "again" / "findings.json").read_text())
    assert rendered["findings"] == original["findings"]
    assert rendered["summary"] == original["summary"]
    assert rendered["scan"]["scan_id"] == 1 and rendered["scan"]["source"] == "local:acme"
    assert rendered["scan"]["changes"]["previous_scan_id"] is None
    assert ((tmp_path / "again" / "findings.csv").read_text()
            == (tmp_path / "out" / "findings.csv").read_text())
    by_id = cli("report", "--db", "out/governance.db", "--scan", "1", "--out", "by-id",
                "-f", "csv")
    assert by_id.code == 0
    assert (tmp_path / "by-id" / "findings.csv").read_text() == (
        tmp_path / "out" / "findings.csv").read_text()


def test_no_db_records_nothing(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path, cli: Callable[..., Any]
) -> None:
    write_config()
    result = cli("scan", "local:acme", "--out", "out", "-f", "json", "--no-db")
    assert result.code == 3
    assert not (tmp_path / "out" / "governance.db").exists()
    assert "recorded" not in result.text
    clash = cli("scan", "local:acme", "--out", "out", "--no-db", "--resume")
    assert clash.code == 2
    assert "--no-db cannot be combined with --db, --resume or --fail-on-new" in clash.text


def _v1_database(path: Path) -> None:
    """A store as version 1 of the schema wrote it, made by the real first migration."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    version, create_v1 = MIGRATIONS[0]
    assert version == 1
    create_v1(conn)
    conn.execute("INSERT INTO schema_version VALUES (1, '2026-01-01T00:00:00+00:00')")
    for scan_id, outcome in ((1, "fail"), (2, "waived")):
        conn.execute(
            "INSERT INTO scans (id, source, pack, pack_fingerprint, tool_version, started, "
            "finished, status, meta) VALUES (?, 'local:/srv/acme', 'gitops-baseline', 'f1', "
            "'0.0.9', ?, ?, 'complete', '{\"repositories\": 1}')",
            (scan_id, f"2026-01-0{scan_id}T00:00:00+00:00", f"2026-01-0{scan_id}T00:05:00+00:00"))
        conn.execute("INSERT INTO repositories VALUES (?, 'acme/api', 0, ?, NULL, 'scanned', NULL)",
                     (scan_id, "a" * 40))
        for position, (policy, result) in enumerate((("readme-present", "pass"),
                                                     ("license-present", outcome))):
            waiver = None if result != "waived" else json.dumps({
                "repository": "acme/*", "policy": "license-present", "reason": "internal",
                "owner": "legal@example.invalid", "expires": None})
            unwaived = None if result != "waived" else json.dumps(
                {"outcome": "fail", "message": "no LICENSE", "details": {}})
            message = "no LICENSE" if policy == "license-present" else "README found"
            if result == "waived":
                message += " (waived: internal)"
            conn.execute(
                "INSERT INTO findings VALUES (?, 'acme/api', ?, ?, ?, 'low', 0, ?, 'high', ?, "
                "'', ?, ?, ?, ?)",
                (scan_id, policy, position, result, policy.title(), message,
                 json.dumps([["README.md", 1, ""]] if policy == "readme-present" else []),
                 json.dumps({"checked": ["README*"]}), waiver, unwaived))
    conn.execute("COMMIT")
    conn.close()


def test_a_version_1_store_is_migrated_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _v1_database(path)
    with Store(path, create=False) as store:
        assert store.version == 2
        assert [s.id for s in store.scans("local:/srv/acme")] == [2, 1]
        first = store.findings(1, "acme/api")
        assert [(f.policy, f.outcome.value, f.message) for f in first] == [
            ("readme-present", "pass", "README found"), ("license-present", "fail", "no LICENSE")]
        assert first[0].locations[0].path == "README.md" and first[0].locations[0].line == 1
        assert first[0].details == {"checked": ["README*"]}
        (_, waived) = store.findings(2, "acme/api")
        assert waived.outcome.value == "waived" and waived.waiver is not None
        assert waived.waiver.owner == "legal@example.invalid"
        (_, before) = store.findings(2, "acme/api", unwaived=True)
        assert (before.outcome.value, before.message, before.waiver) == ("fail", "no LICENSE",
                                                                         None)
        conn = store.connection
        # The README finding is the same text in both scans: stored once.
        assert conn.execute("SELECT COUNT(*) FROM finding_bodies").fetchone()[0] == 3
        assert store.check_integrity() == []
        assert store.repository_states(1)["acme/api"].head_sha == "a" * 40


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("just some notes, long enough to look like a file header\n" * 20)
    with pytest.raises(ConfigError, match="not a governance store"):
        Store(text)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE accounts (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="an SQLite database of something else"):
        Store(other)
    assert sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall() == [
        ("accounts",)]  # left untouched


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        ("text", "not a governance store (file is not a database)"),
        ("newer", "written by a newer version of governance (store schema v99; this version "
                  "reads up to v2): upgrade governance"),
        ("missing", "no governance store here; `governance scan` creates it"),
    ],
)
def test_bad_store_files_exit_2_with_a_clear_message(
    prepare: str, message: str, cli: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    if prepare == "text":
        path.write_text("x" * 4096)
    elif prepare == "newer":
        Store(path).close()
        conn = sqlite3.connect(path)
        conn.execute("INSERT INTO schema_version VALUES (99, 'later')")
        conn.commit()
        conn.close()
    for command in (["diff"], ["history"], ["report", "--out", "o"], ["prune", "--keep", "1"]):
        result = cli(*command, "--db", "store.db")
        assert result.code == 2, result.text
        assert message in result.text
        assert "Traceback" not in result.text


def test_scan_into_a_foreign_database_exits_2_and_leaves_it_alone(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path, cli: Callable[..., Any]
) -> None:
    write_config()
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    result = cli("scan", "local:acme", "--out", "out", "--db", "app.db")
    assert result.code == 2
    assert "app.db: not a governance store (an SQLite database of something else)" in result.text


def test_canonical_source_names_a_folder_once_however_it_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "acme").mkdir()
    expected = f"local:{tmp_path / 'acme'}"
    for spec in ("acme", "local:acme", "./acme/", f"local:{tmp_path}/x/../acme"):
        assert canonical_source(spec) == expected
    assert canonical_source("github:Acme/") == "github:acme"


def test_prune_keeps_the_newest_scans_and_what_can_be_resumed(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path, cli: Callable[..., Any]
) -> None:
    config = write_config()
    out = tmp_path / "out"
    for _ in range(4):
        scan(acme, config, out, full=True)
    db = out / "governance.db"
    with Store(db) as store:  # an interrupted scan older than the newest finished one
        store.set_status(2, "interrupted")
        unfinished = store.begin_scan(f"local:{acme}", "fixture-all", "x", "0", {})
        assert unfinished == 5
    result = cli("prune", "--keep", "1", "--db", str(db))
    assert result.code == 0, result.text
    # 1 and 3: beyond the newest finished one; 2: unfinished, older than it, so it can
    # never be resumed; 5: unfinished and newest, so `--resume` may still continue it.
    assert "deleted 3 scan(s) (1, 2, 3)" in result.text
    with Store(db) as store:
        assert [s.id for s in store.scans()] == [5, 4]
        assert store.check_integrity() == []
        assert store.connection.execute(
            "SELECT COUNT(*) FROM finding_bodies WHERE id NOT IN "
            "(SELECT body_id FROM findings)").fetchone()[0] == 0
        exported = tmp_path / "kept.jsonl"
        assert store.export_spool(4, exported) == 8


def test_prune_needs_a_rule_and_keeps_at_least_one(cli: Callable[..., Any],
                                                   tmp_path: Path) -> None:
    Store(tmp_path / "g.db").close()
    assert cli("prune", "--db", "g.db").code == 2
    result = cli("prune", "--db", "g.db", "--keep", "0")
    assert result.code == 2
    assert "--keep must be at least 1" in result.text


def test_prune_by_age(acme: Path, write_config: Callable[..., Path], tmp_path: Path) -> None:
    config = write_config()
    out = tmp_path / "out"
    for _ in range(3):
        scan(acme, config, out)
    with Store(out / "governance.db") as store:
        store.connection.execute("UPDATE scans SET started = '2020-01-01T00:00:00+00:00' "
                                 "WHERE id < 3")
        result = store.prune(older_than=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30))
        assert result.scans == [1, 2]
        assert [s.id for s in store.scans()] == [3]
        # Even when every scan is old, the newest stays.
        store.connection.execute("UPDATE scans SET started = '2020-01-01T00:00:00+00:00'")
        assert store.prune(older_than=dt.datetime.now(dt.timezone.utc)).scans == []
