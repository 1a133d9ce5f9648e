from pathlib import Path

from governance.models import Outcome
from governance.testing import evaluate

POLICY = "security-policy-present"


def test_security_md_in_each_usual_place_passes(tmp_path: Path) -> None:
    for index, path in enumerate(
        ["SECURITY.md", ".github/SECURITY.md", "docs/security.md", ".gitlab/SECURITY.rst"]
    ):
        finding = evaluate(tmp_path / str(index), POLICY, {path: "Report to sec@x.invalid\n"})
        assert finding.outcome is Outcome.PASS, path
        assert finding.path == path


def test_missing_security_policy_fails_with_remediation(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"README.md": "x\n"})
    assert finding.outcome is Outcome.FAIL
    assert finding.message == "no SECURITY.md at the root, in .github/, docs/ or .gitlab/"
    assert "privately" in finding.remediation


def test_security_file_deeper_in_the_tree_does_not_count(tmp_path: Path) -> None:
    files = {"src/SECURITY.md": "x\n", "docs/policies/SECURITY.md": "x\n"}
    assert evaluate(tmp_path, POLICY, files).outcome is Outcome.FAIL
