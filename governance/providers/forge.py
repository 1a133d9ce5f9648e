"""Plumbing shared by the API providers of the forges (GitHub, GitLab).

Only what is the same for both lives here; what a forge does its own way (its rate-limit
headers, its authentication, how it classifies a refusal, its queries) stays in its module.

- `Reply`: an API answer (`json`, `message`), named after its forge by subclasses;
- `ForgeTransport`: the base of a forge's HTTP transport: one `requests` session (no
  credentials or proxies from the environment, no urllib3 retries), at most `concurrency`
  requests in flight, one request at a time through `_exchange`, and bounded retries with
  jittered exponential backoff (`_retry`, `_unreachable`), raising the forge's
  "unavailable" error when the attempts are used up;
- `conditional_get`: a GET through the on-disk ETag cache of `governance.httpcache`;
- `ordered_batches`: batches fetched on a worker thread (the next one while the current
  one is consumed) with a shared I/O pool, their items yielded in order; `BatchedProvider`:
  the providers' `snapshots` built on it;
- `graphql_parts`: a batched GraphQL answer split by repository alias;
- `CachedBlobReader`: the base of a repository's file reader: the blob cache first, else
  the forge's on-demand fetch; `verified_blob` checks and caches what such a fetch got;
- `Work`: one repository going through a batch (each provider extends it);
  `settled_ref` and `snapshot`: the failure, or the snapshot, of one fetched repository;
- `clone_tree`, `read_through_clones`, `CloneReader`: the partial shallow clone path
  (`governance.providers.gitfetch`) that a provider takes where the API would cost many
  requests (`fetch="auto"`, the default) or always (`fetch="clone"`);
- small helpers: `check_options`, `retry_after`, `blob_id`, `path_of`, `TRANSIENT_STATUS`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Protocol, TypeVar

from governance.errors import ConfigError, FileProblem
from governance.httpcache import CachedBlob, CachedResponse, ForgeCache
from governance.models import RepoRef, TreeEntry
from governance.providers import gitfetch
from governance.providers.base import Needs
from governance.providers.gitfetch import CloneFailed, ShallowClone
from governance.snapshot import RepoFailure, RepoSnapshot, matches

log = logging.getLogger(__name__)

# How a provider reads trees and files: "api" (requests only), "clone" (a partial shallow
# clone per repository whose tree is not cached), "auto" (the API, but a clone where a
# tree needs more than one request or more than CLONE_WHEN_FILES files must be read).
# Batched GraphQL reads a few hundred files per request at API speed, while a clone
# costs a few seconds of git round trips: clone only for more files than a query holds.
FETCH_MODES = ("auto", "api", "clone")
CLONE_WHEN_FILES = 500
# Files read from a clone are cached (as prefetched API blobs are) up to this size.
CLONE_CACHE_MAX_BYTES = 512 * 1024
MODE_OF_KIND = {"file": "100644", "symlink": "120000", "submodule": "160000"}

TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
"""Answers retried with backoff: the server's trouble, not the request's."""

Item = RepoSnapshot | RepoFailure
B = TypeVar("B")
T = TypeVar("T")
R = TypeVar("R", bound="_ReplyLike")


class _ReplyLike(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def body(self) -> bytes: ...


# --------------------------------------------------------------------------- transport


@dataclass(frozen=True)
class Reply:
    """An answer of a forge's API. Subclasses name the forge (`forge_name`), the error raised
    for a body that is not JSON (`error`) and the keys of a JSON error body that hold its
    message (`message_keys`, the first that is a string wins)."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    forge_name: ClassVar[str] = "the forge"
    error: ClassVar[Callable[[str], Exception]] = ValueError
    message_keys: ClassVar[tuple[str, ...]] = ("message",)

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise type(self).error(
                f"{self.forge_name} answered {self.status} with a body that is not JSON") from None

    @property
    def message(self) -> str:
        """The message of a JSON error body, else `HTTP <status>`."""
        try:
            data = json.loads(self.body)
        except ValueError:
            data = None
        if isinstance(data, Mapping):
            for key in self.message_keys:
                if isinstance(data.get(key), str):
                    return str(data[key])
        return f"HTTP {self.status}"


