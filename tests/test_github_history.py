"""Nightly repeat scans of a GitHub org, recorded in a store, against the fake GitHub.

The real run_scan opens the real GitHub provider from the environment (GITHUB_TOKEN,
GITHUB_API_URL pointing at the fake on 127.0.0.1) and records every scan in a store. A
repeat scan of an unchanged org must carry the findings of every repository (no tree, no
file read again) within the repeat-scan budget of 0.05 requests counted against the rate
limit per repository; after a push, only the pushed repository is evaluated again and
`changes` names the failure the push introduced.

What the store reuses is read from the store itself: `repositories.reused_from` (the scan
whose findings a repository carried) and `findings.reused` (per policy).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("github")
pytest.importorskip("graphql")
pytest.importorskip("werkzeug")

from governance.config import load_config
from governance.scan import ScanOutcome, ScanRequest, load_policies, run_scan
from governance.store import Store
from tests.fakes.github import DEFAULT_TOKEN, FakeGitHub, github_forge

__all__ = ["github_forge"]  # the fixture, imported explicitly

REPOSITORIES = 40
BUDGET = 0.05  # counted requests per repository on a repeat scan of an unchanged org
PINNED = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
CI = ("on: [push, pull_request]\npermissions: {contents: read}\njobs:\n  test:\n"
      f"    runs-on: ubuntu-latest\n    steps:\n      - uses: {PINNED}\n"
      "      - run: make test\n")
# The push: a release workflow using a third-party action by tag, not by commit SHA.
RELEASE = ("on: push\npermissions: {contents: read}\njobs:\n  release:\n"
           f"    runs-on: ubuntu-latest\n    steps:\n      - uses: {PINNED}\n"
           "      - uses: deploy-tools/publish-action@v2\n")
PUSHED = "acme/svc-007"


@pytest.fixture
def forge(github_forge: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> FakeGitHub:
    github_forge.add_org("acme")
    for i in range(REPOSITORIES):
        github_forge.add_repo("acme", f"svc-{i:03d}", files={
            "README.md": f"# svc {i}\n",
            "LICENSE": "MIT\n",
            ".github/workflows/ci.yml": CI,
            ".github/dependabot.yml": "version: 2\nupdates: []\n",
            "src/app.py": f"print({i})\n",
            "infra/main.tf": 'resource "null_resource" "x" {}\n',
        })
    github_forge.protect_branch("acme", "svc-001", "main", required_approving_review_count=1)
    monkeypatch.setenv("GITHUB_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", github_forge.url)
    return github_forge


Scan = Callable[[], tuple[ScanOutcome, list[dict[str, Any]]]]


@pytest.fixture
def scan(forge: FakeGitHub, tmp_path: Path) -> Scan:
    config = tmp_path / "governance.yml"
    config.write_text("pack: gitops-baseline\n", encoding="utf-8")
    request = ScanRequest(source="github:acme", config_path=config, store=tmp_path / "g.db",
                          github={"cache_dir": tmp_path / "cache"})
    runs = iter(range(1000))

    def run() -> tuple[ScanOutcome, list[dict[str, Any]]]:
        outcome = run_scan(request, tmp_path / f"spool-{next(runs)}")
        lines = outcome.spool.read_text(encoding="utf-8").splitlines()
        return outcome, [json.loads(line) for line in lines]

    return run


def reuse(db: Path, scan_id: int | None) -> dict[str, tuple[int | None, frozenset[str]]]:
    """Per repository of a scan: the scan it carried findings from, and the policies whose
    findings it carried."""
    assert scan_id is not None
    with Store(db) as store:
        rows = store.connection.execute(
            "SELECT r.name, r.reused_from, f.policy, f.reused FROM repositories r "
            "JOIN findings f ON f.scan_id = r.scan_id AND f.repository = r.name "
            "WHERE r.scan_id = ?", (scan_id,)).fetchall()
    found: dict[str, tuple[int | None, frozenset[str]]] = {}
    for name, reused_from, policy, reused in rows:
        before = found.get(name, (reused_from, frozenset()))[1]
        found[name] = (reused_from, before | ({policy} if reused else set()))
    return found


def by_repository(findings: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        grouped.setdefault(finding["repository"], []).append(finding)
    return grouped


def test_a_repeat_scan_reuses_findings_within_budget_and_a_push_is_evaluated_again(
        forge: FakeGitHub, scan: Scan, tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    enabled = load_policies(load_config(tmp_path / "governance.yml"))[1]
    settings_policies = {e.id for e in enabled if e.definition.reads.settings}
    file_policies = {e.id for e in enabled} - settings_policies
    assert settings_policies == {"default-branch-protected"} and file_policies

    cold, cold_findings = scan()
    assert dict(cold.done) == {"scanned": REPOSITORIES}
    assert not [f for f in cold_findings if f["outcome"] == "error"]
    assert set(reuse(db, cold.scan_id).values()) == {(None, frozenset())}
    cold_changes = cold.meta["changes"]
    assert isinstance(cold_changes, dict) and cold_changes["previous_scan_id"] is None

    # --- the repeat scan of the unchanged org
    forge.reset_counts()
    repeat, repeat_findings = scan()
    assert forge.count() / REPOSITORIES <= BUDGET
    assert forge.count(False, path="/repos/*") == 0  # no tree, no blob, no settings call
    assert repeat_findings == cold_findings
    # Every repository carried the file policies' findings of the first scan. The policy
    # reading settings (which change without a commit) was evaluated again, on the batched
    # settings query, so the scan labels the repositories "scanned" rather than "reused".
    carried = reuse(db, repeat.scan_id)
    assert len(carried) == REPOSITORIES
    assert set(carried.values()) == {(cold.scan_id, frozenset(file_policies))}
    assert dict(repeat.done) == {"scanned": REPOSITORIES}
    changes = repeat.meta["changes"]
    assert isinstance(changes, dict)
    assert changes["previous_scan_id"] == cold.scan_id
    assert set(changes["counts"].values()) == {0}

    # --- one push: only that repository is evaluated again
    forge.push("acme", "svc-007", {".github/workflows/release.yml": RELEASE})
    forge.reset_counts()
    pushed, pushed_findings = scan()
    trees = [r.path for r in forge.requests if "/git/trees/" in r.path]
    assert len(trees) == 1 and trees[0].startswith("/repos/acme/svc-007/")
    carried = reuse(db, pushed.scan_id)
    assert carried.pop(PUSHED) == (None, frozenset())  # evaluated afresh, nothing carried
    assert set(carried.values()) == {(repeat.scan_id, frozenset(file_policies))}
    before, after = by_repository(repeat_findings), by_repository(pushed_findings)
    assert {n: f for n, f in after.items() if n != PUSHED} == {
        n: f for n, f in before.items() if n != PUSHED}
    now = {f["policy"]: f for f in after[PUSHED]}
    was = {f["policy"]: f for f in before[PUSHED]}
    assert (was["actions-pinned"]["outcome"], now["actions-pinned"]["outcome"]) == (
        "pass", "fail")
    assert [(loc["path"], loc["line"]) for loc in now["actions-pinned"]["locations"]] == [
        (".github/workflows/release.yml", 8)]  # the line of the action used by tag
    assert {p: f["outcome"] for p, f in now.items() if p != "actions-pinned"} == {
        p: f["outcome"] for p, f in was.items() if p != "actions-pinned"}

    changes = pushed.meta["changes"]
    assert isinstance(changes, dict) and changes["previous_scan_id"] == repeat.scan_id
    assert changes["counts"] == {"new_failures": 1, "fixed": 0, "new_repositories": 0,
                                 "removed_repositories": 0, "expired_waivers": 0}
    (new,) = changes["new_failures"]
    assert {k: new[k] for k in ("repository", "policy", "severity", "outcome",
                                "previous_outcome")} == {
        "repository": PUSHED, "policy": "actions-pinned", "severity": "high",
        "outcome": "fail", "previous_outcome": "pass"}
    trend = pushed.meta["trend"]
    assert isinstance(trend, dict)
    values = [s["compliance"] for s in trend["scans"]]
    assert len(values) == 3 and values[0] == values[1] > values[2]
