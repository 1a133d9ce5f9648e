"""GitHub Actions workflows as policies need them: triggers, permissions, jobs, steps, lines.

GitHub runs only files directly in .github/workflows/ ending in .yml or .yaml. The model
keeps the ruamel nodes' line numbers so findings point at the exact `uses:` or `on:`.

Besides workflows, the module reads the repository's own action metadata files
(`action.yml` / `action.yaml`, anywhere in the tree): composite actions have steps of
their own (`uses:` and `run:`) that deserve the same scrutiny as workflow steps.

Unreadable files: `load_workflows` never lets one broken workflow hide the others. It
returns the workflows it could parse and the problems of the rest; a check evaluates the
readable ones and hands its result to `settle`, which
- keeps a failure a failure and adds each unreadable file as a Location (note: why), and
  says so in the message, since the verdict is already known and the broken file is
  secondary;
- turns a pass or not_applicable into an `error` (raises FileProblem for the first broken
  file, naming the others), since the repository cannot be said to comply while a
  workflow GitHub would try to run could not be read.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ruamel.yaml.scalarstring import LiteralScalarString

from governance.checks import Result
from governance.errors import FileProblem
from governance.models import Location, Outcome
from governance.snapshot import RepoFiles
from governance.yamlsafe import line_of

WORKFLOW_GLOBS = (".github/workflows/*.yml", ".github/workflows/*.yaml")
ACTION_METADATA_GLOBS = ("**/action.yml", "**/action.yaml")


@dataclass(frozen=True)
class Step:
    index: int
    line: int | None  # the `uses:` line when the step uses an action, else the item's line
    name: str | None
    uses: str | None
    run: str | None
    with_: dict[str, Any] = field(default_factory=dict)
    run_line: int | None = None  # 1-based line where the `run:` script text starts
    run_literal: bool = False  # `run: |`: script lines map 1:1 to file lines
    raw: Any = None  # the step's mapping, for checks that need more

    def run_line_at(self, offset: int) -> int | None:
        """The file line of a character offset into the `run:` script, as well as known."""
        if self.run_line is None or self.run is None:
            return None
        if self.run_literal:
            return self.run_line + self.run.count("\n", 0, offset)
        return self.run_line

    def with_line(self, key: str) -> int | None:
        inputs = self.raw.get("with") if isinstance(self.raw, dict) else None
        if isinstance(inputs, dict) and key in inputs:
            return line_of(inputs, key)
        return self.line


@dataclass(frozen=True)
class Job:
    id: str
    line: int | None
    permissions: Any  # None when the job declares none
    uses: str | None  # a reusable workflow called at job level
    steps: tuple[Step, ...]
    raw: Any  # the job's mapping, for checks that need more
    uses_line: int | None = None
    permissions_declared: bool = False  # the key is present (its value may still be empty)
    permissions_line: int | None = None


@dataclass(frozen=True)
class Workflow:
    path: str
    name: str | None
    triggers: dict[str, Any]  # event name -> its configuration (None when bare)
    triggers_line: int | None
    permissions: Any  # None when not declared at the top level
    permissions_declared: bool
    jobs: tuple[Job, ...]
    permissions_line: int | None = None
    raw: Any = None  # the whole document, for checks that need more (top-level `env:`...)


@dataclass(frozen=True)
class ActionMetadata:
    """A repository's own action (action.yml): composite steps, or a Docker image."""

    path: str
    using: str | None  # "composite", "docker", "node20", ...
    steps: tuple[Step, ...]  # composite actions only
    image: str | None = None  # docker actions: "Dockerfile" or "docker://..."
    image_line: int | None = None

    @property
    def composite(self) -> bool:
        return (self.using or "").lower() == "composite"


# --- `uses:` references -------------------------------------------------------------

