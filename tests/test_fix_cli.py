"""`governance fix` through cli.main() on real git checkouts (local: sources)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from governance.demo import make_repo
from governance.resources import policies_folder

BRANCH = "governance/fixture-notice"


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True,
                          env=env).stdout.decode()


def has_branch(repo: Path, branch: str = BRANCH) -> bool:
    return bool(git(repo, "for-each-ref", f"refs/heads/{branch}").strip())


@pytest.fixture
def org(tmp_path: Path, write_config: Callable[..., Path]) -> Path:
    """./governance.yml with the fixture-fix pack; org/app fails, org/lib passes."""
    write_config(pack="fixture-fix")
    root = tmp_path / "org"
    make_repo(root / "app", {"README.md": "# app\n"})
    make_repo(root / "lib", {"README.md": "# lib\n", "NOTICE.md": "by hand\n"})
    return root


def test_the_plan_prints_actions_with_the_diff_and_writes_nothing(cli: Any, org: Path) -> None:
    result = cli("fix", "local:org", "--policy", "fixture-notice")

    assert result.code == 0, result.text
    lines = result.out.splitlines()
    assert lines[0] == ("create  org/app  fixture-notice: no pull request yet: open one from "
                        f"{BRANCH}")
    assert "    +++ b/NOTICE.md" in lines
    assert "    +Owned by the platform team." in lines
    assert "skip  org/lib  fixture-notice: passes: nothing to fix" in lines
    assert lines[-1] == ("plan: 1 create, 1 skip (a plan: nothing was written; --apply "
                         "carries it out)")
    assert not has_branch(org / "app")


def test_apply_creates_the_branch_and_a_second_run_leaves_it(cli: Any, org: Path) -> None:
    status = git(org / "app", "status", "--porcelain")

    first = cli("fix", "local:org", "--policy", "fixture-notice", "--apply")

    assert first.code == 0, first.text
    assert first.out.startswith("create (done)  org/app  fixture-notice")
    assert git(org / "app", "rev-parse", f"{BRANCH}^") == git(org / "app", "rev-parse", "main")
    assert git(org / "app", "status", "--porcelain") == status
    assert git(org / "app", "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    head = git(org / "app", "rev-parse", BRANCH)

    second = cli("fix", "local:org", "--policy", "fixture-notice", "--apply")

    assert second.code == 0, second.text
    assert second.out.startswith("unchanged  org/app  fixture-notice: branch "
                                 f"{BRANCH} already carries this fix")
    assert git(org / "app", "rev-parse", BRANCH) == head


def test_json_output_has_the_documented_shape(cli: Any, org: Path) -> None:
    result = cli("fix", "local:org", "--policy", "fixture-notice", "--policy",
                 "fixture-behaviour", "--format", "json", "--apply")

    assert result.code == 0, result.text
    document = json.loads(result.out)
    assert set(document) == {"tool_version", "source", "applied", "policies", "without_fixer",
                             "max_prs", "counts", "actions"}
    assert document["applied"] is True and document["source"] == "local:org"
    assert document["policies"] == ["fixture-notice", "fixture-behaviour"]
    assert document["without_fixer"] == ["fixture-behaviour"]
    assert document["counts"] == {"create": 1, "skip": 1}
    created, skipped = document["actions"]
    assert set(created) == {"repository", "policy", "action", "reason", "branch", "applied",
                            "title", "fingerprint", "files", "diff", "request"}
    assert created["repository"] == "org/app" and created["action"] == "create"
    assert created["applied"] is True and created["branch"] == BRANCH
    assert created["files"] == [{"path": "NOTICE.md", "change": "create"}]
    assert created["diff"].startswith("--- /dev/null\n+++ b/NOTICE.md\n")
    assert created["request"] == {"number": 0, "url": (org / "app").resolve().as_uri(),
                                  "state": "open"}
    assert len(created["fingerprint"]) == 16
    assert skipped["action"] == "skip" and skipped["diff"] is None
    assert skipped["request"] is None and skipped["files"] == []


def test_max_prs_leaves_the_rest_for_the_next_run(cli: Any, org: Path) -> None:
    make_repo(org / "web", {"README.md": "# web\n"})

    result = cli("fix", "local:org", "--policy", "fixture-notice", "--apply", "--max-prs", "1",
                 "--format", "json")

    assert result.code == 0, result.text
    actions = {a["repository"]: a for a in json.loads(result.out)["actions"]}
    assert actions["org/app"]["action"] == "create" and actions["org/app"]["applied"]
    assert actions["org/web"]["action"] == "skip"
    assert actions["org/web"]["reason"] == "max-prs reached (1): would create"
    assert has_branch(org / "app") and not has_branch(org / "web")


def test_a_policy_without_a_fixer_says_so(cli: Any, org: Path) -> None:
    result = cli("fix", "local:org", "--policy", "fixture-behaviour")

    assert result.code == 0, result.text
    assert "policy fixture-behaviour has no fixer (no fix.py): nothing to plan for it" in (
        result.text)
    assert result.out.strip() == "plan: nothing (a plan: nothing was written; --apply " \
                                 "carries it out)"


def test_a_crashing_fixer_makes_the_run_partial(cli: Any, org: Path) -> None:
    make_repo(org / "broken", {"CRASH": "yes\n"})

    result = cli("fix", "local:org", "--policy", "fixture-notice", "--apply")

    assert result.code == 3, result.text
    assert "error  org/broken  fixture-notice: the fixer crashed" in result.out
    assert "partial run: 1 action(s) ended in error" in result.text
    assert has_branch(org / "app")  # the other repositories were still fixed


@pytest.mark.parametrize(("args", "message"), [
    (("--policy", "fixture-notise"), "unknown policy 'fixture-notise'; did you mean "
                                     "'fixture-notice'?"),
    (("--policy", "fixture-workflow-yaml"), "'fixture-workflow-yaml' is not enabled by the "
                                            "pack 'fixture-fix'"),
    ((), "name at least one policy with --policy ID"),
    (("--policy", "fixture-notice", "--format", "yaml"), "expected text or json"),
    (("--policy", "fixture-notice", "--max-prs", "0"), "--max-prs"),
])
def test_bad_usage_exits_2(cli: Any, org: Path, args: tuple[str, ...], message: str) -> None:
    result = cli("fix", "local:org", *args)

    assert result.code == 2, result.text
    assert message in result.text
    assert not has_branch(org / "app")


def test_a_gitlab_group_gets_merge_requests_and_the_token_stays_secret(
        cli: Any, tmp_path: Path, write_config: Callable[..., Path]) -> None:
    fakes = pytest.importorskip("tests.fakes.gitlab")
    forge = fakes.FakeGitLab().start()
    try:
        secret = "glpat-secret-write-token-42"
        forge.add_group("acme")
        forge.add_token(secret, scopes=("api",), access_level=30)
        forge.add_project("acme", "app", files={"README.md": "# app\n"})
        forge.add_project("acme", "old", archived=True)
        write_config(pack="fixture-fix")
        env = {"GITLAB_TOKEN": secret, "XDG_CACHE_HOME": str(tmp_path / "xdg")}

        result = cli("fix", "gitlab:acme", "--policy", "fixture-notice", "--apply",
                     "--gitlab-url", forge.url, "--format", "json", env=env)

        assert result.code == 0, result.text
        assert secret not in result.out + result.err
        actions = {a["repository"]: a for a in json.loads(result.out)["actions"]}
        assert actions["acme/old"]["action"] == "skip"
        created = actions["acme/app"]
        assert (created["action"], created["applied"]) == ("create", True)
        (mr,) = forge.merge_requests("acme/app")
        assert created["request"]["number"] == mr.iid and created["request"]["state"] == "open"
        assert mr.source_branch == BRANCH and mr.state == "opened"
        assert forge.merge_requests("acme/old") == []
    finally:
        forge.stop()


@pytest.mark.skipif(not (policies_folder() / "security-policy-present" / "fix.py").is_file(),
                    reason="the security-policy-present fixer is not there yet")
def test_the_bundled_security_policy_fixer_end_to_end(cli: Any, tmp_path: Path) -> None:
    (tmp_path / "governance.yml").write_text(
        "pack: gitops-baseline\npolicies:\n  security-policy-present:\n    enabled: true\n"
        "    options: {contact: security@example.invalid}\n")
    repo = make_repo(tmp_path / "svc", {"README.md": "# svc\n"})

    planned = cli("fix", "local:svc", "--policy", "security-policy-present")
    assert planned.code == 0, planned.text
    assert planned.out.startswith("create  svc  security-policy-present")
    assert "+++ b/SECURITY.md" in planned.out

    applied = cli("fix", "local:svc", "--policy", "security-policy-present", "--apply")
    assert applied.code == 0, applied.text
    branch = "governance/security-policy-present"
    assert git(repo, "rev-list", "--count", f"main..{branch}").strip() == "1"
    assert "SECURITY.md" in git(repo, "ls-tree", "--name-only", branch).split()
    assert "security@example.invalid" in git(repo, "show", f"{branch}:SECURITY.md")
    assert git(repo, "ls-tree", "--name-only", "main").split() == ["README.md"]


def test_help_lists_the_options(cli: Any) -> None:
    result = cli("fix", "--help")

    assert result.code == 0, result.text
    for option in ("--policy", "--apply", "--format", "--max-prs", "--gitlab-url"):
        assert option in result.text
