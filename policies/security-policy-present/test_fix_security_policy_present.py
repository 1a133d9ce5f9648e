"""The SECURITY.md fixer against golden cases in fixes/<case>/: input/ is the repository,
expected/ the file it must write byte for byte, case.yml the forge, options and notes."""

from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from ruamel.yaml import YAML

from governance.fixes import NeedsPerson, Proposal
from governance.models import Outcome
from governance.testing import applied, evaluate, fix

POLICY = "security-policy-present"
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
    assert {c.path: c.content for c in result.changes} == expected
    for note in case.get("notes", []):
        assert any(note in line for line in result.notes), (note, result.notes)
    finding = evaluate(tmp_path / "after", POLICY, applied(files, result))
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.path == "SECURITY.md"


def _links(markdown: bytes) -> list[str]:
    tokens = MarkdownIt("commonmark").parse(markdown.decode())
    return [str(child.attrs["href"]) for token in tokens for child in token.children or []
            if child.type == "link_open"]


def test_contacts_render_as_links(tmp_path: Path) -> None:
    email = _run(tmp_path / "e", {"x": "y\n"}, options={"contact": "sec@acme.example"})
    url = _run(tmp_path / "u", {"x": "y\n"}, options={"contact": "https://acme.example/vdp"})
    assert _links(email.changes[0].content) == ["mailto:sec@acme.example"]
    assert _links(url.changes[0].content) == ["https://acme.example/vdp"]


def test_the_channel_follows_the_forge(tmp_path: Path) -> None:
    github = _run(tmp_path / "gh", {"x": "y\n"}, "github").changes[0].content.decode()
    gitlab = _run(tmp_path / "gl", {"x": "y\n"}, "gitlab").changes[0].content.decode()
    assert "**Report a vulnerability**" in github and "confidential" not in github
    assert "**This issue is confidential**" in gitlab and "Security** tab" not in gitlab


def test_local_checkout_without_contact_needs_a_person(tmp_path: Path) -> None:
    result = _run(tmp_path, {"README.md": "x\n"}, "local", {"contact": "  "})
    assert isinstance(result, NeedsPerson)
    assert result.reason.startswith("set the contact option")
