"""The write side of GitHub (github.com or GitHub Enterprise Server), through PyGithub.

One fix is one commit made with the Git Data API, however many files it changes: a tree on
top of the base commit's tree (UTF-8 text inline, other content as base64 blobs, deletions
as entries without a sha, the executable bit as mode 100755), a commit whose only parent is
the base, then the branch ref: created, or moved only when its head is still the commit
`replace` names (re-read just before the write). Pull requests, their comments and labels
are the REST endpoints PyGithub wraps.

PyGithub paces the writes (`seconds_between_writes`, from `min_write_gap`: GitHub asks
integrations to leave a second between writes, or meet its secondary rate limit) and its
GithubRetry retries what GitHub asks to retry (Retry-After, the rate-limit reset, 5xx).
Credentials are the read provider's (a token, or a GitHub App whose installation on each
owner is looked up once and whose token PyGithub renews); they never appear in a message
or a log line.

Safety: only `governance/` branches are written, never the default branch; a branch a
person pushed to is not moved (WriteRefused); a pull request that already exists for the
branch is adopted, never duplicated.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from github import Auth, Github, GithubException, GithubRetry, InputGitTreeElement
from github.PullRequest import PullRequest
from github.Repository import Repository
from urllib3.util.retry import Retry

from governance.errors import ConfigError, Unsupported
from governance.fixes import ActionResolver, FileChange
from governance.models import RepoRef
from governance.providers.github import (
    DEFAULT_API_URL,
    USER_AGENT,
    GitHubError,
    _exception_message,
    _Identity,
    _normalize_api_url,
    choose_credentials,
    environment_credentials,
)
from governance.remediation.base import (
    BRANCH_PREFIX,
    CLOSED_MARKER,
    Branch,
    BranchCommit,
    ChangeRequest,
    WriteRefused,
)

log = logging.getLogger(__name__)

WORKFLOWS_FOLDER = ".github/workflows/"
WORKFLOW_SCOPE = ("the token needs the workflow scope (or Workflows: write permission) to "
                  "change files under .github/workflows")
CONTENTS_WRITE = "Contents: write (a classic token: the repo scope and push access)"
PULL_REQUESTS_WRITE = "Pull requests: write"
# Retried as GitHub asks (403 / 429 with Retry-After, 5xx): creating a blob, a tree or a
# commit twice makes the same object, a second pull request is refused and the first one
# adopted, and PATCH sets a state; only a comment could, rarely, be posted twice.
_RETRIED_METHODS = Retry.DEFAULT_ALLOWED_METHODS | {"GET", "POST", "PATCH"}
_ACTION = re.compile(r"(?P<repo>[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100})(?:/.*)?")
_SHA = re.compile(r"[0-9a-f]{40}")


class _InstallationAuth(Auth.Auth):
    """A GitHub App installation's token, as the read provider mints and renews it."""

    def __init__(self, identity: _Identity):
        self._identity = identity

    @property
    def token_type(self) -> str:
        return self._identity.authorization().partition(" ")[0]

    @property
    def token(self) -> str:
        return self._identity.authorization().partition(" ")[2]

    def authentication(self, headers: dict[str, Any]) -> None:
        headers["Authorization"] = self._identity.authorization()

    @property
    def _masked_token(self) -> str:
        return "(installation token removed)"