class RequestGate(Protocol):
    """A limit that every request of a credential passes, shared beyond this process
    (governance.distributed.budget: one budget per token or installation on a cluster)."""

    def enter(self, key: str, resource: str) -> None:
        """Wait until the credential `key` may send a request on `resource` (or raise)."""

    def leave(self, key: str, resource: str, headers: Mapping[str, str] | None) -> None:
        """The request is over; `headers` of its answer (None: no answer came)."""


class ForgeTransport:
    """HTTP session, bounded concurrency and bounded retries of one forge's API.

    `forge` names the forge in messages ("GitHub"); `unavailable` is the error raised when
    the retries are used up. Subclasses write their own request loop (headers, rate
    limits, refusals) around `_exchange` and `_retry`."""

    gate: RequestGate | None = None  # set by BatchedProvider.gate_requests

    def __init__(self, *, forge: str, unavailable: Callable[[str], Exception],
                 concurrency: int, timeout: float, max_attempts: int, backoff: float,
                 max_wait: float, sleep: Callable[[float], None]):
        import requests
        from requests.adapters import HTTPAdapter

        self._forge = forge
        self._unavailable = unavailable
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._backoff = backoff
        self._max_wait = max_wait
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._random = random.Random()
        self._session = requests.Session()
        self._session.trust_env = False  # no ~/.netrc credentials, no proxies from the env
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(1, concurrency) + 2,
                              max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)

    def close(self) -> None:
        self._session.close()

    def _exchange(self, method: str, url: str, headers: Mapping[str, str], body: Any,
                  what: str, *, key: str = "", resource: str = "core"
                  ) -> tuple[Any, bytes] | str:
        """One request (redirects followed for GET only): the response and its content, or,
        when the connection failed or timed out, the reason to retry. With a `gate`, the
        request of credential `key` (a fingerprint) on `resource` passes it first."""
        import requests

        gate = self.gate
        try:
            with self._slots:
                if gate is not None:
                    gate.enter(key, resource)
                answered: Mapping[str, str] | None = None
                try:
                    response = self._session.request(
                        method, url, headers=dict(headers), json=body,
                        timeout=(min(10.0, self._timeout), self._timeout),
                        allow_redirects=method == "GET")
                    answered = response.headers
                    return response, response.content
                finally:
                    if gate is not None:
                        gate.leave(key, resource, answered)
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError) as error:
            return f"{type(error).__name__} on {what}"

    def _unreachable(self, attempts: int, limit: int, reason: str) -> None:
        """After a failed connection: pause before the next attempt, or give up."""
        self._retry(attempts, limit, reason,
                    f"{self._forge} could not be reached ({reason}, {attempts} attempts)")

    def _retry(self, attempts: int, limit: int, reason: str, failure: str) -> None:
        """After the `attempts`-th failed attempt of `limit`: raise the forge's unavailable
        error with the message `failure` when they are used up, else pause with backoff."""
        if attempts >= limit:
            raise self._unavailable(failure)
        self._pause(attempts, limit, reason)

    def _backoff_delay(self, attempts: int) -> float:
        base: float = self._backoff * 2.0 ** (attempts - 1)
        return min(60.0, base) * self._random.uniform(0.5, 1.5)

    def _pause(self, attempts: int, limit: int, reason: str) -> None:
        delay = self._backoff_delay(attempts)
        log_of(self).info("%s: %s; retrying in %.2f s (attempt %d of %d)", self._forge,
                          reason, delay, attempts + 1, limit)
        self._sleep(delay)


def log_of(obj: object) -> logging.Logger:
    """The logger of the module that defines `obj`'s class (the forge's own logger)."""
    return logging.getLogger(type(obj).__module__)


def conditional_get(cache: ForgeCache, key: str, url: str, conditional: bool,
                    send: Callable[[str | None], R], *, link: Callable[[R], str],
                    replay: Callable[[R, CachedResponse], R]) -> R:
    """GET `url` with `send(etag)`; with `conditional`, through the ETag cache of the
    credential `key`: a `304` is answered by `replay(reply, cached)` from disk, a `200`
    with an ETag is stored (body and `link(reply)`, the next-page link)."""
    cached = cache.response(key, url) if conditional else None
    reply = send(cached.etag if cached else None)
    if reply.status == 304 and cached is not None:
        return replay(reply, cached)
    if conditional and reply.status == 200 and reply.headers.get("ETag"):
        cache.store_response(key, url, CachedResponse(
            reply.headers["ETag"], reply.body, link(reply)))
    return reply


