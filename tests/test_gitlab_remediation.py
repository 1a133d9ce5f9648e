"""GitLab merge requests (governance/remediation/gitlab.py) against the fake GitLab.

The real python-gitlab client talks HTTP to tests/fakes/gitlab.py on 127.0.0.1; commits
are checked in the fake's own state (real git SHA-1s from tests/fakes/gitobjects.py), and
request budgets with the fake's accounting.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

gitlab: Any = pytest.importorskip("gitlab")  # python-gitlab
pytest.importorskip("werkzeug")

from governance.errors import ConfigError  # noqa: E402
from governance.fixes import FileChange  # noqa: E402
from governance.models import RepoRef  # noqa: E402
from governance.remediation.base import (  # noqa: E402
    CLOSED_MARKER,
    ChangeRequest,
    Marker,
    WriteRefused,
    commit_message,
    is_ours,
)
from governance.remediation.gitlab import GitLabChangeRequests  # noqa: E402
from tests.fakes.gitlab import FakeGitLab, gitlab_forge  # noqa: E402
from tests.fakes.gitobjects import build_snapshot  # noqa: E402

__all__ = ["gitlab_forge"]  # the fixture, imported explicitly

WRITER = "glpat-writer-token-00000000001"  # api scope, Developer
MAINTAINER = "glpat-maintainer-token-000000001"  # api scope, Maintainer
READER = "glpat-reader-token-00000000001"  # read_api scope only, Developer
REPORTER = "glpat-reporter-token-0000000001"  # api scope, Reporter
BRANCH = "governance/security-policy"
LOGO = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfebinary"
FILES: dict[str, str | bytes] = {
    "README.md": "# api\n",
    "old.txt": "obsolete\n",
    "src/app.py": "print('hi')\n",
}


@pytest.fixture
def forge(gitlab_forge: FakeGitLab) -> FakeGitLab:
    f = gitlab_forge
    f.add_token(WRITER, scopes=("api",), access_level=30)
    f.add_token(MAINTAINER, scopes=("api",), access_level=40)
    f.add_token(READER, scopes=("read_api",), access_level=30)
    f.add_token(REPORTER, scopes=("api",), access_level=20)
    f.add_project("acme", "api", files=FILES)
    f.protect_branch("acme/api", "main", push_access_level=40)
    return f


@pytest.fixture
def writer(forge: FakeGitLab) -> GitLabChangeRequests:
    return GitLabChangeRequests(token=WRITER, url=forge.url, min_write_gap=0)


def ref(forge: FakeGitLab, name: str = "acme/api") -> RepoRef:
    return RepoRef("gitlab", name, f"{forge.url}/{name}", default_branch="main")


def ours(title: str = "Add a security policy") -> str:
    return commit_message("security-policy", title, "0123456789abcdef")


CHANGES = (
    FileChange("SECURITY.md", b"# Security\n\nReport to security@example.com\n"),
    FileChange("README.md", b"# api\n\nSee SECURITY.md\n", previous=b"# api\n"),
    FileChange("old.txt", None, previous=b"obsolete\n"),
    FileChange("assets/logo.png", LOGO),
    FileChange("scripts/check.sh", b"#!/bin/sh\nexit 0\n", executable=True),
)


def body(fingerprint: str = "0123456789abcdef") -> str:
    marker = Marker("security-policy", fingerprint, "1.0.0").comment()
    return f"Adds SECURITY.md.\n\n{marker}"


# --------------------------------------------------------------------------- commits


def test_commit_lands_as_one_commit_on_a_new_branch(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    assert base == forge.project("acme/api").branches["main"]
    forge.reset_counts()

    sha = writer.commit(repo, BRANCH, base, CHANGES, ours())

    project = forge.project("acme/api")
    assert project.branches[BRANCH] == sha
    assert project.branches["main"] == base  # the default branch is untouched
    commit = project.commits[sha]
    assert commit.parents == [base]
    assert is_ours(commit.message) and commit.author.name == "Governance Bot"
    expected = build_snapshot(
        {"README.md": b"# api\n\nSee SECURITY.md\n", "src/app.py": b"print('hi')\n",
         "SECURITY.md": CHANGES[0].content or b"", "assets/logo.png": LOGO,
         "scripts/check.sh": b"#!/bin/sh\nexit 0\n"},
        {"scripts/check.sh": "100755"})
    assert commit.tree == expected.root  # every byte and mode, binary and executable too
    assert forge.count(method="POST", path="/projects/*/repository/commits") == 1
    assert forge.count() == 1  # the project and the default branch were read already


def test_commit_refuses_the_default_branch_and_foreign_names(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    for branch in ("main", "feature/x", "governance"):
        with pytest.raises(WriteRefused, match="never to the default branch"):
            writer.commit(repo, branch, base, CHANGES, ours())
    assert forge.count(method="POST") == 0


def test_replace_moves_our_branch_but_never_over_a_person(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    first = writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    # Our own head: replaced by one new commit on the base (a force push of our commit).
    second = writer.commit(repo, BRANCH, base, CHANGES[:2], ours("Add it again"),
                           replace=first)
    project = forge.project("acme/api")
    assert project.branches[BRANCH] == second
    assert project.commits[second].parents == [base]

    person = forge.push("acme/api", {"SECURITY.md": "# mine\n"}, branch=BRANCH,
                        message="Tweak the policy")
    forge.reset_counts()
    with pytest.raises(WriteRefused, match="a person pushed"):
        writer.commit(repo, BRANCH, base, CHANGES[:1], ours(), replace=second)
    assert project.branches[BRANCH] == person
    assert forge.count(method="POST") == 0


def test_replace_refuses_a_branch_deleted_since_the_plan(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    first = writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    del forge.project("acme/api").branches[BRANCH]  # a person deletes it
    with pytest.raises(WriteRefused, match="was deleted"):
        writer.commit(repo, BRANCH, base, CHANGES[:1], ours(), replace=first)
    assert BRANCH not in forge.project("acme/api").branches


def test_a_new_branch_is_never_created_over_an_existing_one(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    person = forge.add_branch("acme/api", BRANCH)
    with pytest.raises(WriteRefused, match="already exists"):
        writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    assert forge.project("acme/api").branches[BRANCH] == person


def test_a_stale_proposal_is_refused_as_gitlab_does(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    with pytest.raises(WriteRefused, match="A file with this name already exists"):
        writer.commit(repo, BRANCH, base, [FileChange("README.md", b"new\n")], ours())
    with pytest.raises(WriteRefused, match="A file with this name doesn't exist"):
        writer.commit(repo, BRANCH, base,
                      [FileChange("MISSING.md", b"new\n", previous=b"old\n")], ours())
    assert BRANCH not in forge.project("acme/api").branches


def test_branch_lists_the_commits_a_person_added(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    assert writer.branch(repo, BRANCH) is None
    base = writer.default_head(repo)
    mine = writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    theirs = forge.push("acme/api", {"NOTES.md": "notes\n"}, branch=BRANCH, message="Notes")
    forge.push("acme/api", {"CHANGELOG.md": "x\n"}, message="Moves main ahead")
    forge.reset_counts()

    branch = writer.branch(repo, BRANCH)

    assert branch is not None and branch.head == theirs
    assert [c.sha for c in branch.commits] == [mine, theirs]  # main's new commit is not listed
    assert [c.sha for c in branch.foreign] == [theirs]
    assert branch.commits[0].author == "Governance Bot" and branch.commits[0].ours
    assert forge.count() == 2  # the branch, then the comparison


# --------------------------------------------------------------------------- merge requests


def test_open_find_update_and_comment(forge: FakeGitLab, writer: GitLabChangeRequests) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    forge.reset_counts()

    opened = writer.open(repo, BRANCH, "Add a security policy", body(), ["governance"])

    assert forge.count() == 1
    assert opened.state == "open" and opened.branch == BRANCH and opened.number == 1
    assert opened.url.endswith("/acme/api/-/merge_requests/1")
    assert opened.marker == Marker("security-policy", "0123456789abcdef", "1.0.0")
    [mr] = forge.merge_requests("acme/api")
    assert (mr.target_branch, mr.labels, mr.remove_source_branch) == ("main", ["governance"],
                                                                      True)
    assert writer.find(repo, BRANCH) == opened

    writer.update(repo, opened, "Add a security policy (v2)", body("fedcba9876543210"))
    writer.comment(repo, opened, "Rebased on main.")
    assert mr.title == "Add a security policy (v2)" and "fedcba9876543210" in mr.description
    assert [n.body for n in mr.notes] == ["Rebased on main."]
    found = writer.find(repo, BRANCH)
    assert found is not None and found.marker is not None
    assert found.marker.fingerprint == "fedcba9876543210"
    assert writer.find(repo, "governance/other") is None


def test_open_adopts_the_request_that_won_a_race(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    iid = forge.open_merge_request("acme/api", BRANCH, title="Opened by another run")
    forge.reset_counts()

    adopted = writer.open(repo, BRANCH, "Add a security policy", body(), [])

    assert adopted.number == iid and adopted.state == "open"
    assert len(forge.merge_requests("acme/api")) == 1  # no duplicate
    assert forge.count(method="POST", path="/projects/*/merge_requests", status=409) == 1


def test_find_reports_the_newest_request_in_any_state(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    first = writer.open(repo, BRANCH, "Add a security policy", body(), [])
    forge.close_merge_request("acme/api", first.number)  # a person declines it

    declined = writer.find(repo, BRANCH)
    assert declined is not None and declined.number == first.number
    assert declined.state == "closed" and not declined.closed_by_us

    second = writer.open(repo, BRANCH, "Add a security policy", body(), [])
    assert second.number == 2
    assert writer.find(repo, BRANCH) == second


def test_close_comments_closes_with_the_marker_and_deletes_the_branch(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    opened = writer.open(repo, BRANCH, "Add a security policy", body(), [])
    forge.reset_counts()

    writer.close(repo, opened, "The violation is gone; closing.")

    [mr] = forge.merge_requests("acme/api")
    assert mr.state == "closed"
    assert mr.description.startswith(body()) and mr.description.rstrip().endswith(CLOSED_MARKER)
    assert [n.body for n in mr.notes if not n.system] == ["The violation is gone; closing."]
    assert BRANCH not in forge.project("acme/api").branches
    assert forge.count(method="PUT") == 1  # closed and marked in one write
    assert forge.count(method="DELETE", path="/projects/*/repository/branches/*") == 1
    found = writer.find(repo, BRANCH)
    assert found is not None and found.state == "closed" and found.closed_by_us


def test_close_keeps_a_branch_a_person_pushed_to(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    opened = writer.open(repo, BRANCH, "Add a security policy", body(), [])
    person = forge.push("acme/api", {"NOTES.md": "mine\n"}, branch=BRANCH, message="Mine")

    writer.close(repo, opened, "Closing.")

    assert forge.merge_requests("acme/api")[0].state == "closed"
    assert forge.project("acme/api").branches[BRANCH] == person
    assert forge.count(method="DELETE") == 0


# --------------------------------------------------------------------------- refusals


def test_writable_names_why_a_project_is_skipped(forge: FakeGitLab) -> None:
    forge.add_project("acme", "old", archived=True)
    forge.add_project("acme", "copy", forked=True)
    forge.add_project("acme", "blank", empty=True)
    writer = GitLabChangeRequests(token=WRITER, url=forge.url, min_write_gap=0)
    reasons = {name: writer.writable(ref(forge, f"acme/{name}"))
               for name in ("api", "old", "copy", "blank", "missing")}
    assert reasons["api"] is None
    assert "archived" in str(reasons["old"])
    assert "fork of upstream/copy" in str(reasons["copy"])
    assert "empty" in str(reasons["blank"])
    assert "not found" in str(reasons["missing"])

    reporter = GitLabChangeRequests(token=REPORTER, url=forge.url, min_write_gap=0)
    assert "Reporter" in str(reporter.writable(ref(forge)))
    assert "Developer" in str(reporter.writable(ref(forge)))
    assert forge.count(method="GET", path="/projects/acme/api") == 2  # once per client


def test_a_read_only_token_is_refused_with_the_scope_it_needs(
    forge: FakeGitLab, caplog: pytest.LogCaptureFixture
) -> None:
    reader = GitLabChangeRequests(token=READER, url=forge.url, min_write_gap=0)
    repo = ref(forge)
    with caplog.at_level(logging.DEBUG):
        base = reader.default_head(repo)
        with pytest.raises(WriteRefused) as refused:
            reader.commit(repo, BRANCH, base, CHANGES[:1], ours())
    assert "403" in refused.value.reason and "api scope" in refused.value.reason
    assert READER not in refused.value.reason and READER not in caplog.text
    assert BRANCH not in forge.project("acme/api").branches


def test_no_developer_role_is_refused(forge: FakeGitLab) -> None:
    reporter = GitLabChangeRequests(token=REPORTER, url=forge.url, min_write_gap=0)
    repo = ref(forge)
    base = reporter.default_head(repo)
    with pytest.raises(WriteRefused, match="Developer role"):
        reporter.commit(repo, BRANCH, base, CHANGES[:1], ours())


def test_the_fake_protects_the_default_branch(forge: FakeGitLab) -> None:
    """The fake enforces push rules, so a client that tried would be refused there too."""
    data = {"branch": "main", "commit_message": "direct",
            "actions": [{"action": "create", "file_path": "X.md", "content": "x"}]}
    developer = forge.client(WRITER).projects.get("acme/api", lazy=True)
    with pytest.raises(gitlab.GitlabCreateError) as refused:
        developer.commits.create(data)
    assert refused.value.response_code == 403
    maintainer = forge.client(MAINTAINER).projects.get("acme/api", lazy=True)
    assert maintainer.commits.create(data).id == forge.project("acme/api").branches["main"]
    with pytest.raises(gitlab.GitlabDeleteError) as deleting:
        maintainer.branches.delete("main")
    assert deleting.value.response_code == 400


def test_the_fake_keeps_one_open_request_per_source_branch(
    forge: FakeGitLab, writer: GitLabChangeRequests
) -> None:
    """GitLab's rules the adoption relies on: reopening (like opening) a second request
    from a branch with an open one is a 409; state and source_branch filter the list."""
    repo = ref(forge)
    writer.commit(repo, BRANCH, writer.default_head(repo), CHANGES[:1], ours())
    first = writer.open(repo, BRANCH, "First", body(), [])
    forge.close_merge_request("acme/api", first.number)
    writer.open(repo, BRANCH, "Second", body(), [])
    project = forge.client(WRITER).projects.get("acme/api", lazy=True)
    with pytest.raises(gitlab.GitlabUpdateError) as reopening:
        project.mergerequests.update(first.number, {"state_event": "reopen"})
    assert reopening.value.response_code == 409
    listed = project.mergerequests.list(state="opened", source_branch=BRANCH, get_all=True)
    assert [mr.title for mr in listed] == ["Second"]
    assert project.mergerequests.list(source_branch="governance/none", get_all=True) == []


# --------------------------------------------------------------------------- pacing


class Pace:
    """A clock that moves only when told, and a sleep that records and advances it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_writes_are_sequential_and_spaced(forge: FakeGitLab) -> None:
    pace = Pace()
    writer = GitLabChangeRequests(token=WRITER, url=forge.url, min_write_gap=1.5,
                                  sleep=pace.sleep, clock=pace.clock)
    repo = ref(forge)
    base = writer.default_head(repo)
    writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    assert pace.sleeps == []  # the first write does not wait
    opened = writer.open(repo, BRANCH, "Add a security policy", body(), [])
    pace.now += 0.5  # time passes between writes: only the rest is waited
    writer.comment(repo, opened, "Hello")
    assert pace.sleeps == [1.5, 1.0]
    writer.find(repo, BRANCH)  # reads do not wait
    assert pace.sleeps == [1.5, 1.0]


