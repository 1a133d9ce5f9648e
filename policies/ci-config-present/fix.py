"""Propose a starter CI pipeline suited to the repository's build files.

What to build is read from the tree: package.json (npm, Yarn or pnpm by lockfile),
pyproject.toml / requirements.txt (pip, Poetry or uv), go.mod, pom.xml, build.gradle(.kts),
Cargo.toml, and Dockerfiles (built, and linted with hadolint so that iac-linted is met
too). Build files at the root make one set of jobs for the root; without any there, each
project folder up to two levels deep gets its own jobs. When nothing is recognised a
person has to write the pipeline: a placeholder job would pass the check and test nothing.

GitHub: `.github/workflows/ci.yml` with a read-only token and every action pinned to a
commit SHA through `ctx.resolve_action` (the tag, said in the notes, when that cannot
resolve). GitLab: `.gitlab-ci.yml`. A local checkout: GitHub, unless the tree points at
GitLab. No job waits for a person (no-manual-jobs).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from governance.ci.systems import github_ignored_workflows, vendored
from governance.errors import FileProblem, Unsupported
from governance.fixes import FixContext, FixResult, NeedsPerson, create_file, proposal
from governance.snapshot import RepoFiles

GITHUB_WORKFLOW = ".github/workflows/ci.yml"
GITLAB_PIPELINE = ".gitlab-ci.yml"

# The actions the GitHub workflow may use: (repository, path inside it, tag to pin).
ACTIONS: dict[str, tuple[str, str, str]] = {
    "checkout": ("actions/checkout", "", "v4"),
    "setup-node": ("actions/setup-node", "", "v4"),
    "setup-python": ("actions/setup-python", "", "v5"),
    "setup-go": ("actions/setup-go", "", "v5"),
    "setup-java": ("actions/setup-java", "", "v4"),
    "setup-gradle": ("gradle/actions", "setup-gradle", "v4"),
}
_STACK_ACTIONS = {
    "node": ("setup-node",), "python": ("setup-python",), "go": ("setup-go",),
    "maven": ("setup-java",), "gradle": ("setup-java", "setup-gradle"),
}
STACK_TITLES = {"node": "Node.js", "python": "Python", "go": "Go", "maven": "Java (Maven)",
                "gradle": "Java (Gradle)", "rust": "Rust", "docker": "Docker"}
_STACK_ORDER = tuple(STACK_TITLES)
# Builds whose sub-folders are usually modules of the build above them, not projects.
_MODULAR = frozenset({"maven", "gradle", "rust"})

# Folders that hold samples or test data rather than a project CI should build.
_NOT_PROJECTS = frozenset({"example", "examples", "sample", "samples", "doc", "docs", "test",
                           "tests", "testdata", "fixtures", "__fixtures__"})
_MAX_DEPTH = 2  # project folders are looked for this many levels below the root
_MAX_JOBS = 12  # beyond this a generated pipeline is too big to review as one change
# Only names that are safe unquoted in YAML and in a shell line reach the pipeline.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$")
_SAFE_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$")
_NODE_VERSION = re.compile(r"^v?(\d+)(\.\d+){0,2}$")
_PYTHON_VERSION = re.compile(r"^(3\.\d+)(\.\d+)?$")
_GO_VERSION = re.compile(r"^go\s+(1\.\d+)", re.MULTILINE)
_PYTHON_TESTS = re.compile(r"(^|/)(tests?/.*\.py|test_[^/]*\.py|[^/]*_test\.py|conftest\.py"
                           r"|pytest\.ini)$")
_NODE_SCRIPTS = ("lint", "build", "test")
_DOCKERFILES = ("dockerfile", "containerfile")
_NODE_LOCKS = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml")


@dataclass(frozen=True)
class Job:
    """One CI job the templates render: a stack built in one folder."""

    id: str  # job key, unique in the pipeline: "node", "web-node"
    stack: str  # node | python | go | maven | gradle | rust | docker
    title: str  # "Node.js", "Node.js (web)"
    directory: str = ""  # the project folder, "" for the root
    commands: tuple[str, ...] = ()  # shell lines run in `directory`, the same on each forge
    version_file: str = ""  # .nvmrc, .python-version or go.mod, from the repository root
    image_tag: str = ""  # the GitLab image's version ("20", "3.12", "1.22")
    cache: str = ""  # setup-node / setup-python `cache:` value
    cache_path: str = ""  # the lockfile that keys that cache
    wrapper: bool = False  # gradlew / mvnw committed
    dockerfile: str = ""  # docker: the file's name inside `directory`

    def uses(self) -> tuple[str, ...]:
        return ("checkout", *_STACK_ACTIONS.get(self.stack, ()))


@dataclass(frozen=True)
class Folder:
    """What a folder of the tree holds directly, with its subtree's paths for test lookups."""

    path: str  # "" for the root
    names: Mapping[str, str]  # lower-cased file name -> name as committed

    def has(self, *names: str) -> bool:
        return any(name in self.names for name in names)

    def join(self, name: str) -> str:
        committed = self.names.get(name.lower(), name)
        return posixpath.join(self.path, committed) if self.path else committed


