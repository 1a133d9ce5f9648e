"""The workflow-permissions-declared fixer: a top-level `permissions: contents: read`.

Golden cases (fixes/<case>/before/ and after/, read as `BeforeAfter`): indentation
styles, CRLF with document markers and a `true:` key, jobs with their own permissions,
no jobs at all.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from governance.fixes import NeedsPerson, Proposal
from governance.models import Outcome
from governance.testing import BeforeAfter, applied, evaluate, fixed
from governance.yamledit import Edit, EditRefused, Splice, YamlFile, insert_top_level

FIXES = Path(__file__).resolve().parent / "fixes"
POLICY = "workflow-permissions-declared"


def inserted_lines(before: bytes, after: bytes) -> list[str]:
    """The lines the change adds; it must neither remove nor alter any line."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    added: list[str] = []
    for tag, _, _, start, end in difflib.SequenceMatcher(None, old, new).get_opcodes():
        assert tag in ("equal", "insert"), (tag, old, new)
        if tag == "insert":
            added += [line.decode() for line in new[start:end]]
    return added


def workflow(*steps: str, job: str = "build", extra: str = "") -> str:
    lines = "".join(f"      - {step}\n" for step in steps)
    return (f"on: push\njobs:\n  {job}:\n    runs-on: ubuntu-latest\n{extra}"
            f"    steps:\n{lines}")


@pytest.mark.parametrize("case", BeforeAfter.load_all(FIXES), ids=str)
def test_golden_case(tmp_path: Path, case: BeforeAfter) -> None:
    result, _ = case.proposal(tmp_path, POLICY)
    for change in result.changes:
        assert change.previous is not None and change.content is not None
        added = inserted_lines(change.previous, change.content)
        newline = "\r\n" if b"\r\n" in change.previous else "\n"
        assert all(line.endswith(newline) for line in added)
        assert [line.strip() for line in added if line.strip()] == [
            "permissions:", "contents: read"]


def test_blocked_workflows_are_left_with_the_reason(tmp_path: Path) -> None:
    files = {
        ".github/workflows/ci.yml": workflow("uses: actions/checkout@v4", "run: make"),
        ".github/workflows/release.yml": workflow("uses: softprops/action-gh-release@v2",
                                                  job="publish"),
    }
    result = fixed(tmp_path / "fix", POLICY, files)
    assert isinstance(result, Proposal)
    assert result.title == "Declare read-only token permissions in 1 workflow"
    assert [change.path for change in result.changes] == [".github/workflows/ci.yml"]
    assert result.notes[-1] == (
        "Left for a person: .github/workflows/release.yml: job `publish` uses "
        "softprops/action-gh-release (contents: write), and declares no `permissions:` of "
        "its own")
    rechecked = evaluate(tmp_path / "recheck", POLICY, applied(files, result))
    assert rechecked.outcome is Outcome.FAIL
    assert rechecked.details["undeclared"] == [".github/workflows/release.yml"]


@pytest.mark.parametrize(("steps", "extra", "why"), [
    (["uses: peter-evans/create-pull-request@v6"], "",
     "uses peter-evans/create-pull-request (contents: write, pull-requests: write)"),
    (["uses: github/codeql-action/upload-sarif@v3"], "",
     "uses github/codeql-action/upload-sarif (security-events: write)"),
    (["run: |\n          git tag v1\n          git push --tags"], "",
     "runs `git push` (write access)"),
    (["run: gh release create v1"], "", "runs `gh release` (write access)"),
    (["uses: aws-actions/configure-aws-credentials@v4\n        with:\n"
      "          role-to-assume: arn:aws:iam::1:role/ci"], "",
     "uses aws-actions/configure-aws-credentials with OIDC (id-token: write)"),
])
def test_jobs_that_need_more_need_a_person(tmp_path: Path, steps: list[str], extra: str,
                                           why: str) -> None:
    files = {".github/workflows/ci.yml": workflow(*steps, extra=extra)}
    result = fixed(tmp_path, POLICY, files)
    assert isinstance(result, NeedsPerson)
    assert result.reason == (f".github/workflows/ci.yml: job `build` {why}, and declares no "
                             "`permissions:` of its own")


def test_keyed_logins_and_reading_steps_are_fixed(tmp_path: Path) -> None:
    steps = ["uses: aws-actions/configure-aws-credentials@v4\n        with:\n"
             "          aws-access-key-id: x\n          role-to-assume: y",
             "run: git pull && gh --version"]
    files = {".github/workflows/ci.yml": workflow(*steps)}
    result = fixed(tmp_path, POLICY, files)
    assert isinstance(result, Proposal), result


def test_reusable_workflow_calls_need_a_person(tmp_path: Path) -> None:
    text = "on: push\njobs:\n  call:\n    uses: acme/ci/.github/workflows/build.yml@v1\n"
    result = fixed(tmp_path, POLICY, {".github/workflows/ci.yml": text})
    assert isinstance(result, NeedsPerson)
    assert "calls the reusable workflow `acme/ci/.github/workflows/build.yml@v1`" \
        in result.reason


def test_write_all_and_empty_permissions_need_a_person(tmp_path: Path) -> None:
    files = {
        ".github/workflows/a.yml": "on: push\npermissions:\njobs:\n  b:\n    runs-on: x\n",
        ".github/workflows/b.yml": "on: push\npermissions: write-all\njobs:\n  b:\n"
                                   "    runs-on: x\n",
    }
    result = fixed(tmp_path, POLICY, files)
    assert isinstance(result, NeedsPerson)
    assert result.reason == (
        ".github/workflows/a.yml: its top-level `permissions:` has no value; fill it in by "
        "hand; .github/workflows/b.yml:2: `permissions: write-all`: which scopes are needed "
        "is for a person to decide")


def test_a_flow_mapping_workflow_needs_a_person(tmp_path: Path) -> None:
    text = "{on: push, jobs: {b: {runs-on: x, steps: [{run: make}]}}}\n"
    result = fixed(tmp_path, POLICY, {".github/workflows/ci.yml": text})
    assert isinstance(result, NeedsPerson)
    assert result.reason == ".github/workflows/ci.yml: the top level is not a block mapping"


def test_verification_refuses_a_block_in_the_wrong_place() -> None:
    data = (FIXES / "spaced-four-indent" / "before" / "dot-github" / "workflows"
            / "build.yaml").read_bytes()
    file = YamlFile("build.yaml", data)
    good = insert_top_level(file, "permissions", {"contents": "read"}, before=("jobs",))
    # The same block spliced in two lines too early: it cuts `on:` short, and
    # `pull_request` lands in `permissions:`.
    offset = data.index(b"    pull_request")
    wrong = Edit((Splice(offset, offset, "permissions:\n    contents: read\n"),),
                 good.change_nodes, "misplaced")
    with pytest.raises(EditRefused, match="would change more than intended"):
        file.edited([wrong])
