"""Resumable scans: a real `python -m governance scan` killed (SIGKILL, Ctrl-C, SIGTERM) in
the middle of an org, then `--resume`, ends with the findings of an uninterrupted scan,
and the store stays consistent for readers throughout.

A test-only `gate` policy (written into the test's folder) holds the scan at one
repository until the test has seen the store and stopped the process: no timing guesses.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from governance.demo import make_repo
from governance.store import Store

FIXTURE_POLICIES = Path(__file__).resolve().parent / "policies_fixture"

REPOSITORIES = 24
POLICIES = 3
GATE_POLICY = """\
id: gate
title: Holds the scan at one repository (test fixture)
severity: low
enabled: false
rationale: Lets a test stop a scan at a known point.
remediation: None.
"""
GATE_CHECK = """\
import os
import time
from pathlib import Path

from governance.checks import CheckContext, Result, passed


def check(ctx: CheckContext) -> Result:
    if ctx.repo.name == os.environ.get("GATE_INTERRUPT_AT"):
        raise KeyboardInterrupt
    if ctx.repo.name == os.environ.get("GATE_HOLD_AT"):
        opened = Path(os.environ["GATE_OPENED"])
        while not opened.exists():  # until the test kills us (or gives up and opens it)
            time.sleep(0.01)
    return passed("gate open")
