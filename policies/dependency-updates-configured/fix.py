"""Propose the dependency update configuration the repository's forge will use.

GitHub: `.github/dependabot.yml` with one `updates:` entry per package ecosystem and
folder found in the tree (monorepo sub-folders included; modules of a Maven, Gradle or
Cargo build and npm workspace members are covered by the build above them).
GitLab and local checkouts: `renovate.json` extending Renovate's recommended preset;
Renovate finds the manifests itself, so no `enabledManagers` list narrows it.

Other ways the policy fails: a Renovate file in a folder this forge's Renovate does not
read is moved to the root; a Dependabot file with no `updates:` entries is regenerated
when it holds nothing else, and left to a person otherwise. A repository without any
manifest has nothing to update: a person decides.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from governance.ci.systems import vendored
from governance.errors import FileProblem
from governance.fixes import (
    FileChange,
    FixContext,
    FixResult,
    NeedsPerson,
    create_file,
    proposal,
    update_file,
)
from governance.snapshot import RepoFiles

DEPENDABOT = ".github/dependabot.yml"
DEPENDABOT_FILES = (".github/dependabot.yml", ".github/dependabot.yaml")
RENOVATE = "renovate.json"
INTERVALS = ("daily", "weekly", "monthly", "quarterly", "semiannually", "yearly")
# Renovate's files inside a forge folder, and the forge whose Renovate reads that folder.
_RENOVATE_FOLDERS = {".github": "github", ".gitlab": "gitlab", ".gitea": "gitea",
                     ".forgejo": "forgejo"}
_FORGE_NAMES = {"github": "GitHub", "gitlab": "GitLab"}

# Dependabot's `package-ecosystem` values, in the order the entries are written.
ECOSYSTEMS = ("github-actions", "npm", "bun", "pip", "uv", "gomod", "maven", "gradle", "cargo",
              "bundler", "composer", "nuget", "mix", "pub", "swift", "elm", "docker",
              "docker-compose", "helm", "terraform", "devcontainers", "gitsubmodule")
_BY_NAME = {
    "package.json": "npm", "pyproject.toml": "pip", "setup.py": "pip", "setup.cfg": "pip",
    "pipfile": "pip", "pipfile.lock": "pip", "poetry.lock": "pip", "uv.lock": "uv",
    "go.mod": "gomod", "pom.xml": "maven", "build.gradle": "gradle",
    "build.gradle.kts": "gradle", "settings.gradle": "gradle", "settings.gradle.kts": "gradle",
    "cargo.toml": "cargo", "gemfile": "bundler", "composer.json": "composer",
    "packages.config": "nuget", "directory.packages.props": "nuget", "mix.exs": "mix",
    "pubspec.yaml": "pub", "package.swift": "swift", "elm.json": "elm", "chart.yaml": "helm",
    "dockerfile": "docker", "containerfile": "docker", "action.yml": "github-actions",
    "action.yaml": "github-actions",
}
_BY_PATTERN = (
    (re.compile(r"^requirements.*\.(txt|in)$"), "pip"),
    (re.compile(r"^(dockerfile\..+|.+\.dockerfile)$"), "docker"),
    (re.compile(r"^(docker-)?compose(\.[\w-]+)?\.ya?ml$"), "docker-compose"),
    (re.compile(r"^.+\.(cs|fs|vb)proj$"), "nuget"),
    (re.compile(r"^.+\.tf$"), "terraform"),
)
# Builds whose sub-folders are usually modules of the build above them.
_MODULAR = frozenset({"maven", "gradle", "cargo"})
_NODE_LOCKS = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml")
_BUN_LOCKS = ("bun.lock", "bun.lockb")
_NOT_PROJECTS = frozenset({"testdata", "fixtures", "__fixtures__", "test-fixtures"})
# Folders written into YAML unquoted-safe: no quotes, spaces, `..` or control characters.
_SAFE_FOLDER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9._@+-]*(/[A-Za-z0-9_.][A-Za-z0-9._@+-]*)*$")


@dataclass(frozen=True, order=True)
class Update:
    """One `updates:` entry: an ecosystem and the folder of its manifests ("/" or "/web")."""

    rank: int
    ecosystem: str
    directory: str


def _ecosystem(name: str) -> str | None:
    lower = name.lower()
    found = _BY_NAME.get(lower)
    if found:
        return found
    return next((ecosystem for pattern, ecosystem in _BY_PATTERN if pattern.match(lower)), None)


def _excluded(path: str) -> bool:
    parts = path.split("/")[:-1]
    return vendored(path) or any(part.lower() in _NOT_PROJECTS for part in parts)


def _found(paths: Iterable[str]) -> tuple[dict[str, set[str]], dict[str, set[str]], list[str]]:
    """(ecosystem -> folders, folder -> lower-cased names in it, unsafe folders skipped)."""
    folders: dict[str, set[str]] = {}
    names: dict[str, set[str]] = {}
    unsafe: list[str] = []
    for path in paths:
        if _excluded(path):
            continue
        folder, name = posixpath.split(path)
        names.setdefault(folder, set()).add(name.lower())
        if path.startswith(".github/workflows/") and name.lower().endswith((".yml", ".yaml")):
            ecosystem: str | None = "github-actions"
            folder = ""  # Dependabot reads .github/workflows/ from the root entry
        elif path in (".devcontainer.json", ".devcontainer/devcontainer.json"):
            ecosystem, folder = "devcontainers", ""
        elif path == ".gitmodules":
            ecosystem = "gitsubmodule"
        else:
            ecosystem = _ecosystem(name)
        if ecosystem is None:
            continue
        if folder and (not _SAFE_FOLDER.match(folder) or ".." in folder.split("/")):
            unsafe.append(folder)
            continue
        folders.setdefault(ecosystem, set()).add(folder)
    return folders, names, sorted(set(unsafe))


def _ancestors(folder: str) -> Iterable[str]:
    while folder:
        folder = posixpath.dirname(folder)
        yield folder


def find_updates(files: RepoFiles) -> tuple[list[Update], list[str]]:
    """The `updates:` entries for this tree, and the folders skipped as unsafe to write."""
    folders, names, unsafe = _found(files.paths)

    def has(folder: str, *wanted: str) -> bool:
        return any(name in names.get(folder, set()) for name in wanted)

    entries: set[Update] = set()
    for ecosystem, places in folders.items():
        for folder in places:
            kind = ecosystem
            if kind == "pip" and has(folder, "uv.lock"):
                continue  # the uv entry covers it
            if kind == "npm" and has(folder, *_BUN_LOCKS) and not has(folder, *_NODE_LOCKS):
                kind = "bun"
            if kind in _MODULAR and any(a in places for a in _ancestors(folder)):
                continue
            if kind == "npm" and not has(folder, *_NODE_LOCKS) and any(
                    a in places and has(a, *_NODE_LOCKS) for a in _ancestors(folder)):
                continue  # a workspace member: the root's lockfile is what gets updated
            entries.add(Update(ECOSYSTEMS.index(kind), kind, "/" + folder))
    return sorted(entries), unsafe


def _renovate_folder_files(files: RepoFiles) -> list[tuple[str, str]]:
    """(path, forge that reads it) of Renovate files inside forge folders."""
    found: list[tuple[str, str]] = []
    for folder, forge in _RENOVATE_FOLDERS.items():
        for name in ("renovate.json", "renovate.json5"):
            path = files.find(f"{folder}/{name}")
            if path:
                found.append((path, forge))
    return found


def _move_renovate(files: RepoFiles, path: str, forge: str) -> FixResult:
    target = "renovate.json5" if path.lower().endswith(".json5") else RENOVATE
    content = files.read_bytes(path)
    notes = [f"Renovate on {_FORGE_NAMES[forge]} does not read {path}; it reads {target} on "
             "every forge",
             f"moves {path} to {target} unchanged"]
    return proposal(f"Move the Renovate configuration to {target}",
                    [create_file(target, content), FileChange(path, None, content)], notes)


def _regenerable(files: RepoFiles, path: str) -> bool:
    """Whether a Dependabot file holds nothing a person wrote beyond `version:` and an
    empty `updates:` (then it may be replaced as a whole)."""
    try:
        document = files.yaml(path)
    except FileProblem:
        return False
    if document is None:
        return True
    if not isinstance(document, dict) or set(document) - {"version", "updates"}:
        return False
    return not document.get("updates")


def _summary(updates: list[Update]) -> str:
    return ", ".join(f"{u.ecosystem} ({u.directory})" for u in updates)


def _renovate(ctx: FixContext, found: list[str], notes: list[str]) -> FixResult:
    text = ctx.template("renovate.json.j2")
    runner = {
        "github": "install the Renovate GitHub App for this repository",
        "gitlab": "run Renovate on a schedule for this project (e.g. GitLab's renovate-runner)",
    }.get(ctx.forge, "install the Renovate GitHub App, or run Renovate on a schedule, "
                     "wherever this repository is hosted")
    notes = [f"adds {RENOVATE} extending config:recommended; Renovate finds the manifests "
             f"itself: {', '.join(found)}",
             f"Renovate only acts where it runs: {runner}",
             *notes]
    if ctx.forge == "local":
        notes.insert(1, f"{RENOVATE} at the root is read by Renovate on any forge")
    return proposal("Configure Renovate dependency updates", [create_file(RENOVATE, text)],
                    notes)


def fix(ctx: FixContext) -> FixResult:
    interval = str(ctx.options.get("schedule_interval", "weekly"))
    if interval not in INTERVALS:
        return NeedsPerson(f"option schedule_interval is {interval!r}; Dependabot accepts "
                           f"{', '.join(INTERVALS)}")
    forge = ctx.forge
    misplaced = [(path, reader) for path, reader in _renovate_folder_files(ctx.files)
                 if forge in ("github", "gitlab") and reader != forge]
    if misplaced:
        path, _ = misplaced[0]
        return _move_renovate(ctx.files, path, forge)

    updates, unsafe = find_updates(ctx.files)
    notes: list[str] = []
    if unsafe:
        notes.append(f"folders with unusual names were left out: {', '.join(unsafe[:5])}")
    existing = next((p for p in (ctx.files.find(c) for c in DEPENDABOT_FILES) if p), None)
    renovate = forge == "gitlab" or (forge == "local" and existing is None)
    found = [f"{u.ecosystem} ({u.directory})" for u in updates]
    pipeline = ctx.files.find(".gitlab-ci.yml")
    if renovate and pipeline:
        found.append(f"the images in {pipeline}")  # Renovate's gitlabci manager
    if not found:
        return NeedsPerson("no package manifests, Dockerfiles or workflows found, so there is "
                           "nothing for Dependabot or Renovate to update")
    if renovate:
        if existing:
            notes.append(f"{existing} does nothing on GitLab, which does not run Dependabot; "
                         "it can be deleted")
        return _renovate(ctx, found, notes)

    text = ctx.template("dependabot.yml.j2", updates=updates, interval=interval)
    notes.insert(0, f"Dependabot checks {_summary(updates)} {interval}")
    if existing is None:
        return proposal("Configure Dependabot version updates",
                        [create_file(DEPENDABOT, text)], notes)
    if not _regenerable(ctx.files, existing):
        return NeedsPerson(f"{existing} has no `updates:` entries but other settings a person "
                           f"wrote; add entries for: {_summary(updates)}")
    notes.append(f"{existing} had no `updates:` entries; it is replaced as a whole")
    return proposal("Configure Dependabot version updates",
                    [update_file(existing, ctx.files.read_bytes(existing), text)], notes)
