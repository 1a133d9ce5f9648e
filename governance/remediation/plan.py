"""The remediation planner and applier: one action per (repository, policy).

`plan` evaluates the selected policies on each repository and decides, from what the
forge holds (`ChangeRequests.find` / `.branch` and the marker in our pull request body),
what remediation would do; `apply` carries the actions out one by one. The rules:

- nothing of ours exists: create the branch `governance/<policy-id>` with one commit and
  open a pull request (title, body with rationale, remediation, what changed and how to opt
  out, labels, marker);
- our pull request is open and the branch holds only our commits: update it when the fix
  changed (another fingerprint), leave it alone (`unchanged`) when it did not;
- a person pushed to the branch: never overwrite it; `blocked`, with one comment on the
  pull request (remembered by BLOCKED_MARKER added to its body in the same run);
- a person closed our pull request: `declined`, never reopened (a person may reopen it);
- the policy passes in this very scan: close our pull request with a comment and delete
  the branch (`close`); an `error` or `not_available` result never closes anything;
- our own earlier close or a merge with the violation back: a new pull request;
- archived repositories, forks and repositories the writer cannot push to: `skip`.

Nothing ever writes to a default branch: every write goes through a ChangeRequests
implementation, which refuses it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from governance import __version__
from governance.engine import Engine
from governance.errors import Unsupported
from governance.fixes import ActionResolver, FixContext, NeedsPerson, Proposal
from governance.models import Finding, Outcome, RepoRef, Waiver
from governance.policy import EnabledPolicy
from governance.providers.base import Provider
from governance.remediation.base import (
    Branch,
    ChangeRequest,
    ChangeRequests,
    Marker,
    WriteRefused,
    branch_name,
    commit_message,
)
from governance.snapshot import RepoFailure, RepoFiles, RepoSnapshot

log = logging.getLogger(__name__)

KINDS = ("create", "update", "unchanged", "close", "skip", "blocked", "declined",
         "needs-person", "error")
WRITES = frozenset({"create", "update"})  # what --max-prs counts
LABEL = "governance"
# Added to our pull request body together with the one comment on a blocked request.
BLOCKED_MARKER = "<!-- governance-fix blocked -->"


@dataclass(frozen=True)
class PlannedAction:
    """What remediation does (or did, once applied) for one repository and one policy."""

    repo: RepoRef
    policy: str
    kind: str  # one of KINDS
    reason: str
    branch: str
    proposal: Proposal | None = None
    request: ChangeRequest | None = None  # the existing (or, applied, the new) request
    base: str | None = None  # the scanned head the fix was computed on: the commit's parent
    replace: str | None = None  # the branch head a write moves; None: the branch is created
    title: str = ""
    body: str = ""
    labels: tuple[str, ...] = ()
    comment: str | None = None  # blocked / close: the comment to post
    applied: bool = False  # the writes were carried out

    @property
    def repository(self) -> str:
        return self.repo.name

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (`governance fix --format json`, documented in the README)."""
        proposal = self.proposal
        request = self.request
        return {
            "repository": self.repo.name,
            "policy": self.policy,
            "action": self.kind,
            "reason": self.reason,
            "branch": self.branch,
            "applied": self.applied,
            "title": self.title or None,
            "fingerprint": proposal.fingerprint() if proposal else None,
            "files": [{"path": c.path, "change": c.action} for c in proposal.changes]
            if proposal else [],
            "diff": proposal.diff() if proposal else None,
            "request": {"number": request.number, "url": request.url, "state": request.state}
            if request else None,
        }


def plan(
    provider: Provider,
    refs: Iterable[RepoRef],
    policies: Sequence[EnabledPolicy],
    writer: ChangeRequests,
    resolver: ActionResolver | None = None,
    *,
    waivers: Sequence[Waiver] = (),
    today: dt.date | None = None,
) -> Iterator[PlannedAction]:
    """One PlannedAction per (repository, policy with a fixer), repository by repository,
    in the order of `refs`. Repositories the writer may not write are skipped without
    being read. Nothing is written here."""
    fixable = [e for e in policies if e.policy.fix is not None]
    if not fixable:
        return
    planner = _Planner(Engine(fixable, waivers, today), fixable, writer,
                       resolver or ActionResolver())
    # Refs in order with why each is not read (None: read it); the provider only sees
    # those to read and answers in order.
    pending: deque[tuple[RepoRef, tuple[str, str] | None]] = deque()

    def to_read() -> Iterator[RepoRef]:
        for ref in refs:
            unread = planner.unwritable(ref)
            pending.append((ref, unread))
            if unread is None:
                yield ref

    def skipped() -> Iterator[PlannedAction]:
        while pending and pending[0][1] is not None:
            ref, unread = pending.popleft()
            assert unread is not None
            yield from planner.for_all(ref, *unread)

    for item in provider.snapshots(to_read(), planner.engine.needs):
        yield from skipped()
        if pending:
            pending.popleft()
        yield from planner.repository(item)
    while pending:
        yield from skipped()
        if pending:  # a provider that skipped a ref: a bug, reported rather than lost
            ref, _ = pending.popleft()
            yield from planner.repository(RepoFailure(ref, "the provider returned no snapshot"))