_SHA = re.compile(r"[0-9a-fA-F]{40}")
_DIGEST = re.compile(r"sha256:[0-9a-fA-F]{64}")
_REUSABLE_WORKFLOW = re.compile(r"\.github/workflows/[^/]+\.ya?ml", re.IGNORECASE)
UsesKind = Literal["local", "docker", "action", "workflow", "invalid"]


@dataclass(frozen=True)
class ActionRef:
    """One `uses:` value, taken apart.

    - local: `./path` (an action or reusable workflow of this repository)
    - docker: `docker://image[:tag][@sha256:digest]`
    - action: `owner/repo[/path]@ref`
    - workflow: `owner/repo/.github/workflows/file.yml@ref` (a reusable workflow)
    - invalid: anything else (no `@ref`, an expression...), which GitHub refuses
    """

    text: str
    kind: UsesKind
    owner: str | None = None
    repo: str | None = None
    path: str | None = None  # inside the repository, for actions in subfolders and workflows
    version: str | None = None  # after `@`: a tag, branch or SHA; docker: tag or digest
    image: str | None = None  # docker: the image name without tag or digest

    @property
    def name(self) -> str:
        """`owner/repo` for actions and workflows, `docker://image` for images."""
        if self.kind == "docker":
            return f"docker://{self.image}"
        if self.owner and self.repo:
            return f"{self.owner}/{self.repo}"
        return self.text

    @property
    def pinned(self) -> bool:
        """Immutable: a full commit SHA, an image digest, or this repository's own code."""
        if self.kind == "local":
            return True
        if self.kind == "docker":
            return self.version is not None and _DIGEST.fullmatch(self.version) is not None
        if self.kind in ("action", "workflow"):
            return self.version is not None and _SHA.fullmatch(self.version) is not None
        return False

    def matches(self, patterns: Iterable[str]) -> bool:
        """Whether `owner/repo` (or `docker://image`) matches any glob, case-insensitively."""
        candidates = {self.name.lower()}
        if self.path:
            candidates.add(f"{self.name}/{self.path}".lower())
        return any(
            fnmatch.fnmatchcase(candidate, pattern.lower())
            for pattern in patterns
            for candidate in candidates
        )


def parse_uses(text: str) -> ActionRef:
    value = text.strip()
    if value.startswith("./") or value.startswith(".\\"):
        return ActionRef(value, "local", path=value)
    if value.lower().startswith("docker://"):
        image = value[len("docker://"):]
        version: str | None = None
        if "@" in image:
            image, version = image.split("@", 1)
        else:
            last = image.rsplit("/", 1)[-1]
            if ":" in last:  # a tag; a colon before the last slash is a registry port
                version = last.split(":", 1)[1]
                image = image[: len(image) - len(version) - 1]
        return ActionRef(value, "docker", version=version, image=image)
    if "${{" in value or "@" not in value:
        return ActionRef(value, "invalid")
    target, version = value.rsplit("@", 1)
    parts = target.split("/")
    if len(parts) < 2 or not all(parts[:2]) or not version:
        return ActionRef(value, "invalid")
    sub_path = "/".join(parts[2:]) or None
    kind: UsesKind = (
        "workflow" if sub_path and _REUSABLE_WORKFLOW.fullmatch(sub_path) else "action"
    )
    return ActionRef(value, kind, owner=parts[0], repo=parts[1], path=sub_path, version=version)


@dataclass(frozen=True)
class UsesSite:
    """Where a `uses:` appears: a workflow step, a job calling a reusable workflow, or a
    step (or Docker image) of a composite action."""

    path: str
    line: int | None
    ref: ActionRef
    where: str  # "job build, step 2", "job deploy", "composite step 1", "docker image"


# --- expressions ---------------------------------------------------------------------

_EXPRESSION = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def expressions(text: str) -> Iterator[tuple[int, str]]:
    """Each `${{ ... }}` in a string: (offset of `${{`, the expression inside, stripped)."""
    for match in _EXPRESSION.finditer(text):
        yield match.start(), match.group(1).strip()


# --- parsing -------------------------------------------------------------------------