def _folders(paths: Iterable[str]) -> dict[str, Folder]:
    """Folders up to _MAX_DEPTH below the root that could be projects, with their files."""
    names: dict[str, dict[str, str]] = {}
    for path in paths:
        folder, name = posixpath.split(path)
        parts = folder.split("/") if folder else []
        if len(parts) > _MAX_DEPTH or vendored(path):
            continue
        if any(part.lower() in _NOT_PROJECTS or part.startswith(".") for part in parts):
            continue
        if folder and not _SAFE_PATH.match(folder):
            continue
        names.setdefault(folder, {})[name.lower()] = name
    return {path: Folder(path, found) for path, found in names.items()}


def _read(files: RepoFiles, path: str) -> str:
    try:
        return files.read_text(path)
    except FileProblem:
        return ""  # unreadable: decide as if the file said nothing


def _version_file(folder: Folder, *names: str) -> str:
    """The first of `names` in this folder, else at the root ("" when neither has one)."""
    for name in names:
        if folder.has(name):
            return folder.join(name)
    return ""


def _first_line(files: RepoFiles, path: str) -> str:
    text = _read(files, path) if path else ""
    return text.strip().splitlines()[0].strip() if text.strip() else ""


def _node(files: RepoFiles, folder: Folder, root: Folder, notes: list[str]) -> Job:
    package_path = folder.join("package.json")
    try:
        package: Any = json.loads(_read(files, package_path) or "{}")
    except json.JSONDecodeError:
        package = {}
    scripts = package.get("scripts") if isinstance(package, dict) else None
    scripts = scripts if isinstance(scripts, dict) else {}
    test = scripts.get("test")
    if isinstance(test, str) and "no test specified" in test:
        scripts = {k: v for k, v in scripts.items() if k != "test"}  # npm init's placeholder
    run = [name for name in _NODE_SCRIPTS if isinstance(scripts.get(name), str)]
    if "test" not in run:
        notes.append(f"{package_path} has no `test` script, so the Node.js job only installs"
                     f"{' and runs ' + ', '.join(run) if run else ''}: add tests to it")

    commands: list[str] = []
    cache = cache_path = ""
    if folder.has("pnpm-lock.yaml"):
        manager = "pnpm"
        commands += ["npm install --global corepack@latest", "corepack enable",
                     "pnpm install --frozen-lockfile"]
    elif folder.has("yarn.lock"):
        manager = "yarn"
        berry = folder.has(".yarnrc.yml")  # Yarn 2+ refuses --frozen-lockfile's meaning
        commands += ["npm install --global corepack@latest", "corepack enable",
                     "yarn install --immutable" if berry else "yarn install --frozen-lockfile"]
    else:
        manager = "npm"
        lock = next((n for n in ("package-lock.json", "npm-shrinkwrap.json") if folder.has(n)),
                    None)
        commands.append("npm ci" if lock else "npm install")
        if lock:
            cache, cache_path = "npm", folder.join(lock)
    for name in run:
        commands.append(f"{manager} test" if name == "test" else f"{manager} run {name}")

    version_file = (_version_file(folder, ".nvmrc", ".node-version")
                    or _version_file(root, ".nvmrc", ".node-version"))
    match = _NODE_VERSION.match(_first_line(files, version_file))
    return Job("node", "node", "", folder.path, tuple(commands), version_file,
               match.group(1) if match else "lts", cache, cache_path)


