from pathlib import Path

from governance.models import Outcome
from governance.testing import evaluate

POLICY = "workflow-permissions-declared"
JOB = "    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"


def test_top_level_permissions_pass(tmp_path: Path) -> None:
    text = f"on: push\npermissions:\n  contents: read\njobs:\n  build:\n{JOB}"
    finding = evaluate(tmp_path, POLICY, {".github/workflows/ci.yml": text})
    assert finding.outcome is Outcome.PASS, finding.message


def test_empty_mapping_and_read_all_are_valid(tmp_path: Path) -> None:
    files = {
        ".github/workflows/a.yml": f"on: push\npermissions: {{}}\njobs:\n  build:\n{JOB}",
        ".github/workflows/b.yml": f"on: push\npermissions: read-all\njobs:\n  build:\n{JOB}",
    }
    finding = evaluate(tmp_path, POLICY, files)
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.message.startswith("all 2 workflows declare")


def test_permissions_on_every_job_pass(tmp_path: Path) -> None:
    text = (f"on: push\njobs:\n  build:\n    permissions:\n      contents: read\n{JOB}"
            "  deploy:\n    permissions: {}\n    uses: acme/shared/.github/workflows/d.yml@v1\n")
    finding = evaluate(tmp_path, POLICY, {".github/workflows/ci.yml": text})
    assert finding.outcome is Outcome.PASS, finding.message


def test_one_job_missing_permissions_fails_at_that_job(tmp_path: Path) -> None:
    text = (f"on: push\njobs:\n  build:\n    permissions:\n      contents: read\n{JOB}"
            f"  test:\n{JOB}")
    finding = evaluate(tmp_path, POLICY, {".github/workflows/ci.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert finding.message == (
        "1 of 1 workflow does not declare permissions: for the whole workflow or every job")
    (location,) = finding.locations
    assert (location.path, location.line) == (".github/workflows/ci.yml", 9)
    assert location.note.startswith("job test declares no permissions:")


def test_reusable_workflow_job_without_permissions_fails(tmp_path: Path) -> None:
    text = "on: push\njobs:\n  call:\n    uses: ./.github/workflows/reusable.yml\n"
    finding = evaluate(tmp_path, POLICY, {".github/workflows/ci.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert finding.locations[0].line == 3


def test_write_all_fails_with_its_line_even_when_declared(tmp_path: Path) -> None:
    files = {
        ".github/workflows/ok.yml": f"on: push\npermissions: read-all\njobs:\n  a:\n{JOB}",
        ".github/workflows/release.yml": (
            f"on: push\npermissions: write-all\njobs:\n  a:\n{JOB}"
            f"  b:\n    permissions: WRITE-ALL\n{JOB}"
        ),
    }
    finding = evaluate(tmp_path, POLICY, files)
    assert finding.outcome is Outcome.FAIL
    assert finding.message == "2 permissions: write-all grants (least privilege)"
    assert [(loc.path, loc.line) for loc in finding.locations] == [
        (".github/workflows/release.yml", 2), (".github/workflows/release.yml", 9)]


def test_missing_and_write_all_are_both_reported(tmp_path: Path) -> None:
    files = {
        ".github/workflows/a.yml": f"on: push\njobs:\n  a:\n{JOB}",
        ".github/workflows/b.yml": f"on: push\njobs:\n  b:\n    permissions: write-all\n{JOB}",
        ".github/workflows/c.yml": f"on: push\npermissions: {{}}\njobs:\n  c:\n{JOB}",
    }
    finding = evaluate(tmp_path, POLICY, files)
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith("1 of 3 workflows does not declare")
    assert "1 permissions: write-all grant" in finding.message
    assert finding.details["undeclared"] == [".github/workflows/a.yml"]


def test_empty_permissions_value_is_not_a_declaration(tmp_path: Path) -> None:
    text = f"on: push\npermissions:\njobs:\n  a:\n{JOB}"
    finding = evaluate(tmp_path, POLICY, {".github/workflows/ci.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert finding.locations[0].line == 2
    assert "has no value" in finding.locations[0].note


def test_no_workflows_is_not_applicable(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {".github/dependabot.yml": "version: 2\n"})
    assert finding.outcome is Outcome.NOT_APPLICABLE


def test_unreadable_workflow_is_an_error_when_the_rest_pass(tmp_path: Path) -> None:
    files = {
        ".github/workflows/ok.yml": f"on: push\npermissions: {{}}\njobs:\n  a:\n{JOB}",
        ".github/workflows/broken.yaml": "on: push\n\tjobs: {}\n",
    }
    finding = evaluate(tmp_path, POLICY, files)
    assert finding.outcome is Outcome.ERROR
    assert finding.path == ".github/workflows/broken.yaml"
    assert "invalid YAML" in finding.message
