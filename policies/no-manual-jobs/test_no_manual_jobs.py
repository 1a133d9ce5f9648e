from pathlib import Path

from governance.models import Confidence, Outcome
from governance.testing import evaluate

POLICY = "no-manual-jobs"


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


# --------------------------------------------------------------------------- GitLab CI

AUTOMATIC = "build:\n  script: [make]\n"


def test_plain_when_manual_fails_at_its_line(tmp_path: Path) -> None:
    ci = "stages: [build, deploy]\nbuild:\n  script: [make]\ndeploy:\n  stage: deploy\n" \
         "  script: [./deploy.sh]\n  when: manual\n"
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": ci})
    assert finding.outcome is Outcome.FAIL
    assert [(loc.path, loc.line) for loc in finding.locations] == [(".gitlab-ci.yml", 7)]
    assert "`deploy`" in finding.message and "build" not in finding.message
    assert finding.remediation


def test_automatic_pipeline_passes_and_says_what_was_checked(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": AUTOMATIC})
    assert finding.outcome is Outcome.PASS
    assert "GitLab CI (1 job in .gitlab-ci.yml)" in finding.message
    assert finding.confidence is Confidence.HIGH


def test_manual_through_anchor_and_merge_key(tmp_path: Path) -> None:
    ci = (
        ".manual: &manual\n"
        "  when: manual\n"
        "  allow_failure: true\n"
        "release:\n"
        "  <<: *manual\n"
        "  script: [./release]\n"
    )
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": ci})
    assert finding.outcome is Outcome.FAIL
    assert (finding.path, finding.line) == (".gitlab-ci.yml", 2)
    assert "`release`" in finding.message


def test_manual_through_extends_from_included_hidden_job(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {
        ".gitlab-ci.yml": "include:\n  - local: ci/templates.yml\n"
                          "deploy-prod:\n  extends: .deploy\n  script: [./deploy prod]\n",
        "ci/templates.yml": ".deploy:\n  stage: deploy\n  when: manual\n",
    })
    assert finding.outcome is Outcome.FAIL
    assert (finding.path, finding.line) == ("ci/templates.yml", 3)
    assert "`deploy-prod`" in finding.message and "from ci/templates.yml" in finding.message


def test_manual_rule_after_always_matching_rule_is_dead(tmp_path: Path) -> None:
    ci = (
        "deploy:\n  script: [./deploy]\n  rules:\n"
        "    - when: on_success\n"
        "    - if: $CI_COMMIT_TAG\n      when: manual\n"
    )
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": ci})
    assert finding.outcome is Outcome.PASS


def test_manual_rule_reachable_after_if_rule_fails(tmp_path: Path) -> None:
    ci = (
        "deploy:\n  script: [./deploy]\n  rules:\n"
        "    - if: $CI_PIPELINE_SOURCE == 'schedule'\n"
        "    - if: $CI_COMMIT_BRANCH == 'main'\n      when: manual\n"
    )
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": ci})
    assert finding.outcome is Outcome.FAIL
    assert finding.line == _line(ci, "when: manual")
    assert "rules[1]: when: manual" in finding.message


def test_when_manual_only_in_a_comment_passes(tmp_path: Path) -> None:
    ci = "deploy:\n  script: [./deploy]\n  # when: manual\n  when: on_success  # not manual\n"
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": ci})
    assert finding.outcome is Outcome.PASS


def test_reference_and_default_scripts_do_not_make_a_job_manual(tmp_path: Path) -> None:
    ci = (
        "default:\n  before_script: [echo setup]\n"
        ".common:\n  script: [make lint]\n  when: manual\n"
        "lint:\n  script:\n    - !reference [.common, script]\n"
    )
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": ci})
    # !reference copies the script only, not the hidden job's `when: manual`
    assert finding.outcome is Outcome.PASS


def test_unresolved_include_passes_with_medium_confidence(tmp_path: Path) -> None:
    ci = "include:\n  - project: acme/ci-templates\n    file: /deploy.yml\n" + AUTOMATIC
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": ci})
    assert finding.outcome is Outcome.PASS
    assert finding.confidence is Confidence.MEDIUM
    assert "project acme/ci-templates file /deploy.yml" in finding.message
    assert "not checked" in finding.message


def test_unresolved_include_does_not_soften_a_failure(tmp_path: Path) -> None:
    ci = ("include:\n  - template: Auto-DevOps.gitlab-ci.yml\n"
          "deploy:\n  script: [x]\n  when: manual\n")
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": ci})
    assert finding.outcome is Outcome.FAIL
    assert finding.confidence is Confidence.HIGH


def test_extends_cycle_is_an_error_finding(tmp_path: Path) -> None:
    ci = ".a:\n  extends: .b\n.b:\n  extends: .a\njob:\n  extends: .a\n  script: [x]\n"
    finding = evaluate(tmp_path, POLICY, {".gitlab-ci.yml": ci})
    assert finding.outcome is Outcome.ERROR
    assert finding.path == ".gitlab-ci.yml"
    assert "circular `extends`" in finding.message


def test_invalid_gitlab_yaml_does_not_hide_a_manual_job_elsewhere(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {
        ".gitlab-ci.yml": "job: [unclosed\n",
        "bitbucket-pipelines.yml": "pipelines:\n  default:\n    - step:\n"
                                   "        script: [x]\n        trigger: manual\n",
    })
    assert finding.outcome is Outcome.FAIL
    assert [loc.path for loc in finding.locations] == [
        "bitbucket-pipelines.yml", ".gitlab-ci.yml"]
    assert "could not read .gitlab-ci.yml" in finding.message


# --------------------------------------------------------------------------- GitHub Actions


def test_workflow_dispatch_only_fails_and_push_plus_dispatch_passes(tmp_path: Path) -> None:
    manual = "name: Release\non:\n  workflow_dispatch:\n    inputs: {v: {required: true}}\n" \
             "jobs:\n  go:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n"
    finding = evaluate(tmp_path / "a", POLICY, {".github/workflows/release.yml": manual})
    assert finding.outcome is Outcome.FAIL
    assert (finding.path, finding.line) == (".github/workflows/release.yml", 2)
    assert "release.yml" in finding.message and "workflow_dispatch" in finding.message

    both = "on: [push, workflow_dispatch]\njobs:\n  go:\n    runs-on: ubuntu-latest\n" \
           "    steps: [{run: make}]\n"
    finding = evaluate(tmp_path / "b", POLICY, {".github/workflows/ci.yml": both})
    assert finding.outcome is Outcome.PASS
    assert "GitHub Actions (1 workflow)" in finding.message


def test_approval_action_inside_a_run_fails(tmp_path: Path) -> None:
    workflow = (
        "on: push\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: trstringer/manual-approval@v1\n        with: {approvers: ops}\n"
        "      - run: ./deploy\n"
    )
    finding = evaluate(tmp_path, POLICY, {".github/workflows/deploy.yml": workflow})
    assert finding.outcome is Outcome.FAIL
    assert finding.line == 6
    assert "`deploy`" in finding.message


# --------------------------------------------------------------------------- allow option


def test_allow_option_accepts_named_jobs_and_workflows(tmp_path: Path) -> None:
    files = {
        ".gitlab-ci.yml": "deploy-prod:\n  script: [x]\n  when: manual\n"
                          "deploy-dr:\n  script: [x]\n  when: manual\n",
        ".github/workflows/release.yml": "name: Release\non: workflow_dispatch\njobs: {}\n",
    }
    none_allowed = evaluate(tmp_path / "a", POLICY, files)
    assert none_allowed.outcome is Outcome.FAIL
    assert len(none_allowed.locations) == 3

    some = evaluate(tmp_path / "b", POLICY, files, options={"allow": ["deploy-prod", "Release"]})
    assert some.outcome is Outcome.FAIL
    assert [loc.line for loc in some.locations] == [6]
    assert "`deploy-dr`" in some.message and "deploy-prod" not in some.message

    everything = evaluate(tmp_path / "c", POLICY, files,
                          options={"allow": ["deploy-*", "release.yml"]})
    assert everything.outcome is Outcome.PASS
    assert "3 manual jobs allowed by the `allow` option" in everything.message


# --------------------------------------------------------------------------- Jenkins

JENKINS_INPUT = """\
pipeline {
  agent any
  stages {
    stage('Build') {
      steps { sh 'make' }
    }
    stage('Deploy') {
      steps {
        input message: 'Deploy to production?', ok: 'Ship it'
        sh './deploy.sh'
      }
    }
  }
}
"""

JENKINS_COMMENTED = """\
pipeline {
  agent any
  stages {
    stage('Deploy') {
      steps {
        // input message: 'Deploy to production?'
        /* input {
             message 'old approval gate'
           } */
        echo 'no input needed'
        sh './deploy.sh'
      }
    }
  }
}
"""


def test_jenkins_input_in_subfolder_fails_at_its_line(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"ci/Jenkinsfile": JENKINS_INPUT})
    assert finding.outcome is Outcome.FAIL
    assert (finding.path, finding.line) == ("ci/Jenkinsfile", 9)
    assert "stage `Deploy`" in finding.message


