"""The SECURITY.md fixer against golden cases in fixes/<case>/: input/ is the repository,
expected/ the file it must write byte for byte, case.yml the forge, options and notes."""

from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from governance.fixes import NeedsPerson, Proposal
from governance.models import Outcome
from governance.testing import FixCase, applied, evaluate, fixed

POLICY = "security-policy-present"
CASES = Path(__file__).resolve().parent / "fixes"


@pytest.mark.parametrize("case", FixCase.load_all(CASES), ids=str)
def test_golden_case(tmp_path: Path, case: FixCase) -> None:
    result = case.proposal(tmp_path, POLICY)
    finding = evaluate(tmp_path / "after", POLICY, applied(case.files, result))
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.path == "SECURITY.md"


def _written(tmp_path: Path, forge: str = "github", contact: str | None = None) -> bytes:
    """The SECURITY.md proposed for a repository without one."""
    options = {} if contact is None else {"contact": contact}
    result = fixed(tmp_path, POLICY, {"x": "y\n"}, forge=forge, options=options)
    assert isinstance(result, Proposal), result
    content = result.changes[0].content
    assert content is not None
    return content


def _links(markdown: bytes) -> list[str]:
    tokens = MarkdownIt("commonmark").parse(markdown.decode())
    return [str(child.attrs["href"]) for token in tokens for child in token.children or []
            if child.type == "link_open"]


def test_contacts_render_as_links(tmp_path: Path) -> None:
    email = _written(tmp_path / "e", contact="sec@acme.example")
    url = _written(tmp_path / "u", contact="https://acme.example/vdp")
    assert _links(email) == ["mailto:sec@acme.example"]
    assert _links(url) == ["https://acme.example/vdp"]


def test_the_channel_follows_the_forge(tmp_path: Path) -> None:
    github = _written(tmp_path / "gh", "github").decode()
    gitlab = _written(tmp_path / "gl", "gitlab").decode()
    assert "**Report a vulnerability**" in github and "confidential" not in github
    assert "**This issue is confidential**" in gitlab and "Security** tab" not in gitlab


def test_local_checkout_without_contact_needs_a_person(tmp_path: Path) -> None:
    result = fixed(tmp_path, POLICY, {"README.md": "x\n"}, forge="local",
                   options={"contact": "  "})
    assert isinstance(result, NeedsPerson)
    assert result.reason.startswith("set the contact option")
