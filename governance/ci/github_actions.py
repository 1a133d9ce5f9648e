"""GitHub Actions workflows as policies need them: triggers, permissions, jobs, steps, lines.

GitHub runs only files directly in .github/workflows/ ending in .yml or .yaml. The model
keeps the ruamel nodes' line numbers so findings point at the exact `uses:` or `on:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from governance.errors import FileProblem
from governance.snapshot import RepoFiles
from governance.yamlsafe import line_of

WORKFLOW_GLOBS = (".github/workflows/*.yml", ".github/workflows/*.yaml")


@dataclass(frozen=True)
class Step:
    index: int
    line: int | None
    name: str | None
    uses: str | None
    run: str | None
    with_: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    id: str
    line: int | None
    permissions: Any  # None when the job declares none
    uses: str | None  # a reusable workflow called at job level
    steps: tuple[Step, ...]
    raw: Any  # the job's mapping, for checks that need more


@dataclass(frozen=True)
class Workflow:
    path: str
    name: str | None
    triggers: dict[str, Any]  # event name -> its configuration (None when bare)
    triggers_line: int | None
    permissions: Any  # None when not declared at the top level
    permissions_declared: bool
    jobs: tuple[Job, ...]


def workflow_paths(files: RepoFiles) -> list[str]:
    return files.glob(*WORKFLOW_GLOBS)


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


def _steps(job: dict[str, Any]) -> tuple[Step, ...]:
    raw_steps = job.get("steps") or []
    if not isinstance(raw_steps, list):
        return ()
    steps = []
    for index, step in enumerate(raw_steps):
        if not isinstance(step, dict):
            continue
        uses = step.get("uses")
        run = step.get("run")
        with_ = step.get("with")
        steps.append(Step(
            index=index,
            line=line_of(step, "uses") if uses is not None else line_of(raw_steps, index),
            name=str(step["name"]) if step.get("name") is not None else None,
            uses=str(uses).strip() if uses is not None else None,
            run=str(run) if run is not None else None,
            with_=dict(with_) if isinstance(with_, dict) else {},
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
                steps=_steps(job),
                raw=job,
            ))
    return Workflow(
        path=path,
        name=str(document["name"]) if document.get("name") is not None else None,
        triggers=triggers,
        triggers_line=triggers_line,
        permissions=document.get("permissions"),
        permissions_declared="permissions" in document,
        jobs=tuple(jobs),
    )


def workflows(files: RepoFiles) -> list[Workflow]:
    """Every workflow GitHub would run. An invalid one raises FileProblem for that file."""
    return [parse_workflow(files, path) for path in workflow_paths(files)]
