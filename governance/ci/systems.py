"""Which CI systems a repository codifies, and the files each one reads.

Each system finds its configuration by a fixed name (GitLab's `.gitlab-ci.yml`, CircleCI's
`.circleci/config.yml`) or by a convention that a project setting can change (Jenkins'
Script Path, Azure's registered pipelines, CodeBuild's buildspec path). A file that only
a project setting would make the pipeline, or a YAML file that merely looks like one, is
reported with `likely=True` so a policy can lower its confidence instead of guessing.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from governance.ci import jenkins
from governance.errors import FileProblem
from governance.snapshot import RepoFiles

GITHUB_ACTIONS = "GitHub Actions"
GITLAB_CI = "GitLab CI"
JENKINS = "Jenkins"
CIRCLECI = "CircleCI"
CODEBUILD = "AWS CodeBuild"
AZURE_PIPELINES = "Azure Pipelines"
BITBUCKET = "Bitbucket Pipelines"
TRAVIS = "Travis CI"
CLOUD_BUILD = "Google Cloud Build"
DRONE = "Drone"
WOODPECKER = "Woodpecker CI"
APPVEYOR = "AppVeyor"
BUILDKITE = "Buildkite"
SEMAPHORE = "Semaphore"
TEAMCITY = "TeamCity"
AMPLIFY = "AWS Amplify"
BITRISE = "Bitrise"

# Folders whose content is someone else's code, never this repository's pipeline.
VENDORED_PARTS = frozenset({"node_modules", "vendor", "third_party", "third-party", ".terraform",
                            "bower_components", ".venv", "venv", "site-packages", ".git"})

# Top-level keys of an Azure Pipelines file (a pipeline or a template).
_AZURE_PIPELINE_KEYS = frozenset({"trigger", "pr", "pool", "schedules"})
_AZURE_SHAPE_KEYS = frozenset({"stages", "jobs", "steps", "extends"})
_AZURE_STEP_KEYS = frozenset({"task", "script", "bash", "pwsh", "powershell", "checkout",
                              "template", "download", "publish"})
_YAML_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class CiConfig:
    """The configuration files of one CI system found in a repository."""

    system: str
    paths: tuple[str, ...]
    likely: bool = False  # the files only look like this system's pipelines
    note: str = ""

    def describe(self) -> str:
        shown = ", ".join(self.paths[:5]) + (
            f" and {len(self.paths) - 5} more" if len(self.paths) > 5 else "")
        prefix = "likely " if self.likely else ""
        return f"{prefix}{self.system} ({shown})"


def vendored(path: str) -> bool:
    """True for paths inside dependency folders (node_modules/, vendor/, ...)."""
    return any(part in VENDORED_PARTS for part in path.split("/")[:-1])


def _own(paths: Iterable[str]) -> list[str]:
    return sorted(p for p in paths if not vendored(p))


def github_workflow_paths(files: RepoFiles) -> list[str]:
    """Workflows GitHub runs: only files directly in .github/workflows/."""
    return files.glob(".github/workflows/*.yml", ".github/workflows/*.yaml")


def github_ignored_workflows(files: RepoFiles) -> list[str]:
    """YAML files in subfolders of .github/workflows/, which GitHub never runs."""
    return files.glob(".github/workflows/*/**/*.yml", ".github/workflows/*/**/*.yaml")


def gitlab_paths(files: RepoFiles) -> tuple[list[str], list[str]]:
    """(the default `.gitlab-ci.yml`, other files only a custom CI config path would use)."""
    default = [p for p in [files.find(".gitlab-ci.yml")] if p]
    others = [p for p in _own(files.glob(".gitlab-ci.yaml", "**/.gitlab-ci.yml",
                                         "**/.gitlab-ci.yaml")) if p not in default]
    return default, others


def jenkins_paths(files: RepoFiles) -> list[str]:
    """Jenkinsfiles anywhere (a job's Script Path may point into a subfolder)."""
    return [p for p in jenkins.jenkinsfile_paths(files) if not vendored(p)]


def _azure_items(document: dict[object, object]) -> list[dict[object, object]]:
    """Stage, job and step mappings of a pipeline, a few levels deep."""
    items: list[dict[object, object]] = []
    pending: list[object] = [document.get(k) for k in ("stages", "jobs", "steps")]
    while pending and len(items) < 500:
        value = pending.pop()
        if not isinstance(value, list):
            continue
        for item in value:
            if isinstance(item, dict):
                items.append(item)
                pending.extend(item.get(k) for k in ("jobs", "steps"))
    return items


def _is_azure_document(document: object) -> tuple[bool, bool]:
    """(looks like Azure Pipelines, certainly Azure Pipelines) from its keys."""
    if not isinstance(document, dict):
        return False, False
    keys = {str(k) for k in document}
    if keys & _AZURE_PIPELINE_KEYS:
        return True, True
    if not keys & _AZURE_SHAPE_KEYS:
        return False, False
    for item in _azure_items(document):
        item_keys = {str(k) for k in item}
        if item_keys & _AZURE_STEP_KEYS or item_keys & {"stage", "job", "deployment"}:
            return True, True
    return True, False


def azure_paths(files: RepoFiles) -> tuple[list[str], list[str]]:
    """(Azure pipeline files, files that only look like Azure pipelines or templates)."""
    certain = _own(files.glob("azure-pipelines.yml", "azure-pipelines.yaml",
                              "**/azure-pipelines*.yml", "**/azure-pipelines*.yaml"))
    likely: list[str] = []
    folders = (".azure-pipelines/", "azure-pipelines/", ".pipelines/", "pipelines/")
    for path in files.glob(*(f"{folder}**/*{suffix}" for folder in folders
                             for suffix in _YAML_SUFFIXES)):
        if path in certain:
            continue
        try:
            document = files.yaml(path)
        except FileProblem:
            looks, sure = False, False
        else:
            looks, sure = _is_azure_document(document)
        # The folder name says Azure: templates there count even without pipeline keys.
        named = path.lower().startswith(folders[:2])
        if sure or (named and looks):
            certain.append(path)
        elif looks or named:
            likely.append(path)
    return sorted(certain), sorted(likely)


def detect_ci(files: RepoFiles) -> list[CiConfig]:
    """Every CI system with configuration committed in the repository."""
    found: list[CiConfig] = []

    def add(system: str, paths: Iterable[str], likely: bool = False, note: str = "") -> None:
        listed = tuple(paths)
        if listed:
            found.append(CiConfig(system, listed, likely, note))

    add(GITHUB_ACTIONS, github_workflow_paths(files))
    gitlab, gitlab_other = gitlab_paths(files)
    add(GITLAB_CI, gitlab)
    add(GITLAB_CI, gitlab_other, likely=True,
        note="not at the default path; GitLab runs it only if the project's CI config path "
             "points to it")
    add(JENKINS, jenkins_paths(files))
    add(CIRCLECI, files.glob(".circleci/config.yml", ".circleci/config.yaml"))
    add(CODEBUILD, _own(files.glob("**/buildspec*.yml", "**/buildspec*.yaml")))
    azure, azure_likely = azure_paths(files)
    add(AZURE_PIPELINES, azure)
    add(AZURE_PIPELINES, azure_likely, likely=True,
        note="YAML in a pipelines folder without Azure's trigger/pool keys or Azure steps")
    add(BITBUCKET, files.glob("bitbucket-pipelines.yml", "bitbucket-pipelines.yaml"))
    add(TRAVIS, files.glob(".travis.yml", ".travis.yaml"))
    add(CLOUD_BUILD, _own(files.glob("**/cloudbuild*.yaml", "**/cloudbuild*.yml",
                                     "**/cloudbuild*.json")))
    add(DRONE, files.glob(".drone.yml", ".drone.yaml", ".drone.jsonnet", ".drone.star"))
    add(WOODPECKER, files.glob(".woodpecker.yml", ".woodpecker.yaml", ".woodpecker/*.yml",
                               ".woodpecker/*.yaml"))
    add(APPVEYOR, files.glob("appveyor.yml", ".appveyor.yml", "appveyor.yaml",
                             ".appveyor.yaml"))
    add(BUILDKITE, files.glob(".buildkite/pipeline*.yml", ".buildkite/pipeline*.yaml",
                              ".buildkite/pipeline*.json", "buildkite.yml", "buildkite.yaml"))
    add(SEMAPHORE, files.glob(".semaphore/*.yml", ".semaphore/*.yaml"))
    add(TEAMCITY, files.glob(".teamcity/settings.kts", ".teamcity/**/*.kts",
                             ".teamcity/pom.xml"))
    add(AMPLIFY, files.glob("amplify.yml", "amplify.yaml"))
    add(BITRISE, files.glob("bitrise.yml", "bitrise.yaml"))
    return found


def ci_config_paths(files: RepoFiles) -> set[str]:
    """Every path any detected CI system reads, plus what they pull in by convention."""
    paths = {p for config in detect_ci(files) for p in config.paths}
    paths.update(files.glob(".github/**", ".gitlab/**", ".circleci/**", ".buildkite/**",
                            ".semaphore/**", ".teamcity/**", ".woodpecker/**",
                            ".azure-pipelines/**", "azure-pipelines/**"))
    return paths


def folder_of(path: str) -> str:
    folder = posixpath.dirname(path)
    return folder or "."
