"""Incremental scans, what changed between scans, and compliance over time.

Real git repositories change between scans (a new commit, a repository added or removed)
and the real engine and store decide what to reuse and what changed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from governance.demo import _AUTHOR, make_repo
from governance.history import changes, policy_trend, trend
from governance.models import RepoRef
from governance.providers.base import Needs
from governance.providers.local import LocalProvider
from governance.scan import ScanOutcome, ScanRequest, run_scan
from governance.snapshot import RepoFailure, RepoSnapshot
from governance.store import Store

WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
# fixture-behaviour fails acme/legacy; the waiver accepts it until the end of June 2026.
WAIVER = """waivers:
  - {repository: "acme/legacy", policy: fixture-behaviour, reason: "being retired",
     owner: team@example.invalid, expires: 2026-06-30}
"""
JUNE, JULY = dt.date(2026, 6, 1), dt.date(2026, 7, 1)


def repo(folder: Path, mode: str) -> Path:
    return make_repo(folder, {"MODE": mode + "\n", ".github/workflows/ci.yml": WORKFLOW})


def commit(folder: Path, path: str, text: str) -> None:
    (folder / path).write_text(text)
    env = {**os.environ, **_AUTHOR}
    subprocess.run(["git", "-C", str(folder), "commit", "-qam", "change"], check=True,
                   capture_output=True, env=env)


class CountingProvider(LocalProvider):
    """The local provider, counting the repositories it is asked to snapshot."""

    def __init__(self, path: Path):
        super().__init__(path)
        self.asked: list[str] = []

    def snapshots(self, refs: Iterable[RepoRef], needs: Needs
                  ) -> Iterator[RepoSnapshot | RepoFailure]:
        def counted() -> Iterator[RepoRef]:
            for ref in refs:
                self.asked.append(ref.name)
                yield ref

        return super().snapshots(counted(), needs)


def run(source: Path, config: Path, db: Path, provider: LocalProvider | None = None,
        **request: Any) -> tuple[ScanOutcome, list[dict[str, Any]]]:
    spool = db.parent / f"spool-{len(list(db.parent.glob('spool-*')))}"
    outcome = run_scan(ScanRequest(f"local:{source}", config, store=db, **request), spool,
                       provider=provider)
    lines = outcome.spool.read_text(encoding="utf-8").splitlines()
    return outcome, [json.loads(line) for line in lines]


def by_key(findings: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str]]:
    return {(f["repository"], f["policy"]): (f["outcome"], f["message"]) for f in findings}


@pytest.fixture
def acme(tmp_path: Path) -> Path:
    folder = tmp_path / "acme"
    for name, mode in (("api", "pass"), ("web", "pass"), ("legacy", "fail"), ("old", "fail"),
                       ("docs", "fail")):
        repo(folder / name, mode)
    return folder


# --- incremental scans ---

def test_repeat_scan_of_an_unchanged_org_reuses_every_finding_without_snapshots(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config, db = write_config(WAIVER), tmp_path / "g.db"
    first, first_findings = run(acme, config, db, CountingProvider(acme), today=JUNE)
    assert dict(first.done) == {"scanned": 5}
    provider = CountingProvider(acme)
    second, second_findings = run(acme, config, db, provider, today=JUNE)
    assert provider.asked == []  # no repository was snapshotted
    assert dict(second.done) == {"reused": 5}
    assert second_findings == first_findings
    assert second.stats.outcomes == first.stats.outcomes
    with Store(db) as store:
        states = store.repository_states(second.scan_id)
        assert {s.status for s in states.values()} == {"reused"}
        reused = store.connection.execute(
            "SELECT MIN(reused), COUNT(*) FROM findings WHERE scan_id = ?",
            (second.scan_id,)).fetchone()
        assert reused == (1, 10)
        assert store.connection.execute(
            "SELECT DISTINCT reused_from FROM repositories WHERE scan_id = ?",
            (second.scan_id,)).fetchall() == [(first.scan_id,)]


def test_only_changed_repositories_are_scanned_again_and_full_scans_everything(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config, db = write_config(WAIVER), tmp_path / "g.db"
    run(acme, config, db, today=JUNE)
    commit(acme / "docs", "MODE", "pass\n")
    provider = CountingProvider(acme)
    second, findings = run(acme, config, db, provider, today=JUNE)
    assert provider.asked == ["acme/docs"]
    assert dict(second.done) == {"scanned": 1, "reused": 4}
    assert by_key(findings)[("acme/docs", "fixture-behaviour")] == ("pass", "told to pass")
    full_provider = CountingProvider(acme)
    full, full_findings = run(acme, config, db, full_provider, today=JUNE, full=True)
    assert sorted(full_provider.asked) == sorted(f"acme/{n}" for n in
                                                 ("api", "web", "legacy", "old", "docs"))
    assert dict(full.done) == {"scanned": 5}
    assert full_findings == findings


def test_waivers_are_applied_again_to_reused_findings(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config, db = write_config(WAIVER), tmp_path / "g.db"
    _, june = run(acme, config, db, today=JUNE)
    assert by_key(june)[("acme/legacy", "fixture-behaviour")] == (
        "waived", "told to fail (waived: being retired)")
    provider = CountingProvider(acme)
    july_outcome, july = run(acme, config, db, provider, today=JULY)
    assert provider.asked == []
    legacy = next(f for f in july
                  if (f["repository"], f["policy"]) == ("acme/legacy", "fixture-behaviour"))
    assert legacy["outcome"] == "fail"
    assert legacy["waiver"] is None
    assert legacy["message"] == ("told to fail (waiver by team@example.invalid expired on "
                                 "2026-06-30: being retired)")
    assert legacy["details"]["expired_waiver"]["expires"] == "2026-06-30"
    # Identical to what a full evaluation says on that day.
    _, full = run(acme, config, db, today=JULY, full=True)
    assert full == july
    expired = july_outcome.meta["changes"]["expired_waivers"]
    assert [(w["repository"], w["owner"], w["expires"]) for w in expired] == [
        ("acme/legacy", "team@example.invalid", "2026-06-30")]


def test_other_policies_or_options_mean_no_reuse(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "g.db"
    run(acme, write_config(), db)
    changed = write_config("policies:\n  fixture-behaviour: {options: {threshold: 11}}\n")
    provider = CountingProvider(acme)
    outcome, findings = run(acme, changed, db, provider)
    assert len(provider.asked) == 5
    assert dict(outcome.done) == {"scanned": 5}
    assert {f["details"].get("threshold") for f in findings
            if f["policy"] == "fixture-behaviour"} == {11}
    # The next scan under the new options reuses that one.
    again = CountingProvider(acme)
    assert dict(run(acme, changed, db, again)[0].done) == {"reused": 5}
    assert again.asked == []


def test_repositories_with_errors_are_evaluated_again(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "acme"
    repo(folder / "ok", "pass")
    repo(folder / "crashy", "crash")
    make_repo(folder / "empty", {}, commit=False)  # no head: cannot be compared
    config, db = write_config(), tmp_path / "g.db"
    run(folder, config, db)
    provider = CountingProvider(folder)
    outcome, _ = run(folder, config, db, provider)
    assert sorted(provider.asked) == ["acme/crashy", "acme/empty"]
    assert outcome.done["reused"] == 1


class SettingsProvider(CountingProvider):
    """A provider that offers forge settings (as GitHub does): `protected` decides what
    `branch_protection` says, and it changes without any commit."""

    offers_settings = True
    protected: bool | None = None  # None: the setting is not available

    def snapshot(self, ref: RepoRef, needs: Needs) -> RepoSnapshot:
        snapshot = super().snapshot(ref, needs)
        if self.protected is not None:
            snapshot.settings = {"branch_protection": {"enabled": self.protected}}
            snapshot.unavailable = {}
        return snapshot


def test_policies_reading_settings_are_evaluated_again_when_the_provider_has_settings(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "acme"
    repo(folder / "api", "unsupported")  # fixture-behaviour reads branch_protection
    config, db = write_config(), tmp_path / "g.db"
    first, findings = run(folder, config, db, SettingsProvider(folder))
    assert by_key(findings)[("acme/api", "fixture-behaviour")][0] == "not_available"
    provider = SettingsProvider(folder)
    provider.protected = True  # the setting became readable; no commit
    second, findings = run(folder, config, db, provider)
    assert provider.asked == ["acme/api"]  # a snapshot for the settings
    assert by_key(findings)[("acme/api", "fixture-behaviour")] == ("pass", "told to pass")
    with Store(db) as store:
        rows = dict(store.connection.execute(
            "SELECT policy, reused FROM findings WHERE scan_id = ?", (second.scan_id,)))
        assert rows == {"fixture-behaviour": 0, "fixture-workflow-yaml": 1}
        (state,) = store.repository_states(second.scan_id).values()
        assert state.status == "scanned" and state.settings_fingerprint
        assert state.head_sha == store.repository_states(first.scan_id)["acme/api"].head_sha


# --- changes ---

def test_two_scans_with_changes_in_between_give_the_right_diff(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config, db = write_config(WAIVER), tmp_path / "g.db"
    first, _ = run(acme, config, db, today=JUNE)
    assert first.meta["changes"]["previous_scan_id"] is None
    commit(acme / "api", "MODE", "fail\n")  # a new failure
    commit(acme / "docs", "MODE", "pass\n")  # fixed
    commit(acme / "web", ".github/workflows/ci.yml", "jobs: [\n")  # now an error: not fixed
    shutil.rmtree(acme / "old")  # removed
    repo(acme / "new", "fail")  # new, and failing
    second, _ = run(acme, config, db, today=JULY)  # the legacy waiver expired
    found = second.meta["changes"]
    assert found["scan_id"] == second.scan_id
    assert found["previous_scan_id"] == first.scan_id
    assert found["previous_started"] == first.meta["started"]
    assert [(c["repository"], c["policy"], c["severity"], c["previous_outcome"], c["message"])
            for c in found["new_failures"]] == [
        ("acme/api", "fixture-behaviour", "medium", "pass", "told to fail"),
        ("acme/legacy", "fixture-behaviour", "medium", "waived",
         "told to fail (waiver by team@example.invalid expired on 2026-06-30: being retired)"),
        ("acme/new", "fixture-behaviour", "medium", None, "told to fail"),
    ]
    assert [(c["repository"], c["policy"], c["outcome"], c["previous_outcome"])
            for c in found["fixed"]] == [("acme/docs", "fixture-behaviour", "pass", "fail")]
    assert found["new_repositories"] == ["acme/new"]
    assert found["removed_repositories"] == ["acme/old"]
    assert [(w["repository"], w["policy"], w["owner"], w["reason"], w["expires"])
            for w in found["expired_waivers"]] == [
        ("acme/legacy", "fixture-behaviour", "team@example.invalid", "being retired",
         "2026-06-30")]
    assert found["counts"] == {"new_failures": 3, "fixed": 1, "new_repositories": 1,
                               "removed_repositories": 1, "expired_waivers": 1}
    assert found["truncated"] is False
    json.dumps(found)  # plain data, for reports
    with Store(db) as store:  # cut lists keep complete counts, most severe first
        cut = changes(store, second.scan_id, limit=1)
        assert cut.truncated and cut.counts["new_failures"] == 3
        assert [c.repository for c in cut.new_failures] == ["acme/api"]


def test_new_failures_come_most_severe_first(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    folder = tmp_path / "acme"
    repo(folder / "a", "pass")
    config, db = write_config(), tmp_path / "g.db"
    run(folder, config, db)
    commit(folder / "a", "MODE", "fail\n")  # fixture-behaviour: medium
    commit(folder / "a", ".github/workflows/ci.yml", "name: x\n")  # workflow-yaml: high
    second, _ = run(folder, config, db)
    assert [(c["policy"], c["severity"]) for c in second.meta["changes"]["new_failures"]] == [
        ("fixture-workflow-yaml", "high"), ("fixture-behaviour", "medium")]


def test_diff_and_history_commands(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path, cli: Callable[..., Any]
) -> None:
    write_config()  # no waiver here: the CLI scans on the real date
    first = cli("diff", "--db", "out/governance.db")
    assert first.code == 2 and "no governance store here" in first.text
    assert cli("scan", "local:acme", "-o", "out", "-f", "json").code == 0
    only = cli("diff", "--db", "out/governance.db")
    assert only.code == 0
    assert "is the first finished scan of local:" in only.text
    commit(acme / "api", "MODE", "fail\n")
    commit(acme / "docs", "MODE", "pass\n")
    result = cli("scan", "local:acme", "-o", "out", "-f", "json", "--fail-on-new", "high")
    assert result.code == 0, result.text  # the new failure is medium
    assert "scan 2 recorded in out/governance.db: 2 scanned, 3 unchanged (findings reused)" \
        in result.text
    assert "since scan 1: 1 new failure(s), 1 fixed" in result.text
    report = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert report["scan"]["changes"]["counts"]["new_failures"] == 1
    assert [p["compliance"] for p in report["scan"]["trend"]["scans"]] == [70.0, 70.0]

    text = cli("diff", "--db", "out/governance.db")
    assert text.code == 0
    assert "scan 2 against scan 1" in text.text
    assert "new failures: 1" in text.text and "acme/api" in text.text
    assert "fixed: 1" in text.text and "acme/docs" in text.text
    assert "expired waivers: none" in text.text
    as_json = json.loads(cli("diff", "--db", "out/governance.db", "--output", "json").out)
    assert as_json["source"] == f"local:{acme}"
    assert [c["repository"] for c in as_json["new_failures"]] == ["acme/api"]
    markdown = cli("diff", "--db", "out/governance.db", "--output", "markdown").out
    assert "**1 new failure(s)**, 1 fixed" in markdown
    assert "| medium | acme/api | fixture-behaviour | pass | told to fail |" in markdown
    assert cli("diff", "--db", "out/governance.db", "--scan", "7").code == 2

    history = cli("history", "--db", "out/governance.db")
    assert history.code == 0
    assert "compliance per scan" in history.text
    assert "70.0 %" in history.text
    by_repo = cli("history", "--db", "out/governance.db", "-r", "acme/api")
    assert "outcome per scan" in by_repo.text
    assert "│ fixture-behaviour │ pass │ fail │" in by_repo.text
    by_policy = cli("history", "--db", "out/governance.db", "--policy", "fixture-behaviour",
                    "--source", "local:acme")
    assert "policy fixture-behaviour" in by_policy.text

    failing = cli("scan", "local:acme", "-o", "out", "-f", "json", "--full",
                  "--fail-on-new", "medium")
    assert failing.code == 0  # nothing is new since scan 2
    commit(acme / "web", "MODE", "fail\n")
    gate = cli("scan", "local:acme", "-o", "out", "-f", "json", "--fail-on-new", "medium")
    assert gate.code == 1
    assert "1 new failure(s) at or above medium since the last scan" in gate.text


def test_compliance_over_time(acme: Path, write_config: Callable[..., Path],
                              tmp_path: Path) -> None:
    config, db = write_config(), tmp_path / "g.db"
    run(acme, config, db)
    commit(acme / "docs", "MODE", "pass\n")
    run(acme, config, db)
    commit(acme / "old", "MODE", "pass\n")
    run(acme, config, db)
    source = f"local:{acme}"
    with Store(db) as store:
        points = trend(store, source, policy="fixture-behaviour")
        assert [(p.outcomes["pass"], p.outcomes["fail"], p.compliance) for p in points] == [
            (2, 3, 40.0), (3, 2, 60.0), (4, 1, 80.0)]
        assert [p.compliance for p in trend(store, source, limit=2)] == [80.0, 90.0]
        scans, grid = policy_trend(store, source)
        assert [s.id for s in scans] == [1, 2, 3]
        assert grid == {"fixture-behaviour": [40.0, 60.0, 80.0],
                        "fixture-workflow-yaml": [100.0, 100.0, 100.0]}
        docs = trend(store, source, repository="acme/docs")
        assert [p.compliance for p in docs] == [50.0, 100.0, 100.0]
        assert [p.repositories for p in docs] == [1, 1, 1]


def test_reused_findings_keep_the_order_of_the_listing(
    acme: Path, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    config, db = write_config(), tmp_path / "g.db"
    _, first = run(acme, config, db)
    commit(acme / "legacy", "MODE", "pass\n")  # one in the middle is scanned, others reused
    _, second = run(acme, config, db)
    assert [f["repository"] for f in second] == [f["repository"] for f in first]


def test_an_unlisted_head_is_scanned(acme: Path, write_config: Callable[..., Path],
                                     tmp_path: Path) -> None:
    """A provider that cannot tell the head cheaply gives None: the repository is scanned."""

    class NoHeads(CountingProvider):
        def list_repos(self) -> Iterator[RepoRef]:
            return (replace(ref, head_sha=None) for ref in super().list_repos())

    config, db = write_config(), tmp_path / "g.db"
    run(acme, config, db)
    provider = NoHeads(acme)
    outcome, _ = run(acme, config, db, provider)
    assert len(provider.asked) == 5 and dict(outcome.done) == {"scanned": 5}


# --- the local provider's head, read while listing ---

def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **_AUTHOR}).stdout.strip()


@pytest.mark.parametrize("layout", ["loose", "packed", "detached", "slashed-branch",
                                    "worktree", "empty"])
def test_listing_reads_the_head_that_git_reads(layout: str, tmp_path: Path) -> None:
    folder = tmp_path / "org"
    path = repo(folder / "svc", "pass")
    expected_branch: str | None = "main"
    if layout == "packed":
        git(path, "pack-refs", "--all")
        assert not (path / ".git" / "refs" / "heads" / "main").exists()
    elif layout == "detached":
        commit(path, "MODE", "fail\n")
        git(path, "checkout", "--quiet", "--detach", "HEAD~1")
        expected_branch = None
    elif layout == "slashed-branch":
        git(path, "checkout", "--quiet", "-b", "release/2026.1")
        commit(path, "MODE", "fail\n")
        expected_branch = "release/2026.1"
    elif layout == "worktree":  # `.git` is a file: git is asked
        git(path, "worktree", "add", "--quiet", str(folder / "linked"), "-b", "side")
        path, expected_branch = folder / "linked", "side"
    elif layout == "empty":
        shutil.rmtree(path)
        path = make_repo(folder / "svc", {}, commit=False)
    refs = {r.name: r for r in LocalProvider(folder).list_repos()}
    ref = refs[f"org/{path.name}"]
    if layout == "empty":
        assert (ref.head_sha, ref.default_branch) == (None, None)
        return
    assert ref.head_sha == git(path, "rev-parse", "HEAD")
    assert ref.default_branch == expected_branch


def test_compliance_counts_decided_findings_and_never_rounds_to_the_extremes() -> None:
    from governance.models import compliance_of

    expected = {
        (): None, (("pass", 1),): 100.0, (("fail", 1),): 0.0,
        (("pass", 1999), ("fail", 1)): 99.9, (("pass", 1), ("fail", 1999)): 0.1,
        (("waived", 2), ("fail", 1), ("error", 4)): 66.7, (("not_applicable", 3),): None,
        (("pass", 2), ("fail", 1), ("not_available", 9)): 66.7,
    }
    for counts, value in expected.items():
        assert compliance_of(dict(counts)) == value, counts
