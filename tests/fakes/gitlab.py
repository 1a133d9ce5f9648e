"""A stateful fake of the GitLab REST v4 and GraphQL APIs, served on 127.0.0.1 for tests.

The real python-gitlab client talks HTTP to it.  It models what a governance scanner reads:
groups with nested subgroups (and a licence tier: ``free`` or ``premium``), projects
(visibility, archived, forked, empty, topics) with real git blob / tree / commit SHA-1s,
repository tree and files, branches, protected branches, merge request approval rules
(premium only), CI lint, access tokens of every kind with scopes, per-token rate limits with
GitLab's ``RateLimit-*`` headers and ``429`` + ``Retry-After``, ETags with ``304 Not Modified``,
request accounting and injectable faults.

The write side remediation uses: ``POST /projects/:id/repository/commits`` (actions create /
update / delete / move / chmod, text or base64; ``start_branch`` / ``start_sha``; ``force``;
GitLab's 400s for a file that is or is not there), branches (create, delete), ``GET
…/repository/compare``, merge requests (list with ``state`` / ``source_branch``, create with
409 when one is open for the source branch, ``PUT`` with ``state_event``) and their notes.
Writes need the ``api`` scope (``read_api`` gets 403 ``insufficient_scope``), the Developer
role, a project that is not archived and, on a protected branch, its push access level.
A person's actions: ``push(..., branch=)``, ``open_merge_request``, ``close_merge_request``.

Quick use::

    forge = FakeGitLab()
    forge.add_group("acme/platform/sre", tier="premium")
    forge.add_project("acme/platform", "api", files={"README.md": "# hi"})
    forge.protect_branch("acme/platform/api", "main")
    with forge.running():
        gl = forge.client()            # a real gitlab.Gitlab pointed at the fake
        gl.projects.get("acme/platform/api").protectedbranches.list(get_all=True)

or the ``gitlab_forge`` pytest fixture at the end of this module (started, empty, with the
personal access token ``DEFAULT_TOKEN``: scopes ``read_api``, Developer everywhere).

Fidelity notes (what differs from GitLab, on purpose):

* URL-encoded ids (``acme%2Fsub%2Fp``) are read from the raw request target (``RAW_URI``).
* The licence tier is that of the top-level group (GitLab.com licenses the root namespace).
* ETags (weak, ``W/"…"``) are sent on every ``200`` answer to a ``GET``, as GitLab's
  Rack::ETag middleware does; ``If-None-Match`` gives ``304``.  Unlike GitLab (whose
  Rack::Attack throttle counts every request), a ``304`` is not counted against the limit.
* Rate limit: ``rate_limit`` requests per token per ``rate_limit_window`` seconds (60);
  ``RateLimit-Name/Limit/Observed/Remaining/Reset/ResetTime`` on every answer; when
  exhausted ``429`` ``Retry later`` with ``Retry-After``.  ``401`` answers are not counted.
* CI lint parses the YAML only: ``include:`` is not resolved, ``extends`` / rules are not
  evaluated; ``merged_yaml`` is the content as sent.
* Job tokens (``JOB-TOKEN``) may read only their projects' ``/projects/:id`` and
  ``/repository/*`` endpoints; elsewhere they are ignored (the request is anonymous).
* GraphQL runs with graphql-core against the hand-written subset in ``gitlab_schema.graphql``
  (see its header for the deviations); no complexity limit.
* Keyset pagination of the tree uses the last entry's id (its git sha) as ``page_token``.
"""

from __future__ import annotations

import base64
import email.utils
import fnmatch
import functools
import hashlib
import json
import math
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
    MODE_EXECUTABLE,
    MODE_FILE,
    MODE_TREE,
    GitSnapshot,
    Signature,
    TreeEntry,
    build_snapshot,
    commit_sha,
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
    import gitlab
    from graphql import GraphQLSchema
    from werkzeug.serving import BaseWSGIServer

SCHEMA_PATH = Path(__file__).resolve().parent / "gitlab_schema.graphql"
DEFAULT_TOKEN = "glpat-test-token-0000000000"
VERSION = "17.5.0-ee"
_BASE_TIME = 1_577_836_800  # 2020-01-01T00:00:00Z
_MAX_PER_PAGE = 100
_DEFAULT_PER_PAGE = 20

ACCESS_LEVEL_DESCRIPTIONS = {
    0: "No one",
    10: "Guests",
    20: "Reporters",
    30: "Developers + Maintainers",
    40: "Maintainers",
    50: "Owners",
    60: "Admins",
}

WSGIEnviron = dict[str, Any]
StartResponse = Callable[..., Any]
Json = Any


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))


def _truthy(value: str | None) -> bool | None:
    """GitLab's Grape booleans: ``true`` / ``True`` / ``1`` (python-gitlab sends ``True``)."""
    if value is None or value == "":
        return None
    return value.strip().lower() in ("true", "1", "yes", "t")


def _is_binary(data: bytes) -> bool:
    if b"\0" in data[:8000]:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


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


@dataclass
class ProtectedBranch:
    id: int
    name: str
    push_access_level: int = 40
    merge_access_level: int = 30
    allow_force_push: bool = False
    code_owner_approval_required: bool = False


@dataclass
class ApprovalRule:
    id: int
    name: str
    approvals_required: int = 1
    rule_type: str = "regular"
    branches: list[str] = field(default_factory=list)  # protected branch names; [] = all
    applies_to_all_protected_branches: bool = False


@dataclass
class Person:
    """Who wrote a merge request or a note: the token's user or a person (test helpers)."""

    id: int
    username: str
    name: str


@dataclass
class Note:
    id: int
    body: str
    author: Person
    created: int
    system: bool = False  # GitLab's own notes ("closed", "reopened")


@dataclass
class MergeRequest:
    id: int
    iid: int
    title: str
    description: str
    source_branch: str
    target_branch: str
    author: Person
    created: int
    updated: int
    sha: str  # the source branch head when last seen (kept once the branch is gone)
    state: str = "opened"  # opened | closed | merged
    labels: list[str] = field(default_factory=list)
    remove_source_branch: bool = False
    closed_at: int | None = None
    closed_by: Person | None = None
    notes: list[Note] = field(default_factory=list)


@dataclass
class Group:
    id: int
    full_path: str
    name: str
    tier: str = "free"
    visibility: str = "private"
    parent: Group | None = None
    created: int = _BASE_TIME

    @property
    def path(self) -> str:
        return self.full_path.rsplit("/", 1)[-1]

    @property
    def root(self) -> Group:
        group = self
        while group.parent is not None:
            group = group.parent
        return group

    @property
    def premium(self) -> bool:
        return self.root.tier in ("premium", "ultimate")

    @property
    def full_name(self) -> str:
        names = []
        group: Group | None = self
        while group is not None:
            names.append(group.name)
            group = group.parent
        return " / ".join(reversed(names))


@dataclass
class Project:
    id: int
    group: Group
    name: str
    default_branch: str = "main"
    archived: bool = False
    forked: bool = False
    visibility: str = "private"
    topics: list[str] = field(default_factory=list)
    description: str | None = None
    created: int = _BASE_TIME
    branches: dict[str, str] = field(default_factory=dict)  # name -> commit sha
    commits: dict[str, Commit] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, list[TreeEntry]] = field(default_factory=dict)
    protected: list[ProtectedBranch] = field(default_factory=list)
    approval_rules: list[ApprovalRule] = field(default_factory=list)
    last_activity: int = _BASE_TIME
    merge_requests: list[MergeRequest] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.name

    @property
    def full_path(self) -> str:
        return f"{self.group.full_path}/{self.name}"

    @property
    def empty(self) -> bool:
        return not self.branches

    def head(self, branch: str | None = None) -> Commit | None:
        sha = self.branches.get(branch or self.default_branch)
        return self.commits.get(sha) if sha else None

    def resolve(self, ref: str | None) -> Commit | None:
        """A branch name, ``refs/heads/x``, ``HEAD`` or a (>= 7 hex digit) commit sha."""
        if ref in (None, "", "HEAD"):
            return self.head()
        assert ref is not None
        ref = ref.removeprefix("refs/heads/")
        if ref in self.branches:
            return self.commits[self.branches[ref]]
        if ref in self.commits:
            return self.commits[ref]
        if len(ref) >= 7:
            found = [c for s, c in self.commits.items() if s.startswith(ref)]
            if len(found) == 1:
                return found[0]
        return None

    def protection(self, branch: str) -> ProtectedBranch | None:
        for prot in self.protected:
            if prot.name == branch:
                return prot
        for prot in self.protected:
            if fnmatch.fnmatchcase(branch, prot.name):
                return prot
        return None

    def last_commit_for(self, commit: Commit, path: str) -> Commit:
        """The newest commit, from ``commit`` back, that changed ``path``."""
        current = commit
        blob = current.snapshot.file_paths.get(path)
        while current.parents:
            parent = self.commits[current.parents[0]]
            if parent.snapshot.file_paths.get(path) != blob:
                return current
            current = parent
        return current


@dataclass
class Token:
    value: str
    kind: str = "personal"  # personal | group | project | job | anonymous
    scopes: tuple[str, ...] = ("read_api",)
    access_level: int = 30
    projects: tuple[str, ...] | None = None  # project or group full paths; None: everything
    user_id: int = 1

    @property
    def username(self) -> str:
        if self.kind in ("group", "project"):
            digest = hashlib.md5(self.value.encode()).hexdigest()[:8]
            return f"{self.kind}_{self.user_id}_bot_{digest}"
        return "governance-bot" if self.kind != "anonymous" else ""

    def has_scope(self, *names: str) -> bool:
        return any(n in self.scopes for n in names)

    def covers(self, full_path: str) -> bool:
        if self.projects is None:
            return True
        return any(full_path == p or full_path.startswith(p + "/") for p in self.projects)


_ANONYMOUS = Token("", kind="anonymous", scopes=(), access_level=0)
# The person behind the test helpers that act in GitLab's web interface.
PERSON = Person(7, "a-person", "A Person")


@dataclass
class Bucket:
    limit: int
    window_start: float
    used: int = 0


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # decoded, without /api/v4 and the query ("/api/graphql" for GraphQL)
    raw_path: str  # as sent, %2F kept
    query: str
    status: int  # 0: the connection was dropped (fault "reset")
    counted: bool  # counted against the rate limit
    token: str | None
    graphql_query: str = ""
    fault: str | None = None


class HttpError(Exception):
    def __init__(
        self,
        status: int,
        message: str | None = None,
        *,
        body: Json = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message or str(status))
        self.status = status
        self.body = body if body is not None else {"message": message}
        self.headers = dict(headers or {})


def _not_found(what: str) -> HttpError:
    return HttpError(404, f"404 {what} Not Found")


_FORBIDDEN = HttpError(403, "403 Forbidden")
_INSUFFICIENT_SCOPE = {
    "error": "insufficient_scope",
    "error_description": (
        "The request requires higher privileges than provided by the access token."
    ),
    "scope": "api read_api",
}





@dataclass
class _Req:
    method: str
    path: str
    segments: list[str]
    query: dict[str, str]
    raw_query: str
    api: str  # scheme://host/api/v4
    root: str  # scheme://host
    headers: dict[str, str]
    body: bytes
    token: Token = field(default_factory=lambda: _ANONYMOUS)

    def q(self, name: str, default: str | None = None) -> str | None:
        return self.query.get(name, default)


Answer = tuple[int, Json, dict[str, str]]


# --------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------