"""
WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """An org of REPOSITORIES repositories and a governance.yml with the gate; cwd-relative."""
    gate = tmp_path / "policies" / "gate"
    gate.mkdir(parents=True)
    (gate / "policy.yml").write_text(GATE_POLICY)
    (gate / "check.py").write_text(GATE_CHECK)
    pack = tmp_path / "policies" / "packs" / "resume.yml"
    pack.parent.mkdir()
    pack.write_text("id: resume\ndefaults: false\npolicies:\n  fixture-behaviour: {}\n"
                    "  fixture-workflow-yaml: {}\n  gate: {}\n")
    (tmp_path / "governance.yml").write_text(
        f"pack: resume\npolicy_paths: [{json.dumps(str(FIXTURE_POLICIES))}, policies]\n")
    modes = ["pass", "fail", "pass", "crash"]
    for index in range(REPOSITORIES):
        files = {"MODE": modes[index % 4] + "\n", ".github/workflows/ci.yml": WORKFLOW}
        if index % 5 == 0:
            files[".github/workflows/ci.yml"] = "name: no jobs\n"
        make_repo(tmp_path / "acme" / f"r-{index:02d}", files)
    return tmp_path


def _consistent_counts(db: Path) -> int | None:
    """Repositories recorded so far, checking that each has all its findings; None while
    the store is not created yet."""
    try:
        conn = sqlite3.connect(db, timeout=30)
        try:
            rows = conn.execute(
                "SELECT r.name, COUNT(f.policy), COUNT(b.id) FROM repositories r "
                "LEFT JOIN findings f ON f.scan_id = r.scan_id AND f.repository = r.name "
                "LEFT JOIN finding_bodies b ON b.id = f.body_id GROUP BY r.scan_id, r.name"
            ).fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet (no such table)
        return None
    for name, findings, bodies in rows:
        assert (findings, bodies) == (POLICIES, POLICIES), f"{name} is half written"
    return len(rows)


def _start(folder: Path, hold_at: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "250", "GATE_HOLD_AT": hold_at,
           "GATE_OPENED": str(folder / "opened")}
    return subprocess.Popen(
        [sys.executable, "-m", "governance", "scan", "local:acme", "--out", "out", "-f", "json"],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(process: subprocess.Popen[str], db: Path, recorded: int) -> None:
    """Poll the store as a concurrent reader until `recorded` repositories are in."""
    deadline = time.monotonic() + 120  # a guard against hanging, not a measurement
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the scan ended early ({process.returncode}): {process.stderr.read()}"
                        if process.stderr else "the scan ended early")
        seen = _consistent_counts(db) if db.exists() else None
        if seen is not None:
            assert seen <= recorded  # the gate holds the next one
            if seen == recorded:
                return
        time.sleep(0.02)
    pytest.fail("the scan did not reach the gate")


def _findings(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text())["findings"])


def test_a_scan_killed_with_sigkill_resumes_and_ends_like_an_uninterrupted_one(
    setup: Path, cli: Callable[..., Any]
) -> None:
    db = setup / "out" / "governance.db"
    process = _start(setup, hold_at="acme/r-14")
    try:
        _wait_for(process, db, recorded=14)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        (setup / "opened").touch()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    with Store(db, create=False) as store:
        assert store.check_integrity() == []
        (killed,) = store.scans()
        assert killed.status == "running" and killed.finished is None  # nobody marked it
        assert len(store.repository_states(killed.id)) == 14

    resumed = cli("scan", "local:acme", "--out", "out", "-f", "json", "--resume")
    assert resumed.code == 3, resumed.text  # partial: some repositories crash on purpose
    assert (f"scan 1 (resumed) recorded in out/governance.db: {REPOSITORIES - 14} scanned, "
            "14 done before the interruption") in resumed.text
    fresh = cli("scan", "local:acme", "--out", "full", "--db", "full.db", "-f", "json")
    assert fresh.code == 3
    assert f"scan 1 recorded in full.db: {REPOSITORIES} scanned" in fresh.text
    assert _findings(setup / "out" / "findings.json") == _findings(
        setup / "full" / "findings.json")
    assert (setup / "out" / "findings.jsonl").read_text() == (
        setup / "full" / "findings.jsonl").read_text()
    with Store(db, create=False) as store:
        assert store.check_integrity() == []
        (done,) = store.scans()
        assert (done.id, done.status) == (1, "partial")
        positions = [s.position for s in store.repository_states(1).values()]
        assert sorted(positions) == list(range(REPOSITORIES))


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_stops_cleanly_and_says_how_to_resume(
    stop: signal.Signals, setup: Path
) -> None:
    db = setup / "out" / "governance.db"
    process = _start(setup, hold_at="acme/r-05")
    try:
        _wait_for(process, db, recorded=5)
        process.send_signal(stop)
        _, err = process.communicate(timeout=60)
    finally:
        (setup / "opened").touch()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    text = " ".join(err.split())
    assert ("interrupted: scan 1 keeps its 5 finished repositories in out/governance.db; "
            "continue it with: governance scan local:acme --out out -f json --resume") in text
    assert "KeyboardInterrupt" not in err  # (crash tracebacks of MODE=crash are logged)
    with Store(db, create=False) as store:
        assert store.check_integrity() == []
        (scan,) = store.scans()
        assert scan.status == "interrupted"
        assert len(store.repository_states(scan.id)) == 5


def test_interrupted_in_process_then_resumed(
    setup: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_INTERRUPT_AT", "acme/r-07")
    stopped = cli("scan", "local:acme", "-o", "out", "-f", "json")
    assert stopped.code == 130
    assert "continue it with: governance scan local:acme -o out -f json --resume" in stopped.text
    monkeypatch.delenv("GATE_INTERRUPT_AT")
    again = cli("scan", "local:acme", "-o", "out", "-f", "json", "--resume")
    assert again.code == 3
    assert "scan 1 (resumed)" in again.text and "7 done before the interruption" in again.text
    # A second --resume finds nothing unfinished: a new scan, reusing the finished one.
    third = cli("scan", "local:acme", "-o", "out", "-f", "json", "--resume")
    assert "note: no unfinished scan of this source to resume; a new scan starts" in third.text
    assert "scan 2 recorded" in third.text
    assert cli("scan", "local:acme", "-o", "full", "--db", "full.db", "-f", "json").code == 3
    assert _findings(setup / "out" / "findings.json") == _findings(
        setup / "full" / "findings.json")


def test_an_unfinished_scan_of_other_policies_is_not_resumed(
    setup: Path, cli: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GATE_INTERRUPT_AT", "acme/r-03")
    assert cli("scan", "local:acme", "-o", "out", "-f", "json").code == 130
    monkeypatch.delenv("GATE_INTERRUPT_AT")
    other = setup / "policies" / "packs" / "other.yml"
    other.write_text("id: other\ndefaults: false\npolicies:\n  fixture-behaviour: {}\n")
    result = cli("scan", "local:acme", "-o", "out", "-f", "json", "--resume",
                 "--pack", "other")
    assert "scan 1 did not finish but ran other policies" in result.text
    assert "scan 2 recorded" in result.text
    with Store(setup / "out" / "governance.db", create=False) as store:
        assert [(s.id, s.status) for s in store.scans()] == [(2, "partial"),
                                                             (1, "interrupted")]


def test_a_scan_that_fails_before_recording_anything_leaves_no_trace(
    tmp_path: Path, cli: Callable[..., Any], write_config: Callable[..., Path]
) -> None:
    write_config()
    (tmp_path / "empty").mkdir()
    result = cli("scan", "local:empty", "-o", "out")
    assert result.code == 2
    assert "not a git repository and has no sub-folders" in result.text
    with Store(tmp_path / "out" / "governance.db", create=False) as store:
        assert store.scans() == []
