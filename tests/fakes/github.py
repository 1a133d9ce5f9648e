"""A stateful fake of the GitHub REST and GraphQL APIs, served on 127.0.0.1 for tests.

The real PyGithub client talks HTTP to it.  It models what a governance scanner reads:
organizations, repositories (visibility, archived, fork, disabled, topics, empty), files with
real git blob / tree / commit SHA-1s, branches, classic branch protection, repository and
organization rulesets, tokens with permissions, GitHub App installations, per-token rate
limits for the ``core`` and ``graphql`` resources, ETags with ``304 Not Modified`` (not
counted against the limit), request accounting and injectable faults.

And what remediation writes: Git Data blobs, trees, commits and refs (fast-forward unless
forced; a workflow file needs the ``workflow`` scope or ``workflows: write``), compare,
tags, pull requests with their comments and labels, write permissions per token (classic
``push``, fine-grained ``contents`` / ``pull_requests`` / ``issues``).  ``pulls()``,
``close_pull()`` and ``push(..., branch=...)`` let a test act as a person.

Every URL in a response is built from the request's scheme, ``Host`` and path prefix (an
optional ``/api/v3`` as on GitHub Enterprise Server), which PyGithub insists on.

Quick use::

    forge = FakeGitHub()
    forge.add_org("acme")
    forge.add_repo("acme", "api", files={"README.md": "# hi"})
    forge.protect_branch("acme", "api", "main", required_approving_review_count=1)
    with forge.running():
        gh = forge.client()            # a real github.Github pointed at the fake
        gh.get_repo("acme/api").get_branch("main").get_protection()

or the ``github_forge`` pytest fixture at the end of this module (started, empty, with the
classic full-access token ``DEFAULT_TOKEN``).

Responses follow GitHub's OpenAPI description (checked by tests/test_fake_github.py against
the vendored extract in tests/contracts/); GraphQL queries are validated and executed by
graphql-core against the vendored GitHub schema.
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .githttp import GitCommit, GitHttp, GitRepository
from .gitobjects import (
    MODE_SUBMODULE,
    MODE_TREE,
    GitSnapshot,
    Signature,
    TreeEntry,
    blob_sha,
    build_snapshot,
    commit_sha,
    sorted_entries,
    tree_sha,
)
from .server import (
    Fault,
    LoopbackServer,
    ResetConnection,
    bearer_token,
    etag_matches,
    status_line,
)

if TYPE_CHECKING:
    from github import Github
    from graphql import GraphQLSchema
    from werkzeug.serving import BaseWSGIServer

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts"
GRAPHQL_SCHEMA_PATH = CONTRACTS_DIR / "github-schema.graphql"
REST_SUBSET_PATH = CONTRACTS_DIR / "github-rest-subset.json"

DEFAULT_TOKEN = "ghp_fake_admin_token"
DOCS = "https://docs.github.com/rest"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
_SECONDARY_DOCS = (
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)
_FAULT_MESSAGES = {500: "Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
EMPTY_REPO_MESSAGE = "Git Repository is empty."
_BASE_TIME = 1_577_836_800  # 2020-01-01T00:00:00Z, the first repository's created_at
_MAX_BLOB_TEXT = 512 * 1024  # GraphQL Blob.text is cut (isTruncated) beyond this

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
Json = Any


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _b64(data: bytes) -> str:
    """Base64 the way GitHub sends file content: wrapped every 60 characters."""
    text = base64.b64encode(data).decode("ascii")
    return "".join(text[i : i + 60] + "\n" for i in range(0, len(text), 60))


def _is_binary(data: bytes) -> bool:
    if b"\0" in data[:8000]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """GitHub ref / branch-protection globs: ``*`` stays within a segment, ``**`` does not."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                out.append(pattern[i : end + 1])
                i = end + 1
                continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _glob_match(pattern: str, value: str) -> bool:
    return _glob_regex(pattern).match(value) is not None


def _drop_path(files: dict[str, tuple[str, str]], path: str) -> None:
    """Remove a file, or a folder and everything below it, from a flat path map."""
    files.pop(path, None)
    for below in [p for p in files if p.startswith(path + "/")]:
        del files[below]


def _put_path(files: dict[str, tuple[str, str]], path: str, entry: tuple[str, str]) -> None:
    """Set a file in a flat path map; a file or folder in its way gives way, as in git."""
    _drop_path(files, path)
    parts = path.split("/")
    for depth in range(1, len(parts)):
        files.pop("/".join(parts[:depth]), None)
    files[path] = entry


# --------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------


@dataclass
class Commit:
    sha: str
    tree: str
    parents: list[str]
    message: str
    author: Signature
    snapshot: GitSnapshot

    @property
    def files(self) -> dict[str, bytes]:
        return {p: self.snapshot.blobs[sha] for p, (_, sha) in self.snapshot.file_paths.items()}


@dataclass
class Protection:
    """Classic branch protection for the branches matching ``pattern``."""

    id: int
    pattern: str
    required_approving_review_count: int | None = None  # None: pull requests not required
    require_code_owner_reviews: bool = False
    dismiss_stale_reviews: bool = False
    require_last_push_approval: bool = False
    enforce_admins: bool = False
    allow_force_pushes: bool = False
    allow_deletions: bool = False
    required_status_checks: list[str] | None = None
    strict: bool = False
    required_linear_history: bool = False
    required_signatures: bool = False
    required_conversation_resolution: bool = False
    lock_branch: bool = False


@dataclass
class Ruleset:
    id: int
    name: str
    source_type: str  # "Repository" | "Organization"
    source: str  # "org/repo" or "org"
    org: str
    repo: str | None
    enforcement: str = "active"  # active | evaluate | disabled
    target: str = "branch"
    include: list[str] = field(default_factory=lambda: ["~DEFAULT_BRANCH"])
    exclude: list[str] = field(default_factory=list)
    repository_include: list[str] = field(default_factory=lambda: ["~ALL"])
    repository_exclude: list[str] = field(default_factory=list)
    rules: list[dict[str, Any]] = field(default_factory=list)
    bypass_actors: list[dict[str, Any]] = field(default_factory=list)

    def applies_to_repo(self, repo: Repo) -> bool:
        if self.source_type == "Repository":
            return self.org == repo.org and self.repo == repo.name
        if self.org != repo.org:
            return False
        inc = any(p == "~ALL" or _glob_match(p, repo.name) for p in self.repository_include)
        exc = any(_glob_match(p, repo.name) for p in self.repository_exclude)
        return inc and not exc

    def applies_to_branch(self, repo: Repo, branch: str) -> bool:
        if self.target != "branch" or not self.applies_to_repo(repo):
            return False
        ref = f"refs/heads/{branch}"

        def hit(pattern: str) -> bool:
            if pattern == "~ALL":
                return True
            if pattern == "~DEFAULT_BRANCH":
                return branch == repo.default_branch
            return _glob_match(pattern, ref)

        return any(hit(p) for p in self.include) and not any(hit(p) for p in self.exclude)


@dataclass
class Comment:
    """A conversation comment on a pull request (GitHub's issue comment)."""

    id: int
    body: str
    user: str  # login
    created: int


@dataclass
class Pull:
    """A pull request from ``head`` to ``base``, both branches of the same repository."""

    number: int
    id: int
    title: str
    body: str | None
    head: str
    base: str
    user: str  # login of the author
    created: int
    updated: int
    head_sha: str  # the head branch's commit, kept when the branch is deleted
    state: str = "open"  # open | closed
    closed: int | None = None
    merged: bool = False
    merge_sha: str | None = None
    draft: bool = False
    labels: list[str] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


@dataclass
class Repo:
    org: str
    name: str
    id: int
    visibility: str = "public"  # public | private | internal
    archived: bool = False
    fork: bool = False
    disabled: bool = False
    is_template: bool = False
    topics: list[str] = field(default_factory=list)
    description: str | None = None
    default_branch: str = "main"
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha
    commits: dict[str, Commit] = field(default_factory=dict)
    protections: list[Protection] = field(default_factory=list)
    rulesets: list[Ruleset] = field(default_factory=list)
    created: int = _BASE_TIME
    blobs: dict[str, bytes] = field(default_factory=dict)  # every blob of every commit
    trees: dict[str, list[TreeEntry]] = field(default_factory=dict)  # every tree
    tags: dict[str, str] = field(default_factory=dict)  # lightweight tags: name -> commit sha
    pulls: dict[int, Pull] = field(default_factory=dict)  # pull requests by number
    labels: dict[str, int] = field(default_factory=dict)  # label name -> id

    @property
    def private(self) -> bool:
        return self.visibility != "public"

    @property
    def full_name(self) -> str:
        return f"{self.org}/{self.name}"

    @property
    def empty(self) -> bool:
        return not self.branches

    @property
    def node_id(self) -> str:
        return f"R_{self.id}"

    def head(self, branch: str | None = None) -> Commit | None:
        sha = self.branches.get(branch or self.default_branch)
        return self.commits.get(sha) if sha else None

    def resolve_commit(self, rev: str) -> Commit | None:
        """A branch name, ``refs/heads/x``, ``HEAD`` or a (>= 7 hex digit) commit sha."""
        if rev in ("HEAD", ""):
            return self.head()
        rev = rev.removeprefix("refs/heads/").removeprefix("heads/")
        if rev in self.branches:
            return self.commits[self.branches[rev]]
        tag = rev.removeprefix("refs/tags/").removeprefix("tags/")
        if tag in self.tags:
            return self.commits[self.tags[tag]]
        if rev in self.commits:
            return self.commits[rev]
        if len(rev) >= 7 and re.fullmatch(r"[0-9a-f]+", rev):
            found = [c for s, c in self.commits.items() if s.startswith(rev)]
            if len(found) == 1:
                return found[0]
        return None

    def protection_for(self, branch: str) -> Protection | None:
        for prot in self.protections:
            if prot.pattern == branch:
                return prot
        for prot in self.protections:
            if _glob_match(prot.pattern, branch):
                return prot
        return None


@dataclass
class Org:
    login: str
    id: int
    name: str | None = None
    description: str | None = None
    repos: dict[str, Repo] = field(default_factory=dict)
    rulesets: list[Ruleset] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return f"O_{self.id}"


@dataclass
class Bucket:
    limit: int
    used: int = 0
    reset: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


@dataclass
class Token:
    """An access token.

    ``kind``: ``classic`` (scopes; ``admin`` says whether its user administers the repos, which
    reading classic protection needs), ``fine_grained`` or ``installation`` (``permissions``
    such as ``{"contents": "read", "administration": "read"}``), or ``anonymous``.
    """

    value: str
    kind: str = "classic"
    login: str = "octo-admin"
    scopes: tuple[str, ...] = ("repo", "read:org")
    permissions: dict[str, str] = field(default_factory=dict)
    admin: bool = True
    org_admin: bool = True
    orgs: tuple[str, ...] | None = None  # None: every org
    core_limit: int | None = None
    graphql_limit: int | None = None
    bucket_key: str = ""
    user_id: int = 1
    push: bool = True  # classic: its user may push to the repositories it sees

    def __post_init__(self) -> None:
        if not self.bucket_key:
            self.bucket_key = self.value

    def can_write(self, permissions: Sequence[str], private: bool) -> bool:
        """A classic token writes with the ``repo`` scope (``public_repo`` for a public
        repository), and changes contents only when its user may push; a fine-grained or
        installation token needs ``write`` on one of ``permissions``."""
        if self.kind == "classic":
            scoped = "repo" in self.scopes or ("public_repo" in self.scopes and not private)
            return scoped and (self.push or "contents" not in permissions)
        if self.kind in ("fine_grained", "installation"):
            return any(self.permissions.get(p) in ("write", "admin") for p in permissions)
        return False

    @property
    def may_change_workflows(self) -> bool:
        if self.kind == "classic":
            return "workflow" in self.scopes
        return self.permissions.get("workflows") == "write"

    @property
    def can_read_private(self) -> bool:
        if self.kind == "anonymous":
            return False
        if self.kind == "classic":
            return "repo" in self.scopes
        return self.permissions.get("metadata", "read") in ("read", "write") or bool(
            self.permissions.get("contents")
        )

    def has(self, name: str) -> bool:
        return self.permissions.get(name) in ("read", "write", "admin")

    @property
    def forbidden_message(self) -> str:
        if self.kind == "installation":
            return "Resource not accessible by integration"
        return "Resource not accessible by personal access token"


@dataclass
class App:
    id: int
    slug: str
    name: str
    public_key_pem: bytes | None
    client_id: str = ""


@dataclass
class Installation:
    id: int
    app_id: int
    org: str
    permissions: dict[str, str]
    core_limit: int | None = None
    graphql_limit: int | None = None


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the /api/v3 prefix and the query
    query: str
    status: int  # 0: the connection was dropped (fault "reset")
    counted: bool  # counted against a rate limit
    resource: str  # core | graphql
    token: str | None
    cost: int = 0
    fault: str | None = None
    raw_path: str = ""
    graphql_query: str = ""  # the query text of a POST /graphql, for tests to inspect


class HttpError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
        counted: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        # Counted against the rate limit?  Not for 401s nor for the rate-limit answer itself.
        self.counted = status != 401 if counted is None else counted


_ANONYMOUS = Token("", kind="anonymous", login="")





@dataclass
class _Req:
    method: str
    path: str
    segments: list[str]
    query: dict[str, str]
    raw_query: str
    api: str  # scheme://host + prefix
    root: str  # scheme://host
    headers: dict[str, str]
    body: bytes
    token: Token | None = None
    graphql_cost: int = 1

    def q(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)


# --------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------


