"""The GitLab provider against the fake GitLab (tests/fakes/gitlab.py) on 127.0.0.1.

The real provider and the real CLI talk HTTP to the fake; request budgets are asserted
with the fake's accounting (`forge.count()` counts requests charged to a rate limit: a
`304 Not Modified` is not). Every GraphQL document the provider sends is validated
against the fake's SDL (tests/fakes/gitlab_schema.graphql).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gitlab")
graphql: Any = pytest.importorskip("graphql")

from governance.demo import make_repo  # noqa: E402
from governance.errors import ConfigError  # noqa: E402
from governance.models import Outcome, RepoRef  # noqa: E402
from governance.providers import Needs, open_source  # noqa: E402
from governance.providers import gitlab_queries as q  # noqa: E402
from governance.providers.gitlab import GitLabProvider, branch_rules  # noqa: E402
from governance.providers.local import LocalProvider  # noqa: E402
from governance.settings import DEFAULT_BRANCH_RULES, BranchRules  # noqa: E402
from governance.snapshot import RepoFailure, RepoFiles, RepoSnapshot  # noqa: E402
from tests.fakes.scanning import Sleeps, baseline, scan, snapshot, snapshots  # noqa: E402

SCHEMA_PATH = Path(__file__).resolve().parent / "fakes" / "gitlab_schema.graphql"
# Policies whose verdict depends on the forge (GitLab reads neither .github/CODEOWNERS nor
# Dependabot); every other file-based policy must agree with a local checkout.
PLATFORM_AWARE = frozenset({"codeowners-present", "dependency-updates-configured"})

GITLAB_CI = """\
include:
  - local: ci/templates.yml
stages: [test, deploy]
test:
  extends: .base
  script: [make test]
deploy:
  stage: deploy
  extends: .deploy
  script: [make deploy]
"""
TEMPLATES_MANUAL = """\
.base:
  image: python:3.12
.deploy:
  rules:
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH
      when: manual
"""
TEMPLATES_AUTOMATIC = """\
.base:
  image: python:3.12
.deploy:
  rules:
    - when: on_success
    - when: manual
