"""`github:ORG`, `github:ORG/REPO`, `github:ORG1,ORG2`, `github:*` (every organization a
GitHub App is installed on): repositories on github.com or GitHub Enterprise Server, read
through the API, no clone.

The fetch plan, per batch of repositories of one owner (`batch_size`, default 50):

1. listing: `GET /orgs/{org}/repos?per_page=100`, conditional (ETag kept on disk: an
   unchanged page answers `304`, which costs no rate limit);
2. one GraphQL query for the batch: default branch, head commit and root tree id, and
   (when a policy reads `default_branch_rules`) the classic protection rule GitHub applies
   to the default branch and the rulesets of the repository and its organization. When no
   setting is needed and the listing shows an unchanged `pushed_at`, this step is skipped;
3. one `GET /repos/{o}/{r}/git/trees/{tree}?recursive=1` per repository whose root tree
   is not in the on-disk cache (trees are cached by id, so an unchanged head costs nothing);
4. GraphQL queries for the text of the blobs matching the policies' globs that are not
   cached yet (blobs are cached by id: an unchanged file is never fetched again), a few
   hundred blobs per query. Binary blobs are remembered as such; larger files and files no
   policy declared are read on demand (`GET .../git/blobs/{sha}`) if a check asks.

A cold scan of the baseline pack costs about 1.05 counted requests per repository; a
repeat scan of an unchanged org one GraphQL query per batch (0.02 per repository).

Rate limits: the X-RateLimit-* headers of every answer are tracked per credential and
resource; below twice the reserve (5 % of the limit) requests are spaced out, at the
reserve the provider waits for the reset (logging a warning), or stops with
`RateLimitExhausted` when that wait is longer than `max_wait`. Secondary limits (403/429
with Retry-After), 5xx answers and dropped connections are retried with jittered
exponential backoff, `max_attempts` times; a repository that keeps failing becomes a
RepoFailure. At most `concurrency` requests are in flight; snapshots come out in order.

This is the only module that imports PyGithub: its Auth classes authenticate every
request (a token, or a GitHub App installation found per organization whose token PyGithub
renews), while the requests themselves go through `requests` with an on-disk ETag cache,
since PyGithub has no conditional requests for lists and its connection object is not
safe to share between threads.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import math
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from governance import __version__
from governance.errors import ConfigError, FileProblem, ProviderError
from governance.httpcache import (
    CachedBlob,
    ForgeCache,
    default_cache_dir,
    fingerprint,
)
from governance.models import RepoRef, TreeEntry
from governance.providers import forge
from governance.providers import github_queries as queries
from governance.providers.base import Needs
from governance.settings import DEFAULT_BRANCH_RULES, BranchRules, Enforcement, RuleSource
from governance.snapshot import RepoFailure, RepoSnapshot, matches

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
USER_AGENT = f"governance/{__version__} (+repository governance scanner)"
API_VERSION = "2022-11-28"

# Blobs up to this size are prefetched by GraphQL; larger ones are read on demand.
PREFETCH_MAX_BYTES = 512 * 1024
# One blob query holds at most this many objects and (by the tree's sizes) bytes; a query
# that fails (a timeout on GitHub's side) is split in halves down to BLOB_QUERY_MIN_OBJECTS.
BLOB_QUERY_OBJECTS = 500
BLOB_QUERY_BYTES = 8 * 1024 * 1024
BLOB_QUERY_MIN_OBJECTS = 20
# A truncated recursive tree is listed folder by folder, up to this many requests
# (`fetch="api"`); the default `fetch="auto"` clones such a repository instead.
TREE_FALLBACK_REQUESTS = 1000
# The longest pause between two requests while slowing down near the reserve.
MAX_PACE_SECONDS = 30.0

_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_REPO_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_KINDS = {"100644": "file", "100755": "file", "100664": "file", "120000": "symlink",
          "160000": "submodule"}
_ENFORCEMENT: dict[str, Enforcement] = {
    "ACTIVE": "active", "EVALUATE": "evaluate", "DISABLED": "disabled"}
_TRANSIENT_STATUS = forge.TRANSIENT_STATUS
# RepoRef.head_sha (the head when the listing knows it cheaply) in this version of models?
_REF_HAS_HEAD = "head_sha" in {f.name for f in fields(RepoRef)}

_NOT_VISIBLE = (
    "not found, or not visible with these credentials (a private repository needs a token "
    "that can read it: the repo scope, or the Metadata and Contents: read permissions)"
)
_CONTENTS_PERMISSION = "the credentials need the Contents: read permission"


class GitHubError(ProviderError):
    """GitHub could not be read (after retries, where retrying made sense)."""


class RateLimitExhausted(GitHubError):
    """The rate limit is used up for longer than the provider may wait (`max_wait`)."""


class GitHubUnavailable(GitHubError):
    """Server errors or dropped connections persisted through every retry."""


# --------------------------------------------------------------------------- credentials


class _Identity:
    """One set of credentials: the Authorization header, and a one-way key for caches."""

    def __init__(self, key: str, authorization: Callable[[], str]):
        self.key = key
        self._authorization = authorization
        self.classic = False  # a classic token (GitHub sends X-OAuth-Scopes for those)

    def authorization(self) -> str:
        return self._authorization()


@dataclass(frozen=True)
class EnvironmentCredentials:
    """What `from_environment` of the read provider and of the write side
    (governance.remediation.github) take from the environment."""

    token: str | None
    app_id: str | None
    app_private_key: str | None  # the PEM text, read from GITHUB_APP_PRIVATE_KEY_FILE
    api_url: str | None


def environment_credentials(environ: Mapping[str, str] | None = None) -> EnvironmentCredentials:
    """GITHUB_TOKEN, GITHUB_APP_ID with GITHUB_APP_PRIVATE_KEY_FILE, and GITHUB_API_URL."""
    env = os.environ if environ is None else environ
    app_id = env.get("GITHUB_APP_ID", "").strip()
    key: str | None = None
    if app_id:
        key_file = env.get("GITHUB_APP_PRIVATE_KEY_FILE", "").strip()
        if not key_file:
            raise ConfigError("GITHUB_APP_ID is set but GITHUB_APP_PRIVATE_KEY_FILE is not")
        try:
            key = Path(key_file).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"cannot read the GitHub App private key: {error}",
                              key_file) from None
    return EnvironmentCredentials(token=env.get("GITHUB_TOKEN") or None, app_id=app_id or None,
                                  app_private_key=key, api_url=env.get("GITHUB_API_URL") or None)


def choose_credentials(token: str | None, app_id: str | int | None,
                       app_private_key: str | None, api_url: str, timeout: float, user: str
                       ) -> tuple[_AppInstallations | None, str | None]:
    """The GitHub App (preferred when its id is set) or the token, for `user` ("the github
    provider", "remediation") to name in the error when there are neither."""
    if app_id is not None and str(app_id).strip():
        if not app_private_key:
            raise ConfigError("GitHub App authentication needs the app's private key "
                              "(GITHUB_APP_PRIVATE_KEY_FILE)")
        return _AppInstallations(str(app_id).strip(), app_private_key, api_url, timeout), None
    if token and token.strip():
        return None, token.strip()
    raise ConfigError(
        f"{user} needs GitHub credentials: set GITHUB_TOKEN (a personal access token or the "
        "Actions token), or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY_FILE")


def _token_identity(token: str, api_url: str) -> _Identity:
    from github import Auth

    auth = Auth.Token(token)
    header = f"{auth.token_type} {auth.token}"
    return _Identity(fingerprint("token", api_url, token), lambda: header)


class _AppInstallations:
    """A GitHub App: the installation on each owner is found once, and PyGithub mints and
    renews its installation token."""

    def __init__(self, app_id: str, private_key: str, api_url: str, timeout: float):
        from github import Auth, GithubIntegration

        self._app_id = app_id
        self._api_url = api_url
        self._auth = Auth.AppAuth(int(app_id) if app_id.isdigit() else app_id, private_key)
        self._integration = GithubIntegration(
            auth=self._auth, base_url=api_url, timeout=max(1, int(timeout)),
            seconds_between_requests=None, seconds_between_writes=None,
        )
        self._lock = threading.Lock()
        self._identities: dict[str, _Identity] = {}

    def owners(self) -> list[str]:
        """The organizations the app is installed on and not suspended (`github:*`)."""
        from github import GithubException

        try:
            installations = list(self._integration.get_installations())
        except GithubException as error:
            raise ConfigError(
                f"GitHub refused to list the installations of app {self._app_id} "
                f"({error.status}: {_exception_message(error)})") from None
        except (ValueError, TypeError) as error:  # the key cannot sign a JWT
            raise ConfigError(f"cannot sign GitHub App requests with the private key: "
                              f"{type(error).__name__}") from None
        return sorted((i.account.login for i in installations
                       if i.target_type == "Organization" and not i.suspended_at), key=str.lower)

    def identity(self, owner: str) -> _Identity:
        from github import GithubException

        with self._lock:
            known = self._identities.get(owner.lower())
            if known is not None:
                return known
            try:
                installation = self._integration.get_org_installation(owner)
                installation_id = int(installation.id)
            except GithubException as error:
                if error.status == 404:
                    raise ConfigError(
                        f"the GitHub App {self._app_id} is not installed on {owner}") from None
                raise ConfigError(
                    f"GitHub refused the App credentials of app {self._app_id} "
                    f"({error.status}: {_exception_message(error)}); check GITHUB_APP_ID and "
                    "GITHUB_APP_PRIVATE_KEY_FILE") from None
            except (ValueError, TypeError) as error:  # the key cannot sign a JWT
                raise ConfigError(
                    f"cannot sign GitHub App requests with the private key: "
                    f"{type(error).__name__}") from None
            auth = self._auth.get_installation_auth(
                installation_id, requester=self._integration.requester)
            token_lock = threading.Lock()

            def authorization() -> str:
                with token_lock:  # PyGithub renews the token; one renewal at a time
                    try:
                        return f"{auth.token_type} {auth.token}"
                    except GithubException as error:
                        raise GitHubError(
                            f"cannot get an installation token for {owner} "
                            f"({error.status}: {_exception_message(error)})") from None

            identity = _Identity(
                fingerprint("app", self._api_url, self._app_id, str(installation_id)),
                authorization)
            self._identities[owner.lower()] = identity
            return identity


def _exception_message(error: Any) -> str:
    data = getattr(error, "data", None)
    if isinstance(data, Mapping) and isinstance(data.get("message"), str):
        return str(data["message"])
    return type(error).__name__


# --------------------------------------------------------------------------- rate limits


@dataclass
class _Bucket:
    limit: int
    remaining: int
    reset: float
    paced: bool = False  # a slow-down warning was logged for this window


class _RateGate:
    """Primary rate limits per (credential, resource), from the answers' headers."""

    def __init__(self, reserve: float, max_wait: float, sleep: Callable[[float], None],
                 clock: Callable[[], float]):
        self._reserve = reserve
        self._max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._wait_lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._next_slot: dict[tuple[str, str], float] = {}

    def reserve_of(self, limit: int) -> int:
        return math.ceil(limit * self._reserve)

    def update(self, key: str, headers: Mapping[str, str]) -> None:
        try:
            limit = int(float(headers["X-RateLimit-Limit"]))
            remaining = int(float(headers["X-RateLimit-Remaining"]))
            reset = float(headers["X-RateLimit-Reset"])
        except (KeyError, ValueError):
            return
        resource = headers.get("X-RateLimit-Resource") or "core"
        with self._lock:
            bucket = self._buckets.get((key, resource))
            if bucket is None or reset != bucket.reset:
                self._buckets[(key, resource)] = _Bucket(limit, remaining, reset)
            else:
                bucket.limit, bucket.remaining = limit, min(remaining, bucket.remaining)

    def update_graphql(self, key: str, rate: Mapping[str, Any]) -> None:
        """The `rateLimit` object of a GraphQL answer (points, not requests)."""
        try:
            reset = dt.datetime.fromisoformat(str(rate["resetAt"]).replace("Z", "+00:00"))
            self.update(key, {
                "X-RateLimit-Limit": str(int(rate["limit"])),
                "X-RateLimit-Remaining": str(int(rate["remaining"])),
                "X-RateLimit-Reset": str(int(reset.timestamp())),
                "X-RateLimit-Resource": "graphql",
            })
        except (KeyError, TypeError, ValueError):
            return

    def before(self, key: str, resource: str) -> None:
        """Called before every request: slow down near the reserve, wait at it."""
        slot = (key, resource)
        with self._lock:
            bucket = self._buckets.get(slot)
            if bucket is None or bucket.limit <= 0:
                return
            reserve = self.reserve_of(bucket.limit)
            if bucket.remaining > 2 * reserve or (reserve == 0 and bucket.remaining > 0):
                return
            exhausted = bucket.remaining <= reserve
            reset = bucket.reset
        if exhausted:
            self.wait_for_reset(key, resource, reset)
            return
        now = self._clock()
        with self._lock:
            spare = max(1, bucket.remaining - reserve)
            delay = min(MAX_PACE_SECONDS, max(0.0, reset - now) / spare)
            start = max(now, self._next_slot.get(slot, 0.0))
            self._next_slot[slot] = start + delay
            wait = start - now
            if not bucket.paced:
                bucket.paced = True
                log.warning(
                    "GitHub API rate limit (%s): %d requests left before the reserve of %d; "
                    "slowing down to one request every %.1f s until %s", resource,
                    bucket.remaining - reserve, reserve, delay, _clock_time(reset))
        if wait > 0:
            self._sleep(wait)

    def wait_for_reset(self, key: str, resource: str, reset: float | None) -> None:
        """The limit is (nearly) used up: wait for its reset, or stop."""
        with self._wait_lock:
            with self._lock:
                bucket = self._buckets.get((key, resource))
                if bucket is not None and reset is not None and bucket.reset > reset:
                    return  # another thread already waited for this window
                if reset is None:
                    reset = bucket.reset if bucket is not None else self._clock() + 60.0
            delay = max(0.0, reset - self._clock()) + 1.0
            if delay > self._max_wait:
                raise RateLimitExhausted(
                    f"the GitHub API rate limit ({resource}) is used up until "
                    f"{_clock_time(reset)} ({delay:.0f} s from now), longer than the maximum "
                    f"wait of {self._max_wait:.0f} s (--max-wait); stopping: the repositories "
                    "scanned so far keep their findings")
            log.warning("GitHub API rate limit (%s) reached: waiting %.0f s until %s",
                        resource, delay, _clock_time(reset))
            self._sleep(delay)
            with self._lock:
                bucket = self._buckets.get((key, resource))
                if bucket is not None:  # optimistic until the next answer says otherwise
                    bucket.remaining, bucket.reset = bucket.limit, reset + 3600.0
                    bucket.paced = False


def _clock_time(epoch: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch))


