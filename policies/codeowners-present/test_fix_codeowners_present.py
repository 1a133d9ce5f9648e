"""The CODEOWNERS fixer against golden cases in fixes/<case>/: input/ is the repository,
expected/ the files it must write byte for byte, case.yml the forge, options, expected
notes and deleted files."""

from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from governance.fixes import NeedsPerson, Proposal
from governance.models import Outcome
from governance.testing import applied, evaluate, fix

POLICY = "codeowners-present"
CASES = Path(__file__).resolve().parent / "fixes"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(tmp_path: Path, files: dict[str, bytes] | dict[str, str], forge: str = "github",
         options: dict[str, Any] | None = None) -> Any:
    result, finding = fix(tmp_path / "fix", POLICY, files, forge=forge, options=options)
    assert finding.outcome is Outcome.FAIL
    return result


@pytest.mark.parametrize("name", sorted(p.name for p in CASES.iterdir()))
def test_golden_case(tmp_path: Path, name: str) -> None:
    case: dict[str, Any] = YAML(typ="safe").load((CASES / name / "case.yml").read_text())
    files = _tree(CASES / name / "input")
    expected = _tree(CASES / name / "expected")
    result = _run(tmp_path, files, case["forge"], case.get("options"))

    assert isinstance(result, Proposal), result
    assert {c.path: c.content for c in result.changes if c.content is not None} == expected
    assert sorted(c.path for c in result.changes if c.content is None) == case.get("deleted", [])
    for note in case.get("notes", []):
        assert any(note in line for line in result.notes), (note, result.notes)

    # A local checkout's file must work wherever the repository is hosted.
    forges = ["local", "github", "gitlab"] if case["forge"] == "local" else [case["forge"]]
    for forge in forges:
        finding = evaluate(tmp_path / forge, POLICY, applied(files, result),
                           provider=None if forge == "local" else forge)
        assert finding.outcome is Outcome.PASS, (forge, finding.message)


@pytest.mark.parametrize("forge", ["github", "gitlab", "local"])
def test_without_an_owner_a_person_decides(tmp_path: Path, forge: str) -> None:
    result = _run(tmp_path, {"README.md": "# app\n"}, forge)
    assert isinstance(result, NeedsPerson)
    assert result.reason == "set default_owner to the team that should review"


def test_an_unowned_file_without_the_option_needs_a_person(tmp_path: Path) -> None:
    result = _run(tmp_path, {".github/CODEOWNERS": "/docs/\n"})
    assert isinstance(result, NeedsPerson)
    assert result.reason.startswith(".github/CODEOWNERS names no owner")


def test_an_owner_that_is_not_a_handle_is_refused(tmp_path: Path) -> None:
    result = _run(tmp_path, {"README.md": "x\n"}, options={"default_owner": "@acme/team\n* @x"})
    assert isinstance(result, NeedsPerson)
    assert "'*'" in result.reason


def test_an_ignored_file_with_owners_moves_even_without_the_option(tmp_path: Path) -> None:
    content = b"* @acme/platform\n"
    result = _run(tmp_path, {".gitlab/CODEOWNERS": content}, "github")
    assert isinstance(result, Proposal)
    assert [(c.path, c.action) for c in result.changes] == [
        (".github/CODEOWNERS", "create"), (".gitlab/CODEOWNERS", "delete")]
    assert result.changes[0].content == content
