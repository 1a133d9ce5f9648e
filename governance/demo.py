"""A small sample org of real git repositories, for `governance demo` and for tests.

`make_repo` commits a dict of files into a new repository; the demo org shows every
outcome: a well-kept service, one with manual deploys and floating action tags, an
unlinted Terraform repo, a serverless app, a docs repo with nothing codified.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

_AUTHOR = {
    "GIT_AUTHOR_NAME": "governance demo",
    "GIT_AUTHOR_EMAIL": "demo@example.invalid",
    "GIT_COMMITTER_NAME": "governance demo",
    "GIT_COMMITTER_EMAIL": "demo@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={**os.environ, **_AUTHOR})


def make_repo(
    path: Path,
    files: Mapping[str, str | bytes],
    symlinks: Mapping[str, str] | None = None,
    branch: str = "main",
    commit: bool = True,
) -> Path:
    """Create a git repository at `path` with `files` (and `symlinks`) committed on `branch`."""
    path.mkdir(parents=True, exist_ok=True)
    _git(path, "init", "--quiet", f"--initial-branch={branch}")
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_bytes(content.encode("utf-8"))
    for name, destination in (symlinks or {}).items():
        link = path / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(destination)
    if commit and (files or symlinks):
        _git(path, "add", "--all")
        _git(path, "commit", "--quiet", "--no-verify", "-m", "governance fixture")
    return path


_README = "# {name}\n\nOwned by the platform team.\n"
_LICENSE = "Apache License\nVersion 2.0, January 2004\n"
_SECURITY = "# Security\n\nReport vulnerabilities to security@example.invalid.\n"
_PINNED_CI = """\
name: ci
on:
  push:
    branches: [main]
  pull_request:
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
      - run: make test
"""
_DEPENDABOT = """\
version: 2
updates:
  - package-ecosystem: pip
    directory: /
    schedule:
      interval: weekly
"""


def demo_repositories() -> dict[str, dict[str, str]]:
    """The sample org: repository name -> committed files."""
    return {
        "payments-api": {
            "README.md": _README.format(name="payments-api"),
            "LICENSE": _LICENSE,
            "SECURITY.md": _SECURITY,
            ".github/CODEOWNERS": "* @acme/payments\n",
            ".github/dependabot.yml": _DEPENDABOT,
            ".github/workflows/ci.yml": _PINNED_CI,
            "Makefile": "test:\n\tpytest\n",
            "pyproject.toml": "[project]\nname = 'payments'\n",
        },
        "web-frontend": {
            "README.md": _README.format(name="web-frontend"),
            "package.json": '{"name": "web", "renovate": {"extends": ["config:recommended"]}}\n',
            ".github/workflows/ci.yml": (
                "on: [push, pull_request]\n"
                "jobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@v4\n      - uses: actions/setup-node@v4\n"
                "      - run: npm ci && npm test\n"
            ),
            ".github/workflows/release.yml": (
                "on: workflow_dispatch\n"
                "jobs:\n  release:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@v4\n      - run: npm publish\n"
            ),
            "Dockerfile": "FROM node:20\nCOPY . /app\n",
        },
        "infra-terraform": {
            "README.md": _README.format(name="infra-terraform"),
            "LICENSE": _LICENSE,
            ".gitlab-ci.yml": (
                ".deploy: &deploy\n  when: manual\n  script: [terraform apply]\n\n"
                "plan:\n  script: [terraform init, terraform plan]\n\n"
                "apply:\n  <<: *deploy\n  stage: deploy\n"
            ),
            "main.tf": 'resource "aws_s3_bucket" "logs" {\n  bucket = "acme-logs"\n}\n',
            "renovate.json": '{"extends": ["config:recommended"]}\n',
        },
        "orders-serverless": {
            "README.md": _README.format(name="orders-serverless"),
            "SECURITY.md": _SECURITY,
            "CODEOWNERS": "* @acme/orders\n",
            "template.yaml": (
                "AWSTemplateFormatVersion: '2010-09-09'\n"
                "Transform: AWS::Serverless-2016-10-31\n"
                "Resources:\n  Orders:\n    Type: AWS::Serverless::Function\n"
                "    Properties:\n      Handler: app.handler\n      Runtime: python3.12\n"
            ),
            "src/app.py": "def handler(event, context):\n    return {'statusCode': 200}\n",
            ".github/workflows/deploy.yml": (
                "on:\n  push:\n    branches: [main]\npermissions:\n  contents: read\n"
                "  id-token: write\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683\n"
                "      - run: sam validate --lint && sam build && sam deploy\n"
            ),
        },
        "handbook": {
            "docs/index.md": "# Handbook\n",
        },
    }


def build_demo_org(folder: Path) -> Path:
    """Create the sample org under `folder` (one child repository per entry)."""
    for name, files in demo_repositories().items():
        make_repo(folder / name, files)
    return folder