def test_jenkins_input_only_in_comments_and_strings_passes(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"ci/Jenkinsfile": JENKINS_COMMENTED})
    assert finding.outcome is Outcome.PASS
    assert "Jenkins (ci/Jenkinsfile)" in finding.message


def test_jenkins_allow_by_stage_name(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"Jenkinsfile.deploy": JENKINS_INPUT},
                       options={"allow": ["Deploy"]})
    assert finding.outcome is Outcome.PASS


# --------------------------------------------------------------------------- other systems


def test_circleci_approval_job_fails(tmp_path: Path) -> None:
    config = (
        "version: 2.1\n"
        "jobs:\n  build: {docker: [{image: cimg/base:stable}], steps: [checkout]}\n"
        "workflows:\n"
        "  release:\n"
        "    jobs:\n"
        "      - build\n"
        "      - hold:\n"
        "          type: approval\n"
        "          requires: [build]\n"
    )
    finding = evaluate(tmp_path, POLICY, {".circleci/config.yml": config})
    assert finding.outcome is Outcome.FAIL
    assert (finding.path, finding.line) == (".circleci/config.yml", _line(config, "approval"))
    assert "`hold`" in finding.message and "`release`" in finding.message


def test_bitbucket_manual_step_fails(tmp_path: Path) -> None:
    config = (
        "pipelines:\n"
        "  branches:\n"
        "    main:\n"
        "      - step:\n"
        "          name: Build\n"
        "          script: [make]\n"
        "      - step:\n"
        "          name: Deploy to production\n"
        "          trigger: manual\n"
        "          script: [./deploy]\n"
    )
    finding = evaluate(tmp_path, POLICY, {"bitbucket-pipelines.yml": config})
    assert finding.outcome is Outcome.FAIL
    assert (finding.path, finding.line) == ("bitbucket-pipelines.yml", 9)
    assert "`Deploy to production`" in finding.message