def check_options(*, concurrency: int, max_wait: float, per_page: int, batch_size: int
                  ) -> None:
    """The options every forge provider takes, checked (ConfigError when out of range)."""
    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    if max_wait < 0:
        raise ConfigError("--max-wait must not be negative")
    if not 1 <= per_page <= 100:
        raise ConfigError("per_page must be between 1 and 100")
    if not 1 <= batch_size <= 100:
        raise ConfigError("batch_size must be between 1 and 100")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds of a `Retry-After` header (never negative), None without a usable one."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def path_of(error: Mapping[str, Any]) -> list[Any]:
    """The `path` of a GraphQL error, [] without one."""
    path = error.get("path")
    return list(path) if isinstance(path, list) else []


class _Failing(Protocol):
    failure: str | None


W = TypeVar("W", bound=_Failing)


def graphql_parts(payload: Mapping[str, Any], works: Sequence[W], alias: Callable[[int], str],
                  no_data: str, messages: Callable[[list[Mapping[str, Any]]], str]
                  ) -> list[tuple[W, Any, list[Mapping[str, Any]]]]:
    """A batched GraphQL answer split by repository: for the i-th of `works`, the node under
    `alias(i)` and the errors whose path starts there. Without data every work fails with
    `no_data: messages(errors)` and the list is empty."""
    data = payload.get("data")
    errors = [e for e in payload.get("errors") or () if isinstance(e, Mapping)]
    if not isinstance(data, Mapping):
        for work in works:
            work.failure = f"{no_data}: {messages(errors)}"
        return []
    parts = []
    for i, work in enumerate(works):
        name = alias(i)
        parts.append((work, data.get(name), [e for e in errors if path_of(e)[:1] == [name]]))
    return parts


# --------------------------------------------------------------------------- batches


def ordered_batches(batches: Iterable[B], fetch: Callable[[B, ThreadPoolExecutor], list[T]],
                    *, concurrency: int, prefix: str, done: Callable[[], None]
                    ) -> Iterator[T]:
    """The items of `fetch(batch, io_pool)` for each batch, in order. A batch is fetched on
    a worker thread while the items of the one before are consumed; `io_pool` has
    `concurrency` threads (`prefix`-io). `done` runs once all is over (or abandoned)."""
    batch_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{prefix}-batch")
    io_pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"{prefix}-io")
    pending: deque[Future[list[T]]] = deque()
    try:
        for batch in batches:
            pending.append(batch_pool.submit(fetch, batch, io_pool))
            while len(pending) > 1:  # fetch the next batch while this one is evaluated
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        batch_pool.shutdown(wait=True, cancel_futures=True)
        io_pool.shutdown(wait=True, cancel_futures=True)
        done()


class BatchedProvider:
    """The base of a forge provider: `snapshots` fetches the refs in the batches of
    `_batches`, one `_fetch_batch` each, through `ordered_batches` (threads named after
    `kind`, `_concurrency` of them for I/O), then closes the cache's per-thread
    connections (reopened when used)."""

    kind: str
    _concurrency: int
    _cache: ForgeCache

    def snapshots(self, refs: Iterable[RepoRef], needs: Needs) -> Iterator[Item]:
        yield from ordered_batches(
            self._batches(refs), lambda batch, pool: self._fetch_batch(batch, needs, pool),
            concurrency=self._concurrency, prefix=self.kind, done=self._cache.close)

    def _batches(self, refs: Iterable[RepoRef]) -> Iterator[list[RepoRef]]:
        raise NotImplementedError

    def _fetch_batch(self, batch: list[RepoRef], needs: Needs, pool: ThreadPoolExecutor
                     ) -> list[Item]:
        raise NotImplementedError

    # Another process fetches what this one listed (governance.distributed).

    def gate_requests(self, gate: RequestGate | None) -> None:
        """Every API request of this provider passes `gate` from now on (None: no gate)."""
        # Each provider types its own `_transport` (a ForgeTransport) and `_listed`.
        transport: ForgeTransport = getattr(self, "_transport")  # noqa: B009
        transport.gate = gate

    def hand_over(self, names: Iterable[str]) -> dict[str, Any]:
        """What the listing learnt of these repositories (picklable), taken out of this
        provider for the provider that fetches them in another process (`take_over`)."""
        listed: dict[str, Any] = getattr(self, "_listed")  # noqa: B009
        return {name: note for name in names if (note := listed.pop(name, None)) is not None}

    def take_over(self, notes: Mapping[str, Any]) -> None:
        listed: dict[str, Any] = getattr(self, "_listed")  # noqa: B009
        listed.update(notes)

    @property
    def cache(self) -> ForgeCache:
        return self._cache


