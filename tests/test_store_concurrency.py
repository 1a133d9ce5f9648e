"""Concurrent readers see consistent data while a scan writes.

A real `python -m governance scan --full` (scan 3) of a local org writes the store while
two readers read it over and over: this test process, and a second process running this
very file as a script (`python tests/test_store_concurrency.py --db ...`). Every read
round goes through plain sqlite3 (read-only, one read transaction) and through
governance.store's public API and governance.history, and checks:

- every repository recorded for the running scan has exactly one finding per enabled
  policy, each with its body: never a half-written repository;
- the running scan only grows: positions 0..n-1, no repository lost, a recorded
  repository's findings never change, `running` never comes back after `complete`;
- the reads of the previous complete scan (its diff against the one before, totals,
  findings, repository states, every row of scans 1 and 2) never move, and the
  `history` / `diff` commands and trends print what they printed before the scan started
  for as long as it is running;
- no reader ever gets an exception ("database is locked" included).

A test-only `slow` policy (written into the test's folder) sleeps a little per repository
so that writes and reads interleave, and holds the scan at one repository until both
readers have seen it there: that the readers saw a half-done scan is certain, not a
timing guess. Loops end when the writer ends; the deadlines only guard against hangs.

The very first scan creates the store: readers polling for it meanwhile must see no store
yet or a whole one, and must not make that scan fail.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from governance.demo import make_repo
from governance.errors import ConfigError
from governance.history import changes, totals, trend_meta
from governance.store import Store

FIXTURE_POLICIES = Path(__file__).resolve().parent / "policies_fixture"

REPOSITORIES = 40
POLICIES = 3  # fixture-behaviour, fixture-workflow-yaml, slow
HOLD_AT = 20  # the scan holds at the 21st repository (20 recorded) until both readers saw it
RUNNING = 3  # the scan the readers watch; scans 1 and 2 are complete before it starts
CREATIONS = 100  # fresh stores created under racing readers
GUARD = 120.0  # seconds: against a hang only, never a measurement

SLOW_POLICY = """\
id: slow
title: Takes its time, and can hold the scan at one repository (test fixture)
severity: low
enabled: false
rationale: Lets readers interleave with a scan that writes.
remediation: None.
"""
SLOW_CHECK = """\
import os
import time
from pathlib import Path

from governance.checks import CheckContext, Result, passed


def check(ctx: CheckContext) -> Result:
    time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
    if ctx.repo.name == os.environ.get("SLOW_HOLD_AT"):
        release = Path(os.environ["SLOW_RELEASE"])
        give_up = time.monotonic() + 120  # the test releases it (or failed and went away)
        while not release.exists() and time.monotonic() < give_up:
            time.sleep(0.01)
    return passed("took its time")
"""
WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"


def _repo(org: Path, index: int, mode: str) -> None:
    make_repo(org / f"r-{index:02d}", {"MODE": mode + "\n", ".github/workflows/ci.yml": WORKFLOW})


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """An org of REPOSITORIES repositories, and a governance.yml with the slow policy."""
    slow = tmp_path / "policies" / "slow"
    slow.mkdir(parents=True)
    (slow / "policy.yml").write_text(SLOW_POLICY)
    (slow / "check.py").write_text(SLOW_CHECK)
    pack = tmp_path / "policies" / "packs" / "concurrency.yml"
    pack.parent.mkdir()
    pack.write_text("id: concurrency\ndefaults: false\npolicies:\n  fixture-behaviour: {}\n"
                    "  fixture-workflow-yaml: {}\n  slow: {}\n")
    (tmp_path / "governance.yml").write_text(
        f"pack: concurrency\npolicy_paths: [{json.dumps(str(FIXTURE_POLICIES))}, policies]\n")
    for index in range(REPOSITORIES):
        _repo(tmp_path / "acme", index, "fail" if index % 3 == 1 else "pass")
    return tmp_path


def _change_org(org: Path) -> None:
    """Between scans 1 and 2: one fixed, one new failure, one removed, one new repository
    (still REPOSITORIES of them, acme/r-20 still the 21st)."""
    for index, mode in ((1, "pass"), (3, "fail")):
        shutil.rmtree(org / f"r-{index:02d}")
        _repo(org, index, mode)
    shutil.rmtree(org / f"r-{REPOSITORIES - 1:02d}")
    _repo(org, REPOSITORIES, "fail")


# --------------------------------------------------------------------------- the reads

def _normal(value: object) -> Any:
    """As JSON would carry it: what the reader process compares with the baseline file."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, default=str).encode()).hexdigest()