def test_bitbucket_automatic_steps_pass(tmp_path: Path) -> None:
    config = "pipelines:\n  default:\n    - step:\n        trigger: automatic\n" \
             "        script: [make]\n"
    finding = evaluate(tmp_path, POLICY, {"bitbucket-pipelines.yml": config})
    assert finding.outcome is Outcome.PASS


def test_azure_manual_validation_fails(tmp_path: Path) -> None:
    config = (
        "trigger: [main]\n"
        "stages:\n"
        "  - stage: Deploy\n"
        "    jobs:\n"
        "      - job: waitForValidation\n"
        "        pool: server\n"
        "        steps:\n"
        "          - task: ManualValidation@0\n"
        "            inputs: {notifyUsers: ops@example.invalid}\n"
        "      - job: deploy\n"
        "        steps: [{script: ./deploy.sh}]\n"
    )
    finding = evaluate(tmp_path, POLICY, {"azure-pipelines.yml": config})
    assert finding.outcome is Outcome.FAIL
    assert (finding.path, finding.line) == ("azure-pipelines.yml", 8)
    assert "ManualValidation@0" in finding.message and "waitForValidation" in finding.message
    allowed = evaluate(tmp_path / "allowed", POLICY, {"azure-pipelines.yml": config},
                       options={"allow": ["waitForValidation"]})
    assert allowed.outcome is Outcome.PASS


def test_buildkite_block_step_fails(tmp_path: Path) -> None:
    config = "steps:\n  - command: make\n  - block: ':rocket: Release'\n  - command: ./deploy\n"
    finding = evaluate(tmp_path, POLICY, {".buildkite/pipeline.yml": config})
    assert finding.outcome is Outcome.FAIL
    assert (finding.path, finding.line) == (".buildkite/pipeline.yml", 3)


# --------------------------------------------------------------------------- applicability


def test_no_ci_is_not_applicable(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"README.md": "# app\n", "src/app.py": "print(1)\n"})
    assert finding.outcome is Outcome.NOT_APPLICABLE


def test_other_ci_system_passes_and_is_named_as_not_inspected(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {".travis.yml": "language: python\nscript: pytest\n"})
    assert finding.outcome is Outcome.PASS
    assert "not inspected" in finding.message and ".travis.yml" in finding.message


def test_several_offenders_get_one_location_each(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {
        ".gitlab-ci.yml": "a:\n  script: [x]\n  when: manual\nb:\n  script: [x]\n"
                          "  rules:\n    - if: $X\n      when: manual\n",
        "Jenkinsfile": "node { stage('x') { input 'go?' } }\n",
    })
    assert finding.outcome is Outcome.FAIL
    assert [(loc.path, loc.line) for loc in finding.locations] == [
        (".gitlab-ci.yml", 3), (".gitlab-ci.yml", 8), ("Jenkinsfile", 1)]
    assert finding.message.startswith("3 manual jobs wait for a person")