def workflow_paths(files: RepoFiles) -> list[str]:
    return files.glob(*WORKFLOW_GLOBS)


def action_metadata_paths(files: RepoFiles) -> list[str]:
    return files.glob(*ACTION_METADATA_GLOBS)


def _triggers(document: dict[Any, Any], path: str) -> tuple[dict[str, Any], int | None]:
    # YAML 1.1 loaders turn a bare `on:` into True; ruamel (YAML 1.2) keeps "on".
    key: Any = "on" if "on" in document else (True if True in document else None)
    if key is None:
        return {}, None
    value = document[key]
    line = line_of(document, key)
    if isinstance(value, str):
        return {value: None}, line
    if isinstance(value, list):
        return {str(event): None for event in value}, line
    if isinstance(value, dict):
        return {str(event): config for event, config in value.items()}, line
    raise FileProblem(path, "`on:` must be an event name, a list or a mapping", line)


def _value_line(mapping: Any, key: str) -> int | None:
    lc = getattr(mapping, "lc", None)
    try:
        return int(lc.value(key)[0]) + 1 if lc is not None else None
    except (KeyError, IndexError, TypeError, AttributeError):
        return line_of(mapping, key)


def _steps(raw_steps: Any) -> tuple[Step, ...]:
    if not isinstance(raw_steps, list):
        return ()
    steps = []
    for index, step in enumerate(raw_steps):
        if not isinstance(step, dict):
            continue
        uses = step.get("uses")
        run = step.get("run")
        with_ = step.get("with")
        run_line: int | None = None
        literal = isinstance(run, LiteralScalarString)
        if run is not None:
            run_line = _value_line(step, "run")
            if literal and run_line is not None:
                run_line += 1  # the script starts on the line after `run: |`
        steps.append(Step(
            index=index,
            line=line_of(step, "uses") if uses is not None else line_of(raw_steps, index),
            name=str(step["name"]) if step.get("name") is not None else None,
            uses=str(uses).strip() if uses is not None else None,
            run=str(run) if run is not None else None,
            with_=dict(with_) if isinstance(with_, dict) else {},
            run_line=run_line,
            run_literal=literal,
            raw=step,
        ))
    return tuple(steps)


def parse_workflow(files: RepoFiles, path: str) -> Workflow:
    """One workflow file; FileProblem when it is not valid YAML or not a mapping."""
    document = files.yaml(path)
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise FileProblem(path, "a workflow must be a mapping at the top level", line_of(document))
    triggers, triggers_line = _triggers(document, path)
    raw_jobs = document.get("jobs") or {}
    jobs = []
    if isinstance(raw_jobs, dict):
        for job_id, job in raw_jobs.items():
            if not isinstance(job, dict):
                continue
            uses = job.get("uses")
            jobs.append(Job(
                id=str(job_id),
                line=line_of(raw_jobs, job_id),
                permissions=job.get("permissions"),
                uses=str(uses).strip() if uses is not None else None,
                steps=_steps(job.get("steps")),
                raw=job,
                uses_line=line_of(job, "uses") if uses is not None else None,
                permissions_declared="permissions" in job,
                permissions_line=line_of(job, "permissions") if "permissions" in job else None,
            ))
    declared = "permissions" in document
    return Workflow(
        path=path,
        name=str(document["name"]) if document.get("name") is not None else None,
        triggers=triggers,
        triggers_line=triggers_line,
        permissions=document.get("permissions"),
        permissions_declared=declared,
        jobs=tuple(jobs),
        permissions_line=line_of(document, "permissions") if declared else None,
        raw=document,
    )


def parse_action(files: RepoFiles, path: str) -> ActionMetadata | None:
    """An action metadata file; None when the YAML is not an action (no `runs:` mapping)."""
    document = files.yaml(path)
    if not isinstance(document, dict):
        return None
    runs = document.get("runs")
    if not isinstance(runs, dict):
        return None
    using = runs.get("using")
    image = runs.get("image")
    return ActionMetadata(
        path=path,
        using=str(using) if using is not None else None,
        steps=_steps(runs.get("steps")),
        image=str(image).strip() if image is not None else None,
        image_line=line_of(runs, "image") if image is not None else None,
    )


