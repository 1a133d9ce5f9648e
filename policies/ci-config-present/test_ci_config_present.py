from pathlib import Path

import pytest

from governance.models import Confidence, Outcome
from governance.snapshot import matches
from governance.testing import bundled_policy, evaluate

WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n      - run: make\n"
AZURE = "trigger: [main]\npool:\n  vmImage: ubuntu-latest\nsteps:\n  - script: make test\n"


@pytest.mark.parametrize(
    ("path", "content", "system"),
    [
        (".github/workflows/ci.yml", WORKFLOW, "GitHub Actions"),
        (".github/workflows/release.yaml", WORKFLOW, "GitHub Actions"),
        (".gitlab-ci.yml", "test:\n  script: make test\n", "GitLab CI"),
        ("Jenkinsfile", "pipeline { agent any\n stages { stage('t') { steps { sh 'make' } } } }\n",
         "Jenkins"),
        ("jenkins/Jenkinsfile", "node { sh 'make' }\n", "Jenkins"),
        ("ci/Jenkinsfile.release", "node { sh 'make release' }\n", "Jenkins"),
        (".circleci/config.yml", "version: 2.1\njobs:\n  t:\n    steps: [checkout]\n", "CircleCI"),
        ("buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands: [make]\n",
         "AWS CodeBuild"),
        ("ci/buildspec-deploy.yml", "version: 0.2\nphases:\n  build:\n    commands: [make]\n",
         "AWS CodeBuild"),
        ("azure-pipelines.yml", AZURE, "Azure Pipelines"),
        ("pipelines/build.yml", AZURE, "Azure Pipelines"),
        (".azure-pipelines/ci.yaml", "jobs:\n  - job: t\n    steps:\n      - bash: make\n",
         "Azure Pipelines"),
        ("bitbucket-pipelines.yml", "pipelines:\n  default:\n    - step:\n        script: [make]\n",
         "Bitbucket Pipelines"),
        (".travis.yml", "language: python\nscript: make test\n", "Travis CI"),
        ("cloudbuild.yaml", "steps:\n  - name: gcr.io/cloud-builders/docker\n",
         "Google Cloud Build"),
        ("cloudbuild.json", '{"steps": [{"name": "gcr.io/cloud-builders/go"}]}',
         "Google Cloud Build"),
        (".drone.yml", "kind: pipeline\nsteps:\n  - name: t\n    image: golang\n", "Drone"),
        (".woodpecker/test.yml", "steps:\n  t:\n    image: golang\n", "Woodpecker CI"),
        ("appveyor.yml", "build_script: make\n", "AppVeyor"),
        (".buildkite/pipeline.yml", "steps:\n  - command: make\n", "Buildkite"),
        (".semaphore/semaphore.yml", "version: v1.0\nblocks: []\n", "Semaphore"),
        (".teamcity/settings.kts", "version = \"2024.03\"\n", "TeamCity"),
        ("amplify.yml", "version: 1\nfrontend:\n  phases: {}\n", "AWS Amplify"),
    ],
)
def test_each_ci_system_passes_and_is_named(tmp_path: Path, path: str, content: str,
                                             system: str) -> None:
    finding = evaluate(tmp_path, "ci-config-present", {path: content, "README.md": "x\n"})
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.confidence is Confidence.HIGH
    assert system in finding.message
    assert path in finding.message
    assert finding.details["systems"][0]["system"] == system
    assert finding.details["systems"][0]["paths"] == [path]
    assert finding.path == path
    # a remote provider fetches what policy.yml declares: the file must be declared
    assert matches(path, bundled_policy("ci-config-present").definition.reads.files)


def test_several_systems_are_all_listed(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "ci-config-present", {
        ".github/workflows/ci.yml": WORKFLOW,
        "Jenkinsfile": "node { sh 'make' }\n",
    })
    assert finding.outcome is Outcome.PASS
    assert [s["system"] for s in finding.details["systems"]] == ["GitHub Actions", "Jenkins"]
    assert "GitHub Actions (.github/workflows/ci.yml)" in finding.message
    assert "Jenkins (Jenkinsfile)" in finding.message


def test_workflow_in_a_subfolder_of_workflows_does_not_count(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "ci-config-present",
                       {".github/workflows/old/ci.yml": WORKFLOW, "README.md": "x\n"})
    assert finding.outcome is Outcome.FAIL
    assert ".github/workflows/old/ci.yml" in finding.message
    assert "subfolder" in finding.message
    assert finding.details["ignored_workflows"] == [".github/workflows/old/ci.yml"]
    assert finding.path == ".github/workflows/old/ci.yml"


def test_repository_without_ci_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "ci-config-present",
                       {"README.md": "x\n", "src/main.py": "print(1)\n",
                        "docs/jenkinsfile.md": "how our Jenkins works\n"})
    assert finding.outcome is Outcome.FAIL
    assert finding.message == "no CI configuration found for any common CI system"
    assert finding.details["systems"] == []
    assert "Commit the pipeline definition" in finding.remediation


def test_empty_repository_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "ci-config-present", {}, commit=False)
    assert finding.outcome is Outcome.FAIL
    assert finding.message.startswith("empty repository")


def test_random_yaml_in_pipelines_folder_is_not_azure(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "ci-config-present",
                       {"pipelines/data.yml": "sources:\n  - s3://bucket/x\nschedule: daily\n"})
    assert finding.outcome is Outcome.FAIL


def test_pipelines_folder_yaml_with_only_generic_keys_is_likely(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "ci-config-present",
                       {"pipelines/build.yml": "jobs:\n  build:\n    run: make\n"})
    assert finding.outcome is Outcome.PASS
    assert finding.confidence is Confidence.MEDIUM
    assert "likely Azure Pipelines (pipelines/build.yml)" in finding.message
    assert finding.details["systems"][0]["likely"] is True


def test_gitlab_config_outside_the_root_is_likely(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "ci-config-present",
                       {"ci/.gitlab-ci.yml": "test:\n  script: make\n"})
    assert finding.outcome is Outcome.PASS
    assert finding.confidence is Confidence.MEDIUM
    assert "CI config path" in finding.message


def test_jenkinsfile_in_node_modules_does_not_count(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "ci-config-present",
                       {"node_modules/lib/Jenkinsfile": "node { sh 'make' }\n"})
    assert finding.outcome is Outcome.FAIL
