"""governance.iac: which kinds of IaC are detected where, and which invocations lint them."""

from __future__ import annotations

import pytest

from governance.ci.commands import Invocation
from governance.iac import detect_iac, kind_of, lint_coverage, match_linters
from governance.testing import memory_files

DEPLOYMENT = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n"


def test_every_kind_is_recognized_with_itsmemory_files() -> None:
    inventory = detect_iac(memory_files({
        "infra/main.tf": "terraform {}\n",
        "infra/vars.tf.json": "{}",
        "cfn/net.json": '{"AWSTemplateFormatVersion": "2010-09-09", "Resources": {}}',
        "sam/template.yaml": ("Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\n"
                              "Resources:\n  F:\n    Type: AWS::Serverless::Function\n"),
        "svc/serverless.yml": "service: orders\nprovider:\n  name: aws\n",
        "cdk/cdk.json": '{"app": "npx ts-node bin/app.ts"}',
        "k8s/app.yaml": DEPLOYMENT,
        "overlays/prod/kustomization.yaml": "resources: [../../k8s]\n",
        "chart/Chart.yaml": "apiVersion: v2\nname: c\nversion: 1.0.0\n",
        "chart/templates/svc.yaml": "{{ include \"x\" . }}\n",
        "images/api.Dockerfile": "FROM alpine\n",
        "Containerfile": "FROM alpine\n",
        "ansible/site.yml": "- hosts: all\n  roles: [web]\n",
        "ansible/roles/web/tasks/main.yml": "- name: x\n  ansible.builtin.debug: {msg: hi}\n",
        "pulumi/Pulumi.yaml": "name: p\nruntime: python\n",
    }))
    assert inventory.kinds == {
        "terraform": ["infra/main.tf", "infra/vars.tf.json"],
        "cloudformation": ["cfn/net.json"],
        "sam": ["sam/template.yaml"],
        "serverless": ["svc/serverless.yml"],
        "cdk": ["cdk/cdk.json"],
        "kubernetes": ["k8s/app.yaml", "overlays/prod/kustomization.yaml"],
        "helm": ["chart/Chart.yaml"],
        "dockerfile": ["Containerfile", "images/api.Dockerfile"],
        "ansible": ["ansible/roles/web/tasks/main.yml", "ansible/site.yml"],
        "pulumi": ["pulumi/Pulumi.yaml"],
    }
    assert inventory.problems == []


def test_look_alikes_and_other_peoples_files_are_not_iac() -> None:
    inventory = detect_iac(memory_files({
        "node_modules/pkg/Dockerfile": "FROM node\n",
        "vendor/x/main.tf": "terraform {}\n",
        "catalog-info.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\n",
        "skaffold.yaml": "apiVersion: skaffold/v4beta6\nkind: Config\n",
        ".github/workflows/deploy.yml": "on: push\njobs: {}\n# apiVersion: v1\n# kind: Pod\n",
        "docs/Dockerfile.md": "# how to write a Dockerfile\n",
        "testdata/bad/Dockerfile": "FROM scratch\n",
        "app/settings.yaml": "kind: settings\nversion: 2\n",
        "cdk.out/Stack.template.json": '{"AWSTemplateFormatVersion": "2010-09-09"}',
        "chart-less/templates/x.yaml": DEPLOYMENT,
    }))
    assert inventory.kinds == {"kubernetes": ["chart-less/templates/x.yaml"]}


def test_multi_document_yaml_with_a_manifest_after_other_documents() -> None:
    inventory = detect_iac(memory_files({"deploy/all.yaml": f"config: true\n---\n{DEPLOYMENT}"}))
    assert inventory.kinds == {"kubernetes": ["deploy/all.yaml"]}


def test_cloudformation_short_form_tags_are_kept_and_recognized() -> None:
    template = ("Resources:\n  Role:\n    Type: AWS::IAM::Role\n    Properties:\n"
                "      RoleName: !Join ['-', [!Ref AWS::StackName, role]]\n"
                "      Path: !If [IsProd, /prod/, !Ref AWS::NoValue]\n")
    inventory = detect_iac(memory_files({"stack.yml": template}))
    assert inventory.kinds == {"cloudformation": ["stack.yml"]}
    assert inventory.templates[0].functions == ()


def test_unreadable_candidate_is_recorded_and_the_rest_still_detected() -> None:
    inventory = detect_iac(memory_files({
        "bad.yaml": "AWSTemplateFormatVersion: '2010-09-09'\nResources: [\n",
        "good.yaml": DEPLOYMENT,
    }))
    assert inventory.kinds == {"kubernetes": ["good.yaml"]}
    assert [p.path for p in inventory.problems] == ["bad.yaml"]


