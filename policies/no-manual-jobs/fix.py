"""Let manual GitLab jobs run by themselves: `when: manual` becomes `when: on_success`.

`on_success` is GitLab's default, so the job then runs when the stages before it pass.
The word is replaced rather than the line deleted because that is exact wherever the
key is written: a job that `extends` a template, merges an anchor, or overrides a job of
an included file would otherwise fall back to whatever `when` those set. Only that word
changes (governance.yamledit).

Proposed only where it is safe:
- the `when: manual` is in the project's own .gitlab-ci.yml or a file it includes locally
  (the only files the check reads), set on the job (or a template or anchor it takes it
  from) or in a `rules:` entry without conditions; an entry with `if:` / `changes:` /
  `exists:` makes the job manual only in some pipelines, which may be the point;
- no job that takes its `when` from that spot deploys to production (or to an
  environment that CI/CD variables name): a release gate may be intended; nor stops an
  environment (`action: stop`), which GitLab runs manually by design;
- no job that takes its `when` from that spot is kept manual by the `allow` option.
Everything else (and every other CI system) is left for a person, with the reason. The
fix is `autofix: unsafe`: it changes what runs when, so a person reviews it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from typing import Any

from governance.ci import gitlab_ci
from governance.ci.gitlab_ci import GitLabJob, GitLabPipeline, Src, YMap
from governance.errors import FileProblem
from governance.fixes import FileChange, FixContext, FixResult, NeedsPerson, proposal, update_file
from governance.yamledit import Edit, EditRefused, YamlFile, replace_scalar

_PRODUCTION = re.compile(r"(?<![a-z0-9])prod(uction)?(?![a-z])", re.IGNORECASE)


def _rules(job: GitLabJob) -> Iterator[YMap]:
    raw = job.raw
    if not isinstance(raw, YMap) or raw.get("rules") is None:
        return
    for rule, _ in gitlab_ci.flatten(raw["rules"], raw.where("rules")):
        if isinstance(rule, YMap):
            yield rule


def _takes_when_from(job: GitLabJob, spot: Src) -> bool:
    """Whether removing the `when: manual` written at `spot` changes this job."""
    raw = job.raw
    if isinstance(raw, YMap) and "when" in raw and raw.where("when") == spot:
        return True
    return any("when" in rule and rule.where("when") == spot for rule in _rules(job))


def _production(job: GitLabJob) -> str | None:
    """Why this job's manual gate may be there on purpose, if its environment says so."""
    environment = job.raw.get("environment")
    name: Any = environment
    tier: Any = None
    action: Any = None
    if isinstance(environment, YMap):
        name = environment.get("name")
        tier, action = environment.get("deployment_tier"), environment.get("action")
    if action == "stop":
        return (f"job `{job.name}` stops the environment `{name}`: run by itself it would "
                "stop it right after each deployment")
    if tier == "production" or (isinstance(name, str) and _PRODUCTION.search(name)):
        return (f"job `{job.name}` deploys to production (`{name or tier}`): "
                "a manual gate may be intended")
    if isinstance(name, str) and "$" in name.split("/", 1)[0]:
        return (f"job `{job.name}` deploys to `{name}`, which CI/CD variables name "
                "(it may be production): a manual gate may be intended")
    return None


def _blocker(spot: Src, gate_reason: str, affected: list[GitLabJob], allow: list[str],
             pipeline: GitLabPipeline) -> str | None:
    """Why the `when: manual` at `spot` should stay for a person to decide, if it should."""
    for job in affected:
        why = _production(job)
        if why is not None:
            return why
        if any(fnmatch.fnmatchcase(job.name, pattern) for pattern in allow):
            return (f"it also makes job `{job.name}` manual, which the `allow` option "
                    "keeps manual")
    if gate_reason.startswith("rules["):
        for job in affected:
            for rule in _rules(job):
                if rule.where("when") == spot:
                    conditions = [c for c in gitlab_ci.RULE_CONDITIONS if c in rule]
                    if conditions:
                        shown = ", ".join(f"`{c}:`" for c in conditions)
                        return (f"the `rules:` entry also has {shown}: the job is manual only "
                                "in some pipelines, which may be intended")
    if spot.path not in pipeline.files:
        return f"{spot.path} is not part of the pipeline read here"
    return None


