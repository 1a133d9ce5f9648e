"""Where a scan's repositories are evaluated: in this process, or on a Dask cluster.

`open_executor(ExecutorChoice(...))` gives an `Executor`, whose `run` has the contract of
`Engine.run`: findings streamed out, `on_result` (the store's recorder) and
`on_repository` (progress, statistics) called once per repository. `governance.scan`
chooses it; nothing else in a scan changes.

`InProcess` (the default) is `Engine.run` itself. `DaskExecutor` runs the same engine on a
`distributed` cluster: a `LocalCluster` of worker processes on this machine, or the
workers of a remote `dask-scheduler`:

- the driver (this process) lists the source, asks the store what it can carry (reused
  repositories and, on `--resume`, those already recorded are never submitted), and
  submits the rest in batches of one organization (`batch_size`, default 50: the batch
  the providers' GraphQL queries are made for), a bounded number at a time;
- each batch is `governance.distributed.work.evaluate_batch` on a worker, which opens its
  own provider from its own environment (credentials never travel) and returns results;
- results stream back as batches complete (`as_completed`) and the driver alone writes
  the spool and the store, in the order they come, so a cluster scan is recorded and
  resumed exactly like a local one;
- a batch lost with a worker is run again by the scheduler on another one (the work is
  pure); the driver's Ctrl-C cancels what is queued and stops like a local scan;
- every API request, the driver's listing included, passes the cluster's budget of its
  credential (governance.distributed.budget).

dask is imported only when a cluster is asked for.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from governance.engine import Carried, Engine, RepoResult
from governance.errors import ConfigError, ProviderError
from governance.models import Finding, RepoRef, Waiver
from governance.policy import EnabledPolicy
from governance.providers import Provider
from governance.providers.base import Needs
from governance.snapshot import RepoFailure, RepoSnapshot

log = logging.getLogger(__name__)

EXECUTORS = ("inprocess", "dask")
DEFAULT_BATCH_SIZE = 50

OnRepository = Callable[[RepoRef, list[Finding]], None]
Carry = Callable[[RepoRef], Carried | None]
OnResult = Callable[[RepoResult], None]


class ClusterError(ProviderError):
    """The cluster could not run the scan (workers kept dying, the scheduler went away)."""


@dataclass(frozen=True)
class ExecutorChoice:
    """`--executor`, `--scheduler`, `--workers`: where the repositories are evaluated."""

    kind: str = "inprocess"
    scheduler: str | None = None  # tcp://HOST:8786; None: a LocalCluster on this machine
    workers: int | None = None  # LocalCluster worker processes (default: one per CPU)
    batch_size: int = DEFAULT_BATCH_SIZE
    # Requests of one credential in flight at once across the cluster (default: the
    # providers' --concurrency, what one process would send).
    in_flight: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ConfigError(f"--executor must be one of {', '.join(EXECUTORS)}, "
                              f"not {self.kind!r}")
        if self.kind == "inprocess" and (self.scheduler or self.workers):
            raise ConfigError("--scheduler and --workers need --executor dask")
        if self.scheduler and self.workers:
            raise ConfigError("--workers starts a local cluster; with --scheduler the cluster "
                              "has the workers it has")
        if self.workers is not None and self.workers < 1:
            raise ConfigError("--workers must be at least 1")
        if not 1 <= self.batch_size <= 100:
            raise ConfigError("the batch size must be between 1 and 100")
        if self.in_flight is not None and self.in_flight < 1:
            raise ConfigError("requests in flight must be at least 1")


@dataclass(frozen=True)
class ScanJob:
    """What a worker needs besides the refs: the source and the providers' options (never
    credentials), the enabled policies and the waivers with the day they are judged on."""

    source: str
    enabled: Sequence[EnabledPolicy]
    waivers: Sequence[Waiver] = ()
    today: dt.date = field(default_factory=dt.date.today)
    github: Mapping[str, Any] = field(default_factory=dict)
    gitlab: Mapping[str, Any] = field(default_factory=dict)


class Executor(Protocol):
    def run(self, job: ScanJob, engine: Engine, provider: Provider, refs: Iterable[RepoRef],
            on_repository: OnRepository | None = None, carry: Carry | None = None,
            on_result: OnResult | None = None) -> Iterator[Finding]:
        """Engine.run's contract, for the refs of `provider`'s listing."""
        ...

    def close(self) -> None: ...


class InProcess:
    """The engine in this process: the provider fetches, the engine evaluates."""

    def run(self, job: ScanJob, engine: Engine, provider: Provider, refs: Iterable[RepoRef],
            on_repository: OnRepository | None = None, carry: Carry | None = None,
            on_result: OnResult | None = None) -> Iterator[Finding]:
        return engine.run(provider, refs, on_repository, carry, on_result)

    def close(self) -> None:
        pass


def open_executor(choice: ExecutorChoice) -> Executor:
    if choice.kind == "dask":
        return DaskExecutor(choice)
    return InProcess()


# --------------------------------------------------------------------------- Dask


class DaskExecutor:
    """See the module docstring. Owns the client, and the LocalCluster it started."""

    def __init__(self, choice: ExecutorChoice):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("--executor dask needs dask.distributed: "
                              "pip install 'governance[dask]'") from None
        from governance.distributed.budget import BudgetPlugin

        self.choice = choice
        self._cluster: Any = None
        try:
            if choice.scheduler:
                self.client = Client(choice.scheduler, timeout="30s", set_as_default=False)
            else:
                # Two threads a worker: one batch is fetched while another is evaluated.
                self._cluster = LocalCluster(
                    n_workers=choice.workers or os.cpu_count() or 1, threads_per_worker=2,
                    processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
                self.client = Client(self._cluster, set_as_default=False)
        except (OSError, TimeoutError) as error:
            self._close_cluster()
            where = choice.scheduler or "a local cluster"
            raise ConfigError(f"cannot reach the Dask scheduler ({where}): {error}") from None
        try:
            self.client.register_plugin(BudgetPlugin())
        except Exception as error:  # e.g. governance is not installed where the scheduler is
            self.close()
            raise ConfigError(
                f"the Dask scheduler cannot run governance's request budget "
                f"({type(error).__name__}: {error}); install governance[dask], at the "
                "driver's version, on the scheduler and on every worker") from None

    def close(self) -> None:
        try:
            self.client.close()
        finally:
            self._close_cluster()

    def _close_cluster(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def run(self, job: ScanJob, engine: Engine, provider: Provider, refs: Iterable[RepoRef],
            on_repository: OnRepository | None = None, carry: Carry | None = None,
            on_result: OnResult | None = None) -> Iterator[Finding]:
        from distributed import Future, as_completed

        from governance.distributed.budget import ClusterGate, GateSettings, scheduler_call
        from governance.distributed.work import (
            BatchItem,
            BatchResult,
            BatchTask,
            PolicyPlan,
            evaluate_batch,
        )
        from governance.providers.forge import BatchedProvider
        from governance.scan import pack_fingerprint

        client = self.client
        plan = PolicyPlan.of(job.enabled, job.waivers, engine.today,
                             pack_fingerprint(job.enabled))
        options = job.gitlab if job.source.startswith("gitlab:") and job.gitlab else job.github
        settings = GateSettings(
            in_flight=self.choice.in_flight or int(options.get("concurrency", 4)),
            reserve=float(options.get("reserve", 0.05)),
            max_wait=float(options.get("max_wait", 3600.0)))
        batched = provider if isinstance(provider, BatchedProvider) else None
        if batched is not None:  # the driver's listing spends the same budgets
            batched.gate_requests(ClusterGate(scheduler_call(client.scheduler, client.loop),
                                              client.id, settings))
        window = max(2, 2 * sum(client.nthreads().values()))
        pending: set[Future[BatchResult]] = set()
        completed: as_completed = as_completed(loop=client.loop)
        batch: list[BatchItem] = []
        shard = ""

        def submit() -> None:
            notes = batched.hand_over(i.ref.name for i in batch) if batched else {}
            task = BatchTask(shard, tuple(batch), plan, job.github, job.gitlab, notes,
                             settings)
            future: Future[BatchResult] = client.submit(
                evaluate_batch, task, pure=False, key=f"governance-batch-{uuid.uuid4().hex}")
            pending.add(future)
            completed.add(future)

        def collect(future: Future[BatchResult]) -> Iterator[Finding]:
            pending.discard(future)
            result = _result_of(future)
            if batched is not None:  # the next scan's listing knows these heads
                for identity, name, state in result.states:
                    batched.cache.store_state(identity, name, state)
            for item in result.results:
                yield from _deliver(item, on_repository, on_result)

        try:
            for ref in refs:
                carried = carry(ref) if carry is not None else None
                if carried is not None and not carried.evaluate:  # nothing to fetch
                    yield from engine.run(_NothingToFetch(), [ref], on_repository,
                                          _same(carried), on_result)
                    continue
                spec = _source_of(ref, job.source)
                if batch and (spec != shard or len(batch) >= self.choice.batch_size):
                    submit()
                    batch = []
                shard = spec
                batch.append(BatchItem(ref, _carried_findings(carried)))
                while len(pending) >= window:
                    yield from collect(next(completed))
            if batch:
                submit()
            for future in completed:
                yield from collect(future)
        finally:
            if pending:  # stopped (Ctrl-C, an error): what is queued or running is dropped
                client.cancel(list(pending))
            if batched is not None:
                batched.gate_requests(None)


def _result_of(future: Any) -> Any:
    from distributed.scheduler import KilledWorker

    try:
        return future.result()
    except KilledWorker as error:
        raise ClusterError(f"a batch of repositories kept losing its worker: {error}; the "
                           "repositories recorded so far are kept (--resume)") from None
    finally:
        future.release()


def _deliver(result: RepoResult, on_repository: OnRepository | None,
             on_result: OnResult | None) -> Iterator[Finding]:
    if on_result is not None:
        on_result(result)
    if on_repository is not None:
        on_repository(result.ref, result.findings)
    yield from result.findings


def _source_of(ref: RepoRef, source: str) -> str:
    """The source a worker opens for `ref`: its organization (GitHub owner, GitLab
    top-level group), which is also what a token or App installation is per; a local
    folder as scanned."""
    if ref.provider in ("github", "gitlab"):
        return f"{ref.provider}:{ref.name.split('/', 1)[0]}"
    return source


def _same(carried: Carried) -> Carry:
    return lambda _: carried


def _carried_findings(carried: Carried | None) -> Any:
    from governance.distributed.work import CarriedFindings

    if carried is None:
        return None
    return CarriedFindings(tuple(carried.load()), carried.evaluate, carried.final,
                           carried.head_sha, carried.status)


class _NothingToFetch:
    """The provider of a repository carried whole: the engine never asks it for one."""

    kind = "carried"

    def list_repos(self) -> Iterator[RepoRef]:
        return iter(())

    def snapshots(self, refs: Iterable[RepoRef], needs: Needs
                  ) -> Iterator[RepoSnapshot | RepoFailure]:
        for ref in refs:
            raise AssertionError(f"{ref.name} is carried whole: nothing to fetch")
        yield from ()
