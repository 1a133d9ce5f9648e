"""`gitlab:GROUP[/SUBGROUP...]`, `gitlab:GROUP/PROJECT`, `gitlab:G1,G2`: projects on
gitlab.com or a self-managed GitLab, read through the API, no clone.

A path is scanned as a group (every project of it and of its subgroups) when GitLab knows
a group by that path, else as one project.

The fetch plan, per batch of projects (`batch_size`, default 50):

1. listing: `GET /groups/:path/projects?include_subgroups=true&per_page=100`, conditional
   (ETag kept on disk: an unchanged page answers `304`), pages followed through `Link`;
2. one GraphQL query for the batch: per project the default branch, emptiness and head
   commit and (when a policy reads `default_branch_rules`) the branch rules: protected
   branches with push / merge access levels and the approval rules of each. When no
   setting is needed and the listing shows an unchanged `last_activity_at`, it is skipped;
3. one `GET /projects/:id/repository/tree?recursive=true&per_page=100&ref=HEAD` (keyset
   pagination) per project whose head commit's listing is not in the on-disk cache;
4. GraphQL queries for the text of the files matching the policies' globs that are not
   cached yet (`repository.blobs(paths:, ref:)`, many projects per query). Blobs are cached
   by git blob id (checked against the content): an unchanged file is never fetched again.
   Binary files, and any other committed file a check asks for (GitLab CI local
   includes), are read on demand: `GET /projects/:id/repository/blobs/:sha/raw`.

With `ci_lint` (`--gitlab-ci-lint`), GitLab's CI lint API gives the merged configuration
(`GET /projects/:id/ci/lint?content_ref=HEAD`, one request per project with GitLab CI and
new head), which then stands in for `.gitlab-ci.yml`: includes from other projects,
remote files and templates are then resolved by GitLab itself.

Rate limits: the RateLimit-* headers are tracked; at the reserve (5 % of the limit) the
provider waits for the reset (or stops with `RateLimitExhausted` when that is longer than
`max_wait`). 429 answers are retried after Retry-After; 5xx answers and dropped
connections with jittered exponential backoff, `max_attempts` times; a project that keeps
failing becomes a RepoFailure.

This is the only reading module that imports python-gitlab (remediation/gitlab.py writes
with it): it builds the API URL and looks up a single project (`gitlab:GROUP/PROJECT`).
The bulk requests go through `requests` with the on-disk ETag cache, since python-gitlab
has neither conditional requests nor a GraphQL batch API.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from governance import __version__
from governance.errors import ConfigError, FileProblem, ProviderError
from governance.httpcache import (
    CachedBlob,
    CachedResponse,
    ForgeCache,
    default_cache_dir,
    fingerprint,
)
from governance.models import RepoRef, TreeEntry
from governance.providers import forge
from governance.providers import gitlab_queries as queries
from governance.providers.base import Needs
from governance.settings import DEFAULT_BRANCH_RULES, BranchRules, RuleSource
from governance.snapshot import RepoFailure, RepoSnapshot, matches

log = logging.getLogger(__name__)

DEFAULT_URL = "https://gitlab.com"
USER_AGENT = f"governance/{__version__} (+repository governance scanner)"

# GitLab access levels (push / merge): 0 no one, 30 developers, 40 maintainers, 60 admins.
NO_ACCESS = 0
# GitLab's pseudo branch rules (Premium) that carry approval rules for many branches.
ALL_BRANCHES = "All branches"
ALL_PROTECTED_BRANCHES = "All protected branches"
# Files up to this size are prefetched through GraphQL; larger ones are read on demand.
PREFETCH_MAX_BYTES = 512 * 1024
# One blob query asks for at most this many files.
BLOB_QUERY_FILES = 300
# A recursive tree listing of more pages than this is refused (a runaway repository).
TREE_MAX_PAGES = 500
CI_PATH = ".gitlab-ci.yml"

_PATH = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.+-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.+-]*)*")
_TRANSIENT_STATUS = forge.TRANSIENT_STATUS
_KINDS = {"120000": "symlink", "160000": "submodule"}

_NOT_VISIBLE = ("not found, or not visible with these credentials (the token needs the "
                "read_api scope and at least the Reporter role on the project)")

Item = RepoSnapshot | RepoFailure


class GitLabError(ProviderError):
    """GitLab could not be read (after retries, where retrying made sense)."""


class RateLimitExhausted(GitLabError):
    """The rate limit is used up for longer than the provider may wait (`max_wait`)."""


class GitLabUnavailable(GitLabError):
    """Server errors or dropped connections persisted through every retry."""


# --------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class _Reply(forge.Reply):
    from_cache: bool = False

    forge_name: ClassVar[str] = "GitLab"
    error: ClassVar[Callable[[str], Exception]] = GitLabError
    message_keys: ClassVar[tuple[str, ...]] = ("message", "error")

    @property
    def next_url(self) -> str | None:
        link = self.headers.get("Link", "")
        for part in link.split(","):
            section = part.split(";")
            if len(section) >= 2 and any(s.strip() == 'rel="next"' for s in section[1:]):
                return section[0].strip().removeprefix("<").removesuffix(">")
        return None


def _replay(reply: _Reply, cached: CachedResponse) -> _Reply:
    """A `304` answered from the cache (the next-page link back in the headers)."""
    headers = dict(reply.headers)
    if cached.link:
        headers["Link"] = cached.link
    return _Reply(200, headers, cached.body, from_cache=True)


def _describe(method: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{method} {parts.path}"


class _Transport(forge.ForgeTransport):
    """HTTP with bounded concurrency, conditional GETs, rate limits and bounded retries.
    The authentication headers come from python-gitlab and are never logged."""

    def __init__(self, *, auth_headers: Mapping[str, str], identity: str, cache: ForgeCache,
                 concurrency: int, timeout: float, max_attempts: int, backoff: float,
                 max_wait: float, reserve: float, sleep: Callable[[float], None],
                 clock: Callable[[], float]):
        super().__init__(forge="GitLab", unavailable=GitLabUnavailable,
                         concurrency=concurrency, timeout=timeout, max_attempts=max_attempts,
                         backoff=backoff, max_wait=max_wait, sleep=sleep)
        self._auth = dict(auth_headers)
        self.identity = identity
        self._cache = cache
        self._reserve = reserve
        self._clock = clock
        self._lock = threading.Lock()
        self._wait_lock = threading.Lock()
        self._limit: tuple[int, int, float] | None = None  # limit, remaining, reset

    def get(self, url: str, *, conditional: bool = False) -> _Reply:
        return forge.conditional_get(
            self._cache, self.identity, url, conditional,
            lambda etag: self._send("GET", url, etag=etag),
            link=lambda reply: reply.headers.get("Link", ""), replay=_replay)

    def graphql(self, url: str, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        reply = self._send("POST", url, body={"query": query, "variables": dict(variables)})
        if reply.status != 200:
            raise GitLabError(f"GitLab GraphQL answered {reply.status}: {reply.message}")
        payload = reply.json()
        if not isinstance(payload, dict):
            raise GitLabError("GitLab GraphQL answered something that is not an object")
        return payload

    # --------------------------------------------------------------- rate limits

    def _track(self, headers: Mapping[str, str]) -> None:
        try:
            limit = int(float(headers["RateLimit-Limit"]))
            remaining = int(float(headers["RateLimit-Remaining"]))
            reset = float(headers["RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        with self._lock:
            if self._limit is not None and abs(self._limit[2] - reset) < 1.0:
                remaining = min(remaining, self._limit[1])  # answers arrive out of order
            self._limit = (limit, remaining, reset)

    def _before(self) -> None:
        with self._lock:
            if self._limit is None:
                return
            limit, remaining, reset = self._limit
            if limit <= 0 or remaining > int(limit * self._reserve):
                return
        self._wait_until(reset, f"{remaining} of {limit} requests left")

    def _wait_until(self, reset: float, why: str) -> None:
        with self._wait_lock:
            delay = max(0.0, reset - self._clock()) + 1.0
            if delay > self._max_wait:
                raise RateLimitExhausted(
                    f"the GitLab API rate limit is used up ({why}) for {delay:.0f} s, longer "
                    f"than the maximum wait of {self._max_wait:.0f} s (--max-wait); stopping: "
                    "the projects scanned so far keep their findings")
            log.warning("GitLab API rate limit (%s): waiting %.0f s for its reset", why, delay)
            self._sleep(delay)
            with self._lock:
                if self._limit is not None:  # optimistic until the next answer says otherwise
                    self._limit = (self._limit[0], self._limit[0], reset + 60.0)

    # --------------------------------------------------------------- the loop

    def _send(self, method: str, url: str, *, etag: str | None = None, body: Any = None
              ) -> _Reply:
        what = _describe(method, url)
        attempts = 0
        while True:
            self._before()
            headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self._auth}
            if etag:
                headers["If-None-Match"] = etag
            exchanged = self._exchange(method, url, headers, body, what, key=self.identity)
            if isinstance(exchanged, str):
                attempts += 1
                self._unreachable(attempts, self._max_attempts, exchanged)
                continue
            response, content = exchanged
            reply = _Reply(response.status_code, response.headers, content)
            self._track(reply.headers)
            status = reply.status
            if status == 401:
                raise ConfigError(
                    f"GitLab rejected the credentials ({status} {reply.message}) on {what}: "
                    "check GITLAB_TOKEN")
            if status == 429:
                attempts += 1
                wait = _retry_after(reply.headers)
                if wait is None:
                    wait = self._backoff_delay(attempts) * 10
                if wait > self._max_wait:
                    raise RateLimitExhausted(
                        f"GitLab's rate limit asks to wait {wait:.0f} s, longer than the "
                        f"maximum wait of {self._max_wait:.0f} s (--max-wait); stopping")
                if attempts >= self._max_attempts:
                    raise GitLabUnavailable(
                        f"GitLab kept answering 429 Too Many Requests on {what} "
                        f"({attempts} attempts)")
                log.warning("GitLab rate limit on %s: waiting %.1f s", what, wait)
                self._sleep(wait)
                continue
            if status in _TRANSIENT_STATUS:
                attempts += 1
                reason = f"{status} {reply.message} on {what}"
                self._retry(attempts, self._max_attempts, reason,
                            f"GitLab kept answering {reason} ({attempts} attempts)")
                continue
            return reply


_retry_after = forge.retry_after


def _error_messages(errors: Iterable[Mapping[str, Any]]) -> str:
    return "; ".join(str(e.get("message", "error")) for e in errors) or "error"


_blob_id = forge.blob_id


# --------------------------------------------------------------------------- settings


def _levels(protection: Mapping[str, Any], key: str) -> list[int]:
    nodes = ((protection.get(key) or {}).get("nodes")) or ()
    out = []
    for node in nodes:
        if isinstance(node, Mapping) and isinstance(node.get("accessLevel"), int):
            out.append(int(node["accessLevel"]))
    return out


def _pattern_matches(pattern: str, branch: str) -> bool:
    """GitLab's protected branch wildcards: `*` matches any characters, `/` included."""
    if "*" not in pattern:
        return pattern == branch
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, branch) is not None