class _Clients:
    """PyGithub clients, one per credential: the token's, or the App installation's on each
    owner. They are lazy: an object is fetched when an attribute it lacks is first read, so
    `get_repo(...).get_pull(n).edit(...)` is one request."""

    def __init__(self, *, token: str | None, app_id: str | int | None,
                 app_private_key: str | None, api_url: str | None, min_write_gap: float,
                 timeout: float, user: str):
        if min_write_gap < 0:
            raise ConfigError(f"min_write_gap must be 0 or more seconds, not {min_write_gap}")
        self.api_url = _normalize_api_url(api_url or DEFAULT_API_URL)
        self._write_gap = min_write_gap or None
        self._timeout = max(1, int(timeout))
        self._app, plain_token = choose_credentials(token, app_id, app_private_key,
                                                    self.api_url, timeout, user)
        self._token = None if plain_token is None else Auth.Token(plain_token)
        self._lock = threading.Lock()
        self._clients: dict[str, Github] = {}

    def for_owner(self, owner: str) -> Github:
        key = "" if self._app is None else owner.lower()
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                auth: Auth.Auth
                if self._app is not None:
                    auth = _InstallationAuth(self._app.identity(owner))
                else:
                    assert self._token is not None
                    auth = self._token
                client = Github(
                    auth=auth, base_url=self.api_url, timeout=self._timeout,
                    user_agent=USER_AGENT, retry=GithubRetry(allowed_methods=_RETRIED_METHODS),
                    seconds_between_requests=None, seconds_between_writes=self._write_gap,
                    lazy=True)
                self._clients[key] = client
            return client

    @property
    def app(self) -> bool:
        return self._app is not None

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