# --------------------------------------------------------------------------- shared locations
# Jobs that get their manual gate from one anchor or template share a location; the `allow`
# option names jobs, so allowing one of them must not hide the others.

GITLAB_SHARED_GATE = {
    "extends": (
        ".manual-template:\n  when: manual\n"
        "docs:\n  extends: .manual-template\n  script: [make docs]\n"
        "report:\n  extends: .manual-template\n  script: [make report]\n"
    ),
    "anchor": (
        ".manual: &manual\n  when: manual\n"
        "docs:\n  <<: *manual\n  script: [make docs]\n"
        "report:\n  <<: *manual\n  script: [make report]\n"
    ),
}


def test_gitlab_allowing_one_job_of_a_shared_template_still_fails_the_other(
        tmp_path: Path) -> None:
    for kind, ci in GITLAB_SHARED_GATE.items():
        both = evaluate(tmp_path / kind / "none", POLICY, {".gitlab-ci.yml": ci})
        assert both.outcome is Outcome.FAIL, kind
        assert [(loc.path, loc.line) for loc in both.locations] == [(".gitlab-ci.yml", 2)], kind

        finding = evaluate(tmp_path / kind / "docs", POLICY, {".gitlab-ci.yml": ci},
                           options={"allow": ["docs"]})
        assert finding.outcome is Outcome.FAIL, kind
        assert finding.message.startswith("1 manual job wait"), kind
        assert "`report`" in finding.message and "`docs`" not in finding.message, kind
        assert [(loc.path, loc.line) for loc in finding.locations] == [(".gitlab-ci.yml", 2)]

        everything = evaluate(tmp_path / kind / "all", POLICY, {".gitlab-ci.yml": ci},
                              options={"allow": ["docs", "report"]})
        assert everything.outcome is Outcome.PASS, kind


def test_github_allowing_one_job_of_shared_approval_steps_still_fails_the_other(
        tmp_path: Path) -> None:
    workflow = (
        "on: push\njobs:\n"
        "  docs:\n    runs-on: ubuntu-latest\n    steps: &gate\n"
        "      - uses: trstringer/manual-approval@v1\n"
        "  report:\n    runs-on: ubuntu-latest\n    steps: *gate\n"
    )
    finding = evaluate(tmp_path, POLICY, {".github/workflows/ship.yml": workflow},
                       options={"allow": ["docs"]})
    assert finding.outcome is Outcome.FAIL
    assert "`report`" in finding.message and "`docs`" not in finding.message
    assert finding.line == _line(workflow, "manual-approval")


def test_jenkins_allowing_one_stage_does_not_hide_an_input_on_the_same_line(
        tmp_path: Path) -> None:
    jenkinsfile = "node { stage('docs') { input 'a?' }; stage('report') { input 'b?' } }\n"
    finding = evaluate(tmp_path, POLICY, {"Jenkinsfile": jenkinsfile},
                       options={"allow": ["docs"]})
    assert finding.outcome is Outcome.FAIL
    assert "stage `report`" in finding.message and "stage `docs`" not in finding.message


def test_circleci_allowing_one_workflow_of_a_shared_approval_still_fails_the_other(
        tmp_path: Path) -> None:
    config = (
        "version: 2.1\n"
        "workflows:\n"
        "  docs:\n    jobs:\n      - hold: &approval\n          type: approval\n"
        "  report:\n    jobs:\n      - hold: *approval\n"
    )
    finding = evaluate(tmp_path, POLICY, {".circleci/config.yml": config},
                       options={"allow": ["docs"]})
    assert finding.outcome is Outcome.FAIL
    assert "workflow `report`" in finding.message and "workflow `docs`" not in finding.message


def test_azure_allowing_one_job_of_a_shared_validation_task_still_fails_the_other(
        tmp_path: Path) -> None:
    config = (
        "jobs:\n"
        "  - job: docs\n    pool: server\n    steps:\n"
        "      - &validate\n        task: ManualValidation@0\n"
        "  - job: report\n    pool: server\n    steps:\n      - *validate\n"
    )
    none_allowed = evaluate(tmp_path / "none", POLICY, {"azure-pipelines.yml": config})
    assert none_allowed.outcome is Outcome.FAIL
    assert [loc.line for loc in none_allowed.locations] == [_line(config, "ManualValidation")]

    finding = evaluate(tmp_path / "docs", POLICY, {"azure-pipelines.yml": config},
                       options={"allow": ["docs"]})
    assert finding.outcome is Outcome.FAIL
    assert "in job report" in finding.message and "job docs" not in finding.message