def branch_rules(branch: str, nodes: Iterable[Mapping[str, Any]]) -> BranchRules:
    """The BranchRules of `branch` from GraphQL `branchRules` nodes: each protected branch
    rule matching it, and the approval rules that apply to it (those of the rule for the
    branch, of GitLab's pseudo rule "All branches" and, when the branch is protected, of
    "All protected branches")."""
    sources: list[RuleSource] = []
    approvals: list[tuple[str, Mapping[str, Any]]] = []
    protected = False
    for node in nodes:
        name = str(node.get("name") or "")
        if name == ALL_PROTECTED_BRANCHES:
            continue  # decided below, once we know whether the branch is protected
        if name != ALL_BRANCHES and not _pattern_matches(name, branch):
            continue
        protection = node.get("branchProtection")
        if node.get("isProtected") and isinstance(protection, Mapping):
            protected = True
            push = _levels(protection, "pushAccessLevels")
            sources.append(RuleSource(
                kind="gitlab-protected-branch",
                name=name,
                requires_pull_request=bool(push) and all(p == NO_ACCESS for p in push),
                code_owner_review=bool(protection.get("codeOwnerApprovalRequired")),
                allow_force_push=bool(protection.get("allowForcePush")),
                allow_deletion=False,  # a protected branch cannot be deleted by a push
                enforce_admins=False,  # administrators keep their access
            ))
        approvals += [(name, rule) for rule in _approval_rules(node)]
    if protected:
        for node in nodes:
            if str(node.get("name") or "") == ALL_PROTECTED_BRANCHES:
                approvals += [(ALL_PROTECTED_BRANCHES, rule) for rule in _approval_rules(node)]
    seen: set[str] = set()
    for index, (scope, rule) in enumerate(approvals):
        key = str(rule.get("id") or f"{scope}/{rule.get('name')}/{index}")
        if key in seen:
            continue
        seen.add(key)
        required = rule.get("approvalsRequired")
        sources.append(RuleSource(
            kind="gitlab-approval-rule",
            name=str(rule.get("name") or f"{scope} rule {index + 1}"),
            required_approvals=int(required) if isinstance(required, int) else 0,
        ))
    return BranchRules(branch, tuple(sources))