def _kinds(kind: str, text: str) -> set[str]:
    invocation = Invocation("CI", kind, text, "ci.yml", 1)  # type: ignore[arg-type]
    return {k for evidence in match_linters(invocation) for k in evidence.kinds}


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("run", "terraform -chdir=infra fmt -check -diff", {"terraform"}),
        ("run", "terraform fmt -recursive", set()),
        ("run", "cd infra && npx --yes cfn-lint t.yaml", {"cloudformation", "sam"}),
        ("run", "docker run --rm -i hadolint/hadolint < Dockerfile", {"dockerfile"}),
        ("run", "docker run -v $PWD:/src ghcr.io/yannh/kubeconform -strict /src",
         {"kubernetes"}),
        ("run", "helm template chart | kubeconform -", {"helm", "kubernetes"}),
        ("run", "helm package chart", set()),
        ("run", "trivy --format sarif config .",
         {"terraform", "cloudformation", "sam", "kubernetes", "helm", "dockerfile"}),
        ("run", "trivy image app:latest", set()),
        ("run", "checkov -d . --framework dockerfile,helm", {"dockerfile", "helm"}),
        ("run", "checkov -d . --skip-framework kubernetes",
         {"terraform", "cloudformation", "sam", "serverless", "helm", "dockerfile", "ansible"}),
        ("run", "apt-get install -y hadolint", set()),
        ("run", "docker buildx build --check .", {"dockerfile"}),
        ("run", "kubectl apply --dry-run=client -f k8s/", {"kubernetes"}),
        ("run", "sam validate --lint", {"sam"}),
        ("run", "npx cdk synth", {"cdk"}),
        ("run", "sls package --stage ci", {"serverless"}),
        ("run", "ansible-playbook site.yml --syntax-check", {"ansible"}),
        ("hook", "terraform_validate", {"terraform"}),
        ("hook", "terraform_docs", set()),
        ("hook", "local-lint: hadolint --ignore DL3008", {"dockerfile"}),
        ("uses", "hadolint/hadolint-action@v3.1.0 dockerfile=Dockerfile", {"dockerfile"}),
        ("uses", "bridgecrewio/checkov-action@v12 framework=terraform", {"terraform"}),
        ("uses", "super-linter/super-linter/slim@v7 VALIDATE_ALL_CODEBASE=true "
                 "VALIDATE_TERRAFORM_TFLINT=true", {"terraform"}),
        ("uses", "oxsecurity/megalinter/flavors/terraform@v8", {"terraform", "dockerfile",
                                                                 "ansible"}),
        ("uses", "oxsecurity/megalinter/flavors/python@v8", set()),
        ("uses", "oxsecurity/megalinter@v8 DISABLE=DOCKERFILE,REPOSITORY",
         {"terraform", "cloudformation", "sam", "kubernetes", "helm", "ansible"}),
        ("uses", "pulumi/actions@v6 command=up", set()),
        ("uses", "pulumi/actions@v6 command=preview", {"pulumi"}),
        ("uses", "circleci/terraform@3.2/validate", {"terraform"}),
        ("uses", "docker://ghcr.io/terraform-linters/tflint:v0.53.0", {"terraform"}),
        ("image", "registry.acme.io/mirror/hadolint:2.12", {"dockerfile"}),
        ("image", "hashicorp/terraform:1.9", set()),
        ("include", "template Jobs/SAST-IaC.gitlab-ci.yml (.gitlab-ci.yml:2)",
         {"terraform", "cloudformation", "sam", "kubernetes", "dockerfile", "ansible"}),
        ("include", "template Terraform.gitlab-ci.yml (.gitlab-ci.yml:2)", {"terraform"}),
    ],
)
def test_which_invocations_lint_which_kinds(kind: str, text: str, expected: set[str]) -> None:
    assert _kinds(kind, text) == expected


def test_coverage_with_extra_linters_by_label() -> None:
    invocations = [Invocation("CI", "run", "./tools/lint-images.sh", "ci.yml", 3)]
    coverage = lint_coverage(["dockerfile", "terraform"], invocations,
                             {"Dockerfiles": ["lint-images"]})
    assert [e.invocation.line for e in coverage["dockerfile"]] == [3]
    assert coverage["terraform"] == []
    assert kind_of("Kubernetes manifests") == "kubernetes"
    assert kind_of("nope") is None