class _Planner:
    def __init__(self, engine: Engine, policies: Sequence[EnabledPolicy],
                 writer: ChangeRequests, resolver: ActionResolver):
        self.engine = engine
        self.policies = policies
        self.writer = writer
        self.resolver = resolver

    def unwritable(self, ref: RepoRef) -> tuple[str, str] | None:
        """("skip", why) for a repository remediation must not write, ("error", why) when
        the writer cannot tell; None when it may be written."""
        if ref.archived:
            return "skip", "archived repository"
        if ref.fork:
            return "skip", "fork"
        try:
            reason = self.writer.writable(ref)
        except Exception as error:  # one unreadable repository must not stop the run
            log.exception("cannot tell whether %s is writable", ref.name)
            return "error", f"cannot tell whether it may be written: {_describe(error)}"
        return None if reason is None else ("skip", reason)

    def for_all(self, ref: RepoRef, kind: str, reason: str) -> Iterator[PlannedAction]:
        for enabled in self.policies:
            yield PlannedAction(ref, enabled.id, kind, reason, branch_name(enabled.id))

    def repository(self, item: RepoSnapshot | RepoFailure) -> Iterator[PlannedAction]:
        if isinstance(item, RepoFailure):
            yield from self.for_all(item.ref, "error",
                                    f"the repository could not be read: {item.reason}")
            return
        try:
            findings = self.engine.evaluate(item)
            files = RepoFiles(item)
            for enabled, finding in zip(self.policies, findings, strict=True):
                try:
                    yield self.decide(item, files, enabled, finding)
                except Exception as error:  # a forge read failed: this action only
                    log.exception("planning %s for %s failed", enabled.id, item.ref.name)
                    yield PlannedAction(item.ref, enabled.id, "error", _describe(error),
                                        branch_name(enabled.id))
        finally:
            item.close()

    def decide(self, snapshot: RepoSnapshot, files: RepoFiles, enabled: EnabledPolicy,
               finding: Finding) -> PlannedAction:
        ref = snapshot.ref
        action = PlannedAction(ref, enabled.id, "skip", "", branch_name(enabled.id),
                               base=snapshot.head_sha)
        if finding.outcome is Outcome.PASS:
            return self._passing(action)
        if finding.outcome is Outcome.ERROR:
            return replace(action, kind="error", reason=f"the check failed: {finding.message}")
        if finding.outcome is not Outcome.FAIL:
            # Waived, not applicable, not available: nothing to fix, nothing to close.
            return replace(action, reason=f"{finding.outcome.value}: {finding.message}")
        if snapshot.head_sha is None:
            return replace(action, reason="empty repository: no commit to base a fix on")
        result = self._fix(snapshot, files, enabled, finding)
        if isinstance(result, PlannedAction):
            return result
        if isinstance(result, NeedsPerson):
            return replace(action, kind="needs-person", reason=result.reason)
        fingerprint = result.fingerprint()
        action = replace(
            action, proposal=result, title=result.title,
            body=request_body(enabled, ref, result,
                              Marker(enabled.id, fingerprint, __version__), self.writer.kind),
            labels=(LABEL, f"{LABEL}:{enabled.id}"))
        return self._failing(action, fingerprint)

    def _fix(self, snapshot: RepoSnapshot, files: RepoFiles, enabled: EnabledPolicy,
             finding: Finding) -> Proposal | NeedsPerson | PlannedAction:
        fix = enabled.policy.fix
        assert fix is not None
        context = FixContext(snapshot.ref, files, enabled.options, finding, self.writer.kind,
                             enabled.policy.folder, self.resolver)
        skip = PlannedAction(snapshot.ref, enabled.id, "skip", "", branch_name(enabled.id))
        try:
            result = fix(context)
        except Unsupported as reason:  # e.g. action SHAs cannot be resolved from here
            return replace(skip, reason=f"cannot be fixed from this source: {reason}")
        except Exception as error:  # a bug in a fixer must not stop the run
            log.exception("fixer of %s crashed on %s", enabled.id, snapshot.ref.name)
            return replace(skip, kind="error",
                           reason=f"the fixer crashed: {type(error).__name__}: {error}")
        if not isinstance(result, (Proposal, NeedsPerson)):
            return replace(skip, kind="error", reason=f"the fixer returned "
                           f"{type(result).__name__}, not a Proposal or NeedsPerson")
        return result

    def _passing(self, action: PlannedAction) -> PlannedAction:
        request = self.writer.find(action.repo, action.branch)
        if request is None or request.state != "open":
            return replace(action, reason="passes: nothing to fix", request=request)
        action = replace(action, request=request)
        if not self._ours(request, action.policy):
            return replace(action, reason=f"passes; {_named(request)} from {action.branch} "
                           "is not governance's: left alone")
        current = self.writer.branch(action.repo, action.branch)
        if current is not None and current.foreign:
            return replace(action, reason=f"passes now, but {_pushed(current)}: "
                           f"{_named(request)} is left for them to close")
        return replace(
            action, kind="close", reason=f"passes now: close {_named(request)} and delete "
            f"{action.branch}",
            comment=f"The policy `{action.policy}` passes on the default branch now "
            f"(scanned at {action.base or 'its head'}), so this change is no longer needed: "
            "governance closes it and deletes its branch.")

    def _failing(self, action: PlannedAction, fingerprint: str) -> PlannedAction:
        request = self.writer.find(action.repo, action.branch)
        current = self.writer.branch(action.repo, action.branch)
        action = replace(action, request=request, replace=current.head if current else None)
        if request is not None and request.state == "open":
            if current is not None and current.foreign:
                return self._blocked(action, request, current)
            if not self._ours(request, action.policy):
                return replace(action, kind="blocked", replace=None, reason=(
                    f"{_named(request)} from {action.branch} carries no governance marker: "
                    "not governance's, not touched"))
            marker = request.marker
            if current is not None and not current.commits:
                return replace(action, kind="update", reason=(
                    f"{action.branch} holds nothing the default branch lacks (merged?): "
                    f"write the fix again and update {_named(request)}"))
            if current is not None and marker is not None and (
                    marker.fingerprint == fingerprint):
                return replace(action, kind="unchanged",
                               reason=f"{_named(request)} already carries this fix")
            if current is None:
                return replace(action, kind="update", reason=f"{action.branch} is gone: "
                               f"recreate it and update {_named(request)}")
            return replace(action, kind="update",
                           reason=f"the fix changed since {_named(request)} was written")
        if request is not None and request.state == "closed" and not request.closed_by_us:
            return replace(action, kind="declined", replace=None, reason=(
                f"{_named(request)} was closed by a person: not reopened (reopen it to have "
                "it kept up to date, or record a waiver)"))
        if current is not None and current.foreign:
            return replace(action, kind="blocked", replace=None,
                           reason=f"{_pushed(current)}: not overwritten")
        if request is None:
            why = "no pull request yet"
        elif request.state == "merged":
            why = f"{_named(request)} was merged but the violation is back"
        else:
            why = f"{_named(request)} was closed by governance and the violation is back"
        return replace(action, kind="create", request=None,
                       reason=f"{why}: open one from {action.branch}")

    def _blocked(self, action: PlannedAction, request: ChangeRequest, current: Branch
                 ) -> PlannedAction:
        # Commented before: BLOCKED_MARKER is in the body. A local branch has nowhere to
        # hold a comment, so none is planned.
        comment = None
        if self.writer.kind != "local" and BLOCKED_MARKER not in request.body:
            comment = (f"governance will not update this change any more: "
                       f"{_pushed(current)}, and a person's commits are never overwritten. "
                       "Merge or close it as you see fit.")
        return replace(action, kind="blocked", replace=None, comment=comment,
                       reason=f"{_pushed(current)}: not overwritten")

    @staticmethod
    def _ours(request: ChangeRequest, policy: str) -> bool:
        marker = request.marker
        return marker is not None and marker.policy == policy