def test_a_429_is_waited_out(forge: FakeGitLab, writer: GitLabChangeRequests) -> None:
    repo = ref(forge)
    base = writer.default_head(repo)
    forge.inject_fault("429", "/projects/*/repository/commits", retry_after=0, method="POST")
    sha = writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    assert forge.project("acme/api").branches[BRANCH] == sha
    assert forge.count(False, method="POST", status=429) == 1
    assert forge.count(method="POST", status=201) == 1


# --------------------------------------------------------------------------- configuration


def test_from_environment(forge: FakeGitLab) -> None:
    env = {"GITLAB_TOKEN": WRITER, "GITLAB_URL": forge.url}
    writer = GitLabChangeRequests.from_environment(env, min_write_gap=0)
    assert writer.base_url == forge.url
    assert writer.writable(ref(forge)) is None
    with pytest.raises(ConfigError, match="GITLAB_TOKEN"):
        GitLabChangeRequests.from_environment({"GITLAB_URL": forge.url})
    with pytest.raises(ConfigError, match="CI job token"):
        GitLabChangeRequests.from_environment({"CI_JOB_TOKEN": "job", "CI_SERVER_URL": forge.url})
    with pytest.raises(ConfigError, match="must not carry credentials"):
        GitLabChangeRequests(token=WRITER, url="https://user:secret@gitlab.example.com")


def test_a_request_object_round_trips(forge: FakeGitLab, writer: GitLabChangeRequests) -> None:
    """ChangeRequest is what the planner keeps between calls: number, url, state, body."""
    repo = ref(forge)
    base = writer.default_head(repo)
    writer.commit(repo, BRANCH, base, CHANGES[:1], ours())
    opened = writer.open(repo, BRANCH, "T", body(), [])
    assert isinstance(opened, ChangeRequest) and opened.body == body()
