"""Untrusted checkouts in privileged workflows, and script injection into `run:`.

1. Untrusted checkout then execution. In a workflow triggered by `pull_request_target`,
   `workflow_run` or `issue_comment` (all run with the base repository's secrets and
   token), a job that checks out the contributor's code:
   - `actions/checkout` whose `ref:` or `repository:` refers to the pull request head
     (`github.event.pull_request.head.sha|ref|repo.full_name`, `merge_commit_sha`,
     `github.head_ref`, `refs/pull/...`, `github.event.workflow_run.head_sha|head_branch|
     head_commit.id|head_repository.full_name|pull_requests`), directly or through an
     `env:` variable that holds such an expression;
   - a `run:` line with `git fetch|checkout|switch|pull|reset|worktree` of such a ref
     (or `$GITHUB_HEAD_REF`, or a `pull/N/head` refspec), or `gh pr checkout`;
   and then runs code: a later step of the same job with `run:` or a local action
   (`uses: ./...`), or, for a `run:` checkout, further commands in the same script
   (anything but git / gh / cd / echo). Other third-party actions that build the
   workspace (docker build, language setup with install) are not recognised: this errs
   on the side of fewer false alarms. `if:` gates (labels, author association) are not
   credited; accept such a workflow with a waiver that says why it is safe.
2. Script injection, in every workflow and in the repository's composite actions: an
   expression over attacker-controlled context (issue / pull request / discussion
   title and body, comment and review bodies, head branch names and labels, commit
   messages and author names and e-mails, wiki page names, workflow_run head branch
   and commit) inside a `run:` script or an `actions/github-script` `script:` input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from governance.checks import CheckContext, Result, failed, not_applicable, passed, plural
from governance.ci.github_actions import (
    ActionMetadata,
    Job,
    Step,
    Workflow,
    expressions,
    is_action,
    load_workflows,
    parse_uses,
)
from governance.models import Location

PRIVILEGED_TRIGGERS = ("pull_request_target", "workflow_run", "issue_comment")

_ARRAY = r"(?:\.\*|\[\s*(?:\d+|\*)\s*\])"
_UNTRUSTED_REF = re.compile(
    r"github\.event\.pull_request\.(?:head\.(?:sha|ref|repo\.full_name)|merge_commit_sha)"
    r"|github\.head_ref\b"
    r"|github\.event\.workflow_run\.(?:head_sha|head_branch|head_commit\.id"
    r"|head_repository\.full_name|pull_requests)"
    r"|refs/pull/",
    re.IGNORECASE,
)
_SHELL_UNTRUSTED_REF = re.compile(r"\$\{?GITHUB_HEAD_REF\b|\bpull/[^/\s]+/(?:head|merge)\b")
_GIT_CHECKOUT = re.compile(r"\bgit\s+(?:-\S+\s+)*(?:fetch|checkout|switch|pull|reset|worktree)\b")
_GH_PR_CHECKOUT = re.compile(r"\bgh\s+pr\s+checkout\b")
_INERT_COMMANDS = {"git", "gh", "cd", "echo", "printf", "true", ":", "set", "export"}
_COMMAND_SPLIT = re.compile(r"\n|&&|\|\||;|\|")

_UNTRUSTED_CONTEXT = re.compile(
    r"\bgithub\.head_ref\b"
    r"|\bgithub\.event\.(?:"
    r"issue\.(?:title|body)"
    r"|pull_request\.(?:title|body|head\.(?:ref|label|repo\.default_branch))"
    r"|(?:comment|review|review_comment)\.body"
    r"|discussion\.(?:title|body)"
    rf"|pages{_ARRAY}?\.page_name"
    rf"|(?:commits{_ARRAY}|head_commit)\.(?:message|(?:author|committer)\.(?:email|name))"
    r"|workflow_run\.(?:head_branch|display_title"
    r"|head_commit\.(?:message|(?:author|committer)\.(?:email|name))"
    rf"|pull_requests{_ARRAY}?\.head\.ref)"
    r")\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Danger:
    kind: str  # "untrusted-checkout" or "script-injection"
    path: str
    line: int | None
    note: str

    def location(self) -> Location:
        return Location(self.path, self.line, self.note)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "line": self.line, "note": self.note}


def _env(mapping: Any) -> dict[str, str]:
    env = mapping.get("env") if isinstance(mapping, Mapping) else None
    if not isinstance(env, Mapping):
        return {}
    return {str(name): str(value) for name, value in env.items() if value is not None}


def _tainted_names(*envs: Mapping[str, str]) -> set[str]:
    """Environment variables whose value is an untrusted ref expression."""
    return {name for env in envs for name, value in env.items() if _UNTRUSTED_REF.search(value)}


def _mentions(text: str, names: set[str]) -> str | None:
    for name in sorted(names):
        if re.search(rf"\$\{{?{re.escape(name)}\b|\benv\.{re.escape(name)}\b", text):
            return f"${name}"
    return None


def _untrusted_ref(text: str, tainted: set[str], shell: bool) -> str | None:
    """The untrusted ref a value or script line refers to, if any (for the message)."""
    for _, expression in expressions(text):
        if _UNTRUSTED_REF.search(expression):
            return "${{ " + expression + " }}"
        mention = _mentions(expression, tainted)
        if mention:
            return mention
    match = _UNTRUSTED_REF.search(text)
    if match and "refs/pull/" in match.group(0).lower():
        return match.group(0)
    if shell:
        shell_match = _SHELL_UNTRUSTED_REF.search(text)
        if shell_match:
            return shell_match.group(0)
        return _mentions(text, tainted)
    return None


def _runs_code(script: str) -> bool:
    for command in _COMMAND_SPLIT.split(script):
        words = command.strip().split()
        if words and not words[0].startswith("#") and words[0] not in _INERT_COMMANDS:
            return True
    return False


def _action_checkout(step: Step, tainted: set[str]) -> tuple[str, int | None] | None:
    """(what is checked out, line) when an actions/checkout step takes the head."""
    if step.uses is None or not is_action(parse_uses(step.uses), "actions/checkout"):
        return None
    for key in ("ref", "repository"):
        value = step.with_.get(key)
        if value is None:
            continue
        found = _untrusted_ref(str(value), tainted, shell=False)
        if found:
            return found, step.with_line(key)
    return None


def _script_checkout(step: Step, tainted: set[str]) -> tuple[str, int | None, str] | None:
    """(what is checked out, line, the rest of the script) when `run:` fetches the head."""
    if step.run is None:
        return None
    offset = 0
    for line in step.run.splitlines(keepends=True):
        command = _GH_PR_CHECKOUT.search(line)
        found: str | None = "gh pr checkout" if command else None
        if command is None:
            command = _GIT_CHECKOUT.search(line)
            found = _untrusted_ref(line, tainted, shell=True) if command else None
        if found and command:
            # what runs after this command: the rest of its line after a separator, and
            # every following line
            rest = step.run[offset + command.end():]
            cuts = [i for i in (rest.find("&&"), rest.find(";"), rest.find("\n")) if i >= 0]
            return found, step.run_line_at(offset), rest[min(cuts, default=len(rest)):]
        offset += len(line)
    return None


def _checkout_in_step(step: Step, tainted: set[str]) -> tuple[str, int | None, str] | None:
    """(what is checked out, line, rest of the script) when the step checks out the head."""
    action = _action_checkout(step, tainted)
    if action is not None:
        return action[0], action[1], ""
    return _script_checkout(step, tainted)


def _executes(step: Step) -> bool:
    if step.run is not None:
        return True
    return step.uses is not None and parse_uses(step.uses).kind == "local"


def _untrusted_checkouts(workflow: Workflow, triggers: list[str]) -> Iterator[Danger]:
    workflow_env = _env(workflow.raw)
    on = "/".join(triggers)
    for job in workflow.jobs:
        job_env = _env(job.raw)
        for position, step in enumerate(job.steps):
            tainted = _tainted_names(workflow_env, job_env, _env(step.raw))
            checkout = _checkout_in_step(step, tainted)
            if checkout is None:
                continue
            what, line, rest = checkout
            runner = next((s for s in job.steps[position + 1:] if _executes(s)), None)
            if runner is not None:
                how = "a local action" if runner.run is None else "a run: script"
                then = f"then runs {how} (step {runner.index + 1}"
                line_of_runner = runner.run_line or runner.line
                then += f", line {line_of_runner})" if line_of_runner else ")"
            elif rest and _runs_code(rest):
                then = "then runs commands in the same script"
            else:
                continue
            yield Danger("untrusted-checkout", workflow.path, line,
                         f"{on}: job {job.id} checks out {what} and {then}")
            break  # one finding per job is enough


def _injections(path: str, steps: tuple[Step, ...], where: str) -> Iterator[Danger]:
    for step in steps:
        sources: list[tuple[str, str, int | None, bool]] = []  # (field, text, line, is run)
        if step.run is not None:
            sources.append(("run:", step.run, step.run_line, True))
        if step.uses is not None and is_action(parse_uses(step.uses), "actions/github-script"):
            script = step.with_.get("script")
            if script is not None:
                sources.append(("github-script script:", str(script),
                                 step.with_line("script"), False))
        for field_name, text, line, is_run in sources:
            for offset, expression in expressions(text):
                match = _UNTRUSTED_CONTEXT.search(expression)
                if match is None:
                    continue
                at = step.run_line_at(offset) if is_run else line
                yield Danger("script-injection", path, at,
                             f"{where}, step {step.index + 1}: ${{{{ {expression} }}}} "
                             f"interpolated into {field_name} ({match.group(0)} is "
                             "attacker-controlled)")


def _job_injections(path: str, job: Job) -> Iterator[Danger]:
    return _injections(path, job.steps, f"job {job.id}")


def _action_injections(action: ActionMetadata) -> Iterator[Danger]:
    return _injections(action.path, action.steps, "composite action")


def check(ctx: CheckContext) -> Result:
    load = load_workflows(ctx.files, actions=True)
    if not load.workflows:
        return load.settle(not_applicable("no GitHub Actions workflows"))

    dangers: list[Danger] = []
    privileged = 0
    for workflow in load.workflows:
        triggers = [t for t in PRIVILEGED_TRIGGERS if t in workflow.triggers]
        if triggers:
            privileged += 1
            dangers += _untrusted_checkouts(workflow, triggers)
        for job in workflow.jobs:
            dangers += _job_injections(workflow.path, job)
    for action in load.actions:
        dangers += _action_injections(action)

    checkouts = [d for d in dangers if d.kind == "untrusted-checkout"]
    injections = [d for d in dangers if d.kind == "script-injection"]
    count = len(load.workflows)
    details = {
        "workflows": count,
        "privileged_workflows": privileged,
        "untrusted_checkouts": [d.as_dict() for d in checkouts],
        "script_injections": [d.as_dict() for d in injections],
    }
    if dangers:
        parts = []
        if checkouts:
            parts.append(f"{plural(len(checkouts), 'untrusted checkout')} of pull request "
                         "code followed by execution in a privileged workflow")
        if injections:
            parts.append(f"{plural(len(injections), 'script injection')} of "
                         "attacker-controlled input")
        files = len({d.path for d in dangers})
        message = f"{' and '.join(parts)} (in {plural(files, 'file')})"
        return load.settle(failed(message, [d.location() for d in dangers], details))
    scope = f"{plural(count, 'workflow')} ({privileged} with privileged triggers)"
    return load.settle(passed(
        f"no untrusted checkout or script injection in {scope}", details=details))
