"""The actions-pinned fixer: tags become commit SHAs, the tag stays as a comment.

Golden cases (fixes/<case>/before/ and after/, read as `BeforeAfter`): quoted tags;
anchors, flow sequences and document markers; CRLF with a BOM.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.fixes import NeedsPerson, Proposal
from governance.models import Finding, Outcome
from governance.testing import BeforeAfter, MappedResolver, applied, changed_lines, evaluate, fixed
from governance.yamledit import Edit, EditRefused, Splice, YamlFile, replace_scalar

FIXES = Path(__file__).resolve().parent / "fixes"

# What GitHub answered for these tags when the fixtures were written.
SHAS = {
    ("actions/checkout", "v4"): "11bd71901bbe5b1630ceea73d27597364c9af683",
    ("actions/setup-node", "v4"): "39370e3970a6d050c480ffad4ff0ed4d3fdee5af",
    ("github/codeql-action", "v3"): "662472033e021d55d94146f66f6058822b0b39fd",
    ("acme/workflows", "main"): "2b2c3f7e5ae7b8a1e5a6b2a8e9c3d4f5a6b7c8d9",
    ("actions/setup-python", "v5"): "0b93645e9fea7318ecaed2b359559ac225c90a2b",
    ("acme/tool", "v1.2.3"): "8f4b7f84864484a7bf31766abe9204da3cbe65b3",
}
CHECKOUT = SHAS[("actions/checkout", "v4")]
CHECKOUT_V4 = ("on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n"
               "      - uses: actions/checkout@v4\n")


def pin_one_file(tmp_path: Path, path: str, text: str, old: str, new: str
                 ) -> tuple[Proposal, Finding]:
    """Fix a repository holding only `text` at `path`: the proposal must change exactly
    `old` into `new` there. Returns it with the policy's finding on the result."""
    files = {path: text}
    result = fixed(tmp_path / "fix", "actions-pinned", files, resolver=MappedResolver(SHAS))
    assert isinstance(result, Proposal)
    (change,) = result.changes
    assert change.content == text.replace(old, new).encode()
    return result, evaluate(tmp_path / "recheck", "actions-pinned", applied(files, result))


@pytest.mark.parametrize("case", BeforeAfter.load_all(FIXES), ids=str)
def test_golden_case(tmp_path: Path, case: BeforeAfter) -> None:
    result, finding = case.proposal(tmp_path, "actions-pinned", resolver=MappedResolver(SHAS))
    # Only the lines where a flagged reference is written change (an alias's line does
    # not: its anchor's line carries the new value).
    for change in result.changes:
        assert change.previous is not None and change.content is not None
        lines = change.previous.decode("utf-8-sig").splitlines()
        written = {loc.line for loc in finding.locations if loc.path == change.path
                   and loc.line is not None and loc.note in lines[loc.line - 1]}
        assert changed_lines(change.previous, change.content) == written


def test_proposal_names_each_pin(tmp_path: Path) -> None:
    before = BeforeAfter.load(FIXES / "tags-and-quoting").before
    result = fixed(tmp_path, "actions-pinned", before, resolver=MappedResolver(SHAS))
    assert isinstance(result, Proposal)
    assert result.title == "Pin 4 action references to commit SHAs"
    assert f"Pinned `actions/checkout@v4` → `{CHECKOUT}` (.github/workflows/ci.yml:13)" \
        in result.notes
    assert not [note for note in result.notes if note.startswith("Left for a person")]


def test_each_action_and_ref_is_resolved_once(tmp_path: Path) -> None:
    step = "      - uses: actions/checkout@v4\n"
    workflow = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n" + step * 3
    files = {".github/workflows/a.yml": workflow, ".github/workflows/b.yml": workflow}
    resolver = MappedResolver(SHAS)
    result = fixed(tmp_path, "actions-pinned", files, resolver=resolver)
    assert isinstance(result, Proposal)
    assert resolver.asked == [("actions/checkout", "v4")]
    assert {change.path for change in result.changes} == set(files)


