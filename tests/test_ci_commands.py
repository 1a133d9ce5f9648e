"""governance.ci.commands: what CI runs, followed through make, pre-commit, npm, scripts."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from governance.ci.commands import (
    CiInvocations,
    Invocation,
    ci_invocations,
    command_words,
    docker_run_image,
    shell_segments,
    split_script,
    uses_hints,
)
from governance.testing import memory_files


def _run(files: Mapping[str, str | bytes]) -> CiInvocations:
    return ci_invocations(memory_files(files))


def _texts(result: CiInvocations, kind: str | None = None) -> list[str]:
    return [i.text for i in result.invocations if kind is None or i.kind == kind]


def _workflow(*steps: str, job_extra: str = "") -> str:
    lines = ["on: push", "jobs:", "  ci:", "    runs-on: ubuntu-latest"]
    if job_extra:
        lines.append(job_extra)
    lines.append("    steps:")
    lines += [f"      {step}" for step in steps]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- shell helpers


def test_shell_segments_split_on_operators_but_not_inside_quotes() -> None:
    assert shell_segments("cd infra && terraform fmt -check; echo 'a && b' | tee x") == [
        ["cd", "infra"], ["terraform", "fmt", "-check"], ["echo", "a && b"], ["tee", "x"]]
    assert shell_segments("$(MAKE) lint") == [["make", "lint"]]
    assert shell_segments("run it # tflint") == [["run", "it"]]


def test_command_words_unwraps_runners() -> None:
    assert command_words(["sudo", "-u", "ci", "env", "A=1", "npx", "--yes", "cfn-lint", "x"]) == [
        "cfn-lint", "x"]
    assert command_words(["FOO=1", "./bin/tflint", "--recursive"]) == ["tflint", "--recursive"]
    assert command_words(["python3", "-m", "pre_commit", "run"]) == ["pre-commit", "run"]
    assert command_words(["find", ".", "-name", "Dockerfile", "-exec", "hadolint", "{}"]) == [
        "hadolint", "{}"]
    assert command_words(["poetry", "run", "checkov", "-d", "."]) == ["checkov", "-d", "."]
    assert command_words(["do", "tflint"]) == ["tflint"]


def test_split_script_joins_continuations_and_skips_comments() -> None:
    script = "# lint\nterraform fmt \\\n  -check\n\ntflint\n"
    assert split_script(script, 10) == [("terraform fmt -check", 11), ("tflint", 14)]
    assert split_script("a\nb", 3, literal=False) == [("a", 3), ("b", 3)]


def test_uses_hints_and_docker_run() -> None:
    assert uses_hints("aquasecurity/trivy-action@v1 scan-type=config 'skip-dirs=a b'") == (
        "aquasecurity/trivy-action@v1", {"scan-type": "config", "skip-dirs": "a b"})
    assert docker_run_image(["docker", "run", "--rm", "-i", "-v", "x:/y",
                             "hadolint/hadolint", "hadolint", "-"]) == (
        "hadolint/hadolint", ["hadolint", "-"])
    assert docker_run_image(["docker", "build", "."]) is None


# ---------------------------------------------------------------- CI systems


def test_github_actions_runs_uses_hints_and_lines() -> None:
    workflow = _workflow(
        "- uses: actions/checkout@v4",
        "- uses: aquasecurity/trivy-action@0.28.0",
        "  with:",
        "    scan-type: config",
        "  env:",
        "    TRIVY_SEVERITY: HIGH",
        "- run: |",
        "    terraform init -backend=false",
        "    terraform validate",
        "- uses: docker://hadolint/hadolint:v2.12.0",
        job_extra="    container: ghcr.io/acme/builder:1",
    )
    result = _run({".github/workflows/ci.yml": workflow})
    by_text = {i.text: i for i in result.invocations}
    trivy = "aquasecurity/trivy-action@0.28.0 scan-type=config TRIVY_SEVERITY=HIGH"
    assert by_text[trivy].line == 8
    assert by_text["terraform init -backend=false"].line == 14
    assert by_text["terraform validate"] == Invocation(
        "GitHub Actions", "run", "terraform validate", ".github/workflows/ci.yml", 15)
    assert by_text["hadolint/hadolint:v2.12.0"].kind == "image"
    assert by_text["ghcr.io/acme/builder:1"].kind == "image"
    assert result.problems == [] and result.external == []


def test_steps_in_another_language_are_not_shell() -> None:
    result = _run({".github/workflows/ci.yml": _workflow(
        "- run: |", "    import subprocess", "  shell: python",
        "- run: make lint", "  shell: bash")})
    assert _texts(result) == ["make lint"]


def test_workflows_in_subfolders_are_not_read() -> None:
    result = _run({".github/workflows/old/ci.yml": _workflow("- run: tflint")})
    assert result.invocations == []
    assert result.systems == []


def test_reusable_workflow_of_another_repository_is_external() -> None:
    workflow = ("on: push\njobs:\n  lint:\n"
                "    uses: acme/ci/.github/workflows/lint.yml@v2\n")
    result = _run({".github/workflows/ci.yml": workflow})
    assert [(e.text, e.line) for e in result.external] == [
        ("acme/ci/.github/workflows/lint.yml@v2", 4)]
    assert _texts(result, "include") == ["acme/ci/.github/workflows/lint.yml@v2"]


def test_local_composite_action_steps_are_followed() -> None:
    action = ("name: lint\nruns:\n  using: composite\n  steps:\n"
              "    - run: hadolint Dockerfile\n      shell: bash\n")
    result = _run({
        ".github/workflows/ci.yml": _workflow("- uses: ./.github/actions/lint"),
        ".github/actions/lint/action.yml": action,
    })
    hadolint = [i for i in result.invocations if i.text == "hadolint Dockerfile"]
    assert [(i.path, i.line) for i in hadolint] == [(".github/actions/lint/action.yml", 5)]


def test_broken_workflow_is_a_problem_not_a_crash() -> None:
    result = _run({
        ".github/workflows/bad.yml": "on: push\njobs: [\n",
        ".github/workflows/good.yml": _workflow("- run: tflint"),
    })
    assert _texts(result) == ["tflint"]
    assert [p.path for p in result.problems] == [".github/workflows/bad.yml"]


def test_gitlab_jobs_scripts_images_and_unresolved_includes() -> None:
    gitlab = ("include:\n  - template: Jobs/SAST-IaC.gitlab-ci.yml\n"
              "default:\n  before_script: [echo start]\n"
              ".lint:\n  image: hadolint/hadolint:latest\n"
              "dockerfile:\n  extends: .lint\n  script:\n    - hadolint Dockerfile\n")
    result = _run({".gitlab-ci.yml": gitlab})
    assert ("hadolint Dockerfile", 10) in [(i.text, i.line) for i in result.invocations]
    assert "echo start" in _texts(result, "run")
    assert _texts(result, "image") == ["hadolint/hadolint:latest"]
    assert any("SAST-IaC" in text for text in _texts(result, "include"))
    assert len(result.external) == 1


def test_jenkins_sh_steps_images_and_libraries() -> None:
    jenkinsfile = (
        "@Library('acme-shared') _\n"
        "pipeline {\n"
        "  agent { docker { image 'hashicorp/terraform:1.9' } }\n"
        "  stages { stage('lint') { steps {\n"
        "    sh 'terraform fmt -check'\n"
        "    // sh 'tflint'\n"
        "    sh \"\"\"\n"
        "      tflint --recursive\n"
        "    \"\"\"\n"
        "    sh(script: 'checkov -d .', returnStatus: true)\n"
        "    bat label: 'win', script: 'cfn-lint a.yaml'\n"
        "    echo \"sh 'not a step'\"\n"
        "  } } }\n"
        "}\n")
    result = _run({"ci/Jenkinsfile": jenkinsfile})
    runs = [(i.text, i.line) for i in result.invocations if i.kind == "run"]
    assert runs == [("terraform fmt -check", 5), ("tflint --recursive", 8),
                    ("checkov -d .", 10), ("cfn-lint a.yaml", 11)]
    assert _texts(result, "image") == ["hashicorp/terraform:1.9"]
    assert [e.line for e in result.external] == [1]


@pytest.mark.parametrize(
    ("path", "content", "expected"),
    [
        (".circleci/config.yml",
         "version: 2.1\norbs:\n  tf: circleci/terraform@3.2\njobs:\n  lint:\n"
         "    docker:\n      - image: cimg/base:2024.01\n    steps:\n      - checkout\n"
         "      - run:\n          name: lint\n          command: tflint\n"
         "workflows:\n  main:\n    jobs: [lint, tf/validate]\n",
         {("run", "tflint"), ("image", "cimg/base:2024.01"), ("uses", "circleci/terraform@3.2"),
          ("uses", "circleci/terraform@3.2/validate")}),
        ("bitbucket-pipelines.yml",
         "image: python:3.12\npipelines:\n  default:\n    - step:\n        script:\n"
         "          - cfn-lint t.yaml\n          - pipe: atlassian/aws-sam-deploy:1.0\n",
         {("image", "python:3.12"), ("run", "cfn-lint t.yaml"),
          ("uses", "atlassian/aws-sam-deploy:1.0")}),
        ("azure-pipelines.yml",
         "trigger: [main]\npool:\n  vmImage: ubuntu-latest\nsteps:\n"
         "  - script: kubeconform k8s/\n  - task: TerraformTaskV4@4\n    inputs:\n"
         "      command: validate\n",
         {("run", "kubeconform k8s/"), ("uses", "TerraformTaskV4@4 command=validate")}),
        (".travis.yml", "language: python\nbefore_script: [pip install x]\nscript:\n  - tflint\n",
         {("run", "pip install x"), ("run", "tflint")}),
        ("buildspec.yml", "version: 0.2\nphases:\n  build:\n    commands:\n      - sam validate\n",
         {("run", "sam validate")}),
        ("cloudbuild.yaml",
         "steps:\n  - name: hashicorp/terraform:1.9\n    args: [fmt, -check]\n"
         "  - name: gcr.io/cloud-builders/gcloud\n    entrypoint: bash\n"
         "    args: [-c, 'helm lint chart']\n",
         {("image", "hashicorp/terraform:1.9"), ("run", "terraform fmt -check"),
          ("image", "gcr.io/cloud-builders/gcloud"), ("run", "helm lint chart")}),
        (".drone.yml",
         "kind: pipeline\nsteps:\n  - name: lint\n    image: hadolint/hadolint\n"
         "    commands: [hadolint Dockerfile]\n---\nkind: pipeline\nsteps:\n"
         "  - name: tf\n    image: x\n    commands: [tflint]\n",
         {("image", "hadolint/hadolint"), ("run", "hadolint Dockerfile"), ("image", "x"),
          ("run", "tflint")}),
        ("appveyor.yml", "install:\n  - ps: Install-Module x\nbuild_script:\n  - cmd: make\n",
         {("run", "Install-Module x"), ("run", "make")}),
    ],
)
def test_other_ci_systems(path: str, content: str, expected: set[tuple[str, str]]) -> None:
    result = _run({path: content})
    assert result.problems == []
    assert {(i.kind, i.text) for i in result.invocations} == expected


def test_azure_local_template_is_followed_and_remote_one_is_external() -> None:
    pipeline = ("trigger: [main]\nsteps:\n  - template: templates/lint.yml\n"
                "  - template: build.yml@platform\n")
    template = "steps:\n  - bash: |\n      ansible-lint site.yml\n"
    result = _run({"azure-pipelines.yml": pipeline, "templates/lint.yml": template})
    assert [(i.text, i.path, i.line) for i in result.invocations if i.kind == "run"] == [
        ("ansible-lint site.yml", "templates/lint.yml", 3)]
    assert [e.text for e in result.external] == ["build.yml@platform"]


# ---------------------------------------------------------------- following indirections

PRE_COMMIT = """\
repos:
  - repo: https://github.com/antonbabenko/pre-commit-terraform
    rev: v1.96.1
    hooks:
      - id: terraform_fmt
      - id: terraform_docs
        stages: [manual]
  - repo: local
    hooks:
      - id: lint-docker
        name: lint dockerfiles
        entry: scripts/hadolint.sh
        language: script