def request_body(enabled: EnabledPolicy, ref: RepoRef, proposal: Proposal, marker: Marker,
                 forge: str = "github") -> str:
    """The pull request body: why, what changed, how to fix it by hand, how to opt out."""
    definition = enabled.definition
    noun = "merge request" if forge == "gitlab" else "pull request"
    changed = [f"- `{c.path}`: {c.action}d ({_line_counts(c.diff())})"
               for c in proposal.changes]
    notes = [n if n.lstrip().startswith(("-", "*")) else f"- {n}" for n in proposal.notes]
    parts = [
        f"This change makes `{ref.name}` meet the policy **{definition.title}** "
        f"(`{enabled.id}`, severity {enabled.severity.value}).",
        "### Why\n\n" + definition.rationale.strip(),
        "### What changed\n\n" + "\n".join([*notes, *changed]),
        "### Remediation\n\n" + definition.remediation.strip(),
        "### Opting out\n\n"
        f"Close this {noun}: governance will not open it again. Or record a waiver "
        "in governance.yml:\n\n"
        "```yaml\nwaivers:\n"
        f"  - repository: {ref.name}\n    policy: {enabled.id}\n"
        "    reason: why this repository is an exception\n    owner: your-team\n"
        "```\n\n"
        f"governance updates this {noun} while its branch `{branch_name(enabled.id)}` "
        "holds only its own commits; once a person pushes to it, governance leaves it "
        "alone.",
        marker.comment(),
    ]
    return "\n\n".join(parts) + "\n"


