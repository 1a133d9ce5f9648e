"""The remediation planner and applier on real git checkouts (LocalChangeRequests).

The fixable policy is tests/policies_fixture/fixture-notice (a NOTICE.md from a template;
a NOTICE.txt needs a person; a CRASH file crashes its fixer).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from governance.demo import make_repo
from governance.fixes import FileChange
from governance.models import RepoRef, Waiver
from governance.policy import EnabledPolicy, discover
from governance.providers.local import LocalProvider
from governance.remediation.base import WriteRefused, commit_message
from governance.remediation.local import LocalChangeRequests
from governance.remediation.plan import PlannedAction, apply, cap, plan

FIXTURE_POLICIES = Path(__file__).resolve().parent / "policies_fixture"
BRANCH = "governance/fixture-notice"
PERSON = {
    "GIT_AUTHOR_NAME": "Pat Person", "GIT_AUTHOR_EMAIL": "pat@example.invalid",
    "GIT_COMMITTER_NAME": "Pat Person", "GIT_COMMITTER_EMAIL": "pat@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True,
                          env={**os.environ, **PERSON})
    return done.stdout.decode()


def notice(team: str = "platform") -> EnabledPolicy:
    policy = discover([FIXTURE_POLICIES])["fixture-notice"]
    return EnabledPolicy(policy, policy.definition.severity,
                         {**policy.definition.options, "team": team})


def run_plan(source: Path, *, team: str = "platform", waivers: Sequence[Waiver] = ()
             ) -> list[PlannedAction]:
    provider = LocalProvider(source)
    return list(plan(provider, provider.list_repos(), [notice(team)], LocalChangeRequests(),
                     waivers=waivers))


def run_apply(source: Path, *, team: str = "platform", max_prs: int | None = None
              ) -> list[PlannedAction]:
    provider = LocalProvider(source)
    writer = LocalChangeRequests()
    planned = plan(provider, provider.list_repos(), [notice(team)], writer)
    return list(apply(planned, writer, max_prs=max_prs))


def checkout_state(repo: Path) -> dict[str, Any]:
    """Everything a fix must leave alone: HEAD, the branch checked out, index, work tree."""
    files = sorted(str(p.relative_to(repo)) for p in repo.rglob("*") if ".git" not in p.parts)
    index = repo / git(repo, "rev-parse", "--git-path", "index").strip()
    return {
        "head": git(repo, "rev-parse", "HEAD"),
        "branch": git(repo, "symbolic-ref", "HEAD"),
        "main": git(repo, "rev-parse", "refs/heads/main"),
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "index": hashlib.sha256(index.read_bytes()).hexdigest(),
        "files": files,
        "contents": {f: (repo / f).read_bytes() for f in files if (repo / f).is_file()},
    }


def dirty_repo(path: Path, files: Mapping[str, str] | None = None) -> Path:
    """A checkout with work in progress: an unstaged edit, a staged file, an untracked one."""
    repo = make_repo(path, files or {"README.md": "# app\n"})
    (repo / "README.md").write_text("# app\n\nwork in progress\n")
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / "scratch.txt").write_text("untracked\n")
    return repo


def one(actions: list[PlannedAction], repository: str | None = None) -> PlannedAction:
    found = [a for a in actions if repository is None or a.repository == repository]
    assert len(found) == 1, found
    return found[0]


def branch_head(repo: Path) -> str:
    return git(repo, "rev-parse", f"refs/heads/{BRANCH}").strip()


def has_branch(repo: Path) -> bool:
    return bool(git(repo, "for-each-ref", f"refs/heads/{BRANCH}").strip())


def test_plan_proposes_a_create_with_its_diff_and_writes_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    refs_before = git(repo, "for-each-ref")

    action = one(run_plan(repo))

    assert action.kind == "create"
    assert action.branch == BRANCH and action.request is None
    assert action.base == git(repo, "rev-parse", "HEAD").strip()
    assert action.proposal is not None
    assert action.proposal.diff() == (
        "--- /dev/null\n+++ b/NOTICE.md\n@@ -0,0 +1,3 @@\n"
        "+# app\n+\n+Owned by the platform team.\n")
    assert action.labels == ("governance", "governance:fixture-notice")
    assert "- names platform as the owning team\n- `NOTICE.md`: created (+3 -0)" in action.body
    assert "Close this pull request: governance will not open it again" in action.body
    assert f"fingerprint={action.proposal.fingerprint()}" in action.body
    assert "Commit a NOTICE.md" in action.body  # the remediation from policy.yml
    assert git(repo, "for-each-ref") == refs_before


def test_apply_commits_on_the_branch_and_leaves_the_checkout_alone(tmp_path: Path) -> None:
    repo = dirty_repo(tmp_path / "app")
    before = checkout_state(repo)
    main = before["main"].strip()

    action = one(run_apply(repo))

    assert (action.kind, action.applied) == ("create", True)
    assert checkout_state(repo) == before
    assert git(repo, "rev-list", "--count", f"main..{BRANCH}").strip() == "1"
    assert git(repo, "rev-parse", f"{BRANCH}^").strip() == main
    assert git(repo, "show", f"{BRANCH}:NOTICE.md") == "# app\n\nOwned by the platform team.\n"
    # The rest of the tree is the committed one, not the work in progress.
    assert git(repo, "show", f"{BRANCH}:README.md") == "# app\n"
    assert git(repo, "ls-tree", "--name-only", BRANCH).split() == ["NOTICE.md", "README.md"]
    assert action.proposal is not None
    assert git(repo, "log", "-1", "--format=%B", BRANCH) == commit_message(
        "fixture-notice", "Add a NOTICE.md", action.proposal.fingerprint()) + "\n"


def test_a_second_apply_leaves_the_branch_unchanged(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    run_apply(repo)
    head = branch_head(repo)

    action = one(run_apply(repo))

    assert (action.kind, action.applied) == ("unchanged", False)
    assert branch_head(repo) == head


def test_a_changed_fix_moves_the_branch_to_one_new_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    run_apply(repo)
    first = branch_head(repo)

    action = one(run_apply(repo, team="security"))

    assert (action.kind, action.applied) == ("update", True)
    assert action.replace == first
    assert git(repo, "rev-list", "--count", f"main..{BRANCH}").strip() == "1"
    assert git(repo, "rev-parse", f"{BRANCH}^").strip() == git(repo, "rev-parse", "main").strip()
    assert "security team" in git(repo, "show", f"{BRANCH}:NOTICE.md")


def test_a_persons_commit_on_the_branch_blocks_and_is_never_overwritten(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    run_apply(repo)
    git(repo, "checkout", "--quiet", BRANCH)
    (repo / "NOTICE.md").write_text("# app\n\nOwned by Pat.\n")
    git(repo, "commit", "--quiet", "-am", "Pat's own wording")
    git(repo, "checkout", "--quiet", "main")
    theirs = branch_head(repo)

    for team in ("platform", "security"):  # the same fix and a changed one
        action = one(run_apply(repo, team=team))
        assert action.kind == "blocked"
        assert "1 commit(s) by Pat Person <pat@example.invalid>" in action.reason
        assert action.comment is None  # a local branch has nowhere to hold a comment
        assert branch_head(repo) == theirs


def test_a_passing_policy_closes_and_deletes_our_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    run_apply(repo)
    (repo / "NOTICE.md").write_text("# app\n\nWritten by hand.\n")
    git(repo, "add", "NOTICE.md")
    git(repo, "commit", "--quiet", "-m", "fixed by hand")
    before = checkout_state(repo)

    planned = one(run_plan(repo))
    assert planned.kind == "close" and has_branch(repo)
    assert planned.comment and "passes on the default branch" in planned.comment

    action = one(run_apply(repo))
    assert (action.kind, action.applied) == ("close", True)
    assert not has_branch(repo)
    assert checkout_state(repo) == before
    assert one(run_apply(repo)).kind == "skip"  # nothing left to do


def test_only_a_pass_closes_a_waived_policy_keeps_the_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    run_apply(repo)
    waiver = Waiver("*", "fixture-notice", "a vendored mirror", "platform", None)

    action = one(run_plan(repo, waivers=[waiver]))

    assert action.kind == "skip" and action.reason.startswith("waived:")
    assert has_branch(repo)


def test_a_person_committing_on_the_branch_keeps_it_even_when_passing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    run_apply(repo)
    git(repo, "checkout", "--quiet", BRANCH)
    (repo / "CHANGELOG.md").write_text("notes\n")
    git(repo, "add", "CHANGELOG.md")
    git(repo, "commit", "--quiet", "-m", "Pat adds a changelog")
    git(repo, "checkout", "--quiet", "main")
    (repo / "NOTICE.md").write_text("by hand\n")
    git(repo, "add", "NOTICE.md")
    git(repo, "commit", "--quiet", "-m", "fixed by hand")
    theirs = branch_head(repo)

    action = one(run_apply(repo))

    assert action.kind == "skip" and "left for them" in action.reason
    assert branch_head(repo) == theirs


def test_the_violation_back_after_a_merge_gets_a_new_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    run_apply(repo)
    git(repo, "merge", "--quiet", "--ff-only", BRANCH)  # a person merges our branch
    git(repo, "rm", "--quiet", "NOTICE.md")
    git(repo, "commit", "--quiet", "-m", "drop the notice")

    action = one(run_apply(repo))

    assert (action.kind, action.applied) == ("update", True)
    assert git(repo, "rev-parse", f"{BRANCH}^").strip() == git(repo, "rev-parse", "main").strip()
    assert git(repo, "show", f"{BRANCH}:NOTICE.md").startswith("# app")


def test_max_prs_limits_creates_and_reports_the_rest(tmp_path: Path) -> None:
    org = tmp_path / "org"
    names = ("a", "b", "c", "d")
    for name in names:
        make_repo(org / name, {"README.md": f"# {name}\n"})

    actions = run_apply(org, max_prs=2)

    assert [(a.repository, a.kind, a.applied) for a in actions] == [
        ("org/a", "create", True), ("org/b", "create", True), ("org/c", "skip", False),
        ("org/d", "skip", False)]
    assert actions[2].reason == "max-prs reached (2): would create"
    assert [has_branch(org / n) for n in names] == [True, True, False, False]
    # A plan counts the same way without writing; unchanged requests do not count.
    provider = LocalProvider(org)
    planned = list(cap(plan(provider, provider.list_repos(), [notice()],
                            LocalChangeRequests()), 1))
    assert [a.kind for a in planned] == ["unchanged", "unchanged", "create", "skip"]
    assert [has_branch(org / n) for n in names] == [True, True, False, False]


def test_needs_person_and_a_crashing_fixer_do_not_stop_the_run(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "a-crash", {"CRASH": "yes\n"})
    make_repo(org / "b-text", {"NOTICE.txt": "old notice\n"})
    make_repo(org / "c-fine", {"README.md": "# c\n"})

    actions = {a.repository: a for a in run_apply(org)}

    assert actions["org/a-crash"].kind == "error"
    assert "the fixer crashed: RuntimeError: boom from the fixture fixer" in (
        actions["org/a-crash"].reason)
    assert actions["org/b-text"].kind == "needs-person"
    assert "merge it into NOTICE.md by hand" in actions["org/b-text"].reason
    assert (actions["org/c-fine"].kind, actions["org/c-fine"].applied) == ("create", True)
    assert not has_branch(org / "a-crash") and not has_branch(org / "b-text")


def test_a_branch_created_between_plan_and_apply_is_refused_not_overwritten(
        tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    provider = LocalProvider(repo)
    writer = LocalChangeRequests()
    planned = list(plan(provider, provider.list_repos(), [notice()], writer))
    git(repo, "branch", BRANCH)  # a person, in between
    theirs = branch_head(repo)

    action = one(list(apply(planned, writer)))

    assert action.kind == "blocked" and "was created since it was read" in action.reason
    assert branch_head(repo) == theirs


def test_a_detached_head_is_skipped_with_the_reason(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    git(repo, "checkout", "--quiet", "--detach")

    action = one(run_plan(repo))

    assert action.kind == "skip" and "detached" in action.reason


# -- the writer on its own ---------------------------------------------------------------

def local_ref(repo: Path) -> RepoRef:
    return next(LocalProvider(repo).list_repos())


def test_commit_writes_deletions_and_executable_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n", "old.txt": "x\n"})
    ref = local_ref(repo)
    writer = LocalChangeRequests()
    base = writer.default_head(ref)
    changes = [FileChange("old.txt", None, b"x\n"),
               FileChange("bin/run.sh", b"#!/bin/sh\necho hi\n", executable=True)]

    sha = writer.commit(ref, BRANCH, base, changes, commit_message("fixture-notice", "t", "ab"))

    listing = git(repo, "ls-tree", "-r", sha)
    assert "old.txt" not in listing
    assert "100755 blob" in listing and "bin/run.sh" in listing
    branch = writer.branch(ref, BRANCH)
    assert branch is not None and branch.head == sha
    assert [c.sha for c in branch.commits] == [sha] and not branch.foreign
    found = writer.find(ref, BRANCH)
    assert found is not None and found.state == "open" and found.number == 0
    assert found.marker is not None and found.marker.fingerprint == "ab"


@pytest.mark.parametrize("name", ["main", "feature"])
def test_commit_refuses_the_default_and_the_checked_out_branch(tmp_path: Path, name: str
                                                                ) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    git(repo, "checkout", "--quiet", "-b", "feature")
    ref = RepoRef("local", "app", str(repo), default_branch="main")
    writer = LocalChangeRequests()
    head = git(repo, "rev-parse", "HEAD").strip()

    with pytest.raises(WriteRefused):
        writer.commit(ref, name, head, [FileChange("x", b"x")], "m", replace=head)

    assert git(repo, "rev-parse", name).strip() == head


def test_commit_refuses_a_moved_branch_and_paths_outside_the_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    ref = local_ref(repo)
    writer = LocalChangeRequests()
    base = writer.default_head(ref)
    first = writer.commit(ref, BRANCH, base, [FileChange("a", b"1")], "one")

    with pytest.raises(WriteRefused, match="moved"):
        writer.commit(ref, BRANCH, base, [FileChange("a", b"2")], "two", replace=base)
    for path in ("../escape", ".git/config", "/etc/passwd", "a/./b", "a//b", "A/.GIT/x"):
        with pytest.raises(WriteRefused, match="not a path inside"):
            writer.commit(ref, BRANCH, base, [FileChange(path, b"x")], "bad", replace=first)

    assert branch_head(repo) == first


def test_close_deletes_only_a_branch_whose_head_is_ours(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    ref = local_ref(repo)
    writer = LocalChangeRequests()
    git(repo, "branch", BRANCH)  # a person's branch of that name
    request = writer.find(ref, BRANCH)
    assert request is not None and request.marker is None

    with pytest.raises(WriteRefused, match="not a governance commit"):
        writer.close(ref, request, "")

    assert has_branch(repo)


def test_a_linked_worktree_is_written_through_the_shared_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "app", {"README.md": "# app\n"})
    git(repo, "worktree", "add", "--quiet", "-b", "topic", str(tmp_path / "topic"))
    before = checkout_state(tmp_path / "topic")

    action = one(run_apply(tmp_path / "topic"))

    assert (action.kind, action.applied) == ("create", True)
    assert git(repo, "rev-parse", f"{BRANCH}^") == git(repo, "rev-parse", "topic")
    assert checkout_state(tmp_path / "topic") == before
