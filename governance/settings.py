"""Provider-neutral shapes of the forge settings that policies read.

A provider that can see a setting puts one of these values in `RepoSnapshot.settings`
under the setting's name; one that cannot leaves the name out and says why in
`RepoSnapshot.unavailable` (policies then get `Unsupported`, the engine `not_available`).

`default_branch_rules` -> `BranchRules | None`

    What governs changes to the default branch, as a list of sources, each of which the
    forge enforces on its own (the strictest requirement wins where several apply):

    - GitHub classic branch protection: one `RuleSource(kind="classic")`, always
      `active`; required reviews imply a pull request is required.
    - GitHub rulesets targeting the branch, from the repository or its organization: one
      `RuleSource(kind="ruleset")` each, with its name and enforcement (`active`,
      `evaluate` = report only, `disabled`); the `pull_request` rule gives
      `requires_pull_request` and `required_approving_review_count`.
    - GitLab protected branch: `RuleSource(kind="gitlab-protected-branch")`;
      `requires_pull_request` when nobody may push (push access level "No one"), so
      changes arrive through merge requests; `allow_force_push` from the branch setting.
    - GitLab merge-request approval rules (project rules or `approvals_before_merge`)
      that apply to the branch: `RuleSource(kind="gitlab-approval-rule")` each, with
      `required_approvals`. They gate merge requests only, so they mean something only
      together with a source that forbids direct pushes.

    `None` (rather than BranchRules) means the repository has no default branch (empty).
    A branch with no protection at all is `BranchRules(branch, sources=())`.

The derived properties of BranchRules combine the active sources; checks should use
them instead of re-deriving the rules per forge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast, get_args

RuleSourceKind = Literal["classic", "ruleset", "gitlab-protected-branch", "gitlab-approval-rule"]
Enforcement = Literal["active", "evaluate", "disabled"]

DEFAULT_BRANCH_RULES = "default_branch_rules"

_KIND_LABELS: dict[str, str] = {
    "classic": "classic branch protection",
    "ruleset": "ruleset",
    "gitlab-protected-branch": "GitLab protected branch",
    "gitlab-approval-rule": "GitLab approval rule",
}


@dataclass(frozen=True)
class RuleSource:
    """One thing the forge enforces on the branch: a protection, a ruleset, a rule."""

    kind: RuleSourceKind
    name: str = ""  # ruleset / approval rule name; the branch pattern for protections
    enforcement: Enforcement = "active"
    requires_pull_request: bool = False
    required_approvals: int | None = None  # None: this source says nothing about reviews
    code_owner_review: bool = False
    dismiss_stale_reviews: bool = False
    require_last_push_approval: bool = False
    allow_force_push: bool = False
    allow_deletion: bool = False
    enforce_admins: bool = True  # classic: "do not allow bypassing"; rulesets: no bypass list
    bypass_actors: tuple[str, ...] = ()  # who may bypass: "role:admin", "team:acme/sre", ...
    origin: str = "repository"  # "repository" or "organization" (org-level rulesets)

    @property
    def active(self) -> bool:
        return self.enforcement == "active"

    @property
    def label(self) -> str:
        """For messages: "classic branch protection", "ruleset 'main'"."""
        base = _KIND_LABELS.get(self.kind, self.kind)
        if self.kind == "classic" or not self.name:
            return base
        prefix = "organization " if self.origin == "organization" else ""
        return f"{prefix}{base} {self.name!r}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "enforcement": self.enforcement,
            "requires_pull_request": self.requires_pull_request,
            "required_approvals": self.required_approvals,
            "code_owner_review": self.code_owner_review,
            "dismiss_stale_reviews": self.dismiss_stale_reviews,
            "require_last_push_approval": self.require_last_push_approval,
            "allow_force_push": self.allow_force_push,
            "allow_deletion": self.allow_deletion,
            "enforce_admins": self.enforce_admins,
            "bypass_actors": list(self.bypass_actors),
            "origin": self.origin,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuleSource:
        kind = data.get("kind")
        if kind not in get_args(RuleSourceKind):
            raise ValueError(f"unknown rule source kind {kind!r}")
        enforcement = data.get("enforcement", "active")
        if enforcement not in get_args(Enforcement):
            raise ValueError(f"unknown enforcement {enforcement!r}")
        approvals = data.get("required_approvals")
        return cls(
            kind=cast(RuleSourceKind, kind),
            name=str(data.get("name", "")),
            enforcement=cast(Enforcement, enforcement),
            requires_pull_request=bool(data.get("requires_pull_request", False)),
            required_approvals=None if approvals is None else int(approvals),
            code_owner_review=bool(data.get("code_owner_review", False)),
            dismiss_stale_reviews=bool(data.get("dismiss_stale_reviews", False)),
            require_last_push_approval=bool(data.get("require_last_push_approval", False)),
            allow_force_push=bool(data.get("allow_force_push", False)),
            allow_deletion=bool(data.get("allow_deletion", False)),
            enforce_admins=bool(data.get("enforce_admins", True)),
            bypass_actors=tuple(str(a) for a in data.get("bypass_actors", ())),
            origin=str(data.get("origin", "repository")),
        )


@dataclass(frozen=True)
class BranchRules:
    """Everything that governs changes to one branch (see the module docstring)."""

    branch: str
    sources: tuple[RuleSource, ...] = field(default_factory=tuple)
    # Why some kind of rule could not be read (e.g. classic protection without the
    # Administration: read permission): `sources` are then only those that were visible,
    # enough to pass a policy they satisfy but not to fail one.
    unseen: str = ""

    @property
    def active_sources(self) -> tuple[RuleSource, ...]:
        return tuple(source for source in self.sources if source.active)

    @property
    def protected(self) -> bool:
        """Some active source governs the branch."""
        return bool(self.active_sources)

    @property
    def requires_pull_request(self) -> bool:
        """Direct pushes are refused: changes arrive through pull / merge requests."""
        return any(source.requires_pull_request for source in self.active_sources)

    @property
    def required_approvals(self) -> int | None:
        """The strictest approval count among active sources; None when none requires any."""
        counts = [s.required_approvals for s in self.active_sources
                  if s.required_approvals is not None]
        return max(counts) if counts else None

    @property
    def code_owner_review(self) -> bool:
        return any(source.code_owner_review for source in self.active_sources)

    @property
    def allow_force_push(self) -> bool:
        """Force pushes are possible unless some active source forbids them."""
        active = self.active_sources
        return not active or all(source.allow_force_push for source in active)

    def as_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "protected": self.protected,
            "requires_pull_request": self.requires_pull_request,
            "required_approvals": self.required_approvals,
            "code_owner_review": self.code_owner_review,
            "allow_force_push": self.allow_force_push,
            "sources": [source.as_dict() for source in self.sources],
            "unseen": self.unseen,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BranchRules:
        """The inverse of as_dict (derived keys are ignored), for cached settings."""
        branch = data.get("branch")
        if not isinstance(branch, str) or not branch:
            raise ValueError("branch rules need a branch name")
        return cls(branch, tuple(RuleSource.from_dict(s) for s in data.get("sources", ())),
                   str(data.get("unseen") or ""))