def _python(files: RepoFiles, folder: Folder, notes: list[str]) -> Job | None:
    """The Python job, or None when there is nothing to install or test (no job then)."""
    pyproject = _read(files, folder.join("pyproject.toml")) if folder.has("pyproject.toml") else ""
    prefix = f"{folder.path}/" if folder.path else ""
    tests = any(_PYTHON_TESTS.search(p[len(prefix):]) for p in files.paths
                if p.startswith(prefix) and not vendored(p))
    tests = tests or "[tool.pytest" in pyproject
    commands: list[str] = []
    cache = cache_path = ""
    if folder.has("uv.lock"):
        commands += ["python -m pip install uv", "uv sync --locked"]
        if tests:
            commands.append("uv run pytest" if "pytest" in pyproject
                            else "uv run --with pytest pytest")
    elif folder.has("poetry.lock") or "[tool.poetry" in pyproject:
        commands += ["python -m pip install poetry", "poetry install"]
        if tests:
            if "pytest" not in pyproject:
                commands.append("poetry run python -m pip install pytest")
            commands.append("poetry run pytest")
    else:
        requirements = [n for n in ("requirements.txt", "requirements-dev.txt",
                                    "requirements-test.txt") if folder.has(n)]
        commands += [f"python -m pip install -r {folder.names[n]}" for n in requirements]
        installable = folder.has("setup.py") or "[build-system]" in pyproject
        if installable:
            commands.append("python -m pip install .")
        if requirements or installable:
            cache = "pip"
            cache_path = folder.join(requirements[0] if requirements else
                                     "pyproject.toml" if pyproject else "setup.py")
        if tests:
            commands += ["python -m pip install pytest", "python -m pytest"]
    where = folder.path or "the repository"
    if not commands:
        notes.append(f"the Python project in {where} has no tests, no requirements file and "
                     "no [build-system] to install, so there is no Python job")
        return None
    if not tests:
        notes.append(f"no Python tests found in {where}, so the Python job only installs: "
                     "add a test step once there are tests")
    version_file = _version_file(folder, ".python-version")
    match = _PYTHON_VERSION.match(_first_line(files, version_file))
    return Job("python", "python", "", folder.path, tuple(commands), version_file,
               match.group(1) if match else "3", cache, cache_path)


def _go(files: RepoFiles, folder: Folder) -> Job:
    go_mod = folder.join("go.mod")
    match = _GO_VERSION.search(_read(files, go_mod))
    go_sum = folder.join("go.sum") if folder.has("go.sum") else ""
    return Job("go", "go", "", folder.path, ("go build ./...", "go test ./..."), go_mod,
               match.group(1) if match else "1", cache_path=go_sum)


def _maven(folder: Folder) -> Job:
    wrapper = folder.has("mvnw")
    command = "./mvnw --batch-mode verify" if wrapper else "mvn --batch-mode verify"
    return Job("java", "maven", "", folder.path, (command,), image_tag="21", cache="maven",
               wrapper=wrapper)


def _gradle(folder: Folder) -> Job:
    wrapper = folder.has("gradlew")
    return Job("java", "gradle", "", folder.path,
               ("./gradlew build" if wrapper else "gradle build",), image_tag="21",
               wrapper=wrapper)


def _rust(folder: Folder) -> Job:
    locked = " --locked" if folder.has("cargo.lock") else ""
    return Job("rust", "rust", "", folder.path,
               (f"cargo build{locked}", f"cargo test{locked}"), image_tag="1")


