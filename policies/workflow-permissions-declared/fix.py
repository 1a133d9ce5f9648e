"""Give each flagged workflow a top-level `permissions: contents: read`.

The block goes above `jobs:` (below `on:`), indented as the file indents and with its
line endings; nothing else changes (governance.yamledit). Read access to the contents
is what checking out and building needs.

A job that evidently needs more (a release, pull-request or Pages action, OIDC logins,
`git push` or `gh` in a script, a reusable workflow whose needs are not visible here)
would break under `contents: read`, unless it declares its own `permissions:` (a job's
block replaces the top-level one). Such a workflow is left for a person, with the reason.
Other jobs are assumed to need only read access: the proposal says so.

Not fixed here: `permissions: write-all` (which scopes a job needs is for a person to
decide) and a `permissions:` key left without a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from governance.ci.github_actions import Job, Workflow, parse_uses, parse_workflow
from governance.errors import FileProblem
from governance.fixes import FileChange, FixContext, FixResult, NeedsPerson, proposal, update_file
from governance.yamledit import EditRefused, YamlFile, insert_top_level

# Actions that write with the workflow token (owner/repo, or owner/repo/path): the scopes.
WRITE_ACTIONS = {
    "actions/create-release": "contents: write",
    "actions/upload-release-asset": "contents: write",
    "softprops/action-gh-release": "contents: write",
    "ncipollo/release-action": "contents: write",
    "release-drafter/release-drafter": "contents: write",
    "googleapis/release-please-action": "contents: write, pull-requests: write",
    "google-github-actions/release-please-action": "contents: write, pull-requests: write",
    "changesets/action": "contents: write, pull-requests: write",
    "peter-evans/create-pull-request": "contents: write, pull-requests: write",
    "peter-evans/create-or-update-comment": "issues: write or pull-requests: write",
    "marocchino/sticky-pull-request-comment": "pull-requests: write",
    "thollander/actions-comment-pull-request": "pull-requests: write",
    "stefanzweifel/git-auto-commit-action": "contents: write",
    "ad-m/github-push-action": "contents: write",
    "peaceiris/actions-gh-pages": "contents: write",
    "jamesives/github-pages-deploy-action": "contents: write",
    "actions/deploy-pages": "pages: write, id-token: write",
    "actions/attest-build-provenance": "id-token: write, attestations: write",
    "actions/stale": "issues: write, pull-requests: write",
    "actions/labeler": "pull-requests: write",
    "actions/github-script": "whatever its script calls",
    "github/codeql-action/analyze": "security-events: write",
    "github/codeql-action/upload-sarif": "security-events: write",
}
# Logins that use an OIDC token (id-token: write) when given these inputs and not keys.
OIDC_LOGINS = {
    "aws-actions/configure-aws-credentials": ("role-to-assume", "aws-access-key-id"),
    "google-github-actions/auth": ("workload_identity_provider", "credentials_json"),
    "azure/login": ("client-id", "creds"),
}
# Commands in `run:` scripts that write to the repository or call the API.
_WRITING_COMMANDS = re.compile(r"\bgit\s+push\b|\bgh\s+(release|pr|issue|api|label)\b")


def _needs(job: Job) -> Iterator[str]:
    """Why a job evidently needs more than `contents: read`."""
    if job.uses is not None:
        yield f"calls the reusable workflow `{job.uses}`, whose needs are not visible here"
    for step in job.steps:
        if step.uses is not None:
            ref = parse_uses(step.uses)
            names = [ref.name.lower()] + ([f"{ref.name}/{ref.path}".lower()] if ref.path else [])
            scopes = next((WRITE_ACTIONS[n] for n in names if n in WRITE_ACTIONS), None)
            if scopes is not None:
                yield f"uses {ref.name}{'/' + ref.path if ref.path else ''} ({scopes})"
            login = OIDC_LOGINS.get(ref.name.lower())
            if login is not None and login[0] in step.with_ and login[1] not in step.with_:
                yield f"uses {ref.name} with OIDC (id-token: write)"
        if step.run is not None:
            match = _WRITING_COMMANDS.search(step.run)
            if match is not None:
                yield f"runs `{match.group(0)}` (write access)"


def _blockers(workflow: Workflow) -> list[str]:
    """Reasons this workflow cannot simply get `contents: read` at the top level."""
    if workflow.permissions_declared:
        return [f"{workflow.path}: its top-level `permissions:` has no value; "
                "fill it in by hand"]
    reasons = []
    for job in workflow.jobs:
        if job.permissions_declared and job.permissions is not None:
            continue  # its own block replaces the top-level one
        needs = list(dict.fromkeys(_needs(job)))
        if needs:
            reasons.append(f"{workflow.path}: job `{job.id}` {'; '.join(needs)}, and declares "
                           "no `permissions:` of its own")
    return reasons


def fix(ctx: FixContext) -> FixResult:
    details: dict[str, Any] = dict(ctx.finding.details)
    paths = [str(path) for path in details.get("undeclared") or []]
    changes: list[FileChange] = []
    fixed: list[str] = []
    left: list[str] = []
    for path in paths:
        try:
            blockers = _blockers(parse_workflow(ctx.files, path))
            if blockers:
                left += blockers
                continue
            before = ctx.files.read_bytes(path)
            file = YamlFile(path, before)
            edit = insert_top_level(file, "permissions", {"contents": "read"},
                                    before=("jobs",), after=("on", "true"))
            changes.append(update_file(path, before, file.edited([edit])))
            fixed.append(path)
        except (FileProblem, EditRefused) as problem:
            left.append(f"{path}: {problem.reason}")
    for grant in details.get("write_all") or []:
        line = grant.get("line")
        where = f"{grant['path']}:{line}" if line else str(grant["path"])
        left.append(f"{where}: `permissions: write-all`: which scopes are needed is for a "
                    "person to decide")

    if not fixed:
        return NeedsPerson("; ".join(left) or "the finding names no workflow to fix")
    count = len(fixed)
    notes = [
        f"Added a top-level `permissions: contents: read` to {count} "
        f"workflow{'s' if count != 1 else ''}: {', '.join(f'`{p}`' for p in fixed)}.",
        "Jobs without a `permissions:` block of their own now get read access to the "
        "contents only; no step that needs more was found (release, pull-request, Pages "
        "and OIDC actions, `git push` or `gh` in scripts). Local actions (`./...`) were not "
        "inspected: a job that needs more should declare it on the job.",
        *(f"Left for a person: {item}" for item in left),
    ]
    noun = "workflow" if count == 1 else "workflows"
    return proposal(f"Declare read-only token permissions in {count} {noun}", changes, notes)
