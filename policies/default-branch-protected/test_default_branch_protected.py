from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from governance.checks import CheckContext, Result
from governance.models import Outcome
from governance.settings import BranchRules, RuleSource
from governance.testing import bundled_policy, evaluate, memory_files

POLICY = "default-branch-protected"


def run(settings: Mapping[str, Any], options: Mapping[str, Any] | None = None,
        unavailable: Mapping[str, str] | None = None) -> Result:
    """The check on a snapshot as a forge provider would build it (none exists yet)."""
    files = memory_files({}, provider="github", settings=settings, unavailable=unavailable)
    policy = bundled_policy(POLICY)
    ctx = CheckContext(files.ref, files, {**policy.definition.options, **(options or {})})
    return policy.check(ctx)


def rules(*sources: RuleSource) -> dict[str, BranchRules]:
    return {"default_branch_rules": BranchRules("main", sources)}


CLASSIC_ONE = RuleSource("classic", "main", requires_pull_request=True, required_approvals=1)


def test_local_checkout_is_not_available_with_the_reason(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"README.md": "x\n"})
    assert finding.outcome is Outcome.NOT_AVAILABLE
    assert "local checkout carries no forge settings" in finding.message


def test_classic_protection_with_one_approval_passes() -> None:
    result = run(rules(CLASSIC_ONE))
    assert result.outcome is Outcome.PASS
    assert "classic branch protection requires 1 approval" in result.message
    assert result.details["required_approvals"] == 1


def test_active_ruleset_alone_satisfies_the_policy() -> None:
    ruleset = RuleSource("ruleset", "protect main", requires_pull_request=True,
                         required_approvals=2, origin="organization")
    result = run(rules(ruleset), options={"min_approvals": 2})
    assert result.outcome is Outcome.PASS
    assert "organization ruleset 'protect main' requires 2 approvals" in result.message


def test_strictest_of_classic_and_ruleset_counts() -> None:
    classic = RuleSource("classic", "main", requires_pull_request=True, required_approvals=0)
    ruleset = RuleSource("ruleset", "reviews", requires_pull_request=True, required_approvals=2)
    assert run(rules(classic, ruleset), options={"min_approvals": 2}).outcome is Outcome.PASS


def test_too_few_approvals_fails_naming_each_source() -> None:
    classic = RuleSource("classic", "main", requires_pull_request=True, required_approvals=0)
    ruleset = RuleSource("ruleset", "main rules", requires_pull_request=True,
                         required_approvals=1)
    result = run(rules(classic, ruleset), options={"min_approvals": 2})
    assert result.outcome is Outcome.FAIL
    assert result.message == (
        "default branch main requires 1 approval, policy asks for 2: classic branch "
        "protection requires 0 approvals; ruleset 'main rules' requires 1 approval")


def test_evaluate_mode_ruleset_does_not_protect() -> None:
    ruleset = RuleSource("ruleset", "trial", enforcement="evaluate", requires_pull_request=True,
                         required_approvals=3)
    result = run(rules(ruleset))
    assert result.outcome is Outcome.FAIL
    assert "no active branch protection or ruleset" in result.message
    assert "ruleset 'trial' is evaluate" in result.message


def test_unprotected_branch_fails() -> None:
    result = run(rules())
    assert result.outcome is Outcome.FAIL
    assert result.details["protected"] is False


def test_protection_without_pull_requests_fails() -> None:
    result = run(rules(RuleSource("classic", "main", allow_force_push=False)))
    assert result.outcome is Outcome.FAIL
    assert "accepts direct pushes" in result.message


def test_gitlab_protected_branch_and_approval_rule_combine() -> None:
    branch = RuleSource("gitlab-protected-branch", "main", requires_pull_request=True)
    approvals = RuleSource("gitlab-approval-rule", "reviewers", required_approvals=1)
    assert run(rules(branch, approvals)).outcome is Outcome.PASS
    # an approval rule alone does not stop direct pushes
    assert run(rules(approvals)).outcome is Outcome.FAIL


def test_zero_min_approvals_only_needs_pull_requests() -> None:
    branch = RuleSource("gitlab-protected-branch", "main", requires_pull_request=True)
    assert run(rules(branch), options={"min_approvals": 0}).outcome is Outcome.PASS
    assert run(rules(branch)).outcome is Outcome.FAIL


def test_cached_mapping_shape_is_accepted() -> None:
    cached = BranchRules("main", (CLASSIC_ONE,)).as_dict()
    assert BranchRules.from_dict(cached) == BranchRules("main", (CLASSIC_ONE,))
    assert run({"default_branch_rules": cached}).outcome is Outcome.PASS


def test_empty_repository_without_default_branch_is_not_applicable() -> None:
    assert run({"default_branch_rules": None}).outcome is Outcome.NOT_APPLICABLE


def test_unavailable_setting_raises_with_provider_reason() -> None:
    from governance.errors import Unsupported

    with pytest.raises(Unsupported, match="token lacks administration:read"):
        run({}, unavailable={"default_branch_rules": "token lacks administration:read"})


def test_force_push_is_allowed_only_when_no_active_source_forbids_it() -> None:
    assert BranchRules("main").allow_force_push is True
    forbidding = BranchRules("main", (CLASSIC_ONE,))
    assert forbidding.allow_force_push is False
    assert forbidding.code_owner_review is False
