"""The GitHub provider against the fake GitHub (tests/fakes/github.py) on 127.0.0.1.

The real provider and the real CLI talk HTTP to the fake; request budgets are asserted
with the fake's accounting (`forge.count()` counts requests charged to a rate limit: a
`304 Not Modified` is not).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("github")
pytest.importorskip("graphql")
pytest.importorskip("werkzeug")

from governance.demo import demo_repositories, make_repo
from governance.engine import Engine
from governance.errors import ConfigError, FileProblem, ProviderError
from governance.models import Finding, Outcome
from governance.providers import Needs, open_source
from governance.providers import github as gh
from governance.providers.github import GitHubProvider, RateLimitExhausted
from governance.providers.local import LocalProvider
from governance.settings import DEFAULT_BRANCH_RULES, BranchRules
from governance.snapshot import RepoFailure, RepoFiles, RepoSnapshot
from tests.fakes.github import (
    DEFAULT_TOKEN,
    FakeGitHub,
    generate_app_key,
    github_forge,
)
from tests.fakes.scanning import Sleeps, baseline, scan, snapshot, snapshots

__all__ = ["github_forge"]  # the fixture, imported explicitly

CI = ("on: [push, pull_request]\npermissions: {contents: read}\njobs:\n  test:\n"
      "    runs-on: ubuntu-latest\n    steps:\n"
      "      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683\n"
      "      - run: make test\n")


@pytest.fixture
def forge(github_forge: FakeGitHub) -> FakeGitHub:
    github_forge.add_org("acme")
    return github_forge


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def make_provider(forge: FakeGitHub, tmp_path: Path, sleeps: Sleeps
                  ) -> Iterator[Callable[..., GitHubProvider]]:
    made: list[GitHubProvider] = []

    def make(source: str = "acme", **options: Any) -> GitHubProvider:
        if "app_id" not in options:
            options.setdefault("token", DEFAULT_TOKEN)
        options.setdefault("api_url", forge.url)
        options.setdefault("cache_dir", tmp_path / "cache")
        options.setdefault("backoff", 0.001)
        options.setdefault("sleep", sleeps)
        provider = GitHubProvider(source, **options)
        made.append(provider)
        return provider

    yield make
    for provider in made:
        provider.close()


def rules_of(provider: GitHubProvider, name: str) -> BranchRules | None:
    item = snapshot(provider, name)
    assert DEFAULT_BRANCH_RULES in item.settings, item.unavailable
    value = item.settings[DEFAULT_BRANCH_RULES]
    assert value is None or isinstance(value, BranchRules)
    return value


def seed_org(forge: FakeGitHub, count: int, org: str = "acme") -> None:
    for i in range(count):
        forge.add_repo(org, f"svc-{i:03d}", files={
            "README.md": f"# svc {i}\n",
            "LICENSE": "MIT\n",
            ".github/workflows/ci.yml": CI,
            ".github/dependabot.yml": "version: 2\nupdates: []\n",
            "src/app.py": f"print({i})\n",
            "infra/main.tf": 'resource "null_resource" "x" {}\n',
        })


# --------------------------------------------------------------------------- the CLI


def test_cli_scan_and_audit_read_the_org_with_reports_shaped_like_local_scans(
    forge: FakeGitHub, cli: Callable[..., Any], tmp_path: Path
) -> None:
    for name, files in demo_repositories().items():
        forge.add_repo("acme", name, files=files)
    forge.protect_branch("acme", "payments-api", "main", required_approving_review_count=1)
    env = {"GITHUB_TOKEN": DEFAULT_TOKEN, "GITHUB_API_URL": forge.url,
           "XDG_CACHE_HOME": str(tmp_path / "xdg")}

    result = cli("scan", "github:acme", "--out", "gh-out", env=env)
    assert result.code == 0, result.text
    assert "5 repositories scanned" in result.text
    local_org = tmp_path / "local" / "acme"
    for name, files in demo_repositories().items():
        make_repo(local_org / name, files)
    local = cli("scan", f"local:{local_org}", "--out", "local-out")
    assert local.code == 0, local.text

    github_doc, local_doc = (json.loads((tmp_path / folder / "findings.json").read_text())
                             for folder in ("gh-out", "local-out"))
    assert sorted(github_doc) == sorted(local_doc)
    assert sorted(github_doc["scan"]) == sorted(local_doc["scan"])
    assert sorted(github_doc["summary"]) == sorted(local_doc["summary"])
    github_rows, local_rows = github_doc["findings"], local_doc["findings"]
    assert {p.name for p in (tmp_path / "gh-out").iterdir()} == {
        p.name for p in (tmp_path / "local-out").iterdir()}
    assert [sorted(r) for r in github_rows] == [sorted(r) for r in local_rows]
    assert {(r["repository"], r["policy"]) for r in github_rows} == {
        (r["repository"], r["policy"]) for r in local_rows}
    header = (tmp_path / "gh-out" / "findings.csv").read_text().splitlines()[0]
    assert header == (tmp_path / "local-out" / "findings.csv").read_text().splitlines()[0]
    protected = next(r for r in github_rows if r["repository"] == "acme/payments-api"
                     and r["policy"] == "default-branch-protected")
    assert protected["outcome"] == "pass"

    audit = cli("audit", "github:acme/payments-api", "--output", "json", env=env)
    assert audit.code == 0, audit.text
    findings = json.loads(audit.out)["findings"]
    assert {f["repository"] for f in findings} == {"acme/payments-api"}
    failing = cli("audit", "github:acme/handbook", env=env)
    assert failing.code == 1
    assert "default-branch-protected" in failing.text


def test_cli_without_credentials_is_a_usage_error(cli: Callable[..., Any],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    result = cli("audit", "github:acme/api")
    assert result.code == 2
    assert "set GITHUB_TOKEN" in result.text and "Traceback" not in result.text


# --------------------------------------------------------------------------- parity


def _parity_fixture() -> dict[str, dict[str, Any]]:
    repos: dict[str, dict[str, Any]] = {
        name: {"files": files} for name, files in demo_repositories().items()}
    big_json = '{"items": [' + ",".join(['"' + "x" * 90 + '"'] * 6500) + "]}\n"
    repos["edge-cases"] = {
        "files": {
            "README.md": "# edge\r\n\r\nCRLF text\r\n",
            ".github/workflows/ci.yml": CI,
            ".github/workflows/broken.yml": "on: push\njobs: [\n",
            "ci/real.yml": "on: push\njobs: {}\n",
            "assets/logo.png": b"\x89PNG\r\n\x1a\n\0\0binary",
            "config/blob.json": b"{\0\0}",
            "config/big.json": big_json,
            "deploy/k8s.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n---\n"
                               "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
            "Jenkinsfile": "pipeline { stages { stage('deploy') { input { message 'ok?' } } } }\n",
            "docs/ünïcode näme.md": "# ü\n",
        },
        "symlinks": {".github/workflows/linked.yml": "../../ci/real.yml"},
    }
    return repos


@pytest.mark.parametrize("fetch", ["auto", "clone"])
def test_file_policies_give_the_same_findings_as_the_local_provider(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], tmp_path: Path, fetch: str
) -> None:
    fixture = _parity_fixture()
    local_org = tmp_path / "org" / "acme"
    for name, spec in fixture.items():
        make_repo(local_org / name, spec["files"], spec.get("symlinks"))
        files = dict(spec["files"])
        files.update(spec.get("symlinks", {}))
        forge.add_repo("acme", name, files=files,
                       modes=dict.fromkeys(spec.get("symlinks", {}), "120000"))
    github = scan(make_provider(fetch=fetch))
    local = scan(LocalProvider(local_org))
    assert set(github) == set(local)
    assert bool(forge.git.requests) is (fetch == "clone")
    settings_policies = {e.id for e in baseline() if e.definition.reads.settings}
    assert settings_policies == {"default-branch-protected"}
    compared = 0
    for key, finding in local.items():
        if key[1] in settings_policies:
            continue
        other = github[key]
        assert (other.outcome, other.locations) == (finding.outcome, finding.locations), key
        if key[1] != "codeowners-present":  # platform-aware: GitHub ignores .gitlab/
            assert other.message == finding.message, key
        compared += 1
    assert compared == len(fixture) * (len(baseline()) - 1)
    edge = {p: f.outcome for (r, p), f in github.items() if r == "acme/edge-cases"}
    assert Outcome.ERROR in edge.values()  # the broken workflow is reported, not skipped


# --------------------------------------------------------------------------- listing


def test_listing_follows_pagination_and_fills_the_refs(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "api", topics=["python", "service"], default_branch="trunk")
    forge.add_repo("acme", "old", archived=True)
    forge.add_repo("acme", "forked", fork=True)
    forge.add_repo("acme", "secret", private=True)
    forge.add_repo("acme", "inner", visibility="internal")
    forge.add_repo("acme", "blank", empty=True)
    forge.add_repo("acme", "frozen", disabled=True)
    forge.reset_counts()
    refs = {r.name: r for r in make_provider(per_page=2).list_repos()}
    assert forge.count(path="/orgs/acme/repos") == 4  # 7 repositories, 2 per page
    assert list(refs) == sorted(refs)
    api = refs["acme/api"]
    assert (api.provider, api.default_branch, api.topics, api.visibility) == (
        "github", "trunk", ("python", "service"), "public")
    assert api.location == f"{forge.url}/acme/api"
    assert refs["acme/old"].archived and refs["acme/forked"].fork
    assert refs["acme/secret"].visibility == "private"
    assert refs["acme/inner"].visibility == "internal"

    forge.reset_counts()
    again = [r.name for r in make_provider(per_page=2).list_repos()]
    assert again == list(refs)  # pages and their links served from the ETag cache
    assert forge.count() == 0 and forge.count(False, status=304) == 4

    no_forks = make_provider(include_archived=False, include_forks=False)
    assert {r.name for r in no_forks.list_repos()} == set(refs) - {"acme/old", "acme/forked"}


def test_more_than_a_hundred_repositories(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    for i in range(105):
        forge.add_repo("acme", f"r{i:03d}", empty=True)
    forge.reset_counts()
    names = [r.name for r in make_provider().list_repos()]
    assert len(names) == 105 and names == sorted(names)
    assert forge.count(path="/orgs/acme/repos") == 2


def test_empty_disabled_and_invisible_repositories_are_reported(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "api")
    forge.add_repo("acme", "blank", empty=True)
    forge.add_repo("acme", "frozen", disabled=True)
    forge.add_repo("acme", "secret", private=True)
    forge.add_token("public-only", scopes=("public_repo",))
    items = snapshots(make_provider())
    blank = items["acme/blank"]
    assert isinstance(blank, RepoSnapshot) and blank.head_sha is None and blank.empty
    assert blank.settings[DEFAULT_BRANCH_RULES] is None
    frozen = items["acme/frozen"]
    assert isinstance(frozen, RepoFailure) and "disabled" in frozen.reason
    assert isinstance(items["acme/secret"], RepoSnapshot)

    public_only = make_provider(token="public-only")
    assert "acme/secret" not in {r.name for r in public_only.list_repos()}
    direct = snapshots(make_provider("acme/secret", token="public-only"))
    failure = direct["acme/secret"]
    assert isinstance(failure, RepoFailure)
    assert "not found, or not visible with these credentials" in failure.reason
    findings = scan(make_provider("acme/secret", token="public-only"))
    assert {f.outcome for f in findings.values()} == {Outcome.ERROR}


def test_an_emptied_repository_tree_409_is_an_empty_snapshot(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "api")
    provider = make_provider()
    refs = list(provider.list_repos())
    real_graphql = provider._transport.graphql

    def then_empty(*args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = real_graphql(*args, **kwargs)
        forge.repo("acme", "api").branches.clear()  # emptied between the query and the tree
        return answer

    provider._transport.graphql = then_empty  # type: ignore[method-assign]
    item = snapshots(provider, refs=refs)["acme/api"]
    assert isinstance(item, RepoSnapshot) and item.head_sha is None


def test_several_orgs_and_enterprise_server_urls(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "api")
    forge.add_repo("beta", "web")
    provider = make_provider("acme,beta", api_url=forge.enterprise_url)
    assert provider.graphql_url == f"{forge.url}/api/graphql"
    items = snapshots(provider)
    assert set(items) == {"acme/api", "beta/web"}
    assert all(isinstance(i, RepoSnapshot) and i.tree for i in items.values())
    assert {r.raw_path.split("/")[1] for r in forge.requests} == {"api"}


@pytest.mark.parametrize("source", ["", "a/b/c", "-bad", "acme/re po", "acme,,x"])
def test_malformed_sources_are_config_errors(source: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        GitHubProvider(source, token="t", cache_dir=tmp_path)


def test_missing_org_and_bad_token_are_config_errors(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    with pytest.raises(ConfigError, match="no organization 'nobody'"):
        list(make_provider("nobody").list_repos())
    with pytest.raises(ConfigError, match="rejected the credentials"):
        list(make_provider(token="wrong").list_repos())


# --------------------------------------------------------------------------- settings


def test_classic_protection(forge: FakeGitHub,
                            make_provider: Callable[..., GitHubProvider]) -> None:
    forge.add_repo("acme", "api")
    forge.protect_branch("acme", "api", "main", required_approving_review_count=2,
                         require_code_owner_reviews=True, enforce_admins=True)
    rules = rules_of(make_provider(), "acme/api")
    assert rules is not None and rules.branch == "main"
    (source,) = rules.sources
    assert (source.kind, source.name, source.required_approvals, source.code_owner_review,
            source.enforce_admins, source.allow_force_push) == (
        "classic", "main", 2, True, True, False)
    assert rules.requires_pull_request


def test_wildcard_protection_on_another_default_branch(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "api", default_branch="release/v2")
    forge.protect_branch("acme", "api", "release/*", required_approving_review_count=1)
    rules = rules_of(make_provider(), "acme/api")
    assert rules is not None and rules.branch == "release/v2"
    assert [s.name for s in rules.sources] == ["release/*"]


def test_rulesets_of_the_repository_and_the_organization(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "api")
    forge.add_repo("acme", "web")
    forge.add_ruleset("acme", "api", name="repo rules", required_approving_review_count=1,
                      rules=[{"type": "non_fast_forward"}, {"type": "deletion"}])
    forge.add_ruleset("acme", None, name="org rules", include=["refs/heads/main"],
                      repositories=["api"], required_approving_review_count=2,
                      require_code_owner_review=True)
    forge.add_ruleset("acme", None, name="trial", enforcement="evaluate",
                      include=["~ALL"], required_approving_review_count=3)
    forge.add_ruleset("acme", "api", name="releases", include=["refs/heads/release/**"],
                      required_approving_review_count=4)
    forge.add_ruleset("acme", "api", name="excluded", include=["~ALL"],
                      exclude=["refs/heads/ma*"], required_approving_review_count=5)
    forge.add_ruleset("acme", "api", name="tags", target="tag", include=["~ALL"],
                      required_approving_review_count=6)
    provider = make_provider()
    items = snapshots(provider)
    api = items["acme/api"]
    assert isinstance(api, RepoSnapshot)
    rules = api.settings[DEFAULT_BRANCH_RULES]
    by_name = {s.name: s for s in rules.sources}
    assert set(by_name) == {"repo rules", "org rules", "trial"}
    assert by_name["org rules"].origin == "organization"
    assert by_name["org rules"].code_owner_review and by_name["org rules"].required_approvals == 2
    assert not by_name["repo rules"].allow_force_push and not by_name["repo rules"].allow_deletion
    assert by_name["trial"].enforcement == "evaluate" and not by_name["trial"].active
    assert rules.required_approvals == 2 and not rules.allow_force_push
    web = items["acme/web"]
    assert isinstance(web, RepoSnapshot)
    assert [s.name for s in web.settings[DEFAULT_BRANCH_RULES].sources] == ["trial"]


def test_many_rulesets_are_read_page_by_page(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "api")
    for i in range(gh.queries.RULESETS_PAGE + 3):
        forge.add_ruleset("acme", "api", name=f"rs{i}", required_approving_review_count=i)
    rules = rules_of(make_provider(), "acme/api")
    assert rules is not None and len(rules.sources) == gh.queries.RULESETS_PAGE + 3
    assert rules.required_approvals == gh.queries.RULESETS_PAGE + 2


def test_default_branch_policy_protection_rulesets_none_and_no_permission(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "classic")
    forge.add_repo("acme", "ruleset")
    forge.add_repo("acme", "nothing")
    forge.protect_branch("acme", "classic", "main", required_approving_review_count=1)
    forge.add_ruleset("acme", "ruleset", required_approving_review_count=1)
    forge.add_token("fine", kind="fine_grained")  # contents and metadata, no administration
    forge.add_token("member", admin=False)  # classic token of a user who is not an admin
    policy = tuple(e for e in baseline() if e.id == "default-branch-protected")

    def outcomes(token: str) -> dict[str, Finding]:
        found = scan(make_provider(token=token), policy)
        return {repo.split("/")[1]: f for (repo, _), f in found.items()}

    admin = outcomes(DEFAULT_TOKEN)
    assert {k: f.outcome for k, f in admin.items()} == {
        "classic": Outcome.PASS, "ruleset": Outcome.PASS, "nothing": Outcome.FAIL}
    for token in ("fine", "member"):
        # Rulesets are visible without administration rights: one that suffices passes;
        # elsewhere the unseen classic protection might be what protects the branch.
        found = outcomes(token)
        assert {k: f.outcome for k, f in found.items()} == {
            "classic": Outcome.NOT_AVAILABLE, "ruleset": Outcome.PASS,
            "nothing": Outcome.NOT_AVAILABLE}, token
        assert all("needs the Administration: read permission" in f.message
                   for f in found.values()), [f.message for f in found.values()]
        assert "requires reviewed pull requests" in found["ruleset"].message


def test_github_app_installation_auth(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    forge.add_repo("acme", "api")
    forge.add_repo("acme", "infra", private=True)
    forge.protect_branch("acme", "api", "main", required_approving_review_count=1)
    private_pem, public_pem = generate_app_key()
    forge.add_app(4242, public_key_pem=public_pem)
    forge.install_app(4242, "acme")
    forge.add_org("beta")
    forge.add_repo("beta", "web")
    forge.install_app(4242, "beta", permissions={"metadata": "read", "contents": "read"})

    items = snapshots(make_provider("acme,beta", app_id=4242, app_private_key=private_pem))
    assert isinstance(items["acme/infra"], RepoSnapshot)  # private: visible to the app
    api = items["acme/api"]
    assert isinstance(api, RepoSnapshot) and api.settings[DEFAULT_BRANCH_RULES].protected
    web = items["beta/web"]
    assert isinstance(web, RepoSnapshot)
    # Without Administration: read, only the rulesets are seen, and that is said.
    assert "Administration: read" in web.settings[DEFAULT_BRANCH_RULES].unseen
    used = {r.token for r in forge.requests if r.path.startswith(("/repos", "/graphql", "/orgs/"))
            and r.token}
    assert used and all(t.startswith("ghs_") for t in used)
    assert len(used) == 2  # one installation token per organization

    key_file = tmp_path / "app.pem"
    key_file.write_text(private_pem)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    env = {"GITHUB_APP_ID": "4242", "GITHUB_APP_PRIVATE_KEY_FILE": str(key_file),
           "GITHUB_API_URL": forge.url}
    provider = GitHubProvider.from_environment("acme/api", env, cache_dir=tmp_path / "c2")
    try:
        assert [r.name for r in provider.list_repos()] == ["acme/api"]
    finally:
        provider.close()
    forge.add_org("nowhere")
    with pytest.raises(ConfigError, match="not installed on nowhere"):
        list(make_provider("nowhere", app_id=4242, app_private_key=private_pem).list_repos())


# --------------------------------------------------------------------------- files


def test_lazy_reads_binary_blobs_and_large_files(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    large = "# big\n" + "x" * (gh.PREFETCH_MAX_BYTES + 10) + "\n"
    forge.add_repo("acme", "api", files={
        "README.md": "# api\n", "ci/include.yml": "stages: [test]\n",
        "logo.png": b"\x89PNG\0\0", "docs/huge.md": large,
    })
    needs = Needs(files=("README.md", "*.png", "docs/*.md"))
    forge.reset_counts()
    item = snapshot(make_provider(), "acme/api", needs)
    files = RepoFiles(item)
    assert forge.count(path="/repos/acme/api/git/blobs/*") == 0
    assert files.read_text("README.md") == "# api\n"  # prefetched
    with pytest.raises(FileProblem, match="binary file"):
        files.read_text("logo.png")
    assert files.read_text("ci/include.yml") == "stages: [test]\n"  # not declared: on demand
    assert files.read_text("docs/huge.md") == large  # too large to prefetch: on demand
    assert forge.count(path="/repos/acme/api/git/blobs/*") == 2
    again = RepoFiles(snapshot(make_provider(), "acme/api", needs))
    assert again.read_text("ci/include.yml") == "stages: [test]\n"
    assert forge.count(path="/repos/acme/api/git/blobs/*") == 2  # from the disk cache


def test_a_failing_blob_query_is_split_into_smaller_ones(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    files = {f"conf/{i}.yml": f"n: {i}\n" for i in range(100)}
    forge.add_repo("acme", "api", files=files)
    forge.graphql_timeout_objects = 30  # the forge answers 502 to larger queries
    forge.reset_counts()
    item = snapshot(make_provider(), "acme/api", Needs(files=("conf/*.yml",)))
    files_of = RepoFiles(item)
    assert [files_of.read_text(f"conf/{i}.yml") for i in range(100)] == list(files.values())
    assert forge.count(path="/repos/acme/api/git/blobs/*") == 0  # all prefetched after all
    # The repository query, then 100 blobs -> 2 x 50 -> 4 x 25: four blob queries answered;
    # the query of 100 and both of 50 refused with 502, each tried twice before a split.
    answered = forge.count(path="/graphql", status=200, counted_only=False)
    refused = forge.count(path="/graphql", status=502, counted_only=False)
    assert (answered, refused) == (5, 6)


def test_truncated_trees_are_listed_folder_by_folder(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], tmp_path: Path
) -> None:
    files = {f"pkg{i}/sub/mod{j}.py": f"X = {i}{j}\n" for i in range(3) for j in range(3)}
    files["README.md"] = "# api\n"
    forge.add_repo("acme", "api", files=files)
    full = snapshot(make_provider(cache_dir=tmp_path / "a"), "acme/api").tree
    forge.tree_entry_limit = 4
    forge.reset_counts()
    truncated = snapshot(make_provider(cache_dir=tmp_path / "b", fetch="api"), "acme/api").tree
    assert truncated == full and len(full) == 10
    assert forge.count(path="/repos/acme/api/git/trees/*") > 1
    assert not forge.git.requests


def test_a_truncated_tree_is_cloned_instead_by_default(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], tmp_path: Path
) -> None:
    files = {f"pkg{i}/sub/mod{j}.py": f"X = {i}{j}\n" for i in range(3) for j in range(3)}
    files["README.md"] = "# api\n"
    forge.add_repo("acme", "api", files=files)
    full = snapshot(make_provider(cache_dir=tmp_path / "a"), "acme/api")
    forge.tree_entry_limit = 4
    forge.reset_counts()
    cloned = snapshot(make_provider(cache_dir=tmp_path / "b"), "acme/api")
    try:
        assert {p: e.sha for p, e in cloned.tree.items()} == {
            p: e.sha for p, e in full.tree.items()}
        assert cloned.head_sha == full.head_sha
        assert forge.count(path="/repos/acme/api/git/trees/*") == 1  # the truncated answer
        assert RepoFiles(cloned).read_text("pkg2/sub/mod1.py") == "X = 21\n"
        assert forge.count(path="/repos/*/git/blobs/*") == 0  # read from the clone
        assert {r.path for r in forge.git.requests} == {"info/refs", "git-upload-pack"}
        assert {r.credential for r in forge.git.requests} == {DEFAULT_TOKEN}
        folder = cloned.reader._clone.folder  # type: ignore[attr-defined]
        assert folder.is_dir()
    finally:
        cloned.close()
        full.close()
    assert not folder.exists()  # closing the snapshot removes the clone


def test_clone_mode_costs_no_api_requests_for_trees_or_files(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], tmp_path: Path
) -> None:
    seed_org(forge, 6)
    api = scan(make_provider(fetch="api", cache_dir=tmp_path / "api-cache"))
    forge.reset_counts()
    cloned = scan(make_provider(fetch="clone"))
    assert {k: (f.outcome, f.message) for k, f in cloned.items()} == {
        k: (f.outcome, f.message) for k, f in api.items()}
    assert forge.count(path="/repos/*") == 0  # listing and GraphQL only
    assert forge.count() == 2
    clones = [r for r in forge.git.requests if r.path == "info/refs"]
    assert len({r.repository for r in clones}) == 6
    forge.git.requests.clear()
    forge.reset_counts()
    scan(make_provider(fetch="clone"))  # unchanged: trees and files come from the cache
    assert not forge.git.requests and forge.count() <= 1


def test_many_files_to_read_are_fetched_through_a_clone(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    from governance.providers.forge import CLONE_WHEN_FILES

    files = {f"src/m{i:03d}.py": f"V = {i}\n" for i in range(CLONE_WHEN_FILES + 20)}
    forge.add_repo("acme", "big", files=files)
    forge.add_repo("acme", "small", files={"src/one.py": "ONLY = 1\n"})
    forge.reset_counts()
    found = snapshots(make_provider(), Needs(files=("**/*.py",)))
    big, small = found["acme/big"], found["acme/small"]
    assert isinstance(big, RepoSnapshot) and isinstance(small, RepoSnapshot)
    try:
        assert RepoFiles(big).read_text("src/m117.py") == "V = 117\n"
        assert RepoFiles(small).read_text("src/one.py") == "ONLY = 1\n"
    finally:
        big.close()
        small.close()
    assert {r.repository for r in forge.git.requests} == {"acme/big"}
    blob_queries = [r.graphql_query for r in forge.requests
                    if r.graphql_query and "GovernanceBlobs" in r.graphql_query]
    assert len(blob_queries) == 1 and "object(oid:" in blob_queries[0]  # small's one file
    assert forge.count(path="/repos/*/git/blobs/*") == 0


def test_clone_credentials_stay_out_of_argv_and_disk(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    secret = "ghp_clone_secret_0123456789abcdef"
    forge.add_token(secret)
    forge.add_repo("acme", "api", files={"README.md": "# api\n"})
    real_git = shutil.which("git")
    assert real_git
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    log_file = tmp_path / "argv.log"
    (wrappers / "git").write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log_file}"\nexec "{real_git}" "$@"\n')
    (wrappers / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}:{os.environ['PATH']}")
    item = snapshot(make_provider(token=secret, fetch="clone"), "acme/api")
    try:
        folder = item.reader._clone.folder  # type: ignore[attr-defined]
        on_disk = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
        assert secret.encode() not in on_disk
        assert base64.b64encode(f"x-access-token:{secret}".encode()) not in on_disk
    finally:
        item.close()
    argv = log_file.read_text()
    assert "clone" in argv and secret not in argv
    assert {r.credential for r in forge.git.requests} == {secret}


def test_a_failing_clone_is_an_error_for_that_repository_only(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "api")
    forge.add_repo("acme", "web")
    forge.inject_fault("reset", path="/acme/api.git/*", count=None)
    found = snapshots(make_provider(fetch="clone"), Needs())
    assert isinstance(found["acme/api"], RepoFailure)
    assert "git clone failed" in found["acme/api"].reason
    assert isinstance(found["acme/web"], RepoSnapshot)
    found["acme/web"].close()


def test_a_token_without_contents_permission(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    forge.add_repo("acme", "api")
    forge.add_token("meta-only", kind="fine_grained", permissions={"metadata": "read"})
    item = snapshots(make_provider(token="meta-only"))["acme/api"]
    assert isinstance(item, RepoFailure) and "Contents: read" in item.reason


# --------------------------------------------------------------------------- budget


def test_request_budget_cold_repeat_and_one_push(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_org(forge, 60)
    forge.reset_counts()
    cold = scan(make_provider())
    cold_requests = forge.count()
    assert len({repo for repo, _ in cold}) == 60
    assert all(f.outcome is not Outcome.ERROR for f in cold.values())
    assert cold_requests <= 2 * 60
    assert forge.count(path="/repos/*/git/trees/*") == 60  # one tree per repository
    assert forge.count(path="/repos/*/git/blobs/*") == 0  # files came batched
    assert forge.count(resource="graphql") <= 4
    assert cold_requests / 60 <= 1.1

    forge.reset_counts()
    repeat = scan(make_provider())
    assert {k: f.outcome for k, f in repeat.items()} == {k: f.outcome for k, f in cold.items()}
    assert forge.count() / 60 <= 0.05
    assert forge.count(False, path="/orgs/acme/repos", status=304) == 1
    assert forge.count(False, path="/repos/*") == 0

    forge.push("acme", "svc-007", {"src/new.py": "print('new')\n"})
    forge.reset_counts()
    scan(make_provider())
    queries = [r.graphql_query for r in forge.requests if r.graphql_query]
    trees = [r.path for r in forge.requests if "/git/trees/" in r.path]
    assert len(trees) == 1 and trees[0].startswith("/repos/acme/svc-007/")
    blob_queries = [q for q in queries if "GovernanceBlobs" in q]
    assert len(blob_queries) == 1 and blob_queries[0].count("object(oid:") == 1
    assert forge.count() <= 5  # listing page, 2 head queries, 1 tree, 1 blob query


def test_unchanged_repositories_cost_nothing_without_settings(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    seed_org(forge, 5)
    files_only = tuple(e for e in baseline() if not e.definition.reads.settings)
    first = scan(make_provider(), files_only)
    forge.reset_counts()
    second = scan(make_provider(), files_only)
    assert forge.count() == 0
    assert forge.count(counted_only=False) == 1  # the listing, answered 304
    assert {k: f.message for k, f in first.items()} == {k: f.message for k, f in second.items()}


@pytest.mark.skipif(not gh._REF_HAS_HEAD, reason="RepoRef has no head_sha in this version")
def test_the_listing_names_the_head_of_unchanged_repositories(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    seed_org(forge, 2)
    assert all(getattr(r, "head_sha", None) is None for r in make_provider().list_repos())
    first = snapshots(make_provider())
    forge.push("acme", "svc-001", {"NEW.md": "new\n"})
    refs = {r.name: r for r in make_provider().list_repos()}
    head = first["acme/svc-000"]
    assert isinstance(head, RepoSnapshot)
    assert getattr(refs["acme/svc-000"], "head_sha", None) == head.head_sha
    assert getattr(refs["acme/svc-001"], "head_sha", None) is None  # pushed since: unknown


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("kind", "path"),
    [("502", "/repos/acme/svc-001/git/trees/*"), ("500", "/graphql"),
     ("503", "/orgs/acme/repos"), ("reset", "/repos/acme/svc-002/git/trees/*"),
     ("reset", "/graphql"), ("secondary", "/orgs/acme/repos"), ("429", "/graphql"),
     ("secondary", "/repos/acme/svc-000/git/trees/*")],
)
def test_transient_faults_are_retried(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], sleeps: Sleeps,
    kind: str, path: str
) -> None:
    seed_org(forge, 3)
    forge.inject_fault(kind, path, count=2, retry_after=2)
    items = snapshots(make_provider())
    assert all(isinstance(i, RepoSnapshot) for i in items.values()), items
    assert len(sleeps.calls) == 2
    if kind in ("secondary", "429"):
        assert sleeps.calls == [2.0, 2.0]  # Retry-After obeyed


def test_latency_is_tolerated(forge: FakeGitHub,
                              make_provider: Callable[..., GitHubProvider]) -> None:
    seed_org(forge, 3)
    forge.inject_fault("latency", "*", count=None, latency_ms=20)
    items = snapshots(make_provider(concurrency=2))
    assert all(isinstance(i, RepoSnapshot) for i in items.values())


def test_a_secondary_limit_longer_than_max_wait_stops(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    seed_org(forge, 1)
    forge.inject_fault("secondary", "/orgs/acme/repos", retry_after=600)
    with pytest.raises(RateLimitExhausted, match="secondary rate limit asks to wait 600 s"):
        list(make_provider(max_wait=60).list_repos())


def test_a_repository_that_keeps_failing_becomes_an_error(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], sleeps: Sleeps
) -> None:
    seed_org(forge, 3)
    forge.inject_fault("502", "/repos/acme/svc-001/git/trees/*", count=None)
    findings = scan(make_provider(max_attempts=3))
    broken = {f.outcome for (repo, _), f in findings.items() if repo == "acme/svc-001"}
    assert broken == {Outcome.ERROR}
    message = findings[("acme/svc-001", "readme-present")].message
    assert "502" in message and "3 attempts" in message
    assert all(f.outcome is not Outcome.ERROR for (repo, _), f in findings.items()
               if repo != "acme/svc-001")
    assert len(sleeps.calls) == 2


def test_a_batch_query_that_keeps_failing_fails_its_repositories(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    seed_org(forge, 3)
    forge.inject_fault("reset", "/graphql", count=None)
    items = snapshots(make_provider(max_attempts=2))
    assert all(isinstance(i, RepoFailure) and "could not be reached" in i.reason
               for i in items.values())


def test_a_listing_that_keeps_failing_stops_the_scan(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    seed_org(forge, 1)
    forge.inject_fault("503", "/orgs/acme/repos", count=None)
    with pytest.raises(ProviderError, match="503"):
        list(make_provider(max_attempts=2).list_repos())


# --------------------------------------------------------------------------- rate limits


def test_exhausted_rate_limit_beyond_max_wait_stops_cleanly_keeping_results(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider]
) -> None:
    seed_org(forge, 12)
    # the listing, then 6 trees: the 7th repository's tree finds the core limit used up
    forge.set_rate_limit(DEFAULT_TOKEN, "core", limit=7, reset=int(time.time()) + 3000)
    provider = make_provider(batch_size=4, concurrency=1, max_wait=60, reserve=0)
    engine = Engine(list(baseline()))
    seen: list[str] = []
    with pytest.raises(RateLimitExhausted, match="--max-wait") as info:
        for finding in engine.run(provider, provider.list_repos()):
            seen.append(finding.repository)
    assert isinstance(info.value, ProviderError)
    assert sorted(set(seen)) == [f"acme/svc-{i:03d}" for i in range(4)]  # the first batch


def test_exhausted_rate_limit_waits_for_the_reset(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture
) -> None:
    seed_org(forge, 3)
    forge.set_rate_limit(DEFAULT_TOKEN, "core", used=5000, reset=int(time.time()) + 30)
    sleeps.then = lambda _: forge.set_rate_limit(DEFAULT_TOKEN, "core", used=0)
    with caplog.at_level(logging.WARNING, logger="governance"):
        items = snapshots(make_provider(max_wait=120))
    assert all(isinstance(i, RepoSnapshot) for i in items.values())
    assert sleeps.calls and 25 <= sleeps.calls[0] <= 32
    assert "rate limit (core) reached: waiting" in caplog.text


def test_graphql_rate_limit_waits_for_the_reset(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], sleeps: Sleeps
) -> None:
    seed_org(forge, 2)
    forge.set_rate_limit(DEFAULT_TOKEN, "graphql", used=5000, reset=int(time.time()) + 20)
    sleeps.then = lambda _: forge.set_rate_limit(DEFAULT_TOKEN, "graphql", used=0)
    items = snapshots(make_provider(max_wait=120))
    assert all(isinstance(i, RepoSnapshot) for i in items.values())
    assert len(sleeps.calls) == 1


def test_slows_down_near_the_reserve(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture
) -> None:
    seed_org(forge, 4)
    # 100 requests an hour, 5 held in reserve: with 10 left, requests are spaced out
    # (the listing and 4 trees use 5 of them, down to the reserve, which stays untouched)
    forge.set_rate_limit(DEFAULT_TOKEN, "core", limit=100, used=90,
                         reset=int(time.time()) + 100)
    with caplog.at_level(logging.WARNING, logger="governance"):
        items = snapshots(make_provider(concurrency=1, max_wait=5000,
                                        clock=lambda: time.time() + sum(sleeps.calls)))
    assert all(isinstance(i, RepoSnapshot) for i in items.values())
    assert "slowing down" in caplog.text and "waiting" not in caplog.text
    # the time left (100 s) spread over what is left above the reserve (5, then 4...)
    assert len(sleeps.calls) >= 3 and all(15 <= s <= 35 for s in sleeps.calls), sleeps.calls
    assert forge.rate_limit(DEFAULT_TOKEN).remaining == 5


# --------------------------------------------------------------------------- secrets


def test_the_token_never_reaches_logs_output_or_the_cache(
    forge: FakeGitHub, cli: Callable[..., Any], tmp_path: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    secret = "ghp_" + "S3cr3tT0k3n" * 3
    forge.add_token(secret)
    seed_org(forge, 3)
    forge.inject_fault("502", "/repos/acme/svc-002/git/trees/*", count=1)  # retried, logged
    forge.update_repo("acme", "svc-001", disabled=True)  # an error finding: a partial run
    cache = tmp_path / "xdg"
    env = {"GITHUB_TOKEN": secret, "GITHUB_API_URL": forge.url, "XDG_CACHE_HOME": str(cache)}
    with caplog.at_level(logging.DEBUG):
        result = cli("-v", "scan", "github:acme", "--out", "out", env=env)
        bad = cli("scan", "github:acme", env={**env, "GITHUB_TOKEN": secret + "x"})
    assert result.code == 3  # svc-001 cannot be read: a partial run
    assert "502" in caplog.text  # the retry was logged, without the token
    assert bad.code == 2
    assert "rejected the credentials" in bad.text
    written = [p for p in cache.rglob("*") if p.is_file()]
    assert written
    assert (cache / "governance").stat().st_mode & 0o077 == 0  # private to the user
    assert (cache / "governance" / "forge-cache.sqlite3").stat().st_mode & 0o077 == 0
    blobs = b"".join(p.read_bytes() for p in written)
    blobs += b"".join(p.read_bytes() for p in (tmp_path / "out").iterdir())
    for text in (result.text, bad.text, caplog.text):
        assert secret not in text
    assert secret.encode() not in blobs
    assert any(r.token == secret for r in forge.requests)


def test_open_source_routes_github_specs(forge: FakeGitHub, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", forge.url)
    forge.add_repo("acme", "api")
    provider = open_source("github:acme/api", github={"cache_dir": tmp_path, "concurrency": 2})
    assert isinstance(provider, GitHubProvider)
    try:
        assert [r.name for r in provider.list_repos()] == ["acme/api"]
    finally:
        provider.close()


def test_a_git_too_old_to_clone_is_refused_for_clone_and_skipped_by_auto(
    forge: FakeGitHub, make_provider: Callable[..., GitHubProvider], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    old = tmp_path / "old-git"
    old.mkdir()
    (old / "git").write_text("#!/bin/sh\necho 'git version 2.20.1'\n")
    (old / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{old}:{os.environ['PATH']}")
    with pytest.raises(ConfigError, match=r"--fetch clone: git 2\.20 is older than 2\.31"):
        make_provider(fetch="clone")
    forge.add_repo("acme", "api", files={"README.md": "# api\n"})
    forge.tree_entry_limit = 1  # a truncated tree: auto would clone it
    with caplog.at_level(logging.WARNING, logger="governance"):
        item = snapshot(make_provider(), "acme/api")
    item.close()
    assert "reading through the API only" in caplog.text
    assert "README.md" in item.tree and not forge.git.requests
