from pathlib import Path

from governance.models import Outcome
from governance.testing import bundled_policy, evaluate

POLICY = "codeowners-present"


def test_policy_is_code_not_a_declarative_expect() -> None:
    assert bundled_policy(POLICY).definition.expect is None


def test_local_checkout_accepts_any_location(tmp_path: Path) -> None:
    for index, path in enumerate(
        [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"]
    ):
        finding = evaluate(tmp_path / str(index), POLICY, {path: "* @acme/team\n"})
        assert finding.outcome is Outcome.PASS, path
        assert finding.message == f"code owners declared in {path} (1 rule)"


def test_missing_codeowners_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"README.md": "x\n"})
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith("no CODEOWNERS file in .github/CODEOWNERS, CODEOWNERS")
    assert "default owner" in finding.remediation


def test_github_ignores_the_gitlab_folder(tmp_path: Path) -> None:
    finding = evaluate(
        tmp_path, POLICY, provider="github", files={".gitlab/CODEOWNERS": "* @acme/team\n"}
    )
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith(".gitlab/CODEOWNERS is not read by GitHub")
    assert finding.path == ".gitlab/CODEOWNERS"


def test_gitlab_ignores_the_github_folder_but_reads_its_own(tmp_path: Path) -> None:
    github_only = evaluate(
        tmp_path / "a", POLICY, provider="gitlab", files={".github/CODEOWNERS": "* @a\n"}
    )
    assert github_only.outcome is Outcome.FAIL
    assert "not read by GitLab" in github_only.message
    own = evaluate(
        tmp_path / "b", POLICY, provider="gitlab", files={".gitlab/CODEOWNERS": "* @a\n"}
    )
    assert own.outcome is Outcome.PASS


def test_first_location_wins_and_the_shadowed_file_is_named(tmp_path: Path) -> None:
    files = {".github/CODEOWNERS": "* @acme/a\n", "CODEOWNERS": "# nothing\n"}
    finding = evaluate(tmp_path, POLICY, provider="github", files=files)
    assert finding.outcome is Outcome.PASS
    assert finding.path == ".github/CODEOWNERS"
    assert "CODEOWNERS is ignored because .github/CODEOWNERS comes first" in finding.message
    # GitLab reads the root file first, and that one is empty
    on_gitlab = evaluate(tmp_path / "gl", POLICY, provider="gitlab", files=files)
    assert on_gitlab.outcome is Outcome.FAIL
    assert on_gitlab.path == "CODEOWNERS"


def test_empty_codeowners_fails_with_line(tmp_path: Path) -> None:
    text = "# owners of this repo\n\n[Backend]\n"
    finding = evaluate(tmp_path, POLICY, {"CODEOWNERS": text})
    assert finding.outcome is Outcome.FAIL
    assert finding.message == (
        "CODEOWNERS has no rules (only blank lines, comments or section headers)")
    assert (finding.path, finding.line) == ("CODEOWNERS", 1)


def test_rules_without_any_owner_fail(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"CODEOWNERS": "# header\n/docs/\n"})
    assert finding.outcome is Outcome.FAIL
    assert (finding.line, finding.message) == (2, "CODEOWNERS has 1 rule but none names an owner")


def test_gitlab_section_default_owners_count(tmp_path: Path) -> None:
    text = "[Docs] @acme/writers\n/docs/\n^[Optional][2] @acme/sre\n*.tf\n"
    finding = evaluate(tmp_path, POLICY, provider="gitlab", files={"CODEOWNERS": text})
    assert finding.outcome is Outcome.PASS
    assert finding.details["rules"] == 2
    assert finding.line == 2
