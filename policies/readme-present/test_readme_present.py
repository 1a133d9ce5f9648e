from pathlib import Path

from governance.models import Outcome
from governance.testing import evaluate


def test_readme_at_root_passes(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "readme-present", {"README.md": "# hi\n"})
    assert finding.outcome is Outcome.PASS
    assert finding.path == "README.md"


def test_readme_in_docs_passes_case_insensitively(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "readme-present", {"docs/readme.rst": "hi\n"})
    assert finding.outcome is Outcome.PASS


def test_missing_readme_fails_with_remediation(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "readme-present", {"src/main.py": "print(1)\n"})
    assert finding.outcome is Outcome.FAIL
    assert "README" in finding.remediation


def test_untracked_readme_does_not_count(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "readme-present", {"src/main.py": "x\n"})
    (tmp_path / "repo" / "README.md").write_text("not committed\n")
    again = evaluate(tmp_path / "again", "readme-present", {"README.md": "x"}, commit=False)
    assert finding.outcome is Outcome.FAIL
    assert again.outcome is Outcome.FAIL
    assert again.message.startswith("empty repository")
