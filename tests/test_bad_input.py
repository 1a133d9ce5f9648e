"""Hostile and broken input: each case ends as a clear finding or error, never a stopped scan.

One org of real git repositories holds every bad case next to a good repository; the
test-only policy `fixture-workflow-yaml` parses .github/workflows/*.yml through
ctx.files.yaml(), as the workflow policies do, and `fixture-behaviour` (no MODE file:
pass) shows the other policies of a repository are still evaluated. The same org under
the bundled default pack checks that the real workflow policies report, never crash.

The tool's own files (governance.yml, policy.yml, packs) fail fast instead: exit code 2
and a message with the file, the line and what was expected.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from governance.demo import make_repo
from governance.snapshot import MAX_TEXT_BYTES
from governance.yamlsafe import MAX_DEPTH, MAX_EXPANDED_NODES

WORKFLOW = ".github/workflows/ci.yml"
GOOD = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"

_LOLS = ", ".join(['"lol"'] * 9)
BILLION_LAUGHS = "on: push\na: &a [" + _LOLS + "]\n" + "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in itertools.pairwise("abcdefghi")
) + "jobs: *i\n"

# repository -> (committed workflow text or bytes, expected line, expected message part)
BAD_WORKFLOWS: dict[str, tuple[str | bytes, int | None, str]] = {
    "syntax-error": ("on: push\njobs:\n  build: {runs-on: ubuntu-latest\n  steps: []\n",
                     4, "invalid YAML: while parsing a flow mapping"),
    "tab-indent": ("on: push\njobs:\n  build:\n\truns-on: ubuntu-latest\n",
                   4, "found character '\\t' that cannot start any token"),
    "duplicate-key": ("on: push\njobs: {}\non: pull_request\n", 3, 'found duplicate key "on"'),
    "undefined-alias": ("on: push\njobs:\n  build: *nowhere\n",
                        3, "alias *nowhere refers to no anchor"),
    "recursive-alias": ("on: push\njobs: &jobs\n  build: *jobs\n", 3, "recursive alias *jobs"),
    "yaml-bomb": (BILLION_LAUGHS, 7,
                  f"expands to more than {MAX_EXPANDED_NODES} nodes through aliases"),
    "deep-nesting": ("on: push\njobs: " + "[" * 500 + "]" * 500 + "\n",
                     2, f"nests deeper than {MAX_DEPTH} levels"),
    "huge-file": ("on: push\njobs:\n" + "# padding padding padding padding\n" * 160_000,
                  None, f"over the {MAX_TEXT_BYTES} byte limit; not read"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
               None, "binary file where text was expected"),
    "latin-1": ("on: push\nname: caf\xe9 build\njobs: {}\n".encode("latin-1"),
                2, "not valid UTF-8 (byte 0xe9)"),
}
SYMLINKED_WORKFLOWS = {
    "symlink-absolute": ("/etc/passwd", "symlink to '/etc/passwd' points outside the repository"),
    "symlink-escape": ("../../../outside.yml",
                       "symlink to '../../../outside.yml' points outside the repository"),
}


@pytest.fixture(scope="module")
def hostile_org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    org = root / "acme"
    make_repo(org / "good", {WORKFLOW: GOOD, "README.md": "# good\n"})
    for name, (content, _, _) in BAD_WORKFLOWS.items():
        make_repo(org / name, {WORKFLOW: content})
    for name, (target, _) in SYMLINKED_WORKFLOWS.items():
        make_repo(org / name, {"README.md": "x\n"}, symlinks={WORKFLOW: target})
    make_repo(org / "symlink-inside", {"ci/build.yml": GOOD},
              symlinks={WORKFLOW: "../../ci/build.yml"})
    make_repo(org / "symlink-loop", {"README.md": "x\n"},
              symlinks={WORKFLOW: "other.yml", ".github/workflows/other.yml": "ci.yml"})
    (org / "not-a-repo").mkdir()
    (org / "not-a-repo" / "notes.txt").write_text("a folder someone left in the org\n")
    make_repo(org / "no-commits", {})
    make_repo(root / "elsewhere", {WORKFLOW: GOOD})
    (org / "linked-outside").symlink_to(root / "elsewhere")
    (root / "outside.yml").write_text(GOOD)
    return org


@pytest.fixture(scope="module")
def hostile_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fixture_root = Path(__file__).resolve().parent / "policies_fixture"
    path = tmp_path_factory.mktemp("config") / "governance.yml"
    path.write_text(f'pack: fixture-all\npolicy_paths: ["{fixture_root}"]\n')
    return path


@pytest.fixture(scope="module")
def hostile_findings(hostile_org: Path, hostile_config: Path,
                     tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    import json

    from governance.scan import ScanRequest, run_scan

    outcome = run_scan(ScanRequest(f"local:{hostile_org}", hostile_config),
                       tmp_path_factory.mktemp("spool"))
    assert outcome.meta["partial"] is True
    findings = [json.loads(line) for line in outcome.spool.read_text().splitlines()]
    return {(f["repository"], f["policy"]): f for f in findings}


def test_every_repository_is_evaluated_despite_the_bad_ones(
    hostile_org: Path, hostile_findings: dict[tuple[str, str], Any]
) -> None:
    expected = {f"acme/{child.name}" for child in hostile_org.iterdir()}
    assert {repo for repo, _ in hostile_findings} == expected
    assert hostile_findings[("acme/good", "fixture-workflow-yaml")]["outcome"] == "pass"
    assert hostile_findings[("acme/good", "fixture-behaviour")]["outcome"] == "pass"


@pytest.mark.parametrize("repository", sorted(BAD_WORKFLOWS))
def test_bad_workflow_is_an_error_naming_file_and_line(
    repository: str, hostile_findings: dict[tuple[str, str], Any]
) -> None:
    _, line, message = BAD_WORKFLOWS[repository]
    finding = hostile_findings[(f"acme/{repository}", "fixture-workflow-yaml")]
    assert finding["outcome"] == "error"
    assert finding["path"] == WORKFLOW
    assert finding["line"] == line
    assert message in finding["message"]
    assert finding["message"].startswith(f"{WORKFLOW}:{line}: " if line else f"{WORKFLOW}: ")
    # The repository's other policies do not suffer from one bad file.
    assert hostile_findings[(f"acme/{repository}", "fixture-behaviour")]["outcome"] == "pass"


@pytest.mark.parametrize("repository", sorted(SYMLINKED_WORKFLOWS))
def test_symlink_leaving_the_repository_is_not_followed(
    repository: str, hostile_findings: dict[tuple[str, str], Any]
) -> None:
    _, message = SYMLINKED_WORKFLOWS[repository]
    finding = hostile_findings[(f"acme/{repository}", "fixture-workflow-yaml")]
    assert finding["outcome"] == "error"
    assert finding["path"] == WORKFLOW
    assert message in finding["message"]
    assert "root:" not in finding["message"]  # nothing of /etc/passwd was read


def test_symlink_inside_the_repository_resolves(
    hostile_findings: dict[tuple[str, str], Any]
) -> None:
    finding = hostile_findings[("acme/symlink-inside", "fixture-workflow-yaml")]
    assert finding["outcome"] == "pass"
    assert finding["message"] == "1 workflow parsed"


def test_symlink_loop_is_cut(hostile_findings: dict[tuple[str, str], Any]) -> None:
    finding = hostile_findings[("acme/symlink-loop", "fixture-workflow-yaml")]
    assert finding["outcome"] == "error"
    assert "too many levels of symbolic links" in finding["message"]


@pytest.mark.parametrize("policy", ["fixture-workflow-yaml", "fixture-behaviour"])
def test_folder_that_is_not_a_repository_is_an_error_for_every_policy(
    policy: str, hostile_org: Path, hostile_findings: dict[tuple[str, str], Any]
) -> None:
    finding = hostile_findings[("acme/not-a-repo", policy)]
    assert finding["outcome"] == "error"
    assert finding["message"] == f"{hostile_org / 'not-a-repo'} is not a git repository"


def test_repository_symlinked_from_outside_the_org_is_refused(
    hostile_org: Path, hostile_findings: dict[tuple[str, str], Any]
) -> None:
    finding = hostile_findings[("acme/linked-outside", "fixture-workflow-yaml")]
    assert finding["outcome"] == "error"
    assert "is a symlink to outside" in finding["message"]
    assert str(hostile_org / "linked-outside") in finding["message"]


def test_repository_without_commits_says_so(
    hostile_findings: dict[tuple[str, str], Any]
) -> None:
    finding = hostile_findings[("acme/no-commits", "fixture-workflow-yaml")]
    assert finding["outcome"] == "not_applicable"
    assert finding["message"].startswith("empty repository (no commits): ")


@pytest.fixture(scope="module")
def bundled_findings(hostile_org: Path, tmp_path_factory: pytest.TempPathFactory
                     ) -> dict[tuple[str, str], Any]:
    """The same org under the bundled default pack: the real workflow policies."""
    import json

    from governance.scan import ScanRequest, run_scan

    folder = tmp_path_factory.mktemp("bundled")
    (folder / "governance.yml").write_text("pack: gitops-baseline\n")
    outcome = run_scan(ScanRequest(f"local:{hostile_org}", folder / "governance.yml"),
                       folder / "spool")
    findings = [json.loads(line) for line in outcome.spool.read_text().splitlines()]
    return {(f["repository"], f["policy"]): f for f in findings}


def test_bundled_policies_never_crash_on_hostile_input(
    hostile_org: Path, bundled_findings: dict[tuple[str, str], Any]
) -> None:
    assert {repo for repo, _ in bundled_findings} == {
        f"acme/{child.name}" for child in hostile_org.iterdir()}
    crashed = [(key, f["message"]) for key, f in bundled_findings.items()
               if f["message"].startswith("check crashed")]
    assert crashed == []


@pytest.mark.parametrize("repository", sorted({*BAD_WORKFLOWS, *SYMLINKED_WORKFLOWS}))
@pytest.mark.parametrize("policy", ["actions-pinned", "workflow-permissions-declared"])
def test_bundled_workflow_policies_report_the_bad_file(
    repository: str, policy: str, bundled_findings: dict[tuple[str, str], Any]
) -> None:
    finding = bundled_findings[(f"acme/{repository}", policy)]
    assert finding["outcome"] == "error"
    assert finding["path"] == WORKFLOW
    expected = (BAD_WORKFLOWS[repository][2] if repository in BAD_WORKFLOWS
                else SYMLINKED_WORKFLOWS[repository][1])
    assert expected in finding["message"]


def test_cli_scan_of_the_hostile_org_is_partial_with_exit_code_3(
    hostile_org: Path, hostile_config: Path, cli: Callable[..., Any], tmp_path: Path
) -> None:
    result = cli("scan", f"local:{hostile_org}", "--config", str(hostile_config),
                 "--out", str(tmp_path / "out"), "--format", "json")
    assert result.code == 3, result.text
    assert "partial run" in result.text
    assert (tmp_path / "out" / "findings.json").is_file()
    assert "Traceback" not in result.text


def test_missing_local_source_is_a_usage_error(cli: Callable[..., Any], tmp_path: Path) -> None:
    result = cli("scan", f"local:{tmp_path / 'no-such-org'}", "--out", str(tmp_path / "out"))
    assert result.code == 2
    assert f"local source {tmp_path / 'no-such-org'}: no such folder" in result.text
    assert not (tmp_path / "out").exists()


def test_empty_org_folder_is_a_usage_error(cli: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "empty-org").mkdir()
    result = cli("scan", "local:empty-org", "--out", "out")
    assert result.code == 2
    assert "not a git repository and has no sub-folders" in result.text


def test_real_process_exit_code_for_a_partial_scan(
    hostile_org: Path, hostile_config: Path, tmp_path: Path
) -> None:
    """Through `python -m governance`: main()'s mapping, no traceback on stderr."""
    process = subprocess.run(
        [sys.executable, "-m", "governance", "scan", f"local:{hostile_org}",
         "-c", str(hostile_config), "-o", str(tmp_path / "out"), "-f", "csv"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert process.returncode == 3, process.stderr
    assert "Traceback" not in process.stderr
    assert "acme/yaml-bomb" in (tmp_path / "out" / "findings.csv").read_text()


# --- the tool's own configuration fails fast: exit 2, file:line and what is expected ---

def _policy(folder: Path, policy_id: str, text: str, check: str | None = None) -> None:
    (folder / policy_id).mkdir(parents=True)
    (folder / policy_id / "policy.yml").write_text(text)
    if check is not None:
        (folder / policy_id / "check.py").write_text(check)


_VALID_POLICY = """\
id: {id}
title: T
severity: low
rationale: R
remediation: M
expect:
  any_file: [README*]
"""


@pytest.mark.parametrize(
    ("body", "line", "expected"),
    [
        ("pack: [gitops\n", 2, "invalid YAML: while parsing a flow sequence"),
        ("pack: a\npack: b\n", 2, 'found duplicate key "pack"'),
        ("polices: {}\n", 1,
         "(top level): unknown key 'polices'; expected one of: pack, policy_paths, "
         "policies, repositories, waivers"),
        ("policies:\n  readme-present:\n    severity: urgent\n", 3,
         "policies.readme-present.severity: Input should be 'info', 'low', 'medium', "
         "'high' or 'critical'"),
        ("policies:\n  readme-present:\n    severiti: high\n", 3,
         "policies.readme-present: unknown key 'severiti'; expected one of: enabled, "
         "severity, options"),
        ("policies:\n  - readme-present\n", 1, "policies: expected a mapping"),
        ("waivers:\n  - repository: x\n    policy: readme-present\n    reason: r\n", 2,
         "waivers.0: missing required key 'owner'"),
        ("waivers:\n  - {repository: x, policy: readme-present, reason: r, owner: o,"
         " expires: soon}\n", 2, "waivers.0.expires: Input should be a valid date"),
        ("policies:\n  readme-presnt: {}\n", 2,
         "unknown policy 'readme-presnt'; did you mean 'readme-present'?"),
        ("policies:\n  readme-present:\n    options: {strict: true}\n", 3,
         "policy 'readme-present' has no option 'strict' (options: none)"),
        ("waivers:\n  - {repository: x, policy: readme-presnt, reason: r, owner: o}\n", 2,
         "waivers: unknown policy 'readme-presnt'; did you mean 'readme-present'?"),
        ("repositories:\n  include: '*'\n", 2, "repositories.include: expected a list"),
        ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
            f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in itertools.pairwise("abcdefg")),
         6, "YAML bomb"),
    ],
    ids=["syntax", "duplicate", "unknown-key", "bad-severity", "unknown-nested-key",
         "list-not-mapping", "missing-field", "bad-date", "unknown-policy", "unknown-option",
         "waiver-unknown-policy", "wrong-type", "bomb"],
)
def test_malformed_governance_yml_exits_2_with_file_line_and_expectation(
    body: str, line: int, expected: str, cli: Callable[..., Any], tmp_path: Path
) -> None:
    make_repo(tmp_path / "repo", {"README.md": "x"})
    (tmp_path / "governance.yml").write_text(body)
    result = cli("audit", "repo")  # ./governance.yml is the default config
    assert result.code == 2, result.text
    assert f"error: governance.yml:{line}: " in result.text
    assert expected in result.text
    assert "Traceback" not in result.text