def _finished_rows(conn: sqlite3.Connection) -> str:
    """Every row of scans 1 and 2 (scan, repositories, findings with their bodies)."""
    rows = [
        conn.execute("SELECT * FROM scans WHERE id IN (1, 2) ORDER BY id").fetchall(),
        conn.execute("SELECT * FROM repositories WHERE scan_id IN (1, 2) "
                     "ORDER BY scan_id, name").fetchall(),
        conn.execute("SELECT f.*, b.body FROM findings f LEFT JOIN finding_bodies b "
                     "ON b.id = f.body_id WHERE f.scan_id IN (1, 2) "
                     "ORDER BY f.scan_id, f.repository, f.policy").fetchall(),
    ]
    return _digest(rows)


def stable_reads(store: Store) -> dict[str, Any]:
    """Reads of the previous complete scan (2, and its diff against 1) through the public
    API: a scan running next to them must not move any of them."""
    return {
        "changes": _normal(changes(store, 2).as_dict()),
        "totals": _normal(totals(store, 2)),
        "findings": _normal([f.as_dict() for f in store.iter_findings(2)]),
        "states": _normal({k: asdict(v) for k, v in store.repository_states(2).items()}),
        "scans": _normal([asdict(s) for s in store.scans() if s.id != RUNNING]),
        "rows": _finished_rows(store.connection),
    }


def baseline_of(db: Path) -> dict[str, Any]:
    with Store(db, create=False) as store:
        assert [(s.id, s.status) for s in store.scans()] == [(2, "complete"), (1, "complete")]
        source = store.sources()[0]
        return {"source": source, "stable": stable_reads(store),
                "trend": _normal(trend_meta(store, source))}


@dataclass
class Seen:
    """What one reader saw of the running scan so far: it may only grow."""

    rounds: int = 0
    status: str | None = None  # of scan RUNNING (None: not begun yet)
    # name: position, digest of its findings (None: not read yet)
    recorded: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    held: bool = False  # saw it running with exactly HOLD_AT repositories recorded

    def summary(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "status": self.status,
                "recorded": len(self.recorded), "held": self.held}


def _grows(seen: Seen, status: str | None, recorded: Mapping[str, tuple[int, str | None]]
           ) -> None:
    """The running scan as one read saw it, against what earlier reads saw."""
    assert status in (None, "running", "complete"), status
    assert seen.status != "complete" or status == "complete", "a complete scan ran again"
    assert seen.status is None or status is not None, "the running scan vanished"
    assert sorted(p for p, _ in recorded.values()) == list(range(len(recorded)))
    for name, (position, findings) in seen.recorded.items():
        assert name in recorded, f"{name} was recorded, then was not"
        assert recorded[name][0] == position, f"{name} moved"
        if None not in (findings, recorded[name][1]):  # None: a read not comparing findings
            assert recorded[name][1] == findings, f"{name} changed after it was recorded"
    if status == "complete":
        assert len(recorded) == REPOSITORIES
    if status == "running" and len(recorded) == HOLD_AT:
        seen.held = True
    seen.status = status
    for name, (position, findings) in recorded.items():
        if findings is not None or name not in seen.recorded:
            seen.recorded[name] = (position, findings)


