"""The dependency-update fixer against golden cases in fixes/<case>/: input/ is the
repository, expected/ the files it must write byte for byte, case.yml the forge, options,
expected notes and deleted files."""

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from governance.fixes import NeedsPerson, Proposal
from governance.models import Outcome
from governance.testing import FixCase, applied, evaluate, fixed, tree_of

POLICY = "dependency-updates-configured"
CASES = Path(__file__).resolve().parent / "fixes"


@pytest.mark.parametrize("case", FixCase.load_all(CASES), ids=str)
def test_golden_case(tmp_path: Path, case: FixCase) -> None:
    result = case.proposal(tmp_path, POLICY)
    for path, content in case.expected.items():
        if path.endswith(".yml"):
            document = YAML(typ="safe").load(content)
            assert document["version"] == 2 and document["updates"]
        else:
            assert json.loads(content)["extends"]

    for forge in case.hosts:
        finding = evaluate(tmp_path / forge, POLICY, applied(case.files, result),
                           provider=None if forge == "local" else forge)
        assert finding.outcome is Outcome.PASS, (forge, finding.message)


def test_monorepo_entries_are_the_manifest_folders(tmp_path: Path) -> None:
    """Read back from the YAML, not the text: each (ecosystem, directory) once."""
    files = tree_of(CASES / "github-monorepo" / "input")
    result = fixed(tmp_path, POLICY, files)
    assert isinstance(result, Proposal)
    document = YAML(typ="safe").load(result.changes[0].content)
    entries = [(u["package-ecosystem"], u["directory"]) for u in document["updates"]]
    assert len(entries) == len(set(entries))
    assert ("npm", "/packages/ui") not in entries  # a workspace member of the root
    assert ("maven", "/core") not in entries  # a module of the root build
    assert not any("testdata" in d or "node_modules" in d for _, d in entries)
    assert ("gomod", "/services/api") in entries


def test_nothing_to_update_needs_a_person(tmp_path: Path) -> None:
    for forge in ("github", "gitlab", "local"):
        result = fixed(tmp_path / forge, POLICY, {"README.md": "# docs only\n"}, forge=forge)
        assert isinstance(result, NeedsPerson)
        assert "nothing for Dependabot or Renovate to update" in result.reason


def test_gitlab_pipeline_alone_is_enough_for_renovate(tmp_path: Path) -> None:
    pipeline = "test:\n  image: alpine:3.20\n  script: [true]\n"
    result = fixed(tmp_path, POLICY, {".gitlab-ci.yml": pipeline}, forge="gitlab")
    assert isinstance(result, Proposal)
    assert [c.path for c in result.changes] == ["renovate.json"]


def test_dependabot_file_with_other_settings_is_left_to_a_person(tmp_path: Path) -> None:
    files = {"go.mod": "module x\n", ".github/dependabot.yml":
             "version: 2\nregistries:\n  npm:\n    type: npm-registry\n    url: https://x\n"}
    result = fixed(tmp_path, POLICY, files)
    assert isinstance(result, NeedsPerson)
    assert ".github/dependabot.yml" in result.reason and "gomod (/)" in result.reason


def test_unknown_interval_needs_a_person(tmp_path: Path) -> None:
    result = fixed(tmp_path, POLICY, {"go.mod": "module x\n"},
                   options={"schedule_interval": "hourly"})
    assert isinstance(result, NeedsPerson)
    assert "schedule_interval" in result.reason


def test_folders_unsafe_to_write_are_left_out_and_named(tmp_path: Path) -> None:
    files = {'we"b/package.json': "{}\n", "api/go.mod": "module x\n"}
    result = fixed(tmp_path, POLICY, files)
    assert isinstance(result, Proposal)
    document = YAML(typ="safe").load(result.changes[0].content)
    assert [u["directory"] for u in document["updates"]] == ["/api"]
    assert any('we"b' in note for note in result.notes)
