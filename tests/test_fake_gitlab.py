"""Contract checks for the fake GitLab (tests/fakes/gitlab.py).

The real python-gitlab client (and requests, for raw HTTP) talks to the fake on 127.0.0.1:
URL-encoded ids read from the raw request, pagination headers, errors as python-gitlab maps
them, rate limits and faults, ETags, GraphQL against the hand-written schema subset, and git
object ids checked against the real ``git``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

gitlab: Any = pytest.importorskip("gitlab")  # python-gitlab
pytest.importorskip("graphql")
pytest.importorskip("werkzeug")

import requests  # noqa: E402
from gitlab import exceptions as glexc  # noqa: E402

from tests.fakes.gitlab import (  # noqa: E402
    DEFAULT_TOKEN,
    FakeGitLab,
    gitlab_forge,
    graphql_schema,
)

__all__ = ["gitlab_forge"]  # the fixture, imported explicitly (conftest may also provide it)

LOGO = b"\x89PNG\r\n\x1a\n\0\0binary"
CI = "stages: [test]\ntest:\n  stage: test\n  script: [make test]\n"
FILES: dict[str, str | bytes] = {
    "README.md": "# api\n",
    ".gitlab-ci.yml": CI,
    "src/app.py": "print('hi')\n",
    "src/lib/util.py": "X = 1\n",
    "logo.png": LOGO,
}


@pytest.fixture
def forge(gitlab_forge: FakeGitLab) -> FakeGitLab:
    f = gitlab_forge
    f.add_group("acme/platform/sre", tier="premium")
    f.add_group("free-org")
    f.add_project("acme", "api", files=FILES, topics=["python"])
    f.add_project("acme/platform", "web", files={"README.md": "# web\n"})
    f.add_project("acme/platform/sre", "infra", files={"main.tf": "terraform {}\n"})
    f.add_project("acme/platform/sre", "old", archived=True)
    f.add_project("acme/platform", "forked", forked=True)
    f.add_project("acme", "blank", empty=True)
    f.add_project("free-org", "tool", files={"README.md": "# tool\n"})
    f.protect_branch("acme/api", "main", push_access_level=40, merge_access_level=30)
    f.add_approval_rule("acme/api", "reviewers", 2)
    f.protect_branch("free-org/tool", "main")
    f.add_approval_rule("free-org/tool", "ignored on free", 1)
    return f


def client(forge: FakeGitLab, token: str | None = DEFAULT_TOKEN, **kwargs: Any) -> Any:
    options: dict[str, Any] = {"retry_transient_errors": False}
    if token is not None:
        options["private_token"] = token
    options.update(kwargs)
    return gitlab.Gitlab(forge.url, **options)


# ------------------------------------------------------------------ groups and projects


def test_nested_group_by_encoded_path(forge: FakeGitLab) -> None:
    gl = client(forge)
    group = gl.groups.get("acme/platform/sre")
    assert group.full_path == "acme/platform/sre"
    assert group.parent_id == forge.group("acme/platform").id
    (request,) = [r for r in forge.requests if r.path == "/groups/acme/platform/sre"]
    assert request.raw_path == "/api/v4/groups/acme%2Fplatform%2Fsre"
    assert request.counted and request.status == 200
    assert forge.count(path="/groups/*") == 1
    subgroups = gl.groups.get("acme").subgroups.list(get_all=True)
    assert [g.full_path for g in subgroups] == ["acme/platform"]
    descendants = gl.groups.get("acme").descendant_groups.list(get_all=True)
    assert {g.full_path for g in descendants} == {"acme/platform", "acme/platform/sre"}


def test_group_projects_paginate_across_subgroups(forge: FakeGitLab) -> None:
    for i in range(20):
        forge.add_project("acme/platform/sre", f"svc-{i:02d}")
    gl = client(forge)
    group = gl.groups.get("acme")
    forge.reset_counts()
    listing = group.projects.list(include_subgroups=True, iterator=True)
    names = [p.path_with_namespace for p in listing]
    assert len(names) == 26 == len(set(names))
    assert listing.total == 26 and listing.total_pages == 2 and listing.per_page == 20
    assert forge.count() == 2
    first = forge.requests[0]
    assert "include_subgroups=True" in first.query  # python-gitlab capitalises booleans
    direct = group.projects.list(get_all=True)
    assert {p.path for p in direct} == {"api", "blank"}
    active = group.projects.list(include_subgroups=True, archived=False, get_all=True)
    assert "acme/platform/sre/old" not in {p.path_with_namespace for p in active}
    forked = [p for p in group.projects.list(include_subgroups=True, get_all=True)
              if "forked_from_project" in p.attributes]
    assert [p.path for p in forked] == ["forked"]


def test_pagination_headers_and_link(forge: FakeGitLab) -> None:
    group_id = forge.group("acme").id
    response = requests.get(
        f"{forge.url}/api/v4/groups/{group_id}/projects",
        params={"include_subgroups": "true", "per_page": "2", "page": "2"},
        headers={"PRIVATE-TOKEN": DEFAULT_TOKEN}, timeout=5,
    )
    assert response.status_code == 200 and len(response.json()) == 2
    h = response.headers
    assert (h["X-Page"], h["X-Per-Page"], h["X-Total"], h["X-Total-Pages"]) == ("2", "2", "6", "3")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("3", "1")
    assert response.links["next"]["url"].startswith(f"{forge.url}/api/v4/groups/{group_id}/")
    assert "page=3" in response.links["next"]["url"]
    assert response.headers["Content-Type"] == "application/json"


def test_project_by_encoded_path_and_shapes(forge: FakeGitLab) -> None:
    gl = client(forge)
    project = gl.projects.get("acme/platform/sre/infra")
    assert project.path_with_namespace == "acme/platform/sre/infra"
    assert project.default_branch == "main" and project.visibility == "private"
    assert project.namespace["full_path"] == "acme/platform/sre"
    assert project.empty_repo is False and project.archived is False
    blank = gl.projects.get("acme/blank")
    assert blank.empty_repo is True and blank.default_branch is None
    assert gl.projects.get(project.id).name == "infra"
    assert gl.version()[0] == "17.5.0-ee"
    gl.auth()
    assert gl.user.username == "governance-bot"


# ------------------------------------------------------------------ repository


def test_repository_tree_recursive_across_pages(forge: FakeGitLab) -> None:
    forge.push("acme/api", {f"docs/page-{i:02d}.md": f"page {i}\n" for i in range(20)})
    project = client(forge).projects.get("acme/api", lazy=True)
    forge.reset_counts()
    entries = list(project.repository_tree(recursive=True, iterator=True))
    paths = {e["path"] for e in entries}
    assert {"src", "src/lib", "src/lib/util.py", "docs/page-19.md", ".gitlab-ci.yml"} <= paths
    assert len(entries) == 28
    assert forge.count(path="/projects/acme/api/repository/tree") == 2  # 20 per page
    assert {e["type"] for e in entries} == {"tree", "blob"}
    assert next(e for e in entries if e["path"] == "src")["mode"] == "040000"
    top = project.repository_tree(get_all=True)
    assert [e["name"] for e in top][:2] == ["docs", "src"]  # trees first, as GitLab lists them
    sub = project.repository_tree(path="src/lib", get_all=True)
    assert [e["path"] for e in sub] == ["src/lib/util.py"]


def test_repository_tree_keyset_pagination(forge: FakeGitLab) -> None:
    url = f"{forge.url}/api/v4/projects/acme%2Fapi/repository/tree"
    session = requests.Session()
    session.headers["PRIVATE-TOKEN"] = DEFAULT_TOKEN
    seen: list[str] = []
    response = session.get(url, params={"recursive": "true", "pagination": "keyset",
                                        "per_page": "3"}, timeout=5)
    while True:
        assert response.status_code == 200
        seen += [e["path"] for e in response.json()]
        if "next" not in response.links:
            break
        assert "page_token=" in response.links["next"]["url"]
        response = session.get(response.links["next"]["url"], timeout=5)
    assert len(seen) == 7 == len(set(seen))
    assert "X-Total" not in response.headers


def test_files_nested_raw_blobs_and_head(forge: FakeGitLab) -> None:
    project = client(forge).projects.get("acme/api", lazy=True)
    f = project.files.get("src/lib/util.py", ref="main")
    assert f.decode() == b"X = 1\n"
    assert f.file_path == "src/lib/util.py" and f.size == 6 and f.encoding == "base64"
    (request,) = [r for r in forge.requests if r.path.endswith("util.py")]
    assert request.raw_path == "/api/v4/projects/acme%2Fapi/repository/files/src%2Flib%2Futil.py"
    assert project.files.raw("logo.png", ref="main") == LOGO
    assert project.repository_raw_blob(f.blob_id) == b"X = 1\n"
    head = project.files.head("README.md", ref="main")
    assert head["X-Gitlab-Blob-Id"] == project.files.get("README.md", ref="main").blob_id
    with pytest.raises(glexc.GitlabGetError) as missing:
        project.files.get("nope.txt", ref="main")
    assert missing.value.response_code == 404
    assert missing.value.error_message == "404 File Not Found"
    branch = project.branches.get("main")
    assert branch.protected is True and branch.default is True
    assert branch.commit["id"] == forge.project("acme/api").branches["main"]


def test_empty_project_tree_and_files_404(forge: FakeGitLab) -> None:
    project = client(forge).projects.get("acme/blank")
    with pytest.raises(glexc.GitlabGetError) as tree:
        project.repository_tree(get_all=True)
    assert tree.value.response_code == 404 and tree.value.error_message == "404 Tree Not Found"
    with pytest.raises(glexc.GitlabGetError) as files:
        project.files.get("README.md", ref="main")
    assert files.value.response_code == 404


def test_push_changes_head_and_last_commit(forge: FakeGitLab) -> None:
    project = client(forge).projects.get("acme/api", lazy=True)
    before = project.files.get("README.md", ref="main")
    head = forge.push("acme/api", {"NEW.md": "new\n"}, delete=["logo.png"])
    after = project.files.get("README.md", ref="main")
    assert after.commit_id == head != before.commit_id
    assert after.last_commit_id == before.last_commit_id  # README untouched by the push
    assert project.files.get("NEW.md", ref="main").last_commit_id == head
    with pytest.raises(glexc.GitlabGetError):
        project.files.get("logo.png", ref="main")
    assert project.files.get("logo.png", ref=before.commit_id).decode() == LOGO


# ------------------------------------------------------------------ settings


def test_protected_branches(forge: FakeGitLab) -> None:
    project = client(forge).projects.get("acme/api", lazy=True)
    (prot,) = project.protectedbranches.list(get_all=True)
    assert prot.name == "main" and prot.allow_force_push is False
    assert [a["access_level"] for a in prot.push_access_levels] == [40]
    assert [a["access_level"] for a in prot.merge_access_levels] == [30]
    assert prot.merge_access_levels[0]["access_level_description"] == "Developers + Maintainers"


def test_approval_rules_premium_vs_free(forge: FakeGitLab) -> None:
    gl = client(forge)
    premium = gl.projects.get("acme/api", lazy=True)
    (rule,) = premium.approvalrules.list(get_all=True)
    assert rule.name == "reviewers" and rule.approvals_required == 2
    assert premium.approvals.get().reset_approvals_on_push is True
    free = gl.projects.get("free-org/tool", lazy=True)
    with pytest.raises(glexc.GitlabListError) as denied:
        free.approvalrules.list(get_all=True)
    assert denied.value.response_code == 403
    assert denied.value.error_message == "403 Forbidden"
    with pytest.raises(glexc.GitlabGetError):
        free.approvals.get()


def test_ci_lint(forge: FakeGitLab) -> None:
    project = client(forge).projects.get("acme/api", lazy=True)
    ok = project.ci_lint.create({"content": CI})
    assert ok.valid is True and ok.errors == [] and ok.merged_yaml == CI
    tagged = project.ci_lint.create(
        {"content": ".base: {script: [a]}\njob:\n  script: !reference [.base, script]\n"}
    )
    assert tagged.valid is True
    bad = project.ci_lint.create({"content": "job: [unclosed\n"})
    assert bad.valid is False and bad.errors and bad.merged_yaml is None
    scalar = project.ci_lint.create({"content": "just a string\n"})
    assert scalar.errors == ["Invalid configuration format"]
    current = project.ci_lint.get()
    assert current.valid is True and current.merged_yaml == CI


# ------------------------------------------------------------------ auth and tokens


def test_errors_as_python_gitlab_maps_them(forge: FakeGitLab) -> None:
    with pytest.raises(glexc.GitlabAuthenticationError) as bad:
        client(forge, "glpat-wrong").projects.get("acme/api")
    assert bad.value.response_code == 401 and bad.value.error_message == "401 Unauthorized"
    assert forge.count(status=401) == 0 and forge.count(False, status=401) == 1
    with pytest.raises(glexc.GitlabGetError) as missing:
        client(forge).projects.get("acme/nope")
    assert missing.value.error_message == "404 Project Not Found"
    with pytest.raises(glexc.GitlabGetError) as group:
        client(forge).groups.get("nope")
    assert group.value.error_message == "404 Group Not Found"
    anonymous = client(forge, None)
    with pytest.raises(glexc.GitlabGetError):  # private: invisible without a token
        anonymous.projects.get("acme/api")


def test_token_kinds_and_scopes(forge: FakeGitLab) -> None:
    forge.add_token("glpat-project", kind="project", projects=["acme/api"])
    project_token = client(forge, "glpat-project")
    assert project_token.projects.get("acme/api").name == "api"
    with pytest.raises(glexc.GitlabGetError):
        project_token.projects.get("acme/platform/web")
    with pytest.raises(glexc.GitlabGetError):
        project_token.groups.get("acme")

    forge.add_token("glpat-group", kind="group", projects=["acme/platform"])
    group_token = client(forge, "glpat-group")
    listed = group_token.groups.get("acme/platform").projects.list(
        include_subgroups=True, get_all=True)
    assert {p.path for p in listed} == {"web", "forked", "infra", "old"}
    with pytest.raises(glexc.GitlabGetError):
        group_token.projects.get("acme/api")

    forge.add_token("glpat-user-only", scopes=("read_user",))
    weak = client(forge, "glpat-user-only")
    with pytest.raises(glexc.GitlabGetError) as scope:
        weak.projects.get("acme/api", lazy=True).files.get("README.md", ref="main")
    assert scope.value.response_code == 403

    forge.add_token("glpat-repo", scopes=("read_repository",))
    repo_only = client(forge, "glpat-repo").projects.get("acme/api", lazy=True)
    assert repo_only.files.get("README.md", ref="main").decode() == b"# api\n"
    with pytest.raises(glexc.GitlabListError) as tree:
        repo_only.protectedbranches.list(get_all=True)
    assert tree.value.response_code == 403

    forge.add_token("glpat-guest", access_level=10)
    guest = client(forge, "glpat-guest").projects.get("acme/api", lazy=True)
    with pytest.raises(glexc.GitlabGetError) as code:
        guest.files.get("README.md", ref="main")
    assert code.value.response_code == 403

    forge.add_token("job-123", kind="job", projects=["acme/api"])
    job = gitlab.Gitlab(forge.url, job_token="job-123", retry_transient_errors=False)
    assert job.projects.get("acme/api", lazy=True).files.get("README.md", ref="main").size == 6
    with pytest.raises(glexc.GitlabGetError):
        job.groups.get("acme")  # job tokens are ignored there: anonymous, private group

    bearer = gitlab.Gitlab(forge.url, oauth_token=DEFAULT_TOKEN)
    assert bearer.projects.get("acme/api").name == "api"
    assert forge.requests[-1].token == DEFAULT_TOKEN


# ------------------------------------------------------------------ limits, faults, ETags


def test_rate_limit_headers_and_429_retry_after(
    forge: FakeGitLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = requests.get(f"{forge.url}/api/v4/projects/acme%2Fapi",
                            headers={"PRIVATE-TOKEN": DEFAULT_TOKEN}, timeout=5)
    h = response.headers
    assert h["RateLimit-Limit"] == "2000" and h["RateLimit-Observed"] == "1"
    assert h["RateLimit-Remaining"] == "1999" and int(h["RateLimit-Reset"]) > time.time()
    assert "RateLimit-ResetTime" in h

    forge.rate_limit = 3
    forge.reset_rate_limits()
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        forge.reset_rate_limits()  # the window passes while python-gitlab waits

    monkeypatch.setattr(gitlab.utils, "time", SimpleNamespace(sleep=fake_sleep, time=time.time))
    gl = client(forge)
    for _ in range(4):
        gl.projects.get("acme/api")
    assert len(slept) == 1 and slept[0] >= 1
    assert forge.count(False, status=429) == 1 and forge.count(status=429) == 0
    limited = next(r for r in forge.requests if r.status == 429)
    assert limited.counted is False

    forge.rate_limit = 1
    forge.reset_rate_limits()
    strict = client(forge)
    strict.projects.get("acme/api")
    with pytest.raises(glexc.GitlabGetError) as refused:
        strict.projects.get("acme/api", obey_rate_limit=False)
    assert refused.value.response_code == 429


def test_each_fault_kind(forge: FakeGitLab, monkeypatch: pytest.MonkeyPatch) -> None:
    gl = client(forge)
    for kind in ("500", "502", "503"):
        forge.inject_fault(kind, "/projects/acme/api")
        with pytest.raises(glexc.GitlabGetError) as err:
            gl.projects.get("acme/api")
        assert err.value.response_code == int(kind)
        assert gl.projects.get("acme/api").name == "api"  # count=1: the next one works

    forge.inject_fault("reset", "/projects/*")
    with pytest.raises(requests.exceptions.ConnectionError):
        gl.projects.get("acme/api")
    assert gl.projects.get("acme/api").name == "api"

    slept: list[float] = []
    monkeypatch.setattr(gitlab.utils, "time", SimpleNamespace(sleep=slept.append, time=time.time))
    forge.inject_fault("429", "/projects/acme/api", count=2, retry_after=0)
    assert gl.projects.get("acme/api").name == "api"
    assert slept == [0, 0]

    forge.inject_fault("latency", "/projects/acme/api", delay_ms=150)
    started = time.monotonic()
    gl.projects.get("acme/api")
    assert time.monotonic() - started >= 0.15

    forge.inject_fault("503", "/api/graphql")
    assert graphql(forge, "{ currentUser { username } }").status_code == 503
    assert graphql(forge, "{ currentUser { username } }").json()["data"]["currentUser"][
        "username"] == "governance-bot"

    retrying = client(forge, retry_transient_errors=True)
    forge.inject_fault("502", "/projects/acme/api", count=2)
    assert retrying.projects.get("acme/api").name == "api"

    faults = [r.fault for r in forge.requests if r.fault]
    assert set(faults) == {"500", "502", "503", "reset", "429"}
    assert all(not r.counted for r in forge.requests if r.fault)
    assert forge.server_errors == []


def test_etag_not_modified_is_free(forge: FakeGitLab) -> None:
    url = f"{forge.url}/api/v4/projects/acme%2Fapi/repository/files/README.md"
    headers = {"PRIVATE-TOKEN": DEFAULT_TOKEN}
    first = requests.get(url, params={"ref": "main"}, headers=headers, timeout=5)
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    forge.reset_counts()
    again = requests.get(url, params={"ref": "main"},
                         headers={**headers, "If-None-Match": etag}, timeout=5)
    assert again.status_code == 304 and again.content == b""
    assert forge.count() == 0 and forge.count(False, status=304) == 1
    assert again.headers["RateLimit-Observed"] == first.headers["RateLimit-Observed"]
    forge.push("acme/api", {"README.md": "# changed\n"})
    changed = requests.get(url, params={"ref": "main"},
                           headers={**headers, "If-None-Match": etag}, timeout=5)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


# ------------------------------------------------------------------ git identities


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_real_git_shas(forge: FakeGitLab, tmp_path: Path) -> None:
    project = client(forge).projects.get("acme/api", lazy=True)
    work = tmp_path / "repo"
    for path, content in FILES.items():
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())

    def git(*args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run(["git", *args], cwd=work, check=True, capture_output=True,
                              text=True, env=env).stdout.strip()

    for path in FILES:
        blob = project.files.get(path, ref="main").blob_id
        assert blob == git("hash-object", path)
    git("init", "-q")
    git("add", "-A")
    tree = git("write-tree")
    entries = {e["path"]: e["id"] for e in project.repository_tree(recursive=True, get_all=True)}
    assert entries["src"] == git("rev-parse", f"{tree}:src")
    assert entries["src/lib"] == git("rev-parse", f"{tree}:src/lib")
    head = forge.project("acme/api").head()
    assert head is not None and head.tree == tree
    stamp = f"{head.author.timestamp} +0000"
    env = {"GIT_AUTHOR_NAME": "Fake GitLab", "GIT_AUTHOR_EMAIL": "forge@example.invalid",
           "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_NAME": "Fake GitLab",
           "GIT_COMMITTER_EMAIL": "forge@example.invalid", "GIT_COMMITTER_DATE": stamp,
           "PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp_path)}
    assert git("commit-tree", tree, "-m", "Initial commit", env=env) == head.sha
    assert project.branches.get("main").commit["id"] == head.sha


# ------------------------------------------------------------------ GraphQL

BATCH = """
query Batch($ref: String) {
  %s
}
"""
PROJECT_FIELDS = """
    id fullPath archived visibility topics
    repository {
      rootRef empty
      tree(recursive: true) { lastCommit { sha } }
      blobs(paths: ["README.md", ".gitlab-ci.yml", "missing.txt"], ref: $ref) {
        nodes { path rawTextBlob size rawSize }
      }
    }
    branchRules {
      nodes {
        name isProtected
        branchProtection {
          allowForcePush
          mergeAccessLevels { nodes { accessLevel } }
          pushAccessLevels { nodes { accessLevel } }
        }
        approvalRules { nodes { approvalsRequired } }
      }
    }