def _read_sqlite(db: Path, baseline: Mapping[str, Any], seen: Seen) -> None:
    """Plain sqlite3, read-only, everything in one read transaction (one snapshot)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True,
                           isolation_level=None)
    try:
        conn.execute("BEGIN")
        row = conn.execute("SELECT status FROM scans WHERE id = ?", (RUNNING,)).fetchone()
        rows = conn.execute(
            "SELECT r.name, r.position, r.status, f.policy, f.outcome, b.body "
            "FROM repositories r "
            "LEFT JOIN findings f ON f.scan_id = r.scan_id AND f.repository = r.name "
            "LEFT JOIN finding_bodies b ON b.id = f.body_id "
            "WHERE r.scan_id = ? ORDER BY r.position, f.position", (RUNNING,)).fetchall()
        finished = _finished_rows(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()
    assert finished == baseline["stable"]["rows"], "scans 1 and 2 changed under a reader"
    by_name: dict[str, list[tuple[Any, ...]]] = {}
    positions: dict[str, int] = {}
    for name, position, status, policy, outcome, body in rows:
        assert status == "scanned", (name, status)  # --full: every repository evaluated
        positions[name] = int(position)
        by_name.setdefault(name, []).append((policy, outcome, body))
    for name, found in by_name.items():
        assert len(found) == POLICIES, f"{name} is half written: {found}"
        assert all(p is not None and b is not None for p, _, b in found), f"{name}: {found}"
        assert {p for p, _, _ in found} == {"fixture-behaviour", "fixture-workflow-yaml",
                                            "slow"}
    _grows(seen, row[0] if row else None,
           {name: (positions[name], _digest(found)) for name, found in by_name.items()})


def _read_store(db: Path, baseline: Mapping[str, Any], seen: Seen) -> None:
    """governance.store and governance.history, as `governance report/diff/history` read."""
    with Store(db, create=False) as store:
        # Each call is its own snapshot: the status read before the repositories says
        # whether all of them must be there, the one read after the trend whether the
        # scan was running throughout.
        before = store.scan(RUNNING)
        assert stable_reads(store) == baseline["stable"]
        states = store.repository_states(RUNNING)
        for name, state in states.items():
            assert (state.findings, state.errors, state.status) == (POLICIES, 0, "scanned"), (
                name, state)
        last = max(states.values(), key=lambda s: s.position, default=None)
        if last is not None:
            assert len(store.findings(RUNNING, last.name)) == POLICIES
        trend = _normal(trend_meta(store, baseline["source"]))
        after = store.scan(RUNNING)
    if after is None or after.status == "running":
        assert trend == baseline["trend"], "the trend moved while the scan was running"
    _grows(seen, before.status if before else None,
           {name: (s.position, None) for name, s in states.items()})


def read_round(db: Path, baseline: Mapping[str, Any], seen: Seen) -> None:
    _read_sqlite(db, baseline, seen)
    _read_store(db, baseline, seen)
    seen.rounds += 1


def _status(db: Path) -> str | None:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT status FROM scans WHERE id = ?", (RUNNING,)).fetchone()
    finally:
        conn.close()
    return str(row[0]) if row else None


# --------------------------------------------------------------------------- the test

def test_concurrent_readers_see_consistent_data_while_a_scan_writes(
    setup: Path, cli: Callable[..., Any]
) -> None:
    db = setup / "store.db"
    scan = ("scan", "local:acme", "--db", "store.db", "-f", "json")
    first = cli(*scan, "--out", "out1")
    assert first.code == 0, first.text
    _change_org(setup / "acme")
    second = cli(*scan, "--out", "out2")
    assert second.code == 0, second.text
    assert "scan 2 recorded in store.db" in second.text

    baseline = baseline_of(db)
    assert baseline["stable"]["changes"]["counts"] == {
        "new_failures": 2, "fixed": 1, "new_repositories": 1, "removed_repositories": 1,
        "expired_waivers": 0}
    (setup / "baseline.json").write_text(json.dumps(baseline))
    commands = {  # what `governance history` and `diff` print while scan 2 is the latest
        "history": ("history", "--db", "store.db"),
        "history-repository": ("history", "--db", "store.db", "-r", "acme/r-03"),
        "diff": ("diff", "--db", "store.db"),
        "diff-2": ("diff", "--db", "store.db", "--scan", "2", "--output", "json"),
    }
    printed = {key: cli(*args) for key, args in commands.items()}
    assert all(r.code == 0 for r in printed.values()), printed
    assert "scan 2 against scan 1" in printed["diff"].text, printed["diff"].text

    release, stop, reader_held = (setup / name for name in ("release", "stop", "reader-held"))
    writer_log = (setup / "writer.out").open("w"), (setup / "writer.err").open("w")
    writer = subprocess.Popen(
        [sys.executable, "-m", "governance", *scan, "--out", "out3", "--full"], cwd=setup,
        env={**os.environ, "COLUMNS": "250", "SLOW_SECONDS": "0.01",
             "SLOW_HOLD_AT": f"acme/r-{HOLD_AT:02d}", "SLOW_RELEASE": str(release)},
        stdout=writer_log[0], stderr=writer_log[1])
    reader = subprocess.Popen(
        [sys.executable, __file__, "--db", str(db), "--baseline", str(setup / "baseline.json"),
         "--stop", str(stop), "--held", str(reader_held)],
        cwd=setup, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = Seen()
    commands_checked = 0
    try:
        deadline = time.monotonic() + GUARD
        while True:
            ended = writer.poll() is not None  # then one last round sees the end
            read_round(db, baseline, seen)
            if seen.status != "complete":
                again = {key: cli(*args) for key, args in commands.items()}
                if _status(db) != "complete":  # still running: it ran throughout
                    assert again == printed
                    commands_checked += 1
            if seen.held and reader_held.exists() and not release.exists():
                release.touch()  # both readers saw the scan half done: let it finish
            if ended:
                break
            if reader.poll() is not None:
                pytest.fail(f"the reader process ended early: {reader.communicate()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the scan did not end: {seen.summary()}")
            time.sleep(0.005)
        stop.touch()
        out, err = reader.communicate(timeout=GUARD)
    finally:
        release.touch()
        stop.touch()
        for process in (writer, reader):
            if process.poll() is None:
                process.kill()
                process.wait()
        for log in writer_log:
            log.close()
    assert writer.returncode == 0, (setup / "writer.err").read_text()
    assert reader.returncode == 0, err
    assert "locked" not in err
    assert seen.held and commands_checked >= 1
    assert seen.summary() | {"rounds": 0} == {"rounds": 0, "status": "complete",
                                              "recorded": REPOSITORIES, "held": True}
    assert json.loads(out) | {"rounds": 0} == {"rounds": 0, "status": "complete",
                                               "recorded": REPOSITORIES, "held": True}

    with Store(db, create=False) as store:
        assert store.check_integrity() == []
        assert [(s.id, s.status) for s in store.scans()] == [
            (3, "complete"), (2, "complete"), (1, "complete")]
        assert stable_reads(store) == baseline["stable"]
        # The org did not change since scan 2: a full scan finds what scan 2 recorded.
        assert [f.as_dict() for f in store.iter_findings(3)] == [
            f.as_dict() for f in store.iter_findings(2)]
        assert set(changes(store, 3).counts.values()) == {0}


def test_readers_racing_the_scan_that_creates_the_store(tmp_path: Path) -> None:
    """The very first scan creates the store while `history`-style readers already poll
    for it: a reader sees no store yet or a whole one (never "something else", never
    "database is locked", never initialising the file itself), and the scan never fails
    for a reader. The window is short: many fresh stores, a few readers each."""
    problems: list[str] = []

    def read(db: Path, stop: threading.Event) -> None:
        while not stop.is_set():
            if not db.exists():
                continue
            try:
                with Store(db, create=False) as store:
                    found = [(s.id, s.status) for s in store.scans()]
                assert found in ([], [(1, "running")]), found
                conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
                try:
                    conn.execute("SELECT COUNT(*) FROM scans").fetchone()
                finally:
                    conn.close()
            except ConfigError as error:
                if "no governance store here" not in str(error):
                    problems.append(f"reader: {error}")
            except Exception as error:
                problems.append(f"reader: {type(error).__name__}: {error}")

    for attempt in range(CREATIONS):
        db = tmp_path / f"store-{attempt}.db"
        stop = threading.Event()
        readers = [threading.Thread(target=read, args=(db, stop), daemon=True)
                   for _ in range(2)]
        for reader in readers:
            reader.start()
        try:
            with Store(db) as store:  # as a scan's recorder starts
                store.begin_scan("local:/srv/acme", "pack", "fingerprint", "0", {})
        except Exception as error:
            problems.append(f"writer: {type(error).__name__}: {error}")
        finally:
            stop.set()
            for reader in readers:
                reader.join(GUARD)
        assert problems == [], f"store {attempt}"
        with Store(db, create=False) as store:
            assert store.check_integrity() == []
            assert [(s.id, s.status) for s in store.scans()] == [(1, "running")]


# --------------------------------------------------------------------------- the reader

def _reader(argv: list[str]) -> int:
    """The second reader: read rounds until the stop file appears, then one last round;
    prints what it saw as JSON. Any exception or failed check: a traceback, exit 1."""
    parser = argparse.ArgumentParser()
    for name in ("--db", "--baseline", "--stop", "--held"):
        parser.add_argument(name, type=Path, required=True)
    args = parser.parse_args(argv)
    baseline = json.loads(args.baseline.read_text())
    seen = Seen()
    deadline = time.monotonic() + GUARD
    while time.monotonic() < deadline:
        stopping = args.stop.exists()
        read_round(args.db, baseline, seen)
        if seen.held:
            args.held.touch()
        if stopping:
            print(json.dumps(seen.summary()))
            return 0
        time.sleep(0.002)
    print("the reader was never stopped", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(_reader(sys.argv[1:]))