# --------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class _Reply(forge.Reply):
    link: str = ""
    from_cache: bool = False

    forge_name: ClassVar[str] = "GitHub"
    error: ClassVar[Callable[[str], Exception]] = GitHubError


def _describe(method: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{method} {parts.path}" + (f"?{parts.query}" if parts.query else "")


class _Transport(forge.ForgeTransport):
    """HTTP with bounded concurrency, conditional GETs, rate limits and bounded retries."""

    def __init__(self, *, api_url: str, graphql_url: str, cache: ForgeCache, gate: _RateGate,
                 concurrency: int, timeout: float, max_attempts: int, backoff: float,
                 max_wait: float, sleep: Callable[[float], None]):
        super().__init__(forge="GitHub", unavailable=GitHubUnavailable,
                         concurrency=concurrency, timeout=timeout, max_attempts=max_attempts,
                         backoff=backoff, max_wait=max_wait, sleep=sleep)
        self.api_url = api_url
        self.graphql_url = graphql_url
        self._cache = cache
        self._gate = gate

    # --------------------------------------------------------------- public

    def get(self, identity: _Identity, url: str, *, conditional: bool = False) -> _Reply:
        """GET a REST URL; with `conditional`, through the ETag cache (304: from disk)."""
        return forge.conditional_get(
            self._cache, identity.key, url, conditional,
            lambda etag: self._send(identity, "GET", url, etag=etag),
            link=lambda reply: reply.link,
            replay=lambda reply, cached: _Reply(200, reply.headers, cached.body, cached.link,
                                                from_cache=True))

    def graphql(self, identity: _Identity, query: str, variables: Mapping[str, Any], *,
                max_attempts: int | None = None) -> dict[str, Any]:
        """POST a GraphQL query; waits (or stops) on RATE_LIMITED, retries transient errors
        (`max_attempts` times, default the transport's). Returns the whole answer: `data`
        (possibly partial) and `errors`."""
        body = {"query": query, "variables": dict(variables)}
        limit = min(max_attempts or self._max_attempts, self._max_attempts)
        attempts = 0
        limited = 0
        while True:
            reply = self._send(identity, "POST", self.graphql_url, body=body,
                               resource="graphql", max_attempts=limit)
            if reply.status != 200:
                raise GitHubError(f"GitHub GraphQL answered {reply.status}: {reply.message}")
            payload = reply.json()
            if not isinstance(payload, dict):
                raise GitHubError("GitHub GraphQL answered something that is not an object")
            errors = [e for e in payload.get("errors") or () if isinstance(e, Mapping)]
            if any(e.get("type") == "RATE_LIMITED" for e in errors):
                limited += 1
                if limited > 3:
                    raise RateLimitExhausted(
                        "the GitHub GraphQL rate limit is still used up after waiting for its "
                        "reset; stopping: the repositories scanned so far keep their findings")
                self._gate.wait_for_reset(identity.key, "graphql", _reset_of(reply.headers))
                continue
            data = payload.get("data")
            if isinstance(data, Mapping) and isinstance(data.get("rateLimit"), Mapping):
                self._gate.update_graphql(identity.key, data["rateLimit"])
            if data is None and errors and _transient_graphql(errors):
                attempts += 1
                self._retry(attempts, limit, f"GraphQL error: {_error_messages(errors)}",
                            f"GitHub GraphQL kept failing ({attempts} attempts): "
                            f"{_error_messages(errors)}")
                continue
            return payload

    # --------------------------------------------------------------- the loop

    def _send(self, identity: _Identity, method: str, url: str, *, etag: str | None = None,
              body: Any = None, resource: str = "core", max_attempts: int | None = None
              ) -> _Reply:
        what = _describe(method, url)
        limit = max_attempts or self._max_attempts
        attempts = limited = 0
        while True:
            self._gate.before(identity.key, resource)
            headers = {
                "Accept": "application/vnd.github+json",
                "User-Agent": USER_AGENT,
                "X-GitHub-Api-Version": API_VERSION,
                "Authorization": identity.authorization(),
            }
            if etag:
                headers["If-None-Match"] = etag
            exchanged = self._exchange(method, url, headers, body, what, key=identity.key,
                                       resource=resource)
            if isinstance(exchanged, str):
                attempts += 1
                self._unreachable(attempts, limit, exchanged)
                continue
            response, content = exchanged
            reply = _Reply(response.status_code, response.headers, content,
                           response.headers.get("Link", ""))
            self._gate.update(identity.key, reply.headers)
            if "X-OAuth-Scopes" in reply.headers:
                identity.classic = True
            status = reply.status
            if status == 401:
                raise ConfigError(
                    f"GitHub rejected the credentials ({status} {reply.message}) on {what}: "
                    "check GITHUB_TOKEN (or the GitHub App settings)")
            if status in (403, 429) and _secondary_limit(reply):
                attempts += 1
                wait = _retry_after(reply.headers)
                if wait is None:  # GitHub's advice: at least a minute, growing
                    wait = 60.0 * self._backoff * 2.0 ** (attempts - 1)
                if wait > self._max_wait:
                    raise RateLimitExhausted(
                        f"GitHub's secondary rate limit asks to wait {wait:.0f} s, longer than "
                        f"the maximum wait of {self._max_wait:.0f} s (--max-wait); stopping")
                if attempts >= limit:
                    raise GitHubUnavailable(
                        f"GitHub's secondary rate limit persisted on {what} "
                        f"({attempts} attempts)")
                log.warning("GitHub secondary rate limit on %s: waiting %.1f s", what, wait)
                self._sleep(wait)
                continue
            if status in (403, 429) and _primary_limit(reply):
                limited += 1
                if limited > 3:
                    raise RateLimitExhausted(
                        f"GitHub still refuses {what} for its rate limit after waiting for the "
                        "reset; stopping: the repositories scanned so far keep their findings")
                self._gate.wait_for_reset(identity.key, resource, _reset_of(reply.headers))
                continue
            if status in _TRANSIENT_STATUS:
                attempts += 1
                reason = f"{status} {reply.message} on {what}"
                self._retry(attempts, limit, reason,
                            f"GitHub kept answering {reason} ({attempts} attempts)")
                continue
            return reply


_retry_after = forge.retry_after


def _reset_of(headers: Mapping[str, str]) -> float | None:
    try:
        return float(headers["X-RateLimit-Reset"])
    except (KeyError, ValueError):
        return None


def _secondary_limit(reply: _Reply) -> bool:
    if "secondary rate limit" in reply.message.lower():
        return True
    return "Retry-After" in reply.headers and reply.headers.get("X-RateLimit-Remaining") != "0"


def _primary_limit(reply: _Reply) -> bool:
    return (reply.headers.get("X-RateLimit-Remaining") == "0"
            or reply.message.lower().startswith("api rate limit exceeded"))


def _transient_graphql(errors: Sequence[Mapping[str, Any]]) -> bool:
    text = " ".join(str(e.get("message", "")) for e in errors).lower()
    return "something went wrong" in text or "timeout" in text or "timed out" in text


def _error_messages(errors: Iterable[Mapping[str, Any]]) -> str:
    return "; ".join(str(e.get("message", e.get("type", "error"))) for e in errors) or "error"


# --------------------------------------------------------------------------- git helpers


_blob_id = forge.blob_id


@lru_cache(maxsize=256)
def _ref_pattern(pattern: str) -> re.Pattern[str]:
    """GitHub's branch patterns (fnmatch with File::FNM_PATHNAME): `*` and `?` stay within
    a path segment, `**` crosses them, `[...]` is a character class."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = pattern.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = pattern[i + 1 : end]
                negate = body[:1] in ("!", "^")
                body = body[1:] if negate else body
                out.append("[" + ("^" if negate else "") + body.replace("\\", "\\\\") + "]")
                i = end + 1
                continue
        else:
            out.append(re.escape(char))
        i += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return re.compile(re.escape(pattern))


def _branch_matches(pattern: str, branch: str) -> bool:
    if pattern in ("~ALL", "~DEFAULT_BRANCH"):
        return True  # the branch we evaluate is the default branch
    target = f"refs/heads/{branch}" if pattern.startswith("refs/") else branch
    return _ref_pattern(pattern).fullmatch(target) is not None


def _targets_branch(ruleset: Mapping[str, Any], branch: str) -> bool:
    if (ruleset.get("target") or "BRANCH") != "BRANCH":
        return False
    ref_name = (ruleset.get("conditions") or {}).get("refName") or {}
    include = [p for p in ref_name.get("include") or () if isinstance(p, str)]
    exclude = [p for p in ref_name.get("exclude") or () if isinstance(p, str)]
    return (any(_branch_matches(p, branch) for p in include)
            and not any(_branch_matches(p, branch) for p in exclude))


def _classic_source(rule: Mapping[str, Any]) -> RuleSource:
    requires = bool(rule.get("requiresApprovingReviews"))
    count = rule.get("requiredApprovingReviewCount")
    return RuleSource(
        kind="classic",
        name=str(rule.get("pattern") or ""),
        requires_pull_request=requires,
        required_approvals=int(count or 0) if requires else None,
        code_owner_review=bool(rule.get("requiresCodeOwnerReviews")),
        dismiss_stale_reviews=bool(rule.get("dismissesStaleReviews")),
        require_last_push_approval=bool(rule.get("requireLastPushApproval")),
        allow_force_push=bool(rule.get("allowsForcePushes")),
        allow_deletion=bool(rule.get("allowsDeletions")),
        enforce_admins=bool(rule.get("isAdminEnforced")),
    )


def _actor_label(node: Mapping[str, Any]) -> str:
    if node.get("organizationAdmin"):
        return "role:organization-admin"
    if node.get("repositoryRoleName"):
        return f"role:{str(node['repositoryRoleName']).lower()}"
    if node.get("deployKey"):
        return "deploy-keys"
    actor = node.get("actor") or {}
    if actor.get("__typename") == "Team":
        return f"team:{actor.get('combinedSlug', '?')}"
    if actor.get("__typename") == "App":
        return f"app:{actor.get('slug', '?')}"
    return "unknown"


def _ruleset_source(ruleset: Mapping[str, Any]) -> RuleSource:
    rules = [r for r in ((ruleset.get("rules") or {}).get("nodes") or ()) if r]
    types = {str(r.get("type")) for r in rules}
    pull = next((r for r in rules if r.get("type") == "PULL_REQUEST"), None)
    params: Mapping[str, Any] = (pull or {}).get("parameters") or {}
    bypass = ruleset.get("bypassActors")
    actors: tuple[str, ...] = ()
    if isinstance(bypass, Mapping):
        nodes = [n for n in bypass.get("nodes") or () if n]
        actors = tuple(_actor_label(n) for n in nodes)
        more = int(bypass.get("totalCount") or 0) - len(nodes)
        if more > 0:
            actors += (f"+{more} more",)
    source = ruleset.get("source") or {}
    origin = {"Organization": "organization", "Enterprise": "enterprise"}.get(
        str(source.get("__typename")), "repository")
    count = params.get("requiredApprovingReviewCount")
    return RuleSource(
        kind="ruleset",
        name=str(ruleset.get("name") or ""),
        enforcement=_ENFORCEMENT.get(str(ruleset.get("enforcement")), "evaluate"),
        requires_pull_request=pull is not None,
        required_approvals=int(count or 0) if pull is not None else None,
        code_owner_review=bool(params.get("requireCodeOwnerReview")),
        dismiss_stale_reviews=bool(params.get("dismissStaleReviewsOnPush")),
        require_last_push_approval=bool(params.get("requireLastPushApproval")),
        allow_force_push="NON_FAST_FORWARD" not in types,
        allow_deletion="DELETION" not in types,
        enforce_admins=isinstance(bypass, Mapping) and not actors,
        bypass_actors=actors,
        origin=origin,
    )


def _tree_entries(listing: Iterable[Sequence[Any]]) -> dict[str, TreeEntry]:
    tree: dict[str, TreeEntry] = {}
    for path, mode, sha, size in listing:
        tree[path] = TreeEntry(path=path, kind=_KINDS.get(mode, "file"),
                               size=None if size is None else int(size), sha=sha)
    return tree


def _compact(entries: Iterable[Mapping[str, Any]], prefix: str = "") -> list[list[Any]]:
    """The REST tree entries we keep: [path, mode, sha, size] of everything but folders."""
    out: list[list[Any]] = []
    for entry in entries:
        if entry.get("type") == "tree":
            continue
        path, sha = entry.get("path"), entry.get("sha")
        if not isinstance(path, str) or not isinstance(sha, str):
            continue
        size = entry.get("size")
        out.append([prefix + path, str(entry.get("mode", "100644")), sha,
                    size if isinstance(size, int) else None])
    return out


# --------------------------------------------------------------------------- the provider


@dataclass(frozen=True)
class _Target:
    owner: str
    repo: str | None = None


@dataclass
class _Listed:
    """What the listing said about a repository, for the snapshot step."""

    pushed_at: str | None = None
    failure: str | None = None


@dataclass(kw_only=True)
class _Work(forge.Work):
    """One repository going through a batch."""

    owner: str
    name: str
    listed: _Listed | None

Item = RepoSnapshot | RepoFailure


class _BlobReader(forge.CachedBlobReader):
    """Files of one repository: from the on-disk blob cache (prefetched in batches), else
    fetched on demand by blob id (`GET .../git/blobs/{sha}`, counted against the limit)."""

    def __init__(self, provider: GitHubProvider, identity: _Identity, owner: str, name: str):
        self._provider = provider
        self._identity = identity
        self._owner = owner
        self._name = name

    def _cache(self) -> ForgeCache:
        return self._provider._cache

    def _fetch(self, entry: TreeEntry) -> CachedBlob:
        return self._provider._fetch_blob(self._identity, self._owner, self._name, entry)


class GitHubProvider(forge.BatchedProvider):
    """See the module docstring. Construct with a token or a GitHub App; the CLI uses
    `from_environment` (GITHUB_TOKEN, GITHUB_API_URL, GITHUB_APP_ID,
    GITHUB_APP_PRIVATE_KEY_FILE)."""

    kind = "github"

    def __init__(
        self,
        source: str,
        *,
        token: str | None = None,
        app_id: str | int | None = None,
        app_private_key: str | None = None,
        api_url: str | None = None,
        graphql_url: str | None = None,
        include_archived: bool = True,
        include_forks: bool = True,
        concurrency: int = 4,
        max_wait: float = 3600.0,
        cache_dir: Path | str | None = None,
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
        _require_clients()
        self._targets = _parse_source(source)
        self.api_url = _normalize_api_url(api_url or DEFAULT_API_URL)
        self.graphql_url = graphql_url or _graphql_url_for(self.api_url)
        forge.check_options(concurrency=concurrency, max_wait=max_wait, per_page=per_page,
                            batch_size=batch_size)
        self._include_archived = include_archived
        self._include_forks = include_forks
        self._fetch_mode = forge.check_fetch_mode(fetch)
        self._concurrency = concurrency
        self._per_page = per_page
        self._batch_size = batch_size
        self._app, plain_token = choose_credentials(token, app_id, app_private_key,
                                                    self.api_url, timeout,
                                                    "the github provider")
        self._token_identity = (None if plain_token is None
                                else _token_identity(plain_token, self.api_url))
        self._cache = ForgeCache(Path(cache_dir) if cache_dir else default_cache_dir())
        gate = _RateGate(reserve, max_wait, sleep, clock)
        self._transport = _Transport(
            api_url=self.api_url, graphql_url=self.graphql_url, cache=self._cache, gate=gate,
            concurrency=concurrency, timeout=timeout, max_attempts=max_attempts,
            backoff=backoff, max_wait=max_wait, sleep=sleep)
        self._listed: dict[str, _Listed] = {}

    @classmethod
    def from_environment(cls, source: str, environ: Mapping[str, str] | None = None,
                         **options: Any) -> GitHubProvider:
        """Credentials and URL from the environment, never from the command line."""
        found = environment_credentials(environ)
        api_url = options.pop("api_url", None) or found.api_url
        return cls(source, token=found.token, app_id=found.app_id,
                   app_private_key=found.app_private_key, api_url=api_url, **options)

    def close(self) -> None:
        self._transport.close()
        self._cache.close()

    def __enter__(self) -> GitHubProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ identities

    def _identity(self, owner: str) -> _Identity:
        if self._app is not None:
            return self._app.identity(owner)
        assert self._token_identity is not None
        return self._token_identity

    # ------------------------------------------------------------------ listing

    def list_repos(self) -> Iterator[RepoRef]:
        for target in self._targets:
            if target.owner == "*":  # every organization the GitHub App is installed on
                if self._app is None:
                    raise ConfigError("github:* scans the organizations a GitHub App is "
                                      "installed on: set GITHUB_APP_ID and "
                                      "GITHUB_APP_PRIVATE_KEY_FILE")
                for owner in self._app.owners():
                    yield from self._list_owner(owner)
            elif target.repo is not None:
                yield self._list_one(target.owner, target.repo)
            else:
                yield from self._list_owner(target.owner)

    def _list_owner(self, owner: str) -> Iterator[RepoRef]:
        identity = self._identity(owner)
        url: str | None = (f"{self.api_url}/orgs/{urllib.parse.quote(owner)}/repos?"
                           f"per_page={self._per_page}&type=all&sort=full_name&direction=asc")
        while url:
            reply = self._transport.get(identity, url, conditional=True)
            if reply.status == 404:
                raise ConfigError(f"github:{owner}: no organization {owner!r} is visible with "
                                  "these credentials")
            if reply.status != 200:
                raise GitHubError(f"github:{owner}: cannot list the repositories "
                                  f"({reply.status}: {reply.message})")
            items = reply.json()
            if not isinstance(items, list):
                raise GitHubError(f"github:{owner}: the repository listing is not a list")
            for item in items:
                if not isinstance(item, Mapping):
                    continue
                ref = self._ref(item, identity)
                if (ref.archived and not self._include_archived) or (
                        ref.fork and not self._include_forks):
                    self._listed.pop(ref.name, None)
                    continue
                yield ref
            url = self._next_page(reply.link)

    def _list_one(self, owner: str, name: str) -> RepoRef:
        identity = self._identity(owner)
        url = f"{self.api_url}/repos/{urllib.parse.quote(owner)}/{urllib.parse.quote(name)}"
        reply = self._transport.get(identity, url, conditional=True)
        if reply.status == 200:
            item = reply.json()
            if isinstance(item, Mapping):
                return self._ref(item, identity)
        full = f"{owner}/{name}"
        reason = _NOT_VISIBLE if reply.status in (403, 404) else (
            f"GitHub answered {reply.status}: {reply.message}")
        self._listed[full] = _Listed(failure=reason)
        return RepoRef(provider=self.kind, name=full, location=f"{_html_root(self.api_url)}/{full}")

    def _ref(self, item: Mapping[str, Any], identity: _Identity) -> RepoRef:
        name = str(item.get("full_name") or "")
        visibility = item.get("visibility")
        if not isinstance(visibility, str):
            visibility = "private" if item.get("private") else "public"
        topics = item.get("topics")
        ref = RepoRef(
            provider=self.kind,
            name=name,
            location=str(item.get("html_url") or f"{_html_root(self.api_url)}/{name}"),
            default_branch=item.get("default_branch") or None,
            archived=bool(item.get("archived")),
            fork=bool(item.get("fork")),
            visibility=visibility,
            topics=tuple(str(t) for t in topics) if isinstance(topics, list) else (),
        )
        failure = None
        if item.get("disabled"):
            failure = ("the repository is disabled on GitHub (for example by a billing or "
                       "policy problem): its contents cannot be read")
        pushed = item.get("pushed_at")
        listed = _Listed(pushed_at=pushed if isinstance(pushed, str) else None, failure=failure)
        self._listed[name] = listed
        if _REF_HAS_HEAD and failure is None:
            # Unchanged since the last scan: the head is known without asking, which lets
            # an incremental scan reuse findings (RepoRef.head_sha).
            state = self._cache.state(identity.key, name)
            if _unchanged_since(state, listed, ref.default_branch) and state is not None:
                known: dict[str, Any] = {"head_sha": state.get("head")}
                ref = replace(ref, **known)
        return ref

    def _next_page(self, link: str) -> str | None:
        for part in link.split(","):
            section = part.split(";")
            if len(section) < 2 or not any(s.strip() == 'rel="next"' for s in section[1:]):
                continue
            url = section[0].strip().removeprefix("<").removesuffix(">")
            if not url.startswith(self.api_url + "/"):
                # Never send the credentials anywhere but the configured API.
                raise GitHubError(f"GitHub's pagination points outside {self.api_url}")
            return url
        return None

    # ------------------------------------------------------------------ snapshots

    # snapshots: forge.BatchedProvider, with _batches and _fetch_batch

    def _batches(self, refs: Iterable[RepoRef]) -> Iterator[list[RepoRef]]:
        batch: list[RepoRef] = []
        for ref in refs:
            if batch and (len(batch) >= self._batch_size
                          or _owner_of(batch[0]).lower() != _owner_of(ref).lower()):
                yield batch
                batch = []
            batch.append(ref)
        if batch:
            yield batch

    def _fetch_batch(self, batch: list[RepoRef], needs: Needs, pool: ThreadPoolExecutor
                     ) -> list[Item]:
        owner = _owner_of(batch[0])
        identity = self._identity(owner)
        wants_rules = DEFAULT_BRANCH_RULES in needs.settings
        results: list[Item | None] = [None] * len(batch)
        works: list[_Work] = []
        to_query: list[_Work] = []
        for index, ref in enumerate(batch):
            listed = self._listed.pop(ref.name, None)
            if listed is not None and listed.failure:
                results[index] = RepoFailure(ref, listed.failure)
                continue
            work = _Work(index=index, ref=ref, owner=owner, name=ref.name.split("/", 1)[1],
                         listed=listed, state=self._cache.state(identity.key, ref.name))
            works.append(work)
            if not wants_rules and _unchanged(work):
                assert work.state is not None
                work.branch, work.head = work.state.get("branch"), work.state.get("head")
                work.tree_sha, work.empty = work.state.get("tree"), work.head is None
            else:
                to_query.append(work)
        if to_query:
            self._query_repositories(identity, owner, to_query, wants_rules)
        with_tree = [w for w in works if not w.failure and not w.empty]
        for future in [pool.submit(self._load_tree, identity, w) for w in with_tree]:
            future.result()
        self._prefetch_blobs(identity, owner, [w for w in with_tree if w.tree is not None],
                             needs.files, pool)
        for work in works:
            results[work.index] = self._finish(identity, work, needs)
        return [item for item in results if item is not None]

    # ------------------------------------------------------------------ GraphQL: heads

    def _query_repositories(self, identity: _Identity, owner: str, works: list[_Work],
                            settings: bool) -> None:
        query = queries.repositories_query(len(works), settings)
        variables = queries.name_variables(owner, [w.name for w in works])
        try:
            payload = self._transport.graphql(identity, query, variables)
        except RateLimitExhausted:
            raise
        except GitHubError as error:
            for work in works:
                work.failure = str(error)
            return
        parts = forge.graphql_parts(payload, works, queries.repository_alias,
                                    "GitHub GraphQL answered no data", _error_messages)
        for work, node, mine in parts:
            self._read_repository(identity, work, node, mine, settings)

    def _read_repository(self, identity: _Identity, work: _Work, node: Any,
                         errors: list[Mapping[str, Any]], settings: bool) -> None:
        if not isinstance(node, Mapping):
            types = {e.get("type") for e in errors}
            if "FORBIDDEN" in types:
                work.failure = (f"the credentials cannot read this repository: "
                                f"{_error_messages(errors)}")
            elif errors and "NOT_FOUND" not in types:
                work.failure = f"GitHub could not read this repository: {_error_messages(errors)}"
            else:
                work.failure = _NOT_VISIBLE
            return
        branch_ref = node.get("defaultBranchRef")
        if node.get("isEmpty") or not isinstance(branch_ref, Mapping):
            work.empty, work.head, work.tree_sha = True, None, None
            work.branch = work.ref.default_branch
        else:
            target = branch_ref.get("target") or {}
            work.branch = str(branch_ref.get("name") or work.ref.default_branch or "")
            work.head = target.get("oid")
            work.tree_sha = (target.get("tree") or {}).get("oid")
            if not work.head or not work.tree_sha:
                work.failure = ("GitHub did not return the head commit of the default branch"
                                + (f": {_error_messages(errors)}" if errors else ""))
                return
        if settings:
            self._read_branch_rules(identity, work, node, errors)

    def _read_branch_rules(self, identity: _Identity, work: _Work, node: Mapping[str, Any],
                           errors: list[Mapping[str, Any]]) -> None:
        if work.empty:
            work.settings[DEFAULT_BRANCH_RULES] = None
            return
        branch_ref: Mapping[str, Any] = node.get("defaultBranchRef") or {}
        reasons = []
        classic_errors = [e for e in errors
                          if _path_of(e)[1:3] == ["defaultBranchRef", "branchProtectionRule"]]
        classic = branch_ref.get("branchProtectionRule")
        if classic_errors:
            reasons.append("reading branch protection needs the Administration: read "
                           f"permission ({_error_messages(classic_errors)})")
        elif classic is None and identity.classic and not node.get("viewerCanAdminister"):
            reasons.append(
                "reading classic branch protection needs the Administration: read permission "
                "(a fine-grained token or GitHub App) or the token of a repository "
                "administrator, which this token's user is not")
        rulesets = node.get("rulesets")
        nodes: list[Mapping[str, Any]] = []
        if not isinstance(rulesets, Mapping):
            ruleset_errors = [e for e in errors if _path_of(e)[1:2] == ["rulesets"]]
            reasons.append("reading rulesets needs the Metadata: read permission"
                           + (f" ({_error_messages(ruleset_errors)})" if ruleset_errors else ""))
        else:
            nodes = [n for n in rulesets.get("nodes") or () if isinstance(n, Mapping)]
            page = rulesets.get("pageInfo") or {}
            if page.get("hasNextPage"):
                more, problem = self._more_rulesets(identity, work, page.get("endCursor"))
                nodes += more
                if problem:
                    reasons.append(problem)
        classic_seen = not classic_errors and not (
            classic is None and identity.classic and not node.get("viewerCanAdminister"))
        rulesets_seen = isinstance(rulesets, Mapping)
        if not classic_seen and not rulesets_seen:
            work.unavailable[DEFAULT_BRANCH_RULES] = "; ".join(reasons)
            return
        branch = work.branch or ""
        sources = [_classic_source(classic)] if isinstance(classic, Mapping) else []
        sources += [_ruleset_source(n) for n in nodes if _targets_branch(n, branch)]
        # What could be read still decides a pass; `unseen` keeps a fail from being claimed.
        work.settings[DEFAULT_BRANCH_RULES] = BranchRules(branch, tuple(sources),
                                                          "; ".join(reasons))

    def _more_rulesets(self, identity: _Identity, work: _Work, cursor: Any
                       ) -> tuple[list[Mapping[str, Any]], str | None]:
        found: list[Mapping[str, Any]] = []
        for _ in range(100):
            try:
                payload = self._transport.graphql(
                    identity, queries.rulesets_page_query(),
                    {"owner": work.owner, "name": work.name, "after": cursor})
            except RateLimitExhausted:
                raise
            except GitHubError as error:
                return found, f"could not read every ruleset: {error}"
            data = payload.get("data") or {}
            rulesets = (data.get("repository") or {}).get("rulesets")
            if not isinstance(rulesets, Mapping):
                errors = [e for e in payload.get("errors") or () if isinstance(e, Mapping)]
                return found, f"could not read every ruleset: {_error_messages(errors)}"
            found += [n for n in rulesets.get("nodes") or () if isinstance(n, Mapping)]
            page = rulesets.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return found, None
            cursor = page.get("endCursor")
        return found, "too many rulesets to read"

    # ------------------------------------------------------------------ trees

    def _load_tree(self, identity: _Identity, work: _Work) -> None:
        assert work.tree_sha is not None
        listing = self._cache.tree(work.tree_sha)
        if listing is None and self._fetch_mode == "clone":
            self._clone(identity, work)
            return
        if listing is None:
            try:
                listing = self._fetch_tree(identity, work)
            except (RateLimitExhausted, ConfigError):
                raise
            except GitHubError as error:
                work.failure = str(error)
                return
            if listing is None:
                return
            self._cache.store_tree(work.tree_sha, listing)
        work.tree = _tree_entries(listing)

    def _clone(self, identity: _Identity, work: _Work) -> None:
        """List (and later read) the repository through a partial shallow clone."""
        work.tree = None
        work.clone = forge.clone_tree(work, f"{work.ref.location}.git", "x-access-token",
                                      identity.authorization().partition(" ")[2])
        if work.clone is not None and work.tree is not None and work.tree_sha is not None:
            self._cache.store_tree(work.tree_sha, [  # a repeat scan lists it from the cache
                [e.path, forge.MODE_OF_KIND.get(e.kind, "100644"), e.sha, e.size]
                for e in work.tree.values()])

    def _tree_url(self, work: _Work, sha: str, recursive: bool) -> str:
        base = (f"{self.api_url}/repos/{urllib.parse.quote(work.owner)}/"
                f"{urllib.parse.quote(work.name)}/git/trees/{urllib.parse.quote(sha, safe='')}")
        return base + ("?recursive=1" if recursive else "")

    def _fetch_tree(self, identity: _Identity, work: _Work) -> list[list[Any]] | None:
        assert work.tree_sha is not None
        reply = self._transport.get(identity, self._tree_url(work, work.tree_sha, True))
        payload = self._tree_reply(work, reply)
        if payload is None:
            return None
        if not payload.get("truncated"):
            return _compact(payload.get("tree") or ())
        if self._fetch_mode == "auto":
            log.info("%s: the tree is too large for one request; cloning instead",
                     work.ref.name)
            self._clone(identity, work)
            return None
        log.info("%s: the tree is too large for one request; listing it folder by folder",
                 work.ref.name)
        budget = [TREE_FALLBACK_REQUESTS]
        return self._walk_tree(identity, work, work.tree_sha, "", budget)

    def _walk_tree(self, identity: _Identity, work: _Work, sha: str, prefix: str,
                   budget: list[int]) -> list[list[Any]] | None:
        """A truncated tree: list this folder, then each sub-folder recursively (and
        folder by folder again where that is truncated too)."""
        budget[0] -= 1
        if budget[0] < 0:
            work.failure = ("the repository's file tree is too large to list through the "
                            "GitHub API")
            return None
        payload = self._tree_reply(work, self._transport.get(
            identity, self._tree_url(work, sha, False)))
        if payload is None:
            return None
        entries = payload.get("tree") or ()
        out = _compact(entries, prefix)
        for entry in entries:
            if entry.get("type") != "tree" or not isinstance(entry.get("sha"), str):
                continue
            folder = f"{prefix}{entry.get('path')}/"
            budget[0] -= 1
            sub = self._tree_reply(work, self._transport.get(
                identity, self._tree_url(work, entry["sha"], True)))
            if sub is None:
                return None
            if sub.get("truncated"):
                deeper = self._walk_tree(identity, work, entry["sha"], folder, budget)
                if deeper is None:
                    return None
                out += deeper
            else:
                out += _compact(sub.get("tree") or (), folder)
        return out

    def _tree_reply(self, work: _Work, reply: _Reply) -> Mapping[str, Any] | None:
        if reply.status == 200:
            payload = reply.json()
            if isinstance(payload, Mapping):
                return payload
            work.failure = "GitHub answered a tree that is not an object"
        elif reply.status == 409:  # emptied since the GraphQL query
            work.empty, work.head, work.tree_sha = True, None, None
        elif reply.status == 403:
            work.failure = (f"cannot list the files of this repository ({reply.status}: "
                            f"{reply.message}): {_CONTENTS_PERMISSION}")
        else:
            work.failure = (f"cannot list the files of this repository ({reply.status}: "
                            f"{reply.message})")
        return None

    # ------------------------------------------------------------------ blobs

    def _prefetch_blobs(self, identity: _Identity, owner: str, works: list[_Work],
                        patterns: Sequence[str], pool: ThreadPoolExecutor) -> None:
        if not patterns or not works:
            return
        works = forge.read_through_clones(works, patterns, self._cache, pool,
                                          self._fetch_mode == "auto",
                                          lambda work: self._clone(identity, work))
        sizes: dict[str, int] = {}
        wanted: list[tuple[str, list[str]]] = []
        for work in works:
            assert work.tree is not None
            shas: list[str] = []
            for path, entry in work.tree.items():
                if entry.kind not in ("file", "symlink") or entry.sha is None:
                    continue
                if (entry.size or 0) > PREFETCH_MAX_BYTES or entry.sha in sizes:
                    continue
                if matches(path, patterns):
                    sizes[entry.sha] = entry.size or 0
                    shas.append(entry.sha)
            if shas:
                wanted.append((work.name, shas))
        known = self._cache.known_blobs(sizes)
        groups: list[list[tuple[str, list[str]]]] = []
        current: list[tuple[str, list[str]]] = []
        objects = volume = 0
        for name, shas in wanted:
            for sha in shas:
                if sha in known:
                    continue
                if current and (objects >= BLOB_QUERY_OBJECTS
                                or volume + sizes[sha] > BLOB_QUERY_BYTES):
                    groups.append(current)
                    current, objects, volume = [], 0, 0
                if not current or current[-1][0] != name:
                    current.append((name, []))
                current[-1][1].append(sha)
                objects += 1
                volume += sizes[sha]
        if current:
            groups.append(current)
        futures = [pool.submit(self._fetch_blobs, identity, owner, g) for g in groups]
        for future in futures:
            future.result()

    def _fetch_blobs(self, identity: _Identity, owner: str,
                     group: list[tuple[str, list[str]]]) -> None:
        query = queries.blobs_query([shas for _, shas in group])
        variables = queries.name_variables(owner, [name for name, _ in group])
        objects = sum(len(shas) for _, shas in group)
        splittable = objects >= 2 * BLOB_QUERY_MIN_OBJECTS
        try:
            payload = self._transport.graphql(identity, query, variables,
                                              max_attempts=2 if splittable else None)
        except (RateLimitExhausted, ConfigError):
            raise
        except GitHubError as error:
            if splittable:
                log.info("a query for %d files of %s failed (%s); asking for fewer at a time",
                         objects, owner, error)
                for half in _halves(group):
                    self._fetch_blobs(identity, owner, half)
                return
            log.info("prefetching files of %s failed (%s); they are read on demand", owner,
                     error)
            return
        data = payload.get("data") or {}
        found: dict[str, CachedBlob] = {}
        for i, (_, shas) in enumerate(group):
            node = data.get(queries.repository_alias(i)) or {}
            for j, sha in enumerate(shas):
                blob = node.get(queries.object_alias(j))
                if not isinstance(blob, Mapping):
                    continue
                if blob.get("isBinary"):
                    found[sha] = CachedBlob(True, b"")
                    continue
                text = blob.get("text")
                if not isinstance(text, str) or blob.get("isTruncated"):
                    continue
                content = text.encode("utf-8")
                if _blob_id(content, len(sha)) == sha:  # else: read exactly, on demand
                    found[sha] = CachedBlob(False, content)
        self._cache.store_blobs(found)

    def _fetch_blob(self, identity: _Identity, owner: str, name: str, entry: TreeEntry
                    ) -> CachedBlob:
        assert entry.sha is not None
        url = (f"{self.api_url}/repos/{urllib.parse.quote(owner)}/{urllib.parse.quote(name)}"
               f"/git/blobs/{urllib.parse.quote(entry.sha, safe='')}")
        try:
            reply = self._transport.get(identity, url)
        except GitHubError as error:
            raise FileProblem(entry.path, f"cannot be read from GitHub: {error}") from None
        if reply.status != 200:
            hint = f": {_CONTENTS_PERMISSION}" if reply.status == 403 else ""
            raise FileProblem(entry.path, f"cannot be read from GitHub ({reply.status}: "
                                          f"{reply.message}){hint}")
        payload = reply.json()
        content = payload.get("content") if isinstance(payload, Mapping) else None
        if not isinstance(content, str) or payload.get("encoding", "base64") != "base64":
            raise FileProblem(entry.path, "GitHub did not return the file's content")
        try:
            data = base64.b64decode(content)
        except (binascii.Error, ValueError):
            raise FileProblem(entry.path, "GitHub returned undecodable content") from None
        return forge.verified_blob(self._cache, entry, data, "GitHub")

    # ------------------------------------------------------------------ results

    def _finish(self, identity: _Identity, work: _Work, needs: Needs) -> Item:
        ref = forge.settled_ref(work, needs, "github")
        if isinstance(ref, RepoFailure):
            return ref
        self._cache.store_state(identity.key, ref.name, {
            "pushed_at": work.listed.pushed_at if work.listed else None,
            "branch": work.branch, "head": work.head, "tree": work.tree_sha,
        })
        return forge.snapshot(ref, work, _BlobReader(self, identity, work.owner, work.name),
                              self._cache)


def _halves(group: list[tuple[str, list[str]]]) -> list[list[tuple[str, list[str]]]]:
    """A blob query's (repository, object ids) split in two halves of the objects."""
    flat = [(name, sha) for name, shas in group for sha in shas]
    halves: list[list[tuple[str, list[str]]]] = []
    for part in (flat[: len(flat) // 2], flat[len(flat) // 2 :]):
        regrouped: list[tuple[str, list[str]]] = []
        for name, sha in part:
            if not regrouped or regrouped[-1][0] != name:
                regrouped.append((name, []))
            regrouped[-1][1].append(sha)
        halves.append(regrouped)
    return halves


def _require_clients() -> None:
    try:
        import github  # noqa: F401
        import requests  # noqa: F401
    except ImportError as error:
        raise ConfigError(
            f"the github provider needs PyGithub and requests ({error.name} is missing): "
            "pip install PyGithub requests") from None


def _unchanged(work: _Work) -> bool:
    return _unchanged_since(work.state, work.listed, work.ref.default_branch)


def _unchanged_since(state: Mapping[str, Any] | None, listed: _Listed | None,
                     branch: str | None) -> bool:
    """The listing shows the repository as the last scan left it (same push, same
    default branch): its head and tree can be reused without asking."""
    return bool(
        state and listed and listed.pushed_at
        and state.get("pushed_at") == listed.pushed_at
        and state.get("branch") == branch
        and (state.get("head") is None or state.get("tree"))
    )


_path_of = forge.path_of


def _owner_of(ref: RepoRef) -> str:
    return ref.name.split("/", 1)[0]


def _parse_source(source: str) -> list[_Target]:
    targets: list[_Target] = []
    for part in source.split(","):
        spec = part.strip().strip("/")
        owner, _, repo = spec.partition("/")
        if spec == "*":
            targets.append(_Target("*"))
            continue
        if not _NAME.fullmatch(owner) or (repo and not _REPO_NAME.fullmatch(repo)) or (
                "/" in repo):
            raise ConfigError(
                f"github:{source}: expected github:ORG, github:ORG/REPO, github:ORG1,ORG2 "
                "or github:* (every org a GitHub App is installed on)")
        targets.append(_Target(owner, repo or None))
    return targets


def _normalize_api_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"GitHub API URL {url!r}: expected https://api.github.com or "
                          "https://HOST/api/v3")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError("the GitHub API URL must not carry credentials, a query or a "
                          "fragment; use GITHUB_TOKEN for the token")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _graphql_url_for(api_url: str) -> str:
    """api.github.com/graphql; GitHub Enterprise Server: https://HOST/api/graphql."""
    if api_url.endswith("/api/v3"):
        return api_url.removesuffix("/v3") + "/graphql"
    return api_url + "/graphql"


def _html_root(api_url: str) -> str:
    parts = urllib.parse.urlsplit(api_url)
    if parts.netloc == "api.github.com":
        return "https://github.com"
    return f"{parts.scheme}://{parts.netloc}"