class FakeGitLab(LoopbackServer):
    """See the module docstring.  Thread-safe; one lock serialises request handling."""

    thread_name = "fake-gitlab"

    def __init__(
        self,
        *,
        rate_limit: int = 2000,
        rate_limit_window: float = 60.0,
        default_token: str | None = DEFAULT_TOKEN,
    ) -> None:
        self.rate_limit = rate_limit
        self.rate_limit_window = rate_limit_window
        self.groups: dict[str, Group] = {}
        self.projects: dict[str, Project] = {}
        self._groups_by_id: dict[int, Group] = {}
        self._projects_by_id: dict[int, Project] = {}
        self.tokens: dict[str, Token] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.buckets: dict[str, Bucket] = {}
        self.server_errors: list[str] = []  # tracebacks of crashes inside the fake
        # git smart HTTP (clone / fetch): free of API rate limit, counted apart
        self.git = GitHttp()
        self.lock = threading.RLock()
        self._ids = 100
        self._clock = 1_700_000_000
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        if default_token:
            self.add_token(default_token)

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """Base URL for python-gitlab (which adds ``/api/v4``)."""
        return super().url

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/api/graphql"

    def client(self, token: str | None = DEFAULT_TOKEN, **kwargs: Any) -> gitlab.Gitlab:
        """A real ``gitlab.Gitlab`` for this fake, without transient-error retries."""
        import gitlab

        options: dict[str, Any] = {"retry_transient_errors": False}
        if token is not None:
            options["private_token"] = token
        options.update(kwargs)
        return gitlab.Gitlab(self.url, **options)

    # ---------------------------------------------------------------- builders

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _base(self) -> str:
        return self.url if self._server is not None else "http://127.0.0.1"

    def add_group(
        self, full_path: str, *, tier: str = "free", visibility: str = "private"
    ) -> dict[str, Any]:
        """Add a group (parents created as needed, with the same tier and visibility).  The
        tier that counts is the top-level group's: ``free`` or ``premium``."""
        if tier not in ("free", "premium", "ultimate"):
            raise ValueError(f"unknown tier {tier!r}")
        with self.lock:
            parts = [p for p in full_path.strip("/").split("/") if p]
            if not parts:
                raise ValueError("empty group path")
            parent: Group | None = None
            for i in range(len(parts)):
                path = "/".join(parts[: i + 1])
                group = self.groups.get(path)
                if group is None:
                    group = Group(
                        id=self._next_id(), full_path=path, name=parts[i].replace("-", " ").title(),
                        tier=tier, visibility=visibility, parent=parent,
                        created=_BASE_TIME + 3600 * len(self.groups),
                    )
                    self.groups[path] = group
                    self._groups_by_id[group.id] = group
                elif i == len(parts) - 1 and tier != "free":
                    group.tier = tier  # upgrade an existing group; "free" never downgrades
                parent = group
            assert parent is not None
            return self._group_json(self._base(), parent)

    def group(self, full_path: str) -> Group:
        return self.groups[full_path]

    def project(self, full_path: str) -> Project:
        return self.projects[full_path]

    def add_project(
        self,
        namespace: str,
        name: str,
        *,
        files: Mapping[str, str | bytes] | None = None,
        default_branch: str = "main",
        archived: bool = False,
        forked: bool = False,
        visibility: str = "private",
        empty: bool = False,
        topics: Sequence[str] = (),
        description: str | None = None,
        modes: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Add a project; ``files`` default to a README.  ``modes`` maps a path to a git mode
        such as ``"100755"``."""
        with self.lock:
            if namespace not in self.groups:
                self.add_group(namespace)
            group = self.groups[namespace]
            full = f"{namespace}/{name}"
            if full in self.projects:
                raise ValueError(f"project {full} exists")
            project = Project(
                id=self._next_id(), group=group, name=name, default_branch=default_branch,
                archived=archived, forked=forked, visibility=visibility, topics=list(topics),
                description=description, created=_BASE_TIME + 86_400 * len(self.projects),
            )
            project.last_activity = project.created
            self.projects[full] = project
            self._projects_by_id[project.id] = project
            if not empty:
                content = dict(files) if files is not None else {"README.md": f"# {name}\n"}
                self._commit(project, content, replace=True, modes=modes, message="Initial commit")
            return self._project_json(self._base(), project, full=True)

    def push(
        self,
        project: str,
        files: Mapping[str, str | bytes],
        delete: Sequence[str] = (),
        *,
        branch: str | None = None,
        message: str = "update",
    ) -> str:
        """Commit ``files`` (merged into the branch's tree; ``delete`` removes paths) on
        ``branch`` (the default branch) and return the new head sha."""
        with self.lock:
            proj = self.projects[project]
            return self._commit(proj, files, delete=delete, branch=branch, message=message)

    def _commit(
        self,
        project: Project,
        files: Mapping[str, str | bytes],
        *,
        delete: Sequence[str] = (),
        branch: str | None = None,
        message: str = "update",
        replace: bool = False,
        modes: Mapping[str, str] | None = None,
    ) -> str:
        branch = branch or project.default_branch
        parent = project.head(branch)
        current: dict[str, bytes] = {}
        all_modes: dict[str, str] = {}
        if parent is not None and not replace:
            snap = parent.snapshot
            current = {p: snap.blobs[sha] for p, (_, sha) in snap.file_paths.items()}
            all_modes = {p: m for p, (m, _) in snap.file_paths.items()}
        all_modes.update(modes or {})
        for path, value in files.items():
            current[path.strip("/")] = value.encode("utf-8") if isinstance(value, str) else value
        for path in delete:
            current.pop(path.strip("/"), None)
        snapshot = build_snapshot(current, {p: m for p, m in all_modes.items() if p in current})
        self._clock += 60
        author = Signature(name="Fake GitLab", email="forge@example.invalid", timestamp=self._clock)
        parents = [parent.sha] if parent else []
        sha = commit_sha(snapshot.root, parents, author, author, message)
        project.commits[sha] = Commit(sha, snapshot.root, parents, message, author, snapshot)
        project.blobs.update(snapshot.blobs)
        project.trees.update(snapshot.trees)
        project.branches[branch] = sha
        project.last_activity = self._clock
        return sha

    def add_branch(self, project: str, branch: str, *, source: str | None = None) -> str:
        with self.lock:
            proj = self.projects[project]
            head = proj.head(source)
            if head is None:
                raise ValueError("cannot branch an empty repository")
            proj.branches[branch] = head.sha
            return head.sha

    def update_project(self, project: str, **attrs: Any) -> None:
        """Change attributes such as ``archived``, ``visibility``, ``topics``."""
        with self.lock:
            proj = self.projects[project]
            for key, value in attrs.items():
                if not hasattr(proj, key):
                    raise AttributeError(key)
                setattr(proj, key, value)

    def protect_branch(
        self,
        project: str,
        branch: str,
        *,
        push_access_level: int = 40,
        merge_access_level: int = 30,
        allow_force_push: bool = False,
        code_owner_approval_required: bool = False,
    ) -> None:
        """Protect ``branch`` (a name or a wildcard such as ``release/*``)."""
        with self.lock:
            proj = self.projects[project]
            proj.protected = [p for p in proj.protected if p.name != branch]
            proj.protected.append(
                ProtectedBranch(
                    self._next_id(), branch, push_access_level, merge_access_level,
                    allow_force_push, code_owner_approval_required,
                )
            )

    def unprotect_branch(self, project: str, branch: str) -> None:
        with self.lock:
            proj = self.projects[project]
            proj.protected = [p for p in proj.protected if p.name != branch]

    def add_approval_rule(
        self,
        project: str,
        name: str,
        approvals_required: int = 1,
        *,
        branches: Sequence[str] = (),
        applies_to_all_protected_branches: bool = False,
    ) -> None:
        """A merge request approval rule (a Premium feature: on a free tier the approval
        endpoints answer 403 and GraphQL shows no rules).  Without ``branches`` it applies to
        all branches, as a rule created in GitLab's project settings."""
        with self.lock:
            proj = self.projects[project]
            proj.approval_rules.append(
                ApprovalRule(
                    self._next_id(), name, approvals_required, branches=list(branches),
                    applies_to_all_protected_branches=applies_to_all_protected_branches,
                )
            )

    def merge_requests(self, project: str) -> list[MergeRequest]:
        """The project's merge requests, oldest first (the fake's own objects)."""
        with self.lock:
            return list(self.projects[project].merge_requests)

    def open_merge_request(
        self, project: str, source_branch: str, *, title: str = "A person's change",
        description: str = "", target_branch: str | None = None,
    ) -> int:
        """A person opens a merge request; returns its iid."""
        with self.lock:
            proj = self.projects[project]
            mr = self._new_merge_request(
                proj, source_branch, target_branch or proj.default_branch, title, description,
                PERSON)
            return mr.iid

    def close_merge_request(self, project: str, iid: int) -> None:
        """A person closes a merge request (no marker in its description)."""
        with self.lock:
            proj = self.projects[project]
            mr = next(m for m in proj.merge_requests if m.iid == iid)
            self._set_state(proj, mr, "close", PERSON)

    def add_token(
        self,
        value: str,
        *,
        kind: str = "personal",
        scopes: Sequence[str] = ("read_api",),
        access_level: int = 30,
        projects: Sequence[str] | None = None,
    ) -> None:
        """Register a token.  ``kind``: ``personal``, ``group``, ``project`` or ``job``
        (sent as ``JOB-TOKEN``).  ``projects``: the project or group full paths it may see
        (``None``: everything; required for project and job tokens).  ``access_level``: the
        role it has there (10 guest, 20 reporter, 30 developer, 40 maintainer, 50 owner)."""
        if kind not in ("personal", "group", "project", "job"):
            raise ValueError(f"unknown token kind {kind!r}")
        if kind in ("project", "job") and not projects:
            raise ValueError(f"a {kind} token needs projects=")
        with self.lock:
            self.tokens[value] = Token(
                value, kind, tuple(scopes), access_level,
                tuple(projects) if projects is not None else None, user_id=self._next_id(),
            )

    def inject_fault(
        self,
        kind: str,
        path: str = "*",
        count: int | None = 1,
        delay_ms: int = 0,
        *,
        method: str | None = None,
        retry_after: int = 1,
    ) -> Fault:
        """Make the next ``count`` requests (``None``: all) whose decoded path (without
        ``/api/v4`` and query; ``fnmatch`` glob, ``*`` crosses ``/``; GraphQL is
        ``/api/graphql``) matches fail.  Kinds: ``"500"``, ``"502"``, ``"503"`` (GitLab's
        JSON 500, the load balancer's HTML 502 / 503), ``"reset"`` (connection closed
        without an answer), ``"429"`` (``Retry later`` with ``Retry-After: retry_after``),
        ``"latency"`` (sleep ``delay_ms`` and then answer normally)."""
        if kind not in {"500", "502", "503", "reset", "429", "latency"}:
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind, path, method=method, remaining=count, latency_ms=delay_ms,
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
        status: int | None = None,
    ) -> int:
        """How many requests were seen (by default only those counted against the rate
        limit); ``path`` is an ``fnmatch`` glob over the decoded path."""
        with self.lock:
            return sum(
                1
                for r in self.requests
                if (r.counted or not counted_only)
                and (method is None or r.method == method.upper())
                and (path is None or fnmatch.fnmatchcase(r.path, path))
                and (status is None or r.status == status)
            )

    def reset_counts(self) -> None:
        with self.lock:
            self.requests.clear()

    def reset_rate_limits(self) -> None:
        """Start a fresh rate-limit window for every token."""
        with self.lock:
            self.buckets.clear()

    def _bucket(self, token: Token) -> Bucket:
        key = token.value or "anonymous"
        now = time.time()
        bucket = self.buckets.get(key)
        if bucket is None or now >= bucket.window_start + self.rate_limit_window:
            bucket = Bucket(limit=self.rate_limit, window_start=now)
            self.buckets[key] = bucket
        bucket.limit = self.rate_limit
        return bucket

    def _rate_headers(self, bucket: Bucket) -> dict[str, str]:
        reset = bucket.window_start + self.rate_limit_window
        return {
            "RateLimit-Name": "throttle_authenticated_api",
            "RateLimit-Limit": str(bucket.limit),
            "RateLimit-Observed": str(bucket.used),
            "RateLimit-Remaining": str(max(0, bucket.limit - bucket.used)),
            "RateLimit-Reset": str(math.ceil(reset)),
            "RateLimit-ResetTime": email.utils.formatdate(reset, usegmt=True),
        }

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
        graphql = raw_path.rstrip("/") == "/api/graphql"
        if graphql:
            route = "/api/graphql"
        elif raw_path.startswith("/api/v4/") or raw_path == "/api/v4":
            route = raw_path[len("/api/v4") :] or "/"
        else:
            route = raw_path
        segments = [urllib.parse.unquote(s) for s in route.strip("/").split("/")]
        decoded = "/" + "/".join(segments) if route.strip("/") else "/"
        query = {
            k: v[-1] for k, v in urllib.parse.parse_qs(raw_query, keep_blank_values=True).items()
        }
        scheme = environ.get("wsgi.url_scheme", "http")
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        req = _Req(
            method=method, path=decoded, segments=segments, query=query, raw_query=raw_query,
            api=f"{scheme}://{host}/api/v4", root=f"{scheme}://{host}", headers=headers, body=body,
        )

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
            token: Token = _ANONYMOUS
            counted = False
            content_type = "application/json"
            data: bytes
            out_headers: dict[str, str] = {}
            try:
                token = self._authenticate(req, graphql)
                req.token = token
                bucket = self._bucket(token)
                if bucket.used >= bucket.limit:
                    retry = max(1, math.ceil(bucket.window_start + self.rate_limit_window
                                             - time.time()))
                    raise HttpError(429, body=b"Retry later\n", headers={"Retry-After": str(retry)})
                counted = True
                if graphql:
                    status, payload, extra = self._graphql(req)
                else:
                    status, payload, extra = self._rest(req)
            except HttpError as err:
                status, payload, extra = err.status, err.body, err.headers
                counted = status not in (401, 429)
            except Exception as exc:
                import traceback

                self.server_errors.append(traceback.format_exc())
                status, payload, extra = 500, {"message": f"fake GitLab crashed: {exc!r}"}, {}
                counted = False
            if isinstance(payload, bytes):
                data = payload
                content_type = extra.pop("Content-Type", "text/plain; charset=utf-8")
            else:
                data = json.dumps(payload).encode("utf-8")
            out_headers["Content-Type"] = content_type
            out_headers["X-Request-Id"] = f"fake-{len(self.requests):08d}"
            out_headers["Cache-Control"] = "max-age=0, private, must-revalidate"
            out_headers["Vary"] = "Origin"
            if method in ("GET", "HEAD") and status == 200:
                etag = 'W/"' + hashlib.md5(data).hexdigest() + '"'
                out_headers["ETag"] = etag
                if etag_matches(headers.get("if-none-match", ""), etag):
                    status, data, counted = 304, b"", False
                    out_headers.pop("Content-Type", None)
            bucket = self._bucket(token)
            if counted:
                bucket.used += 1
            out_headers.update(self._rate_headers(bucket))
            out_headers.update(extra)
            self.requests.append(
                RecordedRequest(
                    method=method, path=req.path, raw_path=raw_path, query=raw_query,
                    status=status, counted=counted, token=token.value or None,
                    graphql_query=_graphql_query_text(req) if graphql else "",
                )
            )
        if method == "HEAD":
            out_headers["Content-Length"] = str(len(data))
            data = b""
        else:
            out_headers["Content-Length"] = str(len(data))
        start_response(status_line(status), list(out_headers.items()))
        return [data]

    def _fault_response(
        self, req: _Req, fault: Fault, raw_path: str, start_response: StartResponse
    ) -> Iterable[bytes]:
        status = 0 if fault.kind == "reset" else int(fault.kind)
        token = (
            req.headers.get("private-token")
            or req.headers.get("job-token")
            or bearer_token(req.headers.get("authorization", ""))
        )
        with self.lock:
            self.requests.append(
                RecordedRequest(
                    method=req.method, path=req.path, raw_path=raw_path, query=req.raw_query,
                    status=status, counted=False, token=token, fault=fault.kind,
                    graphql_query=_graphql_query_text(req) if req.path == "/api/graphql" else "",
                )
            )
        if fault.kind == "reset":
            raise ResetConnection()
        headers: dict[str, str]
        if fault.kind == "429":
            data = b"Retry later\n"
            headers = {"Content-Type": "text/plain", "Retry-After": str(fault.retry_after)}
        elif fault.kind == "500":
            data = json.dumps({"message": "500 Internal Server Error"}).encode()
            headers = {"Content-Type": "application/json"}
        else:
            phrase = "Bad Gateway" if status == 502 else "Service Unavailable"
            data = (
                f"<!DOCTYPE html>\n<html><head><title>{phrase} ({status})</title></head>"
                f"<body><h1>{status}</h1><p>Whoops, GitLab is taking too much time to respond."
                "</p></body></html>\n"
            ).encode()
            headers = {"Content-Type": "text/html; charset=utf-8"}
        headers["Content-Length"] = str(len(data))
        start_response(status_line(status), list(headers.items()))
        return [data]

    # ---------------------------------------------------------------- auth and visibility

    def _authenticate(self, req: _Req, graphql: bool) -> Token:
        private = req.headers.get("private-token")
        bearer = req.headers.get("authorization", "")
        job = req.headers.get("job-token")
        credential: str | None = None
        if private:
            credential = private.strip()
        elif bearer:
            scheme, _, value = bearer.partition(" ")
            if scheme.lower() != "bearer":
                raise HttpError(401, "401 Unauthorized")
            credential = value.strip()
        elif job:
            token = self.tokens.get(job.strip())
            if token is None or token.kind != "job":
                raise HttpError(401, "401 Unauthorized")
            # Job tokens are honoured on a few endpoints only; elsewhere they are ignored.
            segs = req.segments
            allowed = (
                not graphql
                and req.method in ("GET", "HEAD")
                and len(segs) >= 2
                and segs[0] == "projects"
                and (len(segs) == 2 or segs[2] == "repository")
            )
            return token if allowed else _ANONYMOUS
        if credential is None:
            return _ANONYMOUS
        token = self.tokens.get(credential)
        if token is None:
            if graphql:
                raise HttpError(401, body={"errors": [{"message": "Invalid token"}]})
            raise HttpError(401, "401 Unauthorized")
        return token

    def _require_scope(self, req: _Req, *, repository: bool = False) -> None:
        """``api`` / ``read_api`` read everything; ``read_repository`` reads repository
        files; a token without them gets 403 insufficient_scope."""
        token = req.token
        if token.kind in ("anonymous", "job"):
            return
        if token.has_scope("api", "read_api"):
            return
        if repository and token.has_scope("read_repository"):
            return
        raise HttpError(403, body=dict(_INSUFFICIENT_SCOPE))

    def _project_visible(self, token: Token, project: Project) -> bool:
        if project.visibility == "public":
            return True
        if token.kind == "anonymous":
            return False
        if project.visibility == "internal" and token.kind == "personal":
            return True
        return token.covers(project.full_path)

    def _group_visible(self, token: Token, group: Group) -> bool:
        if group.visibility == "public":
            return True
        if token.kind == "anonymous":
            return False
        if group.visibility == "internal" and token.kind == "personal":
            return True
        if token.kind in ("project", "job"):
            return False
        if token.projects is None:
            return True
        return any(
            group.full_path == p
            or group.full_path.startswith(p + "/")
            or p.startswith(group.full_path + "/")
            for p in token.projects
        )

    def _role(self, token: Token, project: Project) -> int:
        """The token's role in the project (0: none; public projects read as guests)."""
        if token.kind != "anonymous" and token.covers(project.full_path):
            return token.access_level
        return 0

    def _git_repository(self, path: str, credential: str | None) -> GitRepository | int:
        """The project a git client asks for: any username with a token as the password
        (GitLab's rule for personal, project and group tokens); 401 without one, 404 when
        the token cannot read the code."""
        token = self.tokens.get(credential or "")
        if token is None:
            return 401
        project = self.projects.get(path)
        if project is None or not self._can_read_code(token, project):
            return 404
        commits = {sha: GitCommit(c.sha, c.tree, c.parents, c.message, c.author)
                   for sha, c in project.commits.items()}
        return GitRepository(commits, project.trees, project.blobs, project.branches,
                             project.default_branch)

    def stop(self) -> None:
        super().stop()
        self.git.close()

    def _can_read_code(self, token: Token, project: Project) -> bool:
        return project.visibility != "private" or self._role(token, project) >= 20

    def _find_group(self, req: _Req, ident: str) -> Group:
        group: Group | None = None
        if ident.isdigit():
            group = self._groups_by_id.get(int(ident))
        else:
            group = self.groups.get(ident) or {k.lower(): v for k, v in self.groups.items()}.get(
                ident.lower()
            )
        if group is None or not self._group_visible(req.token, group):
            raise _not_found("Group")
        return group

    def _find_project(self, req: _Req, ident: str) -> Project:
        project: Project | None = None
        if ident.isdigit():
            project = self._projects_by_id.get(int(ident))
        else:
            project = self.projects.get(ident) or {
                k.lower(): v for k, v in self.projects.items()
            }.get(ident.lower())
        if project is None or not self._project_visible(req.token, project):
            raise _not_found("Project")
        return project

    # ---------------------------------------------------------------- pagination

    def _paginate(self, req: _Req, items: Sequence[Any]) -> tuple[Sequence[Any], dict[str, str]]:
        try:
            per_page = int(req.q("per_page") or _DEFAULT_PER_PAGE)
        except ValueError:
            per_page = _DEFAULT_PER_PAGE
        per_page = max(1, min(_MAX_PER_PAGE, per_page))
        try:
            page = max(1, int(req.q("page") or 1))
        except ValueError:
            page = 1
        total = len(items)
        last = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]

        def link(n: int, rel: str) -> str:
            params = dict(req.query)
            params["page"] = str(n)
            params["per_page"] = str(per_page)
            return f'<{req.api}{_quote_path(req)}?{urllib.parse.urlencode(params)}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
        links.append(link(1, "first"))
        links.append(link(last, "last"))
        headers = {
            "Link": ", ".join(links),
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(total),
            "X-Total-Pages": str(last),
            "X-Next-Page": str(page + 1) if page < last else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
        }
        return chunk, headers

    # ---------------------------------------------------------------- REST routes

    def _rest(self, req: _Req) -> Answer:
        s = req.segments
        n = len(s)
        token = req.token
        if req.method == "POST" and n == 4 and s[0] == "projects" and s[2:] == ["ci", "lint"]:
            self._require_scope(req)
            return self._ci_lint(req, self._find_project(req, s[1]), post=True)
        if req.method not in ("GET", "HEAD") and not (n >= 3 and s[0] == "projects"):
            raise HttpError(405, "405 Method Not Allowed")  # writes: see _write_route
        if s == ["version"]:
            if token.kind == "anonymous":
                raise HttpError(401, "401 Unauthorized")
            return 200, {"version": VERSION, "revision": "fa4e1f5c", "kas": {"enabled": False},
                         "enterprise": True}, {}
        if s == ["user"]:
            if token.kind in ("anonymous", "job"):
                raise HttpError(401, "401 Unauthorized")
            if not token.has_scope("api", "read_api", "read_user"):
                raise HttpError(403, body=dict(_INSUFFICIENT_SCOPE))
            return 200, self._user_json(req, token), {}
        if n >= 2 and s[0] == "groups":
            self._require_scope(req)
            group = self._find_group(req, s[1])
            rest = s[2:]
            if not rest:
                body = self._group_json(req.root, group)
                if _truthy(req.q("with_projects")) is not False:
                    direct = [p for p in self._group_projects(req, group, subgroups=False)][:100]
                    body["projects"] = [self._project_json(req.root, p) for p in direct]
                    body["shared_projects"] = []
                return 200, body, {}
            if rest == ["subgroups"]:
                subs = [g for g in self.groups.values() if g.parent is group
                        and self._group_visible(token, g)]
                return self._list(req, [self._group_json(req.root, g) for g in
                                        sorted(subs, key=lambda g: g.name.lower())])
            if rest == ["descendant_groups"]:
                subs = [g for g in self.groups.values()
                        if g.full_path.startswith(group.full_path + "/")
                        and self._group_visible(token, g)]
                return self._list(req, [self._group_json(req.root, g) for g in
                                        sorted(subs, key=lambda g: g.full_path.lower())])
            if rest == ["projects"]:
                return self._group_projects_route(req, group)
            raise HttpError(404, "404 Not Found")
        if n >= 2 and s[0] == "projects":
            project = self._find_project(req, s[1])
            return self._project_route(req, project, s[2:])
        raise HttpError(404, "404 Not Found")

    def _list(self, req: _Req, items: Sequence[Any]) -> Answer:
        chunk, headers = self._paginate(req, items)
        return 200, list(chunk), headers

    def _group_projects(self, req: _Req, group: Group, *, subgroups: bool) -> list[Project]:
        out = []
        for project in self.projects.values():
            inside = project.group is group or (
                subgroups and project.group.full_path.startswith(group.full_path + "/")
            )
            if inside and self._project_visible(req.token, project):
                out.append(project)
        return out

    def _group_projects_route(self, req: _Req, group: Group) -> Answer:
        projects = self._group_projects(
            req, group, subgroups=bool(_truthy(req.q("include_subgroups")))
        )
        archived = _truthy(req.q("archived"))
        if archived is not None:
            projects = [p for p in projects if p.archived == archived]
        visibility = req.q("visibility")
        if visibility:
            projects = [p for p in projects if p.visibility == visibility]
        search = req.q("search")
        if search:
            projects = [p for p in projects if search.lower() in p.name.lower()]
        order_by = req.q("order_by") or "created_at"
        keys: dict[str, Callable[[Project], Any]] = {
            "id": lambda p: p.id,
            "name": lambda p: p.name.lower(),
            "path": lambda p: p.path.lower(),
            "created_at": lambda p: (p.created, p.id),
            "updated_at": lambda p: (p.last_activity, p.id),
            "last_activity_at": lambda p: (p.last_activity, p.id),
            "similarity": lambda p: (p.created, p.id),
        }
        if order_by not in keys:
            raise HttpError(400, body={"error": "order_by does not have a valid value"})
        sort = req.q("sort") or ("asc" if order_by in ("name", "path") else "desc")
        projects.sort(key=keys[order_by], reverse=sort == "desc")
        simple = bool(_truthy(req.q("simple")))
        return self._list(
            req, [self._project_json(req.root, p, simple=simple) for p in projects]
        )

    def _project_route(self, req: _Req, project: Project, rest: list[str]) -> Answer:
        token = req.token
        n = len(rest)
        repository = rest[:1] == ["repository"]
        self._require_scope(req, repository=repository and rest[1:2] == ["files"])
        if req.method not in ("GET", "HEAD"):
            return self._write_route(req, project, rest)
        if not rest:
            return 200, self._project_json(req.root, project, full=True, token=token), {}
        if token.kind == "job" and not repository:
            raise HttpError(401, "401 Unauthorized")
        if repository:
            if not self._can_read_code(token, project):
                raise _FORBIDDEN
            return self._repository_route(req, project, rest[1:])
        if rest == ["protected_branches"]:
            if self._role(token, project) < 30 and project.visibility == "private":
                raise _FORBIDDEN
            items = [self._protected_json(p) for p in project.protected]
            return self._list(req, items)
        if n == 2 and rest[0] == "protected_branches":
            for prot in project.protected:
                if prot.name == rest[1]:
                    return 200, self._protected_json(prot), {}
            raise _not_found("Protected Branch")
        if rest == ["approval_rules"]:
            self._require_premium(req, project)
            return self._list(req, [self._approval_rule_json(project, r)
                                    for r in project.approval_rules])
        if rest == ["approvals"]:
            self._require_premium(req, project)
            return 200, self._approvals_json(project), {}
        if rest == ["ci", "lint"]:
            return self._ci_lint(req, project, post=False)
        if rest[0] == "merge_requests":
            return self._merge_requests_route(req, project, rest[1:])
        raise HttpError(404, "404 Not Found")

    def _require_premium(self, req: _Req, project: Project) -> None:
        if not project.group.premium or self._role(req.token, project) < 30:
            raise _FORBIDDEN

    def _commit_for(self, req: _Req, project: Project, ref: str | None, what: str) -> Commit:
        commit = project.resolve(ref)
        if commit is None:
            raise _not_found(what)
        return commit

    def _repository_route(self, req: _Req, project: Project, rest: list[str]) -> Answer:
        n = len(rest)
        if rest == ["tree"]:
            return self._tree(req, project)
        if n >= 2 and rest[0] == "files":
            raw = rest[-1] == "raw" and n >= 3
            path = "/".join(rest[1:-1] if raw else rest[1:])
            ref = req.q("ref")
            if not ref and not raw:
                raise HttpError(400, body={"error": "ref is missing, ref is empty"})
            if project.empty:
                raise _not_found("File")
            commit = self._commit_for(req, project, ref, "Commit")
            entry = commit.snapshot.file_paths.get(path)
            if entry is None:
                raise _not_found("File")
            mode, sha = entry
            data = project.blobs[sha]
            last = project.last_commit_for(commit, path)
            gitlab_headers = {
                "X-Gitlab-Blob-Id": sha,
                "X-Gitlab-Commit-Id": commit.sha,
                "X-Gitlab-Content-Sha256": hashlib.sha256(data).hexdigest(),
                "X-Gitlab-Encoding": "base64",
                "X-Gitlab-File-Name": path.rsplit("/", 1)[-1],
                "X-Gitlab-File-Path": path,
                "X-Gitlab-Last-Commit-Id": last.sha,
                "X-Gitlab-Ref": ref or project.default_branch,
                "X-Gitlab-Size": str(len(data)),
                "X-Gitlab-Execute-Filemode": "true" if mode == "100755" else "false",
            }
            if raw:
                return 200, data, {**gitlab_headers, "Content-Type": _raw_type(data)}
            body = {
                "file_name": path.rsplit("/", 1)[-1],
                "file_path": path,
                "size": len(data),
                "encoding": "base64",
                "content": base64.b64encode(data).decode("ascii"),
                "content_sha256": hashlib.sha256(data).hexdigest(),
                "ref": ref,
                "blob_id": sha,
                "commit_id": commit.sha,
                "last_commit_id": last.sha,
                "execute_filemode": mode == "100755",
            }
            return 200, body, gitlab_headers if req.method == "HEAD" else {}
        if n == 3 and rest[0] == "blobs" and rest[2] == "raw":
            data_or_none = project.blobs.get(rest[1])
            if data_or_none is None:
                raise _not_found("Blob")
            return 200, data_or_none, {"Content-Type": _raw_type(data_or_none)}
        if n == 2 and rest[0] == "blobs":
            blob = project.blobs.get(rest[1])
            if blob is None:
                raise _not_found("Blob")
            return 200, {"size": len(blob), "encoding": "base64",
                         "content": base64.b64encode(blob).decode("ascii"), "sha": rest[1]}, {}
        if rest == ["branches"]:
            names = sorted(project.branches)
            return self._list(req, [self._branch_json(req, project, b) for b in names])
        if n == 2 and rest[0] == "branches":
            if rest[1] not in project.branches:
                raise _not_found("Branch")
            return 200, self._branch_json(req, project, rest[1]), {}
        if rest == ["compare"]:
            return self._compare(req, project)
        raise HttpError(404, "404 Not Found")

    def _tree(self, req: _Req, project: Project) -> Answer:
        if project.empty:
            raise _not_found("Tree")
        commit = project.resolve(req.q("ref"))
        if commit is None:
            raise _not_found("Tree")
        path = (req.q("path") or "").strip("/")
        root = commit.snapshot.tree_paths.get(path)
        if root is None:
            raise _not_found("Tree")
        recursive = bool(_truthy(req.q("recursive")))
        entries: list[dict[str, Any]] = []

        def item(entry: TreeEntry, full: str) -> dict[str, Any]:
            return {"id": entry.sha, "name": entry.name, "type": entry.type, "path": full,
                    "mode": entry.mode.rjust(6, "0")}

        def walk(tree_sha: str, prefix: str) -> None:
            for entry in project.trees[tree_sha]:
                full = f"{prefix}{entry.name}"
                entries.append(item(entry, full))
                if entry.mode == MODE_TREE:
                    walk(entry.sha, full + "/")

        if recursive:
            walk(root, f"{path}/" if path else "")
        else:
            level = project.trees[root]
            order = {"tree": 0, "blob": 1, "commit": 2}
            for entry in sorted(level, key=lambda e: (order[e.type], e.name)):
                entries.append(item(entry, f"{path}/{entry.name}" if path else entry.name))
        if req.q("pagination") == "keyset":
            return self._keyset(req, entries)
        return self._list(req, entries)

    def _keyset(self, req: _Req, entries: list[dict[str, Any]]) -> Answer:
        try:
            per_page = max(1, min(_MAX_PER_PAGE, int(req.q("per_page") or _DEFAULT_PER_PAGE)))
        except ValueError:
            per_page = _DEFAULT_PER_PAGE
        start = 0
        token = req.q("page_token")
        if token:
            found = next((i for i, e in enumerate(entries) if e["id"] == token), None)
            if found is None:
                raise HttpError(400, body={"error": "page_token is invalid"})
            start = found + 1
        chunk = entries[start : start + per_page]
        headers: dict[str, str] = {}
        if start + per_page < len(entries) and chunk:
            params = dict(req.query)
            params["page_token"] = chunk[-1]["id"]
            params["per_page"] = str(per_page)
            qs = urllib.parse.urlencode(params)
            headers["Link"] = f'<{req.api}{_quote_path(req)}?{qs}>; rel="next"'
        return 200, chunk, headers

    def _ci_lint(self, req: _Req, project: Project, *, post: bool) -> Answer:
        if self._role(req.token, project) < 30:
            raise _FORBIDDEN
        if post:
            try:
                body = json.loads(req.body or b"{}")
            except ValueError as exc:
                raise HttpError(400, body={"error": "content is missing"}) from exc
            content = body.get("content") if isinstance(body, dict) else None
            if not isinstance(content, str):
                raise HttpError(400, body={"error": "content is missing"})
        else:
            commit = project.resolve(req.q("content_ref") or req.q("sha"))
            blob = commit.snapshot.file_paths.get(".gitlab-ci.yml") if commit else None
            if blob is None:
                return 200, {"valid": False,
                             "errors": ["Please provide content of .gitlab-ci.yml"],
                             "warnings": [], "merged_yaml": None, "includes": None}, {}
            content = project.blobs[blob[1]].decode("utf-8", "replace")
        errors = _lint_yaml(content)
        return 200, {
            "valid": not errors,
            "errors": errors,
            "warnings": [],
            "merged_yaml": None if errors else content,
            "includes": [] if not errors else None,
        }, {}

    # ---------------------------------------------------------------- REST writes

    def _write_route(self, req: _Req, project: Project, rest: list[str]) -> Answer:
        """POST / PUT / DELETE under ``/projects/:id``: commits, branches, merge requests."""
        method, n = req.method, len(rest)
        if method == "POST" and rest == ["repository", "commits"]:
            return self._create_commit(req, project)
        if method == "POST" and rest == ["repository", "branches"]:
            return self._create_branch(req, project)
        if method == "DELETE" and n == 3 and rest[:2] == ["repository", "branches"]:
            return self._delete_branch(req, project, rest[2])
        if method == "POST" and rest == ["merge_requests"]:
            return self._create_merge_request(req, project)
        if method == "PUT" and n == 2 and rest[0] == "merge_requests":
            return self._update_merge_request(req, project, self._merge_request(project, rest[1]))
        if method == "POST" and n == 3 and rest[0] == "merge_requests" and rest[2] == "notes":
            return self._create_note(req, project, self._merge_request(project, rest[1]))
        raise HttpError(405, "405 Method Not Allowed")

    def _require_write(self, req: _Req, project: Project, level: int = 30) -> None:
        """Writes need the ``api`` scope (a ``read_api`` token gets 403 insufficient_scope),
        a project that is not archived and at least the role ``level`` (Developer)."""
        token = req.token
        if token.kind == "anonymous":
            raise HttpError(401, "401 Unauthorized")
        if not token.has_scope("api"):
            raise HttpError(403, body={**_INSUFFICIENT_SCOPE, "scope": "api"})
        if project.archived or self._role(token, project) < level:
            raise HttpError(403, "403 Forbidden")

    def _check_push(self, req: _Req, project: Project, branch: str, *, force: bool) -> None:
        """A protected branch's push rule (GitLab's pre-receive check)."""
        prot = project.protection(branch)
        if prot is None:
            return
        if prot.push_access_level == 0 or self._role(req.token, project) < prot.push_access_level:
            raise HttpError(403, "You are not allowed to push into this branch")
        if force and not prot.allow_force_push:
            raise HttpError(403, "You are not allowed to force push code to a protected branch "
                                 "on this project.")

    def _writer(self, token: Token) -> Person:
        bot = token.kind in ("group", "project")
        return Person(token.user_id, token.username,
                      f"{token.kind.title()} access token bot" if bot else "Governance Bot")

    def _create_commit(self, req: _Req, project: Project) -> Answer:
        """``POST /projects/:id/repository/commits``: one commit of every action, on
        ``branch`` (created from ``start_branch`` / ``start_sha``; ``force`` replaces it)."""
        self._require_write(req, project)
        params = _params(req)
        branch, message, actions = (params.get(k) for k in ("branch", "commit_message", "actions"))
        missing = [k for k, v in (("branch", branch), ("commit_message", message),
                                  ("actions", actions)) if not v]
        if missing:
            raise HttpError(400, body={"error": ", ".join(f"{k} is missing" for k in missing)})
        if not isinstance(branch, str) or not isinstance(message, str):
            raise HttpError(400, body={"error": "branch is invalid, commit_message is invalid"})
        if not isinstance(actions, list):
            raise HttpError(400, body={"error": "actions is invalid"})
        start_branch, start_sha = params.get("start_branch"), params.get("start_sha")
        if start_branch and start_sha:
            raise HttpError(400, body={"error": "start_branch, start_sha are mutually exclusive"})
        parent: Commit | None
        if start_sha:
            parent = project.commits.get(str(start_sha))
            if parent is None:
                raise HttpError(400, body={"message": f"Cannot find start_sha '{start_sha}'"})
        elif start_branch:
            parent = project.head(str(start_branch))
            if parent is None:
                raise HttpError(400, body={"message": f"Cannot find start_branch '{start_branch}'"})
        else:
            parent = project.head(branch)
            if parent is None and not project.empty:
                raise HttpError(400, body={
                    "message": "You can only create or edit files when you are on a branch"})
        exists = branch in project.branches
        elsewhere = bool(start_sha or (start_branch and start_branch != branch))
        if exists and elsewhere and not _flag(params.get("force")):
            raise HttpError(400, body={
                "message": f"A branch called '{branch}' already exists. Switch to that branch "
                           "in order to make changes"})
        self._check_push(req, project, branch, force=exists and elsewhere)
        files: dict[str, bytes] = {}
        modes: dict[str, str] = {}
        if parent is not None:
            for path, (mode, sha) in parent.snapshot.file_paths.items():
                files[path], modes[path] = project.blobs[sha], mode
        for index, action in enumerate(actions):
            self._apply_action(project, parent, files, modes, index, action)
        writer = self._writer(req.token)
        sha = self._store_commit(project, branch, parent, files, modes, message, writer)
        body = self._commit_json(req, project, project.commits[sha])
        body.update({"project_id": project.id, "status": None, "last_pipeline": None})
        return 201, body, {}

    def _apply_action(self, project: Project, parent: Commit | None, files: dict[str, bytes],
                      modes: dict[str, str], index: int, action: Any) -> None:
        """One commit action, in order; GitLab's 400s for a file that is (not) there."""
        if not isinstance(action, dict):
            raise HttpError(400, body={"error": f"actions[{index}] is invalid"})
        kind = action.get("action")
        if kind not in ("create", "update", "delete", "move", "chmod"):
            raise HttpError(400, body={"error": f"actions[{index}][action] does not have a "
                                                "valid value"})
        path = _clean_path(action.get("file_path"))
        if path is None:
            raise HttpError(400, body={"error": f"actions[{index}][file_path] is missing"})
        content = _action_content(action, index)
        mode = MODE_EXECUTABLE if _flag(action.get("execute_filemode")) else MODE_FILE
        source = _clean_path(action.get("previous_path")) if kind == "move" else path
        if kind != "create" and (source is None or source not in files):
            raise HttpError(400, body={"message": "A file with this name doesn't exist"})
        if kind in ("create", "move") and path in files:
            raise HttpError(400, body={"message": "A file with this name already exists"})
        last = action.get("last_commit_id")
        if (last and source and parent is not None and kind in ("update", "delete", "move")
                and source in parent.snapshot.file_paths
                and project.last_commit_for(parent, source).sha != last):
            raise HttpError(400, body={
                "message": f"The file has changed since you started editing it: {source}"})
        if kind == "create":
            files[path], modes[path] = content or b"", mode
        elif kind == "update":
            files[path] = content or b""
        elif kind == "delete":
            del files[path]
            modes.pop(path, None)
        elif kind == "chmod":
            modes[path] = mode
        else:  # move: the content moves unless new content is given
            assert source is not None
            moved = files.pop(source)
            files[path], modes[path] = moved if content is None else content, modes.pop(source)

    def _store_commit(self, project: Project, branch: str, parent: Commit | None,
                      files: dict[str, bytes], modes: dict[str, str], message: str,
                      writer: Person) -> str:
        snapshot = build_snapshot(files, {p: m for p, m in modes.items() if p in files})
        self._clock += 60
        who = Signature(name=writer.name, email=f"{writer.username}@example.invalid",
                        timestamp=self._clock)
        parents = [parent.sha] if parent else []
        sha = commit_sha(snapshot.root, parents, who, who, message)
        project.commits[sha] = Commit(sha, snapshot.root, parents, message, who, snapshot)
        project.blobs.update(snapshot.blobs)
        project.trees.update(snapshot.trees)
        project.branches[branch] = sha
        project.last_activity = self._clock
        return sha

    def _create_branch(self, req: _Req, project: Project) -> Answer:
        self._require_write(req, project)
        params = _params(req)
        name, ref = params.get("branch"), params.get("ref")
        missing = [k for k, v in (("branch", name), ("ref", ref)) if not v]
        if missing:
            raise HttpError(400, body={"error": ", ".join(f"{k} is missing" for k in missing)})
        name = str(name)
        if name in project.branches:
            raise HttpError(400, body={"message": "Branch already exists"})
        commit = project.resolve(str(ref))
        if commit is None:
            raise HttpError(400, body={"message": f"Invalid reference name: {ref}"})
        self._check_push(req, project, name, force=False)
        project.branches[name] = commit.sha
        return 201, self._branch_json(req, project, name), {}

    def _delete_branch(self, req: _Req, project: Project, name: str) -> Answer:
        self._require_write(req, project)
        if name not in project.branches:
            raise _not_found("Branch")
        if name == project.default_branch:
            raise HttpError(400, body={
                "message": "The default branch of a project cannot be deleted."})
        if project.protection(name) is not None:
            raise HttpError(403, body={
                "message": "You can only delete protected branches using the web interface."})
        for mr in project.merge_requests:
            if mr.source_branch == name:
                mr.sha = project.branches[name]
        del project.branches[name]
        return 204, b"", {}

    # merge requests

    def _merge_request(self, project: Project, iid: str) -> MergeRequest:
        for mr in project.merge_requests:
            if str(mr.iid) == iid:
                return mr
        raise HttpError(404, "404 Not found")

    def _open_for(self, project: Project, source_branch: str) -> MergeRequest | None:
        return next((m for m in project.merge_requests
                     if m.state == "opened" and m.source_branch == source_branch), None)

    def _new_merge_request(self, project: Project, source: str, target: str, title: str,
                           description: str, author: Person, *, labels: Sequence[str] = (),
                           remove_source_branch: bool = False) -> MergeRequest:
        if source == target:
            raise HttpError(409, body={
                "message": ["You can't use same project/branch for source and target"]})
        for what, name in (("Source", source), ("Target", target)):
            if name not in project.branches:
                raise HttpError(422, body={"message": [f'{what} branch "{name}" does not exist']})
        other = self._open_for(project, source)
        if other is not None:
            raise HttpError(409, body={"message": [
                f"Another open merge request already exists for this source branch: "
                f"!{other.iid}"]})
        self._clock += 1
        mr = MergeRequest(
            id=self._next_id(), iid=len(project.merge_requests) + 1, title=title,
            description=description, source_branch=source, target_branch=target,
            author=author, created=self._clock, updated=self._clock,
            sha=project.branches[source], labels=list(labels),
            remove_source_branch=remove_source_branch,
        )
        project.merge_requests.append(mr)
        return mr

    def _set_state(self, project: Project, mr: MergeRequest, event: str, who: Person) -> None:
        """``close`` / ``reopen`` with GitLab's system note; merged requests stay merged."""
        if mr.state == "merged":
            return
        if event == "reopen" and mr.state == "closed":
            other = self._open_for(project, mr.source_branch)
            if other is not None:
                raise HttpError(409, body={"message": [
                    f"Another open merge request already exists for this source branch: "
                    f"!{other.iid}"]})
        self._clock += 1
        if event == "close" and mr.state == "opened":
            mr.state, mr.closed_at, mr.closed_by = "closed", self._clock, who
            mr.notes.append(Note(self._next_id(), "closed", who, self._clock, system=True))
        elif event == "reopen" and mr.state == "closed":
            mr.state, mr.closed_at, mr.closed_by = "opened", None, None
            mr.notes.append(Note(self._next_id(), "reopened", who, self._clock, system=True))
        mr.updated = self._clock

    def _create_merge_request(self, req: _Req, project: Project) -> Answer:
        self._require_write(req, project)
        params = _params(req)
        source, target, title = (params.get(k) for k in ("source_branch", "target_branch",
                                                          "title"))
        missing = [k for k, v in (("source_branch", source), ("target_branch", target),
                                  ("title", title)) if not v]
        if missing:
            raise HttpError(400, body={"error": ", ".join(f"{k} is missing" for k in missing)})
        mr = self._new_merge_request(
            project, str(source), str(target), str(title), str(params.get("description") or ""),
            self._writer(req.token), labels=_labels(params.get("labels")),
            remove_source_branch=bool(_flag(params.get("remove_source_branch"))))
        return 201, self._merge_request_json(req, project, mr), {}

    def _update_merge_request(self, req: _Req, project: Project, mr: MergeRequest) -> Answer:
        self._require_write(req, project)
        params = _params(req)
        event = params.get("state_event")
        if event is not None and event not in ("close", "reopen"):
            raise HttpError(400, body={"error": "state_event does not have a valid value"})
        for key in ("title", "description", "target_branch"):
            if isinstance(params.get(key), str):
                setattr(mr, key, params[key])
        if "labels" in params:
            mr.labels = _labels(params["labels"])
        if "remove_source_branch" in params:
            mr.remove_source_branch = bool(_flag(params["remove_source_branch"]))
        if event is not None:
            self._set_state(project, mr, str(event), self._writer(req.token))
        self._clock += 1
        mr.updated = self._clock
        return 200, self._merge_request_json(req, project, mr), {}

    def _create_note(self, req: _Req, project: Project, mr: MergeRequest) -> Answer:
        self._require_write(req, project, level=20)  # Reporters may comment
        body = _params(req).get("body")
        if not body or not isinstance(body, str):
            raise HttpError(400, body={"error": "body is missing"})
        self._clock += 1
        note = Note(self._next_id(), body, self._writer(req.token), self._clock)
        mr.notes.append(note)
        mr.updated = self._clock
        return 201, self._note_json(req, mr, note), {}

    def _merge_requests_route(self, req: _Req, project: Project, rest: list[str]) -> Answer:
        """``GET /projects/:id/merge_requests[/:iid[/notes]]``."""
        if project.visibility == "private" and self._role(req.token, project) < 20:
            raise HttpError(403, "403 Forbidden")
        if not rest:
            return self._list(req, [self._merge_request_json(req, project, m)
                                    for m in self._filtered_merge_requests(req, project)])
        mr = self._merge_request(project, rest[0])
        if len(rest) == 1:
            return 200, self._merge_request_json(req, project, mr), {}
        if rest[1:] == ["notes"]:
            notes = sorted(mr.notes, key=lambda n: (n.created, n.id),
                           reverse=req.q("sort") != "asc")
            return self._list(req, [self._note_json(req, mr, n) for n in notes])
        raise HttpError(404, "404 Not Found")

    def _filtered_merge_requests(self, req: _Req, project: Project) -> list[MergeRequest]:
        state = req.q("state") or "all"
        if state not in ("opened", "closed", "merged", "locked", "all"):
            raise HttpError(400, body={"error": "state does not have a valid value"})
        items = [m for m in project.merge_requests if state in ("all", m.state)]
        for key in ("source_branch", "target_branch"):
            wanted = req.q(key)
            if wanted:
                items = [m for m in items if getattr(m, key) == wanted]
        labels = _labels(req.q("labels"))
        if labels:
            items = [m for m in items if all(label in m.labels for label in labels)]
        keys: dict[str, Callable[[MergeRequest], Any]] = {
            "created_at": lambda m: (m.created, m.id), "updated_at": lambda m: (m.updated, m.id)}
        order_by = req.q("order_by") or "created_at"
        if order_by not in keys:
            raise HttpError(400, body={"error": "order_by does not have a valid value"})
        items.sort(key=keys[order_by], reverse=(req.q("sort") or "desc") == "desc")
        return items

    # compare

    def _ancestors(self, project: Project, sha: str) -> set[str]:
        seen: set[str] = set()
        stack = [sha]
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(project.commits[current].parents)
        return seen

    def _compare(self, req: _Req, project: Project) -> Answer:
        """``GET /projects/:id/repository/compare?from=&to=``: the commits of ``to`` that
        ``from`` does not have (oldest first) and the diff from the merge base (or, with
        ``straight=true``, from ``from`` itself)."""
        start, end = req.q("from"), req.q("to")
        missing = [k for k, v in (("from", start), ("to", end)) if not v]
        if missing:
            raise HttpError(400, body={"error": ", ".join(f"{k} is missing" for k in missing)})
        base, head = project.resolve(start), project.resolve(end)
        if base is None or head is None:
            raise _not_found("Ref")
        known = self._ancestors(project, base.sha)
        mine = self._ancestors(project, head.sha)
        order = lambda sha: (project.commits[sha].author.timestamp, sha)  # noqa: E731
        own = [project.commits[s] for s in sorted(mine - known, key=order)]
        shared = sorted(mine & known, key=order)
        merge_base = project.commits[shared[-1]] if shared else None
        before = base if _truthy(req.q("straight")) else merge_base
        return 200, {
            "commit": self._commit_json(req, project, own[-1]) if own else None,
            "commits": [self._commit_json(req, project, c) for c in own],
            "diffs": _diffs(project, before, head),
            "compare_timeout": False,
            "compare_same_ref": start == end,
            "web_url": f"{req.root}/{project.full_path}/-/compare/{base.sha}...{head.sha}",
        }, {}

    def _person_json(self, req: _Req, person: Person) -> dict[str, Any]:
        return {"id": person.id, "username": person.username, "name": person.name,
                "state": "active", "locked": False, "avatar_url": None,
                "web_url": f"{req.root}/{person.username}"}

    def _merge_request_json(self, req: _Req, project: Project, mr: MergeRequest
                            ) -> dict[str, Any]:
        ref = f"!{mr.iid}"
        return {
            "id": mr.id, "iid": mr.iid, "project_id": project.id, "title": mr.title,
            "description": mr.description, "state": mr.state,
            "created_at": _iso(mr.created), "updated_at": _iso(mr.updated),
            "merged_by": None, "merge_user": None, "merged_at": None,
            "closed_by": self._person_json(req, mr.closed_by) if mr.closed_by else None,
            "closed_at": _iso(mr.closed_at) if mr.closed_at else None,
            "target_branch": mr.target_branch, "source_branch": mr.source_branch,
            "user_notes_count": sum(1 for n in mr.notes if not n.system),
            "upvotes": 0, "downvotes": 0, "author": self._person_json(req, mr.author),
            "assignees": [], "assignee": None, "reviewers": [],
            "source_project_id": project.id, "target_project_id": project.id,
            "labels": list(mr.labels), "draft": False, "work_in_progress": False,
            "milestone": None, "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable" if mr.state == "opened" else "not_open",
            "sha": project.branches.get(mr.source_branch, mr.sha),
            "merge_commit_sha": None, "squash_commit_sha": None, "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": mr.remove_source_branch,
            "reference": ref,
            "references": {"short": ref, "relative": ref, "full": f"{project.full_path}{ref}"},
            "web_url": f"{req.root}/{project.full_path}/-/merge_requests/{mr.iid}",
            "time_stats": {"time_estimate": 0, "total_time_spent": 0,
                           "human_time_estimate": None, "human_total_time_spent": None},
            "squash": False, "squash_on_merge": False,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False, "blocking_discussions_resolved": True,
        }

    def _note_json(self, req: _Req, mr: MergeRequest, note: Note) -> dict[str, Any]:
        return {
            "id": note.id, "type": None, "body": note.body, "attachment": None,
            "author": self._person_json(req, note.author),
            "created_at": _iso(note.created), "updated_at": _iso(note.created),
            "system": note.system, "noteable_id": mr.id, "noteable_type": "MergeRequest",
            "noteable_iid": mr.iid, "resolvable": False, "confidential": False,
            "internal": False,
        }

    # ---------------------------------------------------------------- REST JSON

    def _user_json(self, req: _Req, token: Token) -> dict[str, Any]:
        bot = token.kind in ("group", "project")
        return {
            "id": token.user_id,
            "username": token.username,
            "name": "Governance Bot" if not bot else f"{token.kind.title()} access token bot",
            "state": "active",
            "locked": False,
            "avatar_url": None,
            "web_url": f"{req.root}/{token.username}",
            "created_at": _iso(_BASE_TIME),
            "bot": bot,
            "is_admin": False,
            "can_create_group": not bot,
            "can_create_project": not bot,
            "two_factor_enabled": False,
            "external": False,
            "private_profile": False,
        }

    def _group_json(self, root: str, group: Group) -> dict[str, Any]:
        return {
            "id": group.id,
            "web_url": f"{root}/groups/{group.full_path}",
            "name": group.name,
            "path": group.path,
            "description": "",
            "visibility": group.visibility,
            "share_with_group_lock": False,
            "require_two_factor_authentication": False,
            "project_creation_level": "developer",
            "subgroup_creation_level": "maintainer",
            "lfs_enabled": True,
            "default_branch": None,
            "avatar_url": None,
            "request_access_enabled": True,
            "full_name": group.full_name,
            "full_path": group.full_path,
            "created_at": _iso(group.created),
            "parent_id": group.parent.id if group.parent else None,
            "archived": False,
        }

    def _namespace_json(self, root: str, group: Group) -> dict[str, Any]:
        return {
            "id": group.id,
            "name": group.name,
            "path": group.path,
            "kind": "group",
            "full_path": group.full_path,
            "parent_id": group.parent.id if group.parent else None,
            "avatar_url": None,
            "web_url": f"{root}/groups/{group.full_path}",
        }

    def _project_json(
        self,
        root: str,
        project: Project,
        *,
        full: bool = False,
        simple: bool = False,
        token: Token | None = None,
    ) -> dict[str, Any]:
        web = f"{root}/{project.full_path}"
        host = root.split("://", 1)[-1].split(":")[0]
        body: dict[str, Any] = {
            "id": project.id,
            "description": project.description,
            "name": project.name,
            "name_with_namespace": f"{project.group.full_name} / {project.name}",
            "path": project.path,
            "path_with_namespace": project.full_path,
            "created_at": _iso(project.created),
            "default_branch": None if project.empty else project.default_branch,
            "tag_list": list(project.topics),
            "topics": list(project.topics),
            "ssh_url_to_repo": f"git@{host}:{project.full_path}.git",
            "http_url_to_repo": f"{web}.git",
            "web_url": web,
            "readme_url": None,
            "forks_count": 0,
            "avatar_url": None,
            "star_count": 0,
            "last_activity_at": _iso(project.last_activity),
            "namespace": self._namespace_json(root, project.group),
        }
        if project.head() is not None:
            head = project.head()
            assert head is not None
            if "README.md" in head.snapshot.file_paths:
                body["readme_url"] = f"{web}/-/blob/{project.default_branch}/README.md"
        if simple:
            return body
        api = f"{root}/api/v4/projects/{project.id}"
        body.update({
            "container_registry_image_prefix": f"registry.{host}/{project.full_path}",
            "_links": {
                "self": api,
                "issues": f"{api}/issues",
                "merge_requests": f"{api}/merge_requests",
                "repo_branches": f"{api}/repository/branches",
                "labels": f"{api}/labels",
                "events": f"{api}/events",
                "members": f"{api}/members",
                "cluster_agents": f"{api}/cluster_agents",
            },
            "empty_repo": project.empty,
            "archived": project.archived,
            "visibility": project.visibility,
            "resolve_outdated_diff_discussions": False,
            "issues_enabled": True,
            "merge_requests_enabled": True,
            "wiki_enabled": True,
            "jobs_enabled": True,
            "snippets_enabled": True,
            "container_registry_enabled": True,
            "repository_access_level": "enabled",
            "merge_requests_access_level": "enabled",
            "builds_access_level": "enabled",
            "shared_runners_enabled": True,
            "lfs_enabled": True,
            "creator_id": 1,
            "import_status": "none",
            "open_issues_count": 0,
            "ci_config_path": None,
            "public_jobs": True,
            "shared_with_groups": [],
            "only_allow_merge_if_pipeline_succeeds": False,
            "only_allow_merge_if_all_discussions_are_resolved": False,
            "remove_source_branch_after_merge": True,
            "request_access_enabled": True,
            "merge_method": "merge",
            "squash_option": "default_off",
            "approvals_before_merge": 0,
            "mirror": False,
        })
        if project.forked:
            upstream = f"upstream/{project.name}"
            body["forked_from_project"] = {
                "id": 1,
                "description": None,
                "name": project.name,
                "name_with_namespace": f"Upstream / {project.name}",
                "path": project.name,
                "path_with_namespace": upstream,
                "created_at": _iso(_BASE_TIME),
                "default_branch": project.default_branch,
                "web_url": f"{root}/{upstream}",
            }
        if full and token is not None:
            role = self._role(token, project)
            body["permissions"] = {
                "project_access": {"access_level": role, "notification_level": 3}
                if role and token.kind == "project" else None,
                "group_access": {"access_level": role, "notification_level": 3}
                if role and token.kind != "project" else None,
            }
        return body

    def _commit_json(self, req: _Req, project: Project, commit: Commit) -> dict[str, Any]:
        when = _iso(commit.author.timestamp)
        return {
            "id": commit.sha,
            "short_id": commit.sha[:8],
            "created_at": when,
            "parent_ids": list(commit.parents),
            "title": commit.message.splitlines()[0] if commit.message else "",
            "message": commit.message,
            "author_name": commit.author.name,
            "author_email": commit.author.email,
            "authored_date": when,
            "committer_name": commit.author.name,
            "committer_email": commit.author.email,
            "committed_date": when,
            "trailers": {},
            "extended_trailers": {},
            "web_url": f"{req.root}/{project.full_path}/-/commit/{commit.sha}",
        }

    def _branch_json(self, req: _Req, project: Project, name: str) -> dict[str, Any]:
        commit = project.commits[project.branches[name]]
        prot = project.protection(name)
        return {
            "name": name,
            "commit": self._commit_json(req, project, commit),
            "merged": False,
            "protected": prot is not None,
            "developers_can_push": prot is None or prot.push_access_level <= 30,
            "developers_can_merge": prot is None or prot.merge_access_level <= 30,
            "can_push": prot is None or (prot.push_access_level or 99) <= req.token.access_level,
            "default": name == project.default_branch,
            "web_url": f"{req.root}/{project.full_path}/-/tree/{name}",
        }

    def _protected_json(self, prot: ProtectedBranch) -> dict[str, Any]:
        def level(value: int, offset: int) -> dict[str, Any]:
            return {
                "id": prot.id * 10 + offset,
                "access_level": value,
                "access_level_description": ACCESS_LEVEL_DESCRIPTIONS.get(value, str(value)),
                "deploy_key_id": None,
                "user_id": None,
                "group_id": None,
            }

        return {
            "id": prot.id,
            "name": prot.name,
            "push_access_levels": [level(prot.push_access_level, 1)],
            "merge_access_levels": [level(prot.merge_access_level, 2)],
            "unprotect_access_levels": [],
            "allow_force_push": prot.allow_force_push,
            "code_owner_approval_required": prot.code_owner_approval_required,
            "inherited": False,
        }

    def _approval_rule_json(self, project: Project, rule: ApprovalRule) -> dict[str, Any]:
        return {
            "id": rule.id,
            "name": rule.name,
            "rule_type": rule.rule_type,
            "report_type": None,
            "eligible_approvers": [],
            "approvals_required": rule.approvals_required,
            "users": [],
            "groups": [],
            "contains_hidden_groups": False,
            "protected_branches": [
                self._protected_json(p) for p in project.protected if p.name in rule.branches
            ],
            "applies_to_all_protected_branches": rule.applies_to_all_protected_branches,
        }

    def _approvals_json(self, project: Project) -> dict[str, Any]:
        return {
            "approvers": [],
            "approver_groups": [],
            "approvals_before_merge": 0,
            "reset_approvals_on_push": True,
            "selective_code_owner_removals": False,
            "disable_overriding_approvers_per_merge_request": False,
            "merge_requests_author_approval": False,
            "merge_requests_disable_committers_approval": False,
            "require_password_to_approve": False,
            "require_reauthentication_to_approve": False,
        }

    # ---------------------------------------------------------------- GraphQL

    def _graphql(self, req: _Req) -> Answer:
        from graphql import GraphQLError, execute_sync, parse, validate

        if req.method != "POST":
            raise HttpError(404, "404 Not Found")
        token = req.token
        if token.kind != "anonymous" and not token.has_scope("api", "read_api"):
            raise HttpError(403, body={"errors": [{"message": "Invalid token scopes"}]})
        try:
            body = json.loads(req.body or b"{}")
        except ValueError:
            return 200, {"errors": [{"message": "Invalid JSON"}]}, {}
        query = body.get("query") if isinstance(body, dict) else None
        if not isinstance(query, str) or not query.strip():
            return 200, {"errors": [{"message": "No query string was present"}]}, {}
        schema = graphql_schema()
        try:
            document = parse(query)
        except GraphQLError as err:
            return 200, {"errors": [err.formatted]}, {}
        errors = validate(schema, document)
        if errors:
            return 200, {"errors": [e.formatted for e in errors]}, {}
        result = execute_sync(
            schema,
            document,
            root_value=_GqlRoot(self, req),
            variable_values=body.get("variables") or {},
            operation_name=body.get("operationName"),
        )
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        return 200, out, {}


# --------------------------------------------------------------------------------------
# GraphQL resolvers (graphql-core's default resolver calls methods with (info, **args))
# --------------------------------------------------------------------------------------


def _gid(kind: str, ident: int | str) -> str:
    return f"gid://gitlab/{kind}/{ident}"


def _cursor(i: int) -> str:
    return base64.b64encode(json.dumps({"offset": i}).encode()).decode("ascii")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.b64decode(cursor))["offset"]) + 1
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("Please provide a valid cursor") from exc


def _connection(items: Sequence[Any], first: int | None = None, after: str | None = None,
                max_page: int = _MAX_PER_PAGE) -> dict[str, Any]:
    start = _offset(after)
    size = max_page if first is None else max(0, min(first, max_page))
    chunk = list(items[start : start + size])
    end = start + len(chunk)
    return {
        "count": len(items),
        "pageInfo": {
            "hasNextPage": end < len(items),
            "hasPreviousPage": start > 0,
            "startCursor": _cursor(start) if chunk else None,
            "endCursor": _cursor(end - 1) if chunk else None,
        },
        "nodes": chunk,
        "edges": [{"cursor": _cursor(start + i), "node": n} for i, n in enumerate(chunk)],
    }


class _GqlRoot:
    def __init__(self, forge: FakeGitLab, req: _Req) -> None:
        self.forge = forge
        self.req = req

    def group(self, _info: Any, fullPath: str) -> GGroup | None:
        group = self.forge.groups.get(fullPath)
        if group is None or not self.forge._group_visible(self.req.token, group):
            return None
        return GGroup(self, group)

    def project(self, _info: Any, fullPath: str) -> GProject | None:
        project = self.forge.projects.get(fullPath)
        if project is None or not self.forge._project_visible(self.req.token, project):
            return None
        return GProject(self, project)

    def projects(
        self, _info: Any, fullPaths: list[str] | None = None, membership: bool | None = None,
        search: str | None = None, first: int | None = None, after: str | None = None,
    ) -> dict[str, Any]:
        token = self.req.token
        if fullPaths is not None:
            if len(fullPaths) > 50:
                raise ValueError("You cannot provide more than 50 full_paths")
            found = [self.forge.projects.get(p) for p in fullPaths]
            items = [p for p in found if p is not None]
        else:
            items = list(self.forge.projects.values())
        items = [p for p in items if self.forge._project_visible(token, p)]
        if membership:
            items = [p for p in items if self.forge._role(token, p) > 0]
        if search:
            items = [p for p in items if search.lower() in p.full_path.lower()]
        items.sort(key=lambda p: p.id)
        return _connection([GProject(self, p) for p in items], first, after)

    def currentUser(self, _info: Any) -> dict[str, Any] | None:
        token = self.req.token
        if token.kind == "anonymous":
            return None
        return {"id": _gid("User", token.user_id), "username": token.username,
                "name": token.username, "bot": token.kind in ("group", "project")}


class GGroup:
    def __init__(self, root: _GqlRoot, group: Group) -> None:
        self.root = root
        self._group = group
        self.id = _gid("Group", group.id)
        self.name = group.name
        self.path = group.path
        self.fullPath = group.full_path
        self.fullName = group.full_name
        self.visibility = group.visibility
        self.webUrl = f"{root.req.root}/groups/{group.full_path}"

    def parent(self, _info: Any) -> GGroup | None:
        parent = self._group.parent
        if parent is None or not self.root.forge._group_visible(self.root.req.token, parent):
            return None
        return GGroup(self.root, parent)

    def projects(
        self, _info: Any, includeSubgroups: bool = False, search: str | None = None,
        first: int | None = None, after: str | None = None,
    ) -> dict[str, Any]:
        items = self.root.forge._group_projects(self.root.req, self._group,
                                                subgroups=includeSubgroups)
        if search:
            items = [p for p in items if search.lower() in p.name.lower()]
        items.sort(key=lambda p: p.id)
        return _connection([GProject(self.root, p) for p in items], first, after)

    def descendantGroups(
        self, _info: Any, includeParentDescendants: bool = True, first: int | None = None,
        after: str | None = None,
    ) -> dict[str, Any]:
        forge, token = self.root.forge, self.root.req.token
        prefix = self._group.full_path + "/"
        items = [
            g for g in forge.groups.values()
            if g.full_path.startswith(prefix) and forge._group_visible(token, g)
            and (includeParentDescendants or g.parent is self._group)
        ]
        items.sort(key=lambda g: g.id)
        return _connection([GGroup(self.root, g) for g in items], first, after)


class GProject:
    def __init__(self, root: _GqlRoot, project: Project) -> None:
        self.root = root
        self._project = project
        self.id = _gid("Project", project.id)
        self.name = project.name
        self.path = project.path
        self.fullPath = project.full_path
        self.nameWithNamespace = f"{project.group.full_name} / {project.name}"
        self.description = project.description
        self.archived = project.archived
        self.visibility = project.visibility
        self.topics = list(project.topics)
        self.webUrl = f"{root.req.root}/{project.full_path}"
        self.createdAt = _iso(project.created)
        self.lastActivityAt = _iso(project.last_activity)

    def group(self, _info: Any) -> GGroup | None:
        return GGroup(self.root, self._project.group) if self.root.forge._group_visible(
            self.root.req.token, self._project.group) else None

    def repository(self, _info: Any) -> GRepository | None:
        if not self.root.forge._can_read_code(self.root.req.token, self._project):
            return None
        return GRepository(self.root, self._project)

    def branchRules(
        self, _info: Any, first: int | None = None, after: str | None = None
    ) -> dict[str, Any] | None:
        forge, token, project = self.root.forge, self.root.req.token, self._project
        if project.visibility == "private" and forge._role(token, project) < 30:
            return None
        premium = project.group.premium
        rules: list[dict[str, Any]] = []
        now = _iso(project.created)

        def approval(rule: ApprovalRule) -> dict[str, Any]:
            return {"id": _gid("ApprovalProjectRule", rule.id), "name": rule.name,
                    "type": rule.rule_type.upper(), "approvalsRequired": rule.approvals_required}

        def approvals(selected: list[ApprovalRule]) -> Callable[..., dict[str, Any]]:
            chosen = [approval(r) for r in selected] if premium else []
            return lambda _info, first=None, after=None: _connection(chosen, first, after)

        if premium:
            rules.append({
                "id": _gid("Projects::AllBranchesRule", project.id), "name": "All branches",
                "isDefault": False, "isProtected": False,
                "matchingBranchesCount": len(project.branches), "createdAt": now,
                "updatedAt": now, "branchProtection": None,
                "approvalRules": approvals([r for r in project.approval_rules
                                            if not r.branches
                                            and not r.applies_to_all_protected_branches]),
            })
            if project.protected:
                rules.append({
                    "id": _gid("Projects::AllProtectedBranchesRule", project.id),
                    "name": "All protected branches", "isDefault": False, "isProtected": True,
                    "matchingBranchesCount": sum(
                        1 for b in project.branches if project.protection(b) is not None),
                    "createdAt": now, "updatedAt": now, "branchProtection": None,
                    "approvalRules": approvals([r for r in project.approval_rules
                                                if r.applies_to_all_protected_branches]),
                })
        for prot in project.protected:
            selected = [r for r in project.approval_rules
                        if prot.name in r.branches or r.applies_to_all_protected_branches]
            rules.append({
                "id": _gid("Projects::BranchRule", prot.id), "name": prot.name,
                "isDefault": prot.name == project.default_branch, "isProtected": True,
                "matchingBranchesCount": sum(
                    1 for b in project.branches if fnmatch.fnmatchcase(b, prot.name)),
                "createdAt": now, "updatedAt": now,
                "branchProtection": _gql_protection(prot),
                "approvalRules": approvals(selected),
            })
        return _connection(rules, first, after)


def _gql_protection(prot: ProtectedBranch) -> dict[str, Any]:
    def levels(value: int) -> Callable[..., dict[str, Any]]:
        node = {"accessLevel": value,
                "accessLevelDescription": ACCESS_LEVEL_DESCRIPTIONS.get(value, str(value))}
        return lambda _info, first=None, after=None: _connection([node], first, after)

    return {
        "allowForcePush": prot.allow_force_push,
        "codeOwnerApprovalRequired": prot.code_owner_approval_required,
        "mergeAccessLevels": levels(prot.merge_access_level),
        "pushAccessLevels": levels(prot.push_access_level),
    }


class GRepository:
    def __init__(self, root: _GqlRoot, project: Project) -> None:
        self.root = root
        self._project = project
        self.empty = project.empty
        self.exists = True
        self.rootRef = None if project.empty else project.default_branch

    def tree(
        self, _info: Any, path: str = "", ref: str | None = None, recursive: bool = False
    ) -> GTree | None:
        commit = self._project.resolve(ref)
        if commit is None:
            return None
        path = path.strip("/")
        sha = commit.snapshot.tree_paths.get(path)
        if sha is None:
            return None
        return GTree(self._project, commit, sha, path, recursive)

    def blobs(
        self, _info: Any, paths: list[str], ref: str | None = None, first: int | None = None,
        after: str | None = None,
    ) -> dict[str, Any]:
        project = self._project
        commit = project.resolve(ref)
        nodes: list[dict[str, Any]] = []
        if commit is not None:
            for path in paths:
                entry = commit.snapshot.file_paths.get(path.strip("/"))
                if entry is None:
                    continue
                mode, sha = entry
                data = project.blobs[sha]
                text = None if _is_binary(data) else data.decode("utf-8")
                nodes.append({
                    "id": _gid("Blob", sha), "oid": sha, "name": path.rsplit("/", 1)[-1],
                    "path": path.strip("/"), "size": str(len(data)), "rawSize": str(len(data)),
                    "rawBlob": text, "rawTextBlob": text, "mode": mode,
                    "webPath": f"/{project.full_path}/-/blob/{ref or project.default_branch}/"
                               f"{path.strip('/')}",
                })
        return _connection(nodes, first, after)


class GTree:
    def __init__(
        self, project: Project, commit: Commit, sha: str, path: str, recursive: bool
    ) -> None:
        self._project = project
        self._commit = commit
        self._entries: list[tuple[TreeEntry, str]] = []

        def walk(tree_sha: str, prefix: str, deep: bool) -> None:
            for entry in project.trees[tree_sha]:
                full = f"{prefix}{entry.name}"
                self._entries.append((entry, full))
                if deep and entry.mode == MODE_TREE:
                    walk(entry.sha, full + "/", deep)

        walk(sha, f"{path}/" if path else "", recursive)

    def lastCommit(self, _info: Any) -> dict[str, Any]:
        c = self._commit
        when = _iso(c.author.timestamp)
        return {"id": _gid("CommitPresenter", c.sha), "sha": c.sha, "shortId": c.sha[:8],
                "title": c.message.splitlines()[0] if c.message else "", "message": c.message,
                "authoredDate": when, "committedDate": when, "authorName": c.author.name}

    def _of(self, kind: str, first: int | None, after: str | None) -> dict[str, Any]:
        nodes = [
            {"id": _gid(kind.title(), e.sha), "sha": e.sha, "name": e.name, "path": full,
             "flatPath": full, "type": e.type, "mode": e.mode.rjust(6, "0")}
            for e, full in self._entries if e.type == kind
        ]
        return _connection(nodes, first, after)

    def blobs(self, _info: Any, first: int | None = None, after: str | None = None) -> Any:
        return self._of("blob", first, after)

    def trees(self, _info: Any, first: int | None = None, after: str | None = None) -> Any:
        return self._of("tree", first, after)

    def submodules(self, _info: Any, first: int | None = None, after: str | None = None) -> Any:
        return self._of("commit", first, after)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def graphql_schema() -> GraphQLSchema:
    """The hand-written subset of GitLab's schema, executable by graphql-core."""
    from graphql import GraphQLScalarType, build_schema

    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    big = schema.type_map["BigInt"]
    assert isinstance(big, GraphQLScalarType)
    big.serialize = lambda value: str(value)  # type: ignore[method-assign]
    return schema


def _lint_yaml(content: str) -> list[str]:
    """GitLab-like errors for content that is not a YAML mapping (no include resolution)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt")
    try:
        data = yaml.load(content)
    except MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        return [f"(<unknown>): {err.problem or err.context}{where}"]
    except YAMLError as err:
        return [f"(<unknown>): {err}"]
    if not content.strip():
        return ["Please provide content of .gitlab-ci.yml"]
    if not isinstance(data, Mapping):
        return ["Invalid configuration format"]
    return []


def _raw_type(data: bytes) -> str:
    return "application/octet-stream" if _is_binary(data) else "text/plain; charset=utf-8"


def _quote_path(req: _Req) -> str:
    """The request path re-encoded as GitLab writes it in Link headers (ids with %2F)."""
    return "/" + "/".join(urllib.parse.quote(s, safe="") for s in req.segments)




def _params(req: _Req) -> dict[str, Any]:
    """A write's parameters: the query, then the body (python-gitlab sends JSON; GitLab
    also takes form data)."""
    params: dict[str, Any] = dict(req.query)
    if not req.body:
        return params
    if "json" in req.headers.get("content-type", ""):
        try:
            body = json.loads(req.body)
        except ValueError:
            raise HttpError(400, body={"error": "The request body is not valid JSON"}) from None
        if not isinstance(body, dict):
            raise HttpError(400, body={"error": "The request body must be a JSON object"})
        params.update(body)
    else:
        form = urllib.parse.parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[-1] for k, v in form.items()})
    return params


def _flag(value: Any) -> bool | None:
    """A JSON boolean or one of Grape's spellings (``true``, ``True``, ``1``)."""
    if value is None or isinstance(value, bool):
        return value
    return _truthy(str(value))


def _clean_path(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    parts = [p for p in value.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        return None
    return "/".join(parts)


def _action_content(action: Mapping[str, Any], index: int) -> bytes | None:
    content = action.get("content")
    if content is None:
        return None
    if not isinstance(content, str):
        raise HttpError(400, body={"error": f"actions[{index}][content] is invalid"})
    encoding = action.get("encoding") or "text"
    if encoding == "text":
        return content.encode("utf-8")
    if encoding != "base64":
        raise HttpError(400, body={"error": f"actions[{index}][encoding] does not have a "
                                            "valid value"})
    try:
        return base64.b64decode(content, validate=True)
    except ValueError:
        raise HttpError(400, body={"message": "Invalid base64 content"}) from None


def _labels(value: Any) -> list[str]:
    """Labels as a comma-separated string or a JSON list."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _diffs(project: Project, before: Commit | None, after: Commit) -> list[dict[str, Any]]:
    old = before.snapshot.file_paths if before is not None else {}
    new = after.snapshot.file_paths
    out: list[dict[str, Any]] = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a == b:
            continue
        out.append({
            "old_path": path, "new_path": path,
            "a_mode": a[0] if a else "0", "b_mode": b[0] if b else "0",
            "new_file": a is None, "renamed_file": False, "deleted_file": b is None,
            "generated_file": False,
            "diff": _patch(project.blobs[a[1]] if a else b"", project.blobs[b[1]] if b else b""),
        })
    return out


def _patch(before: bytes, after: bytes) -> str:
    """The hunks of a text change, as GitLab's ``diff`` field shows them (no file header)."""
    import difflib

    if _is_binary(before) or _is_binary(after):
        return ""
    lines = difflib.unified_diff(before.decode().splitlines(keepends=True),
                                 after.decode().splitlines(keepends=True))
    return "".join(list(lines)[2:])


def _graphql_query_text(req: _Req) -> str:
    try:
        body = json.loads(req.body or b"{}")
    except ValueError:
        return ""
    query = body.get("query") if isinstance(body, dict) else None
    return query if isinstance(query, str) else ""




@pytest.fixture
def gitlab_forge() -> Iterator[FakeGitLab]:
    """A started, empty :class:`FakeGitLab` with the personal token ``DEFAULT_TOKEN``."""
    forge = FakeGitLab()
    forge.start()
    try:
        yield forge
    finally:
        forge.stop()
