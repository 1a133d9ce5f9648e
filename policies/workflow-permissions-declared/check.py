"""Each workflow declares `permissions:` at the top level or on every one of its jobs.

`permissions: {}` (no access) and `read-all` are valid declarations; `write-all`
(at either level) fails with its line. A `permissions:` key with no value is treated
as not declared: it grants nothing explicit and is most likely an unfinished edit.
A reusable-workflow job (`uses:` at job level) counts like any job: it must declare
its own `permissions:` when the workflow has none at the top level.
"""

from __future__ import annotations

from typing import Any

from governance.checks import CheckContext, Result, failed, not_applicable, passed, plural
from governance.ci.github_actions import Workflow, load_workflows
from governance.models import Location


def _write_all(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() == "write-all"


def _declared(present: bool, value: Any) -> bool:
    return present and value is not None


def _review(workflow: Workflow) -> tuple[list[Location], list[Location]]:
    """(missing declarations, write-all grants) of one workflow."""
    missing: list[Location] = []
    write_all: list[Location] = []
    if _write_all(workflow.permissions):
        write_all.append(Location(workflow.path, workflow.permissions_line,
                                  "top-level permissions: write-all"))
    for job in workflow.jobs:
        if _write_all(job.permissions):
            write_all.append(Location(workflow.path, job.permissions_line,
                                      f"job {job.id}: permissions: write-all"))
    if _declared(workflow.permissions_declared, workflow.permissions):
        return missing, write_all
    if workflow.permissions_declared:
        missing.append(Location(workflow.path, workflow.permissions_line,
                                "top-level permissions: has no value"))
    if not workflow.jobs:
        if not missing:
            missing.append(Location(workflow.path, 1, "no top-level permissions: and no jobs"))
        return missing, write_all
    for job in workflow.jobs:
        if not _declared(job.permissions_declared, job.permissions):
            note = "has no value" if job.permissions_declared else "declares no permissions:"
            missing.append(Location(workflow.path, job.permissions_line or job.line,
                                    f"job {job.id} {note} and the workflow has none at the "
                                    "top level"))
    return missing, write_all


def check(ctx: CheckContext) -> Result:
    load = load_workflows(ctx.files)
    if not load.workflows:
        return load.settle(not_applicable("no GitHub Actions workflows"))

    missing: list[Location] = []
    write_all: list[Location] = []
    undeclared: list[str] = []
    for workflow in load.workflows:
        gaps, grants = _review(workflow)
        missing += gaps
        write_all += grants
        if gaps:
            undeclared.append(workflow.path)

    count = len(load.workflows)
    details = {
        "workflows": count,
        "undeclared": undeclared,
        "write_all": [{"path": loc.path, "line": loc.line} for loc in write_all],
    }
    problems = []
    if undeclared:
        verb = "does" if len(undeclared) == 1 else "do"
        problems.append(f"{len(undeclared)} of {plural(count, 'workflow')} {verb} not declare "
                        "permissions: for the whole workflow or every job")
    if write_all:
        problems.append(f"{plural(len(write_all), 'permissions: write-all grant')} "
                        "(least privilege)")
    if problems:
        return load.settle(failed("; ".join(problems), [*missing, *write_all], details))
    verdict = (f"all {count} workflows declare" if count > 1 else "the workflow declares")
    return load.settle(passed(f"{verdict} token permissions without write-all",
                              details=details))