def _jobs_in(files: RepoFiles, folder: Folder, root: Folder, notes: list[str]) -> list[Job]:
    jobs: list[Job] = []
    if folder.has("package.json"):
        jobs.append(_node(files, folder, root, notes))
    if folder.has("pyproject.toml", "requirements.txt", "setup.py", "uv.lock", "poetry.lock"):
        python = _python(files, folder, notes)
        jobs += [python] if python else []
    if folder.has("go.mod"):
        jobs.append(_go(files, folder))
    gradle = folder.has("build.gradle", "build.gradle.kts", "settings.gradle",
                        "settings.gradle.kts")
    if folder.has("pom.xml") and not (gradle and folder.has("gradlew")):
        jobs.append(_maven(folder))
    elif gradle:
        jobs.append(_gradle(folder))
    if folder.has("cargo.toml"):
        jobs.append(_rust(folder))
    dockerfile = next((folder.names[n] for n in _DOCKERFILES if n in folder.names), "")
    if dockerfile:
        jobs.append(Job("docker", "docker", "", folder.path, dockerfile=dockerfile))
    return jobs


def _named(jobs: list[Job]) -> list[Job]:
    """The jobs with pipeline-wide ids and display titles (the folder says which one).
    GitHub job ids start with a letter or `_`; two folders never share an id."""
    named: list[Job] = []
    taken: set[str] = set()
    for job in jobs:
        if not job.directory:
            named.append(replace(job, title=STACK_TITLES[job.stack]))
            taken.add(job.id)
            continue
        slug = job.directory.replace("/", "-").replace(".", "-").lower()
        slug = slug if slug[0].isalpha() or slug[0] == "_" else f"_{slug}"
        ident, number = f"{slug}-{job.id}", 2
        while ident in taken:
            ident, number = f"{slug}-{job.id}-{number}", number + 1
        taken.add(ident)
        named.append(replace(job, id=ident,
                             title=f"{STACK_TITLES[job.stack]} ({job.directory})"))
    return named


def _covered(job: Job, folder: Folder, root_jobs: list[Job]) -> bool:
    """Whether the root's build already builds this sub-folder job's project (a Maven or
    Gradle module, a Cargo or npm workspace member without its own lockfile)."""
    if job.stack not in {root.stack for root in root_jobs}:
        return False
    if job.stack in _MODULAR:
        return True
    return job.stack == "node" and not folder.has(*_NODE_LOCKS)


def plan_jobs(files: RepoFiles, notes: list[str]) -> list[Job]:
    """The jobs for the root's build files, else for each project folder's."""
    folders = _folders(files.paths)
    root = folders.get("", Folder("", {}))
    found: dict[str, tuple[list[Job], list[str]]] = {}
    for path in sorted(folders):
        folder_notes: list[str] = []
        jobs = _jobs_in(files, folders[path], root, folder_notes)
        if jobs or folder_notes:
            found[path] = (jobs, folder_notes)
    root_jobs, root_notes = found.pop("", ([], []))
    notes += root_notes
    if root_jobs:
        skipped = [path for path, (jobs, _) in found.items()
                   if any(not _covered(job, folders[path], root_jobs) for job in jobs)]
        if skipped:
            notes.append("only the root project is built; folders with their own build files "
                         f"({', '.join(skipped[:5])}{', ...' if len(skipped) > 5 else ''}) "
                         "may need jobs of their own")
        return _named(root_jobs)
    planned: list[Job] = []
    for path, (jobs, folder_notes) in found.items():
        parent = posixpath.dirname(path)
        inherited = {job.stack for job in found.get(parent, ([], []))[0]} if parent else set()
        kept = [job for job in jobs if not (job.stack in inherited and job.stack in _MODULAR)]
        if kept or not jobs:
            notes += folder_notes
        planned += kept
    planned.sort(key=lambda j: (j.directory, _STACK_ORDER.index(j.stack)))
    return _named(planned)


