"""The no-manual-jobs fixer: GitLab's `when: manual` becomes `when: on_success` where safe.

Golden cases (fixes/<case>/before/ and after/, read as `BeforeAfter`): job-level gates,
and gates in templates, anchors and includes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from governance.fixes import NeedsPerson, Proposal
from governance.models import Outcome
from governance.testing import BeforeAfter, applied, changed_lines, evaluate, fixed
from governance.yamledit import EditRefused, YamlFile, replace_scalar

FIXES = Path(__file__).resolve().parent / "fixes"
POLICY = "no-manual-jobs"


def job(name: str, *lines: str) -> str:
    return f"{name}:\n" + "".join(f"  {line}\n" for line in lines)


@pytest.mark.parametrize("case", BeforeAfter.load_all(FIXES), ids=str)
def test_golden_case(tmp_path: Path, case: BeforeAfter) -> None:
    result, finding = case.proposal(tmp_path, POLICY, forge="gitlab")
    # Exactly the lines the check pointed at change, in every file.
    for change in result.changes:
        assert change.previous is not None and change.content is not None
        flagged = {loc.line for loc in finding.locations if loc.path == change.path}
        assert changed_lines(change.previous, change.content) == flagged


def test_notes_name_the_jobs_and_the_allow_failure_change(tmp_path: Path) -> None:
    before = BeforeAfter.load(FIXES / "templates-anchors-includes").before
    result = fixed(tmp_path, POLICY, before, forge="gitlab")
    assert isinstance(result, Proposal)
    assert result.title == "Run 3 manual GitLab jobs automatically"
    assert "Now automatic: `docs`, `report` (.gitlab-ci.yml:6, when: manual)" in result.notes
    assert "Now automatic: `nightly` (.gitlab-ci.yml:21, rules[1]: when: manual)" \
        in result.notes
    assert any(note.startswith("`docs`, `report`: a job-level manual job is allowed to fail")
               for note in result.notes)
    assert not any("`nightly`: a job-level" in note for note in result.notes)


def test_other_forges_need_a_person(tmp_path: Path) -> None:
    files = {".gitlab-ci.yml": job("build", "script: make", "when: manual")}
    result = fixed(tmp_path, POLICY, files, forge="github")
    assert isinstance(result, NeedsPerson)
    assert result.reason.startswith("removing manual gates is proposed for GitLab CI only")


@pytest.mark.parametrize(("environment", "why"), [
    (["environment: production"], "deploys to production (`production`)"),
    (["environment:", "  name: prod-eu"], "deploys to production (`prod-eu`)"),
    (["environment:", "  name: live", "  deployment_tier: production"],
     "deploys to production (`live`)"),
    (["environment:", "  name: $TARGET/app"], "deploys to `$TARGET/app`, which CI/CD variables"),
    (["environment:", "  name: review/$CI_COMMIT_REF_SLUG", "  action: stop"],
     "stops the environment `review/$CI_COMMIT_REF_SLUG`"),
])
def test_deployment_gates_need_a_person(tmp_path: Path, environment: list[str],
                                        why: str) -> None:
    files = {".gitlab-ci.yml": job("deploy", "script: ./deploy", *environment,
                                   "when: manual")}
    result = fixed(tmp_path, POLICY, files, forge="gitlab")
    assert isinstance(result, NeedsPerson)
    assert result.reason.startswith(f"GitLab job `deploy` (when: manual): job `deploy` {why}")


def test_a_rule_with_conditions_needs_a_person(tmp_path: Path) -> None:
    files = {".gitlab-ci.yml": job("release", "script: make", "rules:",
                                   "  - if: $CI_COMMIT_TAG", "    when: manual")}
    result = fixed(tmp_path, POLICY, files, forge="gitlab")
    assert isinstance(result, NeedsPerson)
    assert result.reason == (
        "GitLab job `release` (rules[0]: when: manual): the `rules:` entry also has `if:`: "
        "the job is manual only in some pipelines, which may be intended")


def test_a_gate_shared_with_an_allowed_job_needs_a_person(tmp_path: Path) -> None:
    files = {".gitlab-ci.yml": (".manual: &manual\n  when: manual\n"
                                + job("docs", "<<: *manual", "script: make docs")
                                + job("report", "<<: *manual", "script: make report"))}
    result = fixed(tmp_path, POLICY, files, forge="gitlab", options={"allow": ["report"]})
    assert isinstance(result, NeedsPerson)
    assert result.reason == ("GitLab job `docs` (when: manual): it also makes job `report` "
                             "manual, which the `allow` option keeps manual")


def test_other_ci_systems_are_left_and_listed(tmp_path: Path) -> None:
    jenkinsfile = ("pipeline {\n  agent any\n  stages {\n    stage('Deploy') {\n"
                   "      steps {\n        input message: 'Deploy?'\n      }\n    }\n  }\n}\n")
    files = {".gitlab-ci.yml": job("build", "script: make", "when: manual"),
             "Jenkinsfile": jenkinsfile}
    result = fixed(tmp_path / "fix", POLICY, files, forge="gitlab")
    assert isinstance(result, Proposal)
    assert [change.path for change in result.changes] == [".gitlab-ci.yml"]
    assert result.notes[-1] == ("Left for a person: Jenkins `input` step in Jenkinsfile in "
                                "stage `Deploy`: not a GitLab `when: manual`; change it by hand")
    rechecked = evaluate(tmp_path / "recheck", POLICY, applied(files, result))
    assert rechecked.outcome is Outcome.FAIL
    assert [loc.path for loc in rechecked.locations] == ["Jenkinsfile"]


def test_verification_refuses_a_value_of_another_type() -> None:
    data = (FIXES / "job-level" / "before" / "dot-gitlab-ci.yml").read_bytes()
    file = YamlFile(".gitlab-ci.yml", data)
    (entry,) = file.entries_at("when", 15)
    # Plain `true` would be read as a boolean, not the string that was intended.
    with pytest.raises(EditRefused, match=r"build\.when: 'true' would become True"):
        file.edited([replace_scalar(file, entry.value, "true")])