class GitHubChangeRequests:
    """`ChangeRequests` for github: sources. Construct with a token or a GitHub App (as
    GitHubProvider); the CLI uses `from_environment`."""

    kind = "github"

    def __init__(self, *, token: str | None = None, app_id: str | int | None = None,
                 app_private_key: str | None = None, api_url: str | None = None,
                 min_write_gap: float = 1.0, timeout: float = 30.0):
        self._clients = _Clients(token=token, app_id=app_id, app_private_key=app_private_key,
                                 api_url=api_url, min_write_gap=min_write_gap, timeout=timeout,
                                 user="remediation on GitHub")
        self.api_url = self._clients.api_url
        self._repos: dict[str, Repository] = {}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None,
                         **options: Any) -> GitHubChangeRequests:
        """GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE; GITHUB_API_URL
        unless `api_url` is given."""
        found = environment_credentials(environ)
        api_url = options.pop("api_url", None) or found.api_url
        return cls(token=found.token, app_id=found.app_id,
                   app_private_key=found.app_private_key, api_url=api_url, **options)

    def close_session(self) -> None:
        """Release the HTTP connections (`close` is the ChangeRequests write)."""
        self._clients.close()

    def client(self, owner: str) -> Github:
        """The PyGithub client that writes to `owner`'s repositories."""
        return self._clients.for_owner(owner)

    # ------------------------------------------------------------------ reads

    def writable(self, repo: RepoRef) -> str | None:
        handle = self._repo(repo)
        try:
            archived, fork, permissions = handle.archived, handle.fork, handle.permissions
        except GithubException as error:
            if error.status == 404:
                return "not found, or not visible with these credentials"
            raise self._failure(repo, "read the repository", error) from None
        if archived:
            return "the repository is archived (read-only)"
        if fork:
            return "the repository is a fork: fixes belong in the repository it was forked from"
        if permissions is not None and not permissions.push:
            return (f"these credentials cannot push to the repository (they need "
                    f"{CONTENTS_WRITE} and {PULL_REQUESTS_WRITE})")
        return None

    def default_head(self, repo: RepoRef) -> str:
        handle = self._repo(repo)
        try:
            return str(handle.get_git_ref(f"heads/{self._default_branch(repo)}").object.sha)
        except GithubException as error:
            raise self._failure(repo, "read the default branch", error) from None

    def branch(self, repo: RepoRef, name: str) -> Branch | None:
        handle = self._repo(repo)
        try:
            comparison = handle.compare(self._default_branch(repo), name)
            merge_base = comparison.merge_base_commit.sha  # fetches the comparison
            commits = list(comparison.commits)  # from that answer (more pages if any)
            # the head is the commit no other one descends from (the list is by date)
            parents = {p.sha for c in commits for p in c.parents}
            head = next((c.sha for c in reversed(commits) if c.sha not in parents), merge_base)
        except GithubException as error:
            if error.status == 404:  # no such branch (or no history shared with the base)
                return None
            raise self._failure(repo, f"compare {name} with the default branch", error) from None
        found = tuple(
            BranchCommit(c.sha, c.author.login if c.author is not None else c.commit.author.name,
                         c.commit.message)
            for c in commits)
        return Branch(name, head, found)

    def find(self, repo: RepoRef, branch: str) -> ChangeRequest | None:
        handle = self._repo(repo)
        owner = repo.name.split("/", 1)[0]
        try:
            pulls = handle.get_pulls(state="all", head=f"{owner}:{branch}", sort="created",
                                     direction="desc")
            newest = next(iter(pulls), None)
        except GithubException as error:
            raise self._failure(repo, "list pull requests", error) from None
        return None if newest is None else _request(newest)

    # ------------------------------------------------------------------ writes

    def commit(self, repo: RepoRef, branch: str, base: str, changes: Sequence[FileChange],
               message: str, *, replace: str | None = None) -> str:
        self._check_branch(repo, branch)
        if not changes:
            raise ValueError("a commit needs at least one change")
        handle = self._repo(repo)
        workflows = any(c.path.startswith(WORKFLOWS_FOLDER) for c in changes)
        try:
            parent = handle.get_git_commit(base)
            tree = handle.create_git_tree([self._entry(handle, c) for c in changes],
                                          base_tree=parent.tree)
            made = handle.create_git_commit(message, tree, [parent])
            if replace is None:
                handle.create_git_ref(f"refs/heads/{branch}", made.sha)
            else:
                self._move(repo, handle, branch, replace, made.sha)
        except GithubException as error:
            raise self._refused(repo, f"write the branch {branch}", error, CONTENTS_WRITE,
                                workflows=workflows) from None
        log.info("%s: committed %s on %s", repo.name, made.sha[:12], branch)
        return str(made.sha)

    def open(self, repo: RepoRef, branch: str, title: str, body: str,
             labels: Sequence[str]) -> ChangeRequest:
        self._check_branch(repo, branch)
        handle = self._repo(repo)
        try:
            pull = handle.create_pull(base=self._default_branch(repo), head=branch, title=title,
                                      body=body)
        except GithubException as error:
            if error.status == 422 and "already exists" in _messages(error):
                existing = self.find(repo, branch)
                if existing is not None and existing.state == "open":
                    log.info("%s: pull request #%d already open for %s: adopted", repo.name,
                             existing.number, branch)
                    return existing
            raise self._refused(repo, f"open a pull request from {branch}", error,
                                PULL_REQUESTS_WRITE) from None
        request = _request(pull)
        log.info("%s: opened pull request #%d from %s", repo.name, request.number, branch)
        if labels:
            try:
                handle.get_issue(request.number).add_to_labels(*labels)
            except GithubException as error:  # the pull request stands without them
                log.warning("%s: could not label pull request #%d (%s: %s)", repo.name,
                            request.number, error.status, _messages(error))
        return request

    def update(self, repo: RepoRef, request: ChangeRequest, title: str, body: str) -> None:
        try:
            self._repo(repo).get_pull(request.number).edit(title=title, body=body)
        except GithubException as error:
            raise self._refused(repo, f"update pull request #{request.number}", error,
                                PULL_REQUESTS_WRITE) from None

    def comment(self, repo: RepoRef, request: ChangeRequest, text: str) -> None:
        try:
            self._repo(repo).get_issue(request.number).create_comment(text)
        except GithubException as error:
            raise self._refused(repo, f"comment on pull request #{request.number}", error,
                                PULL_REQUESTS_WRITE) from None

    def close(self, repo: RepoRef, request: ChangeRequest, comment: str) -> None:
        """Comment, close with CLOSED_MARKER in the body (one PATCH), delete the branch."""
        self._check_branch(repo, request.branch)
        self.comment(repo, request, comment)
        body = request.body if CLOSED_MARKER in request.body else (
            f"{request.body.rstrip()}\n\n{CLOSED_MARKER}".lstrip())
        handle = self._repo(repo)
        try:
            handle.get_pull(request.number).edit(state="closed", body=body)
        except GithubException as error:
            raise self._refused(repo, f"close pull request #{request.number}", error,
                                PULL_REQUESTS_WRITE) from None
        log.info("%s: closed pull request #%d", repo.name, request.number)
        try:
            ref = handle.get_git_ref(f"heads/{request.branch}")
            if ref.object.sha:  # read it first: the ref's own URL is the one to DELETE
                ref.delete()
        except GithubException as error:
            if error.status in (404, 422):  # already deleted
                return
            raise self._refused(repo, f"delete the branch {request.branch}", error,
                                CONTENTS_WRITE) from None

    # ------------------------------------------------------------------ helpers

    def _repo(self, repo: RepoRef) -> Repository:
        """The repository, fetched (once per run) when an attribute is first read."""
        handle = self._repos.get(repo.name)
        if handle is None:
            owner = repo.name.split("/", 1)[0]
            handle = self._repos[repo.name] = self.client(owner).get_repo(repo.name)
        return handle

    def _default_branch(self, repo: RepoRef) -> str:
        try:
            return str(self._repo(repo).default_branch)
        except GithubException as error:
            raise self._failure(repo, "read the repository", error) from None

    def _check_branch(self, repo: RepoRef, branch: str) -> None:
        """Remediation writes to its own branches only, never to the default branch."""
        if not branch.startswith(BRANCH_PREFIX) or branch == BRANCH_PREFIX:
            raise WriteRefused(f"refusing to write to {branch}: remediation writes only to "
                               f"{BRANCH_PREFIX}* branches")
        if branch == self._default_branch(repo):
            raise WriteRefused(f"refusing to write to {branch}: it is the default branch")

    def _move(self, repo: RepoRef, handle: Repository, branch: str, expected: str,
              sha: str) -> None:
        """Point `branch` at `sha` only if its head is still `expected`."""
        ref = handle.get_git_ref(f"heads/{branch}")
        try:
            head = ref.object.sha
        except GithubException as error:
            if error.status == 404:
                raise WriteRefused(f"the branch {branch} was deleted meanwhile: not "
                                   "recreated") from None
            raise
        if head != expected:
            raise WriteRefused(f"a person pushed to {branch} (its head is {head[:12]}, not "
                               f"{expected[:12]}): their commits are not overwritten")
        ref.edit(sha, force=True)

    @staticmethod
    def _entry(handle: Repository, change: FileChange) -> InputGitTreeElement:
        mode = "100755" if change.executable else "100644"
        if change.content is None:
            return InputGitTreeElement(change.path, mode, "blob", sha=None)
        try:
            text = change.content.decode("utf-8")
        except UnicodeDecodeError:  # bytes that are not text go up as a base64 blob
            blob = handle.create_git_blob(base64.b64encode(change.content).decode("ascii"),
                                          "base64")
            return InputGitTreeElement(change.path, mode, "blob", sha=blob.sha)
        return InputGitTreeElement(change.path, mode, "blob", content=text)

    def _failure(self, repo: RepoRef, doing: str, error: GithubException) -> GitHubError:
        return GitHubError(f"{repo.name}: cannot {doing} ({error.status}: {_messages(error)})")

    def _refused(self, repo: RepoRef, doing: str, error: GithubException, permission: str,
                 *, workflows: bool = False) -> Exception:
        """WriteRefused for what the credentials may not do, GitHubError otherwise."""
        text = _messages(error)
        if "workflow" in text.lower() or (workflows and (
                error.status in (403, 404) or "Reference update failed" in text)):
            return WriteRefused(WORKFLOW_SCOPE)
        if error.status == 403 and "archived" in text.lower():
            return WriteRefused("the repository is archived (read-only)")
        if error.status == 422 and "Reference already exists" in text:
            return WriteRefused(f"cannot {doing}: it exists already (someone created it)")
        if error.status in (403, 404):
            return WriteRefused(f"GitHub refused to {doing} ({error.status}: {text}): the "
                                f"credentials need {permission}")
        return self._failure(repo, doing, error)