class FakeGitHub(LoopbackServer):
    """See the module docstring.  Thread-safe; one lock serialises request handling."""

    thread_name = "fake-github"

    def __init__(
        self,
        *,
        core_limit: int = 5000,
        graphql_limit: int = 5000,
        anonymous_limit: int = 60,
        default_per_page: int = 30,
        tree_entry_limit: int = 100_000,
        default_token: str | None = DEFAULT_TOKEN,
        graphql_timeout_objects: int | None = None,
    ) -> None:
        self.core_limit = core_limit
        self.graphql_limit = graphql_limit
        self.anonymous_limit = anonymous_limit
        self.default_per_page = default_per_page
        self.tree_entry_limit = tree_entry_limit
        # GitHub answers 502 when a query takes too long; model it by the number of
        # `object(` selections a query makes (None: never).
        self.graphql_timeout_objects = graphql_timeout_objects
        self.orgs: dict[str, Org] = {}
        self.tokens: dict[str, Token] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.buckets: dict[tuple[str, str], Bucket] = {}
        self.lock = threading.RLock()
        self._ids = 1000
        self._clock = 1_700_000_000
        self._token_counter = 0
        self._request_counter = 0
        self._window_start = int(time.time())
        self.server_errors: list[str] = []  # tracebacks of crashes inside the fake
        # git smart HTTP (clone / fetch): free of API rate limit, counted apart
        self.git = GitHttp()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        if default_token:
            # the administrator's token may also change workflow files
            self.add_token(default_token, scopes=("repo", "read:org", "workflow"))

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """Base URL for PyGithub (github.com style: no prefix)."""
        return super().url

    @property
    def enterprise_url(self) -> str:
        """Base URL with the GitHub Enterprise Server prefix ``/api/v3``."""
        return f"{self.url}/api/v3"

    def client(
        self,
        token: str | None = DEFAULT_TOKEN,
        *,
        per_page: int = 30,
        enterprise: bool = False,
        **kwargs: Any,
    ) -> Github:
        """A real ``github.Github`` for this fake: no retries, no throttling."""
        from github import Auth, Github

        options: dict[str, Any] = {
            "base_url": self.enterprise_url if enterprise else self.url,
            "retry": None,
            "seconds_between_requests": None,
            "seconds_between_writes": None,
            "per_page": per_page,
        }
        if token is not None:
            options["auth"] = Auth.Token(token)
        options.update(kwargs)
        return Github(**options)

    # ---------------------------------------------------------------- builders

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def add_org(
        self, login: str, *, name: str | None = None, description: str | None = None
    ) -> Org:
        with self.lock:
            if login in self.orgs:
                raise ValueError(f"org {login} exists")
            org = Org(login=login, id=self._next_id(), name=name, description=description)
            self.orgs[login] = org
            return org

    def org(self, login: str) -> Org:
        return self.orgs[login]

    def repo(self, org: str, name: str) -> Repo:
        return self.orgs[org].repos[name]

    def add_repo(
        self,
        org: str,
        name: str,
        files: Mapping[str, str | bytes] | None = None,
        *,
        private: bool = False,
        visibility: str | None = None,
        archived: bool = False,
        fork: bool = False,
        disabled: bool = False,
        is_template: bool = False,
        topics: Sequence[str] = (),
        description: str | None = None,
        default_branch: str = "main",
        empty: bool = False,
        modes: Mapping[str, str] | None = None,
        branches: Sequence[str] = (),
        message: str = "initial commit",
    ) -> Repo:
        """Add a repository; ``files`` default to a README.  ``branches`` are extra branches
        at the same commit.  ``modes`` maps a path to a git mode such as ``"100755"``."""
        with self.lock:
            if org not in self.orgs:
                self.add_org(org)
            owner = self.orgs[org]
            if name in owner.repos:
                raise ValueError(f"repo {org}/{name} exists")
            repo_id = self._next_id()
            repo = Repo(
                org=org,
                name=name,
                id=repo_id,
                visibility=visibility or ("private" if private else "public"),
                archived=archived,
                fork=fork,
                disabled=disabled,
                is_template=is_template,
                topics=list(topics),
                description=description,
                default_branch=default_branch,
                created=_BASE_TIME
                + 86_400 * len([r for o in self.orgs.values() for r in o.repos.values()]),
            )
            owner.repos[name] = repo
            if not empty:
                content = dict(files) if files is not None else {"README.md": f"# {name}\n"}
                self.push(
                    org,
                    name,
                    content,
                    branch=default_branch,
                    message=message,
                    replace=True,
                    modes=modes,
                )
                for extra in branches:
                    repo.branches[extra] = repo.branches[default_branch]
            return repo

    def push(
        self,
        org: str,
        name: str,
        files: Mapping[str, str | bytes | None],
        *,
        branch: str | None = None,
        message: str = "update",
        replace: bool = False,
        modes: Mapping[str, str] | None = None,
    ) -> str:
        """Commit ``files`` on ``branch`` (default branch by default) and return the commit
        sha.  Without ``replace`` the files are merged into the branch's tree and a ``None``
        value deletes a path."""
        with self.lock:
            repo = self.repo(org, name)
            branch = branch or repo.default_branch
            parent = repo.head(branch)
            current: dict[str, bytes] = {} if replace or parent is None else parent.files
            all_modes: dict[str, str] = {}
            if parent is not None and not replace:
                all_modes = {p: m for p, (m, _) in parent.snapshot.file_paths.items()}
            all_modes.update(modes or {})
            for path, value in files.items():
                if value is None:
                    current.pop(path, None)
                else:
                    current[path] = value.encode("utf-8") if isinstance(value, str) else value
            snapshot = build_snapshot(current, all_modes)
            self._clock += 60
            author = Signature(timestamp=self._clock)
            parents = [parent.sha] if parent else []
            sha = commit_sha(snapshot.root, parents, author, author, message)
            repo.commits[sha] = Commit(sha, snapshot.root, parents, message, author, snapshot)
            repo.blobs.update(snapshot.blobs)
            repo.trees.update(snapshot.trees)
            repo.branches[branch] = sha
            return sha

    def add_branch(self, org: str, name: str, branch: str, *, source: str | None = None) -> str:
        with self.lock:
            repo = self.repo(org, name)
            head = repo.head(source)
            if head is None:
                raise ValueError("cannot branch an empty repository")
            repo.branches[branch] = head.sha
            return head.sha

    def add_tag(self, org: str, name: str, tag: str, sha: str | None = None) -> str:
        """A lightweight tag on ``sha`` (default: the default branch's head)."""
        with self.lock:
            repo = self.repo(org, name)
            commit = repo.resolve_commit(sha or "HEAD")
            if commit is None:
                raise ValueError(f"no commit {sha!r} in {org}/{name}")
            repo.tags[tag] = commit.sha
            return commit.sha

    def pulls(self, org: str, name: str) -> list[Pull]:
        """The repository's pull requests, oldest first."""
        with self.lock:
            return [p for _, p in sorted(self.repo(org, name).pulls.items())]

    def close_pull(
        self,
        org: str,
        name: str,
        number: int,
        *,
        merged: bool = False,
        comment: str | None = None,
        login: str = "octo-person",
    ) -> Pull:
        """Close (or merge, with a merge commit on the base branch) a pull request as a
        person would in the web interface."""
        with self.lock:
            repo = self.repo(org, name)
            pull = repo.pulls[number]
            self._clock += 60
            if comment is not None:
                pull.comments.append(Comment(self._next_id(), comment, login, self._clock))
            pull.head_sha = repo.branches.get(pull.head, pull.head_sha)
            if merged:
                base = repo.commits[repo.branches[pull.base]]
                head = repo.commits[pull.head_sha]
                author = Signature(name=login, timestamp=self._clock)
                message = f"Merge pull request #{number} from {org}/{pull.head}\n"
                parents = [base.sha, head.sha]
                sha = commit_sha(head.tree, parents, author, author, message)
                repo.commits[sha] = Commit(sha, head.tree, parents, message, author, head.snapshot)
                repo.branches[pull.base] = sha
                pull.merged, pull.merge_sha = True, sha
            pull.state, pull.closed, pull.updated = "closed", self._clock, self._clock
            return pull

    def update_repo(self, org: str, name: str, **attrs: Any) -> Repo:
        """Change attributes such as ``archived``, ``visibility``, ``topics``."""
        with self.lock:
            repo = self.repo(org, name)
            if "private" in attrs:
                attrs["visibility"] = "private" if attrs.pop("private") else "public"
            for key, value in attrs.items():
                if not hasattr(repo, key):
                    raise AttributeError(key)
                setattr(repo, key, value)
            return repo

    def protect_branch(
        self,
        org: str,
        name: str,
        pattern: str,
        *,
        required_approving_review_count: int | None = 1,
        **options: Any,
    ) -> Protection:
        """Classic branch protection for ``pattern`` (a branch name or a glob); options are
        the :class:`Protection` fields."""
        with self.lock:
            repo = self.repo(org, name)
            repo.protections = [p for p in repo.protections if p.pattern != pattern]
            prot = Protection(
                id=self._next_id(),
                pattern=pattern,
                required_approving_review_count=required_approving_review_count,
                **options,
            )
            repo.protections.append(prot)
            return prot

    def unprotect_branch(self, org: str, name: str, pattern: str) -> None:
        with self.lock:
            repo = self.repo(org, name)
            repo.protections = [p for p in repo.protections if p.pattern != pattern]

    def add_ruleset(
        self,
        org: str,
        repo: str | None = None,
        *,
        name: str = "protect default branch",
        enforcement: str = "active",
        target: str = "branch",
        include: Sequence[str] = ("~DEFAULT_BRANCH",),
        exclude: Sequence[str] = (),
        repositories: Sequence[str] = ("~ALL",),
        exclude_repositories: Sequence[str] = (),
        required_approving_review_count: int | None = None,
        require_code_owner_review: bool = False,
        dismiss_stale_reviews_on_push: bool = False,
        require_last_push_approval: bool = False,
        required_review_thread_resolution: bool = False,
        rules: Sequence[Mapping[str, Any]] = (),
    ) -> Ruleset:
        """A repository ruleset (``repo`` given) or an organization ruleset (``repo=None``,
        applying to ``repositories`` name globs).  ``required_approving_review_count`` adds a
        ``pull_request`` rule; ``rules`` are extra REST-shaped rules such as
        ``{"type": "deletion"}`` or ``{"type": "required_status_checks", "parameters": ...}``."""
        with self.lock:
            all_rules: list[dict[str, Any]] = []
            if required_approving_review_count is not None:
                all_rules.append(
                    {
                        "type": "pull_request",
                        "parameters": {
                            "required_approving_review_count": required_approving_review_count,
                            "dismiss_stale_reviews_on_push": dismiss_stale_reviews_on_push,
                            "require_code_owner_review": require_code_owner_review,
                            "require_last_push_approval": require_last_push_approval,
                            "required_review_thread_resolution": required_review_thread_resolution,
                            "allowed_merge_methods": ["merge", "squash", "rebase"],
                        },
                    }
                )
            all_rules += [json.loads(json.dumps(r)) for r in rules]
            ruleset = Ruleset(
                id=self._next_id(),
                name=name,
                source_type="Repository" if repo else "Organization",
                source=f"{org}/{repo}" if repo else org,
                org=org,
                repo=repo,
                enforcement=enforcement,
                target=target,
                include=list(include),
                exclude=list(exclude),
                repository_include=list(repositories),
                repository_exclude=list(exclude_repositories),
                rules=all_rules,
            )
            if repo:
                self.repo(org, repo).rulesets.append(ruleset)
            else:
                self.orgs[org].rulesets.append(ruleset)
            return ruleset

    def add_token(
        self,
        value: str,
        *,
        kind: str = "classic",
        scopes: Sequence[str] = ("repo", "read:org"),
        permissions: Mapping[str, str] | None = None,
        admin: bool = True,
        org_admin: bool = True,
        orgs: Sequence[str] | None = None,
        core_limit: int | None = None,
        graphql_limit: int | None = None,
        login: str = "octo-admin",
        push: bool = True,
    ) -> Token:
        """Register a token.  Fine-grained tokens default to read access to metadata and
        contents only (no administration).  ``push=False``: a classic token whose user
        cannot push (writes to contents answer 404, as on GitHub)."""
        with self.lock:
            if permissions is None and kind != "classic":
                permissions = {"metadata": "read", "contents": "read"}
            token = Token(
                value=value,
                kind=kind,
                login=login,
                scopes=tuple(scopes),
                permissions=dict(permissions or {}),
                admin=admin,
                org_admin=org_admin,
                orgs=tuple(orgs) if orgs is not None else None,
                core_limit=core_limit,
                graphql_limit=graphql_limit,
                push=push,
            )
            self.tokens[value] = token
            return token

    def add_app(
        self, app_id: int, *, slug: str = "governance-bot", public_key_pem: bytes | None = None
    ) -> App:
        """Register a GitHub App.  With ``public_key_pem`` the JWT signature is verified;
        without it only the JWT structure, ``alg`` (RS256), ``iss`` and times are checked."""
        with self.lock:
            app = App(
                app_id,
                slug,
                slug.replace("-", " ").title(),
                public_key_pem,
                client_id=f"Iv1.fake{app_id}",
            )
            self.apps[app_id] = app
            return app

    def install_app(
        self,
        app_id: int,
        org: str,
        *,
        permissions: Mapping[str, str] | None = None,
        core_limit: int | None = None,
        graphql_limit: int | None = None,
    ) -> Installation:
        with self.lock:
            inst = Installation(
                id=self._next_id(),
                app_id=app_id,
                org=org,
                permissions=dict(
                    permissions
                    or {"metadata": "read", "contents": "read", "administration": "read"}
                ),
                core_limit=core_limit,
                graphql_limit=graphql_limit,
            )
            self.installations[inst.id] = inst
            return inst

    def inject_fault(
        self,
        kind: str,
        path: str = "*",
        *,
        count: int | None = 1,
        method: str | None = None,
        latency_ms: int = 0,
        retry_after: int = 1,
    ) -> Fault:
        """Make the next ``count`` requests (``None``: all) whose path (without ``/api/v3``
        and query; ``fnmatch`` glob, ``*`` crosses ``/``) matches fail.  Kinds: ``"500"``,
        ``"502"``, ``"503"``, ``"reset"`` (connection closed without a response),
        ``"secondary"`` (403 secondary rate limit with Retry-After), ``"429"`` (same, 429),
        ``"latency"`` (sleep ``latency_ms`` and then answer normally)."""
        if kind not in {"500", "502", "503", "reset", "secondary", "429", "latency"}:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind, path, method=method, remaining=count, latency_ms=latency_ms,
                      retry_after=retry_after)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    # ---------------------------------------------------------------- accounting

    def count(
        self,
        counted_only: bool = True,
        *,
        method: str | None = None,
        path: str | None = None,
        resource: str | None = None,
        status: int | None = None,
    ) -> int:
        """How many requests were seen (by default only those counted against a rate limit);
        ``path`` is an ``fnmatch`` glob over the path without prefix and query."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (r.counted or not counted_only)
                and (method is None or r.method == method.upper())
                and (path is None or fnmatch.fnmatchcase(r.path, path))
                and (resource is None or r.resource == resource)
                and (status is None or r.status == status)
            )

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()

    def rate_limit(self, token: str = DEFAULT_TOKEN, resource: str = "core") -> Bucket:
        with self.lock:
            return self._bucket(self.tokens[token], resource)

    def set_rate_limit(
        self,
        token: str = DEFAULT_TOKEN,
        resource: str = "core",
        *,
        limit: int | None = None,
        used: int | None = None,
        reset: int | None = None,
    ) -> Bucket:
        with self.lock:
            bucket = self._bucket(self.tokens[token], resource)
            if limit is not None:
                bucket.limit = limit
            if used is not None:
                bucket.used = used
            if reset is not None:
                bucket.reset = reset
            return bucket

    def _bucket(self, token: Token, resource: str) -> Bucket:
        key = (token.bucket_key, resource)
        bucket = self.buckets.get(key)
        now = int(time.time())
        if bucket is None:
            if token.kind == "anonymous":
                limit = self.anonymous_limit if resource == "core" else 0
            elif resource == "graphql":
                limit = token.graphql_limit or self.graphql_limit
            else:
                limit = token.core_limit or self.core_limit
            bucket = Bucket(limit=limit, reset=self._window_start + 3600)
            self.buckets[key] = bucket
        if bucket.reset <= now:
            bucket.used = 0
            bucket.reset = now + 3600
        return bucket

    # ---------------------------------------------------------------- WSGI

    def __call__(self, environ: WSGIEnviron, start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"].upper()
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
        raw_path, _, raw_query = raw.partition("?")
        if "://" in raw_path:  # absolute-form request target
            raw_path = "/" + raw_path.split("://", 1)[1].partition("/")[2]
        git_route = GitHttp.route(raw_path)
        if git_route is not None:
            return self.git.serve(environ, start_response, *git_route, self._git_repository,
                                  faults=self.faults)
        prefix = ""
        route = raw_path
        if route.startswith("/api/v3/") or route == "/api/v3":
            prefix = "/api/v3"
            route = route[len(prefix) :] or "/"
        elif route == "/api/graphql":
            prefix = "/api/v3"
            route = "/graphql"
        segments = [urllib.parse.unquote(s) for s in route.strip("/").split("/")]
        if route.endswith("/") and route != "/":
            segments.append("")
        path_clean = route.rstrip("/") or "/"
        query = {
            k: v[-1] for k, v in urllib.parse.parse_qs(raw_query, keep_blank_values=True).items()
        }
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        req = _Req(
            method=method,
            path=path_clean,
            segments=segments,
            query=query,
            raw_query=raw_query,
            api=f"{scheme}://{host}{prefix}",
            root=f"{scheme}://{host}",
            headers=headers,
            body=body,
        )
        resource = "graphql" if route.rstrip("/") == "/graphql" else "core"

        # Faults (latency first: it delays, then the request proceeds).
        sleep_ms = 0
        fault: Fault | None = None
        with self.lock:
            for f in self.faults:
                if f.matches(method, req.path):
                    f.hits += 1
                    if f.remaining is not None:
                        f.remaining -= 1
                    if f.kind == "latency":
                        sleep_ms += f.latency_ms
                        continue
                    fault = f
                    break
        if sleep_ms:
            time.sleep(sleep_ms / 1000)
        if fault is not None:
            return self._fault_response(req, fault, raw_path, start_response)

        with self.lock:
            self._request_counter += 1
            try:
                status, payload, extra_headers, counted, cost, token = self._handle(req, resource)
            except Exception as exc:
                import traceback

                self.server_errors.append(traceback.format_exc())
                status, payload, extra_headers, counted, cost, token = (
                    500,
                    {"message": f"fake GitHub crashed: {exc!r}"},
                    {},
                    False,
                    0,
                    None,
                )
            out_headers = {
                "Content-Type": "application/json; charset=utf-8",
                "X-GitHub-Media-Type": "github.v3; format=json",
                "X-GitHub-Api-Version-Selected": "2022-11-28",
                "X-GitHub-Request-Id": f"FAKE:{self._request_counter:08d}",
                "Cache-Control": "private, max-age=60, s-maxage=60",
                "Vary": "Accept, Authorization, Cookie, X-GitHub-OTP",
            }
            if token is not None and token.kind == "classic":
                out_headers["X-OAuth-Scopes"] = ", ".join(token.scopes)
                out_headers["X-Accepted-OAuth-Scopes"] = ""
            data = b"" if payload is None else json.dumps(payload).encode("utf-8")
            if method == "GET" and status == 200:
                etag = '"' + hashlib.sha256(data).hexdigest() + '"'
                out_headers["ETag"] = etag
                if etag_matches(headers.get("if-none-match", ""), etag):
                    # Not Modified: no body and, as on GitHub, free of rate-limit charge.
                    status, data, counted, cost = 304, b"", False, 0
                    out_headers.pop("Content-Type", None)
            bucket = self._bucket(token or _ANONYMOUS, resource)
            if counted:
                bucket.used = min(bucket.limit, bucket.used + cost)
            out_headers.update(
                {
                    "X-RateLimit-Limit": str(bucket.limit),
                    "X-RateLimit-Remaining": str(bucket.remaining),
                    "X-RateLimit-Reset": str(bucket.reset),
                    "X-RateLimit-Used": str(bucket.used),
                    "X-RateLimit-Resource": resource,
                }
            )
            out_headers.update(extra_headers)
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=req.path,
                    query=raw_query,
                    status=status,
                    counted=counted,
                    resource=resource,
                    token=token.value if token is not None and token.value else None,
                    cost=cost if counted else 0,
                    raw_path=raw_path,
                    graphql_query=_graphql_query_text(req) if resource == "graphql" else "",
                )
            )
        out_headers["Content-Length"] = str(len(data))
        start_response(status_line(status), list(out_headers.items()))
        return [data]

    def _fault_response(
        self, req: _Req, fault: Fault, raw_path: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        status = (
            0 if fault.kind == "reset" else 403 if fault.kind == "secondary" else int(fault.kind)
        )
        with self.lock:
            self.requests.append(
                RecordedRequest(
                    method=req.method,
                    path=req.path,
                    query=req.raw_query,
                    status=status,
                    counted=False,
                    resource="graphql" if req.path == "/graphql" else "core",
                    token=bearer_token(req.headers.get("authorization", "")),
                    fault=fault.kind,
                    raw_path=raw_path,
                )
            )
        if fault.kind == "reset":
            raise ResetConnection()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if fault.kind in ("secondary", "429"):
            payload: dict[str, Any] = {
                "message": SECONDARY_MESSAGE,
                "documentation_url": _SECONDARY_DOCS,
            }
            headers["Retry-After"] = str(fault.retry_after)
        else:
            payload = {"message": _FAULT_MESSAGES[status]}
        data = json.dumps(payload).encode("utf-8")
        headers["Content-Length"] = str(len(data))
        start_response(status_line(status), list(headers.items()))
        return [data]

    # ---------------------------------------------------------------- dispatch

    def _authenticate(self, req: _Req, app_route: bool) -> tuple[Token | None, App | None]:
        header = req.headers.get("authorization", "")
        if not header:
            return _ANONYMOUS, None
        scheme, _, credential = header.partition(" ")
        scheme = scheme.lower()
        credential = credential.strip()
        if scheme == "basic":
            try:
                credential = base64.b64decode(credential).decode().partition(":")[2]
            except ValueError as exc:
                raise HttpError(401, "Bad credentials") from exc
        elif scheme not in ("token", "bearer"):
            raise HttpError(401, "Bad credentials")
        if credential.count(".") == 2 and credential.startswith("ey"):
            app = self._verify_jwt(credential)
            if not app_route:
                raise HttpError(
                    403,
                    "A JSON web token cannot be used to access this endpoint; "
                    "use an installation access token",
                )
            return None, app
        token = self.tokens.get(credential)
        if token is None:
            raise HttpError(401, "Bad credentials")
        return token, None

    def _verify_jwt(self, credential: str) -> App:
        def part(text: str) -> bytes:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

        head_b64, payload_b64, sig_b64 = credential.split(".")
        try:
            header = json.loads(part(head_b64))
            payload = json.loads(part(payload_b64))
            signature = part(sig_b64)
        except ValueError as exc:
            raise HttpError(401, "A JSON web token could not be decoded") from exc
        if header.get("alg") != "RS256":
            raise HttpError(401, "A JSON web token could not be decoded")
        try:
            iss = int(payload["iss"])
            iat = int(payload["iat"])
            exp = int(payload["exp"])
        except (KeyError, TypeError, ValueError) as exc:
            raise HttpError(401, "A JSON web token could not be decoded") from exc
        app = self.apps.get(iss)
        if app is None:
            raise HttpError(401, "Integration not found")
        now = time.time()
        if exp < now:
            raise HttpError(
                401,
                "'Expiration time' claim ('exp') must be a numeric value representing the "
                "future time at which the assertion expires",
            )
        if exp - iat > 660 or exp > now + 660:
            raise HttpError(401, "'Expiration time' claim ('exp') is too far in the future")
        if iat > now + 60:
            raise HttpError(
                401,
                "'Issued at' claim ('iat') must be an Integer representing "
                "the time that the assertion was issued",
            )
        if app.public_key_pem is not None:
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives import hashes, serialization
            from cryptography.hazmat.primitives.asymmetric import padding, rsa

            key = serialization.load_pem_public_key(app.public_key_pem)
            assert isinstance(key, rsa.RSAPublicKey)
            try:
                key.verify(
                    signature,
                    f"{head_b64}.{payload_b64}".encode("ascii"),
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
            except InvalidSignature as exc:
                raise HttpError(401, "A JSON web token could not be decoded") from exc
        return app

    def _handle(
        self, req: _Req, resource: str
    ) -> tuple[int, Json, dict[str, str], bool, int, Token | None]:
        """Return (status, json, headers, counted against the limit, cost, token)."""
        segs = req.segments
        app_route = segs[:1] == ["app"] or (
            len(segs) == 3 and segs[0] == "orgs" and segs[2] == "installation"
        )
        token: Token | None = None
        try:
            token, app = self._authenticate(req, app_route)
            if app is not None:
                status, payload, headers = self._app_route(req, app)
                return status, payload, headers, False, 0, None
            assert token is not None
            req.token = token
            if app_route:
                raise HttpError(401, "A JSON web token could not be decoded")
            if req.path == "/rate_limit":
                # GitHub: reading /rate_limit does not count against the limit.
                return 200, self._rate_limit_json(token), {}, False, 0, token
            if resource == "graphql" and token.kind == "anonymous":
                raise HttpError(401, "This endpoint requires you to be authenticated.")
            if self._bucket(token, resource).remaining <= 0:
                return self._rate_limited(token, resource)
            if resource == "graphql":
                if req.method != "POST":
                    raise HttpError(404, "Not Found")
                payload = self._graphql(req)
                return 200, payload, {}, True, req.graphql_cost, token
            status, payload, headers = self._rest(req)
            return status, payload, headers, True, 1, token
        except HttpError as err:
            body = {"message": err.message, "documentation_url": DOCS, "status": str(err.status)}
            body.update(err.extra)
            counted = err.counted and token is not None
            return err.status, body, err.headers, counted, 1 if counted else 0, token

    def _rate_limited(
        self, token: Token, resource: str
    ) -> tuple[int, Json, dict[str, str], bool, int, Token | None]:
        if resource == "graphql":
            # GitHub answers an exhausted GraphQL budget with 200 and a RATE_LIMITED error.
            message = f"API rate limit already exceeded for user ID {token.user_id}."
            errors = [{"type": "RATE_LIMITED", "code": "graphql_rate_limit", "message": message}]
            return 200, {"errors": errors}, {}, False, 0, token
        body = {
            "message": f"API rate limit exceeded for user ID {token.user_id}. If you reach out "
            "to GitHub Support for help, please include the request ID.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-"
            "rest-api#about-the-primary-rate-limit",
            "status": "403",
        }
        return 403, body, {}, False, 0, token

    # ---------------------------------------------------------------- REST helpers

    def _git_repository(self, path: str, credential: str | None) -> GitRepository | int:
        """The repository a git client asks for, as GitHub decides over HTTPS: a token as
        the Basic auth password; 401 without one, 404 when it cannot see the repository."""
        owner, _, name = path.partition("/")
        token = self.tokens.get(credential or "")
        if token is None:
            return 401
        org = self.orgs.get(owner)
        repo = org.repos.get(name) if org else None
        if repo is None or not self._visible(token, repo) or repo.disabled:
            return 404
        commits = {sha: GitCommit(c.sha, c.tree, c.parents, c.message, c.author)
                   for sha, c in repo.commits.items()}
        return GitRepository(commits, repo.trees, repo.blobs, repo.branches, repo.default_branch)

    def stop(self) -> None:
        super().stop()
        self.git.close()

    def _visible(self, token: Token, repo: Repo) -> bool:
        if token.orgs is not None and repo.org not in token.orgs:
            return False
        return not (repo.private and not token.can_read_private)

    def _get_org(self, login: str) -> Org:
        org = self.orgs.get(login)
        if org is None:
            lowered = {k.lower(): v for k, v in self.orgs.items()}
            org = lowered.get(login.lower())
        if org is None:
            raise HttpError(404, "Not Found")
        return org

    def _get_repo(self, req: _Req, owner: str, name: str) -> Repo:
        org = self._get_org(owner)
        repo = org.repos.get(name) or {k.lower(): v for k, v in org.repos.items()}.get(name.lower())
        if repo is None or req.token is None or not self._visible(req.token, repo):
            raise HttpError(404, "Not Found")
        return repo

    def _require_contents(self, token: Token) -> None:
        if token.kind in ("fine_grained", "installation") and not token.has("contents"):
            raise HttpError(403, token.forbidden_message)

    def _require_admin(self, token: Token) -> None:
        """Reading classic protection needs administration rights, as on GitHub: a classic
        token whose user is not an admin gets 404; a fine-grained / installation token
        without the ``administration`` permission gets 403."""
        if token.kind == "classic":
            if not token.admin:
                raise HttpError(404, "Not Found")
        elif token.kind == "anonymous":
            raise HttpError(404, "Not Found")
        elif not token.has("administration"):
            raise HttpError(403, token.forbidden_message)

    def _require_org_admin(self, token: Token) -> None:
        if token.kind == "classic":
            if not token.org_admin:
                raise HttpError(404, "Not Found")
        elif token.kind == "anonymous":
            raise HttpError(404, "Not Found")
        elif not token.has("organization_administration"):
            raise HttpError(403, token.forbidden_message)

    def _paginate(self, req: _Req, items: Sequence[Any]) -> tuple[Sequence[Any], dict[str, str]]:
        try:
            per_page = int(req.q("per_page") or self.default_per_page)
        except ValueError:
            per_page = self.default_per_page
        per_page = max(1, min(100, per_page))
        try:
            page = max(1, int(req.q("page") or 1))
        except ValueError:
            page = 1
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(n: int, rel: str) -> str:
            params = dict(req.query)
            params["page"] = str(n)
            params.setdefault("per_page", str(per_page))
            qs = urllib.parse.urlencode(params)
            return f'<{req.api}{req.path}?{qs}>; rel="{rel}"'

        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
            links.append(link(last, "last"))
        if page > 1:
            links.append(link(1, "first"))
        return chunk, ({"Link": ", ".join(links)} if links else {})

    # ---------------------------------------------------------------- REST routes

    def _rest(self, req: _Req) -> tuple[int, Json, dict[str, str]]:
        s = req.segments
        token = req.token
        assert token is not None
        n = len(s)
        writable = s[:1] == ["repos"] or (
            req.method == "POST" and s[:2] == ["app", "installations"])
        if req.method != "GET" and not writable:
            raise HttpError(404, "Not Found")
        if s == ["user"]:
            if token.kind == "installation":
                raise HttpError(403, token.forbidden_message)
            if token.kind == "anonymous":
                raise HttpError(401, "Requires authentication")
            return 200, self._user_json(req, token), {}
        if s == ["installation", "repositories"]:
            if token.kind != "installation" or not token.orgs:
                raise HttpError(403, "This endpoint requires an installation access token")
            repos = [
                r
                for o in token.orgs
                for r in self._get_org(o).repos.values()
                if self._visible(token, r)
            ]
            chunk, headers = self._paginate(req, repos)
            return (
                200,
                {
                    "total_count": len(repos),
                    "repository_selection": "all",
                    "repositories": [self._repo_json(req, r, full=False) for r in chunk],
                },
                headers,
            )
        if n >= 2 and s[0] == "orgs":
            org = self._get_org(s[1])
            if n == 2:
                return 200, self._org_json(req, org), {}
            if n == 3 and s[2] == "repos":
                return self._org_repos(req, org)
            if n == 3 and s[2] == "rulesets":
                self._require_org_admin(token)
                chunk, headers = self._paginate(req, org.rulesets)
                return 200, [self._ruleset_json(req, rs, full=False) for rs in chunk], headers
            if n == 4 and s[2] == "rulesets":
                self._require_org_admin(token)
                for rs in org.rulesets:
                    if str(rs.id) == s[3]:
                        return 200, self._ruleset_json(req, rs, full=True), {}
                raise HttpError(404, "Not Found")
            raise HttpError(404, "Not Found")
        if n >= 3 and s[0] == "repos":
            repo = self._get_repo(req, s[1], s[2])
            rest = s[3:]
            if not rest:
                return 200, self._repo_json(req, repo, full=True), {}
            return self._repo_route(req, repo, rest)
        raise HttpError(404, "Not Found")

    def _org_repos(self, req: _Req, org: Org) -> tuple[int, Json, dict[str, str]]:
        token = req.token
        assert token is not None
        repos = [r for r in org.repos.values() if self._visible(token, r)]
        kind = req.q("type", "all")
        if kind == "public":
            repos = [r for r in repos if r.visibility == "public"]
        elif kind == "private":
            repos = [r for r in repos if r.private]
        elif kind == "forks":
            repos = [r for r in repos if r.fork]
        elif kind == "sources":
            repos = [r for r in repos if not r.fork]
        sort = req.q("sort", "created")
        direction = req.q("direction") or ("asc" if sort == "full_name" else "desc")
        if sort == "full_name":
            repos.sort(key=lambda r: r.name.lower())
        elif sort in ("updated", "pushed"):
            repos.sort(key=lambda r: (self._pushed(r), r.id))
        else:
            repos.sort(key=lambda r: (r.created, r.id))
        if direction == "desc":
            repos.reverse()
        chunk, headers = self._paginate(req, repos)
        return 200, [self._repo_json(req, r, full=False) for r in chunk], headers

    def _repo_route(
        self, req: _Req, repo: Repo, rest: list[str]
    ) -> tuple[int, Json, dict[str, str]]:
        token = req.token
        assert token is not None
        written = self._write_route(req, repo, rest)
        if written is not None:
            return written
        if req.method != "GET":
            raise HttpError(404, "Not Found")
        head = rest[0]
        if head == "git" and len(rest) >= 3 and rest[1] == "trees":
            self._require_contents(token)
            return 200, self._tree_json(req, repo, "/".join(rest[2:])), {}
        if head == "git" and len(rest) == 3 and rest[1] == "blobs":
            self._require_contents(token)
            if repo.empty:
                raise HttpError(409, EMPTY_REPO_MESSAGE)
            data = repo.blobs.get(rest[2])
            if data is None:
                raise HttpError(404, "Not Found")
            return 200, self._blob_json(req, repo, rest[2], data), {}
        if head == "contents":
            self._require_contents(token)
            return 200, self._contents(req, repo, "/".join(rest[1:]).strip("/")), {}
        if head == "branches" and len(rest) >= 2:
            name = "/".join(rest[1:])
            if rest[-1] == "protection" and len(rest) >= 3 and name not in repo.branches:
                branch = "/".join(rest[1:-1])
                if branch not in repo.branches:
                    raise HttpError(404, "Branch not found")
                self._require_admin(token)
                prot = repo.protection_for(branch)
                if prot is None:
                    raise HttpError(404, "Branch not protected")
                return 200, self._protection_json(req, repo, branch, prot), {}
            if name not in repo.branches:
                raise HttpError(404, "Branch not found")
            return 200, self._branch_json(req, repo, name), {}
        if head == "rules" and len(rest) >= 3 and rest[1] == "branches":
            branch = "/".join(rest[2:])
            rules = [
                {
                    **rule,
                    "ruleset_source_type": rs.source_type,
                    "ruleset_source": rs.source,
                    "ruleset_id": rs.id,
                }
                for rs in self._rulesets_for(repo)
                if rs.enforcement == "active" and rs.applies_to_branch(repo, branch)
                for rule in rs.rules
            ]
            chunk, headers = self._paginate(req, rules)
            return 200, list(chunk), headers
        if head == "topics" and len(rest) == 1:
            return 200, {"names": list(repo.topics)}, {}
        if head == "rulesets" and len(rest) == 1:
            parents = (req.q("includes_parents") or "true").lower() not in ("false", "0")
            found = self._rulesets_for(repo) if parents else list(repo.rulesets)
            chunk, headers = self._paginate(req, found)
            return 200, [self._ruleset_json(req, rs, full=False) for rs in chunk], headers
        if head == "rulesets" and len(rest) == 2:
            for rs in self._rulesets_for(repo):
                if str(rs.id) == rest[1]:
                    return 200, self._ruleset_json(req, rs, full=True), {}
            raise HttpError(404, "Not Found")
        raise HttpError(404, "Not Found")

    def _rulesets_for(self, repo: Repo) -> list[Ruleset]:
        org = self.orgs[repo.org]
        return list(repo.rulesets) + [rs for rs in org.rulesets if rs.applies_to_repo(repo)]

    def _app_route(self, req: _Req, app: App) -> tuple[int, Json, dict[str, str]]:
        s = req.segments
        mine = [i for i in self.installations.values() if i.app_id == app.id]
        if req.method == "GET" and s == ["app"]:
            return 200, self._app_json(req, app), {}
        if req.method == "GET" and s == ["app", "installations"]:
            chunk, headers = self._paginate(req, mine)
            return 200, [self._installation_json(req, i) for i in chunk], headers
        if req.method == "GET" and len(s) == 3 and s[:2] == ["app", "installations"]:
            for inst in mine:
                if str(inst.id) == s[2]:
                    return 200, self._installation_json(req, inst), {}
            raise HttpError(404, "Not Found")
        if req.method == "GET" and len(s) == 3 and s[0] == "orgs" and s[2] == "installation":
            for inst in mine:
                if inst.org.lower() == s[1].lower():
                    return 200, self._installation_json(req, inst), {}
            raise HttpError(404, "Not Found")
        if (
            req.method == "POST"
            and len(s) == 4
            and s[:2] == ["app", "installations"]
            and s[3] == "access_tokens"
        ):
            found = next((i for i in mine if str(i.id) == s[2]), None)
            if found is None:
                raise HttpError(404, "Not Found")
            inst = found
            try:
                body = json.loads(req.body or b"{}") or {}
            except ValueError as exc:
                raise HttpError(400, "Problems parsing JSON") from exc
            wanted = body.get("permissions") or dict(inst.permissions)
            levels = {"read": 1, "write": 2, "admin": 3}
            for perm, level in wanted.items():
                if levels.get(inst.permissions.get(perm, ""), 0) < levels.get(level, 9):
                    raise HttpError(
                        422, "The permissions requested are not granted to this installation."
                    )
            self._token_counter += 1
            value = f"ghs_fake{inst.id}x{self._token_counter:06d}"
            self.tokens[value] = Token(
                value=value,
                kind="installation",
                login=f"{app.slug}[bot]",
                permissions=dict(wanted),
                orgs=(inst.org,),
                core_limit=inst.core_limit,
                graphql_limit=inst.graphql_limit,
                bucket_key=f"installation:{inst.id}",
            )
            return (
                201,
                {
                    "token": value,
                    "expires_at": _iso(time.time() + 3600),
                    "permissions": wanted,
                    "repository_selection": "all",
                },
                {},
            )
        raise HttpError(404, "Not Found")

    # ---------------------------------------------------------------- REST writes
    # What remediation uses: Git Data (blobs, trees, commits, refs) with real git SHAs,
    # compare, commits by ref, pull requests, their comments and labels.  Refs move as on
    # GitHub: fast-forward only unless forced; changing a file under .github/workflows/
    # needs the `workflow` scope (classic) or the `workflows: write` permission.

    def _write_route(
        self, req: _Req, repo: Repo, rest: list[str]
    ) -> tuple[int, Json, dict[str, str]] | None:
        """The answer when ``rest`` is one of these routes, else None."""
        method, n, head = req.method, len(rest), rest[0]
        if head == "git" and n == 2 and method == "POST":
            create = {
                "blobs": self._create_blob,
                "trees": self._create_tree,
                "commits": self._create_commit,
                "refs": self._create_ref,
            }.get(rest[1])
            return create(req, repo) if create is not None else None
        if head == "git" and n == 3 and rest[1] == "commits" and method == "GET":
            self._require_contents(req.token or _ANONYMOUS)
            commit = repo.commits.get(rest[2])
            if commit is None:
                raise HttpError(404, "Not Found")
            return 200, self._git_commit_json(req, repo, commit), {}
        if head == "git" and n >= 4 and rest[1] in ("ref", "refs"):
            return self._ref_route(req, repo, "/".join(rest[2:]), singular=rest[1] == "ref")
        if head == "compare" and n >= 2 and method == "GET":
            self._require_contents(req.token or _ANONYMOUS)
            return 200, self._compare_json(req, repo, "/".join(rest[1:])), {}
        if head == "commits" and n >= 2 and method == "GET":
            self._require_contents(req.token or _ANONYMOUS)
            if repo.empty:
                raise HttpError(409, EMPTY_REPO_MESSAGE)
            ref = "/".join(rest[1:])
            commit = repo.resolve_commit(ref)
            if commit is None:
                raise HttpError(422, f"No commit found for SHA: {ref}")
            return 200, self._commit_json(req, repo, commit), {}
        if head == "pulls":
            return self._pulls_route(req, repo, rest)
        if head == "issues" and n == 3 and rest[2] in ("comments", "labels"):
            return self._issue_route(req, repo, rest)
        return None

    def _require_write(self, req: _Req, repo: Repo, *permissions: str) -> Token:
        """Write access as GitHub checks it (see ``Token.can_write``); a classic token whose
        user cannot push gets 404, as GitHub hides what one cannot change."""
        token = req.token
        if token is None or token.kind == "anonymous":
            raise HttpError(401, "Requires authentication")
        if repo.archived:
            raise HttpError(403, "Repository was archived so is read-only.")
        if not token.can_write(permissions, repo.private):
            if token.kind == "classic":
                raise HttpError(404, "Not Found")
            raise HttpError(403, token.forbidden_message)
        return token

    @staticmethod
    def _json_body(req: _Req) -> Any:
        try:
            return json.loads(req.body or b"null")
        except ValueError as exc:
            raise HttpError(400, "Problems parsing JSON") from exc

    def _object_body(self, req: _Req) -> dict[str, Any]:
        body = self._json_body(req)
        if not isinstance(body, dict):
            raise HttpError(400, "Problems parsing JSON")
        return body

    @staticmethod
    def _invalid(message: str, field_name: str | None = None, resource: str = "") -> HttpError:
        """GitHub's 422 "Validation Failed" with one entry in ``errors``."""
        error: dict[str, Any] = {"resource": resource or "PullRequest"}
        if field_name is None:
            error.update(code="custom", message=message)
        else:
            error.update(field=field_name, code="invalid", message=message)
        return HttpError(422, "Validation Failed", extra={"errors": [error]})

    def _tick(self) -> int:
        self._clock += 60
        return self._clock

    # -- git data

    def _create_blob(self, req: _Req, repo: Repo) -> tuple[int, Json, dict[str, str]]:
        self._require_write(req, repo, "contents")
        body = self._object_body(req)
        content, encoding = body.get("content"), body.get("encoding", "utf-8")
        if not isinstance(content, str):
            raise HttpError(422, 'Invalid request.\n\n"content" wasn\'t supplied.')
        if encoding == "base64":
            try:
                data = base64.b64decode("".join(content.split()), validate=True)
            except ValueError as exc:
                raise HttpError(422, "Invalid request.\n\ncontent is not valid Base64.") from exc
        elif encoding in ("utf-8", "utf8"):
            data = content.encode("utf-8")
        else:
            raise HttpError(422, f"Invalid request.\n\nencoding {encoding!r} is not supported.")
        sha = blob_sha(data)
        repo.blobs[sha] = data
        return 201, {"url": f"{req.api}/repos/{repo.full_name}/git/blobs/{sha}", "sha": sha}, {}

    def _create_tree(self, req: _Req, repo: Repo) -> tuple[int, Json, dict[str, str]]:
        self._require_write(req, repo, "contents")
        body = self._object_body(req)
        entries = body.get("tree")
        if not isinstance(entries, list):
            raise HttpError(422, 'Invalid request.\n\n"tree" wasn\'t supplied.')
        base = body.get("base_tree")
        files: dict[str, tuple[str, str]] = {}
        if base is not None:
            if base not in repo.trees:
                raise HttpError(422, "Invalid request.\n\nbase_tree is not a valid tree oid.")
            files = self._flatten(repo, base)
        for entry in entries:
            self._apply_tree_entry(repo, files, entry)
        return 201, self._tree_json(req, repo, self._store_tree(repo, files)), {}

    def _apply_tree_entry(self, repo: Repo, files: dict[str, tuple[str, str]], entry: Any) -> None:
        """One entry of POST /git/trees: ``content`` (a new blob), ``sha`` (an existing
        blob, tree or submodule commit) or ``sha: null`` (delete the path)."""
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            raise HttpError(422, "Invalid request.\n\ntree.path wasn't supplied.")
        parts = entry["path"].strip("/").split("/")
        if any(p in ("", ".", "..", ".git") for p in parts):
            raise HttpError(422, f"tree.path contains a malformed path component: {entry['path']}")
        path, mode = "/".join(parts), entry.get("mode")
        if mode not in ("100644", "100755", "040000", "160000", "120000"):
            raise HttpError(422, f"Invalid request.\n\ntree.mode {mode!r} is not a valid mode.")
        if entry.get("content") is not None:
            if mode in ("040000", "160000"):
                raise HttpError(422, "Invalid request.\n\ncontent needs a blob mode.")
            data = str(entry["content"]).encode("utf-8")
            repo.blobs[blob_sha(data)] = data
            _put_path(files, path, (mode, blob_sha(data)))
        elif "sha" in entry and entry["sha"] is None:
            _drop_path(files, path)
        elif isinstance(entry.get("sha"), str):
            sha = entry["sha"]
            if mode == "040000":
                if sha not in repo.trees:
                    raise HttpError(422, f"tree.sha {sha} is not a valid tree")
                _drop_path(files, path)
                files.update(self._flatten(repo, sha, path + "/"))
            elif mode != MODE_SUBMODULE and sha not in repo.blobs:
                raise HttpError(422, f"tree.sha {sha} is not a valid blob")
            else:
                _put_path(files, path, (mode, sha))
        else:
            raise HttpError(422, "Invalid request.\n\nMust supply either tree.sha or tree.content.")

    def _flatten(self, repo: Repo, tree: str, prefix: str = "") -> dict[str, tuple[str, str]]:
        """Every non-tree entry below ``tree``: path -> (mode, sha)."""
        files: dict[str, tuple[str, str]] = {}
        for entry in repo.trees[tree]:
            if entry.mode == MODE_TREE:
                files.update(self._flatten(repo, entry.sha, f"{prefix}{entry.name}/"))
            else:
                files[prefix + entry.name] = (entry.mode, entry.sha)
        return files

    def _store_tree(self, repo: Repo, files: Mapping[str, tuple[str, str]]) -> str:
        """Build (and keep) the trees holding ``files``; returns the root tree's sha."""
        entries: list[TreeEntry] = []
        folders: dict[str, dict[str, tuple[str, str]]] = {}
        for path, (mode, sha) in files.items():
            name, sep, below = path.partition("/")
            if sep:
                folders.setdefault(name, {})[below] = (mode, sha)
            else:
                entries.append(TreeEntry(mode, name, sha))
        entries += [TreeEntry(MODE_TREE, n, self._store_tree(repo, f)) for n, f in folders.items()]
        ordered = sorted_entries(entries)
        sha = tree_sha(ordered)
        repo.trees[sha] = ordered
        return sha

    def _snapshot(self, repo: Repo, root: str) -> GitSnapshot:
        snapshot = GitSnapshot(root=root)

        def walk(tree: str, path: str) -> None:
            snapshot.trees[tree] = repo.trees[tree]
            snapshot.tree_paths[path] = tree
            for entry in repo.trees[tree]:
                child = f"{path}/{entry.name}" if path else entry.name
                if entry.mode == MODE_TREE:
                    walk(entry.sha, child)
                elif entry.mode != MODE_SUBMODULE:
                    snapshot.file_paths[child] = (entry.mode, entry.sha)
                    snapshot.blobs[entry.sha] = repo.blobs[entry.sha]

        walk(root, "")
        return snapshot

    def _create_commit(self, req: _Req, repo: Repo) -> tuple[int, Json, dict[str, str]]:
        token = self._require_write(req, repo, "contents")
        body = self._object_body(req)
        message, tree, parents = body.get("message"), body.get("tree"), body.get("parents", [])
        if not isinstance(message, str):
            raise HttpError(422, 'Invalid request.\n\n"message" wasn\'t supplied.')
        if not isinstance(tree, str) or tree not in repo.trees:
            raise HttpError(422, "Tree SHA does not exist")
        if not isinstance(parents, list) or any(p not in repo.commits for p in parents):
            raise HttpError(422, "Parent SHA does not exist or is not a commit object")
        given = body.get("author") if isinstance(body.get("author"), dict) else {}
        email = f"{token.user_id}+{token.login}@users.noreply.github.com"
        author = Signature(
            name=str(given.get("name") or token.login),
            email=str(given.get("email") or email),
            timestamp=self._tick(),
        )
        sha = commit_sha(tree, parents, author, author, message)
        commit = Commit(sha, tree, list(parents), message, author, self._snapshot(repo, tree))
        repo.commits[sha] = commit
        return 201, self._git_commit_json(req, repo, commit), {}

    # -- refs

    @staticmethod
    def _ref_table(repo: Repo, ref: str) -> tuple[dict[str, str], str]:
        """The branches or tags a full ref (``refs/heads/x``) lives in, and its short name."""
        kind, _, name = ref.removeprefix("refs/").partition("/")
        if not ref.startswith("refs/") or not name or kind not in ("heads", "tags"):
            raise HttpError(422, "Reference name is not valid")
        return (repo.branches if kind == "heads" else repo.tags), name

    def _ref_route(
        self, req: _Req, repo: Repo, ref: str, *, singular: bool
    ) -> tuple[int, Json, dict[str, str]] | None:
        full = f"refs/{ref}"
        if req.method == "GET":
            self._require_contents(req.token or _ANONYMOUS)
            if repo.empty:
                raise HttpError(409, EMPTY_REPO_MESSAGE)
            kind, _, name = ref.partition("/")
            table = {"heads": repo.branches, "tags": repo.tags}.get(kind, {})
            if name not in table:
                raise HttpError(404, "Not Found")
            return 200, self._ref_json(req, repo, full, table[name]), {}
        if singular:
            return None
        if req.method == "PATCH":
            return self._update_ref(req, repo, full)
        if req.method == "DELETE":
            self._require_write(req, repo, "contents")
            table, name = self._ref_table(repo, full)
            if name not in table:
                raise HttpError(422, "Reference does not exist")
            if table is repo.branches and name == repo.default_branch:
                raise HttpError(422, "Cannot delete the default branch")
            del table[name]
            return 204, None, {}
        return None

    def _create_ref(self, req: _Req, repo: Repo) -> tuple[int, Json, dict[str, str]]:
        token = self._require_write(req, repo, "contents")
        body = self._object_body(req)
        ref, sha = body.get("ref"), body.get("sha")
        if not isinstance(ref, str):
            raise HttpError(422, 'Invalid request.\n\n"ref" wasn\'t supplied.')
        table, name = self._ref_table(repo, ref)
        if not isinstance(sha, str) or sha not in repo.commits:
            raise HttpError(422, "Object does not exist")
        if name in table:
            raise HttpError(422, "Reference already exists")
        if table is repo.branches:
            default = repo.head()
            self._check_workflows(token, repo, default.sha if default else None, sha)
        table[name] = sha
        return 201, self._ref_json(req, repo, ref, sha), {}

    def _update_ref(self, req: _Req, repo: Repo, ref: str) -> tuple[int, Json, dict[str, str]]:
        token = self._require_write(req, repo, "contents")
        body = self._object_body(req)
        table, name = self._ref_table(repo, ref)
        if name not in table:
            raise HttpError(422, "Reference does not exist")
        sha = body.get("sha")
        if not isinstance(sha, str) or sha not in repo.commits:
            raise HttpError(422, "Object does not exist")
        old = table[name]
        if body.get("force") is not True and old not in self._ancestors(repo, sha):
            raise HttpError(422, "Update is not a fast forward")
        if table is repo.branches:
            self._check_workflows(token, repo, old, sha)
        table[name] = sha
        return 200, self._ref_json(req, repo, ref, sha), {}

    def _check_workflows(self, token: Token, repo: Repo, old: str | None, new: str) -> None:
        """GitHub refuses a ref update that changes a workflow file unless the token may."""
        if token.may_change_workflows:
            return
        before, after = self._workflow_blobs(repo, old), self._workflow_blobs(repo, new)
        changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
        if not changed:
            return
        if token.kind == "classic":
            raise HttpError(
                404,
                f"refusing to allow a Personal Access Token to create or update workflow "
                f"`{changed[0]}` without `workflow` scope",
            )
        who = "a GitHub App" if token.kind == "installation" else "a Personal Access Token"
        raise HttpError(
            403,
            f"refusing to allow {who} to create or update workflow `{changed[0]}` without "
            "`workflows` permission",
        )

    @staticmethod
    def _workflow_blobs(repo: Repo, sha: str | None) -> dict[str, str]:
        commit = repo.commits.get(sha) if sha else None
        if commit is None:
            return {}
        return {
            path: blob
            for path, (_, blob) in commit.snapshot.file_paths.items()
            if path.startswith(".github/workflows/")
        }

    def _ref_json(self, req: _Req, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
        u = f"{req.api}/repos/{repo.full_name}/git"
        return {
            "ref": ref,
            "node_id": f"REF_{repo.id}_{ref}",
            "url": f"{u}/{urllib.parse.quote(ref)}",
            "object": {"type": "commit", "sha": sha, "url": f"{u}/commits/{sha}"},
        }

    def _git_commit_json(self, req: _Req, repo: Repo, commit: Commit) -> dict[str, Any]:
        u = f"{req.api}/repos/{repo.full_name}/git"
        html = f"{req.root}/{repo.full_name}/commit"
        who = {
            "name": commit.author.name,
            "email": commit.author.email,
            "date": commit.author.iso8601(),
        }
        return {
            "sha": commit.sha,
            "node_id": f"C_{repo.id}_{commit.sha}",
            "url": f"{u}/commits/{commit.sha}",
            "html_url": f"{html}/{commit.sha}",
            "author": who,
            "committer": dict(who),
            "tree": {"sha": commit.tree, "url": f"{u}/trees/{commit.tree}"},
            "message": commit.message,
            "parents": [
                {"sha": p, "url": f"{u}/commits/{p}", "html_url": f"{html}/{p}"}
                for p in commit.parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    # -- history

    @staticmethod
    def _ancestors(repo: Repo, sha: str) -> list[str]:
        """``sha`` and every commit it descends from, nearest first."""
        seen: dict[str, None] = {}
        queue = [sha]
        while queue:
            current = queue.pop(0)
            if current in seen or current not in repo.commits:
                continue
            seen[current] = None
            queue.extend(repo.commits[current].parents)
        return list(seen)

    @staticmethod
    def _oldest_first(repo: Repo, shas: Sequence[str]) -> list[str]:
        """``shas`` with every parent before its children."""
        wanted, done, order = set(shas), set(), []
        for start in shas:
            stack = [(start, False)]
            while stack:
                sha, expanded = stack.pop()
                if expanded:
                    order.append(sha)
                    continue
                if sha in done:
                    continue
                done.add(sha)
                stack.append((sha, True))
                stack.extend(
                    (p, False) for p in repo.commits[sha].parents if p in wanted and p not in done
                )
        return order

    def _ahead(self, repo: Repo, base: str, head: str) -> list[str]:
        """The commits of ``head`` that ``base`` does not have, oldest first."""
        known = set(self._ancestors(repo, base))
        return self._oldest_first(repo, [s for s in self._ancestors(repo, head) if s not in known])

    def _compare_json(self, req: _Req, repo: Repo, basehead: str) -> dict[str, Any]:
        base_name, sep, head_name = basehead.partition("...")
        base = repo.resolve_commit(base_name.rpartition(":")[2]) if sep else None
        head = repo.resolve_commit(head_name.rpartition(":")[2]) if sep else None
        if base is None or head is None:
            raise HttpError(404, "Not Found")
        head_line, base_line = self._ancestors(repo, head.sha), self._ancestors(repo, base.sha)
        merge_base = next((s for s in head_line if s in set(base_line)), None)
        if merge_base is None:
            raise HttpError(404, f"No common ancestor between {base_name} and {head_name}.")
        ahead = self._ahead(repo, base.sha, head.sha)
        behind = [s for s in base_line if s not in set(head_line)]
        status = (
            "identical" if not ahead and not behind
            else "ahead" if not behind
            else "behind" if not ahead
            else "diverged"
        )
        u = f"{req.api}/repos/{repo.full_name}/compare/{basehead}"
        html = f"{req.root}/{repo.full_name}/compare"
        return {
            "url": u,
            "html_url": f"{html}/{basehead}",
            "permalink_url": f"{html}/{repo.org}:{base.sha[:7]}...{repo.org}:{head.sha[:7]}",
            "diff_url": f"{html}/{basehead}.diff",
            "patch_url": f"{html}/{basehead}.patch",
            "base_commit": self._commit_json(req, repo, base),
            "merge_base_commit": self._commit_json(req, repo, repo.commits[merge_base]),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": len(behind),
            "total_commits": len(ahead),
            "commits": [self._commit_json(req, repo, repo.commits[s]) for s in ahead],
        }

    # -- pull requests, comments, labels

    def _pulls_route(
        self, req: _Req, repo: Repo, rest: list[str]
    ) -> tuple[int, Json, dict[str, str]] | None:
        if len(rest) == 1 and req.method == "GET":
            return self._list_pulls(req, repo)
        if len(rest) == 1 and req.method == "POST":
            return self._create_pull(req, repo)
        if len(rest) == 2 and req.method in ("GET", "PATCH"):
            pull = repo.pulls.get(int(rest[1])) if rest[1].isdigit() else None
            if pull is None:
                raise HttpError(404, "Not Found")
            if req.method == "PATCH":
                self._update_pull(req, repo, pull)
            return 200, self._pull_json(req, repo, pull, full=True), {}
        return None

    def _list_pulls(self, req: _Req, repo: Repo) -> tuple[int, Json, dict[str, str]]:
        state = req.q("state") or "open"
        if state not in ("open", "closed", "all"):
            raise self._invalid(f"state {state} is not valid", "state")
        pulls = [p for p in repo.pulls.values() if state in ("all", p.state)]
        owner, colon, branch = (req.q("head") or "").partition(":")
        if colon:  # GitHub ignores a head filter without the owner
            pulls = [p for p in pulls if owner.lower() == repo.org.lower() and p.head == branch]
        if req.q("base"):
            pulls = [p for p in pulls if p.base == req.q("base")]
        sort = req.q("sort") or "created"
        direction = req.q("direction") or ("desc" if sort == "created" else "asc")
        if sort == "updated":
            pulls.sort(key=lambda p: (p.updated, p.number))
        else:
            pulls.sort(key=lambda p: (p.created, p.number))
        if direction == "desc":
            pulls.reverse()
        chunk, headers = self._paginate(req, pulls)
        return 200, [self._pull_json(req, repo, p, full=False) for p in chunk], headers

    def _create_pull(self, req: _Req, repo: Repo) -> tuple[int, Json, dict[str, str]]:
        token = self._require_write(req, repo, "pull_requests")
        body = self._object_body(req)
        title, head, base = body.get("title"), body.get("head"), body.get("base")
        if not isinstance(title, str) or not title.strip():
            raise self._invalid("title is missing", "title")
        owner, _, branch = head.rpartition(":") if isinstance(head, str) else ("", "", "")
        foreign = bool(owner) and owner.lower() != repo.org.lower()
        if not branch or branch not in repo.branches or foreign:
            raise self._invalid("head is not a branch of this repository", "head")
        if not isinstance(base, str) or base not in repo.branches:
            raise self._invalid("base is not a branch of this repository", "base")
        pulls = repo.pulls.values()
        if any(p.state == "open" and (p.head, p.base) == (branch, base) for p in pulls):
            raise self._invalid(f"A pull request already exists for {repo.org}:{branch}.")
        if not self._ahead(repo, repo.branches[base], repo.branches[branch]):
            raise self._invalid(f"No commits between {base} and {branch}")
        now = self._tick()
        text = body.get("body")
        pull = Pull(
            number=max(repo.pulls, default=0) + 1,
            id=self._next_id(),
            title=title,
            body=text if isinstance(text, str) else None,
            head=branch,
            base=base,
            user=token.login,
            created=now,
            updated=now,
            head_sha=repo.branches[branch],
            draft=body.get("draft") is True,
        )
        repo.pulls[pull.number] = pull
        return 201, self._pull_json(req, repo, pull, full=True), {}

    def _update_pull(self, req: _Req, repo: Repo, pull: Pull) -> None:
        self._require_write(req, repo, "pull_requests")
        body = self._object_body(req)
        if "title" in body:
            if not isinstance(body["title"], str) or not body["title"].strip():
                raise self._invalid("title is missing", "title")
            pull.title = body["title"]
        if "body" in body:
            pull.body = body["body"] if isinstance(body["body"], str) else None
        if "base" in body:
            if body["base"] not in repo.branches:
                raise self._invalid("base is not a branch of this repository", "base")
            pull.base = body["base"]
        now = self._tick()
        state = body.get("state")
        if state is not None and state not in ("open", "closed"):
            raise self._invalid(f"state {state} is not valid", "state")
        if state == "open" and pull.state == "closed":
            if pull.merged:
                raise self._invalid("state cannot be changed. The pull request is merged.")
            if pull.head not in repo.branches:
                raise self._invalid(f"state cannot be changed. The {pull.head} branch was deleted.")
            pull.state, pull.closed = "open", None
        elif state == "closed" and pull.state == "open":
            pull.head_sha = repo.branches.get(pull.head, pull.head_sha)
            pull.state, pull.closed = "closed", now
        pull.updated = now

    def _issue_route(
        self, req: _Req, repo: Repo, rest: list[str]
    ) -> tuple[int, Json, dict[str, str]] | None:
        pull = repo.pulls.get(int(rest[1])) if rest[1].isdigit() else None
        if pull is None:  # only pull requests are modelled, not plain issues
            raise HttpError(404, "Not Found")
        if rest[2] == "comments" and req.method == "GET":
            chunk, headers = self._paginate(req, pull.comments)
            return 200, [self._comment_json(req, repo, pull, c) for c in chunk], headers
        if rest[2] == "comments" and req.method == "POST":
            token = self._require_write(req, repo, "issues", "pull_requests")
            text = self._object_body(req).get("body")
            if not isinstance(text, str) or not text:
                raise self._invalid("body is missing", "body", "IssueComment")
            comment = Comment(self._next_id(), text, token.login, self._tick())
            pull.comments.append(comment)
            pull.updated = comment.created
            return 201, self._comment_json(req, repo, pull, comment), {}
        if rest[2] == "labels" and req.method in ("GET", "POST"):
            if req.method == "POST":
                self._require_write(req, repo, "issues", "pull_requests")
                body = self._json_body(req)
                names = body.get("labels") if isinstance(body, dict) else body
                if not isinstance(names, list) or not names:
                    raise self._invalid("labels are missing", "labels", "Label")
                for item in names:
                    name = item.get("name") if isinstance(item, dict) else item
                    if not isinstance(name, str) or not name.strip():
                        raise self._invalid(f"{item!r} is not a label name", "name", "Label")
                    if name not in repo.labels:  # GitHub creates a missing label
                        repo.labels[name] = self._next_id()
                    if name not in pull.labels:
                        pull.labels.append(name)
            return 200, [self._label_json(req, repo, n) for n in pull.labels], {}
        return None

    def _login_json(self, req: _Req, login: str) -> dict[str, Any]:
        """A person or bot as a ``simple-user``."""
        uid = next((t.user_id for t in self.tokens.values() if t.login == login), 1)
        user = self._owner_json(req, Org(login=login, id=uid))
        user["type"] = "Bot" if login.endswith("[bot]") else "User"
        return user

    def _label_json(self, req: _Req, repo: Repo, name: str) -> dict[str, Any]:
        label_id = repo.labels[name]
        return {
            "id": label_id,
            "node_id": f"LA_{label_id}",
            "url": f"{req.api}/repos/{repo.full_name}/labels/{urllib.parse.quote(name)}",
            "name": name,
            "description": "",  # pull-request-simple does not allow null here
            "color": "ededed",
            "default": False,
        }

    def _comment_json(self, req: _Req, repo: Repo, pull: Pull, comment: Comment) -> dict[str, Any]:
        u = f"{req.api}/repos/{repo.full_name}/issues"
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": f"{u}/comments/{comment.id}",
            "html_url": f"{req.root}/{repo.full_name}/pull/{pull.number}#issuecomment-{comment.id}",
            "body": comment.body,
            "user": self._login_json(req, comment.user),
            "created_at": _iso(comment.created),
            "updated_at": _iso(comment.created),
            "issue_url": f"{u}/{pull.number}",
            "author_association": "MEMBER",
        }

    def _pull_json(self, req: _Req, repo: Repo, pull: Pull, *, full: bool) -> dict[str, Any]:
        u = f"{req.api}/repos/{repo.full_name}"
        html = f"{req.root}/{repo.full_name}/pull/{pull.number}"
        if pull.state == "open":
            pull.head_sha = repo.branches.get(pull.head, pull.head_sha)
        base_sha = repo.branches.get(pull.base, "")
        org = self._owner_json(req, self.orgs[repo.org])
        repo_json = self._repo_json(req, repo, full=False)

        def side(branch: str, sha: str) -> dict[str, Any]:
            return {"label": f"{repo.org}:{branch}", "ref": branch, "sha": sha, "user": org,
                    "repo": repo_json}

        links = {
            "self": f"{u}/pulls/{pull.number}",
            "html": html,
            "issue": f"{u}/issues/{pull.number}",
            "comments": f"{u}/issues/{pull.number}/comments",
            "review_comments": f"{u}/pulls/{pull.number}/comments",
            "review_comment": f"{u}/pulls/comments{{/number}}",
            "commits": f"{u}/pulls/{pull.number}/commits",
            "statuses": f"{u}/statuses/{pull.head_sha}",
        }
        closed = _iso(pull.closed) if pull.closed is not None else None
        data: dict[str, Any] = {
            "url": links["self"],
            "id": pull.id,
            "node_id": f"PR_{pull.id}",
            "html_url": html,
            "diff_url": f"{html}.diff",
            "patch_url": f"{html}.patch",
            "issue_url": links["issue"],
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": links["statuses"],
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self._login_json(req, pull.user),
            "body": pull.body,
            "labels": [self._label_json(req, repo, n) for n in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": _iso(pull.created),
            "updated_at": _iso(pull.updated),
            "closed_at": closed,
            "merged_at": closed if pull.merged else None,
            "merge_commit_sha": pull.merge_sha,
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": side(pull.head, pull.head_sha),
            "base": side(pull.base, base_sha),
            "_links": {k: {"href": v} for k, v in links.items()},
            "author_association": "MEMBER",
            "auto_merge": None,
            "draft": pull.draft,
        }
        if full:
            commits = self._ahead(repo, base_sha, pull.head_sha) if base_sha else []
            data.update(
                {
                    "merged": pull.merged,
                    "mergeable": True if pull.state == "open" else None,
                    "rebaseable": True if pull.state == "open" else None,
                    "mergeable_state": "clean" if pull.state == "open" else "unknown",
                    "merged_by": self._login_json(req, pull.user) if pull.merged else None,
                    "comments": len(pull.comments),
                    "review_comments": 0,
                    "maintainer_can_modify": False,
                    "commits": len(commits),
                    "additions": 0,
                    "deletions": 0,
                    "changed_files": 0,
                }
            )
        return data

    # ---------------------------------------------------------------- REST bodies

    def _pushed(self, repo: Repo) -> int:
        head = repo.head()
        return head.author.timestamp if head else repo.created

    def _owner_json(self, req: _Req, org: Org) -> dict[str, Any]:
        u = f"{req.api}/users/{org.login}"
        return {
            "login": org.login,
            "id": org.id,
            "node_id": org.node_id,
            "avatar_url": f"{req.root}/avatars/{org.login}",
            "gravatar_id": "",
            "url": u,
            "html_url": f"{req.root}/{org.login}",
            "followers_url": f"{u}/followers",
            "following_url": f"{u}/following{{/other_user}}",
            "gists_url": f"{u}/gists{{/gist_id}}",
            "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{u}/subscriptions",
            "organizations_url": f"{u}/orgs",
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events{{/privacy}}",
            "received_events_url": f"{u}/received_events",
            "type": "Organization",
            "user_view_type": "public",
            "site_admin": False,
        }

    def _org_json(self, req: _Req, org: Org) -> dict[str, Any]:
        u = f"{req.api}/orgs/{org.login}"
        public = sum(1 for r in org.repos.values() if not r.private)
        return {
            "login": org.login,
            "id": org.id,
            "node_id": org.node_id,
            "url": u,
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events",
            "hooks_url": f"{u}/hooks",
            "issues_url": f"{u}/issues",
            "members_url": f"{u}/members{{/member}}",
            "public_members_url": f"{u}/public_members{{/member}}",
            "avatar_url": f"{req.root}/avatars/{org.login}",
            "description": org.description,
            "name": org.name,
            "blog": "",
            "twitter_username": None,
            "is_verified": False,
            "has_organization_projects": True,
            "has_repository_projects": True,
            "public_repos": public,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "html_url": f"{req.root}/{org.login}",
            "type": "Organization",
            "total_private_repos": len(org.repos) - public,
            "owned_private_repos": len(org.repos) - public,
            "created_at": _iso(_BASE_TIME - 86_400),
            "updated_at": _iso(_BASE_TIME - 86_400),
            "archived_at": None,
        }

    def _user_json(self, req: _Req, token: Token) -> dict[str, Any]:
        u = f"{req.api}/users/{token.login}"
        return {
            "login": token.login,
            "id": token.user_id,
            "node_id": f"U_{token.user_id}",
            "avatar_url": f"{req.root}/avatars/{token.login}",
            "gravatar_id": "",
            "url": u,
            "html_url": f"{req.root}/{token.login}",
            "followers_url": f"{u}/followers",
            "following_url": f"{u}/following{{/other_user}}",
            "gists_url": f"{u}/gists{{/gist_id}}",
            "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{u}/subscriptions",
            "organizations_url": f"{u}/orgs",
            "repos_url": f"{u}/repos",
            "events_url": f"{u}/events{{/privacy}}",
            "received_events_url": f"{u}/received_events",
            "type": "User",
            "user_view_type": "private",
            "site_admin": False,
            "name": token.login,
            "company": None,
            "blog": "",
            "location": None,
            "email": None,
            "hireable": None,
            "bio": None,
            "twitter_username": None,
            "public_repos": 0,
            "public_gists": 0,
            "followers": 0,
            "following": 0,
            "created_at": _iso(_BASE_TIME - 86_400),
            "updated_at": _iso(_BASE_TIME - 86_400),
            "private_gists": 0,
            "total_private_repos": 0,
            "owned_private_repos": 0,
            "disk_usage": 0,
            "collaborators": 0,
            "two_factor_authentication": True,
        }

    def _repo_json(self, req: _Req, repo: Repo, *, full: bool) -> dict[str, Any]:
        token = req.token
        org = self.orgs[repo.org]
        u = f"{req.api}/repos/{repo.full_name}"
        html = f"{req.root}/{repo.full_name}"
        host = req.root.split("://", 1)[1]
        pushed = self._pushed(repo)
        size = 0
        head = repo.head()
        if head is not None:
            size = sum(len(b) for b in head.snapshot.blobs.values()) // 1024
        admin = bool(token is not None and token.kind == "classic" and token.admin) or bool(
            token is not None and token.has("administration")
        )
        data: dict[str, Any] = {
            "id": repo.id,
            "node_id": repo.node_id,
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "owner": self._owner_json(req, org),
            "html_url": html,
            "description": repo.description,
            "fork": repo.fork,
            "url": u,
        }
        for key, suffix in _REPO_URL_SUFFIXES.items():
            data[key] = u + suffix
        data.update(
            {
                "created_at": _iso(repo.created),
                "updated_at": _iso(pushed),
                "pushed_at": _iso(pushed),
                "git_url": f"git://{host}/{repo.full_name}.git",
                "ssh_url": f"git@{host.split(':')[0]}:{repo.full_name}.git",
                "clone_url": f"{html}.git",
                "svn_url": html,
                "homepage": None,
                "size": size,
                "stargazers_count": 0,
                "watchers_count": 0,
                "language": None,
                "has_issues": True,
                "has_projects": True,
                "has_downloads": True,
                "has_wiki": True,
                "has_pages": False,
                "has_discussions": False,
                "forks_count": 0,
                "mirror_url": None,
                "archived": repo.archived,
                "disabled": repo.disabled,
                "open_issues_count": 0,
                "license": None,
                "allow_forking": True,
                "is_template": repo.is_template,
                "web_commit_signoff_required": False,
                "topics": list(repo.topics),
                "visibility": repo.visibility,
                "forks": 0,
                "open_issues": 0,
                "watchers": 0,
                "default_branch": repo.default_branch,
            }
        )
        if token is not None and token.kind != "anonymous":
            data["permissions"] = {
                "admin": admin,
                "maintain": admin,
                "push": admin or token.can_write(("contents",), repo.private),
                "triage": True,
                "pull": True,
            }
        if full:
            data.update(
                {
                    "temp_clone_token": "",
                    "organization": self._owner_json(req, org),
                    "network_count": 0,
                    "subscribers_count": 0,
                }
            )
        return data

    def _commit_json(self, req: _Req, repo: Repo, commit: Commit) -> dict[str, Any]:
        u = f"{req.api}/repos/{repo.full_name}"
        html = f"{req.root}/{repo.full_name}"
        who = {
            "name": commit.author.name,
            "email": commit.author.email,
            "date": commit.author.iso8601(),
        }
        return {
            "sha": commit.sha,
            "node_id": f"C_{repo.id}_{commit.sha}",
            "url": f"{u}/commits/{commit.sha}",
            "html_url": f"{html}/commit/{commit.sha}",
            "comments_url": f"{u}/commits/{commit.sha}/comments",
            "commit": {
                "url": f"{u}/git/commits/{commit.sha}",
                "author": who,
                "committer": dict(who),
                "message": commit.message,
                "comment_count": 0,
                "tree": {"sha": commit.tree, "url": f"{u}/git/trees/{commit.tree}"},
                "verification": {
                    "verified": False,
                    "reason": "unsigned",
                    "signature": None,
                    "payload": None,
                    "verified_at": None,
                },
            },
            "author": None,
            "committer": None,
            "parents": [
                {"sha": p, "url": f"{u}/commits/{p}", "html_url": f"{html}/commit/{p}"}
                for p in commit.parents
            ],
        }

    def _branch_protected(self, repo: Repo, branch: str) -> bool:
        if repo.protection_for(branch) is not None:
            return True
        return any(
            rs.enforcement == "active" and rs.rules and rs.applies_to_branch(repo, branch)
            for rs in self._rulesets_for(repo)
        )

    def _branch_json(self, req: _Req, repo: Repo, name: str) -> dict[str, Any]:
        commit = repo.commits[repo.branches[name]]
        u = f"{req.api}/repos/{repo.full_name}/branches/{urllib.parse.quote(name)}"
        prot = repo.protection_for(name)
        checks = prot.required_status_checks if prot else None
        return {
            "name": name,
            "commit": self._commit_json(req, repo, commit),
            "_links": {"self": u, "html": f"{req.root}/{repo.full_name}/tree/{name}"},
            "protected": self._branch_protected(repo, name),
            "protection": {
                "enabled": prot is not None,
                "required_status_checks": {
                    "enforcement_level": "non_admins" if checks else "off",
                    "contexts": list(checks or []),
                    "checks": [{"context": c, "app_id": None} for c in checks or []],
                },
            },
            "protection_url": f"{u}/protection",
        }

    def _protection_json(
        self, req: _Req, repo: Repo, branch: str, prot: Protection
    ) -> dict[str, Any]:
        u = f"{req.api}/repos/{repo.full_name}/branches/{urllib.parse.quote(branch)}/protection"
        data: dict[str, Any] = {"url": u}
        if prot.required_status_checks is not None:
            data["required_status_checks"] = {
                "url": f"{u}/required_status_checks",
                "strict": prot.strict,
                "contexts": list(prot.required_status_checks),
                "contexts_url": f"{u}/required_status_checks/contexts",
                "checks": [{"context": c, "app_id": None} for c in prot.required_status_checks],
            }
        if prot.required_approving_review_count is not None:
            data["required_pull_request_reviews"] = {
                "url": f"{u}/required_pull_request_reviews",
                "dismiss_stale_reviews": prot.dismiss_stale_reviews,
                "require_code_owner_reviews": prot.require_code_owner_reviews,
                "required_approving_review_count": prot.required_approving_review_count,
                "require_last_push_approval": prot.require_last_push_approval,
            }
        data.update(
            {
                "required_signatures": {
                    "url": f"{u}/required_signatures",
                    "enabled": prot.required_signatures,
                },
                "enforce_admins": {"url": f"{u}/enforce_admins", "enabled": prot.enforce_admins},
                "required_linear_history": {"enabled": prot.required_linear_history},
                "allow_force_pushes": {"enabled": prot.allow_force_pushes},
                "allow_deletions": {"enabled": prot.allow_deletions},
                "block_creations": {"enabled": False},
                "required_conversation_resolution": {
                    "enabled": prot.required_conversation_resolution
                },
                "lock_branch": {"enabled": prot.lock_branch},
                "allow_fork_syncing": {"enabled": False},
            }
        )
        return data

    def _tree_json(self, req: _Req, repo: Repo, ref: str) -> dict[str, Any]:
        if repo.empty:
            raise HttpError(409, EMPTY_REPO_MESSAGE)
        trees = repo.trees
        commit = repo.resolve_commit(ref)
        sha = commit.tree if commit is not None else ref
        if sha not in trees:
            raise HttpError(404, "Not Found")
        u = f"{req.api}/repos/{repo.full_name}/git"
        blobs = repo.blobs
        recursive = "recursive" in req.query
        entries: list[dict[str, Any]] = []

        def emit(entry: TreeEntry, path: str) -> None:
            item: dict[str, Any] = {
                "path": path,
                "mode": entry.api_mode,
                "type": entry.type,
                "sha": entry.sha,
            }
            if entry.type == "blob":
                item["size"] = len(blobs[entry.sha])
                item["url"] = f"{u}/blobs/{entry.sha}"
            elif entry.type == "tree":
                item["url"] = f"{u}/trees/{entry.sha}"
            entries.append(item)

        def walk(tree: str, prefix: str) -> None:
            for entry in trees[tree]:
                path = f"{prefix}{entry.name}"
                emit(entry, path)
                if recursive and entry.mode == MODE_TREE:
                    walk(entry.sha, path + "/")

        walk(sha, "")
        truncated = len(entries) > self.tree_entry_limit
        return {
            "sha": sha,
            "url": f"{u}/trees/{sha}",
            "tree": entries[: self.tree_entry_limit],
            "truncated": truncated,
        }

    def _blob_json(self, req: _Req, repo: Repo, sha: str, data: bytes) -> dict[str, Any]:
        return {
            "sha": sha,
            "node_id": f"B_{repo.id}_{sha}",
            "size": len(data),
            "url": f"{req.api}/repos/{repo.full_name}/git/blobs/{sha}",
            "content": _b64(data),
            "encoding": "base64",
        }

    def _content_item(
        self, req: _Req, repo: Repo, ref: str, path: str, entry: TreeEntry, size: int
    ) -> dict[str, Any]:
        u = f"{req.api}/repos/{repo.full_name}"
        kind = {"blob": "file", "tree": "dir", "commit": "submodule"}[entry.type]
        if entry.mode == "120000":
            kind = "symlink"
        self_url = f"{u}/contents/{urllib.parse.quote(path)}?ref={urllib.parse.quote(ref)}"
        git_url = f"{u}/git/{'trees' if kind == 'dir' else 'blobs'}/{entry.sha}"
        html_url = f"{req.root}/{repo.full_name}/{'tree' if kind == 'dir' else 'blob'}/{ref}/{path}"
        download = f"{req.root}/raw/{repo.full_name}/{ref}/{path}" if kind == "file" else None
        return {
            "type": kind,
            "size": size,
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "sha": entry.sha,
            "url": self_url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": download,
            "_links": {"self": self_url, "git": git_url, "html": html_url},
        }

    def _contents(self, req: _Req, repo: Repo, path: str) -> Json:
        if repo.empty:
            # What GitHub answers for the contents of an empty repository (404, not 409).
            raise HttpError(404, "This repository is empty.")
        ref = req.q("ref") or repo.default_branch
        commit = repo.resolve_commit(ref)
        if commit is None:
            raise HttpError(404, f"No commit found for the ref {ref}")
        snap = commit.snapshot
        blobs = snap.blobs
        if path in snap.file_paths:
            mode, sha = snap.file_paths[path]
            data = blobs[sha]
            item = self._content_item(req, repo, ref, path, TreeEntry(mode, "x", sha), len(data))
            if mode == "120000":
                item["target"] = data.decode("utf-8", "replace")
                return item
            too_big = len(data) > 1024 * 1024
            item["content"] = "" if too_big else _b64(data)
            item["encoding"] = "none" if too_big else "base64"
            return item
        if path == "" or path in snap.tree_paths:
            tree = snap.tree_paths[path]
            out = []
            for entry in snap.trees[tree]:
                child = f"{path}/{entry.name}" if path else entry.name
                size = len(blobs[entry.sha]) if entry.type == "blob" else 0
                out.append(self._content_item(req, repo, ref, child, entry, size))
            return out
        raise HttpError(404, "Not Found")

    def _ruleset_json(self, req: _Req, rs: Ruleset, *, full: bool) -> dict[str, Any]:
        if rs.source_type == "Repository":
            self_url = f"{req.api}/repos/{rs.source}/rulesets/{rs.id}"
            html = f"{req.root}/{rs.source}/rules/{rs.id}"
        else:
            self_url = f"{req.api}/orgs/{rs.source}/rulesets/{rs.id}"
            html = f"{req.root}/organizations/{rs.source}/settings/rules/{rs.id}"
        data: dict[str, Any] = {
            "id": rs.id,
            "name": rs.name,
            "target": rs.target,
            "source_type": rs.source_type,
            "source": rs.source,
            "enforcement": rs.enforcement,
            "node_id": f"RRS_{rs.id}",
            "_links": {"self": {"href": self_url}, "html": {"href": html}},
            "created_at": _iso(_BASE_TIME),
            "updated_at": _iso(_BASE_TIME),
        }
        if full:
            conditions: dict[str, Any] = {
                "ref_name": {"include": list(rs.include), "exclude": list(rs.exclude)}
            }
            if rs.source_type == "Organization":
                conditions["repository_name"] = {
                    "include": list(rs.repository_include),
                    "exclude": list(rs.repository_exclude),
                    "protected": False,
                }
            data.update(
                {
                    "bypass_actors": list(rs.bypass_actors),
                    "current_user_can_bypass": "never",
                    "conditions": conditions,
                    "rules": [dict(r) for r in rs.rules],
                }
            )
        return data

    def _rate_limit_json(self, token: Token) -> dict[str, Any]:
        def one(resource: str) -> dict[str, int]:
            b = self._bucket(token, resource)
            return {"limit": b.limit, "used": b.used, "remaining": b.remaining, "reset": b.reset}

        search = {"limit": 30, "used": 0, "remaining": 30, "reset": self._window_start + 60}
        core = one("core")
        return {
            "resources": {"core": core, "graphql": one("graphql"), "search": search},
            "rate": dict(core),
        }

    def _app_json(self, req: _Req, app: App) -> dict[str, Any]:
        return {
            "id": app.id,
            "slug": app.slug,
            "client_id": app.client_id,
            "node_id": f"A_{app.id}",
            "owner": self._owner_json(req, Org(login=f"{app.slug}-owner", id=app.id)),
            "name": app.name,
            "description": None,
            "external_url": f"{req.root}/apps/{app.slug}",
            "html_url": f"{req.root}/apps/{app.slug}",
            "created_at": _iso(_BASE_TIME),
            "updated_at": _iso(_BASE_TIME),
            "permissions": {"metadata": "read", "contents": "read", "administration": "read"},
            "events": [],
            "installations_count": sum(
                1 for i in self.installations.values() if i.app_id == app.id
            ),
        }

    def _installation_json(self, req: _Req, inst: Installation) -> dict[str, Any]:
        app = self.apps[inst.app_id]
        org = self._get_org(inst.org)
        return {
            "id": inst.id,
            "account": self._owner_json(req, org),
            "repository_selection": "all",
            "access_tokens_url": f"{req.api}/app/installations/{inst.id}/access_tokens",
            "repositories_url": f"{req.api}/installation/repositories",
            "html_url": f"{req.root}/organizations/{org.login}/settings/installations/{inst.id}",
            "app_id": app.id,
            "client_id": app.client_id,
            "app_slug": app.slug,
            "target_id": org.id,
            "target_type": "Organization",
            "permissions": dict(inst.permissions),
            "events": [],
            "created_at": _iso(_BASE_TIME),
            "updated_at": _iso(_BASE_TIME),
            "single_file_name": None,
            "has_multiple_single_files": False,
            "single_file_paths": [],
            "suspended_by": None,
            "suspended_at": None,
        }

    # ---------------------------------------------------------------- GraphQL

    def _graphql(self, req: _Req) -> Json:
        from graphql import GraphQLError, execute_sync, parse, validate

        try:
            body = json.loads(req.body or b"{}")
        except ValueError as exc:
            raise HttpError(400, "Problems parsing JSON") from exc
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str):
            return {
                "errors": [{"message": "A query attribute must be specified and must be a string."}]
            }
        variables = body.get("variables") or {}
        schema = graphql_schema()
        try:
            document = parse(query)
        except GraphQLError as err:
            return {"errors": [_format_error(err)]}
        errors = validate(schema, document)
        if errors:
            return {"errors": [_format_error(e) for e in errors]}
        too_big = self.graphql_timeout_objects
        if too_big is not None and query.count("object(") > too_big:
            raise HttpError(502, "Bad Gateway")
        cost, limit_errors = _query_cost(schema, document, variables, body.get("operationName"))
        if limit_errors:
            return {"errors": limit_errors}
        req.graphql_cost = cost
        ctx = _GqlContext(self, req, cost)
        result = execute_sync(
            schema,
            document,
            root_value=_GqlRoot(ctx),
            context_value=ctx,
            variable_values=variables,
            operation_name=body.get("operationName"),
        )
        out: dict[str, Any] = {}
        if result.errors:
            out["errors"] = [_format_error(e) for e in result.errors]
        out["data"] = result.data
        return out




_REPO_URL_SUFFIXES = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


# --------------------------------------------------------------------------------------
# GraphQL: schema, cost, resolvers
# --------------------------------------------------------------------------------------


def _graphql_query_text(req: _Req) -> str:
    try:
        body = json.loads(req.body or b"{}")
    except ValueError:
        return ""
    query = body.get("query") if isinstance(body, dict) else None
    return query if isinstance(query, str) else ""


@functools.lru_cache(maxsize=1)
def graphql_schema() -> GraphQLSchema:
    """The vendored GitHub schema, executable: abstract types resolve by ``typename``."""
    from graphql import GraphQLInterfaceType, GraphQLUnionType, build_schema

    # assume_valid: GitHub's schema deprecates some fields that implement non-deprecated
    # interface fields, which graphql-core >= 3.3 reports as a type-system error
    # (tests/test_fake_github.py checks that those are the only ones).
    schema = build_schema(GRAPHQL_SCHEMA_PATH.read_text(encoding="utf-8"), assume_valid=True)

    def resolve_type(value: Any, _info: Any, _abstract: Any) -> str | None:
        if isinstance(value, Mapping):
            return str(value["__typename"]) if "__typename" in value else None
        return getattr(value, "typename", None)

    for named in schema.type_map.values():
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            named.resolve_type = resolve_type
    return schema


def _format_error(err: Any) -> dict[str, Any]:
    data: dict[str, Any] = dict(err.formatted)
    original = getattr(err, "original_error", None)
    if isinstance(original, GqlTypedError):
        data["type"] = original.type
        data.pop("extensions", None)
    elif getattr(err, "extensions", None) and "type" in err.extensions:
        data["type"] = err.extensions["type"]
        data.pop("extensions", None)
    return data


class GqlTypedError(Exception):
    """A GraphQL error with GitHub's top-level ``type`` (NOT_FOUND, FORBIDDEN, ...)."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_


def _query_cost(
    schema: GraphQLSchema, document: Any, variables: Mapping[str, Any], operation: str | None
) -> tuple[int, list[dict[str, Any]]]:
    """GitHub's documented cost: the number of connection requests (each ``first``/``last``
    multiplies the requests of the connections under it) divided by 100, rounded, at least 1;
    and its pagination rules (``first``/``last`` required on connections, at most 100)."""
    from graphql import (
        FieldNode,
        FragmentDefinitionNode,
        FragmentSpreadNode,
        GraphQLInterfaceType,
        GraphQLObjectType,
        InlineFragmentNode,
        OperationDefinitionNode,
        VariableNode,
        get_named_type,
    )

    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation:
        operations = [o for o in operations if o.name and o.name.value == operation]
    if not operations:
        return 1, []
    op = operations[0]
    root = schema.mutation_type if op.operation.value == "mutation" else schema.query_type
    total = 0
    errors: list[dict[str, Any]] = []
    defaults: dict[str, Any] = {}
    for var in op.variable_definitions or ():
        if var.default_value is not None and hasattr(var.default_value, "value"):
            defaults[var.variable.name.value] = var.default_value.value

    def arg(node: Any, name: str) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                found = variables.get(value.name.value, defaults.get(value.name.value))
            else:
                found = getattr(value, "value", None)
            try:
                return None if found is None else int(found)
            except (TypeError, ValueError):
                return None
        return None

    def walk(selection_set: Any, parent: Any, mult: int, path: list[str]) -> None:
        nonlocal total
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                name = sel.name.value
                if name.startswith("__") or not isinstance(
                    parent, GraphQLObjectType | GraphQLInterfaceType
                ):
                    continue
                fdef = parent.fields.get(name)
                if fdef is None:
                    continue
                named = get_named_type(fdef.type)
                key = sel.alias.value if sel.alias else name
                child_mult = mult
                if named.name.endswith("Connection"):
                    first, last = arg(sel, "first"), arg(sel, "last")
                    loc = [{"line": 1, "column": 1}]
                    if sel.loc is not None:
                        from graphql import get_location

                        where = get_location(sel.loc.source, sel.loc.start)
                        loc = [{"line": where.line, "column": where.column}]
                    if first is None and last is None:
                        errors.append(
                            {
                                "type": "MISSING_PAGINATION_BOUNDARIES",
                                "path": [*path, key],
                                "locations": loc,
                                "message": "You must provide a `first` or `last` value to "
                                f"properly paginate the `{name}` connection.",
                            }
                        )
                        continue
                    amount = first if first is not None else (last or 0)
                    if amount > 100 or amount < 0:
                        which = "first" if first is not None else "last"
                        errors.append(
                            {
                                "type": "EXCESSIVE_PAGINATION",
                                "path": [*path, key],
                                "locations": loc,
                                "message": f"Requesting {amount} records on the `{name}` "
                                f"connection exceeds the `{which}` limit of 100 records.",
                            }
                        )
                        continue
                    total += mult
                    child_mult = mult * max(1, amount)
                if sel.selection_set is not None:
                    walk(sel.selection_set, named, child_mult, [*path, key])
            elif isinstance(sel, InlineFragmentNode):
                target = (
                    schema.get_type(sel.type_condition.name.value) if sel.type_condition else parent
                )
                walk(sel.selection_set, target, mult, path)
            elif isinstance(sel, FragmentSpreadNode):
                frag = fragments.get(sel.name.value)
                if frag is not None:
                    walk(
                        frag.selection_set,
                        schema.get_type(frag.type_condition.name.value),
                        mult,
                        path,
                    )

    walk(op.selection_set, root, 1, [])
    return max(1, round(total / 100)), errors


def _connection(
    items: Sequence[Any],
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    def cursor(i: int) -> str:
        return base64.b64encode(f"cursor:v2:{i}".encode()).decode()

    def index(c: str) -> int:
        try:
            return int(base64.b64decode(c).decode().rsplit(":", 1)[1])
        except (ValueError, IndexError) as exc:
            raise GqlTypedError(
                "INVALID_CURSOR_ARGUMENTS", f"`{c}` does not appear to be a valid cursor."
            ) from exc

    start, end = 0, len(items)
    if after:
        start = index(after) + 1
    if before:
        end = min(end, index(before))
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    window = list(enumerate(items))[start:end]
    return {
        "nodes": [item for _, item in window],
        "edges": [{"cursor": cursor(i), "node": item} for i, item in window],
        "pageInfo": {
            "hasNextPage": end < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": cursor(window[0][0]) if window else None,
            "endCursor": cursor(window[-1][0]) if window else None,
        },
        "totalCount": len(items),
    }


class _GqlContext:
    def __init__(self, forge: FakeGitHub, req: _Req, cost: int) -> None:
        self.forge = forge
        self.req = req
        self.cost = cost
        assert req.token is not None
        self.token: Token = req.token

    def visible(self, repo: Repo) -> bool:
        return self.forge._visible(self.token, repo)

    def forbidden(self) -> GqlTypedError:
        return GqlTypedError("FORBIDDEN", self.token.forbidden_message)

    def repo(self, owner: str, name: str) -> GRepo:
        org = self.forge.orgs.get(owner) or {k.lower(): v for k, v in self.forge.orgs.items()}.get(
            owner.lower()
        )
        repo = None
        if org is not None:
            repo = org.repos.get(name) or {k.lower(): v for k, v in org.repos.items()}.get(
                name.lower()
            )
        if repo is None or not self.visible(repo):
            raise GqlTypedError(
                "NOT_FOUND", f"Could not resolve to a Repository with the name '{owner}/{name}'."
            )
        return GRepo(self, repo)


class _GqlRoot:
    def __init__(self, ctx: _GqlContext) -> None:
        self.ctx = ctx

    def organization(self, _info: Any, login: str) -> GOrg:
        org = self.ctx.forge.orgs.get(login) or {
            k.lower(): v for k, v in self.ctx.forge.orgs.items()
        }.get(login.lower())
        allowed = self.ctx.token.orgs
        if org is None or (allowed is not None and org.login not in allowed):
            raise GqlTypedError(
                "NOT_FOUND", f"Could not resolve to an Organization with the login of '{login}'."
            )
        return GOrg(self.ctx, org)

    def repository(self, _info: Any, owner: str, name: str, **_: Any) -> GRepo:
        return self.ctx.repo(owner, name)

    def _node(self, node_id: str) -> Any:
        forge = self.ctx.forge
        kind, _, rest = node_id.partition("_")
        for org in forge.orgs.values():
            if kind == "O" and rest == str(org.id):
                return GOrg(self.ctx, org)
            if kind == "R":
                for repo in org.repos.values():
                    if rest == str(repo.id) and self.ctx.visible(repo):
                        return GRepo(self.ctx, repo)
        raise GqlTypedError(
            "NOT_FOUND", f"Could not resolve to a node with the global id of '{node_id}'"
        )

    def node(self, _info: Any, id: str) -> Any:
        return self._node(id)

    def nodes(self, _info: Any, ids: list[str]) -> list[Any]:
        return [self._node(i) for i in ids]

    def rateLimit(self, _info: Any, dryRun: bool = False) -> dict[str, Any]:
        bucket = self.ctx.forge._bucket(self.ctx.token, "graphql")
        cost = 0 if dryRun else self.ctx.cost
        return {
            "cost": self.ctx.cost,
            "limit": bucket.limit,
            "remaining": max(0, bucket.remaining - cost),
            "used": min(bucket.limit, bucket.used + cost),
            "resetAt": _iso(bucket.reset),
            "nodeCount": 0,
        }

    def viewer(self, _info: Any) -> dict[str, Any]:
        token = self.ctx.token
        return {
            "__typename": "User",
            "login": token.login,
            "id": f"U_{token.user_id}",
            "databaseId": token.user_id,
            "name": token.login,
        }


class GOrg:
    typename = "Organization"

    def __init__(self, ctx: _GqlContext, org: Org) -> None:
        self.ctx = ctx
        self.org = org
        self.login = org.login
        self.name = org.name
        self.description = org.description
        self.id = org.node_id
        self.databaseId = org.id
        self.url = f"{ctx.req.root}/{org.login}"
        self.resourcePath = f"/{org.login}"
        self.createdAt = _iso(_BASE_TIME - 86_400)
        self.updatedAt = self.createdAt

    def repositories(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        isArchived: bool | None = None,
        isFork: bool | None = None,
        privacy: str | None = None,
        visibility: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        repos = sorted(
            (r for r in self.org.repos.values() if self.ctx.visible(r)), key=lambda r: r.id
        )
        if isArchived is not None:
            repos = [r for r in repos if r.archived == isArchived]
        if isFork is not None:
            repos = [r for r in repos if r.fork == isFork]
        if privacy is not None:
            repos = [r for r in repos if r.private == (privacy == "PRIVATE")]
        if visibility is not None:
            repos = [r for r in repos if r.visibility.upper() == visibility]
        conn = _connection([GRepo(self.ctx, r) for r in repos], first, after, last, before)
        conn["totalDiskUsage"] = 0
        return conn

    def repository(self, _info: Any, name: str, **_: Any) -> GRepo:
        return self.ctx.repo(self.org.login, name)

    def rulesets(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        token = self.ctx.token
        if token.kind == "classic" and not token.org_admin:
            return _connection([], first, after, last, before)
        if token.kind in ("fine_grained", "installation") and not token.has(
            "organization_administration"
        ):
            raise self.ctx.forbidden()
        items = [_gql_ruleset(self.ctx, rs) for rs in self.org.rulesets]
        return _connection(items, first, after, last, before)


class GRepo:
    typename = "Repository"

    def __init__(self, ctx: _GqlContext, repo: Repo) -> None:
        self.ctx = ctx
        self.repo = repo
        forge = ctx.forge
        root = ctx.req.root
        self.id = repo.node_id
        self.databaseId = repo.id
        self.name = repo.name
        self.nameWithOwner = repo.full_name
        self.description = repo.description
        self.url = f"{root}/{repo.full_name}"
        self.resourcePath = f"/{repo.full_name}"
        self.sshUrl = f"git@{root.split('://', 1)[1].split(':')[0]}:{repo.full_name}.git"
        self.homepageUrl = None
        self.isArchived = repo.archived
        self.isFork = repo.fork
        self.isDisabled = repo.disabled
        self.isEmpty = repo.empty
        self.isPrivate = repo.private
        self.isTemplate = repo.is_template
        self.isLocked = False
        self.isMirror = False
        self.isInOrganization = True
        self.visibility = repo.visibility.upper()
        self.createdAt = _iso(repo.created)
        self.pushedAt = _iso(forge._pushed(repo))
        self.updatedAt = self.pushedAt
        self.archivedAt = self.pushedAt if repo.archived else None
        self.hasIssuesEnabled = True
        self.hasWikiEnabled = True
        self.hasProjectsEnabled = True
        self.hasDiscussionsEnabled = False
        self.forkCount = 0
        self.stargazerCount = 0
        self.diskUsage = 0
        self.primaryLanguage = None
        self.licenseInfo = None
        self.parent = None
        token = ctx.token
        admin = (token.kind == "classic" and token.admin) or token.has("administration")
        self.viewerPermission = "ADMIN" if admin else "READ"
        self.viewerCanAdminister = admin

    def owner(self, _info: Any) -> GOrg:
        return GOrg(self.ctx, self.ctx.forge.orgs[self.repo.org])

    def repositoryTopics(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> dict[str, Any]:
        items = [
            {
                "__typename": "RepositoryTopic",
                "id": f"RT_{self.repo.id}_{t}",
                "url": f"{self.ctx.req.root}/topics/{t}",
                "resourcePath": f"/topics/{t}",
                "topic": {"__typename": "Topic", "id": f"T_{t}", "name": t},
            }
            for t in self.repo.topics
        ]
        return _connection(items, first, after, last, before)

    def defaultBranchRef(self, _info: Any) -> GRef | None:
        if self.repo.empty or self.repo.default_branch not in self.repo.branches:
            return None
        return GRef(self, self.repo.default_branch)

    def ref(self, _info: Any, qualifiedName: str) -> GRef | None:
        name = qualifiedName.removeprefix("refs/heads/")
        return GRef(self, name) if name in self.repo.branches else None

    def object(self, _info: Any, expression: str | None = None, oid: str | None = None) -> Any:
        token = self.ctx.token
        if token.kind in ("fine_grained", "installation") and not token.has("contents"):
            raise self.ctx.forbidden()
        if self.repo.empty:
            return None
        if oid is not None:
            return self._by_oid(oid, "")
        if expression is None:
            return None
        rev, sep, path = expression.partition(":")
        commit = self.repo.resolve_commit(rev)
        if commit is None:
            return None
        if not sep:
            return GCommit(self, commit)
        path = path.strip("/")
        snap = commit.snapshot
        if path in snap.file_paths:
            _mode, sha = snap.file_paths[path]
            return GBlob(self, sha, snap.blobs[sha])
        if path in snap.tree_paths:
            return GTree(self, snap.tree_paths[path], path)
        return None

    def _by_oid(self, oid: str, path: str) -> Any:
        if oid in self.repo.commits:
            return GCommit(self, self.repo.commits[oid])
        trees = self.repo.trees
        if oid in trees:
            return GTree(self, oid, path)
        blobs = self.repo.blobs
        if oid in blobs:
            return GBlob(self, oid, blobs[oid])
        return None

    def branchProtectionRules(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> dict[str, Any]:
        token = self.ctx.token
        if token.kind in ("fine_grained", "installation") and not token.has("administration"):
            raise self.ctx.forbidden()
        if token.kind == "anonymous" or (token.kind == "classic" and not token.admin):
            # Without admin rights GitHub shows no rules rather than an error.
            return _connection([], first, after, last, before)
        items = [_gql_protection(self, p) for p in self.repo.protections]
        return _connection(items, first, after, last, before)

    def rulesets(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        includeParents: bool | None = True,
        targets: list[str] | None = None,
    ) -> dict[str, Any]:
        found = (
            self.ctx.forge._rulesets_for(self.repo)
            if includeParents is not False
            else list(self.repo.rulesets)
        )
        if targets:
            found = [rs for rs in found if rs.target.upper() in targets]
        items = [_gql_ruleset(self.ctx, rs) for rs in found]
        return _connection(items, first, after, last, before)


class GRef:
    typename = "Ref"

    def __init__(self, repo: GRepo, name: str) -> None:
        self.grepo = repo
        self.name = name
        self.prefix = "refs/heads/"
        self.id = f"REF_{repo.repo.id}_{name}"

    def repository(self, _info: Any) -> GRepo:
        return self.grepo

    def target(self, _info: Any) -> GCommit:
        repo = self.grepo.repo
        return GCommit(self.grepo, repo.commits[repo.branches[self.name]])

    def branchProtectionRule(self, _info: Any) -> dict[str, Any] | None:
        token = self.grepo.ctx.token
        if token.kind in ("fine_grained", "installation") and not token.has("administration"):
            raise self.grepo.ctx.forbidden()
        if token.kind == "anonymous" or (token.kind == "classic" and not token.admin):
            return None
        prot = self.grepo.repo.protection_for(self.name)
        return _gql_protection(self.grepo, prot) if prot else None

    def rules(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        repo = self.grepo.repo
        items = [
            _gql_rule(self.grepo.ctx, rs, rule, i)
            for rs in self.grepo.ctx.forge._rulesets_for(repo)
            if rs.enforcement == "active" and rs.applies_to_branch(repo, self.name)
            for i, rule in enumerate(rs.rules)
        ]
        return _connection(items, first, after, last, before)


class _GitObjectBase:
    typename = ""

    def __init__(self, repo: GRepo, oid: str) -> None:
        self.grepo = repo
        self.oid = oid
        self.abbreviatedOid = oid[:7]
        self.id = f"{self.typename[:1]}_{repo.repo.id}_{oid}"
        base = f"{repo.ctx.req.root}/{repo.repo.full_name}"
        self.commitUrl = f"{base}/commit/{oid}"
        self.commitResourcePath = f"/{repo.repo.full_name}/commit/{oid}"

    def repository(self, _info: Any) -> GRepo:
        return self.grepo


class GBlob(_GitObjectBase):
    typename = "Blob"

    def __init__(self, repo: GRepo, oid: str, data: bytes) -> None:
        super().__init__(repo, oid)
        self.byteSize = len(data)
        self.isBinary = _is_binary(data)
        self.isTruncated = not self.isBinary and len(data) > _MAX_BLOB_TEXT
        self.text = None if self.isBinary else data[:_MAX_BLOB_TEXT].decode("utf-8", "replace")


class GTree(_GitObjectBase):
    typename = "Tree"

    def __init__(self, repo: GRepo, oid: str, path: str) -> None:
        super().__init__(repo, oid)
        self.path = path

    def entries(self, _info: Any) -> list[GTreeEntry]:
        trees = self.grepo.repo.trees
        return [GTreeEntry(self.grepo, e, self.path) for e in trees[self.oid]]


class GTreeEntry:
    typename = "TreeEntry"

    def __init__(self, repo: GRepo, entry: TreeEntry, parent: str) -> None:
        self.grepo = repo
        self.entry = entry
        self.name = entry.name
        self.path = f"{parent}/{entry.name}" if parent else entry.name
        self.oid = entry.sha
        self.type = entry.type
        self.mode = int(entry.mode, 8)
        self.nameRaw = base64.b64encode(entry.name.encode()).decode()
        self.pathRaw = base64.b64encode(self.path.encode()).decode()
        self.extension = "." + entry.name.rsplit(".", 1)[1] if "." in entry.name else None
        self.isGenerated = False
        self.language = None
        self.submodule = None
        data = repo.repo.blobs.get(entry.sha) if entry.type == "blob" else None
        self.size = len(data) if data is not None else 0
        self.lineCount = (
            data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
            if data is not None and not _is_binary(data)
            else None
        )

    def repository(self, _info: Any) -> GRepo:
        return self.grepo

    def object(self, _info: Any) -> Any:
        return self.grepo._by_oid(self.entry.sha, self.path)


class GCommit(_GitObjectBase):
    typename = "Commit"

    def __init__(self, repo: GRepo, commit: Commit) -> None:
        super().__init__(repo, commit.sha)
        self.commit = commit
        self.message = commit.message
        head, _, body = commit.message.partition("\n")
        self.messageHeadline = head
        self.messageBody = body.strip("\n")
        self.committedDate = commit.author.iso8601()
        self.authoredDate = self.committedDate
        self.pushedDate = None
        self.url = self.commitUrl
        self.resourcePath = self.commitResourcePath
        who = {
            "name": commit.author.name,
            "email": commit.author.email,
            "date": self.committedDate,
            "user": None,
        }
        self.author = who
        self.committer = dict(who)
        self.additions = 0
        self.deletions = 0
        self.changedFiles = 0

    def tree(self, _info: Any) -> GTree:
        return GTree(self.grepo, self.commit.tree, "")

    def parents(
        self,
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> dict[str, Any]:
        repo = self.grepo.repo
        items = [GCommit(self.grepo, repo.commits[p]) for p in self.commit.parents]
        return _connection(items, first, after, last, before)

    def file(self, _info: Any, path: str) -> GTreeEntry | None:
        snap = self.commit.snapshot
        path = path.strip("/")
        parent, _, name = path.rpartition("/")
        if path in snap.file_paths:
            mode, sha = snap.file_paths[path]
            return GTreeEntry(self.grepo, TreeEntry(mode, name, sha), parent)
        if path in snap.tree_paths:
            return GTreeEntry(self.grepo, TreeEntry(MODE_TREE, name, snap.tree_paths[path]), parent)
        return None


def _gql_protection(repo: GRepo, prot: Protection) -> dict[str, Any]:
    count = prot.required_approving_review_count
    return {
        "__typename": "BranchProtectionRule",
        "id": f"BPR_{prot.id}",
        "databaseId": prot.id,
        "pattern": prot.pattern,
        "requiresApprovingReviews": count is not None,
        "requiredApprovingReviewCount": count,
        "requiresCodeOwnerReviews": prot.require_code_owner_reviews,
        "dismissesStaleReviews": prot.dismiss_stale_reviews,
        "requireLastPushApproval": prot.require_last_push_approval,
        "isAdminEnforced": prot.enforce_admins,
        "allowsForcePushes": prot.allow_force_pushes,
        "allowsDeletions": prot.allow_deletions,
        "requiresStatusChecks": prot.required_status_checks is not None,
        "requiresStrictStatusChecks": prot.strict,
        "requiredStatusCheckContexts": list(prot.required_status_checks or []),
        "requiresLinearHistory": prot.required_linear_history,
        "requiresCommitSignatures": prot.required_signatures,
        "requiresConversationResolution": prot.required_conversation_resolution,
        "requiresDeployments": False,
        "requiredDeploymentEnvironments": [],
        "restrictsPushes": False,
        "restrictsReviewDismissals": False,
        "blocksCreations": False,
        "lockBranch": prot.lock_branch,
        "lockAllowsFetchAndMerge": False,
        "repository": repo,
    }


_PARAMETER_TYPENAMES = {
    "pull_request": "PullRequestParameters",
    "required_status_checks": "RequiredStatusChecksParameters",
    "required_deployments": "RequiredDeploymentsParameters",
    "update": "UpdateParameters",
    "merge_queue": "MergeQueueParameters",
    "workflows": "WorkflowsParameters",
    "code_scanning": "CodeScanningParameters",
    "branch_name_pattern": "BranchNamePatternParameters",
    "tag_name_pattern": "TagNamePatternParameters",
    "commit_message_pattern": "CommitMessagePatternParameters",
    "commit_author_email_pattern": "CommitAuthorEmailPatternParameters",
    "committer_email_pattern": "CommitterEmailPatternParameters",
    "file_path_restriction": "FilePathRestrictionParameters",
    "file_extension_restriction": "FileExtensionRestrictionParameters",
    "max_file_path_length": "MaxFilePathLengthParameters",
    "max_file_size": "MaxFileSizeParameters",
}


def _camel(value: Any) -> Any:
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            head, *tail = key.split("_")
            out[head + "".join(t.title() for t in tail)] = _camel(item)
        return out
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _gql_rule(ctx: _GqlContext, rs: Ruleset, rule: Mapping[str, Any], i: int) -> dict[str, Any]:
    rtype = str(rule["type"])
    params = None
    if rule.get("parameters") is not None and rtype in _PARAMETER_TYPENAMES:
        params = _camel(rule["parameters"])
        params["__typename"] = _PARAMETER_TYPENAMES[rtype]
    return {
        "__typename": "RepositoryRule",
        "id": f"RR_{rs.id}_{i}",
        "type": rtype.upper(),
        "parameters": params,
        "repositoryRuleset": lambda _info: _gql_ruleset(ctx, rs),
    }


def _gql_ruleset(ctx: _GqlContext, rs: Ruleset) -> dict[str, Any]:
    forge = ctx.forge

    def source(_info: Any) -> Any:
        if rs.source_type == "Repository" and rs.repo is not None:
            return GRepo(ctx, forge.repo(rs.org, rs.repo))
        return GOrg(ctx, forge.orgs[rs.org])

    def rules(
        _info: Any,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        type: str | None = None,
    ) -> dict[str, Any]:
        items = [_gql_rule(ctx, rs, r, i) for i, r in enumerate(rs.rules)]
        if type is not None:
            items = [r for r in items if r["type"] == type]
        return _connection(items, first, after, last, before)

    conditions: dict[str, Any] = {
        "refName": {"include": list(rs.include), "exclude": list(rs.exclude)},
        "repositoryName": None,
        "repositoryId": None,
        "repositoryProperty": None,
    }
    if rs.source_type == "Organization":
        conditions["repositoryName"] = {
            "include": list(rs.repository_include),
            "exclude": list(rs.repository_exclude),
            "protected": False,
        }
    return {
        "__typename": "RepositoryRuleset",
        "id": f"RRS_{rs.id}",
        "databaseId": rs.id,
        "name": rs.name,
        "enforcement": rs.enforcement.upper(),
        "target": rs.target.upper(),
        "conditions": conditions,
        "rules": rules,
        "source": source,
        "createdAt": _iso(_BASE_TIME),
        "updatedAt": _iso(_BASE_TIME),
        "bypassActors": lambda _info, **_: _connection([], 0),
    }


# --------------------------------------------------------------------------------------
# Server plumbing and the pytest fixture
# --------------------------------------------------------------------------------------




def generate_app_key() -> tuple[str, bytes]:
    """A fresh RSA key pair for GitHub App tests: (private PEM text, public PEM bytes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture
def github_forge() -> Iterator[FakeGitHub]:
    """A started, empty :class:`FakeGitHub` with the classic admin token ``DEFAULT_TOKEN``."""
    forge = FakeGitHub()
    forge.start()
    try:
        yield forge
    finally:
        forge.stop()
