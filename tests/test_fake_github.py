"""Contract checks for the fake GitHub (tests/fakes/github.py).

The real PyGithub client and a raw HTTP client (requests) talk to the fake on 127.0.0.1; the
JSON of every REST endpoint it serves is validated against the response schema of that
operation in GitHub's OpenAPI description (vendored extract in tests/contracts/), GraphQL runs
against GitHub's schema, and git object ids are checked against the real ``git``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("github")  # PyGithub, which brings requests and cryptography
pytest.importorskip("graphql")
pytest.importorskip("werkzeug")
jsonschema: Any = pytest.importorskip("jsonschema")

import requests  # noqa: E402
from github import (  # noqa: E402
    Auth,
    BadCredentialsException,
    Github,
    GithubException,
    GithubIntegration,
    RateLimitExceededException,
    UnknownObjectException,
)

from tests.fakes import gitobjects  # noqa: E402
from tests.fakes.github import (  # noqa: E402
    DEFAULT_TOKEN,
    REST_SUBSET_PATH,
    FakeGitHub,
    generate_app_key,
    github_forge,
    graphql_schema,
)

__all__ = ["github_forge"]  # the fixture, imported explicitly (conftest may also provide it)

LOGO = b"\x89PNG\r\n\x1a\n\0\0binary"
FILES: dict[str, str | bytes] = {
    "README.md": "# api\n",
    ".github/workflows/ci.yml": "on: push\njobs: {}\n",
    "src/app.py": "print('hi')\n",
    "src/lib/util.py": "X = 1\n",
    "logo.png": LOGO,
}


@pytest.fixture
def forge(github_forge: FakeGitHub) -> FakeGitHub:
    f = github_forge
    f.add_org("acme", name="Acme Corp")
    f.add_repo("acme", "api", files=FILES, topics=["python", "service"])
    f.add_repo("acme", "web", files={"README.md": "# web\n", "package.json": "{}\n"})
    f.add_repo("acme", "infra", files={"main.tf": "terraform {}\n"}, private=True)
    f.add_repo("acme", "old", archived=True)
    f.add_repo("acme", "forked", fork=True)
    f.add_repo("acme", "blank", empty=True)
    f.protect_branch(
        "acme",
        "api",
        "main",
        required_approving_review_count=2,
        require_code_owner_reviews=True,
        enforce_admins=True,
    )
    return f


def gh(forge: FakeGitHub, token: str | None = DEFAULT_TOKEN, **kwargs: Any) -> Github:
    return forge.client(token, **kwargs)


def raw(
    forge: FakeGitHub, path: str, token: str | None = DEFAULT_TOKEN, **headers: str
) -> requests.Response:
    hdrs = dict(headers)
    if token:
        hdrs["Authorization"] = f"token {token}"
    return requests.get(forge.url + path, headers=hdrs, timeout=10)


def gql(
    forge: FakeGitHub,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str = DEFAULT_TOKEN,
    prefix: str = "",
) -> requests.Response:
    return requests.post(
        f"{forge.url}{prefix}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"bearer {token}"},
        timeout=10,
    )


# --------------------------------------------------------------------------- git identities


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Fake Forge",
        "GIT_AUTHOR_EMAIL": "forge@example.invalid",
        "GIT_AUTHOR_DATE": "1700000000 +0000",
        "GIT_COMMITTER_NAME": "Fake Forge",
        "GIT_COMMITTER_EMAIL": "forge@example.invalid",
        "GIT_COMMITTER_DATE": "1700000000 +0000",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    out = subprocess.run(
        ["git", *args], cwd=cwd, env=env, input=stdin, check=True, capture_output=True
    )
    return out.stdout.decode().strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_object_ids_match_real_git(tmp_path: Path) -> None:
    files = {
        "a.txt": b"x",
        "a/b/c.txt": b"hello\n",  # "a" (tree) sorts after "a.txt" in git's order
        "README.md": b"# hi",
        "run.sh": b"#!/bin/sh\n",
        "bin.dat": bytes(range(256)),
    }
    modes = {"run.sh": gitobjects.MODE_EXECUTABLE}
    _git(tmp_path, "init", "-q")
    for path, data in files.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        assert _git(tmp_path, "hash-object", path) == gitobjects.blob_sha(data)
    (tmp_path / "run.sh").chmod(0o755)
    _git(tmp_path, "add", "-A")
    snap = gitobjects.build_snapshot(files, modes)
    assert _git(tmp_path, "write-tree") == snap.root
    # git mktree on the root's entries, and every sub-tree
    listing = "".join(
        f"{e.api_mode} {e.type} {e.sha}\t{e.name}\n" for e in snap.trees[snap.root]
    ).encode()
    assert _git(tmp_path, "mktree", stdin=listing) == snap.root
    assert _git(tmp_path, "rev-parse", f"{snap.root}:a/b") == snap.tree_paths["a/b"]
    commit = _git(tmp_path, "commit-tree", snap.root, "-m", "fake commit")
    assert commit == gitobjects.commit_sha(snap.root, [], gitobjects.Signature())
    child = _git(tmp_path, "commit-tree", snap.root, "-p", commit, "-m", "second\n\nbody")
    assert child == gitobjects.commit_sha(
        snap.root, [commit], gitobjects.Signature(), message="second\n\nbody"
    )
    assert _git(tmp_path, "mktree", stdin=b"") == gitobjects.EMPTY_TREE_SHA


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_fake_repo_shas_are_real(forge: FakeGitHub, tmp_path: Path) -> None:
    repo = forge.repo("acme", "api")
    head = repo.head()
    assert head is not None
    _git(tmp_path, "init", "-q")
    for path, data in FILES.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode() if isinstance(data, str) else data)
    _git(tmp_path, "add", "-A")
    assert _git(tmp_path, "write-tree") == head.tree
    tree = gh(forge).get_repo("acme/api").get_git_tree("main", recursive=True)
    assert tree.sha == head.tree
    by_path = {e.path: e.sha for e in tree.tree}
    assert by_path["src/lib/util.py"] == _git(tmp_path, "hash-object", "src/lib/util.py")
    assert by_path["src"] == _git(tmp_path, "rev-parse", f"{head.tree}:src")


# --------------------------------------------------------------------------- PyGithub (REST)


def test_org_and_repo_pagination_follow_link_headers(forge: FakeGitHub) -> None:
    g = gh(forge, per_page=2)
    org = g.get_organization("acme")
    assert org.login == "acme" and org.name == "Acme Corp"
    forge.reset_counts()
    repos = list(org.get_repos())
    assert sorted(r.name for r in repos) == ["api", "blank", "forked", "infra", "old", "web"]
    assert forge.count(path="/orgs/acme/repos") == 3  # 6 repos, 2 per page
    assert org.get_repos().totalCount == 6  # from rel="last"
    last = forge.requests[-1]
    assert last.path == "/orgs/acme/repos"
    r = raw(forge, "/orgs/acme/repos?per_page=2&page=2")
    link = r.headers["Link"]
    assert f'<{forge.url}/orgs/acme/repos?per_page=2&page=3>; rel="next"' in link
    assert 'rel="last"' in link and 'rel="prev"' in link and 'rel="first"' in link


def test_get_repo_attributes(forge: FakeGitHub) -> None:
    g = gh(forge)
    api = g.get_repo("acme/api")
    assert (api.private, api.archived, api.fork, api.default_branch) == (
        False,
        False,
        False,
        "main",
    )
    assert api.get_topics() == ["python", "service"]
    assert api.url == f"{forge.url}/repos/acme/api"
    assert g.get_repo("acme/infra").private is True
    assert g.get_repo("acme/old").archived is True
    assert g.get_repo("acme/forked").fork is True
    assert g.get_repo("ACME/API").full_name == "acme/api"  # case-insensitive like GitHub


def test_git_tree_contents_and_blobs(forge: FakeGitHub) -> None:
    repo = gh(forge).get_repo("acme/api")
    tree = repo.get_git_tree("main", recursive=True)
    paths = [e.path for e in tree.tree]
    assert paths == [
        ".github",
        ".github/workflows",
        ".github/workflows/ci.yml",
        "README.md",
        "logo.png",
        "src",
        "src/app.py",
        "src/lib",
        "src/lib/util.py",
    ]
    assert not tree.raw_data["truncated"]
    top = repo.get_git_tree(tree.sha)  # by tree sha, not recursive
    assert [e.path for e in top.tree] == [".github", "README.md", "logo.png", "src"]
    commit_sha = repo.get_branch("main").commit.sha
    assert repo.get_git_tree(commit_sha).sha == tree.sha

    readme = repo.get_contents("README.md", ref="main")
    assert not isinstance(readme, list)
    assert readme.decoded_content == b"# api\n"
    assert readme.sha == gitobjects.blob_sha(b"# api\n")
    nested = repo.get_contents("src/lib/util.py")
    assert not isinstance(nested, list) and nested.decoded_content == b"X = 1\n"
    listing = repo.get_contents("")
    assert isinstance(listing, list)
    assert {(c.path, c.type) for c in listing} == {
        (".github", "dir"),
        ("README.md", "file"),
        ("logo.png", "file"),
        ("src", "dir"),
    }
    sub = repo.get_contents("src", ref=commit_sha)
    assert isinstance(sub, list) and [c.path for c in sub] == ["src/app.py", "src/lib"]
    blob = repo.get_git_blob(gitobjects.blob_sha(LOGO))
    assert base64.b64decode(blob.content) == LOGO
    with pytest.raises(UnknownObjectException):
        repo.get_contents("nope.txt")

    forge.tree_entry_limit = 3
    truncated = repo.get_git_tree("main", recursive=True)
    assert truncated.raw_data["truncated"] is True and len(truncated.tree) == 3


def test_branch_and_protection(forge: FakeGitHub) -> None:
    g = gh(forge)
    branch = g.get_repo("acme/api").get_branch("main")
    assert branch.protected is True
    assert (
        branch.raw_data["protection_url"] == f"{forge.url}/repos/acme/api/branches/main/protection"
    )
    prot = branch.get_protection()
    reviews = prot.required_pull_request_reviews
    assert reviews.required_approving_review_count == 2
    assert reviews.require_code_owner_reviews is True
    assert prot.enforce_admins is True
    web = g.get_repo("acme/web").get_branch("main")
    assert web.protected is False
    with pytest.raises(GithubException) as info:
        web.get_protection()
    assert info.value.status == 404 and not isinstance(info.value, UnknownObjectException)
    assert info.value.data["message"] == "Branch not protected"
    with pytest.raises(UnknownObjectException):
        g.get_repo("acme/web").get_branch("nope")


def test_errors_and_empty_repository(forge: FakeGitHub) -> None:
    with pytest.raises(BadCredentialsException):
        gh(forge, "wrong-token").get_repo("acme/api")
    g = gh(forge)
    with pytest.raises(UnknownObjectException):
        g.get_repo("acme/missing")
    with pytest.raises(UnknownObjectException):
        g.get_organization("nobody")
    blank = g.get_repo("acme/blank")
    with pytest.raises(GithubException) as info:
        blank.get_git_tree("main", recursive=True)
    assert info.value.status == 409 and info.value.data["message"] == "Git Repository is empty."
    with pytest.raises(GithubException) as info:
        blank.get_contents("")
    # GitHub answers the contents of an empty repository with 404, not 409.
    assert info.value.status == 404
    assert info.value.data["message"] == "This repository is empty."


def test_rate_limit_headers_and_exhaustion(forge: FakeGitHub) -> None:
    g = gh(forge)
    g.get_repo("acme/api")
    remaining, limit = g.rate_limiting
    assert limit == 5000 and remaining == 4999
    g.get_repo("acme/web")
    assert g.rate_limiting[0] == 4998
    r = raw(forge, "/repos/acme/api")
    assert r.headers["X-RateLimit-Resource"] == "core"
    assert r.headers["X-RateLimit-Used"] == "3"
    assert abs(int(r.headers["X-RateLimit-Reset"]) - time.time()) <= 3700  # epoch seconds
    rate = g.get_rate_limit()  # does not count
    assert rate.resources.core.remaining == 4997
    assert rate.resources.graphql.remaining == 5000

    forge.set_rate_limit(DEFAULT_TOKEN, "core", used=5000)
    with pytest.raises(RateLimitExceededException):
        g.get_repo("acme/api")
    r = raw(forge, "/repos/acme/api")
    assert r.status_code == 403 and r.json()["message"].startswith("API rate limit exceeded")
    assert r.headers["X-RateLimit-Remaining"] == "0"
    # GraphQL has its own bucket
    assert gql(forge, "{ viewer { login } }").json()["data"]["viewer"]["login"] == "octo-admin"


def test_per_token_limits_and_visibility(forge: FakeGitHub) -> None:
    forge.add_token("public-only", scopes=("public_repo",), core_limit=10)
    g = gh(forge, "public-only")
    names = {r.name for r in g.get_organization("acme").get_repos()}
    assert "infra" not in names and "api" in names
    with pytest.raises(UnknownObjectException):
        g.get_repo("acme/infra")
    assert g.rate_limiting == (7, 10)
    assert forge.rate_limit(DEFAULT_TOKEN).used == 0


def test_protection_permissions(forge: FakeGitHub) -> None:
    forge.add_token("fine", kind="fine_grained")  # contents + metadata, no administration
    forge.add_token(
        "fine-admin",
        kind="fine_grained",
        permissions={"metadata": "read", "contents": "read", "administration": "read"},
    )
    forge.add_token("member", admin=False)  # classic token of a non-admin user
    r = raw(forge, "/repos/acme/api/branches/main/protection", token="fine")
    assert r.status_code == 403
    assert r.json()["message"] == "Resource not accessible by personal access token"
    assert raw(forge, "/repos/acme/api/branches/main/protection", token="fine-admin").ok
    r = raw(forge, "/repos/acme/api/branches/main/protection", token="member")
    assert r.status_code == 404 and r.json()["message"] == "Not Found"
    # rules (rulesets) are readable with read access
    assert raw(forge, "/repos/acme/api/rules/branches/main", token="fine").ok


def test_github_app_installation_auth(forge: FakeGitHub) -> None:
    private_pem, public_pem = generate_app_key()
    forge.add_app(4242, slug="governance-bot", public_key_pem=public_pem)
    inst = forge.install_app(4242, "acme")
    app_auth = Auth.AppAuth(4242, private_pem)
    integration = GithubIntegration(
        auth=app_auth,
        base_url=forge.url,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    installs = list(integration.get_installations())
    assert [i.id for i in installs] == [inst.id]
    assert integration.get_org_installation("acme").id == inst.id
    token = integration.get_access_token(inst.id)
    assert token.token.startswith("ghs_")
    g = Github(
        auth=app_auth.get_installation_auth(inst.id),
        base_url=forge.url,
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    repo = g.get_repo("acme/infra")  # private repos are visible to the installation
    assert repo.private
    assert g.get_repo("acme/api").get_branch("main").get_protection() is not None
    bucket = forge.rate_limit(token.token)
    assert bucket.used >= 2  # shared by every token of the installation

    other_private, _ = generate_app_key()
    bad = GithubIntegration(
        auth=Auth.AppAuth(4242, other_private),
        base_url=forge.url,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    with pytest.raises(GithubException) as info:
        bad.get_org_installation("acme")
    assert info.value.status == 401
    # app endpoints want the app's JWT, not a personal access token
    r = raw(forge, "/orgs/acme/installation")
    assert r.status_code == 401


def test_enterprise_prefix(forge: FakeGitHub) -> None:
    g = gh(forge, enterprise=True, per_page=4)
    assert len(list(g.get_organization("acme").get_repos())) == 6
    branch = g.get_repo("acme/api").get_branch("main")
    assert branch.raw_data["protection_url"].startswith(f"{forge.url}/api/v3/repos/")
    assert branch.get_protection().required_pull_request_reviews is not None
    _, data = g.requester.graphql_query('{ repository(owner: "acme", name: "api") { name } }', {})
    assert data["data"]["repository"]["name"] == "api"
    assert forge.requests[-1].path == "/graphql"
    assert forge.requests[-1].raw_path == "/api/graphql"


def test_accounting(forge: FakeGitHub) -> None:
    forge.reset_counts()
    g = gh(forge)
    g.get_repo("acme/api")
    g.get_rate_limit()  # not counted against the limit, but seen
    raw(forge, "/repos/acme/nope")  # a 404 counts, as on GitHub
    raw(forge, "/repos/acme/api", token="bad")  # a 401 does not
    assert forge.count() == 2
    assert forge.count(counted_only=False) == 4
    assert forge.count(path="/repos/acme/*", status=404) == 1
    assert [(r.method, r.path, r.status, r.counted) for r in forge.requests] == [
        ("GET", "/repos/acme/api", 200, True),
        ("GET", "/rate_limit", 200, False),
        ("GET", "/repos/acme/nope", 404, True),
        ("GET", "/repos/acme/api", 401, False),
    ]
    forge.reset_counts()
    assert forge.count(counted_only=False) == 0 and forge.requests == []


# --------------------------------------------------------------------------- ETags, faults


def test_etag_not_modified_is_free(forge: FakeGitHub) -> None:
    first = raw(forge, "/repos/acme/api")
    etag = first.headers["ETag"]
    assert etag.startswith('"')
    before_total = forge.count(counted_only=False)
    before_counted = forge.count()
    again = raw(forge, "/repos/acme/api", **{"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["X-RateLimit-Remaining"] == first.headers["X-RateLimit-Remaining"]
    assert forge.count() == before_counted
    assert forge.count(counted_only=False) == before_total + 1
    assert forge.requests[-1].status == 304 and not forge.requests[-1].counted
    # a change to the repository changes the ETag
    forge.push("acme", "api", {"NEW.md": "new"})
    assert (
        raw(forge, "/repos/acme/api/git/trees/main", **{"If-None-Match": etag}).status_code == 200
    )
    tree1 = raw(forge, "/repos/acme/api/git/trees/main")
    assert (
        raw(
            forge, "/repos/acme/api/git/trees/main", **{"If-None-Match": tree1.headers["ETag"]}
        ).status_code
        == 304
    )
    # but not without valid credentials
    assert raw(forge, "/repos/acme/api", token="bad", **{"If-None-Match": etag}).status_code == 401


def test_faults(forge: FakeGitHub) -> None:
    forge.inject_fault("502", "/repos/acme/api")
    forge.inject_fault("503", "/repos/acme/web", count=2)
    assert raw(forge, "/repos/acme/api").status_code == 502
    assert raw(forge, "/repos/acme/api").status_code == 200
    assert [raw(forge, "/repos/acme/web").status_code for _ in range(3)] == [503, 503, 200]

    forge.inject_fault("reset", "/repos/acme/*/git/trees/*")
    with pytest.raises(requests.ConnectionError):
        raw(forge, "/repos/acme/api/git/trees/main")
    assert raw(forge, "/repos/acme/api/git/trees/main").ok

    forge.inject_fault("secondary", "/orgs/acme", retry_after=7)
    r = raw(forge, "/orgs/acme")
    assert r.status_code == 403 and r.headers["Retry-After"] == "7"
    assert "secondary rate limit" in r.json()["message"]
    forge.inject_fault("429", "/graphql", method="POST")
    assert gql(forge, "{ viewer { login } }").status_code == 429
    assert gql(forge, "{ viewer { login } }").ok

    forge.inject_fault("latency", "*", count=None, latency_ms=60)
    start = time.perf_counter()
    assert raw(forge, "/rate_limit").ok
    assert time.perf_counter() - start >= 0.06
    forge.clear_faults()
    faults = [r.fault for r in forge.requests if r.fault]
    assert faults == ["502", "503", "503", "reset", "secondary", "429"]
    assert not any(r.counted for r in forge.requests if r.fault)

    # PyGithub sees a secondary rate limit as RateLimitExceededException (retry=None)
    forge.inject_fault("secondary", "/repos/acme/api")
    with pytest.raises(RateLimitExceededException):
        gh(forge).get_repo("acme/api")
    assert forge.server_errors == []


# --------------------------------------------------------------------------- rulesets


def test_rulesets_rest(forge: FakeGitHub) -> None:
    forge.add_ruleset("acme", "web", name="web main", required_approving_review_count=1)
    forge.add_ruleset(
        "acme", "web", name="trial", enforcement="evaluate", required_approving_review_count=3
    )
    forge.add_ruleset(
        "acme",
        name="org wide",
        repositories=["w*"],
        include=["~ALL"],
        rules=[{"type": "deletion"}, {"type": "non_fast_forward"}],
    )
    rules = raw(forge, "/repos/acme/web/rules/branches/main").json()
    assert {(r["type"], r["ruleset_source_type"]) for r in rules} == {
        ("pull_request", "Repository"),
        ("deletion", "Organization"),
        ("non_fast_forward", "Organization"),
    }
    pr = next(r for r in rules if r["type"] == "pull_request")
    assert pr["parameters"]["required_approving_review_count"] == 1
    assert raw(forge, "/repos/acme/api/rules/branches/main").json() == []
    assert {r["type"] for r in raw(forge, "/repos/acme/web/rules/branches/dev").json()} == {
        "deletion",
        "non_fast_forward",
    }
    listed = raw(forge, "/repos/acme/web/rulesets").json()
    assert [(r["name"], r["enforcement"]) for r in listed] == [
        ("web main", "active"),
        ("trial", "evaluate"),
        ("org wide", "active"),
    ]
    assert "rules" not in listed[0]  # like GitHub, the list omits rules: GET one for them
    one = raw(forge, f"/repos/acme/web/rulesets/{listed[1]['id']}").json()
    assert one["rules"][0]["parameters"]["required_approving_review_count"] == 3
    assert len(raw(forge, "/repos/acme/web/rulesets?includes_parents=false").json()) == 2
    assert [r["name"] for r in raw(forge, "/orgs/acme/rulesets").json()] == ["org wide"]
    branch = gh(forge).get_repo("acme/web").get_branch("main")
    assert branch.protected is True  # rulesets protect it, classic protection does not


# --------------------------------------------------------------------------- GraphQL

BATCH = """
query Batch($path: String!) {
  repo0: repository(owner: "acme", name: "api") { ...Facts }
  repo1: repository(owner: "acme", name: "web") { ...Facts }
  repo2: repository(owner: "acme", name: "infra") { ...Facts }
  rateLimit { cost remaining resetAt limit }
}
fragment Facts on Repository {
  name nameWithOwner isArchived isFork isDisabled isEmpty isPrivate visibility
  repositoryTopics(first: 20) { nodes { topic { name } } }
  defaultBranchRef { name target { oid ... on Commit { tree { oid } } } }
  readme: object(expression: $path) { ... on Blob { oid byteSize isBinary text } }
  root: object(expression: "HEAD:") {
    ... on Tree { entries { name type path oid mode object { ... on Blob { byteSize } } } }
  }
  branchProtectionRules(first: 10) {
    nodes { pattern requiresApprovingReviews requiredApprovingReviewCount
            requiresCodeOwnerReviews isAdminEnforced allowsForcePushes }
  }
  rulesets(first: 10, includeParents: true) {
    nodes { name enforcement target conditions { refName { include exclude } }
      rules(first: 20) { nodes { type parameters {
        ... on PullRequestParameters { requiredApprovingReviewCount requireCodeOwnerReview }
      } } } }
  }
}
"""


def test_graphql_batched_query(forge: FakeGitHub) -> None:
    forge.add_ruleset(
        "acme",
        "web",
        name="web main",
        required_approving_review_count=1,
        require_code_owner_review=True,
    )
    r = gql(forge, BATCH, {"path": "HEAD:README.md"})
    assert r.status_code == 200 and r.headers["X-RateLimit-Resource"] == "graphql"
    body = r.json()
    assert "errors" not in body, body
    data = body["data"]
    api, web, infra = data["repo0"], data["repo1"], data["repo2"]
    assert api["readme"]["text"] == "# api\n"
    assert api["readme"]["oid"] == gitobjects.blob_sha(b"# api\n")
    assert web["readme"] == {
        "oid": gitobjects.blob_sha(b"# web\n"),
        "byteSize": 6,
        "isBinary": False,
        "text": "# web\n",
    }
    assert infra["readme"] is None and infra["isPrivate"] and infra["visibility"] == "PRIVATE"
    head = forge.repo("acme", "api").head()
    assert head is not None
    assert api["defaultBranchRef"]["target"] == {"oid": head.sha, "tree": {"oid": head.tree}}
    entries = {e["name"]: e for e in api["root"]["entries"]}
    assert entries["src"]["type"] == "tree" and entries["src"]["mode"] == 0o40000
    assert entries["README.md"]["object"] == {"byteSize": 6}
    assert [t["topic"]["name"] for t in api["repositoryTopics"]["nodes"]] == ["python", "service"]
    assert api["branchProtectionRules"]["nodes"] == [
        {
            "pattern": "main",
            "requiresApprovingReviews": True,
            "requiredApprovingReviewCount": 2,
            "requiresCodeOwnerReviews": True,
            "isAdminEnforced": True,
            "allowsForcePushes": False,
        }
    ]
    ruleset = web["rulesets"]["nodes"][0]
    assert ruleset["enforcement"] == "ACTIVE" and ruleset["target"] == "BRANCH"
    assert ruleset["conditions"]["refName"]["include"] == ["~DEFAULT_BRANCH"]
    assert ruleset["rules"]["nodes"][0] == {
        "type": "PULL_REQUEST",
        "parameters": {"requiredApprovingReviewCount": 1, "requireCodeOwnerReview": True},
    }
    # cost: 3 repos x (topics + protections + rulesets + 10 x rules) = 39 requests -> 1 point
    assert data["rateLimit"]["cost"] == 1 and data["rateLimit"]["remaining"] == 4999
    assert forge.rate_limit(DEFAULT_TOKEN, "graphql").used == 1
    assert forge.rate_limit(DEFAULT_TOKEN, "core").used == 0


def test_graphql_organization_pagination_and_binary(forge: FakeGitHub) -> None:
    query = """query($after: String) { organization(login: "acme") {
      repositories(first: 4, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } nodes { name isArchived isEmpty }
      } } }"""
    first = gql(forge, query).json()["data"]["organization"]["repositories"]
    assert first["totalCount"] == 6 and first["pageInfo"]["hasNextPage"] is True
    second = gql(forge, query, {"after": first["pageInfo"]["endCursor"]}).json()
    page2 = second["data"]["organization"]["repositories"]
    assert page2["pageInfo"]["hasNextPage"] is False
    names = [n["name"] for n in first["nodes"] + page2["nodes"]]
    assert names == ["api", "web", "infra", "old", "forked", "blank"]
    assert page2["nodes"][-1]["isEmpty"] is True
    blob = gql(
        forge,
        '{ repository(owner: "acme", name: "api") { object(expression: '
        '"main:logo.png") { ... on Blob { isBinary text } } } }',
    ).json()
    assert blob["data"]["repository"]["object"] == {"isBinary": True, "text": None}
    node_id = forge.repo("acme", "web").node_id
    nodes = gql(
        forge,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Repository { name } } }",
        {"ids": [node_id]},
    ).json()
    assert nodes["data"]["nodes"] == [{"id": node_id, "name": "web"}]
    forge.add_ruleset("acme", "web", required_approving_review_count=2)
    forge.add_ruleset("acme", "web", enforcement="disabled", required_approving_review_count=5)
    ref = gql(
        forge,
        '{ repository(owner: "acme", name: "web") { ref(qualifiedName: '
        '"refs/heads/main") { name rules(first: 10) { nodes { type parameters { '
        "... on PullRequestParameters { requiredApprovingReviewCount } } } } } } }",
    ).json()
    assert ref["data"]["repository"]["ref"]["rules"]["nodes"] == [
        {"type": "PULL_REQUEST", "parameters": {"requiredApprovingReviewCount": 2}}
    ]


def test_graphql_errors(forge: FakeGitHub) -> None:
    invalid = gql(forge, '{ repository(owner: "acme", name: "api") { nope } }')
    assert invalid.status_code == 200
    body = invalid.json()
    assert "data" not in body and body["errors"]
    assert "nope" in body["errors"][0]["message"]
    assert body["errors"][0]["locations"]
    syntax = gql(forge, "{ repository(owner: ").json()
    assert syntax["errors"] and "data" not in syntax
    missing = gql(forge, '{ organization(login: "acme") { repositories { totalCount } } }')
    assert missing.json()["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"
    excessive = gql(
        forge, '{ organization(login: "acme") { repositories(first: 101) { totalCount } } }'
    )
    assert excessive.json()["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    partial = gql(
        forge,
        '{ a: repository(owner: "acme", name: "api") { name } '
        'b: repository(owner: "acme", name: "ghost") { name } }',
    ).json()
    assert partial["data"] == {"a": {"name": "api"}, "b": None}
    assert partial["errors"][0]["type"] == "NOT_FOUND"
    assert partial["errors"][0]["path"] == ["b"]
    with pytest.raises(GithubException):
        gh(forge).requester.graphql_query("{ nope }", {})
    forge.add_token("fine", kind="fine_grained")
    denied = gql(
        forge,
        '{ repository(owner: "acme", name: "api") { name '
        "branchProtectionRules(first: 5) { nodes { pattern } } } }",
        token="fine",
    ).json()
    assert denied["errors"][0]["type"] == "FORBIDDEN"
    assert (
        requests.post(
            forge.url + "/graphql", json={"query": "{ viewer { login } }"}, timeout=10
        ).status_code
        == 401
    )
    forge.set_rate_limit(DEFAULT_TOKEN, "graphql", used=5000)
    limited = gql(forge, "{ viewer { login } }")
    assert limited.status_code == 200
    assert limited.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert limited.headers["X-RateLimit-Remaining"] == "0"


def test_vendored_graphql_schema_is_usable() -> None:
    from graphql import validate_schema

    schema = graphql_schema()
    problems = [e.message for e in validate_schema(schema)]
    # graphql-core >= 3.3 rejects deprecated fields implementing non-deprecated interface
    # fields; GitHub's schema has a few. Nothing else may be wrong with it.
    assert all("must not be deprecated" in p for p in problems), problems[:3]
    assert "Repository" in schema.type_map and "PullRequestParameters" in schema.type_map


# --------------------------------------------------------------------------- OpenAPI


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects -> JSON Schema: ``nullable`` becomes a null alternative,
    ``oneOf`` becomes ``anyOf`` (GitHub's oneOf branches overlap), OpenAPI-only keywords go."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in (
            "nullable",
            "discriminator",
            "xml",
            "externalDocs",
            "deprecated",
            "readOnly",
            "writeOnly",
        ) or key.startswith("x-"):
            continue
        if key == "properties":
            out[key] = {k: _openapi_to_jsonschema(v) for k, v in value.items()}
        elif key == "oneOf":
            out["anyOf"] = _openapi_to_jsonschema(value)
        else:
            out[key] = _openapi_to_jsonschema(value)
    if node.get("nullable"):
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "$ref" in out or "anyOf" in out or "allOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(REST_SUBSET_PATH.read_text(encoding="utf-8"))
    return doc


def _validator(doc: dict[str, Any], template: str, method: str, status: str) -> Any:
    response = doc["paths"][template][method]["responses"][status]
    if "$ref" in response:
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    if (template, method) == ("/app/installations", "get"):
        # Known inaccuracy of the published description: this operation inlines the
        # installation ``account`` as allOf [simple-user, enterprise] (no account can be
        # both); the shared ``installation`` schema says anyOf, as GitHub behaves.
        schema = json.loads(json.dumps(schema))
        account = schema["items"]["properties"]["account"]
        account["anyOf"] = account.pop("allOf")
    root = {
        **_openapi_to_jsonschema(schema),
        "components": _openapi_to_jsonschema(doc["components"]),
    }
    return jsonschema.Draft7Validator(root)


@pytest.fixture
def app_forge(forge: FakeGitHub) -> Iterator[tuple[FakeGitHub, str]]:
    private_pem, public_pem = generate_app_key()
    forge.add_app(77, public_key_pem=public_pem)
    forge.install_app(77, "acme")
    yield forge, Auth.AppAuth(77, private_pem).create_jwt()


CASES = [
    ("/orgs/acme", "/orgs/{org}", "get", "200"),
    ("/orgs/acme/repos?per_page=100", "/orgs/{org}/repos", "get", "200"),
    ("/orgs/acme/rulesets", "/orgs/{org}/rulesets", "get", "200"),
    ("/orgs/acme/rulesets/{org_ruleset}", "/orgs/{org}/rulesets/{ruleset_id}", "get", "200"),
    ("/repos/acme/api", "/repos/{owner}/{repo}", "get", "200"),
    ("/repos/acme/forked", "/repos/{owner}/{repo}", "get", "200"),
    (
        "/repos/acme/api/git/trees/main?recursive=1",
        "/repos/{owner}/{repo}/git/trees/{tree_sha}",
        "get",
        "200",
    ),
    (
        "/repos/acme/api/git/blobs/{blob}",
        "/repos/{owner}/{repo}/git/blobs/{file_sha}",
        "get",
        "200",
    ),
    (
        "/repos/acme/api/contents/README.md?ref=main",
        "/repos/{owner}/{repo}/contents/{path}",
        "get",
        "200",
    ),
    ("/repos/acme/api/contents/", "/repos/{owner}/{repo}/contents/{path}", "get", "200"),
    ("/repos/acme/api/branches/main", "/repos/{owner}/{repo}/branches/{branch}", "get", "200"),
    (
        "/repos/acme/api/branches/main/protection",
        "/repos/{owner}/{repo}/branches/{branch}/protection",
        "get",
        "200",
    ),
    (
        "/repos/acme/web/rules/branches/main",
        "/repos/{owner}/{repo}/rules/branches/{branch}",
        "get",
        "200",
    ),
    ("/repos/acme/web/rulesets", "/repos/{owner}/{repo}/rulesets", "get", "200"),
    (
        "/repos/acme/web/rulesets/{repo_ruleset}",
        "/repos/{owner}/{repo}/rulesets/{ruleset_id}",
        "get",
        "200",
    ),
    ("/repos/acme/api/topics", "/repos/{owner}/{repo}/topics", "get", "200"),
    ("/rate_limit", "/rate_limit", "get", "200"),
    ("/user", "/user", "get", "200"),
    # errors
    ("/orgs/nobody", "/orgs/{org}", "get", "404"),
    ("/repos/acme/nope", "/repos/{owner}/{repo}", "get", "404"),
    (
        "/repos/acme/blank/git/trees/main",
        "/repos/{owner}/{repo}/git/trees/{tree_sha}",
        "get",
        "409",
    ),
    (
        "/repos/acme/web/branches/main/protection",
        "/repos/{owner}/{repo}/branches/{branch}/protection",
        "get",
        "404",
    ),
]

APP_CASES = [
    ("/app", "/app", "get", "200"),
    ("/app/installations", "/app/installations", "get", "200"),
    ("/orgs/acme/installation", "/orgs/{org}/installation", "get", "200"),
]


def test_rest_responses_match_openapi(
    app_forge: tuple[FakeGitHub, str], openapi: dict[str, Any]
) -> None:
    forge, jwt = app_forge
    repo_rs = forge.add_ruleset(
        "acme",
        "web",
        required_approving_review_count=1,
        rules=[{"type": "required_linear_history"}],
    )
    org_rs = forge.add_ruleset("acme", name="org", repositories=["*"], rules=[{"type": "deletion"}])
    blob = gitobjects.blob_sha(LOGO)
    checked = 0
    for url, template, method, status in CASES + APP_CASES:
        url = url.format(blob=blob, repo_ruleset=repo_rs.id, org_ruleset=org_rs.id)
        if (url, template, method, status) in APP_CASES:
            response = requests.get(
                forge.url + url, timeout=10, headers={"Authorization": f"Bearer {jwt}"}
            )
        else:
            response = raw(forge, url)
        assert str(response.status_code) == status, (url, response.text)
        validator = _validator(openapi, template, method, status)
        errors = sorted(validator.iter_errors(response.json()), key=lambda e: list(e.path))
        assert not errors, (url, [f"{list(e.path)}: {e.message}"[:300] for e in errors[:5]])
        checked += 1

    # the installation token endpoint (POST) and the installation's repository list
    token_response = requests.post(
        f"{forge.url}/app/installations/{next(iter(forge.installations))}/access_tokens",
        headers={"Authorization": f"Bearer {jwt}"},
        timeout=10,
    )
    assert token_response.status_code == 201
    validator = _validator(
        openapi, "/app/installations/{installation_id}/access_tokens", "post", "201"
    )
    assert not list(validator.iter_errors(token_response.json()))
    installation_token = token_response.json()["token"]
    listing = raw(forge, "/installation/repositories", token=installation_token)
    validator = _validator(openapi, "/installation/repositories", "get", "200")
    assert not list(validator.iter_errors(listing.json()))
    assert checked == len(CASES) + len(APP_CASES)


def test_validation_is_not_vacuous(openapi: dict[str, Any]) -> None:
    tree = _validator(openapi, "/repos/{owner}/{repo}/git/trees/{tree_sha}", "get", "200")
    assert list(tree.iter_errors({"tree": []}))  # sha and truncated missing
    repo = _validator(openapi, "/repos/{owner}/{repo}", "get", "200")
    assert list(repo.iter_errors({"id": "not a number"}))
    error = _validator(openapi, "/repos/{owner}/{repo}", "get", "404")
    assert list(error.iter_errors({"message": 404}))


def test_contract_extract_is_current(openapi: dict[str, Any]) -> None:
    source = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "github"
    if not (source / "api.github.com.json").exists():
        pytest.skip("GitHub's full descriptions are not next to the project")
    from tests.fakes import extract_contracts

    spec = json.loads((source / "api.github.com.json").read_text(encoding="utf-8"))
    assert json.loads(json.dumps(extract_contracts.extract_rest(spec))) == openapi
