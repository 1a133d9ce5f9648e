"""The command line, end to end over real git repositories, with its documented exit codes.

`runner` calls the typer app (exit codes of normal runs: 0, 1, 3); `cli` goes through
cli.main(), which maps errors a user can cause to exit code 2. Every test runs in its own
temporary folder, so nothing is written into the source tree.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from governance import __version__
from governance.cli import app
from governance.demo import demo_repositories, make_repo

GOOD_WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    return CliRunner(env={"COLUMNS": "250"})


def invoke(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def text_of(result: Any) -> str:
    return " ".join((result.stdout + " " + result.stderr).split())


def repo(folder: Path, mode: str = "pass", **extra: str) -> Path:
    return make_repo(folder, {"MODE": mode + "\n", ".github/workflows/ci.yml": GOOD_WORKFLOW,
                              **extra})


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    return write_config()  # ./governance.yml: the fixture-all pack of the test policies


# --- scan ---

def test_scan_of_a_clean_org_writes_three_reports_and_exits_0(
    runner: CliRunner, config: Path, tmp_path: Path
) -> None:
    for name in ("api", "web"):
        repo(tmp_path / "acme" / name)
    result = invoke(runner, "scan", "local:acme", "--out", "out")
    assert result.exit_code == 0, text_of(result)
    assert "2 repositories scanned" in text_of(result)
    for name in ("report.html", "findings.csv", "findings.json"):
        assert (tmp_path / "out" / name).is_file()
        assert f"wrote {Path('out') / name}" in text_of(result)
    with (tmp_path / "out" / "findings.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted((r["repository"], r["policy"], r["outcome"]) for r in rows) == [
        ("acme/api", "fixture-behaviour", "pass"), ("acme/api", "fixture-workflow-yaml", "pass"),
        ("acme/web", "fixture-behaviour", "pass"), ("acme/web", "fixture-workflow-yaml", "pass"),
    ]
    assert "acme/web" in json.dumps(json.loads((tmp_path / "out" / "findings.json").read_text()))
    assert "acme/api" in (tmp_path / "out" / "report.html").read_text()


def test_scan_with_a_failing_repository_still_exits_0(
    runner: CliRunner, config: Path, tmp_path: Path
) -> None:
    repo(tmp_path / "acme" / "api", mode="fail")
    result = invoke(runner, "scan", "acme", "-o", "out", "-f", "json")
    assert result.exit_code == 0  # scan reports; audit gates
    written = [p.name for p in (tmp_path / "out").iterdir() if p.suffix not in (".jsonl", ".db")]
    assert written == ["findings.json"]


def test_scan_with_an_error_is_partial_and_exits_3(
    runner: CliRunner, config: Path, tmp_path: Path
) -> None:
    repo(tmp_path / "acme" / "api")
    repo(tmp_path / "acme" / "broken", mode="crash")
    result = invoke(runner, "scan", "local:acme", "-o", "out", "-f", "csv")
    assert result.exit_code == 3
    assert "partial run: some findings are errors" in text_of(result)
    rows = list(csv.DictReader((tmp_path / "out" / "findings.csv").open(newline="")))
    crashed = [r for r in rows if r["outcome"] == "error"]
    assert [(r["repository"], r["message"]) for r in crashed] == [
        ("acme/broken", "check crashed: RuntimeError: boom from the fixture")]


def test_scan_unknown_format_exits_2(cli: Callable[..., Any], config: Path,
                                     tmp_path: Path) -> None:
    repo(tmp_path / "acme" / "api")
    result = cli("scan", "acme", "-o", "out", "-f", "xml")
    assert result.code == 2
    assert "unknown report format(s) xml; known: html, csv, json" in result.text


# --- audit ---

def test_audit_of_a_repository_meeting_the_standards_exits_0(
    runner: CliRunner, config: Path, tmp_path: Path
) -> None:
    repo(tmp_path / "svc")
    result = invoke(runner, "audit", "svc")
    assert result.exit_code == 0, text_of(result)
    assert "fixture-behaviour" in result.stdout and "told to pass" in result.stdout


def test_audit_defaults_to_the_current_folder(
    runner: CliRunner, write_config: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc = repo(tmp_path / "svc", mode="fail")
    write_config(folder=svc)
    monkeypatch.chdir(svc)  # the untracked governance.yml is not part of the repository
    result = invoke(runner, "audit")
    assert result.exit_code == 1
    assert "told to fail" in result.stdout


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [(None, 1), ("low", 1), ("medium", 1), ("high", 0), ("critical", 0)],
)
def test_audit_fails_only_at_or_above_fail_on(
    fail_on: str | None, code: int, runner: CliRunner, config: Path, tmp_path: Path
) -> None:
    repo(tmp_path / "svc", mode="fail")  # fixture-behaviour fails, severity medium
    args = ["audit", "svc"] + (["--fail-on", fail_on] if fail_on else [])
    result = invoke(runner, *args)
    assert result.exit_code == code
    if code:
        threshold = fail_on or "low"
        assert f"1 finding(s) at or above {threshold} failed" in text_of(result)


def test_audit_with_a_bundled_policy_below_fail_on(
    runner: CliRunner, tmp_path: Path
) -> None:
    make_repo(tmp_path / "svc", {"src/app.py": "x\n"})  # no README: readme-present fails (low)
    pack = tmp_path / "only-readme.yml"
    pack.write_text("id: only-readme\ndefaults: false\npolicies:\n  readme-present: {}\n")
    assert invoke(runner, "audit", "svc", "--pack", str(pack)).exit_code == 1
    result = invoke(runner, "audit", "svc", "--pack", str(pack), "--fail-on", "medium")
    assert result.exit_code == 0
    assert "no README" in result.stdout


def test_audit_json_output(runner: CliRunner, config: Path, tmp_path: Path) -> None:
    repo(tmp_path / "svc", mode="fail")
    result = invoke(runner, "audit", "svc", "--output", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["failing"] == 1
    by_policy = {f["policy"]: f for f in document["findings"]}
    assert by_policy["fixture-behaviour"]["outcome"] == "fail"
    assert by_policy["fixture-behaviour"]["severity"] == "medium"
    assert by_policy["fixture-workflow-yaml"]["outcome"] == "pass"


def test_audit_partial_exits_3(runner: CliRunner, config: Path, tmp_path: Path) -> None:
    make_repo(tmp_path / "svc", {"MODE": "pass\n", ".github/workflows/ci.yml": "jobs: [\n"})
    result = invoke(runner, "audit", "svc")
    assert result.exit_code == 3
    assert ".github/workflows/ci.yml:2" in result.stdout


def test_audit_failure_wins_over_partial(runner: CliRunner, config: Path,
                                         tmp_path: Path) -> None:
    make_repo(tmp_path / "svc", {"MODE": "fail\n", ".github/workflows/ci.yml": "jobs: [\n"})
    assert invoke(runner, "audit", "svc").exit_code == 1


def test_audit_writes_reports_when_asked(runner: CliRunner, config: Path,
                                         tmp_path: Path) -> None:
    repo(tmp_path / "svc")
    result = invoke(runner, "audit", "svc", "--out", "audit-out")
    assert result.exit_code == 0
    assert {p.name for p in (tmp_path / "audit-out").iterdir()} >= {
        "report.html", "findings.csv", "findings.json"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["audit", "acme"], "acme holds several repositories (acme/a, acme/b, ...); audit "
                            "takes one repository"),
        (["audit", "svn:acme/api"], "unknown source 'svn:acme/api': expected local:PATH"),
        (["audit", "gitlab:acme/api"], "the gitlab provider needs credentials: set GITLAB_TOKEN"),
        (["audit", "nowhere"], "no such folder"),
        (["audit", "acme/a", "--config", "missing.yml"], "missing.yml: file not found"),
        (["audit", "acme/a", "--output", "xml"], "expected text or json"),
        (["audit", "acme/a", "--fail-on", "severe"], "'severe' is not one of"),
        (["scan", "acme", "--no-such-flag"], "No such option: --no-such-flag"),
    ],
    ids=["several-repos", "unknown-source", "forge-without-credentials", "missing-path",
         "missing-config", "bad-output", "bad-severity", "unknown-flag"],
)
def test_usage_and_config_errors_exit_2(
    args: list[str], message: str, cli: Callable[..., Any], config: Path, tmp_path: Path
) -> None:
    repo(tmp_path / "acme" / "a")
    repo(tmp_path / "acme" / "b")
    result = cli(*args)
    assert result.code == 2, result.text
    assert message in result.text
    assert "Traceback" not in result.text


def test_audit_of_a_folder_excluded_by_the_config_exits_2(
    cli: Callable[..., Any], write_config: Callable[..., Path], tmp_path: Path
) -> None:
    repo(tmp_path / "svc")
    write_config("repositories:\n  exclude: [svc]\n")
    result = cli("audit", "svc")
    assert result.code == 2
    assert "svc: no repository found (or it is excluded by the config)" in result.text


# --- policies ---

def test_policies_list_shows_every_policy_and_what_the_pack_enables(
    runner: CliRunner, config: Path
) -> None:
    result = invoke(runner, "policies", "list")
    assert result.exit_code == 0
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in result.stdout.splitlines() if line.count("│") >= 5}
    assert rows["fixture-behaviour"] == ["Behaves as told (test fixture)", "medium", "yes",
                                         "none"]
    assert rows["readme-present"][2] == "no"  # known, not in the fixture-all pack
    result = invoke(runner, "policies", "list", "--pack", "gitops-baseline")
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in result.stdout.splitlines() if line.count("│") >= 5}
    assert rows["readme-present"][2] == "yes"
    assert rows["fixture-behaviour"][2] == "no"


def test_policies_show_explains_a_policy(runner: CliRunner) -> None:
    result = invoke(runner, "policies", "show", "readme-present")
    assert result.exit_code == 0
    text = text_of(result)
    assert "readme-present: README present (severity low" in text
    assert "Why A README is the front door" in text
    assert "Remediation Add a README.md" in text
    assert "Reads README, README.*" in text


def test_policies_show_unknown_exits_2(cli: Callable[..., Any]) -> None:
    result = cli("policies", "show", "no-such-policy")
    assert result.code == 2
    assert "unknown policy 'no-such-policy'; see `governance policies list`" in result.text


# --- demo, version, a real process ---

def test_demo_builds_a_sample_org_and_writes_the_reports(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = invoke(runner, "demo", "--out", "demo-out", "--keep", "sample")
    assert result.exit_code == 0, text_of(result)
    assert {p.name for p in (tmp_path / "demo-out").iterdir()} >= {
        "report.html", "findings.csv", "findings.json"}
    kept = sorted(p.name for p in (tmp_path / "sample" / "acme").iterdir())
    assert kept == sorted(demo_repositories())
    assert f"{len(kept)} repositories scanned" in text_of(result)
    html = (tmp_path / "demo-out" / "report.html").read_text()
    assert all(f"acme/{name}" in html for name in kept)


def test_version(runner: CliRunner) -> None:
    result = invoke(runner, "--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"governance {__version__}"


def test_real_process_exit_codes(tmp_path: Path) -> None:
    """`python -m governance` end to end: the exit code a CI job sees."""
    make_repo(tmp_path / "svc", {"src/app.py": "x\n"})
    env = {**os.environ, "COLUMNS": "200"}

    def governance(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "governance", *args], cwd=tmp_path,
                              capture_output=True, text=True, env=env, timeout=120)

    bad = governance("audit", "svc", "--pack", "nope")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: unknown pack 'nope'")
    assert "Traceback" not in bad.stderr
    help_ = governance("--help")
    assert help_.returncode == 0 and "audit" in help_.stdout
