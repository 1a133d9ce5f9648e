"""The GitHub write side of remediation (governance/remediation/github.py) against the fake
GitHub (tests/fakes/github.py) on 127.0.0.1, with the real PyGithub.

What the fake holds after each write is checked directly (its commits, trees, refs and pull
requests carry real git SHAs); request counts come from its accounting.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("github")
pytest.importorskip("werkzeug")
jsonschema: Any = pytest.importorskip("jsonschema")

import requests  # noqa: E402
from github import GithubRetry  # noqa: E402

from governance.errors import ConfigError, Unsupported  # noqa: E402
from governance.fixes import FileChange  # noqa: E402
from governance.models import RepoRef  # noqa: E402
from governance.remediation.base import (  # noqa: E402
    CLOSED_MARKER,
    ChangeRequest,
    Marker,
    WriteRefused,
    commit_message,
)
from governance.remediation.github import (  # noqa: E402
    WORKFLOW_SCOPE,
    GitHubActionResolver,
    GitHubChangeRequests,
)
from tests.fakes.github import DEFAULT_TOKEN, FakeGitHub, generate_app_key, github_forge  # noqa: E402
from tests.test_fake_github import _validator, openapi  # noqa: E402

__all__ = ["github_forge", "openapi"]  # fixtures, imported explicitly

BRANCH = "governance/basics"
MARKER = Marker("basics", "0123456789abcdef", "1.0")
PNG = b"\x89PNG\r\n\x1a\n\x00\xffnot text"
FILES: dict[str, str | bytes] = {
    "README.md": "# api\n",
    "old.txt": "to be removed\n",
    "src/app.py": "print('hi')\n",
    ".github/workflows/ci.yml": "on: push\njobs: {}\n",
}
CHANGES = (
    FileChange("SECURITY.md", b"# Security\n\nMail security@acme.example.\n"),
    FileChange("README.md", b"# api\n\nNow documented.\n", b"# api\n"),
    FileChange("old.txt", None, b"to be removed\n"),
    FileChange("docs/logo.png", PNG),
    FileChange("tools/check.sh", b"#!/bin/sh\nexit 0\n", executable=True),
)


def ref(name: str = "acme/api") -> RepoRef:
    return RepoRef("github", name, f"https://github.example/{name}")


@pytest.fixture
def forge(github_forge: FakeGitHub) -> FakeGitHub:
    github_forge.add_org("acme")
    github_forge.add_repo("acme", "api", files=FILES)
    return github_forge


@pytest.fixture
def make_writer(forge: FakeGitHub) -> Iterator[Callable[..., GitHubChangeRequests]]:
    made: list[GitHubChangeRequests] = []

    def make(**options: Any) -> GitHubChangeRequests:
        if "app_id" not in options:
            options.setdefault("token", DEFAULT_TOKEN)
        options.setdefault("api_url", forge.url)
        options.setdefault("min_write_gap", 0)
        writer = GitHubChangeRequests(**options)
        made.append(writer)
        return writer

    yield make
    for writer in made:
        writer.close_session()


@pytest.fixture
def writer(make_writer: Callable[..., GitHubChangeRequests]) -> GitHubChangeRequests:
    return make_writer()


def writes(forge: FakeGitHub) -> list[tuple[str, str]]:
    """The write requests the fake answered, in order (method, path)."""
    return [(r.method, r.path) for r in forge.requests if r.method != "GET"]


def fix_commit(writer: GitHubChangeRequests, changes: tuple[FileChange, ...] = CHANGES,
               **options: Any) -> str:
    base = writer.default_head(ref())
    message = commit_message("basics", "Add the basics", "0123456789abcdef")
    return writer.commit(ref(), BRANCH, base, changes, message, **options)


# --------------------------------------------------------------------------- commits


def test_commit_makes_one_commit_with_every_change_on_a_new_branch(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    repo = forge.repo("acme", "api")
    base = repo.branches["main"]
    forge.reset_counts()

    sha = fix_commit(writer)

    assert repo.branches[BRANCH] == sha
    assert repo.branches["main"] == base  # the default branch never moves
    made = repo.commits[sha]
    assert made.parents == [base]
    assert made.message.startswith("Add the basics\n\nGovernance-Fix: basics ")
    assert made.files == {
        "README.md": b"# api\n\nNow documented.\n",
        "SECURITY.md": b"# Security\n\nMail security@acme.example.\n",
        "src/app.py": b"print('hi')\n",
        ".github/workflows/ci.yml": b"on: push\njobs: {}\n",
        "docs/logo.png": PNG,
        "tools/check.sh": b"#!/bin/sh\nexit 0\n",
    }
    assert made.snapshot.file_paths["tools/check.sh"][0] == "100755"
    assert made.snapshot.file_paths["README.md"][0] == "100644"
    # one blob (the binary file; text goes inline in the tree), one tree, one commit, one ref
    assert writes(forge) == [
        ("POST", "/repos/acme/api/git/blobs"),
        ("POST", "/repos/acme/api/git/trees"),
        ("POST", "/repos/acme/api/git/commits"),
        ("POST", "/repos/acme/api/git/refs"),
    ]
    assert forge.count(method="GET") == 3  # the repository, the default branch, the base


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_committed_tree_is_the_tree_git_writes(
        forge: FakeGitHub, writer: GitHubChangeRequests, tmp_path: Path) -> None:
    made = forge.repo("acme", "api").commits[fix_commit(writer)]
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    for path, data in made.files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    git("add", "-A")
    git("update-index", "--chmod=+x", "tools/check.sh")
    assert git("write-tree") == made.tree


def test_commit_refuses_the_default_branch_and_other_branches(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    forge.add_repo("acme", "odd", default_branch="governance/main")
    forge.reset_counts()
    base = writer.default_head(ref())
    for name in ("main", "feature/x", "governance/"):
        with pytest.raises(WriteRefused, match="writes only to governance/"):
            writer.commit(ref(), name, base, CHANGES, "x")
    odd = ref("acme/odd")
    with pytest.raises(WriteRefused, match="it is the default branch"):
        writer.commit(odd, "governance/main", writer.default_head(odd), CHANGES, "x")
    assert writes(forge) == []


def test_replace_moves_our_branch_but_never_over_a_persons_push(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    repo = forge.repo("acme", "api")
    first = fix_commit(writer)
    forge.reset_counts()

    second = fix_commit(writer, CHANGES[:2], replace=first)

    assert repo.branches[BRANCH] == second
    assert repo.commits[second].parents == [repo.branches["main"]]  # rebuilt on the base
    assert "old.txt" in repo.commits[second].files
    assert writes(forge)[-1] == ("PATCH", f"/repos/acme/api/git/refs/heads/{BRANCH}")

    person = forge.push("acme", "api", {"NOTES.md": "mine\n"}, branch=BRANCH, message="notes")
    with pytest.raises(WriteRefused, match="a person pushed to governance/basics"):
        fix_commit(writer, CHANGES[:1], replace=second)
    assert repo.branches[BRANCH] == person

    forge.reset_counts()
    branch = writer.branch(ref(), BRANCH)
    assert forge.count() == 1  # one comparison with the default branch
    assert branch is not None and branch.head == person
    assert [(c.sha, c.ours) for c in branch.commits] == [(second, True), (person, False)]
    assert [c.sha for c in branch.foreign] == [person]
    assert branch.commits[0].author == "octo-admin"


def test_replace_refuses_a_deleted_branch_and_create_refuses_an_existing_one(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    first = fix_commit(writer)
    with pytest.raises(WriteRefused):
        fix_commit(writer)  # the branch exists: created only when `replace` is None
    del forge.repo("acme", "api").branches[BRANCH]
    with pytest.raises(WriteRefused, match="deleted"):
        fix_commit(writer, replace=first)
    assert BRANCH not in forge.repo("acme", "api").branches


def test_branch_of_a_missing_branch_and_of_one_level_with_the_base(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    assert writer.branch(ref(), BRANCH) is None
    forge.add_branch("acme", "api", BRANCH)
    branch = writer.branch(ref(), BRANCH)
    assert branch is not None
    assert branch.head == forge.repo("acme", "api").branches["main"]
    assert branch.commits == ()


# --------------------------------------------------------------------------- pull requests


def test_open_find_update_and_comment(forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    assert writer.find(ref(), BRANCH) is None
    fix_commit(writer)
    body = f"Adds the basics.\n\n{MARKER.comment()}"

    opened = writer.open(ref(), BRANCH, "Add the basics", body, ["governance", "automated"])

    [pull] = forge.pulls("acme", "api")
    assert (opened.number, opened.state, opened.branch) == (pull.number, "open", BRANCH)
    assert opened.url.endswith(f"/acme/api/pull/{pull.number}")
    assert (pull.head, pull.base, pull.title) == (BRANCH, "main", "Add the basics")
    assert pull.labels == ["governance", "automated"]
    found = writer.find(ref(), BRANCH)
    assert found == opened and found.marker == MARKER

    writer.update(ref(), opened, "Add the basics (v2)", body + "\nmore")
    writer.comment(ref(), opened, "Updated to the pack's newest template.")
    assert pull.title == "Add the basics (v2)" and pull.body == body + "\nmore"
    assert [c.body for c in pull.comments] == ["Updated to the pack's newest template."]


def test_open_adopts_the_pull_request_that_already_exists(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    fix_commit(writer)
    first = writer.open(ref(), BRANCH, "Add the basics", MARKER.comment(), ["governance"])
    forge.reset_counts()

    again = writer.open(ref(), BRANCH, "Add the basics", MARKER.comment(), ["governance"])

    assert again == first
    assert len(forge.pulls("acme", "api")) == 1
    assert forge.count(method="POST", path="/repos/acme/api/pulls", status=422) == 1
    assert forge.count(method="POST") == 1  # no labels added twice


def test_find_returns_the_newest_request_and_who_closed_it(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    fix_commit(writer)
    first = writer.open(ref(), BRANCH, "Add the basics", MARKER.comment(), [])
    forge.close_pull("acme", "api", first.number, comment="not now")
    declined = writer.find(ref(), BRANCH)
    assert declined is not None and declined.state == "closed" and not declined.closed_by_us

    second = writer.open(ref(), BRANCH, "Add the basics", MARKER.comment(), [])
    assert second.number != first.number
    assert writer.find(ref(), BRANCH) == second

    forge.close_pull("acme", "api", second.number, merged=True)
    merged = writer.find(ref(), BRANCH)
    assert merged is not None and merged.state == "merged"


def test_close_comments_closes_with_the_marker_and_deletes_the_branch(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    fix_commit(writer)
    body = f"Adds the basics.\n\n{MARKER.comment()}"
    opened = writer.open(ref(), BRANCH, "Add the basics", body, [])
    forge.reset_counts()

    writer.close(ref(), opened, "The violation is gone: closing.")

    [pull] = forge.pulls("acme", "api")
    assert pull.state == "closed" and not pull.merged
    assert pull.body == f"{body}\n\n{CLOSED_MARKER}"
    assert [c.body for c in pull.comments] == ["The violation is gone: closing."]
    assert BRANCH not in forge.repo("acme", "api").branches
    assert writes(forge) == [
        ("POST", f"/repos/acme/api/issues/{pull.number}/comments"),
        ("PATCH", f"/repos/acme/api/pulls/{pull.number}"),
        ("DELETE", f"/repos/acme/api/git/refs/heads/{BRANCH}"),
    ]
    closed = writer.find(ref(), BRANCH)
    assert closed is not None and closed.state == "closed" and closed.closed_by_us
    assert closed.marker == MARKER


def test_close_tolerates_a_branch_already_deleted(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    fix_commit(writer)
    opened = writer.open(ref(), BRANCH, "Add the basics", MARKER.comment(), [])
    del forge.repo("acme", "api").branches[BRANCH]
    writer.close(ref(), opened, "closing")
    assert forge.pulls("acme", "api")[0].state == "closed"


# --------------------------------------------------------------------------- permissions


def test_writable_reasons(forge: FakeGitHub, make_writer: Callable[..., GitHubChangeRequests]
                          ) -> None:
    forge.add_repo("acme", "old", archived=True)
    forge.add_repo("acme", "copy", fork=True)
    forge.add_repo("other", "hidden", private=True)
    forge.add_token("ghp_reader", push=False, admin=False)
    forge.add_token("github_pat_read", kind="fine_grained", orgs=["acme"])
    forge.add_token("github_pat_write", kind="fine_grained",
                    permissions={"contents": "write", "pull_requests": "write"})
    admin = make_writer()
    assert admin.writable(ref()) is None
    assert "archived" in (admin.writable(ref("acme/old")) or "")
    assert "fork" in (admin.writable(ref("acme/copy")) or "")
    assert make_writer(token="ghp_reader").writable(ref()) == (
        "these credentials cannot push to the repository (they need Contents: write (a "
        "classic token: the repo scope and push access) and Pull requests: write)")
    fine = make_writer(token="github_pat_read")
    assert "cannot push" in (fine.writable(ref()) or "")
    assert fine.writable(ref("other/hidden")) == (
        "not found, or not visible with these credentials")
    assert make_writer(token="github_pat_write").writable(ref()) is None


def test_workflow_changes_need_the_workflow_scope(
        forge: FakeGitHub, make_writer: Callable[..., GitHubChangeRequests]) -> None:
    forge.add_token("ghp_no_workflow", scopes=("repo",))
    forge.add_token("github_pat_no_workflows", kind="fine_grained",
                    permissions={"contents": "write", "pull_requests": "write"})
    pin = (FileChange(".github/workflows/ci.yml", b"on: push\njobs: {build: {}}\n",
                      b"on: push\njobs: {}\n"),)
    for token in ("ghp_no_workflow", "github_pat_no_workflows"):
        writer = make_writer(token=token)
        with pytest.raises(WriteRefused) as refused:
            fix_commit(writer, pin)
        assert refused.value.reason == WORKFLOW_SCOPE
        assert BRANCH not in forge.repo("acme", "api").branches
        # other files are fine with the same token
        sha = fix_commit(writer, CHANGES[:1])
        assert forge.repo("acme", "api").branches.pop(BRANCH) == sha
    assert fix_commit(make_writer(), pin)  # the admin token has the workflow scope


def test_missing_permissions_name_the_permission(
        forge: FakeGitHub, make_writer: Callable[..., GitHubChangeRequests]) -> None:
    forge.add_token("github_pat_read", kind="fine_grained")
    with pytest.raises(WriteRefused, match="need Contents: write"):
        fix_commit(make_writer(token="github_pat_read"))
    forge.add_token("github_pat_contents", kind="fine_grained",
                    permissions={"contents": "write"})
    contents_only = make_writer(token="github_pat_contents")
    fix_commit(contents_only)
    with pytest.raises(WriteRefused, match="need Pull requests: write"):
        contents_only.open(ref(), BRANCH, "Add the basics", MARKER.comment(), [])
    assert forge.pulls("acme", "api") == []
    opened = make_writer().open(ref(), BRANCH, "Add the basics", MARKER.comment(), [])
    forge.update_repo("acme", "api", archived=True)
    with pytest.raises(WriteRefused, match="archived"):
        make_writer().comment(ref(), opened, "x")
    assert isinstance(opened, ChangeRequest) and forge.pulls("acme", "api")[0].comments == []


def test_github_app_installation_writes(forge: FakeGitHub,
                                        make_writer: Callable[..., GitHubChangeRequests]
                                        ) -> None:
    private_pem, public_pem = generate_app_key()
    forge.add_app(91, public_key_pem=public_pem)
    forge.install_app(91, "acme", permissions={
        "metadata": "read", "contents": "write", "pull_requests": "write",
        "workflows": "write"})
    writer = make_writer(app_id=91, app_private_key=private_pem)
    assert writer.writable(ref()) is None
    fix_commit(writer)
    opened = writer.open(ref(), BRANCH, "Add the basics", MARKER.comment(), ["governance"])
    [pull] = forge.pulls("acme", "api")
    assert pull.number == opened.number and pull.user == "governance-bot[bot]"


# --------------------------------------------------------------------------- configuration


def test_writes_are_paced_and_retried_by_pygithub(
        make_writer: Callable[..., GitHubChangeRequests]) -> None:
    options = make_writer(min_write_gap=1.5).client("acme").requester.kwargs
    assert options["seconds_between_writes"] == 1.5
    assert options["seconds_between_requests"] is None  # reads are not slowed down
    assert isinstance(options["retry"], GithubRetry)
    assert {"POST", "PATCH"} <= set(options["retry"].allowed_methods)
    default = GitHubChangeRequests(token="t", api_url="https://ghe.example/api/v3")
    assert default.client("acme").requester.kwargs["seconds_between_writes"] == 1.0
    assert make_writer().client("acme").requester.kwargs["seconds_between_writes"] is None
    with pytest.raises(ConfigError, match="min_write_gap"):
        GitHubChangeRequests(token="t", min_write_gap=-1)


def test_rate_limits_and_server_errors_are_retried_by_pygithub(
        forge: FakeGitHub, writer: GitHubChangeRequests) -> None:
    forge.inject_fault("secondary", "/repos/acme/api/git/trees", method="POST", retry_after=0)
    forge.inject_fault("502", "/repos/acme/api/git/refs/*", method="PATCH")
    first = fix_commit(writer)
    second = fix_commit(writer, CHANGES[:1], replace=first)
    assert forge.repo("acme", "api").branches[BRANCH] == second
    answered = [(r.method, r.status) for r in forge.requests
                if r.path.endswith(("/git/trees", f"/heads/{BRANCH}"))]
    assert answered == [("POST", 403), ("POST", 201), ("POST", 201), ("GET", 200),
                        ("PATCH", 502), ("PATCH", 200)]


def test_from_environment(forge: FakeGitHub) -> None:
    environ = {"GITHUB_TOKEN": DEFAULT_TOKEN, "GITHUB_API_URL": forge.url}
    writer = GitHubChangeRequests.from_environment(environ, min_write_gap=0)
    assert writer.api_url == forge.url
    assert writer.writable(ref()) is None
    with pytest.raises(ConfigError, match="needs GitHub credentials"):
        GitHubChangeRequests.from_environment({})
    with pytest.raises(ConfigError, match="GITHUB_APP_PRIVATE_KEY_FILE is not"):
        GitHubChangeRequests.from_environment({"GITHUB_APP_ID": "1"})
    resolver = GitHubActionResolver.from_environment(environ)
    forge.add_repo("actions", "checkout")
    assert resolver.resolve("actions/checkout", "main") == (
        forge.repo("actions", "checkout").branches["main"])
    writer.close_session()
    resolver.close()


def test_the_token_never_shows(forge: FakeGitHub, make_writer: Callable[..., GitHubChangeRequests],
                               caplog: pytest.LogCaptureFixture) -> None:
    secret = "ghp_SECRET_never_to_be_seen_0123456789"
    forge.add_token(secret, scopes=("repo",))
    caplog.set_level(logging.DEBUG)
    writer = make_writer(token=secret)
    messages = []
    fix_commit(writer)
    opened = writer.open(ref(), BRANCH, "Add the basics", MARKER.comment(), ["governance"])
    writer.close(ref(), opened, "closing")
    for failing in (lambda: fix_commit(writer, (FileChange(".github/workflows/x.yml", b"x"),)),
                    lambda: make_writer(token="ghp_unknown").writable(ref())):
        try:
            failing()
        except Exception as error:  # every kind of failure is checked
            messages.append(str(error))
    assert len(messages) == 2
    assert caplog.text and "closed pull request" in caplog.text
    assert secret not in caplog.text
    assert not any(secret in m or "ghp_unknown" in m for m in messages)


# --------------------------------------------------------------------------- action SHAs


def test_action_resolver(forge: FakeGitHub) -> None:
    forge.add_repo("actions", "checkout")
    forge.add_repo("github", "codeql-action")
    v4 = forge.add_tag("actions", "checkout", "v4")
    forge.push("actions", "checkout", {"new.txt": "x"})  # the tag stays where it was
    codeql = forge.add_tag("github", "codeql-action", "v3")
    resolver = GitHubActionResolver(token=DEFAULT_TOKEN, api_url=forge.url)
    forge.reset_counts()

    assert resolver.resolve("actions/checkout", "v4") == v4
    assert resolver.resolve("actions/checkout", "v4") == v4
    assert resolver.resolve("github/codeql-action/init", "v3") == codeql
    assert resolver.resolve("github/codeql-action/analyze", "v3") == codeql
    assert forge.count() == 2  # one request per repository and ref

    with pytest.raises(Unsupported, match="the repository actions/nope does not exist"):
        resolver.resolve("actions/nope", "v1")
    with pytest.raises(Unsupported, match="no tag, branch or commit named v99"):
        resolver.resolve("actions/checkout", "v99")
    for action in ("./local-action", "docker://alpine:3", "checkout"):
        with pytest.raises(Unsupported, match="not a GitHub Action in a repository"):
            resolver.resolve(action, "v1")
    resolver.close()


def test_action_resolver_with_app_credentials_needs_the_owner(forge: FakeGitHub) -> None:
    private_pem, public_pem = generate_app_key()
    forge.add_app(92, public_key_pem=public_pem)
    forge.install_app(92, "acme")
    forge.add_repo("actions", "checkout")
    v4 = forge.add_tag("actions", "checkout", "v4")
    anonymous = GitHubActionResolver(app_id=92, app_private_key=private_pem, api_url=forge.url)
    with pytest.raises(Unsupported, match="needs the organization"):
        anonymous.resolve("actions/checkout", "v4")
    # the fake's installation tokens see their own organization only
    acme = GitHubActionResolver(app_id=92, app_private_key=private_pem, api_url=forge.url,
                                owner="acme")
    with pytest.raises(Unsupported, match="not visible"):
        acme.resolve("actions/checkout", "v4")
    assert acme.resolve("acme/api", "main") == forge.repo("acme", "api").branches["main"]
    assert forge.repo("actions", "checkout").tags == {"v4": v4}


# --------------------------------------------------------------------------- the fake's contract


def test_write_responses_match_openapi(forge: FakeGitHub, writer: GitHubChangeRequests,
                                       openapi: dict[str, Any]) -> None:
    """Every new REST answer of the fake, validated against GitHub's published schema."""
    sha = fix_commit(writer)
    opened = writer.open(ref(), BRANCH, "Add the basics", MARKER.comment(), ["governance"])
    writer.comment(ref(), opened, "hello")
    forge.add_tag("acme", "api", "v1")
    repo = forge.repo("acme", "api")
    n = opened.number
    api = f"{forge.url}/repos/acme/api"
    session = requests.Session()
    session.headers["Authorization"] = f"token {DEFAULT_TOKEN}"
    cases: list[tuple[str, str, str, dict[str, Any] | list[Any] | None, str, str]] = [
        ("POST", "/git/blobs", "/repos/{owner}/{repo}/git/blobs",
         {"content": "aGk=", "encoding": "base64"}, "post", "201"),
        ("POST", "/git/trees", "/repos/{owner}/{repo}/git/trees",
         {"base_tree": repo.commits[sha].tree,
          "tree": [{"path": "a/b.txt", "mode": "100644", "type": "blob", "content": "b"}]},
         "post", "201"),
        ("POST", "/git/commits", "/repos/{owner}/{repo}/git/commits",
         {"message": "m", "tree": repo.commits[sha].tree, "parents": [sha]}, "post", "201"),
        ("GET", f"/git/commits/{sha}", "/repos/{owner}/{repo}/git/commits/{commit_sha}", None,
         "get", "200"),
        ("POST", "/git/refs", "/repos/{owner}/{repo}/git/refs",
         {"ref": "refs/heads/governance/other", "sha": sha}, "post", "201"),
        ("POST", "/git/refs", "/repos/{owner}/{repo}/git/refs",
         {"ref": "refs/heads/governance/other", "sha": sha}, "post", "422"),
        ("GET", f"/git/ref/heads/{BRANCH}", "/repos/{owner}/{repo}/git/ref/{ref}", None, "get",
         "200"),
        ("GET", "/git/ref/tags/v1", "/repos/{owner}/{repo}/git/ref/{ref}", None, "get", "200"),
        ("GET", "/git/ref/heads/nope", "/repos/{owner}/{repo}/git/ref/{ref}", None, "get",
         "404"),
        ("PATCH", "/git/refs/heads/governance/other", "/repos/{owner}/{repo}/git/refs/{ref}",
         {"sha": repo.branches["main"], "force": True}, "patch", "200"),
        ("PATCH", "/git/refs/heads/governance/other", "/repos/{owner}/{repo}/git/refs/{ref}",
         {"sha": sha}, "patch", "200"),  # a fast-forward
        ("PATCH", "/git/refs/heads/governance/other", "/repos/{owner}/{repo}/git/refs/{ref}",
         {"sha": repo.branches["main"]}, "patch", "422"),  # not a fast-forward
        ("DELETE", "/git/refs/heads/governance/other", "/repos/{owner}/{repo}/git/refs/{ref}",
         None, "delete", "204"),
        ("DELETE", "/git/refs/heads/governance/other", "/repos/{owner}/{repo}/git/refs/{ref}",
         None, "delete", "422"),
        ("GET", f"/compare/main...{BRANCH}", "/repos/{owner}/{repo}/compare/{basehead}", None,
         "get", "200"),
        ("GET", "/compare/main...nope", "/repos/{owner}/{repo}/compare/{basehead}", None,
         "get", "404"),
        ("GET", "/commits/v1", "/repos/{owner}/{repo}/commits/{ref}", None, "get", "200"),
        ("GET", "/commits/v9", "/repos/{owner}/{repo}/commits/{ref}", None, "get", "422"),
        ("GET", "/pulls?state=all&head=acme:governance/basics",
         "/repos/{owner}/{repo}/pulls", None, "get", "200"),
        ("POST", "/pulls", "/repos/{owner}/{repo}/pulls",
         {"title": "t", "head": BRANCH, "base": "main"}, "post", "422"),
        ("GET", f"/pulls/{n}", "/repos/{owner}/{repo}/pulls/{pull_number}", None, "get", "200"),
        ("PATCH", f"/pulls/{n}", "/repos/{owner}/{repo}/pulls/{pull_number}",
         {"state": "closed"}, "patch", "200"),
        ("POST", "/pulls", "/repos/{owner}/{repo}/pulls",
         {"title": "t", "head": BRANCH, "base": "main", "body": "b"}, "post", "201"),
        ("GET", f"/issues/{n}/comments", "/repos/{owner}/{repo}/issues/{issue_number}/comments",
         None, "get", "200"),
        ("POST", f"/issues/{n}/comments",
         "/repos/{owner}/{repo}/issues/{issue_number}/comments", {"body": "x"}, "post", "201"),
        ("POST", f"/issues/{n}/labels", "/repos/{owner}/{repo}/issues/{issue_number}/labels",
         ["triage"], "post", "200"),
        ("GET", f"/issues/{n}/labels", "/repos/{owner}/{repo}/issues/{issue_number}/labels",
         None, "get", "200"),
    ]
    for method, path, template, body, operation, status in cases:
        response = session.request(method, api + path, json=body, timeout=10)
        assert str(response.status_code) == status, (method, path, response.text)
        if "content" not in openapi["paths"][template][operation]["responses"][status]:
            continue  # documented without a body (the 204, and the 422 of a ref deletion)
        validator = _validator(openapi, template, operation, status)
        errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.path))
        assert not errors, (path, [f"{list(e.path)}: {e.message}"[:300] for e in errors[:5]])
    assert forge.server_errors == []