def workflows(files: RepoFiles) -> list[Workflow]:
    """Every workflow GitHub would run. An invalid one raises FileProblem for that file."""
    return [parse_workflow(files, path) for path in workflow_paths(files)]


@dataclass(frozen=True)
class WorkflowLoad:
    """The readable workflows (and action metadata) of a repository, and what was not."""

    workflows: tuple[Workflow, ...]
    actions: tuple[ActionMetadata, ...] = ()
    problems: tuple[FileProblem, ...] = ()

    def settle(self, result: Result) -> Result:
        """Fold unreadable files into a result; see the module docstring."""
        if not self.problems:
            return result
        if result.outcome is Outcome.FAIL:
            listed = ", ".join(_where(p) for p in self.problems)
            locations = [Location(p.path, p.line, f"not evaluated: {p.reason}")
                         for p in self.problems]
            return replace(
                result,
                message=f"{result.message}; also could not read {listed}",
                locations=(*result.locations, *locations),
                details={**result.details, "unreadable": [_problem_dict(p)
                                                           for p in self.problems]},
            )
        first, *others = self.problems
        reason = first.reason
        if others:
            reason += "; also unreadable: " + ", ".join(_where(p) for p in others)
        if result.outcome is Outcome.PASS:
            reason += f" (the readable files pass: {result.message})"
        raise FileProblem(first.path, reason, first.line)


def _where(problem: FileProblem) -> str:
    return f"{problem.path}:{problem.line}" if problem.line else problem.path


def _problem_dict(problem: FileProblem) -> dict[str, Any]:
    return {"path": problem.path, "line": problem.line, "reason": problem.reason}


def load_workflows(files: RepoFiles, *, actions: bool = False) -> WorkflowLoad:
    """Every readable workflow (and, with `actions`, every action metadata file) and the
    problems of the unreadable ones, so one broken file does not hide the rest."""
    parsed: list[Workflow] = []
    metadata: list[ActionMetadata] = []
    problems: list[FileProblem] = []
    for path in workflow_paths(files):
        try:
            parsed.append(parse_workflow(files, path))
        except FileProblem as problem:
            problems.append(problem)
    if actions:
        for path in action_metadata_paths(files):
            try:
                action = parse_action(files, path)
            except FileProblem as problem:
                problems.append(problem)
                continue
            if action is not None:
                metadata.append(action)
    return WorkflowLoad(tuple(parsed), tuple(metadata), tuple(problems))


def uses_sites(workflow: Workflow) -> Iterator[UsesSite]:
    """Every `uses:` of a workflow: job-level reusable workflows and step actions."""
    for job in workflow.jobs:
        if job.uses is not None:
            yield UsesSite(workflow.path, job.uses_line or job.line, parse_uses(job.uses),
                           f"job {job.id}")
        for step in job.steps:
            if step.uses is not None:
                yield UsesSite(workflow.path, step.line, parse_uses(step.uses),
                               f"job {job.id}, step {step.index + 1}")


def action_uses_sites(action: ActionMetadata) -> Iterator[UsesSite]:
    """Every `uses:` of a composite action, and a Docker action's `docker://` image."""
    for step in action.steps:
        if step.uses is not None:
            yield UsesSite(action.path, step.line, parse_uses(step.uses),
                           f"composite step {step.index + 1}")
    if action.image and action.image.lower().startswith("docker://"):
        yield UsesSite(action.path, action.image_line, parse_uses(action.image), "docker image")


def is_action(ref: ActionRef, owner_repo: str) -> bool:
    """Whether a reference names a given action (`actions/checkout`), case-insensitively."""
    return ref.kind == "action" and ref.name.lower() == owner_repo.lower()
