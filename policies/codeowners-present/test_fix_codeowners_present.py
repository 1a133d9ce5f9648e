"""The CODEOWNERS fixer against golden cases in fixes/<case>/: input/ is the repository,
expected/ the files it must write byte for byte, case.yml the forge, options, expected
notes and deleted files."""

from pathlib import Path

import pytest

from governance.fixes import NeedsPerson, Proposal
from governance.models import Outcome
from governance.testing import FixCase, applied, evaluate, fixed

POLICY = "codeowners-present"
CASES = Path(__file__).resolve().parent / "fixes"


@pytest.mark.parametrize("case", FixCase.load_all(CASES), ids=str)
def test_golden_case(tmp_path: Path, case: FixCase) -> None:
    result = case.proposal(tmp_path, POLICY)
    for forge in case.hosts:
        finding = evaluate(tmp_path / forge, POLICY, applied(case.files, result),
                           provider=None if forge == "local" else forge)
        assert finding.outcome is Outcome.PASS, (forge, finding.message)


@pytest.mark.parametrize("forge", ["github", "gitlab", "local"])
def test_without_an_owner_a_person_decides(tmp_path: Path, forge: str) -> None:
    result = fixed(tmp_path, POLICY, {"README.md": "# app\n"}, forge=forge)
    assert isinstance(result, NeedsPerson)
    assert result.reason == "set default_owner to the team that should review"


def test_an_unowned_file_without_the_option_needs_a_person(tmp_path: Path) -> None:
    result = fixed(tmp_path, POLICY, {".github/CODEOWNERS": "/docs/\n"})
    assert isinstance(result, NeedsPerson)
    assert result.reason.startswith(".github/CODEOWNERS names no owner")


def test_an_owner_that_is_not_a_handle_is_refused(tmp_path: Path) -> None:
    result = fixed(tmp_path, POLICY, {"README.md": "x\n"},
                   options={"default_owner": "@acme/team\n* @x"})
    assert isinstance(result, NeedsPerson)
    assert "'*'" in result.reason


def test_an_ignored_file_with_owners_moves_even_without_the_option(tmp_path: Path) -> None:
    content = b"* @acme/platform\n"
    result = fixed(tmp_path, POLICY, {".gitlab/CODEOWNERS": content}, forge="github")
    assert isinstance(result, Proposal)
    assert [(c.path, c.action) for c in result.changes] == [
        (".github/CODEOWNERS", "create"), (".gitlab/CODEOWNERS", "delete")]
    assert result.changes[0].content == content
