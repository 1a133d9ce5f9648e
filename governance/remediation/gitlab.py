"""Merge requests on gitlab.com or a self-managed GitLab, written through python-gitlab.

Requests per operation (the project itself is read once per run and kept):

- `writable`: `GET /projects/:path` (archived, forked_from_project, permissions);
- `default_head`: `GET /projects/:id/repository/branches/:default`;
- `branch`: `GET …/repository/branches/:branch`, then `GET …/repository/compare?from=
  <default>&to=<head>` (the commits the default branch does not have, with authors);
- `find`: `GET …/merge_requests?source_branch=&state=all` (newest first);
- `commit`: one `POST …/repository/commits` with every change as an action, on a new
  branch from `start_sha` (or, replacing our own branch, after re-reading its head, with
  `force`);
- `open`: `POST …/merge_requests` (a 409 "Another open merge request already exists"
  adopts that one); `update`: `PUT …/merge_requests/:iid`; `comment`: `POST …/notes`;
- `close`: a note, one `PUT` (`state_event=close` and the description with
  CLOSED_MARKER), then `DELETE …/repository/branches/:branch` unless a person pushed to it.

Writes go one at a time, at least `min_write_gap` seconds apart; python-gitlab waits out
`429` answers (Retry-After, RateLimit-Reset) and retries 5xx answers.

Never written: the default branch, and any branch outside `governance/`.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from governance.errors import ConfigError
from governance.fixes import FileChange
from governance.models import RepoRef
from governance.providers.gitlab import (
    DEFAULT_URL,
    USER_AGENT,
    GitLabError,
    GitLabUnavailable,
    _normalize_url,
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

if TYPE_CHECKING:
    from gitlab.v4.objects import Project, ProjectMergeRequest

log = logging.getLogger(__name__)

DEVELOPER = 30  # GitLab's access level that may push branches and open merge requests
_ROLES = {0: "no access", 5: "Minimal Access", 10: "Guest", 20: "Reporter", 30: "Developer",
          40: "Maintainer", 50: "Owner"}
_STATES = {"opened": "open", "locked": "open", "closed": "closed", "merged": "merged"}
_NEEDS = "a token with the api scope and at least the Developer role on the project"


@dataclass(frozen=True)
class _ProjectInfo:
    id: int
    default_branch: str | None
    archived: bool
    fork_of: str | None
    access_level: int


class GitLabChangeRequests:
    """See the module docstring. The CLI uses `from_environment` (GITLAB_TOKEN; GITLAB_URL)."""

    kind = "gitlab"

    def __init__(self, *, token: str, url: str | None = None, min_write_gap: float = 1.0,
                 timeout: float = 30.0, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        try:
            import gitlab
        except ImportError:
            raise ConfigError("merge requests need python-gitlab: pip install python-gitlab"
                              ) from None
        token = (token or "").strip()
        if not token:
            raise ConfigError(f"opening merge requests needs GITLAB_TOKEN: {_NEEDS}")
        if min_write_gap < 0:
            raise ConfigError("min_write_gap must be zero or more seconds")
        self.base_url = _normalize_url(url or DEFAULT_URL)
        self.min_write_gap = min_write_gap
        # python-gitlab obeys 429 answers on every request by default (obey_rate_limit).
        self._gl = gitlab.Gitlab(
            self.base_url, private_token=token, timeout=timeout, retry_transient_errors=True,
            keep_base_url=True, user_agent=USER_AGENT)
        self._gl.session.trust_env = False  # no .netrc credentials, no proxy from the env
        self._sleep = sleep
        self._clock = clock
        self._write_lock = threading.Lock()
        self._last_write: float | None = None
        self._projects: dict[str, _ProjectInfo] = {}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None,
                         **options: Any) -> GitLabChangeRequests:
        """The token and URL from the environment, as the gitlab provider reads them."""
        env = os.environ if environ is None else environ
        token, job_token, url = environment_credentials(env, options.pop("url", None))
        if not token:
            hint = " (a CI job token cannot open merge requests)" if job_token else ""
            raise ConfigError(f"opening merge requests needs GITLAB_TOKEN: {_NEEDS}{hint}")
        return cls(token=token, url=url, **options)

    def close_session(self) -> None:
        self._gl.session.close()

    # ------------------------------------------------------------------ reads

    def writable(self, repo: RepoRef) -> str | None:
        try:
            info = self._info(repo)
        except WriteRefused as refused:
            return refused.reason
        if info.archived:
            return "the project is archived (read-only)"
        if info.fork_of:
            return f"the project is a fork of {info.fork_of}: fixes belong upstream"
        if info.default_branch is None:
            return "the project is empty: there is no default branch to fix"
        if info.access_level < DEVELOPER:
            role = _ROLES.get(info.access_level, str(info.access_level))
            return (f"the token's role on the project is {role}: pushing a branch and opening a "
                    "merge request need at least Developer")
        return None

    def default_head(self, repo: RepoRef) -> str:
        default = self._default_branch(repo)
        with self._errors(repo, f"read the default branch {default}", write=False):
            found = self._project(repo).branches.get(default)
        return str(found.commit["id"])

    def branch(self, repo: RepoRef, name: str) -> Branch | None:
        default = self._default_branch(repo)
        head = self._branch_head(repo, name)
        if head is None:
            return None
        with self._errors(repo, f"compare {name} with {default}", write=False):
            compared = self._project(repo).repository_compare(default, head)
        if not isinstance(compared, dict):
            raise GitLabError(f"{repo.name}: GitLab answered a comparison that is not an object")
        commits = tuple(
            BranchCommit(sha=str(c.get("id")), author=str(c.get("author_name") or ""),
                         message=str(c.get("message") or ""))
            for c in compared.get("commits") or () if isinstance(c, dict))
        return Branch(name=name, head=head, commits=commits)

    def find(self, repo: RepoRef, branch: str) -> ChangeRequest | None:
        info = self._info(repo)
        with self._errors(repo, f"list the merge requests from {branch}", write=False):
            found = self._project(repo).mergerequests.list(
                source_branch=branch, state="all", order_by="created_at", sort="desc",
                per_page=20, get_all=False)
        # Only requests from this project's own branch: a fork may use the same name.
        ours = [mr for mr in found if mr.attributes.get("source_project_id") == info.id]
        return _request(ours[0].attributes) if ours else None

    # ------------------------------------------------------------------ writes

    def commit(self, repo: RepoRef, branch: str, base: str, changes: Sequence[FileChange],
               message: str, *, replace: str | None = None) -> str:
        default = self._default_branch(repo)
        if branch == default or not branch.startswith(BRANCH_PREFIX):
            raise WriteRefused(f"refusing to write to {branch}: remediation writes only to "
                               f"{BRANCH_PREFIX}* branches, never to the default branch")
        if not changes:
            raise WriteRefused(f"refusing an empty commit to {branch}")
        project = self._project(repo)
        data: dict[str, Any] = {"branch": branch, "commit_message": message,
                                "start_sha": base, "actions": _actions(changes)}
        if replace is not None:
            # GitLab's commits API has no compare-and-swap on the branch: re-read its head
            # just before the write (a push in between these two requests is not detected).
            current = self._branch_head(repo, branch)
            if current is None:
                raise WriteRefused(f"{branch} was deleted since it was planned; not recreated "
                                   "in this run")
            if current != replace:
                raise WriteRefused(
                    f"a person pushed to {branch} (its head is {current[:12]}, not our "
                    f"{replace[:12]}): their commits are never overwritten")
            data["force"] = True
        with self._writing(), self._errors(repo, f"commit to {branch}", branch=branch):
            created = project.commits.create(data)
        sha = str(created.id)
        log.info("%s: committed %s to %s", repo.name, sha[:12], branch)
        return sha

    def open(self, repo: RepoRef, branch: str, title: str, body: str,
             labels: Sequence[str]) -> ChangeRequest:
        import gitlab

        default = self._default_branch(repo)
        data: dict[str, Any] = {"source_branch": branch, "target_branch": default,
                                "title": title, "description": body,
                                "remove_source_branch": True}
        if labels:
            data["labels"] = ",".join(labels)
        created: ProjectMergeRequest | None = None
        with self._writing(), self._errors(repo, f"open a merge request from {branch}",
                                           branch=branch):
            try:
                created = self._project(repo).mergerequests.create(data)
            except gitlab.GitlabCreateError as error:
                if not (error.response_code == 409
                        and "already exists" in _text(error.error_message)):
                    raise
        if created is None:
            # A race: another run (or a person) opened one for this branch; adopt it.
            found = self.find(repo, branch)
            if found is None or found.state != "open":
                raise WriteRefused(f"GitLab reports an open merge request from {branch} in "
                                   f"{repo.name}, but none can be found")
            log.info("%s: adopting the open merge request !%d from %s", repo.name,
                     found.number, branch)
            return found
        request = _request(created.attributes)
        log.info("%s: opened merge request !%d from %s", repo.name, request.number, branch)
        return request

    def update(self, repo: RepoRef, request: ChangeRequest, title: str, body: str) -> None:
        with self._writing(), self._errors(repo, f"update merge request !{request.number}"):
            self._project(repo).mergerequests.update(
                request.number, {"title": title, "description": body})

    def comment(self, repo: RepoRef, request: ChangeRequest, text: str) -> None:
        mr = self._merge_request(repo, request)
        with self._writing(), self._errors(repo, f"comment on merge request !{request.number}"):
            mr.notes.create({"body": text})

    def close(self, repo: RepoRef, request: ChangeRequest, comment: str) -> None:
        self.comment(repo, request, comment)
        body = request.body if CLOSED_MARKER in request.body else (
            f"{request.body.rstrip()}\n\n{CLOSED_MARKER}\n")
        with self._writing(), self._errors(repo, f"close merge request !{request.number}"):
            self._project(repo).mergerequests.update(
                request.number, {"state_event": "close", "description": body})
        self._delete_branch(repo, request.branch)

    def _delete_branch(self, repo: RepoRef, name: str) -> None:
        """Delete our branch of a closed request: never the default branch, never one
        outside governance/, never one with a person's commits."""
        if name == self._default_branch(repo) or not name.startswith(BRANCH_PREFIX):
            return
        import gitlab

        found = self.branch(repo, name)
        if found is None:
            return
        if found.foreign:
            log.warning("%s: keeping the branch %s: it has commits a person pushed",
                        repo.name, name)
            return
        with self._writing(), self._errors(repo, f"delete the branch {name}", branch=name):
            try:
                self._project(repo).branches.delete(name)
            except gitlab.GitlabDeleteError as error:
                if error.response_code != 404:  # else: gone already
                    raise

    def _branch_head(self, repo: RepoRef, name: str) -> str | None:
        """The branch's head commit now, or None when it does not exist."""
        import gitlab

        with self._errors(repo, f"read the branch {name}", write=False):
            try:
                found = self._project(repo).branches.get(name)
            except gitlab.GitlabGetError as error:
                if error.response_code == 404:
                    return None
                raise
        return str(found.commit["id"])

    # ------------------------------------------------------------------ plumbing

    def _project(self, repo: RepoRef) -> Project:
        """A lazy project object: no request; its id once known, else its path."""
        info = self._projects.get(repo.name)
        return self._gl.projects.get(info.id if info else repo.name, lazy=True)

    def _merge_request(self, repo: RepoRef, request: ChangeRequest) -> ProjectMergeRequest:
        return self._project(repo).mergerequests.get(request.number, lazy=True)

    def _info(self, repo: RepoRef) -> _ProjectInfo:
        cached = self._projects.get(repo.name)
        if cached is not None:
            return cached
        with self._errors(repo, "read the project", write=False, missing_is_refusal=True):
            project = self._gl.projects.get(repo.name)
        attrs = project.attributes
        permissions = attrs.get("permissions") or {}
        levels = [(permissions.get(k) or {}).get("access_level") or 0
                  for k in ("project_access", "group_access")]
        fork = attrs.get("forked_from_project")
        info = _ProjectInfo(
            id=int(attrs["id"]),
            default_branch=attrs.get("default_branch") or None,
            archived=bool(attrs.get("archived")),
            fork_of=str(fork.get("path_with_namespace") or "another project")
            if isinstance(fork, dict) else None,
            access_level=max(int(level) for level in levels),
        )
        self._projects[repo.name] = info
        return info

    def _default_branch(self, repo: RepoRef) -> str:
        default = self._info(repo).default_branch
        if default is None:
            raise WriteRefused(f"{repo.name} is empty: there is no default branch")
        return default

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write at a time, `min_write_gap` seconds after the previous one ended."""
        with self._write_lock:
            if self._last_write is not None:
                wait = self._last_write + self.min_write_gap - self._clock()
                if wait > 0:
                    self._sleep(wait)
            try:
                yield
            finally:
                self._last_write = self._clock()

    @contextmanager
    def _errors(self, repo: RepoRef, what: str, *, write: bool = True,
                branch: str | None = None, missing_is_refusal: bool = False) -> Iterator[None]:
        """python-gitlab's errors as the project's: a refused write becomes WriteRefused
        (naming the scope or role it needs), anything else GitLabError."""
        import gitlab
        import requests

        try:
            yield
        except gitlab.GitlabAuthenticationError as error:
            raise ConfigError(f"GitLab rejected the credentials ({error.response_code}) when "
                              f"trying to {what} in {repo.name}: check GITLAB_TOKEN") from None
        except gitlab.GitlabError as error:
            code = error.response_code
            message = _text(error.error_message)
            if code == 403:
                raise WriteRefused(f"GitLab refused to {what} in {repo.name} (403: {message}): "
                                   f"{_forbidden_hint(message, branch)}") from error
            if code == 404 and missing_is_refusal:
                raise WriteRefused(f"{repo.name} was not found, or is not visible with this "
                                   "token") from error
            if write and code is not None and 400 <= code < 500:
                raise WriteRefused(f"GitLab refused to {what} in {repo.name} ({code}: "
                                   f"{message})") from error
            raise GitLabError(f"{repo.name}: cannot {what} ({code}: {message})") from error
        except requests.RequestException as error:
            raise GitLabUnavailable(f"{repo.name}: GitLab could not be reached to {what} "
                                    f"({type(error).__name__})") from None


def _actions(changes: Sequence[FileChange]) -> list[dict[str, Any]]:
    """The commit's actions: content base64-encoded (binary-safe); executables get a chmod
    after their content (GitLab reads `execute_filemode` on chmod actions)."""
    actions: list[dict[str, Any]] = []
    for change in changes:
        action: dict[str, Any] = {"action": change.action, "file_path": change.path}
        if change.content is not None:
            action["encoding"] = "base64"
            action["content"] = base64.b64encode(change.content).decode("ascii")
        actions.append(action)
        if change.content is not None and change.executable:
            actions.append({"action": "chmod", "file_path": change.path,
                            "execute_filemode": True})
    return actions


def _request(attrs: Mapping[str, Any]) -> ChangeRequest:
    return ChangeRequest(
        number=int(attrs["iid"]),
        url=str(attrs.get("web_url") or ""),
        state=_STATES.get(str(attrs.get("state")), "closed"),
        branch=str(attrs.get("source_branch") or ""),
        body=str(attrs.get("description") or ""),
    )


def _forbidden_hint(message: str, branch: str | None) -> str:
    if "insufficient_scope" in message or "scope" in message:
        return f"the token lacks the api scope (read_api cannot write); use {_NEEDS}"
    if "push into this branch" in message or "protected" in message:
        where = f" {branch}" if branch else ""
        return (f"the branch{where} is protected against pushes by this token's role; "
                f"remediation branches ({BRANCH_PREFIX}*) must stay unprotected")
    return f"writing needs {_NEEDS}"


def _text(message: Any) -> str:
    """GitLab's error message: a string, a list of strings or a mapping of them."""
    if isinstance(message, (list, tuple)):
        return "; ".join(_text(m) for m in message)
    if isinstance(message, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in message.items())
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    return str(message)



if TYPE_CHECKING:
    from governance.remediation.base import ChangeRequests

    def _is_change_requests(value: GitLabChangeRequests) -> ChangeRequests:
        return value  # mypy checks the class against the Protocol here
