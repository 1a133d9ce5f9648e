"""The planner's forge rules end to end: GitLabProvider reads, GitLabChangeRequests writes,
both through the real python-gitlab and requests against the fake GitLab on 127.0.0.1.

Created, unchanged, updated, blocked (one comment only), declined, closed when passing
(and only then), recreated after our own close, archived and read-only projects skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from governance.models import Waiver
from governance.policy import EnabledPolicy, discover
from governance.remediation.base import CLOSED_MARKER, Marker
from governance.remediation.plan import BLOCKED_MARKER, PlannedAction, apply, plan

fakes = pytest.importorskip("tests.fakes.gitlab")
gitlab_writer = pytest.importorskip("governance.remediation.gitlab")
gitlab_forge = fakes.gitlab_forge
__all__ = ["gitlab_forge"]  # the fixture, imported explicitly

FIXTURE_POLICIES = Path(__file__).resolve().parent / "policies_fixture"
WRITE_TOKEN = "glpat-write-token-00000000000"
BRANCH = "governance/fixture-notice"
PROJECT = "acme/app"


def notice(team: str = "platform") -> EnabledPolicy:
    policy = discover([FIXTURE_POLICIES])["fixture-notice"]
    return EnabledPolicy(policy, policy.definition.severity,
                         {**policy.definition.options, "team": team})


@pytest.fixture
def forge(gitlab_forge: Any) -> Any:
    gitlab_forge.add_group("acme")
    gitlab_forge.add_token(WRITE_TOKEN, scopes=("api",), access_level=30)
    gitlab_forge.add_project("acme", "app", files={"README.md": "# app\n"})
    return gitlab_forge


@pytest.fixture
def run(forge: Any, tmp_path: Path) -> Iterator[Callable[..., list[PlannedAction]]]:
    """One `governance fix gitlab:acme --apply` worth of planning and applying."""
    from governance.providers.gitlab import GitLabProvider

    writers: list[Any] = []
    counter = iter(range(1000))

    def fix(*, team: str = "platform", waivers: tuple[Waiver, ...] = (), write: bool = True
            ) -> list[PlannedAction]:
        provider = GitLabProvider("acme", token=WRITE_TOKEN, api_url=forge.url,
                                  cache_dir=tmp_path / f"cache-{next(counter)}", backoff=0.001)
        writer = gitlab_writer.GitLabChangeRequests(token=WRITE_TOKEN, url=forge.url,
                                                    min_write_gap=0)
        writers.append(writer)
        try:
            planned = plan(provider, provider.list_repos(), [notice(team)], writer,
                           waivers=waivers)
            return list(apply(planned, writer) if write else planned)
        finally:
            provider.close()

    yield fix
    for writer in writers:
        writer.close_session()


def only(actions: list[PlannedAction], repository: str = PROJECT) -> PlannedAction:
    (found,) = [a for a in actions if a.repository == repository]
    return found


def our_notes(forge: Any, iid: int) -> list[str]:
    (mr,) = [m for m in forge.merge_requests(PROJECT) if m.iid == iid]
    return [n.body for n in mr.notes if not n.system]


def test_create_then_unchanged_then_update(forge: Any, run: Any) -> None:
    created = only(run())

    assert (created.kind, created.applied) == ("create", True)
    (mr,) = forge.merge_requests(PROJECT)
    assert created.request is not None and created.request.number == mr.iid
    assert mr.source_branch == BRANCH and mr.target_branch == "main"
    assert mr.title == "Add a NOTICE.md"
    assert sorted(mr.labels) == ["governance", "governance:fixture-notice"]
    assert "Close this merge request: governance will not open it again" in mr.description
    assert created.proposal is not None
    assert Marker.parse(mr.description) == Marker(
        "fixture-notice", created.proposal.fingerprint(), "0.1.0")
    project = forge.project(PROJECT)
    main = project.branches["main"]
    assert project.commits[project.branches[BRANCH]].parents == [main]

    again = only(run())
    assert (again.kind, again.applied) == ("unchanged", False)
    assert len(forge.merge_requests(PROJECT)) == 1

    updated = only(run(team="security"))
    assert (updated.kind, updated.applied) == ("update", True)
    (mr,) = forge.merge_requests(PROJECT)
    assert updated.proposal is not None
    assert f"fingerprint={updated.proposal.fingerprint()}" in mr.description
    head = project.commits[project.branches[BRANCH]]
    assert head.parents == [main]  # one commit on the default head, not a second one
    assert head.message.endswith(f"Governance-Fix: fixture-notice "
                                 f"{updated.proposal.fingerprint()}\n")


def test_a_persons_push_blocks_with_one_comment_and_is_kept(forge: Any, run: Any) -> None:
    run()
    theirs = forge.push(PROJECT, {"NOTICE.md": "# app\n\nby Pat\n"}, branch=BRANCH,
                        message="Pat's wording")
    (mr,) = forge.merge_requests(PROJECT)

    first = only(run(team="security"))
    second = only(run(team="security"))

    assert first.kind == second.kind == "blocked"
    assert first.applied and not second.applied  # the comment is written once
    notes = our_notes(forge, mr.iid)
    assert len(notes) == 1 and "never overwritten" in notes[0]
    assert BLOCKED_MARKER in forge.merge_requests(PROJECT)[0].description
    assert forge.project(PROJECT).branches[BRANCH] == theirs


def test_a_request_closed_by_a_person_is_declined_not_reopened(forge: Any, run: Any) -> None:
    run()
    (mr,) = forge.merge_requests(PROJECT)
    forge.close_merge_request(PROJECT, mr.iid)

    action = only(run(team="security"))

    assert action.kind == "declined" and f"#{mr.iid} was closed by a person" in action.reason
    assert [m.state for m in forge.merge_requests(PROJECT)] == ["closed"]


def test_close_only_on_pass_then_a_new_request_when_the_violation_returns(
        forge: Any, run: Any) -> None:
    run()
    waiver = Waiver("*", "fixture-notice", "vendored", "platform", None)
    assert only(run(waivers=(waiver,))).kind == "skip"  # waived is not passing
    assert forge.merge_requests(PROJECT)[0].state == "opened"

    forge.push(PROJECT, {"NOTICE.md": "by hand\n"}, message="fixed by hand")
    closed = only(run())

    assert (closed.kind, closed.applied) == ("close", True)
    (mr,) = forge.merge_requests(PROJECT)
    assert mr.state == "closed" and CLOSED_MARKER in mr.description
    assert "passes on the default branch" in our_notes(forge, mr.iid)[0]
    assert BRANCH not in forge.project(PROJECT).branches

    forge.push(PROJECT, {}, delete=["NOTICE.md"], message="notice dropped")
    back = only(run())

    assert (back.kind, back.applied) == ("create", True)
    assert "closed by governance and the violation is back" in back.reason
    assert [m.state for m in forge.merge_requests(PROJECT)] == ["closed", "opened"]


def test_archived_and_read_only_projects_are_skipped_unread(forge: Any, run: Any) -> None:
    forge.add_project("acme", "old", archived=True)
    forge.add_project("acme", "theirs", forked=True)

    actions = run()

    assert only(actions, "acme/old").kind == "skip"
    assert "archived" in only(actions, "acme/old").reason
    assert only(actions, "acme/theirs").kind == "skip"
    assert "fork" in only(actions, "acme/theirs").reason
    assert forge.merge_requests("acme/old") == forge.merge_requests("acme/theirs") == []


# -- GitHub: the same rules through GitHubProvider, GitHubChangeRequests and PyGithub ------

github_fakes = pytest.importorskip("tests.fakes.github")
github_writer = pytest.importorskip("governance.remediation.github")
github_forge = github_fakes.github_forge
__all__ += ["github_forge"]


@pytest.fixture
def hub(github_forge: Any) -> Any:
    github_forge.add_repo("acme", "app", {"README.md": "# app\n"})
    return github_forge


@pytest.fixture
def run_github(hub: Any, tmp_path: Path) -> Iterator[Callable[..., list[PlannedAction]]]:
    from governance.providers.github import GitHubProvider

    writers: list[Any] = []
    counter = iter(range(1000))

    def fix(*, team: str = "platform") -> list[PlannedAction]:
        provider = GitHubProvider("acme", token=github_fakes.DEFAULT_TOKEN, api_url=hub.url,
                                  cache_dir=tmp_path / f"cache-{next(counter)}", backoff=0.001)
        writer = github_writer.GitHubChangeRequests(token=github_fakes.DEFAULT_TOKEN,
                                                    api_url=hub.url, min_write_gap=0)
        writers.append(writer)
        try:
            planned = plan(provider, provider.list_repos(), [notice(team)], writer)
            return list(apply(planned, writer))
        finally:
            provider.close()

    yield fix
    for writer in writers:
        writer.close_session()


def test_github_create_unchanged_blocked_once(hub: Any, run_github: Any) -> None:
    created = only(run_github())

    assert (created.kind, created.applied) == ("create", True)
    (pull,) = hub.pulls("acme", "app")
    assert (pull.head, pull.base, pull.state) == (BRANCH, "main", "open")
    assert sorted(pull.labels) == ["governance", "governance:fixture-notice"]
    assert created.proposal is not None
    assert f"fingerprint={created.proposal.fingerprint()}" in (pull.body or "")
    assert only(run_github()).kind == "unchanged"

    theirs = hub.push("acme", "app", {"NOTICE.md": "by Pat\n"}, branch=BRANCH)
    first, second = only(run_github(team="security")), only(run_github(team="security"))

    assert (first.kind, first.applied, second.kind, second.applied) == (
        "blocked", True, "blocked", False)
    (pull,) = hub.pulls("acme", "app")
    assert len(pull.comments) == 1 and "never overwritten" in pull.comments[0].body
    assert hub.repo("acme", "app").branches[BRANCH] == theirs


def test_github_declined_when_a_person_closes_and_new_after_a_merge(
        hub: Any, run_github: Any) -> None:
    run_github()
    (pull,) = hub.pulls("acme", "app")
    hub.close_pull("acme", "app", pull.number)

    declined = only(run_github(team="security"))
    assert declined.kind == "declined" and not declined.applied
    assert [p.state for p in hub.pulls("acme", "app")] == ["closed"]

    hub.close_pull("acme", "app", pull.number, merged=True)  # reopened and merged by a person
    hub.push("acme", "app", {"NOTICE.md": None}, message="notice dropped again")
    again = only(run_github())
    assert (again.kind, again.applied) == ("create", True)
    assert "was merged but the violation is back" in again.reason
