from pathlib import Path

import pytest

from governance.ci.github_actions import parse_uses
from governance.models import Outcome
from governance.testing import evaluate

SHA = "11bd71901bbe5b1630ceea73d27597364c9af683"
DIGEST = "sha256:" + "ab" * 32


def workflow(*steps: str, job_uses: str | None = None) -> str:
    text = "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
    text += "".join(f"      - {step}\n" for step in steps)
    if job_uses:
        text += f"  call:\n    uses: {job_uses}\n"
    return text


def test_sha_pin_with_trailing_tag_comment_passes(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": workflow(f"uses: actions/checkout@{SHA} # v4.2.2",
                                                  "run: make test")}
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["pinned"] == 1


def test_tag_reference_fails_on_its_line(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": workflow(f"uses: actions/checkout@{SHA}",
                                                  "uses: actions/setup-node@v4",
                                                  "run: npm test")}
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith("1 of 2 action references is not pinned")
    (location,) = finding.locations
    assert (location.path, location.line, location.note) == (
        ".github/workflows/ci.yml", 7, "actions/setup-node@v4")


def test_counts_every_unpinned_reference_across_files(tmp_path: Path) -> None:
    files = {
        ".github/workflows/a.yml": workflow("uses: actions/checkout@v4",
                                            "uses: ./.github/actions/local",
                                            f"uses: docker://alpine@{DIGEST}"),
        ".github/workflows/b.yaml": workflow("uses: acme/deploy@main",
                                             "uses: docker://alpine:3.20",
                                             f"uses: acme/tool/sub/dir@{SHA}"),
        ".github/workflows/nested/ignored.yml": workflow("uses: evil/action@v1"),
    }
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith("3 of 6 action references are not pinned")
    assert [(loc.path, loc.note) for loc in finding.locations] == [
        (".github/workflows/a.yml", "actions/checkout@v4"),
        (".github/workflows/b.yaml", "acme/deploy@main"),
        (".github/workflows/b.yaml", "docker://alpine:3.20"),
    ]
    assert finding.details["local"] == 1


def test_docker_digest_and_local_actions_pass(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": workflow(
        f"uses: docker://ghcr.io/acme/lint:1.2@{DIGEST}",
        "uses: ./tools/action",
        "run: echo ok")}
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.PASS, finding.message


def test_registry_port_is_not_mistaken_for_a_tag(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": workflow("uses: docker://registry:5000/lint")}
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.FAIL
    assert finding.details["unpinned"][0]["kind"] == "docker"


def test_unpinned_reusable_workflow_at_job_level_fails(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": workflow(
        f"uses: actions/checkout@{SHA}",
        job_uses="acme/shared/.github/workflows/deploy.yml@v2")}
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.FAIL
    (location,) = finding.locations
    assert location.line == 8
    assert location.note == "acme/shared/.github/workflows/deploy.yml@v2"
    assert finding.details["unpinned"][0]["kind"] == "workflow"
    assert finding.details["unpinned"][0]["where"] == "job call"


def test_pinned_reusable_workflow_and_local_one_pass(tmp_path: Path) -> None:
    text = (f"on: push\njobs:\n  a:\n    uses: acme/shared/.github/workflows/x.yml@{SHA}\n"
            "  b:\n    uses: ./.github/workflows/y.yml\n")
    finding = evaluate(tmp_path, "actions-pinned", {".github/workflows/ci.yml": text})
    assert finding.outcome is Outcome.PASS, finding.message


def test_short_sha_is_not_a_pin(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": workflow(f"uses: actions/checkout@{SHA[:7]}")}
    assert evaluate(tmp_path, "actions-pinned", files).outcome is Outcome.FAIL


def test_allow_option_exempts_owner_globs(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": workflow("uses: actions/checkout@v4",
                                                  "uses: Actions/setup-python@v5",
                                                  "uses: acme/deploy@v1")}
    finding = evaluate(tmp_path, "actions-pinned", files, options={"allow": ["actions/*"]})
    assert finding.outcome is Outcome.FAIL
    assert [loc.note for loc in finding.locations] == ["acme/deploy@v1"]
    assert finding.details["exempt"] == 2
    allowed = evaluate(tmp_path / "all", "actions-pinned", files,
                       options={"allow": ["actions/*", "acme/deploy"]})
    assert allowed.outcome is Outcome.PASS
    assert "3 exempt by allow" in allowed.message