"""


def test_pre_commit_run_adds_the_hooks_that_would_run() -> None:
    result = _run({
        ".github/workflows/ci.yml": _workflow("- run: pre-commit run --all-files"),
        ".pre-commit-config.yaml": PRE_COMMIT,
        "scripts/hadolint.sh": "#!/bin/sh\nset -eu\nhadolint Dockerfile\n",
    })
    hooks = [(i.text, i.line) for i in result.invocations if i.kind == "hook"]
    assert hooks == [("terraform_fmt", 5), ("lint-docker: scripts/hadolint.sh", 10)]
    script = [(i.text, i.path, i.line) for i in result.invocations
              if i.path == "scripts/hadolint.sh"]
    assert script == [("set -eu", "scripts/hadolint.sh", 2),
                      ("hadolint Dockerfile", "scripts/hadolint.sh", 3)]
    assert all(i.system == "GitHub Actions" for i in result.invocations)


def test_pre_commit_with_one_hook_or_manual_stage() -> None:
    one = _run({".github/workflows/ci.yml": _workflow("- run: pre-commit run terraform_fmt -a"),
                ".pre-commit-config.yaml": PRE_COMMIT})
    assert _texts(one, "hook") == ["terraform_fmt"]
    manual = _run({".gitlab-ci.yml": "docs:\n  script: pre-commit run --hook-stage manual\n",
                   ".pre-commit-config.yaml": PRE_COMMIT})
    assert "terraform_docs" in _texts(manual, "hook")


def test_pre_commit_action_uses_its_extra_args() -> None:
    result = _run({
        ".github/workflows/ci.yml": _workflow("- uses: pre-commit/action@v3.0.1",
                                              "  with:", "    extra_args: terraform_fmt --all"),
        ".pre-commit-config.yaml": PRE_COMMIT,
    })
    assert _texts(result, "hook") == ["terraform_fmt"]


def test_pre_commit_config_is_not_read_when_ci_does_not_run_it() -> None:
    result = _run({".github/workflows/ci.yml": _workflow("- run: pip install pre-commit"),
                   ".pre-commit-config.yaml": PRE_COMMIT})
    assert _texts(result, "hook") == []


MAKEFILE = """\
TF := terraform
DIRS = infra
.PHONY: all lint fmt validate