def _platform(ctx: FixContext) -> tuple[str, str]:
    """(forge whose CI to write, why, for a local checkout)."""
    if ctx.forge in ("github", "gitlab"):
        return ctx.forge, ""
    paths = list(ctx.files.paths)
    if any(p.startswith(".github/") for p in paths):
        return "github", "the repository has a .github/ folder, so the pipeline is a GitHub " \
                         "Actions workflow"
    if any(p.startswith(".gitlab/") or p.lower().endswith((".gitlab-ci.yml", ".gitlab-ci.yaml"))
           for p in paths):
        return "gitlab", "the repository has GitLab files, so the pipeline is GitLab CI"
    return "github", ("nothing in the tree names a forge, so the pipeline is a GitHub Actions "
                      "workflow; use .gitlab-ci.yml instead if the repository lives on GitLab")


def _pinned_actions(ctx: FixContext, jobs: list[Job], notes: list[str]) -> dict[str, str]:
    """`uses:` values for the actions these jobs need, pinned to SHAs where resolvable."""
    needed = sorted({name for job in jobs for name in job.uses()})
    uses: dict[str, str] = {}
    unresolved: list[str] = []
    last_reason = ""
    for name in needed:
        repository, path, tag = ACTIONS[name]
        action = f"{repository}/{path}" if path else repository
        try:
            sha = ctx.resolve_action(repository, tag)
        except Unsupported as reason:
            uses[name] = f"{action}@{tag}"
            unresolved.append(f"{action}@{tag}")
            last_reason = str(reason)
        else:
            uses[name] = f"{action}@{sha} # {tag}"
    if unresolved:
        notes.append(f"could not pin {', '.join(unresolved)} to commit SHAs ({last_reason}); "
                     "the workflow uses the tags, which actions-pinned will report")
    return uses


def _summary(jobs: list[Job]) -> str:
    stacks = list(dict.fromkeys(STACK_TITLES[job.stack] for job in jobs))
    return ", ".join(stacks)


def fix(ctx: FixContext) -> FixResult:
    notes: list[str] = []
    jobs = plan_jobs(ctx.files, notes)
    if not jobs:
        known = ("package.json, pyproject.toml, requirements.txt, go.mod, pom.xml, "
                 "build.gradle, Cargo.toml or a Dockerfile")
        detail = f" ({'; '.join(notes)})" if notes else ""
        return NeedsPerson(f"no build files recognised ({known}){detail}: a person has to "
                           "write the pipeline")
    if len(jobs) > _MAX_JOBS:
        return NeedsPerson(f"{len(jobs)} projects to build; a generated pipeline that big "
                           "needs a person to design it")
    forge, why = _platform(ctx)
    if why:
        notes.insert(0, why)
    branch = ctx.repo.default_branch or ""
    branch = branch if _SAFE_BRANCH.match(branch) else ""
    summary = _summary(jobs)
    ignored = github_ignored_workflows(ctx.files)
    if ignored and forge == "github":
        notes.append(f"{', '.join(ignored)} is in a subfolder of .github/workflows/, which "
                     "GitHub never runs: move or delete it")
    if forge == "gitlab":
        if any(job.stack == "docker" for job in jobs):
            notes.append("the Docker build job uses Docker-in-Docker (docker:dind), which needs "
                         "a runner that allows privileged containers")
        text = ctx.template("gitlab-ci.yml.j2", jobs=jobs, summary=summary)
        change = create_file(GITLAB_PIPELINE, text)
    else:
        uses = _pinned_actions(ctx, jobs, notes)
        text = ctx.template("github-ci.yml.j2", jobs=jobs, summary=summary, uses=uses,
                            branch=branch)
        change = create_file(GITHUB_WORKFLOW, text)
    notes.insert(0, f"adds {change.path}, a starter pipeline for {summary}: check that its "
                    "commands build and test the project the way the team does")
    return proposal(f"Add a CI pipeline ({change.path})", [change], notes)