"""


def graphql(forge: FakeGitLab, query: str, variables: dict[str, Any] | None = None,
            token: str = DEFAULT_TOKEN) -> requests.Response:
    return requests.post(forge.graphql_url, json={"query": query, "variables": variables or {}},
                         headers={"Authorization": f"Bearer {token}"}, timeout=5)


def test_graphql_batches_projects_with_blob_texts(forge: FakeGitLab) -> None:
    paths = ["acme/api", "acme/platform/web", "free-org/tool"]
    aliases = "\n".join(
        f'p{i}: project(fullPath: "{p}") {{ {PROJECT_FIELDS} }}' for i, p in enumerate(paths)
    )
    forge.reset_counts()
    response = graphql(forge, BATCH % aliases, {"ref": "main"})
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body
    data = body["data"]
    api = data["p0"]
    assert api["fullPath"] == "acme/api" and api["id"].startswith("gid://gitlab/Project/")
    blobs = {b["path"]: b for b in api["repository"]["blobs"]["nodes"]}
    assert set(blobs) == {"README.md", ".gitlab-ci.yml"}
    assert blobs[".gitlab-ci.yml"]["rawTextBlob"] == CI
    assert blobs["README.md"]["size"] == "6"  # BigInt is a string
    head = forge.project("acme/api").head()
    assert head is not None and api["repository"]["tree"]["lastCommit"]["sha"] == head.sha
    rules = {r["name"]: r for r in api["branchRules"]["nodes"]}
    assert rules["main"]["branchProtection"]["pushAccessLevels"]["nodes"] == [
        {"accessLevel": 40}]
    assert rules["All branches"]["approvalRules"]["nodes"] == [{"approvalsRequired": 2}]
    assert data["p1"]["repository"]["blobs"]["nodes"][0]["rawTextBlob"] == "# web\n"
    free_rules = data["p2"]["branchRules"]["nodes"]
    assert [r["name"] for r in free_rules] == ["main"]
    assert free_rules[0]["approvalRules"]["nodes"] == []  # premium-only: nothing on free
    assert forge.count() == 1
    assert "p2: project" in forge.requests[-1].graphql_query


def test_graphql_group_projects_and_full_paths(forge: FakeGitLab) -> None:
    query = """
    query($after: String) {
      group(fullPath: "acme") {
        projects(includeSubgroups: true, first: 4, after: $after) {
          pageInfo { hasNextPage endCursor }
          nodes { fullPath repository { empty rootRef } }
        }
      }
    }"""
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = graphql(forge, query, {"after": after}).json()["data"]["group"]["projects"]
        pages += 1
        seen += [n["fullPath"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 2 and len(seen) == 6 and "acme/platform/sre/infra" in seen
    listing = graphql(forge, """{ projects(fullPaths: ["acme/api", "acme/blank", "x/y"]) {
        nodes { fullPath repository { empty rootRef tree { lastCommit { sha } } } } } }""")
    nodes = {n["fullPath"]: n for n in listing.json()["data"]["projects"]["nodes"]}
    assert set(nodes) == {"acme/api", "acme/blank"}
    assert nodes["acme/blank"]["repository"] == {"empty": True, "rootRef": None, "tree": None}
    assert graphql(forge, '{ group(fullPath: "nope") { id } }').json()["data"] == {"group": None}
    everything = graphql(forge, 'query($ref: String) { group(fullPath: "acme") { projects('
                         'includeSubgroups: true, first: 100) { pageInfo { hasNextPage } '
                         f'nodes {{ {PROJECT_FIELDS} }} }} }} }}', {"ref": "main"}).json()
    assert "errors" not in everything
    by_path = {n["fullPath"]: n for n in everything["data"]["group"]["projects"]["nodes"]}
    assert by_path["acme/platform/sre/old"]["archived"] is True
    assert by_path["acme/blank"]["repository"]["blobs"]["nodes"] == []
    assert by_path["acme/blank"]["repository"]["tree"] is None
    assert by_path["acme/api"]["topics"] == ["python"]


def test_graphql_errors(forge: FakeGitLab) -> None:
    invalid = graphql(forge, '{ project(fullPath: "acme/api") { noSuchField } }')
    assert invalid.status_code == 200
    body = invalid.json()
    assert "data" not in body and "noSuchField" in body["errors"][0]["message"]
    syntax = graphql(forge, "{ project(")
    assert syntax.json()["errors"]
    bad = graphql(forge, "{ currentUser { username } }", token="glpat-wrong")
    assert bad.status_code == 401 and bad.json() == {"errors": [{"message": "Invalid token"}]}
    assert graphql_schema().query_type is not None
