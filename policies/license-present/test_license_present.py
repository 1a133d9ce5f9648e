from pathlib import Path

from governance.models import Outcome
from governance.testing import evaluate

POLICY = "license-present"


def test_licence_file_variants_pass(tmp_path: Path) -> None:
    for index, path in enumerate(["LICENSE", "LICENCE.md", "license.txt", "LICENSE-MIT",
                                  "COPYING", "COPYING.LESSER", "UNLICENSE", "LICENSES/MIT.txt"]):
        finding = evaluate(tmp_path / str(index), POLICY, {path: "MIT License\n"})
        assert finding.outcome is Outcome.PASS, path
        assert finding.message == f"licence file {path}"


def test_missing_licence_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"README.md": "x\n"})
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith("no LICENSE, LICENCE, COPYING or UNLICENSE file")
    assert "choosealicense" in finding.remediation


def test_licence_outside_the_root_or_with_other_names_does_not_count(tmp_path: Path) -> None:
    files = {"vendor/lib/LICENSE": "MIT\n", "docs/LICENSE.md": "MIT\n", "LICENSING.md": "x\n"}
    assert evaluate(tmp_path, POLICY, files).outcome is Outcome.FAIL
