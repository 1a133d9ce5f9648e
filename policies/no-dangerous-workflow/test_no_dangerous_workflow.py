from pathlib import Path

from governance.models import Outcome
from governance.testing import evaluate

POLICY = "no-dangerous-workflow"
SHA = "11bd71901bbe5b1630ceea73d27597364c9af683"


def job(*steps: str, trigger: str = "pull_request_target") -> str:
    text = f"on: {trigger}\npermissions: {{}}\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
    text += "    steps:\n" + "".join(steps)
    return text


CHECKOUT_HEAD = (
    f"      - uses: actions/checkout@{SHA}\n"
    "        with:\n"
    "          ref: ${{ github.event.pull_request.head.sha }}\n"
)


def test_pull_request_target_checking_out_head_then_running_fails(tmp_path: Path) -> None:
    text = job(CHECKOUT_HEAD, "      - run: npm ci && npm test\n")
    finding = evaluate(tmp_path, POLICY, {".github/workflows/pr.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith("1 untrusted checkout of pull request code")
    (location,) = finding.locations
    assert (location.path, location.line) == (".github/workflows/pr.yml", 9)
    assert "github.event.pull_request.head.sha" in location.note
    assert "step 2" in location.note


def test_pull_request_target_without_head_checkout_passes(tmp_path: Path) -> None:
    text = job(f"      - uses: actions/checkout@{SHA}\n", "      - run: ./label.sh\n")
    finding = evaluate(tmp_path, POLICY, {".github/workflows/label.yml": text})
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["privileged_workflows"] == 1


def test_head_checkout_without_anything_run_afterwards_passes(tmp_path: Path) -> None:
    text = job(CHECKOUT_HEAD, "      - uses: actions/upload-artifact@v4\n")
    finding = evaluate(tmp_path, POLICY, {".github/workflows/pr.yml": text})
    assert finding.outcome is Outcome.PASS, finding.message


def test_same_checkout_on_plain_pull_request_is_fine(tmp_path: Path) -> None:
    text = job(CHECKOUT_HEAD, "      - run: make test\n", trigger="pull_request")
    finding = evaluate(tmp_path, POLICY, {".github/workflows/pr.yml": text})
    assert finding.outcome is Outcome.PASS, finding.message


def test_workflow_run_head_sha_then_local_action_fails(tmp_path: Path) -> None:
    text = (
        "on:\n  workflow_run:\n    workflows: [ci]\n    types: [completed]\n"
        "jobs:\n  report:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          ref: ${{ github.event.workflow_run.head_sha }}\n"
        "      - uses: ./.github/actions/report\n"
    )
    finding = evaluate(tmp_path, POLICY, {".github/workflows/report.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert finding.locations[0].line == 11
    assert "workflow_run" in finding.locations[0].note
    assert "local action" in finding.locations[0].note


def test_git_fetch_of_pull_ref_in_run_then_build_fails(tmp_path: Path) -> None:
    text = job(
        "      - run: |\n"
        "          git fetch origin refs/pull/${{ github.event.number }}/merge\n"
        "          git checkout FETCH_HEAD\n"
        "          make build\n"
    )
    finding = evaluate(tmp_path, POLICY, {".github/workflows/pr.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert finding.locations[0].line == 8
    assert "same script" in finding.locations[0].note


def test_head_ref_through_env_variable_is_followed(tmp_path: Path) -> None:
    text = job(
        f"      - uses: actions/checkout@{SHA}\n"
        "        env:\n          PR_REF: ${{ github.event.pull_request.head.ref }}\n"
        "        with:\n          ref: ${{ env.PR_REF }}\n",
        "      - run: pytest\n",
    )
    finding = evaluate(tmp_path, POLICY, {".github/workflows/pr.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert "$PR_REF" in finding.locations[0].note


def test_issue_title_injection_in_run_fails_at_the_script_line(tmp_path: Path) -> None:
    text = (
        "on: issues\npermissions: {}\njobs:\n  triage:\n    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: |\n"
        "          echo triaging\n"
        '          echo "${{ github.event.issue.title }}"\n'
    )
    finding = evaluate(tmp_path, POLICY, {".github/workflows/triage.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith("1 script injection of attacker-controlled input")
    (location,) = finding.locations
    assert (location.path, location.line) == (".github/workflows/triage.yml", 9)
    assert "github.event.issue.title" in location.note


def test_value_passed_through_env_is_not_an_injection(tmp_path: Path) -> None:
    text = (
        "on: issue_comment\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - env:\n          BODY: ${{ github.event.comment.body }}\n"
        '        run: echo "$BODY" && echo ${{ github.event.issue.number }}\n'
    )
    finding = evaluate(tmp_path, POLICY, {".github/workflows/c.yml": text})
    assert finding.outcome is Outcome.PASS, finding.message


def test_injection_variants_are_recognised(tmp_path: Path) -> None:
    text = (
        "on: [push, pull_request]\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.head_ref }}\n"
        "      - run: echo '${{ github.event.commits[0].message }}'\n"
        "      - run: echo ${{github.event.pull_request.body}}\n"
        "      - uses: actions/github-script@v7\n"
        "        with:\n"
        "          script: console.log('${{ github.event.comment.body }}')\n"
    )
    finding = evaluate(tmp_path, POLICY, {".github/workflows/a.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert [loc.line for loc in finding.locations] == [6, 7, 8, 11]


def test_injection_in_composite_action_is_found(tmp_path: Path) -> None:
    files = {
        ".github/workflows/ci.yml": "on: push\njobs:\n  a:\n    uses: ./.github/workflows/x.yml\n",
        "action.yml": (
            "runs:\n  using: composite\n  steps:\n"
            "    - run: echo ${{ github.event.pull_request.title }}\n      shell: bash\n"
        ),
    }
    finding = evaluate(tmp_path, POLICY, files)
    assert finding.outcome is Outcome.FAIL
    assert (finding.path, finding.line) == ("action.yml", 4)


def test_no_workflows_is_not_applicable(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"README.md": "x\n"})
    assert finding.outcome is Outcome.NOT_APPLICABLE


def test_issue_comment_gh_pr_checkout_then_run_fails(tmp_path: Path) -> None:
    text = job(
        "      - run: gh pr checkout ${{ github.event.issue.number }}\n",
        "      - run: make test\n",
        trigger="issue_comment",
    )
    finding = evaluate(tmp_path, POLICY, {".github/workflows/ok-to-test.yml": text})
    assert finding.outcome is Outcome.FAIL
    assert finding.locations[0].line == 7
    assert finding.locations[0].note.startswith("issue_comment: job test checks out gh pr")


def test_git_checkout_of_head_without_later_commands_passes(tmp_path: Path) -> None:
    text = job("      - run: git fetch origin ${{ github.event.pull_request.head.sha }}\n")
    finding = evaluate(tmp_path, POLICY, {".github/workflows/pr.yml": text})
    assert finding.outcome is Outcome.PASS, finding.message
