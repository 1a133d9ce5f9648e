"""Eviction from the forge cache (governance/httpcache.py).

The cache's clock is the `used` day number of each row: tests age rows by rewriting that
column in SQLite, then evict. The real GitHub provider talks HTTP to the fake GitHub
(tests/fakes/github.py) to show that a scan after eviction refetches only what was evicted.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from governance.cli import app
from governance.config import Config
from governance.engine import Engine
from governance.httpcache import (
    DATABASE_NAME,
    CachedBlob,
    CachedResponse,
    ForgeCache,
    today,
)
from governance.scan import load_policies

pytest.importorskip("github")
pytest.importorskip("werkzeug")

from tests.fakes.github import DEFAULT_TOKEN, FakeGitHub, github_forge

__all__ = ["github_forge"]  # the fixture, imported explicitly

TABLES = ("responses", "blobs", "trees", "repos")


def age(path: Path, days: int, table: str | None = None, where: str = "1") -> None:
    """Pretend the rows (of `table`, matching `where`) were last used `days` days ago."""
    with sqlite3.connect(path) as connection:
        for name in (table,) if table else TABLES:
            connection.execute(f"UPDATE {name} SET used = ? WHERE {where}", (today() - days,))
    connection.close()


def used_days(path: Path, table: str) -> dict[str, int]:
    key = "sha" if table in ("blobs", "trees") else "key"
    with sqlite3.connect(path) as connection:
        rows = connection.execute(f"SELECT {key}, used FROM {table}").fetchall()
    connection.close()
    return dict(rows)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ForgeCache]:
    opened = ForgeCache(tmp_path / "cache")
    yield opened
    opened.close()


def fill(cache: ForgeCache) -> None:
    cache.store_blobs({"b1": CachedBlob(False, b"one"), "b2": CachedBlob(True, b"")})
    cache.store_tree("t1", [{"path": "README.md"}])
    cache.store_tree("t2", [{"path": "main.py"}])
    cache.store_response("id", "https://forge/orgs/acme/repos", CachedResponse("W/1", b"[]"))
    cache.store_state("id", "acme/api", {"head": "c1"})


def test_reads_mark_rows_used_in_one_batch_and_unused_rows_are_evicted(
    cache: ForgeCache
) -> None:
    fill(cache)
    cache.close()
    age(cache.path, 10)
    assert cache.blob("b1") == CachedBlob(False, b"one")
    assert cache.tree("t1") == [{"path": "README.md"}]
    assert cache.known_blobs(["b2", "missing"]) == {"b2"}
    assert cache.response("id", "https://forge/orgs/acme/repos") is not None
    # Reads do not write: the marks wait for the batch (here: close).
    assert set(used_days(cache.path, "blobs").values()) == {today() - 10}
    cache.close()
    assert set(used_days(cache.path, "blobs").values()) == {today()}
    assert used_days(cache.path, "trees") == {"t1": today(), "t2": today() - 10}

    evicted = cache.evict(7)
    assert evicted.removed == {"responses": 0, "blobs": 0, "trees": 1, "repos": 1}
    assert cache.tree("t2") is None and cache.state("id", "acme/api") is None
    assert cache.tree("t1") is not None and cache.blob("b2") == CachedBlob(True, b"")
    # Used within the window: kept. Used exactly `days` + 1 ago: evicted.
    age(cache.path, 7, "trees", "sha = 't1'")
    assert cache.evict(7).rows == 0
    age(cache.path, 8, "trees", "sha = 't1'")
    assert cache.evict(7).removed["trees"] == 1
    assert cache.stats().tables["trees"].rows == 0


def test_rows_written_or_used_today_survive_eviction_of_everything_older(
    cache: ForgeCache
) -> None:
    fill(cache)
    assert cache.evict(0).rows == 0  # all written today
    stats = cache.stats()
    assert {table: stats.tables[table].rows for table in TABLES} == {
        "responses": 1, "blobs": 2, "trees": 2, "repos": 1}
    assert stats.rows == 6
    assert stats.tables["blobs"].bytes > 0 and stats.file_bytes > 0
    with pytest.raises(ValueError):
        cache.evict(-1)


def test_the_file_shrinks_after_eviction(cache: ForgeCache) -> None:
    # Random bytes do not compress: about 4 MB of blobs.
    cache.store_blobs({f"{n:040x}": CachedBlob(False, os.urandom(16_384)) for n in range(256)})
    cache.store_blobs({"kept": CachedBlob(False, b"small")})
    cache.close()
    age(cache.path, 40, "blobs", "sha != 'kept'")
    before = cache.stats()
    assert before.tables["blobs"].rows == 257
    assert before.tables["blobs"].bytes > 4_000_000

    evicted = cache.evict(30)
    assert evicted.removed["blobs"] == 256
    assert evicted.file_bytes_before > 4_000_000
    assert evicted.file_bytes_after < evicted.file_bytes_before / 10
    after = cache.stats()
    assert after.tables["blobs"].rows == 1 and after.file_bytes < 400_000
    assert cache.blob("kept") == CachedBlob(False, b"small")


def test_an_older_layout_starts_afresh_and_its_file_shrinks_on_eviction(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    with sqlite3.connect(folder / DATABASE_NAME) as old:  # version 1: no `used`, no auto_vacuum
        old.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "INSERT INTO meta VALUES ('version', '1');"
            "CREATE TABLE responses (key TEXT PRIMARY KEY, etag TEXT NOT NULL,"
            " link TEXT NOT NULL, body BLOB NOT NULL, stored REAL NOT NULL);"
            "CREATE TABLE blobs (sha TEXT PRIMARY KEY, binary INTEGER NOT NULL,"
            " data BLOB NOT NULL);"
            "CREATE TABLE trees (sha TEXT PRIMARY KEY, data BLOB NOT NULL);"
            "CREATE TABLE repos (key TEXT PRIMARY KEY, state TEXT NOT NULL);")
        old.executemany("INSERT INTO blobs VALUES (?, 0, ?)",
                        [(str(n), os.urandom(16_384)) for n in range(128)])
    old.close()
    cache = ForgeCache(folder)
    try:
        assert cache.stats().rows == 0  # the old rows are gone, not misread
        cache.store_blobs({"b": CachedBlob(False, b"new")})
        assert cache.blob("b") == CachedBlob(False, b"new")
        evicted = cache.evict(30)
        assert evicted.rows == 0
        assert evicted.file_bytes_after < evicted.file_bytes_before / 4
        with sqlite3.connect(cache.path) as check:
            assert check.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental now
        check.close()
    finally:
        cache.close()


# ---------------------------------------------------------------------- against the fake GitHub

FILES = {
    "api": {"README.md": "# api\n", ".github/workflows/ci.yml": "on: push\njobs: {}\n"},
    "web": {"README.md": "# web\n", ".github/workflows/ci.yml": "on: [push]\njobs: {}\n"},
}


def blob_id(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def scan(forge: FakeGitHub, source: str, cache_dir: Path) -> None:
    from governance.providers.github import GitHubProvider

    provider = GitHubProvider(source, token=DEFAULT_TOKEN, api_url=forge.url,
                              cache_dir=cache_dir, backoff=0.001)
    try:
        engine = Engine(list(load_policies(Config(path=None))[1]))
        assert list(engine.run(provider, provider.list_repos()))
    finally:
        provider.close()


def test_a_scan_after_eviction_refetches_only_what_was_evicted(
    github_forge: FakeGitHub, tmp_path: Path
) -> None:
    forge = github_forge
    forge.add_org("acme")
    for name, files in FILES.items():
        forge.add_repo("acme", name, files=files)
    folder = tmp_path / "cache"
    path = folder / DATABASE_NAME
    scan(forge, "acme", folder)
    forge.reset_counts()
    scan(forge, "acme", folder)
    assert forge.count() == 1  # warm: one GraphQL query, the listing answered 304
    assert forge.count(path="/repos/acme/*/git/trees/*") == 0

    age(path, 30)
    scan(forge, "acme/api", folder)  # a month later only acme/api is scanned
    cache = ForgeCache(folder)
    try:
        evicted = cache.evict(7)
    finally:
        cache.close()
    # web's tree, its two blobs and its state; the org listing's page.
    assert evicted.removed == {"responses": 1, "blobs": 2, "trees": 1, "repos": 1}

    forge.reset_counts()
    scan(forge, "acme", folder)
    assert forge.count(path="/orgs/acme/repos", status=200) == 1  # no ETag left: refetched
    assert forge.count(path="/repos/acme/web/git/trees/*") == 1
    assert forge.count(path="/repos/acme/api/git/trees/*") == 0  # still cached
    queries = " ".join(r.graphql_query for r in forge.requests if r.path == "/graphql")
    assert blob_id(FILES["web"]["README.md"]) in queries
    assert blob_id(FILES["api"]["README.md"]) not in queries
    assert forge.count() == 4  # listing, web's tree, the repository query, web's blobs
    assert DEFAULT_TOKEN.encode() not in b"".join(
        p.read_bytes() for p in folder.iterdir() if p.is_file())


def test_prune_evicts_the_cache_and_prints_what_it_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cache = ForgeCache(tmp_path / "cache")
    fill(cache)
    cache.close()
    age(cache.path, 20, "blobs", "sha = 'b1'")
    age(cache.path, 20, "trees", "sha = 't2'")
    runner = CliRunner(env={"COLUMNS": "250"})
    result = runner.invoke(app, ["prune", "--cache-days", "14", "--cache-dir",
                                 str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "evicted 2 cache entries (0 responses, 1 blobs, 1 trees, 0 repos)" in text
    assert "scan(s)" not in text  # the scan store was left alone (there is none here)
    assert cache.stats().rows == 4
    cache.close()
    # Without --cache-days the cache is left alone.
    age(cache.path, 20)
    assert runner.invoke(app, ["prune", "--keep", "1"]).exit_code != 0  # no store here
    assert cache.stats().rows == 4
    cache.close()