class GitHubActionResolver(ActionResolver):
    """Resolves `owner/repo[/path]@ref` (a tag, branch or commit) to the commit SHA GitHub
    reports for it, one request per (repository, ref), cached for the run."""

    def __init__(self, *, token: str | None = None, app_id: str | int | None = None,
                 app_private_key: str | None = None, api_url: str | None = None,
                 owner: str | None = None, timeout: float = 30.0):
        """With GitHub App credentials, `owner` names the organization whose installation
        reads the actions (an installation token reads public repositories too)."""
        self._clients = _Clients(token=token, app_id=app_id, app_private_key=app_private_key,
                                 api_url=api_url, min_write_gap=0, timeout=timeout,
                                 user="resolving GitHub Actions")
        self._owner = owner
        self._cache: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None,
                         **options: Any) -> GitHubActionResolver:
        found = environment_credentials(environ)
        api_url = options.pop("api_url", None) or found.api_url
        return cls(token=found.token, app_id=found.app_id,
                   app_private_key=found.app_private_key, api_url=api_url, **options)

    def close(self) -> None:
        self._clients.close()

    def resolve(self, action: str, ref: str) -> str:
        matched = _ACTION.fullmatch(action.strip())
        if matched is None or not ref.strip():
            raise Unsupported(f"{action}@{ref} is not a GitHub Action in a repository "
                              "(expected owner/repo[/path]@ref)")
        name = matched["repo"]
        key = (name.lower(), ref)
        with self._lock:
            known = self._cache.get(key)
        if known is not None:
            return known
        sha = self._ask(action, name, ref)
        with self._lock:
            self._cache[key] = sha
        return sha

    def _ask(self, action: str, name: str, ref: str) -> str:
        if self._clients.app and not self._owner:
            raise Unsupported(f"resolving {action}@{ref} with GitHub App credentials needs "
                              "the organization whose installation reads it")
        client = self._clients.for_owner(self._owner or name.split("/", 1)[0])
        try:
            # complete(): a lazy Commit takes its `sha` from its URL, i.e. the ref itself
            sha = str(client.get_repo(name).get_commit(ref).complete().sha)
        except GithubException as error:
            if error.status == 404:
                raise Unsupported(f"cannot resolve {action}@{ref}: the repository {name} does "
                                  "not exist or is not visible with these credentials") from None
            if error.status == 422:
                raise Unsupported(f"cannot resolve {action}@{ref}: {name} has no tag, branch "
                                  f"or commit named {ref}") from None
            raise GitHubError(f"cannot resolve {action}@{ref} ({error.status}: "
                              f"{_messages(error)})") from None
        if not _SHA.fullmatch(sha):
            raise Unsupported(f"GitHub answered {sha!r} for {action}@{ref}, not a commit SHA")
        log.debug("resolved %s@%s to %s", action, ref, sha)
        return sha


def _request(pull: PullRequest) -> ChangeRequest:
    state = "merged" if pull.merged_at is not None else str(pull.state)
    return ChangeRequest(number=int(pull.number), url=str(pull.html_url), state=state,
                         branch=str(pull.head.ref), body=pull.body or "")


def _messages(error: GithubException) -> str:
    """GitHub's message and the messages of its `errors` list, for people."""
    found = [_exception_message(error)]
    data = error.data if isinstance(error.data, Mapping) else {}
    for item in data.get("errors") or ():
        if isinstance(item, Mapping) and item.get("message"):
            found.append(str(item["message"]))
        elif isinstance(item, str):
            found.append(item)
    return "; ".join(found)