# --------------------------------------------------------------------------- blobs


def blob_id(data: bytes, length: int = 40) -> str:
    """The git object id of a blob: SHA-1, or SHA-256 for 64-digit ids."""
    header = f"blob {len(data)}\0".encode("ascii")
    digest = hashlib.sha256 if length == 64 else hashlib.sha1
    return digest(header + data).hexdigest()


def verified_blob(cache: ForgeCache, entry: TreeEntry, data: bytes, forge: str) -> CachedBlob:
    """`data` read on demand for `entry`, checked against its id and cached."""
    assert entry.sha is not None
    if blob_id(data, len(entry.sha)) != entry.sha:
        raise FileProblem(entry.path, f"{forge} returned content that does not match its id")
    blob = CachedBlob(False, data)
    cache.store_blobs({entry.sha: blob})
    return blob


class CachedBlobReader:
    """The files of one repository: from the on-disk blob cache (prefetched in batches),
    else fetched on demand by `_fetch`, which subclasses write."""

    def _cache(self) -> ForgeCache:
        raise NotImplementedError

    def _fetch(self, entry: TreeEntry) -> CachedBlob:
        raise NotImplementedError

    def read_blob(self, entry: TreeEntry) -> bytes:
        if entry.sha is None:
            raise FileProblem(entry.path, "has no object id")
        blob = self._cache().blob(entry.sha)
        if blob is None:
            blob = self._fetch(entry)
        if blob.binary:
            raise FileProblem(entry.path, "binary file where text was expected")
        return blob.data


# --------------------------------------------------------------------------- results


@dataclass(kw_only=True)
class Work:
    """One repository going through a provider's batch: what was learnt of it so far.
    Each provider adds what its forge needs (owner, listing notes)."""

    index: int  # its place in the batch
    ref: RepoRef
    state: dict[str, Any] | None  # what the last scan recorded of it (the cache's state)
    branch: str | None = None
    head: str | None = None
    tree_sha: str | None = None  # the root tree id, where the forge names it (GitHub)
    empty: bool = False
    failure: str | None = None
    tree: dict[str, TreeEntry] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    clone: ShallowClone | None = None  # when read through a partial clone


def settled_ref(work: Work, needs: Needs, provider: str) -> RepoRef | RepoFailure:
    """The ref of a fetched repository (with the default branch found), or its failure
    (its clone, if any, released). Settings the policies need that were not read are
    marked unavailable."""
    ref = work.ref
    if work.failure:
        if work.clone is not None:
            work.clone.close()
        return RepoFailure(ref, work.failure)
    if work.branch and work.branch != ref.default_branch:
        ref = replace(ref, default_branch=work.branch)
    for name in needs.settings:
        if name not in work.settings and name not in work.unavailable:
            work.unavailable[name] = f"the {provider} provider cannot read the setting {name!r}"
    return ref


def snapshot(ref: RepoRef, work: Work, reader: CachedBlobReader, cache: ForgeCache
             ) -> RepoSnapshot:
    """The snapshot of a fetched repository (an empty one has no head and no files). Its
    files come through `reader` (the API), or from the clone when it was cloned; closing
    the snapshot deletes the clone."""
    if work.empty:
        return RepoSnapshot(ref, None, {}, reader, work.settings, work.unavailable)
    assert work.tree is not None
    clone = work.clone
    if clone is None:
        return RepoSnapshot(ref, work.head, work.tree, reader, work.settings, work.unavailable)
    return RepoSnapshot(ref, work.head, work.tree, CloneReader(cache, clone), work.settings,
                        work.unavailable, on_close=clone.close)


