"""Generate a local org of N synthetic git repositories for benchmarking `local:` scans.

    python bench/synthetic_org.py /tmp/bench --repos 1000 --seed 7

creates /tmp/bench/acme/svc-0000 ... svc-0999, each a real git repository with one commit
on `main`. The mix follows what a GitOps estate looks like: GitHub Actions workflows with
pinned and floating actions (some workflow_dispatch-only, some pull_request_target),
GitLab CI with anchors, `extends`, `!reference` and manual jobs, Terraform, Dockerfiles,
Kubernetes manifests (multi-document), Helm charts, serverless / SAM templates, Jenkins
and CircleCI configs, dependency-update configs, READMEs, licences and source trees of
20 to 200 files. Repository i depends only on (seed, i): the first 100 repositories of a
1,000-repository org are the 100-repository org.

Each repository is written with two git processes (`init`, `fast-import`), no work tree
files: `local:` scans read the object database, never the work tree.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}

_ACTIONS = ["actions/checkout", "actions/setup-python", "actions/setup-node", "actions/cache",
            "actions/upload-artifact", "docker/build-push-action", "docker/login-action",
            "aws-actions/configure-aws-credentials", "hashicorp/setup-terraform",
            "github/codeql-action/analyze"]
_LANGS = {"python": ("py", "pyproject.toml"), "node": ("ts", "package.json"),
          "go": ("go", "go.mod"), "java": ("java", "pom.xml")}
_MANIFESTS = {
    "pyproject.toml": '[project]\nname = "{name}"\nversion = "1.0.0"\n',
    "package.json": '{{"name": "{name}", "version": "1.0.0", "scripts": {{"test": "jest"}}}}\n',
    "go.mod": "module example.invalid/{name}\n\ngo 1.22\n",
    "pom.xml": "<project><artifactId>{name}</artifactId><version>1.0.0</version></project>\n",
}


def _sha(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(40))


def _uses(rng: random.Random, action: str) -> str:
    roll = rng.random()
    if roll < 0.45:
        return f"{action}@{_sha(rng)} # v{rng.randint(1, 5)}.{rng.randint(0, 9)}.0"
    if roll < 0.9:
        return f"{action}@v{rng.randint(1, 5)}"
    return f"{action}@main"


def _workflow(rng: random.Random, name: str) -> str:
    triggers = rng.choice([
        "on:\n  push:\n    branches: [main]\n  pull_request:\n",
        "on: [push, pull_request]\n",
        "on:\n  workflow_dispatch:\n    inputs:\n      environment:\n"
        "        type: choice\n        options: [staging, production]\n",
        "on:\n  schedule:\n    - cron: '0 3 * * *'\n  workflow_dispatch:\n",
        "on:\n  pull_request_target:\n    types: [opened, synchronize]\n",
    ])
    text = f"name: {name}\n{triggers}"
    if rng.random() < 0.5:
        text += "permissions:\n  contents: read\n"
        if rng.random() < 0.3:
            text += "  id-token: write\n"
    text += "env:\n  CI: 'true'\njobs:\n"
    for job in range(rng.randint(1, 4)):
        text += f"  job{job}:\n    runs-on: {rng.choice(['ubuntu-latest', 'ubuntu-24.04'])}\n"
        if rng.random() < 0.3:
            text += "    strategy:\n      matrix:\n        version: ['3.10', '3.11', '3.12']\n"
        if rng.random() < 0.2:
            text += "    environment: production\n"
        text += "    steps:\n"
        for action in rng.sample(_ACTIONS, rng.randint(1, 4)):
            text += f"      - uses: {_uses(rng, action)}\n"
            if rng.random() < 0.3:
                text += "        with:\n          fetch-depth: 0\n"
        if "pull_request_target" in triggers and rng.random() < 0.5:
            text += ("      - uses: actions/checkout@v4\n        with:\n"
                     "          ref: ${{ github.event.pull_request.head.sha }}\n")
        for command in rng.sample(["make test", "terraform fmt -check", "terraform validate",
                                   "tflint", "hadolint Dockerfile", "npm ci && npm test",
                                   "pytest -q", "kubeconform -strict k8s/", "helm lint chart",
                                   "sam validate --lint", "checkov -d ."], rng.randint(1, 3)):
            text += f"      - run: {command}\n"
    return text


def _gitlab_ci(rng: random.Random) -> str:
    text = ("stages: [lint, test, build, deploy]\n\n"
            "variables:\n  DOCKER_DRIVER: overlay2\n\n"
            ".defaults: &defaults\n  image: alpine:3.20\n  tags: [docker]\n"
            "  before_script:\n    - apk add --no-cache make\n\n"
            ".setup:\n  script:\n    - make deps\n\n")
    if rng.random() < 0.4:
        text += "include:\n  - project: platform/ci-templates\n    file: /terraform.yml\n\n"
    text += ("lint:\n  <<: *defaults\n  stage: lint\n  script:\n"
             "    - !reference [.setup, script]\n    - terraform fmt -check\n    - tflint\n\n"
             "test:\n  extends: .defaults\n  stage: test\n  script: [make test]\n"
             "  rules:\n    - if: $CI_PIPELINE_SOURCE == 'merge_request_event'\n\n")
    for env in rng.sample(["staging", "production", "sandbox"], rng.randint(1, 3)):
        text += (f"deploy-{env}:\n  extends: .defaults\n  stage: deploy\n"
                 f"  environment: {env}\n  script:\n    - terraform apply -auto-approve\n")
        if rng.random() < 0.4:
            text += "  when: manual\n"
        text += "\n"
    return text


def _terraform(rng: random.Random) -> dict[str, str]:
    files = {
        "main.tf": 'terraform {\n  required_version = ">= 1.6"\n}\n\n' + "".join(
            f'resource "aws_s3_bucket" "b{i}" {{\n  bucket = "acme-{rng.randint(1, 10**6)}"\n}}\n\n'
            for i in range(rng.randint(1, 6))),
        "variables.tf": 'variable "region" {\n  type    = string\n  default = "eu-west-1"\n}\n',
    }
    if rng.random() < 0.4:
        files["modules/network/main.tf"] = (
            'resource "aws_vpc" "main" {\n  cidr_block = "10.0.0.0/16"\n}\n')
    if rng.random() < 0.3:
        files[".tflint.hcl"] = 'plugin "aws" {\n  enabled = true\n}\n'
    return files


def _k8s(rng: random.Random, name: str) -> dict[str, str]:
    deployment = (
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"
        f"  labels: {{app: {name}}}\nspec:\n  replicas: {rng.randint(1, 5)}\n"
        f"  selector:\n    matchLabels: {{app: {name}}}\n  template:\n"
        f"    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n"
        f"        - name: app\n"
        f"          image: registry.example.invalid/{name}:1.0.{rng.randint(0, 99)}\n"
        "          ports: [{containerPort: 8080}]\n"
        "          resources:\n            limits: {cpu: 500m, memory: 256Mi}\n"
    )
    service = (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n"
               f"  selector: {{app: {name}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n")
    files = {"k8s/deployment.yaml": deployment, "k8s/all.yaml": deployment + "---\n" + service}
    if rng.random() < 0.4:
        files["chart/Chart.yaml"] = f"apiVersion: v2\nname: {name}\nversion: 0.1.0\n"
        files["chart/values.yaml"] = "replicaCount: 2\nimage:\n  tag: latest\n"
        files["chart/templates/deployment.yaml"] = (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
            "  name: {{ .Release.Name }}\n")
    return files


def _serverless(rng: random.Random, name: str) -> dict[str, str]:
    if rng.random() < 0.5:
        return {"serverless.yml": (
            f"service: {name}\nprovider:\n  name: aws\n  runtime: python3.12\n"
            "functions:\n  handler:\n    handler: app.handler\n"
            "    events:\n      - httpApi: {path: /orders, method: post}\n")}
    return {"template.yaml": (
        "AWSTemplateFormatVersion: '2010-09-09'\nTransform: AWS::Serverless-2016-10-31\n"
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties:\n      Handler: app.handler\n      Runtime: python3.12\n")}


def repository_files(seed: int, index: int) -> dict[str, str]:
    """The committed files of synthetic repository `index` (deterministic)."""
    rng = random.Random(f"{seed}:{index}")
    name = f"svc-{index:04d}"
    lang = rng.choice(list(_LANGS))
    ext, manifest = _LANGS[lang]
    files = {manifest: _MANIFESTS[manifest].format(name=name), ".gitignore": "build/\n"}
    for i in range(rng.randint(20, 200)):
        folder = rng.choice(["src", "src/core", "src/api", "lib", "tests", "internal/util"])
        files[f"{folder}/mod{i}.{ext}"] = f"// {name} module {i}\n" * rng.randint(1, 40)
    if rng.random() < 0.9:
        files["README.md"] = f"# {name}\n\nOwned by team {rng.randint(1, 40)}.\n"
    if rng.random() < 0.5:
        files["LICENSE"] = "Apache License\nVersion 2.0, January 2004\n"
    if rng.random() < 0.3:
        files[rng.choice(["SECURITY.md", ".github/SECURITY.md"])] = "# Security\n"
    if rng.random() < 0.4:
        files[rng.choice(["CODEOWNERS", ".github/CODEOWNERS"])] = f"* @acme/team-{index % 40}\n"
    ci = rng.random()
    if ci < 0.6:
        for workflow in rng.sample(["ci", "release", "deploy", "nightly", "codeql"],
                                   rng.randint(1, 4)):
            files[f".github/workflows/{workflow}.yml"] = _workflow(rng, workflow)
    elif ci < 0.85:
        files[".gitlab-ci.yml"] = _gitlab_ci(rng)
    elif ci < 0.9:
        files["Jenkinsfile"] = ("pipeline {\n  agent any\n  stages {\n"
                                "    stage('test') { steps { sh 'make test' } }\n  }\n}\n")
    elif ci < 0.95:
        files[".circleci/config.yml"] = ("version: 2.1\njobs:\n  test:\n    docker:\n"
                                         "      - image: cimg/base:stable\n"
                                         "    steps: [checkout, {run: make test}]\n")
    if rng.random() < 0.3:
        files.update(_terraform(rng))
    if rng.random() < 0.4:
        files["Dockerfile"] = (f"FROM {rng.choice(['python:3.12-slim', 'node:20', 'golang:1.22'])}"
                               "\nWORKDIR /app\nCOPY . .\nRUN make build\n")
    if rng.random() < 0.25:
        files.update(_k8s(rng, name))
    if rng.random() < 0.1:
        files.update(_serverless(rng, name))
    updates = rng.random()
    if updates < 0.25:
        files[".github/dependabot.yml"] = ("version: 2\nupdates:\n  - package-ecosystem: "
                                           "github-actions\n    directory: /\n"
                                           "    schedule: {interval: weekly}\n")
    elif updates < 0.4:
        files["renovate.json"] = '{"extends": ["config:recommended"]}\n'
    return files


def _fast_import_stream(files: dict[str, str]) -> Iterator[bytes]:
    yield b"commit refs/heads/main\n"
    yield b"committer bench <bench@example.invalid> 1767225600 +0000\n"
    yield b"data 16\nsynthetic commit\n"
    for path, text in sorted(files.items()):
        data = text.encode("utf-8")
        yield f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n"
    yield b"\n"


def write_repository(path: Path, files: dict[str, str]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "--quiet", "--initial-branch=main", str(path)], check=True,
                   env=_ENV, capture_output=True)
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], check=True, env=_ENV,
                   input=b"".join(_fast_import_stream(files)), capture_output=True)


def generate(folder: Path, repos: int, seed: int = 7, workers: int = 4) -> Path:
    """Create (or complete) `folder`/acme with `repos` repositories; returns the org folder."""
    org = folder / "acme"
    org.mkdir(parents=True, exist_ok=True)

    def one(index: int) -> None:
        path = org / f"svc-{index:04d}"
        if not (path / ".git" / "refs" / "heads" / "main").exists():
            write_repository(path, repository_files(seed, index))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(one, range(repos)))
    return org


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--repos", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    org = generate(args.folder, args.repos, args.seed)
    print(f"{args.repos} repositories in {org} ({time.perf_counter() - started:.1f} s)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