def test_unresolvable_and_docker_references_stay_and_are_listed(tmp_path: Path) -> None:
    workflow = (
        "on: push\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - uses: acme/private-action@v2\n"
        "      - uses: docker://alpine:3.20\n"
    )
    result, rechecked = pin_one_file(tmp_path, ".github/workflows/ci.yml", workflow,
                                     "actions/checkout@v4", f"actions/checkout@{CHECKOUT} # v4")
    left = [note for note in result.notes if note.startswith("Left for a person")]
    assert left == [
        "Left for a person: `acme/private-action@v2` (.github/workflows/ci.yml:7): could not "
        "resolve acme/private-action@v2 to a commit: acme/private-action@v2: no such tag "
        "or branch",
        "Left for a person: `docker://alpine:3.20` (.github/workflows/ci.yml:8): pinning an "
        "image to its digest is not supported here; pin it by hand "
        "(`docker://image@sha256:...`)",
    ]
    assert rechecked.outcome is Outcome.FAIL
    assert [loc.note for loc in rechecked.locations] == [
        "acme/private-action@v2", "docker://alpine:3.20"]


def test_nothing_resolvable_needs_a_person(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": CHECKOUT_V4}
    result = fixed(tmp_path, "actions-pinned", files)  # the default resolver: no GitHub
    assert isinstance(result, NeedsPerson)
    assert result.reason.startswith("no action reference could be pinned: "
                                    "`actions/checkout@v4` (.github/workflows/ci.yml:6)")
    assert "needs access to GitHub" in result.reason


def test_docker_images_alone_need_a_person(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml":
             "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: docker://node:20\n"}
    result = fixed(tmp_path, "actions-pinned", files, resolver=MappedResolver(SHAS))
    assert isinstance(result, NeedsPerson)
    assert "pinning an image to its digest is not supported" in result.reason


def test_an_answer_that_is_not_a_sha_is_not_written(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": CHECKOUT_V4}
    resolver = MappedResolver({("actions/checkout", "v4"): "v4.2.2"})
    result = fixed(tmp_path, "actions-pinned", files, resolver=resolver)
    assert isinstance(result, NeedsPerson)
    assert "the resolver answered 'v4.2.2', not a commit SHA" in result.reason


def test_composite_action_steps_are_pinned(tmp_path: Path) -> None:
    action = (
        "name: setup\n"
        "runs:\n"
        "  using: composite\n"
        "  steps:\n"
        "    - uses: actions/setup-node@v4  # node\n"
        "      with: {node-version: 20}\n"
    )
    node = SHAS[("actions/setup-node", "v4")]
    _, rechecked = pin_one_file(tmp_path, ".github/actions/setup/action.yml", action,
                                "actions/setup-node@v4  # node",
                                f"actions/setup-node@{node} # v4  # node")
    assert rechecked.outcome is Outcome.PASS, rechecked.message


def test_verification_refuses_an_edit_that_says_something_else() -> None:
    data = (FIXES / "tags-and-quoting" / "before" / "dot-github" / "workflows" / "ci.yml"
            ).read_bytes()
    # A plain value with ` #` in it: the rest would read as a comment, the value as v4.
    file = YamlFile("ci.yml", data)
    (entry,) = file.entries_at("uses", 13)
    with pytest.raises(EditRefused, match="would change more than intended"):
        file.edited([replace_scalar(file, entry.value, "actions/checkout@v4 #pinned")])

    # A splice that drops the closing quote of `'actions/setup-node@v4'`.
    file = YamlFile("ci.yml", data)
    (entry,) = file.entries_at("uses", 15)
    node = entry.value
    splice = Splice(node.end_mark.index - 1, node.end_mark.index, "")

    def nothing() -> None:
        node.value = "actions/setup-node@v4"

    with pytest.raises(EditRefused):
        file.edited([Edit((splice,), nothing, "drop a quote")])