def test_malformed_pack_exits_2_naming_pack_file_and_line(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    make_repo(tmp_path / "repo", {"README.md": "x"})
    pack = tmp_path / "team.yml"
    pack.write_text("id: team\ndefaults: false\npolicies:\n  readme-present: {}\n"
                    "  ci-config-presnt: {severity: high}\n")
    result = cli("audit", "repo", "--pack", str(pack))
    assert result.code == 2
    assert f"{pack}:5: unknown policy 'ci-config-presnt'; did you mean 'ci-config-present'?" \
        in result.text

    pack.write_text("id: team\npolicies:\n  readme-present:\n    options:\n      depth: 3\n")
    result = cli("audit", "repo", "--pack", str(pack))
    assert result.code == 2
    assert f"{pack}:5: policy 'readme-present' has no option 'depth' (options: none)" \
        in result.text

    pack.write_text("id: team\nextends: gitops-basline\n")
    result = cli("audit", "repo", "--pack", str(pack))
    assert result.code == 2
    assert f"{pack}:2: extends: unknown pack 'gitops-basline'; known packs:" in result.text

    pack.write_text("id: team\nincludes: [gitops-baseline]\n")
    result = cli("audit", "repo", "--pack", str(pack))
    assert result.code == 2
    assert f"{pack}:2: (top level): unknown key 'includes'; expected one of: id, title" \
        in result.text


def test_unknown_pack_name_exits_2(cli: Callable[..., Any], tmp_path: Path) -> None:
    make_repo(tmp_path / "repo", {"README.md": "x"})
    result = cli("audit", "repo", "--pack", "no-such-pack")
    assert result.code == 2
    assert "unknown pack 'no-such-pack'; known packs: gitops-baseline" in result.text


@pytest.mark.parametrize(
    ("policy_text", "check", "where", "expected"),
    [
        (_VALID_POLICY.format(id="bad-one").replace("severity: low", "severity: urgent"),
         None, "policy.yml:3", "severity: Input should be 'info', 'low'"),
        (_VALID_POLICY.format(id="bad-one").replace("rationale: R\n", ""),
         None, "policy.yml:1", "(top level): missing required key 'rationale'"),
        (_VALID_POLICY.format(id="bad-one") + "autofx: safe\n", None, "policy.yml:8",
         "unknown key 'autofx'; expected one of: id, title, severity"),
        (_VALID_POLICY.format(id="other-name"), None, "policy.yml",
         "id 'other-name' must match its folder name 'bad-one'"),
        (_VALID_POLICY.format(id="bad-one").replace("expect:\n  any_file: [README*]\n", ""),
         None, "policy.yml", "needs an `expect:` block or a check.py"),
        ("id: bad-one\ntitle: [unclosed\n", None, "policy.yml:3", "invalid YAML"),
        (_VALID_POLICY.format(id="bad-one"), "def check(ctx):\n    return (\n",
         "check.py", "cannot import: SyntaxError"),
        (_VALID_POLICY.format(id="bad-one"), "CHECK = None\n",
         "check.py", "defines no check(ctx) function"),
    ],
    ids=["bad-severity", "missing-field", "unknown-key", "id-mismatch", "no-check",
         "bad-yaml", "check-syntax-error", "check-missing"],
)
def test_malformed_policy_exits_2_naming_the_file(
    policy_text: str, check: str | None, where: str, expected: str,
    cli: Callable[..., Any], tmp_path: Path,
) -> None:
    make_repo(tmp_path / "repo", {"README.md": "x"})
    _policy(tmp_path / "extra", "bad-one", policy_text, check)
    (tmp_path / "governance.yml").write_text("policy_paths: [extra]\n")
    result = cli("audit", "repo")
    assert result.code == 2, result.text
    assert f"{tmp_path / 'extra' / 'bad-one' / where}" in result.text
    assert expected in result.text
    assert "Traceback" not in result.text


def test_missing_policy_folder_exits_2(cli: Callable[..., Any], tmp_path: Path) -> None:
    make_repo(tmp_path / "repo", {"README.md": "x"})
    (tmp_path / "governance.yml").write_text("policy_paths: [nowhere]\n")
    result = cli("audit", "repo")
    assert result.code == 2
    assert f"{tmp_path / 'nowhere'}: policy folder not found" in result.text


def test_missing_config_file_exits_2(cli: Callable[..., Any], tmp_path: Path) -> None:
    make_repo(tmp_path / "repo", {"README.md": "x"})
    result = cli("audit", "repo", "--config", "absent.yml")
    assert result.code == 2
    assert "absent.yml: file not found" in result.text
