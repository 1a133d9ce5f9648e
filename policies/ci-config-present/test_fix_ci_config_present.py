"""The CI fixer against golden cases in fixes/<case>/: input/ is the repository, expected/
holds the files the fix must create byte for byte, case.yml the forge and expected notes."""

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from governance.fixes import NeedsPerson, Proposal
from governance.models import Outcome
from governance.testing import FixCase, MappedResolver, applied, evaluate, fixed

POLICY = "ci-config-present"
CASES = Path(__file__).resolve().parent / "fixes"

# What the resolver answers: the tags the fixer may ask for, each with a made-up SHA.
PINS = {
    ("actions/checkout", "v4"): "fc789d81e0d1cf00352f24ef1e99325e0e91a1ba",
    ("actions/setup-go", "v5"): "218b2b12334715311c877b1350990da878e4f4a3",
    ("actions/setup-java", "v4"): "b3bbbe5cd75bad3dff9bd21107b983f4596b3a4a",
    ("actions/setup-node", "v4"): "2a2928cf5027979e0bbebc7a7ca135c5bfded453",
    ("actions/setup-python", "v5"): "bd5e207ccf840f889650e9c5868c5178f1ed171e",
    ("gradle/actions", "v4"): "07556fdd2b9b041e7d49fa4073418f90d89ea33a",
}


def pins() -> MappedResolver:
    """Resolves only the pairs in PINS (any other lookup fails the test)."""
    return MappedResolver(PINS, strict=True)


@pytest.mark.parametrize("case", FixCase.load_all(CASES), ids=str)
def test_golden_case(tmp_path: Path, case: FixCase) -> None:
    files, forge = case.files, case.forge
    resolver = pins() if case.resolve_actions else None
    result = case.proposal(tmp_path, POLICY, resolver)
    assert all(c.action == "create" for c in result.changes)
    (path, content), = case.expected.items()
    assert YAML(typ="safe").load(content)  # the pipeline parses

    # The policy passes on the result, as GitHub or GitLab would see it, and so do the
    # other baseline policies that look at pipelines.
    after = applied(files, result)
    provider = forge if forge != "local" else ("gitlab" if path == ".gitlab-ci.yml" else "github")
    finding = evaluate(tmp_path / "after", POLICY, after, provider=provider)
    assert finding.outcome is Outcome.PASS, finding.message
    assert path in finding.message
    for index, other in enumerate(("no-manual-jobs", "workflow-permissions-declared",
                                   "no-dangerous-workflow", "iac-linted")):
        outcome = evaluate(tmp_path / str(index), other, after, provider=provider).outcome
        assert outcome in (Outcome.PASS, Outcome.NOT_APPLICABLE), (other, outcome)
    if path == ".github/workflows/ci.yml":
        pinned = evaluate(tmp_path / "pinned", "actions-pinned", after, provider=provider)
        assert pinned.outcome is (Outcome.PASS if resolver else Outcome.FAIL), pinned.message
    if any(p.rsplit("/", 1)[-1] in ("Dockerfile", "Containerfile") for p in files):
        linted = evaluate(tmp_path / "linted", "iac-linted", after, provider=provider)
        assert linted.outcome is Outcome.PASS, linted.message
        assert "hadolint" in linted.message


def test_resolver_is_asked_for_each_action_once(tmp_path: Path) -> None:
    resolver = pins()
    files = {"build.gradle": "apply plugin: 'java'\n", "sub/go.mod": "module x\n"}
    result = fixed(tmp_path, POLICY, files, resolver=resolver)
    assert isinstance(result, Proposal)
    # the root's Gradle build is planned; the action path inside gradle/actions is kept
    assert sorted(resolver.asked) == [("actions/checkout", "v4"), ("actions/setup-java", "v4"),
                                      ("gradle/actions", "v4")]
    text = (result.changes[0].content or b"").decode()
    assert f"gradle/actions/setup-gradle@{PINS[('gradle/actions', 'v4')]} # v4" in text
    assert any("sub" in note and "jobs of their own" in note for note in result.notes)


def test_no_build_files_needs_a_person(tmp_path: Path) -> None:
    result = fixed(tmp_path, POLICY, {"README.md": "# notes\n", "docs/index.md": "x\n"})
    assert isinstance(result, NeedsPerson)
    assert result.reason.startswith("no build files recognised")


def test_build_files_only_in_sample_folders_need_a_person(tmp_path: Path) -> None:
    result = fixed(tmp_path, POLICY, {"examples/demo/package.json": "{}\n",
                                      "node_modules/x/package.json": "{}\n",
                                      "a/b/c/go.mod": "module x\n"})
    assert isinstance(result, NeedsPerson)


def test_python_with_nothing_to_run_needs_a_person(tmp_path: Path) -> None:
    result = fixed(tmp_path, POLICY, {"pyproject.toml": "[tool.black]\nline-length = 100\n"})
    assert isinstance(result, NeedsPerson)
    assert "no tests, no requirements file" in result.reason


def test_folder_names_unsafe_in_yaml_or_shell_are_never_written(tmp_path: Path) -> None:
    files = {"we b/package.json": "{}\n", "x$(id)/go.mod": "module x\n",
             "api/go.mod": "module x\n"}
    result = fixed(tmp_path, POLICY, files, resolver=pins())
    assert isinstance(result, Proposal)
    text = (result.changes[0].content or b"").decode()
    assert 'working-directory: "api"' in text
    assert "we b" not in text and "$(id)" not in text


def test_workflow_in_a_subfolder_is_mentioned(tmp_path: Path) -> None:
    files = {".github/workflows/old/ci.yml": "on: push\n", "go.mod": "module x\n"}
    result = fixed(tmp_path, POLICY, files, resolver=pins())
    assert isinstance(result, Proposal)
    assert result.changes[0].path == ".github/workflows/ci.yml"
    assert any(".github/workflows/old/ci.yml" in note for note in result.notes)


def test_templates_render_from_a_copied_policy_folder(tmp_path: Path) -> None:
    """ctx.folder decides where templates come from (the wheel's bundled copy included)."""
    import shutil

    from governance import resources
    from governance.fixes import FixContext
    from governance.policy import discover
    from governance.testing import memory_files

    copy = tmp_path / "bundled"
    shutil.copytree(resources.policies_folder() / POLICY, copy / POLICY)
    (policy,) = discover([copy]).values()
    assert policy.fix is not None
    files = memory_files({"Cargo.toml": "[package]\nname = \"x\"\n"}, provider="github")
    finding = evaluate(tmp_path / "scan", POLICY, {"Cargo.toml": "x\n"})
    context = FixContext(files.ref, files, {}, finding, "github", policy.folder,
                         pins())
    result = policy.fix(context)
    assert isinstance(result, Proposal)
    assert b"cargo build" in (result.changes[0].content or b"")


def test_job_ids_are_valid_and_unique_for_awkward_folders(tmp_path: Path) -> None:
    files = {"2024/go.mod": "module x\n", "a-b/c/go.mod": "module y\n",
             "a/b-c/go.mod": "module z\n"}
    result = fixed(tmp_path, POLICY, files, resolver=pins())
    assert isinstance(result, Proposal)
    jobs = YAML(typ="safe").load(result.changes[0].content)["jobs"]
    assert sorted(jobs) == ["_2024-go", "a-b-c-go", "a-b-c-go-2"]
    assert {job["defaults"]["run"]["working-directory"] for job in jobs.values()} == {
        "2024", "a-b/c", "a/b-c"}