all: build

lint: fmt validate
\t@echo linting

fmt:
\t$(TF) fmt -check -recursive $(DIRS)

validate: ; $(TF) validate

build:
\tdocker build .

nested:
\t$(MAKE) -C sub check
"""


def test_make_target_recipes_and_prerequisites_are_followed() -> None:
    result = _run({".github/workflows/ci.yml": _workflow("- run: make lint"),
                   "Makefile": MAKEFILE})
    made = [(i.text, i.line) for i in result.invocations if i.kind == "make"]
    assert made == [("echo linting", 8), ("terraform fmt -check -recursive infra", 11),
                    ("terraform validate", 13)]
    assert all(i.path == "Makefile" for i in result.invocations if i.kind == "make")


def test_plain_make_runs_the_default_goal() -> None:
    result = _run({".gitlab-ci.yml": "build:\n  script: [make]\n", "Makefile": MAKEFILE})
    assert _texts(result, "make") == ["docker build ."]


def test_make_in_a_folder_and_recursive_make() -> None:
    result = _run({
        ".github/workflows/ci.yml": _workflow(
            "- run: make nested", "- run: make -C infra check",
            job_extra="    defaults:\n      run:\n        working-directory: ."),
        "Makefile": MAKEFILE,
        "sub/Makefile": "check:\n\tkube-linter lint .\n",
        "infra/Makefile": "check:\n\ttflint\n",
    })
    made = {(i.text, i.path) for i in result.invocations if i.kind == "make"}
    assert ("kube-linter lint .", "sub/Makefile") in made
    assert ("tflint", "infra/Makefile") in made


def test_cd_then_make_uses_that_folders_makefile() -> None:
    result = _run({
        ".github/workflows/ci.yml": _workflow("- run: |", "    cd infra", "    make check"),
        "infra/Makefile": "check:\n\ttflint\n",
    })
    assert _texts(result, "make") == ["tflint"]


def test_npm_scripts_are_followed_with_pre_and_post() -> None:
    package = ('{\n  "scripts": {\n    "prelint": "echo before",\n'
               '    "lint": "cfn-lint templates/*.yaml",\n    "test": "jest"\n  }\n}\n')
    result = _run({".github/workflows/ci.yml": _workflow("- run: npm run lint"),
                   "package.json": package})
    followed = [(i.text, i.line) for i in result.invocations if i.path == "package.json"]
    assert followed == [("echo before", 3), ("cfn-lint templates/*.yaml", 4)]


def test_tox_environment_commands_are_followed() -> None:
    tox = "[tox]\nenvlist = py\n\n[testenv:lint]\ncommands =\n    ansible-lint site.yml\n"
    result = _run({".github/workflows/ci.yml": _workflow("- run: tox -e lint"),
                   "tox.ini": tox})
    assert [(i.text, i.path, i.line) for i in result.invocations if i.path == "tox.ini"] == [
        ("ansible-lint site.yml", "tox.ini", 6)]


def test_following_is_bounded_on_cycles() -> None:
    result = _run({
        ".github/workflows/ci.yml": _workflow("- run: make a", "- run: ./scripts/loop.sh"),
        "Makefile": "a: b\n\t$(MAKE) b\nb: a\n\t$(MAKE) a\n",
        "scripts/loop.sh": "./scripts/loop.sh\n",
    })
    assert sorted(_texts(result, "make")) == ["make a", "make b"]
    assert [i.path for i in result.invocations if i.text == "./scripts/loop.sh"] == [
        ".github/workflows/ci.yml", "scripts/loop.sh"]


def test_unreadable_makefile_is_a_problem() -> None:
    result = _run({".github/workflows/ci.yml": _workflow("- run: make lint"),
                   "Makefile": b"lint:\n\t\xff\n"})
    assert [p.path for p in result.problems] == ["Makefile"]