# --------------------------------------------------------------------------- clones


def check_fetch_mode(mode: str) -> str:
    """The fetch mode to use: `clone` refuses a git that cannot clone (a config error),
    `auto` falls back to `api` with a warning."""
    if mode not in FETCH_MODES:
        raise ConfigError(f"fetch must be one of {', '.join(FETCH_MODES)}, not {mode!r}")
    if mode == "api":
        return mode
    reason = gitfetch.unsupported_reason()
    if reason is None:
        return mode
    if mode == "clone":
        raise ConfigError(f"--fetch clone: {reason}")
    log.warning("reading through the API only (no partial clones): %s", reason)
    return "api"


def clone_tree(work: Work, url: str, username: str, password: str) -> ShallowClone | None:
    """Clone the repository's default branch (trees only) and list its files into
    `work.tree`; on failure `work.failure` says why and None is returned. When the branch
    moved since the API named its head, `work.head` becomes the clone's and `work.tree_sha`
    None (the listing must then not be cached under the old tree)."""
    clone = ShallowClone(url, username=username, password=password, what=work.ref.name)
    try:
        head = clone.clone(work.branch or work.ref.default_branch or "HEAD")
        work.tree = clone.tree()
    except CloneFailed as error:
        clone.close()
        work.failure = str(error)
        return None
    if head != work.head:  # pushed since the API answered: the clone is the truth now
        log.info("%s: moved to %s while being read; using the clone", work.ref.name, head)
        work.head, work.tree_sha = head, None
    return clone


class CloneReader(CachedBlobReader):
    """Files of a cloned repository: from the blob cache, else from the clone (no API)."""

    def __init__(self, cache: ForgeCache, clone: ShallowClone):
        self._blobs = cache
        self._clone = clone

    def _cache(self) -> ForgeCache:
        return self._blobs

    def _fetch(self, entry: TreeEntry) -> CachedBlob:
        return verified_blob(self._blobs, entry, self._clone.read_blob(entry), "the clone")


def _wanted(work: Work, patterns: Sequence[str], cache: ForgeCache) -> list[TreeEntry]:
    assert work.tree is not None
    entries = [e for path, e in work.tree.items()
               if e.kind in ("file", "symlink") and e.sha and matches(path, patterns)]
    known = cache.known_blobs(e.sha for e in entries if e.sha)
    return [e for e in entries if e.sha not in known]


def wants_clone(work: Work, patterns: Sequence[str], cache: ForgeCache) -> bool:
    """More uncached files to read than a clone costs (in time and server load)."""
    return work.tree is not None and len(_wanted(work, patterns, cache)) > CLONE_WHEN_FILES


WorkT = TypeVar("WorkT", bound=Work)


def read_through_clones(works: Sequence[WorkT], patterns: Sequence[str], cache: ForgeCache,
                        pool: ThreadPoolExecutor, auto: bool, clone: Callable[[WorkT], None]
                        ) -> list[WorkT]:
    """The files the policies read, for the works that are (or, in `auto` mode, had better
    be: `wants_clone`) read through a clone, `clone` cloning one; returns the works whose
    files are still to be read through the API."""
    if auto:
        for work in works:
            if work.clone is None and wants_clone(work, patterns, cache):
                clone(work)
    for future in [pool.submit(prefetch_from_clone, w, patterns, cache)
                   for w in works if w.clone is not None]:
        future.result()
    return [w for w in works if w.clone is None and w.tree is not None]


def prefetch_from_clone(work: Work, patterns: Sequence[str], cache: ForgeCache) -> None:
    """Fetch the files the policies read in one git fetch and cache them by blob id."""
    if work.clone is None or work.tree is None:
        return
    wanted = _wanted(work, patterns, cache)
    try:
        work.clone.fetch_blobs(sorted({e.sha for e in wanted if e.sha}))
    except CloneFailed as error:  # each file is then fetched by git when read
        log.info("%s", error)
        return
    found: dict[str, CachedBlob] = {}
    for entry in wanted:
        try:
            data = work.clone.read_blob(entry)
        except FileProblem:
            continue
        if len(data) <= CLONE_CACHE_MAX_BYTES:
            found[entry.sha or ""] = CachedBlob(False, data)
    cache.store_blobs(found)