"""


# --------------------------------------------------------------------------- schema


@lru_cache(maxsize=1)
def schema() -> Any:
    return graphql.build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


def errors_of(text: str) -> list[str]:
    return [e.message for e in graphql.validate(schema(), graphql.parse(text))]


@pytest.mark.parametrize("count", [1, 2, 50, 100])
@pytest.mark.parametrize("settings", [True, False])
def test_projects_query_is_valid(count: int, settings: bool) -> None:
    text = q.projects_query(count, settings)
    assert errors_of(text) == []
    assert text.count("project(fullPath:") == count
    assert ("branchRules" in text) is settings


@pytest.mark.parametrize("count", [1, 3, 40])
def test_blobs_query_is_valid(count: int) -> None:
    text = q.blobs_query(count)
    assert errors_of(text) == []
    assert text.count("blobs(paths:") == count


def test_branch_rules_from_graphql_nodes() -> None:
    def node(name: str, push: int, *, force: bool = False, approvals: tuple[int, ...] = ()
             ) -> dict[str, Any]:
        return {"name": name, "isProtected": True, "branchProtection": {
            "allowForcePush": force, "codeOwnerApprovalRequired": False,
            "mergeAccessLevels": {"nodes": [{"accessLevel": 30}]},
            "pushAccessLevels": {"nodes": [{"accessLevel": push}]}},
            "approvalRules": {"nodes": [{"name": f"r{a}", "approvalsRequired": a}
                                        for a in approvals]}}

    locked = branch_rules("main", [node("main", 0, approvals=(2,)), node("dev", 40)])
    assert locked.requires_pull_request and locked.required_approvals == 2
    assert not locked.allow_force_push
    assert [s.kind for s in locked.sources] == ["gitlab-protected-branch",
                                                "gitlab-approval-rule"]
    pushes = branch_rules("release/1", [node("release/*", 40, force=True)])
    assert pushes.protected and not pushes.requires_pull_request and pushes.allow_force_push
    assert branch_rules("main", [node("dev", 0)]) == BranchRules("main", ())


# --------------------------------------------------------------------------- the fake

fakes = pytest.importorskip("tests.fakes.gitlab")
FakeGitLab = fakes.FakeGitLab
DEFAULT_TOKEN: str = fakes.DEFAULT_TOKEN
gitlab_forge = fakes.gitlab_forge

__all__ = ["gitlab_forge"]  # the fixture, imported explicitly


@pytest.fixture
def forge(gitlab_forge: Any) -> Any:
    gitlab_forge.add_group("acme", tier="premium")
    return gitlab_forge


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_provider(forge: Any, tmp_path: Path, sleeps: Sleeps
                  ) -> Iterator[Callable[..., GitLabProvider]]:
    made: list[GitLabProvider] = []

    def make(source: str = "acme", **options: Any) -> GitLabProvider:
        options.setdefault("token", DEFAULT_TOKEN)
        options.setdefault("api_url", forge.url)
        options.setdefault("cache_dir", tmp_path / "cache")
        options.setdefault("backoff", 0.001)
        options.setdefault("sleep", sleeps)
        provider = GitLabProvider(source, **options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def sent_queries(forge: Any) -> list[str]:
    found = []
    for request in forge.requests:
        text = getattr(request, "graphql_query", None)
        if text:
            found.append(text)
    return found


def seed(forge: Any, count: int, namespace: str = "acme") -> None:
    for i in range(count):
        forge.add_project(namespace, f"svc-{i:03d}", files={
            "README.md": f"# svc {i}\n",
            "LICENSE": "MIT\n",
            ".gitlab-ci.yml": "test:\n  script: [make test]\n",
            "src/app.py": f"print({i})\n",
            "infra/main.tf": 'resource "null_resource" "x" {}\n',
        })


# --------------------------------------------------------------------------- the CLI


def test_cli_scan_of_a_group_and_audit_of_a_nested_project(
    forge: Any, cli: Callable[..., Any], tmp_path: Path
) -> None:
    forge.add_group("acme/platform", tier="premium")
    forge.add_project("acme", "handbook", files={"README.md": "# handbook\n"})
    forge.add_project("acme/platform", "api", files={
        "README.md": "# api\n", ".gitlab-ci.yml": "test:\n  script: [make]\n"})
    forge.protect_branch("acme/platform/api", "main", push_access_level=0)
    forge.add_approval_rule("acme/platform/api", "reviewers", approvals_required=1)
    env = {"GITLAB_TOKEN": DEFAULT_TOKEN, "GITLAB_URL": forge.url,
           "XDG_CACHE_HOME": str(tmp_path / "xdg")}

    result = cli("scan", "gitlab:acme", "--out", "gl-out", env=env)
    assert result.code == 0, result.text
    assert "2 repositories scanned" in result.text
    doc = json.loads((tmp_path / "gl-out" / "findings.json").read_text())
    rows = {(r["repository"], r["policy"]): r for r in doc["findings"]}
    assert {repo for repo, _ in rows} == {"acme/handbook", "acme/platform/api"}
    assert rows[("acme/platform/api", "default-branch-protected")]["outcome"] == "pass"
    assert rows[("acme/handbook", "default-branch-protected")]["outcome"] == "fail"

    audit = cli("audit", "gitlab:acme/platform/api", "--output", "json", "--fail-on", "high",
                env=env)
    assert audit.code == 0, audit.text
    findings = json.loads(audit.out)["findings"]
    assert {f["repository"] for f in findings} == {"acme/platform/api"}
    failing = cli("audit", "gitlab:acme/handbook", "--fail-on", "high", env=env)
    assert failing.code == 1
    assert "default-branch-protected" in failing.text
    assert DEFAULT_TOKEN not in result.text + audit.text + failing.text


def test_cli_without_credentials_is_a_usage_error(cli: Callable[..., Any]) -> None:
    result = cli("audit", "gitlab:acme/api")
    assert result.code == 2
    assert "set GITLAB_TOKEN" in result.text and "Traceback" not in result.text


def test_audit_with_a_ci_job_token_reads_the_files_but_not_the_settings(
    forge: Any, cli: Callable[..., Any], tmp_path: Path
) -> None:
    forge.add_project("acme", "api", files={
        "README.md": "# api\n", "LICENSE": "MIT\n",
        ".gitlab-ci.yml": GITLAB_CI, "ci/templates.yml": TEMPLATES_MANUAL})
    forge.add_token("job-token-000", kind="job", projects=("acme/api",))
    env = {"CI_JOB_TOKEN": "job-token-000", "GITLAB_URL": forge.url,
           "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    audit = cli("audit", "gitlab:acme/api", "--output", "json", env=env)
    assert audit.code == 1, audit.text
    findings = {f["policy"]: f for f in json.loads(audit.out)["findings"]}
    assert findings["license-present"]["outcome"] == "pass"
    assert findings["no-manual-jobs"]["outcome"] == "fail"
    assert findings["default-branch-protected"]["outcome"] == "not_available"
    assert "job token" in findings["default-branch-protected"]["message"]
    assert "job-token-000" not in audit.text


def test_open_source_routes_gitlab_specs(forge: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITLAB_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("GITLAB_URL", forge.url)
    forge.add_group("beta")
    forge.add_project("acme", "api")
    forge.add_project("beta", "web")
    provider = open_source("gitlab:acme,beta", gitlab={"cache_dir": tmp_path, "concurrency": 2})
    assert isinstance(provider, GitLabProvider)
    try:
        assert [r.name for r in provider.list_repos()] == ["acme/api", "beta/web"]
    finally:
        provider.close()
    shared = open_source("gitlab:acme/api", github={"cache_dir": tmp_path, "api_url": "x"})
    assert isinstance(shared, GitLabProvider)
    try:
        assert [r.name for r in shared.list_repos()] == ["acme/api"]
    finally:
        shared.close()


@pytest.mark.parametrize("source", ["", "acme//x", "../etc", "acme/ x", "a,,b"])
def test_malformed_sources_are_config_errors(source: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        GitLabProvider(source, token="t", api_url="http://127.0.0.1:9", cache_dir=tmp_path)


def test_missing_group_and_bad_token_are_config_errors(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    with pytest.raises(ConfigError, match="no group"):
        list(make_provider("nowhere").list_repos())
    with pytest.raises(ConfigError, match="no group or project"):
        list(make_provider("acme/nothing").list_repos())
    with pytest.raises(ConfigError, match="rejected the credentials"):
        list(make_provider(token="glpat-wrong").list_repos())


# --------------------------------------------------------------------------- listing


def test_nested_subgroups_archived_forks_and_refs(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    forge.add_group("acme/platform")
    forge.add_group("acme/platform/deep")
    forge.add_project("acme", "top", topics=("python", "service"), default_branch="trunk",
                      visibility="internal")
    forge.add_project("acme/platform", "mid")
    forge.add_project("acme/platform/deep", "low")
    forge.add_project("acme", "old", archived=True)
    forge.add_project("acme", "copy", forked=True)
    refs = {r.name: r for r in make_provider().list_repos()}
    assert set(refs) == {"acme/top", "acme/platform/mid", "acme/platform/deep/low",
                         "acme/old", "acme/copy"}
    top = refs["acme/top"]
    assert (top.provider, top.default_branch, top.visibility, top.topics) == (
        "gitlab", "trunk", "internal", ("python", "service"))
    assert refs["acme/old"].archived and not refs["acme/top"].archived
    assert refs["acme/copy"].fork and not refs["acme/top"].fork
    sub = {r.name for r in make_provider("acme/platform").list_repos()}
    assert sub == {"acme/platform/mid", "acme/platform/deep/low"}
    # a subgroup source and a project source
    item = snapshot(make_provider("acme/platform/deep/low"), "acme/platform/deep/low")
    assert item.tree


def test_archived_and_forks_are_skipped_by_default_and_reported(
    forge: Any, scan_source: Callable[..., Any], write_config: Callable[..., Path],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    forge.add_project("acme", "live", files={"README.md": "# live\n"})
    forge.add_project("acme", "old", archived=True)
    forge.add_project("acme", "copy", forked=True)
    monkeypatch.setenv("GITLAB_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("GITLAB_URL", forge.url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    scanned = scan_source("gitlab:acme", write_config())
    assert scanned.repositories == {"acme/live"}
    assert scanned.outcome.meta["excluded_repositories"] == 2
    everything = scan_source("gitlab:acme", write_config(
        "repositories:\n  archived: true\n  forks: true\n", name="all.yml"))
    assert everything.repositories == {"acme/live", "acme/old", "acme/copy"}


def test_more_than_a_hundred_projects(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    for i in range(130):
        forge.add_project("acme", f"p{i:03d}", files={"README.md": "x\n"})
    assert len(list(make_provider().list_repos())) == 130


def test_large_trees_are_listed_page_by_page(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    files = {f"src/m{i:03d}/mod.py": f"x = {i}\n" for i in range(230)}
    forge.add_project("acme", "big", files={**files, "README.md": "# big\n"})
    forge.reset_counts()
    item = snapshot(make_provider(fetch="api"), "acme/big", Needs(files=("README.md",)))
    assert set(item.tree) == {*files, "README.md"}
    assert forge.count(path="/projects/*/repository/tree") == 5  # 462 entries, folders too
    assert RepoFiles(item).read_text("src/m200/mod.py") == "x = 200\n"
    assert not forge.git.requests


def test_a_tree_of_several_pages_is_cloned_instead_by_default(
    forge: Any, make_provider: Callable[..., GitLabProvider], tmp_path: Path
) -> None:
    files = {f"src/m{i:03d}/mod.py": f"x = {i}\n" for i in range(230)}
    forge.add_project("acme", "big", files={**files, "README.md": "# big\n"})
    forge.reset_counts()
    item = snapshot(make_provider(), "acme/big", Needs(files=("README.md",)))
    try:
        assert set(item.tree) == {*files, "README.md"}
        assert forge.count(path="/projects/*/repository/tree") == 1  # the first page only
        assert RepoFiles(item).read_text("src/m200/mod.py") == "x = 200\n"
        assert forge.count(path="/projects/*/repository/blobs/*") == 0  # from the clone
        assert {r.credential for r in forge.git.requests} == {DEFAULT_TOKEN}
    finally:
        item.close()
    forge.git.requests.clear()
    forge.reset_counts()
    again = snapshot(make_provider(), "acme/big", Needs(files=("README.md",)))
    again.close()  # unchanged: the listing comes from the cache, no clone, no tree page
    assert not forge.git.requests
    assert forge.count(path="/projects/*/repository/tree") == 0


def test_many_files_to_read_are_fetched_through_a_clone(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    from governance.providers.forge import CLONE_WHEN_FILES

    files = {f"m{i:03d}.py": f"V = {i}\n" for i in range(CLONE_WHEN_FILES + 1)}
    forge.add_project("acme", "many", files=files)
    forge.reset_counts()
    item = snapshot(make_provider(), "acme/many", Needs(files=("**/*.py",)))
    try:
        assert RepoFiles(item).read_text("m100.py") == "V = 100\n"
    finally:
        item.close()
    assert forge.count(path="/api/graphql") == 1  # the projects query; no blob query
    assert forge.count(path="/projects/*/repository/blobs/*") == 0
    sessions = [r for r in forge.git.requests if r.path == "info/refs"]
    assert len(sessions) == 2  # the clone (trees) and one fetch of every wanted blob


def test_empty_and_unreadable_projects_are_reported(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    forge.add_project("acme", "blank", empty=True)
    forge.add_project("acme", "secret", files={"README.md": "x\n"})
    forge.add_project("acme", "open", files={"README.md": "x\n"})
    token = "glpat-limited-000000000000"
    forge.add_token(token, projects=("acme/open", "acme/blank"))
    forge.add_project("acme", "guarded", files={"README.md": "x\n"})
    guest = "glpat-guest-00000000000000"
    forge.add_token(guest, access_level=10)
    items = snapshots(make_provider(token=token), refs=[
        RepoRef("gitlab", name, f"{forge.url}/{name}")
        for name in ("acme/blank", "acme/secret", "acme/open")])
    guarded = snapshots(make_provider(token=guest))["acme/guarded"]
    assert isinstance(guarded, RepoFailure)
    assert "cannot read this project's repository" in guarded.reason
    blank = items["acme/blank"]
    assert isinstance(blank, RepoSnapshot) and blank.empty and blank.head_sha is None
    assert blank.settings.get(DEFAULT_BRANCH_RULES, "x") is None
    assert isinstance(items["acme/secret"], RepoFailure)
    assert "not visible" in items["acme/secret"].reason
    assert isinstance(items["acme/open"], RepoSnapshot)


# --------------------------------------------------------------------------- settings


def test_protected_branches_approval_rules_and_free_tier(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    forge.add_group("free", tier="free")
    for namespace in ("acme", "free"):
        for name in ("locked", "pushable", "bare"):
            forge.add_project(namespace, name, files={"README.md": "x\n"})
        forge.protect_branch(f"{namespace}/locked", "main", push_access_level=0)
        forge.protect_branch(f"{namespace}/pushable", "main", push_access_level=40,
                             allow_force_push=True)
    forge.add_project("acme", "reviewed", files={"README.md": "x\n"})
    forge.protect_branch("acme/reviewed", "main", push_access_level=0)
    forge.add_approval_rule("acme/reviewed", "two", approvals_required=2)

    items = snapshots(make_provider("acme,free"))
    rules: dict[str, Any] = {name: item.settings.get(DEFAULT_BRANCH_RULES)
                             for name, item in items.items() if isinstance(item, RepoSnapshot)}
    assert rules["acme/reviewed"].required_approvals == 2
    assert rules["acme/reviewed"].requires_pull_request
    assert rules["acme/locked"].requires_pull_request
    assert rules["acme/locked"].required_approvals is None  # premium, no rule: a real fail
    assert rules["acme/pushable"].protected and not rules["acme/pushable"].requires_pull_request
    assert rules["acme/pushable"].allow_force_push
    assert rules["acme/bare"] == BranchRules("main", ())
    assert rules["free/pushable"].protected  # decidable without approval rules
    free_locked = items["free/locked"]
    assert isinstance(free_locked, RepoSnapshot)
    assert DEFAULT_BRANCH_RULES not in free_locked.settings
    assert "Premium" in free_locked.unavailable[DEFAULT_BRANCH_RULES]

    findings = scan(make_provider("acme,free"))
    outcome = {repo: f.outcome for (repo, policy), f in findings.items()
               if policy == "default-branch-protected"}
    assert outcome["acme/reviewed"] is Outcome.PASS
    assert outcome["acme/locked"] is Outcome.FAIL
    assert outcome["acme/bare"] is Outcome.FAIL
    assert outcome["free/locked"] is Outcome.NOT_AVAILABLE
    assert outcome["free/pushable"] is Outcome.FAIL


# --------------------------------------------------------------------------- GitLab CI


def test_gitlab_ci_local_include_read_lazily_decides_no_manual_jobs(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    forge.add_project("acme", "gated", files={
        ".gitlab-ci.yml": GITLAB_CI, "ci/templates.yml": TEMPLATES_MANUAL})
    forge.add_project("acme", "automatic", files={
        ".gitlab-ci.yml": GITLAB_CI, "ci/templates.yml": TEMPLATES_AUTOMATIC})
    forge.reset_counts()
    findings = scan(make_provider())
    assert findings[("acme/gated", "no-manual-jobs")].outcome is Outcome.FAIL
    assert "ci/templates.yml" in {
        loc.path for loc in findings[("acme/gated", "no-manual-jobs")].locations}
    assert findings[("acme/automatic", "no-manual-jobs")].outcome is Outcome.PASS
    raw_reads = forge.count(path="/projects/*/repository/blobs/*/raw")
    assert raw_reads <= 2  # the include, unless a policy glob prefetched it


def test_ci_lint_gives_the_merged_configuration_once_per_head(
    forge: Any, make_provider: Callable[..., GitLabProvider], tmp_path: Path
) -> None:
    forge.add_project("acme", "gated", files={
        ".gitlab-ci.yml": GITLAB_CI, "ci/templates.yml": TEMPLATES_MANUAL})
    forge.add_project("acme", "plain", files={"README.md": "# no CI\n"})
    forge.add_project("acme", "broken", files={".gitlab-ci.yml": "test: [\n"})
    forge.reset_counts()
    findings = scan(make_provider(ci_lint=True))
    assert forge.count(path="/projects/*/ci/lint") == 2  # projects with GitLab CI only
    assert findings[("acme/gated", "no-manual-jobs")].outcome is Outcome.FAIL
    assert findings[("acme/broken", "no-manual-jobs")].outcome is Outcome.ERROR
    forge.reset_counts()
    again = scan(make_provider(ci_lint=True))
    assert forge.count(path="/projects/*/ci/lint") == 0  # kept per head commit
    assert {k: f.outcome for k, f in again.items()} == {k: f.outcome for k, f in findings.items()}
    reporter = "glpat-reporter-000000000000"
    forge.add_token(reporter, access_level=20)
    lint_refused = scan(make_provider(ci_lint=True, token=reporter,
                                      cache_dir=tmp_path / "reporter"))
    assert lint_refused[("acme/gated", "no-manual-jobs")].outcome is Outcome.FAIL


def test_lazy_reads_of_any_path_and_binary_files(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    forge.add_project("acme", "api", files={
        "README.md": "# api\n", "docs/notes.txt": "hello\n",
        "assets/logo.png": b"\x89PNG\r\n\x1a\n\0\0binary"})
    item = snapshot(make_provider(), "acme/api", Needs(files=("README.md",)))
    files = RepoFiles(item)
    forge.reset_counts()
    assert files.read_text("README.md") == "# api\n"
    assert forge.count() == 0  # prefetched
    assert files.read_text("docs/notes.txt") == "hello\n"
    assert files.read_bytes("assets/logo.png").startswith(b"\x89PNG")
    assert forge.count() == 2


# --------------------------------------------------------------------------- parity


SYMLINKS = {"linked": {"README.md": "docs/README.md", ".gitlab-ci.yml": "ci/main.yml"}}


def _parity_fixture() -> dict[str, dict[str, str | bytes]]:
    from governance.demo import demo_repositories

    repos: dict[str, dict[str, str | bytes]] = {
        name: dict(files) for name, files in demo_repositories().items()}
    repos["linked"] = {"docs/README.md": "# linked\n", "ci/main.yml": GITLAB_CI,
                       "ci/templates.yml": TEMPLATES_AUTOMATIC}
    repos["gitlab-ci"] = {
        "README.md": "# gl\r\n\r\nCRLF text\r\n",
        ".gitlab-ci.yml": GITLAB_CI,
        "ci/templates.yml": TEMPLATES_MANUAL,
        "CODEOWNERS": "* @acme/owners\n",
        "deploy/k8s.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n",
        "infra/main.tf": 'resource "null_resource" "x" {}\n',
        "assets/logo.png": b"\x89PNG\r\n\x1a\n\0\0binary",
        "docs/ünïcode näme.md": "# ü\n",
    }
    return repos


@pytest.mark.parametrize("fetch", ["auto", "clone"])
def test_file_policies_give_the_same_findings_as_the_local_provider(
    forge: Any, make_provider: Callable[..., GitLabProvider], tmp_path: Path, fetch: str
) -> None:
    fixture = _parity_fixture()
    local_group = tmp_path / "group" / "acme"
    for name, files in fixture.items():
        links = SYMLINKS.get(name, {})
        make_repo(local_group / name, files, links)
        forge.add_project("acme", name, files={**files, **links},
                          modes=dict.fromkeys(links, "120000"))
    gitlab = scan(make_provider(fetch=fetch))
    local = scan(LocalProvider(local_group))
    assert bool(forge.git.requests) is (fetch == "clone")
    assert set(gitlab) == set(local)
    settings_policies = {e.id for e in baseline() if e.definition.reads.settings}
    compared = 0
    for key, finding in local.items():
        if key[1] in settings_policies:
            continue
        other = gitlab[key]
        if key[1] in PLATFORM_AWARE:  # GitLab ignores .github/: compared below
            continue
        assert (other.outcome, other.locations, other.message) == (
            finding.outcome, finding.locations, finding.message), key
        compared += 1
    assert compared == len(fixture) * (
        len(baseline()) - len(settings_policies) - len(PLATFORM_AWARE))
    for key in local:
        if key[1] in PLATFORM_AWARE:
            assert gitlab[key].outcome is not Outcome.ERROR, key
    assert gitlab[("acme/linked", "no-manual-jobs")].outcome is Outcome.PASS
    codeowners = gitlab[("acme/gitlab-ci", "codeowners-present")]
    assert codeowners.outcome is Outcome.PASS
    assert gitlab[("acme/gitlab-ci", "no-manual-jobs")].outcome is Outcome.FAIL


# --------------------------------------------------------------------------- budget


def test_request_budget_cold_repeat_and_one_push(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    seed(forge, 40)
    forge.reset_counts()
    cold = scan(make_provider())
    cold_requests = forge.count()
    assert len({repo for repo, _ in cold}) == 40
    assert all(f.outcome is not Outcome.ERROR for f in cold.values()), [
        f.message for f in cold.values() if f.outcome is Outcome.ERROR]
    assert cold_requests / 40 <= 2
    assert forge.count(path="/projects/*/repository/tree") == 40  # one tree per project
    assert forge.count(path="/projects/*/repository/blobs/*") == 0  # files came batched
    assert forge.count(path="/api/graphql") <= 3
    print(f"cold: {cold_requests} requests for 40 projects")

    forge.reset_counts()
    repeat = scan(make_provider())
    assert {k: f.outcome for k, f in repeat.items()} == {k: f.outcome for k, f in cold.items()}
    repeat_requests = forge.count()
    print(f"repeat: {repeat_requests} requests for 40 projects")
    assert repeat_requests / 40 <= 0.05

    forge.push("acme/svc-007", {"src/new.py": "print('new')\n"})
    forge.reset_counts()
    scan(make_provider())
    assert forge.count() <= 4  # listing, head query, one tree, maybe one blob query


def test_unchanged_projects_cost_nothing_without_settings(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    seed(forge, 5)
    files_only = tuple(e for e in baseline() if not e.definition.reads.settings)
    first = scan(make_provider(), files_only)
    forge.reset_counts()
    second = scan(make_provider(), files_only)
    assert forge.count() == 0
    assert forge.count(counted_only=False) == 1  # the listing, answered 304
    assert {k: f.message for k, f in first.items()} == {k: f.message for k, f in second.items()}
    forge.push("acme/svc-003", {"LICENSE": "", "README.md": "# changed\n"})
    forge.reset_counts()
    third = scan(make_provider(), files_only)
    assert third[("acme/svc-003", "license-present")].outcome is not (
        first[("acme/svc-003", "license-present")].outcome) or forge.count() >= 3
    assert [r.path for r in forge.requests if r.path.endswith("/repository/tree")] == [
        f"/projects/{forge.project('acme/svc-003').id}/repository/tree"]


def test_unchanged_projects_know_their_head_from_the_listing(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    seed(forge, 2)
    assert all(r.head_sha is None for r in make_provider().list_repos())
    first = snapshots(make_provider())
    refs = {r.name: r for r in make_provider().list_repos()}
    head = first["acme/svc-000"]
    assert isinstance(head, RepoSnapshot)
    assert refs["acme/svc-000"].head_sha == head.head_sha


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("kind", "path"),
    [("502", "/projects/*/repository/tree"), ("500", "/api/graphql"),
     ("503", "/groups/*/projects"), ("reset", "/projects/*/repository/tree"),
     ("reset", "/api/graphql"), ("429", "/api/graphql"), ("429", "/groups/*/projects")],
)
def test_transient_faults_are_retried(
    forge: Any, make_provider: Callable[..., GitLabProvider], sleeps: Sleeps,
    kind: str, path: str
) -> None:
    seed(forge, 3)
    forge.inject_fault(kind, path, count=2)
    items = snapshots(make_provider())
    assert all(isinstance(i, RepoSnapshot) for i in items.values()), items
    assert len(items) == 3
    assert sleeps.calls


def test_a_project_that_keeps_failing_becomes_an_error(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    seed(forge, 3)
    forge.inject_fault("502", "/projects/*/repository/tree", count=None)
    items = snapshots(make_provider(max_attempts=3))
    assert all(isinstance(i, RepoFailure) for i in items.values())
    assert "502" in next(iter(items.values())).reason  # type: ignore[union-attr]
    findings = scan(make_provider(max_attempts=2))
    assert {f.outcome for f in findings.values()} == {Outcome.ERROR}


def test_rate_limit_reserve_waits_for_the_reset_or_stops(tmp_path: Path) -> None:
    from governance.providers.gitlab import RateLimitExhausted

    forge = FakeGitLab(rate_limit=12, rate_limit_window=600).start()
    try:
        forge.add_group("acme", tier="premium")
        seed(forge, 14)  # 16 requests: the reserve (2 of 12) is reached on the way
        sleeps = Sleeps()

        def patient(seconds: float) -> None:
            sleeps(seconds)
            forge.reset_rate_limits()  # the window passed

        provider = GitLabProvider("acme", token=DEFAULT_TOKEN, api_url=forge.url,
                                  cache_dir=tmp_path / "a", sleep=patient, backoff=0.001,
                                  reserve=0.2)
        items = snapshots(provider)
        provider.close()
        assert all(isinstance(i, RepoSnapshot) for i in items.values()), items
        assert sleeps.calls and max(sleeps.calls) > 60  # waited for the reset
        forge.reset_rate_limits()
        hasty = GitLabProvider("acme", token=DEFAULT_TOKEN, api_url=forge.url,
                               cache_dir=tmp_path / "b", sleep=sleeps, backoff=0.001,
                               reserve=0.2, max_wait=10)
        forge.reset_counts()
        with pytest.raises(RateLimitExhausted, match="max-wait"):
            snapshots(hasty)
        hasty.close()
    finally:
        forge.stop()


def test_a_retry_after_longer_than_max_wait_stops(
    forge: Any, make_provider: Callable[..., GitLabProvider]
) -> None:
    from governance.providers.gitlab import RateLimitExhausted

    seed(forge, 1)
    forge.inject_fault("429", "/api/graphql", count=1, retry_after=600)
    with pytest.raises(RateLimitExhausted, match="600 s"):
        snapshots(make_provider(max_wait=60))


def test_the_token_never_reaches_logs_output_or_the_cache(
    forge: Any, cli: Callable[..., Any], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "glpat-" + "S3cr3tT0k3n" * 2
    forge.add_token(secret)
    seed(forge, 2)
    cache = tmp_path / "xdg"
    env = {"GITLAB_TOKEN": secret, "GITLAB_URL": forge.url, "XDG_CACHE_HOME": str(cache)}
    with caplog.at_level(logging.DEBUG):
        result = cli("-v", "scan", "gitlab:acme", "--out", "out", env=env)
        bad = cli("scan", "gitlab:acme", env={**env, "GITLAB_TOKEN": secret + "x"})
    assert result.code == 0, result.text
    assert bad.code == 2 and "rejected the credentials" in bad.text
    written = [p for p in cache.rglob("*") if p.is_file()]
    assert written
    blobs = b"".join(p.read_bytes() for p in written)
    blobs += b"".join(p.read_bytes() for p in (tmp_path / "out").iterdir())
    for text in (result.text, bad.text, caplog.text):
        assert secret not in text
    assert secret.encode() not in blobs