def apply(actions: Iterable[PlannedAction], writer: ChangeRequests, *,
          max_prs: int | None = None) -> Iterator[PlannedAction]:
    """Carry out the actions in order; each comes back with `applied` set, or changed to
    `skip` ("max-prs reached"), `blocked` (the forge refused the write) or `error`. At most
    `max_prs` pull requests are created or updated; a failed write does not count."""
    budget = _Budget(max_prs)
    for action in actions:
        if action.kind in WRITES and not budget.take():
            yield budget.skipped(action)
            continue
        try:
            yield _carry_out(action, writer)
        except WriteRefused as refused:
            budget.give_back(action)
            yield replace(action, kind="blocked", reason=f"the write was refused: "
                          f"{refused.reason}", comment=None)
        except Exception as error:  # one repository's failure must not stop the run
            budget.give_back(action)
            log.exception("applying %s to %s failed", action.policy, action.repository)
            yield replace(action, kind="error", reason=_describe(error))


def cap(actions: Iterable[PlannedAction], max_prs: int | None) -> Iterator[PlannedAction]:
    """A plan as `apply` would limit it: creates and updates past `max_prs` are skipped."""
    budget = _Budget(max_prs)
    for action in actions:
        yield budget.skipped(action) if action.kind in WRITES and not budget.take() else action


class _Budget:
    def __init__(self, limit: int | None):
        self.limit = limit
        self.used = 0

    def take(self) -> bool:
        if self.limit is not None and self.used >= self.limit:
            return False
        self.used += 1
        return True

    def give_back(self, action: PlannedAction) -> None:
        if action.kind in WRITES:
            self.used -= 1

    def skipped(self, action: PlannedAction) -> PlannedAction:
        return replace(action, kind="skip",
                       reason=f"max-prs reached ({self.limit}): would {action.kind}")


def _carry_out(action: PlannedAction, writer: ChangeRequests) -> PlannedAction:
    repo = action.repo
    if action.kind in WRITES:
        proposal = action.proposal
        assert proposal is not None and action.base is not None
        writer.commit(repo, action.branch, action.base, proposal.changes,
                      commit_message(action.policy, proposal.title, proposal.fingerprint()),
                      replace=action.replace)
        if action.kind == "create" or action.request is None:
            request = writer.open(repo, action.branch, action.title, action.body,
                                  action.labels)
            return replace(action, request=request, applied=True)
        writer.update(repo, action.request, action.title, action.body)
        return replace(action, applied=True)
    if action.kind == "close":
        assert action.request is not None
        writer.close(repo, action.request, action.comment or "")
        return replace(action, applied=True)
    if action.kind == "blocked" and action.comment and action.request is not None:
        writer.comment(repo, action.request, action.comment)
        # The marker in the body makes the comment a one-off.
        writer.update(repo, action.request, action.title,
                      action.request.body.rstrip("\n") + "\n\n" + BLOCKED_MARKER + "\n")
        return replace(action, applied=True)
    return action


def _line_counts(diff: str) -> str:
    lines = diff.splitlines()
    added = sum(1 for line in lines if line.startswith("+") and not line.startswith("+++"))
    removed = sum(1 for line in lines if line.startswith("-") and not line.startswith("---"))
    return f"+{added} -{removed}"


def _named(request: ChangeRequest) -> str:
    return f"branch {request.branch}" if request.number == 0 else f"#{request.number}"


def _pushed(branch: Branch) -> str:
    foreign = branch.foreign
    authors = ", ".join(sorted({c.author for c in foreign}))
    return f"{len(foreign)} commit(s) by {authors} on {branch.name}"


def _describe(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    return str(reason) if isinstance(reason, str) else f"{type(error).__name__}: {error}"
