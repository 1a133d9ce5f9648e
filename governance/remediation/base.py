"""The write side of a forge, as the remediation planner sees it.

Each forge (GitHub, GitLab, a local checkout) implements `ChangeRequests` and returns the
project's own types, so the planner's rules (never overwrite a person's commit, never
reopen what a person closed, adopt on races) are written once, in plan.py.

Identity: one branch per (repository, policy), `governance/<policy-id>`; every commit we
make carries the `Governance-Fix:` trailer, and every pull request body carries a
machine-readable marker (policy id, fingerprint of the change, tool version).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from governance.fixes import FileChange
from governance.models import RepoRef

BRANCH_PREFIX = "governance/"
CLOSED_MARKER = "<!-- governance-fix closed-by=governance -->"
COMMIT_TRAILER = "Governance-Fix"
_MARKER = re.compile(
    r"<!--\s*governance-fix\s+policy=(?P<policy>[\w.-]+)\s+fingerprint=(?P<fingerprint>[0-9a-f]+)"
    r"\s+version=(?P<version>[\w.+-]+)\s*-->")


def branch_name(policy_id: str) -> str:
    return BRANCH_PREFIX + policy_id


def commit_message(policy_id: str, title: str, fingerprint: str) -> str:
    """Our commit message: the title, then the trailer that marks the commit as ours."""
    return f"{title}\n\n{COMMIT_TRAILER}: {policy_id} {fingerprint}\n"


def is_ours(message: str) -> bool:
    return any(line.startswith(f"{COMMIT_TRAILER}: ") for line in message.splitlines())


@dataclass(frozen=True)
class Marker:
    """What our pull request body says about the change it carries."""

    policy: str
    fingerprint: str
    version: str

    def comment(self) -> str:
        return (f"<!-- governance-fix policy={self.policy} fingerprint={self.fingerprint} "
                f"version={self.version} -->")

    @classmethod
    def parse(cls, body: str | None) -> Marker | None:
        found = _MARKER.search(body or "")
        if found is None:
            return None
        return cls(found["policy"], found["fingerprint"], found["version"])


@dataclass(frozen=True)
class BranchCommit:
    sha: str
    author: str
    message: str

    @property
    def ours(self) -> bool:
        return is_ours(self.message)


@dataclass(frozen=True)
class Branch:
    """A remediation branch: its head and the commits on it that the base does not have."""

    name: str
    head: str
    commits: tuple[BranchCommit, ...]

    @property
    def foreign(self) -> tuple[BranchCommit, ...]:
        """Commits a person (or another tool) pushed: never overwritten."""
        return tuple(c for c in self.commits if not c.ours)


@dataclass(frozen=True)
class ChangeRequest:
    """A pull request (GitHub), merge request (GitLab) or, locally, just the branch."""

    number: int
    url: str
    state: str  # "open", "closed" or "merged"
    branch: str
    body: str = ""

    @property
    def closed_by_us(self) -> bool:
        """We close a request (violation gone) with CLOSED_MARKER added to its body, in the
        same write; any other closed request was closed by a person: declined."""
        return CLOSED_MARKER in self.body

    @property
    def marker(self) -> Marker | None:
        return Marker.parse(self.body)


class WriteRefused(Exception):
    """The forge refused a write (permission, scope, protection); `reason` is for people."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ChangeRequests(Protocol):
    """The writes remediation needs from one forge."""

    kind: str  # "github", "gitlab", "local"

    def writable(self, repo: RepoRef) -> str | None:
        """Why remediation must skip this repository (archived, fork, no push access),
        or None when it may write."""
        ...

    def default_head(self, repo: RepoRef) -> str:
        """The commit the default branch points at now (the base of a new fix)."""
        ...

    def branch(self, repo: RepoRef, name: str) -> Branch | None:
        """The branch with the commits it has over the default branch, or None."""
        ...

    def find(self, repo: RepoRef, branch: str) -> ChangeRequest | None:
        """The newest pull request from `branch` in any state, or None."""
        ...

    def commit(self, repo: RepoRef, branch: str, base: str, changes: Sequence[FileChange],
               message: str, *, replace: str | None = None) -> str:
        """One commit with every change on top of `base`, written to `branch` (created when
        `replace` is None; else moved from the head `replace`, only if it is still there).
        Never writes to the default branch. Returns the new commit's SHA."""
        ...

    def open(self, repo: RepoRef, branch: str, title: str, body: str,
             labels: Sequence[str]) -> ChangeRequest:
        """Open a pull request from `branch` to the default branch; when one is already
        open for it (a race: 422 / 409), adopt that one instead."""
        ...

    def update(self, repo: RepoRef, request: ChangeRequest, title: str, body: str) -> None:
        ...

    def comment(self, repo: RepoRef, request: ChangeRequest, text: str) -> None:
        ...

    def close(self, repo: RepoRef, request: ChangeRequest, comment: str) -> None:
        """Comment, then close the pull request with CLOSED_MARKER appended to its body (one
        write), then delete its branch."""
        ...