def _allow_failure_note(jobs: Iterable[GitLabJob], gate_reason: str) -> str | None:
    """A job-level manual job may fail without failing the pipeline; on_success may not."""
    if gate_reason.startswith("rules["):
        return None
    quiet = [job.name for job in jobs if "allow_failure" not in job.raw]
    if not quiet:
        return None
    names = ", ".join(f"`{name}`" for name in quiet)
    return (f"{names}: a job-level manual job is allowed to fail by default; running "
            "automatically, its failure now fails the pipeline (set `allow_failure: true` "
            "if that is not wanted)")


def fix(ctx: FixContext) -> FixResult:
    if ctx.forge != "gitlab":
        return NeedsPerson(
            f"removing manual gates is proposed for GitLab CI only (this is {ctx.forge}): "
            "give the workflow an automatic trigger or replace the approval step by hand")
    try:
        pipeline = gitlab_ci.load_pipeline(ctx.files)
    except FileProblem as problem:
        return NeedsPerson(f"the GitLab CI configuration cannot be read: {problem}")
    raw_allow = ctx.options.get("allow") or []
    allow = [str(item) for item in raw_allow] if isinstance(raw_allow, list) else []

    gated: dict[Src, list[GitLabJob]] = {}
    for job in pipeline.jobs if pipeline is not None else ():
        if job.manual is not None:
            gated.setdefault(Src(job.manual.path, job.manual.line), []).append(job)

    files: dict[str, YamlFile] = {}
    edits: dict[str, list[tuple[Edit, str]]] = {}  # path -> (edit, what it makes automatic)
    notes: list[str] = []
    left: list[str] = []
    for offender in ctx.finding.details.get("offenders") or []:
        spot = Src(str(offender["path"]), offender.get("line"))
        description = str(offender["description"])
        gate = next((job.manual for job in gated.get(spot, ()) if job.manual), None)
        if pipeline is None or gate is None:
            left.append(f"{description}: not a GitLab `when: manual`; change it by hand")
            continue
        affected = [job for job in pipeline.jobs if _takes_when_from(job, spot)]
        why = _blocker(spot, gate.reason, affected, allow, pipeline)
        if why is not None:
            left.append(f"{description}: {why}")
            continue
        try:
            if spot.path not in files:
                files[spot.path] = YamlFile(spot.path, ctx.files.read_bytes(spot.path))
            edit = _edit(files[spot.path], spot)
        except (FileProblem, EditRefused) as problem:
            left.append(f"{description}: {problem.reason}")
            continue
        names = ", ".join(f"`{job.name}`" for job in affected)
        edits.setdefault(spot.path, []).append(
            (edit, f"{names} ({spot.path}:{spot.line}, {gate.reason})"))
        note = _allow_failure_note(affected, gate.reason)
        if note is not None:
            notes.append(note)

    changes: list[FileChange] = []
    fixed: list[str] = []
    for path, path_edits in edits.items():
        try:
            after = files[path].edited([edit for edit, _ in path_edits])
        except EditRefused as refused:
            left += [f"{what}: not changed, {refused.reason}" for _, what in path_edits]
            continue
        changes.append(update_file(path, ctx.files.read_bytes(path), after))
        fixed += [what for _, what in path_edits]
    if not changes:
        return NeedsPerson("; ".join(left) or "the finding names no manual job")
    count = len(fixed)
    return proposal(
        f"Run {count} manual GitLab job{'s' if count != 1 else ''} automatically",
        changes,
        [
            "`when: manual` becomes `when: on_success` (GitLab's default): the job runs "
            "when the stages before it pass.",
            *(f"Now automatic: {item}" for item in fixed),
            *notes,
            *(f"Left for a person: {item}" for item in left),
        ],
    )


def _edit(file: YamlFile, spot: Src) -> Edit:
    """`manual` -> `on_success` in the `when:` the check found at `spot`."""
    entries = [entry for entry in file.entries_at("when", spot.line or 0)
               if getattr(entry.value, "value", None) == "manual"]
    if len(entries) != 1:
        raise EditRefused(file.path, f"line {spot.line}: `when: manual` is not there as the "
                                     "check saw it")
    return replace_scalar(file, entries[0].value, "on_success")