def _approval_rules(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rules = (node.get("approvalRules") or {}).get("nodes") or ()
    return [rule for rule in rules if isinstance(rule, Mapping)]


# --------------------------------------------------------------------------- the provider


@dataclass(frozen=True)
class _Target:
    path: str


@dataclass
class _Listed:
    project_id: int | None = None
    last_activity: str | None = None
    empty: bool | None = None
    failure: str | None = None


@dataclass(kw_only=True)
class _Work(forge.Work):
    """One project going through a batch (its tree is cached by head commit)."""

    listed: _Listed

class _BlobReader(forge.CachedBlobReader):
    """Files of one project: from the on-disk blob cache (prefetched in batches), else read
    on demand by blob id (`GET /projects/:id/repository/blobs/:sha/raw`, counted)."""

    def __init__(self, provider: GitLabProvider, project: str):
        self._provider = provider
        self._project = project

    def _cache(self) -> ForgeCache:
        return self._provider._cache

    def _fetch(self, entry: TreeEntry) -> CachedBlob:
        return self._provider._fetch_blob(self._project, entry)


class GitLabProvider(forge.BatchedProvider):
    """See the module docstring. The CLI uses `from_environment` (GITLAB_TOKEN, or
    CI_JOB_TOKEN inside a GitLab CI job; GITLAB_URL)."""

    kind = "gitlab"

    def __init__(
        self,
        source: str,
        *,
        token: str | None = None,
        job_token: str | None = None,
        api_url: str | None = None,
        concurrency: int = 4,
        max_wait: float = 3600.0,
        cache_dir: Path | str | None = None,
        ci_lint: bool = False,
        per_page: int = 100,
        batch_size: int = 50,
        fetch: str = "auto",
        max_attempts: int = 5,
        backoff: float = 1.0,
        reserve: float = 0.05,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        try:
            import gitlab
            import requests  # noqa: F401
        except ImportError as error:
            raise ConfigError(
                f"the gitlab provider needs python-gitlab and requests ({error.name} is "
                "missing): pip install python-gitlab requests") from None
        self._targets = _parse_source(source)
        self.base_url = _normalize_url(api_url or DEFAULT_URL)
        forge.check_options(concurrency=concurrency, max_wait=max_wait, per_page=per_page,
                            batch_size=batch_size)
        self._fetch_mode = forge.check_fetch_mode(fetch)
        token = (token or "").strip() or None
        job_token = (job_token or "").strip() or None
        if not token and not job_token:
            raise ConfigError(
                "the gitlab provider needs credentials: set GITLAB_TOKEN (a personal, group "
                "or project access token with the read_api scope)")
        # python-gitlab: the API URL and single-project lookups.
        self._gl = gitlab.Gitlab(
            self.base_url, private_token=token, job_token=None if token else job_token,
            timeout=timeout, retry_transient_errors=True, keep_base_url=True,
            user_agent=USER_AGENT)
        self._gl.session.trust_env = False
        self.api_url = str(self._gl.api_url)
        self.graphql_url = f"{self.base_url}/api/graphql"
        auth = {"PRIVATE-TOKEN": token} if token else {"JOB-TOKEN": job_token or ""}
        secret = token or job_token or ""
        identity = fingerprint("gitlab-token", self.base_url, secret)
        self._concurrency = concurrency
        self._per_page = per_page
        self._batch_size = batch_size
        self._max_attempts = max_attempts
        self._cache = ForgeCache(Path(cache_dir) if cache_dir else default_cache_dir())
        self._transport = _Transport(
            auth_headers=auth, identity=identity, cache=self._cache, concurrency=concurrency,
            timeout=timeout, max_attempts=max_attempts, backoff=backoff, max_wait=max_wait,
            reserve=reserve, sleep=sleep, clock=clock)
        self._identity = identity
        self._job_token_only = not token
        # git over HTTPS: a personal/project/group token with any username, a job token
        # as gitlab-ci-token
        self._git_login = ("oauth2", token) if token else ("gitlab-ci-token", job_token or "")
        self._ci_lint = ci_lint
        self._listed: dict[str, _Listed] = {}
        self._project_ids: dict[str, int] = {}
        self._premium: dict[str, bool] = {}  # per top-level group: approval rules exist

    @classmethod
    def from_environment(cls, source: str, environ: Mapping[str, str] | None = None,
                         **options: Any) -> GitLabProvider:
        """Credentials and URL from the environment, never from the command line."""
        env = os.environ if environ is None else environ
        token, job_token, api_url = environment_credentials(env, options.pop("api_url", None))
        return cls(source, token=token, job_token=job_token, api_url=api_url, **options)

    def close(self) -> None:
        self._transport.close()
        self._gl.session.close()
        self._cache.close()

    def __enter__(self) -> GitLabProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ listing

    def list_repos(self) -> Iterator[RepoRef]:
        for target in self._targets:
            yield from self._list_target(target.path)

    def _list_target(self, path: str) -> Iterator[RepoRef]:
        encoded = urllib.parse.quote(path, safe="")
        url: str | None = (
            f"{self.api_url}/groups/{encoded}/projects?include_subgroups=true"
            f"&with_shared=false&per_page={self._per_page}&order_by=path&sort=asc")
        first = True
        while url:
            reply = self._transport.get(url, conditional=True)
            if first and reply.status == 404:
                yield self._list_project(path)
                return
            first = False
            if reply.status != 200:
                hint = ("; the token needs the read_api scope" if reply.status == 403 else "")
                raise GitLabError(f"gitlab:{path}: cannot list the projects "
                                  f"({reply.status}: {reply.message}){hint}")
            items = reply.json()
            if not isinstance(items, list):
                raise GitLabError(f"gitlab:{path}: the project listing is not a list")
            for item in items:
                if isinstance(item, Mapping):
                    yield self._ref(item)
            url = reply.next_url
            if url and not url.startswith(self.api_url + "/"):
                raise GitLabError(f"GitLab's pagination points outside {self.api_url}")

    def _list_project(self, path: str) -> RepoRef:
        """Not a group: one project, looked up with python-gitlab."""
        import gitlab

        try:
            project = self._gl.projects.get(path, max_retries=self._max_attempts)
        except gitlab.GitlabAuthenticationError as error:
            raise ConfigError(f"GitLab rejected the credentials ({error.response_code}): "
                              "check GITLAB_TOKEN") from None
        except gitlab.GitlabGetError as error:
            if error.response_code in (403, 404):
                if "/" not in path:
                    raise ConfigError(f"gitlab:{path}: no group {path!r} is visible with "
                                      "these credentials") from None
                raise ConfigError(f"gitlab:{path}: no group or project {path!r} is visible "
                                  "with these credentials") from None
            raise GitLabError(f"gitlab:{path}: cannot read the project "
                              f"({error.response_code}: {error.error_message})") from None
        except gitlab.GitlabError as error:
            raise GitLabError(f"gitlab:{path}: cannot read the project ({error})") from None
        return self._ref(project.asdict())

    def _ref(self, item: Mapping[str, Any]) -> RepoRef:
        name = str(item.get("path_with_namespace") or "")
        topics = item.get("topics")
        if not isinstance(topics, list):
            topics = item.get("tag_list")
        ref = RepoRef(
            provider=self.kind,
            name=name,
            location=str(item.get("web_url") or f"{self.base_url}/{name}"),
            default_branch=item.get("default_branch") or None,
            archived=bool(item.get("archived")),
            fork=bool(item.get("forked_from_project")),
            visibility=str(item.get("visibility") or "unknown"),
            topics=tuple(str(t) for t in topics) if isinstance(topics, list) else (),
        )
        project_id = item.get("id")
        activity = item.get("last_activity_at")
        empty = item.get("empty_repo")
        listed = _Listed(project_id=project_id if isinstance(project_id, int) else None,
                         last_activity=activity if isinstance(activity, str) else None,
                         empty=empty if isinstance(empty, bool) else None)
        if item.get("repository_access_level") == "disabled":
            listed.failure = "the project's repository is disabled"
        self._listed[name] = listed
        state = self._cache.state(self._identity, name)
        if listed.failure is None and _unchanged_since(state, listed, ref.default_branch):
            assert state is not None
            ref = replace(ref, head_sha=state.get("head"))
        return ref

    # ------------------------------------------------------------------ snapshots

    # snapshots: forge.BatchedProvider, with _batches and _fetch_batch

    def _batches(self, refs: Iterable[RepoRef]) -> Iterator[list[RepoRef]]:
        batch: list[RepoRef] = []
        for ref in refs:
            batch.append(ref)
            if len(batch) >= self._batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _fetch_batch(self, batch: list[RepoRef], needs: Needs, pool: ThreadPoolExecutor
                     ) -> list[Item]:
        wants_rules = DEFAULT_BRANCH_RULES in needs.settings
        results: list[Item | None] = [None] * len(batch)
        works: list[_Work] = []
        to_query: list[_Work] = []
        for index, ref in enumerate(batch):
            listed = self._listed.pop(ref.name, None) or _Listed()
            if listed.failure:
                results[index] = RepoFailure(ref, listed.failure)
                continue
            work = _Work(index=index, ref=ref, listed=listed,
                         state=self._cache.state(self._identity, ref.name))
            works.append(work)
            if not wants_rules and _unchanged_since(work.state, listed, ref.default_branch):
                assert work.state is not None
                work.branch, work.head = work.state.get("branch"), work.state.get("head")
                work.empty = work.head is None
            else:
                to_query.append(work)
        if to_query and self._job_token_only:
            for future in [pool.submit(self._rest_head, w, needs) for w in to_query]:
                future.result()
        elif to_query:
            self._query_projects(to_query, wants_rules)
            if wants_rules:
                self._check_tier([w for w in to_query if not w.failure])
        with_tree = [w for w in works if not w.failure and not w.empty]
        for future in [pool.submit(self._load_tree, w) for w in with_tree]:
            future.result()
        if self._ci_lint:
            linted = [w for w in with_tree if w.tree is not None and not w.failure]
            for future in [pool.submit(self._lint_ci, w) for w in linted]:
                future.result()
        if not self._job_token_only:  # a job token cannot use GraphQL: files read on demand
            self._prefetch_blobs(
                [w for w in with_tree if w.tree is not None and not w.failure], needs.files,
                pool)
        for work in works:
            results[work.index] = self._finish(work, needs)
        return [item for item in results if item is not None]

    # ------------------------------------------------------------------ GraphQL: heads

    def _query_projects(self, works: list[_Work], settings: bool) -> None:
        query = queries.projects_query(len(works), settings)
        variables = {queries.project_alias(i): w.ref.name for i, w in enumerate(works)}
        try:
            payload = self._transport.graphql(self.graphql_url, query, variables)
        except (RateLimitExhausted, ConfigError):
            raise
        except GitLabError as error:
            for work in works:
                work.failure = str(error)
            return
        parts = forge.graphql_parts(payload, works, queries.project_alias,
                                    "GitLab GraphQL answered no data", _error_messages)
        for work, node, mine in parts:
            self._read_project(work, node, mine, settings)

    def _read_project(self, work: _Work, node: Any, errors: list[Mapping[str, Any]],
                      settings: bool) -> None:
        if not isinstance(node, Mapping):
            work.failure = (f"GitLab could not read this project: {_error_messages(errors)}"
                            if errors else _NOT_VISIBLE)
            return
        repository = node.get("repository")
        if not isinstance(repository, Mapping):
            work.failure = ("the token cannot read this project's repository (it needs the "
                            "read_api scope and at least the Reporter role)"
                            + (f": {_error_messages(errors)}" if errors else ""))
            return
        head = ((repository.get("tree") or {}).get("lastCommit") or {}).get("sha")
        if repository.get("empty") or not repository.get("rootRef") or not head:
            work.empty, work.head = True, None
            work.branch = repository.get("rootRef") or work.ref.default_branch
        else:
            work.branch = str(repository["rootRef"])
            work.head = str(head)
        if not settings:
            return
        if work.empty:
            work.settings[DEFAULT_BRANCH_RULES] = None
            return
        rules_node = node.get("branchRules")
        if not isinstance(rules_node, Mapping):
            rule_errors = [e for e in errors if "branchRules" in _path_of(e)]
            work.unavailable[DEFAULT_BRANCH_RULES] = (
                "the token cannot read the project's branch rules (protected branches need "
                "at least the Maintainer role to be read)"
                + (f": {_error_messages(rule_errors)}" if rule_errors else ""))
            return
        nodes = [n for n in rules_node.get("nodes") or () if isinstance(n, Mapping)]
        work.settings[DEFAULT_BRANCH_RULES] = branch_rules(work.branch or "", nodes)

    def _check_tier(self, works: list[_Work]) -> None:
        """Merge requests are required but no approval rule shows: on a free tier approval
        rules do not exist (GraphQL answers an empty list either way), so whether approvals
        are required cannot be read. One `GET /projects/:id/approval_rules` per top-level
        group tells (403 on a free tier)."""
        for work in works:
            rules = work.settings.get(DEFAULT_BRANCH_RULES)
            if not isinstance(rules, BranchRules) or not rules.requires_pull_request or (
                    rules.required_approvals is not None):
                continue
            top = work.ref.name.split("/", 1)[0].lower()
            premium = self._premium.get(top)
            if premium is None:
                url = f"{self._project_url(work.ref.name, work.listed)}/approval_rules"
                try:
                    reply = self._transport.get(url, conditional=True)
                except (RateLimitExhausted, ConfigError):
                    raise
                except GitLabError as error:
                    work.settings.pop(DEFAULT_BRANCH_RULES)
                    work.unavailable[DEFAULT_BRANCH_RULES] = (
                        f"cannot tell whether approval rules exist: {error}")
                    continue
                if reply.status == 403:  # the branch rules were readable: not the role
                    premium = False
                elif reply.status == 200:
                    premium = True
                else:
                    work.settings.pop(DEFAULT_BRANCH_RULES)
                    work.unavailable[DEFAULT_BRANCH_RULES] = (
                        "cannot tell whether merge request approval rules exist "
                        f"({reply.status}: {reply.message})")
                    continue
                self._premium[top] = premium
            if not premium:
                work.settings.pop(DEFAULT_BRANCH_RULES)
                work.unavailable[DEFAULT_BRANCH_RULES] = (
                    f"merge request approval rules are a GitLab Premium feature, not available "
                    f"on the tier of {top} (GitLab refused to list them): whether merge requests "
                    "into "
                    f"{rules.branch} need approvals cannot be read (the branch is protected: "
                    "no one can push to it directly)")

    def _rest_head(self, work: _Work, needs: Needs) -> None:
        """A CI job token reaches only its project's REST endpoints: the head commit from
        `GET /projects/:id/repository/branches/:branch`; no settings."""
        for name in needs.settings:
            work.unavailable[name] = (
                "a CI job token cannot read the project's settings; set GITLAB_TOKEN to a "
                "token with the read_api scope and the Maintainer role to check them")
        branch = work.ref.default_branch
        if work.listed.empty or not branch:
            work.empty, work.head, work.branch = True, None, branch
            return
        url = (f"{self._project_url(work.ref.name, work.listed)}/repository/branches/"
               f"{urllib.parse.quote(branch, safe='')}")
        try:
            reply = self._transport.get(url)
        except (RateLimitExhausted, ConfigError):
            raise
        except GitLabError as error:
            work.failure = str(error)
            return
        commit = reply.json().get("commit") if reply.status == 200 else None
        if not isinstance(commit, Mapping) or not isinstance(commit.get("id"), str):
            work.failure = (f"cannot read the default branch {branch} ({reply.status}: "
                            f"{reply.message}); with a CI job token, the project must allow "
                            "the job's project in its job token allowlist")
            return
        work.branch, work.head = branch, str(commit["id"])

    # ------------------------------------------------------------------ trees

    def _project_url(self, work_name: str, listed: _Listed | None = None) -> str:
        if listed is not None and listed.project_id is not None:
            return f"{self.api_url}/projects/{listed.project_id}"
        return f"{self.api_url}/projects/{urllib.parse.quote(work_name, safe='')}"

    def _load_tree(self, work: _Work) -> None:
        assert work.head is not None
        key = f"gitlab-commit:{work.head}"
        listing = self._cache.tree(key)
        if listing is None and self._fetch_mode == "clone":
            self._clone(work)
            return
        if listing is None:
            try:
                listing = self._fetch_tree(work)
            except (RateLimitExhausted, ConfigError):
                raise
            except GitLabError as error:
                work.failure = str(error)
                return
            if listing is None:
                return
            self._cache.store_tree(key, listing)
        work.tree = {path: TreeEntry(path=path, kind=kind, size=None, sha=sha)
                     for path, kind, sha in listing}

    def _clone(self, work: _Work) -> None:
        """List (and later read) the project through a partial shallow clone."""
        work.tree = None
        work.clone = forge.clone_tree(work, f"{work.ref.location}.git", *self._git_login)
        if work.clone is not None and work.tree is not None and work.head is not None:
            self._cache.store_tree(f"gitlab-commit:{work.head}", [  # for the next scan
                [e.path, e.kind, e.sha] for e in work.tree.values()])

    def _fetch_tree(self, work: _Work) -> list[list[str]] | None:
        assert work.head is not None
        url: str | None = (
            f"{self._project_url(work.ref.name, work.listed)}/repository/tree?recursive=true"
            f"&per_page=100&pagination=keyset&ref={urllib.parse.quote(work.head, safe='')}")
        out: list[list[str]] = []
        pages = 0
        while url:
            pages += 1
            if pages > TREE_MAX_PAGES:
                work.failure = "the project's file tree is too large to list through the API"
                return None
            reply = self._transport.get(url)
            if reply.status == 404 and pages == 1 and "Tree Not Found" in reply.message:
                work.empty, work.head = True, None
                return None
            if reply.status != 200:
                hint = (": the token needs at least the Reporter role on the project"
                        if reply.status in (403, 404) else "")
                work.failure = (f"cannot list the files of this project ({reply.status}: "
                                f"{reply.message}){hint}")
                return None
            entries = reply.json()
            if not isinstance(entries, list):
                work.failure = "GitLab answered a tree listing that is not a list"
                return None
            for entry in entries:
                if not isinstance(entry, Mapping) or entry.get("type") == "tree":
                    continue
                path, sha = entry.get("path"), entry.get("id")
                if not isinstance(path, str) or not isinstance(sha, str):
                    continue
                mode = str(entry.get("mode") or "100644")
                kind = "submodule" if entry.get("type") == "commit" else _KINDS.get(mode, "file")
                out.append([path, kind, sha])
            url = reply.next_url
            if url and self._fetch_mode == "auto":  # more pages: a clone costs no API call
                log.info("%s: the tree spans several pages; cloning instead", work.ref.name)
                self._clone(work)
                return None
            if url and not url.startswith(self.api_url + "/"):
                raise GitLabError(f"GitLab's pagination points outside {self.api_url}")
        return out

    # ------------------------------------------------------------------ CI lint

    def _lint_ci(self, work: _Work) -> None:
        """`ci_lint`: GitLab's own merged configuration (`GET /projects/:id/ci/lint`, includes
        of every kind expanded by GitLab) stands in for the committed `.gitlab-ci.yml`.
        Kept on disk per head commit; an invalid configuration or a token that may not
        lint (it needs the Developer role) keeps the committed file."""
        assert work.tree is not None and work.head is not None
        entry = work.tree.get(CI_PATH)
        if entry is None or entry.kind != "file":
            return
        url = (f"{self._project_url(work.ref.name, work.listed)}/ci/lint?content_ref="
               f"{urllib.parse.quote(work.head, safe='')}&include_jobs=false")
        cached = self._cache.response(self._identity, url)
        body = cached.body if cached is not None else None
        if body is None:
            try:
                reply = self._transport.get(url)
            except (RateLimitExhausted, ConfigError):
                raise
            except GitLabError as error:
                log.warning("%s: GitLab CI lint failed (%s); using the committed %s",
                            work.ref.name, error, CI_PATH)
                return
            if reply.status != 200:
                log.warning("%s: GitLab CI lint answered %d (%s); using the committed %s",
                            work.ref.name, reply.status, reply.message, CI_PATH)
                return
            body = reply.body
            self._cache.store_response(self._identity, url, CachedResponse("", body))
        try:
            result = json.loads(body)
        except ValueError:
            return
        merged = result.get("merged_yaml") if isinstance(result, Mapping) else None
        if not isinstance(merged, str) or not result.get("valid"):
            log.info("%s: GitLab CI lint found the configuration invalid; using the committed "
                     "%s", work.ref.name, CI_PATH)
            return
        content = merged.encode("utf-8")
        sha = _blob_id(content, len(entry.sha or "0" * 40))
        self._cache.store_blobs({sha: CachedBlob(False, content)})
        work.tree[CI_PATH] = replace(entry, sha=sha, size=len(content))

    # ------------------------------------------------------------------ blobs

    def _prefetch_blobs(self, works: list[_Work], patterns: Sequence[str],
                        pool: ThreadPoolExecutor) -> None:
        if not patterns or not works:
            return
        works = forge.read_through_clones(works, patterns, self._cache, pool,
                                          self._fetch_mode == "auto", self._clone)
        wanted: list[tuple[_Work, list[str]]] = []
        shas: dict[str, str] = {}
        for work in works:
            assert work.tree is not None
            for path, entry in work.tree.items():
                if entry.kind == "file" and entry.sha and matches(path, patterns):
                    shas[entry.sha] = path
        known = self._cache.known_blobs(shas)
        seen: set[str] = set(known)
        for work in works:
            assert work.tree is not None
            paths = []
            for path, entry in work.tree.items():
                if (entry.kind == "file" and entry.sha and entry.sha not in seen
                        and matches(path, patterns)):
                    seen.add(entry.sha)
                    paths.append(path)
            if paths:
                wanted.append((work, paths))
        group: list[tuple[_Work, list[str]]] = []
        count = 0
        for work, paths in wanted:
            for start in range(0, len(paths), queries.BLOBS_PAGE):
                chunk = paths[start : start + queries.BLOBS_PAGE]
                if group and count + len(chunk) > BLOB_QUERY_FILES:
                    self._fetch_blobs(group)
                    group, count = [], 0
                group.append((work, chunk))
                count += len(chunk)
        if group:
            self._fetch_blobs(group)

    def _fetch_blobs(self, group: list[tuple[_Work, list[str]]]) -> None:
        query = queries.blobs_query(len(group))
        variables: dict[str, Any] = {}
        for i, (work, paths) in enumerate(group):
            variables[queries.project_alias(i)] = work.ref.name
            variables[f"paths{i}"] = paths
            variables[f"ref{i}"] = work.head
        try:
            payload = self._transport.graphql(self.graphql_url, query, variables)
        except (RateLimitExhausted, ConfigError):
            raise
        except GitLabError as error:
            log.info("prefetching files failed (%s); they are read on demand", error)
            return
        data = payload.get("data") or {}
        found: dict[str, CachedBlob] = {}
        for i, (work, _) in enumerate(group):
            assert work.tree is not None
            node = data.get(queries.project_alias(i)) or {}
            blobs = ((node.get("repository") or {}).get("blobs") or {}).get("nodes") or ()
            for blob in blobs:
                if not isinstance(blob, Mapping):
                    continue
                entry = work.tree.get(str(blob.get("path")))
                text = blob.get("rawTextBlob")
                if entry is None or entry.sha is None or not isinstance(text, str):
                    continue
                size = _as_int(blob.get("size"))  # BigInt: GitLab sends a string
                if size is not None and size > PREFETCH_MAX_BYTES:
                    continue
                content = text.encode("utf-8")
                if _blob_id(content, len(entry.sha)) == entry.sha:  # else: exactly, on demand
                    found[entry.sha] = CachedBlob(False, content)
        self._cache.store_blobs(found)

    def _fetch_blob(self, project: str, entry: TreeEntry) -> CachedBlob:
        assert entry.sha is not None
        listed_id = self._project_ids.get(project)
        base = (f"{self.api_url}/projects/{listed_id}" if listed_id is not None
                else self._project_url(project))
        url = f"{base}/repository/blobs/{urllib.parse.quote(entry.sha, safe='')}/raw"
        try:
            reply = self._transport.get(url)
        except GitLabError as error:
            raise FileProblem(entry.path, f"cannot be read from GitLab: {error}") from None
        if reply.status != 200:
            raise FileProblem(entry.path, f"cannot be read from GitLab ({reply.status}: "
                                          f"{reply.message})")
        return forge.verified_blob(self._cache, entry, reply.body, "GitLab")

    # ------------------------------------------------------------------ results

    def _finish(self, work: _Work, needs: Needs) -> Item:
        ref = forge.settled_ref(work, needs, "gitlab")
        if isinstance(ref, RepoFailure):
            return ref
        self._cache.store_state(self._identity, ref.name, {
            "last_activity": work.listed.last_activity, "branch": work.branch,
            "head": work.head,
        })
        if work.listed.project_id is not None:
            self._project_ids[ref.name] = work.listed.project_id
        return forge.snapshot(ref, work, _BlobReader(self, ref.name), self._cache)


def _unchanged_since(state: Mapping[str, Any] | None, listed: _Listed | None,
                     branch: str | None) -> bool:
    """The listing shows the project as the last scan left it (same last activity, same
    default branch): its head can be reused without asking."""
    return bool(
        state and listed and listed.last_activity
        and state.get("last_activity") == listed.last_activity
        and state.get("branch") == branch
    )


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


_path_of = forge.path_of


def _parse_source(source: str) -> list[_Target]:
    targets: list[_Target] = []
    for part in source.split(","):
        path = part.strip().strip("/")
        if not _PATH.fullmatch(path) or ".." in path.split("/"):
            raise ConfigError(
                f"gitlab:{source}: expected gitlab:GROUP[/SUBGROUP...], gitlab:GROUP/PROJECT "
                "or gitlab:GROUP1,GROUP2")
        targets.append(_Target(path))
    return targets


def environment_credentials(env: Mapping[str, str], api_url: str | None = None
                            ) -> tuple[str | None, str | None, str | None]:
    """GITLAB_TOKEN, CI_JOB_TOKEN and the GitLab URL (`api_url`, else GITLAB_URL, else
    inside a CI job CI_SERVER_URL) from the environment; empty values count as unset."""
    url = api_url or env.get("GITLAB_URL") or (
        env.get("CI_SERVER_URL") if env.get("CI_JOB_TOKEN") else None) or None
    return env.get("GITLAB_TOKEN") or None, env.get("CI_JOB_TOKEN") or None, url


def _normalize_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"GitLab URL {url!r}: expected https://gitlab.com or https://HOST")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("the GitLab URL must not carry credentials, a query or a fragment; "
                          "use GITLAB_TOKEN for the token")
    path = parts.path.rstrip("/").removesuffix("/api/v4").rstrip("/")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))
