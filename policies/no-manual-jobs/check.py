"""Jobs that only a person can start, or that stop and wait for one.

- GitLab CI: a job whose `when: manual` can take effect: on the job (without rules, or
  as the fallback of a reachable rule that sets no `when`), or in a `rules:` entry that
  no earlier always-matching entry hides. Anchors, `include: local`, `extends`,
  `!reference` and `default:` are followed (governance.ci.gitlab_ci). Includes from other
  projects, remote URLs, templates and components cannot be read here: a pass then says
  so and has medium confidence.
- GitHub Actions: a workflow whose only trigger is `workflow_dispatch`, and steps of
  approval actions that wait for a person inside the run (trstringer/manual-approval).
  Required reviewers on an environment are a server-side setting, not seen here.
- Jenkins: `input` steps (declarative `input { }` or scripted `input ...`) in code, not
  in comments or strings, in every Jenkinsfile of the tree.
- CircleCI: workflow jobs of `type: approval`.
- Bitbucket Pipelines: steps and stages with `trigger: manual`.
- Azure Pipelines: `ManualValidation@N` and `ManualIntervention@N` tasks.
- Buildkite: `block` and `input` steps.

Not applicable when the repository has no CI configuration at all. Other CI systems
(Travis, CodeBuild, Cloud Build, Drone...) are named in the message as not inspected:
their manual gates, where they have any, live outside the repository.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from governance.checks import CheckContext, Result, failed, not_applicable, passed, plural
from governance.ci import gitlab_ci, jenkins, systems
from governance.ci.github_actions import parse_uses, parse_workflow, workflow_paths
from governance.errors import FileProblem
from governance.models import Confidence, Location
from governance.snapshot import RepoFiles
from governance.yamlsafe import line_of

GITHUB_APPROVAL_ACTIONS = ("trstringer/manual-approval",)
_AZURE_MANUAL_TASK = re.compile(r"^\s*(ManualValidation|ManualIntervention)@\d+\s*$", re.I)
_INSPECTED = frozenset({
    systems.GITLAB_CI, systems.GITHUB_ACTIONS, systems.JENKINS, systems.CIRCLECI,
    systems.BITBUCKET, systems.AZURE_PIPELINES, systems.BUILDKITE,
})
_MAX_WALK = 20_000  # mappings visited per file: bounded on hostile input
_SHOWN = 5


@dataclass(frozen=True)
class Offender:
    description: str  # "GitLab job `deploy` (rules[1]: when: manual)"
    location: Location
    names: tuple[str, ...]  # what the `allow` option is matched against


@dataclass
class Scan:
    offenders: list[Offender] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # "GitLab CI (.gitlab-ci.yml, 4 jobs)"
    caveats: list[str] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)

    def add(self, description: str, path: str, line: int | None, note: str,
            names: Iterable[Any]) -> None:
        # Kept even when another job shares the location (one anchor or template): each
        # has its own names for `allow`; the verdict merges locations after filtering.
        self.offenders.append(Offender(
            description, Location(path, line, note),
            tuple(str(name) for name in names if name is not None and str(name)),
        ))

    def guard(self, step: Callable[..., None], *args: Any) -> None:
        """Run one analysis; an unusable file is recorded, the others still count."""
        try:
            step(*args)
        except FileProblem as problem:
            self.problems.append(problem)


# --------------------------------------------------------------------------- GitLab CI


def _gitlab(files: RepoFiles, scan: Scan) -> None:
    pipeline = gitlab_ci.load_pipeline(files)
    if pipeline is None:
        return
    includes = len(pipeline.files) - 1
    scope = pipeline.path + (f" and {plural(includes, 'included file')}" if includes else "")
    scan.checked.append(f"GitLab CI ({plural(len(pipeline.jobs), 'job')} in {scope})")
    if pipeline.unresolved:
        shown = "; ".join(pipeline.unresolved[:3])
        more = f" and {len(pipeline.unresolved) - 3} more" if len(pipeline.unresolved) > 3 else ""
        scan.caveats.append(
            f"GitLab configuration not resolvable here, jobs it defines were not checked: "
            f"{shown}{more}"
        )
    for job in pipeline.jobs:
        gate = job.manual
        if gate is None:
            continue
        elsewhere = f", from {gate.path}" if gate.path != job.path else ""
        scan.add(f"GitLab job `{job.name}` ({gate.reason}{elsewhere})",
                 gate.path, gate.line, f"GitLab job {job.name}: {gate.reason}", [job.name])


# --------------------------------------------------------------------------- GitHub Actions


def _github(files: RepoFiles, scan: Scan) -> None:
    paths = workflow_paths(files)
    if not paths:
        return
    scan.checked.append(f"GitHub Actions ({plural(len(paths), 'workflow')})")
    for path in paths:
        scan.guard(_github_workflow, files, path, scan)


def _github_workflow(files: RepoFiles, path: str, scan: Scan) -> None:
    workflow = parse_workflow(files, path)
    base = posixpath.basename(path)
    names = [base, path, posixpath.splitext(base)[0], workflow.name]
    if set(workflow.triggers) == {"workflow_dispatch"}:
        scan.add(f"GitHub workflow `{base}` runs only when started by hand (workflow_dispatch)",
                 path, workflow.triggers_line, "only trigger: workflow_dispatch", names)
    for job in workflow.jobs:
        for step in job.steps:
            if step.uses is None:
                continue
            action = parse_uses(step.uses).name.lower()
            if action in GITHUB_APPROVAL_ACTIONS:
                scan.add(f"GitHub job `{job.id}` in {base} waits for approval ({action})",
                         path, step.line, f"{action} waits for a person", [*names, job.id])


# --------------------------------------------------------------------------- Jenkins


def _jenkins(files: RepoFiles, scan: Scan) -> None:
    paths = jenkins.jenkinsfile_paths(files)
    if not paths:
        return
    scan.checked.append(f"Jenkins ({', '.join(paths[:_SHOWN])}"
                        + (f" and {len(paths) - _SHOWN} more)" if len(paths) > _SHOWN else ")"))
    for path in paths:
        scan.guard(_jenkinsfile, files, path, scan)


def _jenkinsfile(files: RepoFiles, path: str, scan: Scan) -> None:
    for step in jenkins.find_input_steps(files.read_text(path), path):
        where = f" in stage `{step.stage}`" if step.stage else ""
        scan.add(f"Jenkins `input` step in {path}{where}", path, step.line,
                 "input step waits for a person", [path, step.stage])


# --------------------------------------------------------------------------- YAML systems


def _yaml_mapping(files: RepoFiles, path: str) -> Any:
    document = files.yaml(path)
    if document is not None and not isinstance(document, (dict, list)):
        raise FileProblem(path, "expected a mapping at the top level", line_of(document))
    return document


def _circleci(files: RepoFiles, scan: Scan) -> None:
    for path in files.glob(".circleci/config.yml", ".circleci/config.yaml"):
        scan.checked.append(f"CircleCI ({path})")
        scan.guard(_circleci_file, files, path, scan)


def _circleci_file(files: RepoFiles, path: str, scan: Scan) -> None:
    document = _yaml_mapping(files, path)
    workflows = document.get("workflows") if isinstance(document, dict) else None
    if not isinstance(workflows, dict):
        return
    for workflow_name, workflow in workflows.items():
        jobs = workflow.get("jobs") if isinstance(workflow, dict) else None
        if not isinstance(jobs, list):
            continue
        for item in jobs:
            if not isinstance(item, dict):
                continue
            for job_name, config in item.items():
                if isinstance(config, dict) and config.get("type") == "approval":
                    shown = config.get("name") or job_name
                    scan.add(
                        f"CircleCI approval job `{shown}` in workflow `{workflow_name}`",
                        path, line_of(config, "type"), "type: approval waits for a person",
                        [job_name, config.get("name"), workflow_name],
                    )


def _bitbucket(files: RepoFiles, scan: Scan) -> None:
    for path in files.glob("bitbucket-pipelines.yml", "bitbucket-pipelines.yaml"):
        scan.checked.append(f"Bitbucket Pipelines ({path})")
        scan.guard(_bitbucket_file, files, path, scan)


def _bitbucket_file(files: RepoFiles, path: str, scan: Scan) -> None:
    document = _yaml_mapping(files, path)
    pipelines = document.get("pipelines") if isinstance(document, dict) else None
    for mapping, _ in _walk(pipelines):
        for kind in ("step", "stage"):
            item = mapping.get(kind)
            if isinstance(item, dict) and item.get("trigger") == "manual":
                name = item.get("name")
                shown = f" `{name}`" if name else ""
                scan.add(f"Bitbucket {kind}{shown} with trigger: manual", path,
                         line_of(item, "trigger"), "trigger: manual", [name])


def _azure(files: RepoFiles, scan: Scan) -> None:
    certain, likely = systems.azure_paths(files)
    paths = certain + likely
    if not paths:
        return
    scan.checked.append(f"Azure Pipelines ({plural(len(paths), 'file')})")
    for path in certain:
        scan.guard(_azure_file, files, path, scan)
    for path in likely:  # may not be a pipeline at all: an unreadable one is no error
        try:
            _azure_file(files, path, scan)
        except FileProblem:
            continue


def _azure_file(files: RepoFiles, path: str, scan: Scan) -> None:
    document = _yaml_mapping(files, path)
    for mapping, context in _walk(document, ("stage", "job", "deployment")):
        task = mapping.get("task")
        if not isinstance(task, str) or not _AZURE_MANUAL_TASK.match(task):
            continue
        label = mapping.get("displayName") or mapping.get("name")
        within = f" in {context[-1]}" if context else ""
        scan.add(f"Azure task {task.strip()}{within}", path, line_of(mapping, "task"),
                 f"{task.strip()} waits for a person",
                 [label, mapping.get("name"), path, *(c.split(" ", 1)[-1] for c in context)])


def _buildkite(files: RepoFiles, scan: Scan) -> None:
    paths = files.glob(".buildkite/pipeline*.yml", ".buildkite/pipeline*.yaml",
                       "buildkite.yml", "buildkite.yaml")
    for path in paths:
        scan.checked.append(f"Buildkite ({path})")
        scan.guard(_buildkite_file, files, path, scan)


def _buildkite_steps(steps: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    if not isinstance(steps, list) or depth > 5:
        return
    for item in steps:
        if isinstance(item, dict):
            yield item
            if "group" in item:
                yield from _buildkite_steps(item.get("steps"), depth + 1)


def _buildkite_file(files: RepoFiles, path: str, scan: Scan) -> None:
    document = _yaml_mapping(files, path)
    steps = document.get("steps") if isinstance(document, dict) else document
    for step in _buildkite_steps(steps):
        kind = next((k for k in ("block", "input") if k in step), None)
        if kind is None and step.get("type") in ("block", "input"):
            kind = str(step["type"])
        if kind is None:
            continue
        label = step.get(kind) if isinstance(step.get(kind), str) else step.get("label")
        shown = f" `{label}`" if label else ""
        key = kind if kind in step else "type"
        scan.add(f"Buildkite {kind} step{shown}", path, line_of(step, key),
                 f"{kind} step waits for a person", [label, step.get("key")])


def _walk(node: Any, context_keys: tuple[str, ...] = ()
          ) -> Iterator[tuple[Mapping[str, Any], tuple[str, ...]]]:
    """Every mapping under `node`, with the names of the enclosing mappings that carry
    one of `context_keys` (as "job build", "stage deploy"). A mapping reached through an
    alias is yielded once per distinct context, so a step shared by two jobs is seen in each."""
    seen: set[tuple[int, tuple[str, ...]]] = set()
    pending: list[tuple[Any, tuple[str, ...]]] = [(node, ())]
    while pending and len(seen) < _MAX_WALK:
        value, context = pending.pop()
        if isinstance(value, dict):
            if (id(value), context) in seen:
                continue
            seen.add((id(value), context))
            inner = context + tuple(
                f"{key} {value[key]}" for key in context_keys if isinstance(value.get(key), str)
            )
            yield value, inner
            pending.extend((child, inner) for child in reversed(list(value.values())))
        elif isinstance(value, list):
            pending.extend((child, context) for child in reversed(value))


# --------------------------------------------------------------------------- the verdict


def _allowed(offender: Offender, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern)
               for name in offender.names for pattern in patterns)


def _one_per_location(offenders: Iterable[Offender]) -> list[Offender]:
    """The first offender at each file line: one anchor or template that several jobs
    reuse is reported once. Runs after the `allow` filter, which matches each job alone."""
    kept: list[Offender] = []
    lines: set[tuple[str, int]] = set()
    for offender in offenders:
        line = offender.location.line
        if line is not None:
            if (offender.location.path, line) in lines:
                continue
            lines.add((offender.location.path, line))
        kept.append(offender)
    return kept


def _listing(items: list[str]) -> str:
    shown = "; ".join(items[:_SHOWN])
    return shown + (f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def _problem_text(problem: FileProblem) -> str:
    return f"{problem.path}:{problem.line}" if problem.line else problem.path


def check(ctx: CheckContext) -> Result:
    files = ctx.files
    raw_allow = ctx.options.get("allow") or []
    allow = [str(item) for item in raw_allow] if isinstance(raw_allow, list) else []

    scan = Scan()
    for system in (_gitlab, _github, _jenkins, _circleci, _bitbucket, _azure, _buildkite):
        scan.guard(system, files, scan)

    # GitLab files away from the default path run only if a project setting says so.
    others = [config for config in systems.detect_ci(files)
              if config.system not in _INSPECTED
              or (config.system == systems.GITLAB_CI and config.likely)]
    if not scan.checked and not scan.problems and not others:
        return not_applicable("no CI configuration in the repository")

    offenders = _one_per_location(o for o in scan.offenders if not _allowed(o, allow))
    allowed = _one_per_location(o for o in scan.offenders if _allowed(o, allow))
    details: dict[str, Any] = {
        "checked": scan.checked,
        "offenders": [_offender_dict(o) for o in offenders],
        "allowed": [_offender_dict(o) for o in allowed],
        "not_inspected": [config.describe() for config in others],
        "caveats": scan.caveats,
    }
    if offenders:
        message = (f"{plural(len(offenders), 'manual job')} wait for a person: "
                   f"{_listing([o.description for o in offenders])}")
        locations = [o.location for o in offenders]
        if scan.problems:
            message += "; could not read " + ", ".join(map(_problem_text, scan.problems))
            locations += [Location(p.path, p.line, f"not evaluated: {p.reason}")
                          for p in scan.problems]
        return failed(message, locations, details)
    if scan.problems:
        first, *rest = scan.problems
        reason = first.reason
        if rest:
            reason += "; also unreadable: " + ", ".join(map(_problem_text, rest))
        raise FileProblem(first.path, reason, first.line)

    parts = []
    if scan.checked:
        parts.append(f"no manual jobs in {', '.join(scan.checked)}")
    if allowed:
        parts.append(f"{plural(len(allowed), 'manual job')} allowed by the `allow` option: "
                     + ", ".join(o.description for o in allowed[:_SHOWN]))
    if others:
        parts.append("not inspected for manual gates: "
                     + ", ".join(config.describe() for config in others))
    parts.extend(scan.caveats)
    confidence = Confidence.MEDIUM if scan.caveats else Confidence.HIGH
    return passed("; ".join(parts), [o.location for o in allowed], details, confidence)


def _offender_dict(offender: Offender) -> dict[str, Any]:
    return {"description": offender.description, "path": offender.location.path,
            "line": offender.location.line}