def test_reference_without_version_counts_as_unpinned(tmp_path: Path) -> None:
    files = {".github/workflows/ci.yml": workflow("uses: actions/checkout")}
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.FAIL
    assert "not a valid reference" in finding.locations[0].note


def test_composite_action_steps_are_checked(tmp_path: Path) -> None:
    files = {
        ".github/workflows/ci.yml": workflow("uses: ./.github/actions/setup"),
        ".github/actions/setup/action.yml": (
            "name: setup\nruns:\n  using: composite\n  steps:\n"
            "    - uses: actions/cache@v4\n    - run: echo hi\n      shell: bash\n"
        ),
    }
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.FAIL
    (location,) = finding.locations
    assert (location.path, location.line) == (".github/actions/setup/action.yml", 5)


def test_no_workflows_is_not_applicable(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "actions-pinned", {"README.md": "# x\n"})
    assert finding.outcome is Outcome.NOT_APPLICABLE


def test_invalid_workflow_does_not_hide_failures_elsewhere(tmp_path: Path) -> None:
    files = {
        ".github/workflows/bad.yml": "on: push\njobs: [\n",
        ".github/workflows/ci.yml": workflow("uses: actions/checkout@v4"),
    }
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.FAIL
    assert "could not read .github/workflows/bad.yml" in finding.message
    assert [loc.path for loc in finding.locations] == [
        ".github/workflows/ci.yml", ".github/workflows/bad.yml"]


def test_invalid_workflow_beside_passing_ones_is_an_error(tmp_path: Path) -> None:
    files = {
        ".github/workflows/bad.yml": "on: push\njobs:\n  a: [\n",
        ".github/workflows/ci.yml": workflow(f"uses: actions/checkout@{SHA}"),
    }
    finding = evaluate(tmp_path, "actions-pinned", files)
    assert finding.outcome is Outcome.ERROR
    assert finding.path == ".github/workflows/bad.yml"
    assert finding.line is not None
    assert "the readable files pass" in finding.message


@pytest.mark.parametrize(
    ("uses", "kind", "name", "pinned"),
    [
        (f"actions/checkout@{SHA}", "action", "actions/checkout", True),
        (f"actions/checkout@{SHA.upper()}", "action", "actions/checkout", True),
        ("actions/checkout@v4.2.2", "action", "actions/checkout", False),
        (f"github/codeql-action/init@{SHA}", "action", "github/codeql-action", True),
        ("acme/ci/.github/workflows/build.yaml@main", "workflow", "acme/ci", False),
        ("./.github/workflows/build.yml", "local", "./.github/workflows/build.yml", True),
        (f"docker://ghcr.io/acme/img@{DIGEST}", "docker", "docker://ghcr.io/acme/img", True),
        ("docker://localhost:5000/img:1.0", "docker", "docker://localhost:5000/img", False),
        ("docker://alpine", "docker", "docker://alpine", False),
        ("acme/tool@${{ inputs.version }}", "invalid", "acme/tool@${{ inputs.version }}", False),
        ("checkout@v4", "invalid", "checkout@v4", False),
    ],
)
def test_parse_uses(uses: str, kind: str, name: str, pinned: bool) -> None:
    ref = parse_uses(uses)
    assert (ref.kind, ref.name, ref.pinned) == (kind, name, pinned)


def test_allow_globs_match_owner_repo_case_insensitively() -> None:
    ref = parse_uses("GitHub/codeql-action/init@v3")
    assert ref.matches(["github/*"])
    assert ref.matches(["github/codeql-action/init"])
    assert not ref.matches(["actions/*", "github/codeql"])
