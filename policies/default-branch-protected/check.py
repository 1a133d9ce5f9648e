"""The default branch accepts changes only through pull requests with enough approvals.

Reads the `default_branch_rules` setting (governance.settings.BranchRules; a mapping in
its `as_dict` shape is accepted too, e.g. from a cache). Only `active` sources count:
rulesets in `evaluate` mode report but do not enforce. Passes when some active source
requires a pull request and the strictest active source requires at least
`min_approvals` approvals; rules from different sources combine, as forges apply all
of them (a GitLab protected branch refusing pushes plus an approval rule is enough).
Providers that cannot see the setting (a local checkout) make the check `not_available`
through the engine, with the provider's reason. When only some rules are visible (GitHub
rulesets, but not classic protection without the Administration: read permission), a pass
from the visible rules stands and anything else is `not_available`: an unseen rule may be
what protects the branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from governance.checks import (
    CheckContext,
    Result,
    failed,
    not_applicable,
    not_available,
    passed,
    plural,
)
from governance.models import Outcome
from governance.settings import DEFAULT_BRANCH_RULES, BranchRules, RuleSource


def _rules(value: Any) -> BranchRules | None:
    if value is None or isinstance(value, BranchRules):
        return value
    if isinstance(value, Mapping):
        return BranchRules.from_dict(value)
    raise TypeError(f"{DEFAULT_BRANCH_RULES} must be BranchRules, not {type(value).__name__}")


def _approvals(source: RuleSource) -> str:
    if source.required_approvals is None:
        return f"{source.label} requires no reviews"
    return f"{source.label} requires {plural(source.required_approvals, 'approval')}"


def check(ctx: CheckContext) -> Result:
    rules = _rules(ctx.files.setting(DEFAULT_BRANCH_RULES))
    if rules is None:
        return not_applicable("the repository has no default branch")
    result = _judge(rules, int(ctx.options.get("min_approvals", 1)))
    if not rules.unseen:
        return result
    if result.outcome is Outcome.PASS:  # the visible rules suffice whatever is unseen
        return passed(f"{result.message} (not every rule was visible: {rules.unseen})",
                      details=result.details)
    # An unseen rule (classic protection, say) may be what protects the branch.
    return not_available(f"{result.message}, but not every rule was visible: {rules.unseen}",
                         details=result.details)


def _judge(rules: BranchRules, minimum: int) -> Result:
    """The verdict on the rules as seen (`check` qualifies it when some were not)."""
    branch = rules.branch
    details: dict[str, Any] = {**rules.as_dict(), "min_approvals": minimum}
    inactive = [s for s in rules.sources if not s.active]
    aside = ""
    if inactive:
        aside = " (not enforced: " + ", ".join(
            f"{s.label} is {s.enforcement}" for s in inactive) + ")"

    active = rules.active_sources
    if not active:
        return failed(f"default branch {branch} is not protected: no active branch protection "
                      f"or ruleset{aside}", details=details)
    if not rules.requires_pull_request:
        names = ", ".join(s.label for s in active)
        return failed(f"default branch {branch} accepts direct pushes: no active rule requires "
                      f"a pull request ({names}){aside}", details=details)
    best = rules.required_approvals or 0
    if best >= minimum:
        strictest = [s for s in active if (s.required_approvals or 0) == best]
        because = _approvals(strictest[0]) if minimum > 0 else "pull requests required"
        return passed(f"default branch {branch} requires reviewed pull requests "
                      f"({because}; policy asks for {minimum})", details=details)
    falls_short = "; ".join(_approvals(s) for s in active)
    return failed(f"default branch {branch} requires {plural(best, 'approval')}, policy asks "
                  f"for {minimum}: {falls_short}{aside}", details=details)
