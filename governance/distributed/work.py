"""The unit of work a cluster runs: one batch of repositories of one organization.

`evaluate_batch(task)` is pure as far as the scan goes: repository refs in, the engine's
results out (`RepoResult`: findings with waivers applied and before them, head, status),
plus what the worker's forge cache learnt for the next scan's listing. Running it twice
gives the same results, so a batch lost with a worker is simply run again elsewhere.

Everything in a `BatchTask` is plain picklable data and holds no secret: the worker opens
its own provider for the task's source from its own environment (GITHUB_TOKEN, GitHub App
variables, GITLAB_TOKEN...), so credentials never travel through the scheduler. The
policies travel as their definitions with the folder they came from (bundled policies are
found in the worker's own installation); the worker refuses a batch when its own copy of
the policies and of governance does not give the driver's pack fingerprint, since it would
evaluate something else.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance import __version__, resources
from governance.engine import Carried, Engine, RepoResult
from governance.errors import ConfigError
from governance.models import Finding, RepoRef, Severity, Waiver
from governance.policy import EnabledPolicy, Policy, PolicyDefinition
from governance.providers import Provider, open_source
from governance.providers.forge import BatchedProvider

# Providers a worker thread keeps open between batches (sessions, App tokens, caches).
PROVIDERS_PER_THREAD = 16


@dataclass(frozen=True)
class PlannedPolicy:
    """An enabled policy as data: where it came from, its severity and options."""

    definition: PolicyDefinition
    folder: str  # the folder on the driver
    bundled: bool  # one of governance's own policies: taken from the worker's installation
    severity: Severity
    options: Mapping[str, Any]


@dataclass(frozen=True)
class PolicyPlan:
    """What decides findings: the enabled policies, the waivers and the day they are
    judged on, and the driver's pack fingerprint (governance.scan.pack_fingerprint)."""

    policies: tuple[PlannedPolicy, ...]
    waivers: tuple[Waiver, ...]
    today: dt.date
    fingerprint: str
    tool_version: str = __version__

    @classmethod
    def of(cls, enabled: Sequence[EnabledPolicy], waivers: Sequence[Waiver], today: dt.date,
           fingerprint: str) -> PolicyPlan:
        bundled_root = resources.policies_folder().resolve()
        return cls(tuple(
            PlannedPolicy(e.definition, str(e.policy.folder),
                          e.policy.folder.resolve().parent == bundled_root, e.severity,
                          dict(e.options))
            for e in enabled), tuple(waivers), today, fingerprint)


@dataclass(frozen=True)
class CarriedFindings:
    """Findings established earlier for a repository (see governance.engine.Carried),
    loaded by the driver from its store: only the policies in `evaluate` run again."""

    findings: tuple[Finding, ...]
    evaluate: frozenset[str]
    final: bool = False
    head_sha: str | None = None
    status: str = "reused"


@dataclass(frozen=True)
class BatchItem:
    ref: RepoRef
    carried: CarriedFindings | None = None


@dataclass(frozen=True)
class BatchTask:
    """One organization's batch. `source` opens the worker's provider (`github:ORG`,
    `gitlab:GROUP`, `local:PATH`); `github` / `gitlab` are the providers' keyword options
    (no credentials: those come from the worker's environment); `notes` what the driver's
    listing learnt of these repositories (BatchedProvider.hand_over)."""

    source: str
    items: tuple[BatchItem, ...]
    plan: PolicyPlan
    github: Mapping[str, Any] = field(default_factory=dict)
    gitlab: Mapping[str, Any] = field(default_factory=dict)
    notes: Mapping[str, Any] = field(default_factory=dict)
    gate: Any = None  # budget.GateSettings, when the requests pass the cluster's budget


@dataclass(frozen=True)
class BatchResult:
    results: tuple[RepoResult, ...]
    # What the worker's forge cache recorded per repository (identity fingerprint,
    # repository, state): the driver's cache learns it for the next scan's listing.
    states: tuple[tuple[str, str, dict[str, Any]], ...] = ()


def evaluate_batch(task: BatchTask) -> BatchResult:
    """Run on a worker: fetch the batch through the worker's own provider and evaluate it."""
    engine = _engine_for(task.plan)
    provider = _provider_for(task)
    carried = {item.ref.name: item.carried for item in task.items}
    results: list[RepoResult] = []
    batched = provider if isinstance(provider, BatchedProvider) else None
    if batched is not None:
        batched.take_over(task.notes)
        batched.cache.journal = []
    try:
        for _ in engine.run(provider, [item.ref for item in task.items],
                            carry=lambda ref: _carried(carried.get(ref.name)),
                            on_result=results.append):
            pass
        states = tuple(batched.cache.journal or ()) if batched is not None else ()
    finally:
        if batched is not None:
            batched.cache.journal = None
    return BatchResult(tuple(results), states)


def _carried(found: CarriedFindings | None) -> Carried | None:
    if found is None:
        return None
    findings = found.findings
    return Carried(lambda: findings, evaluate=found.evaluate, final=found.final,
                   head_sha=found.head_sha, status=found.status)


# --------------------------------------------------------------------------- the worker's


_engines: dict[tuple[Any, ...], Engine] = {}
_engines_lock = threading.Lock()
_local = threading.local()


def _engine_for(plan: PolicyPlan) -> Engine:
    key = (plan.fingerprint, plan.today, plan.waivers)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = Engine(_enabled(plan), plan.waivers, plan.today)
            _engines.clear()  # one scan at a time is the common case: keep the last only
            _engines[key] = engine
        return engine


def _enabled(plan: PolicyPlan) -> list[EnabledPolicy]:
    from governance.scan import pack_fingerprint

    enabled = []
    for planned in plan.policies:
        folder = (resources.policies_folder() / planned.definition.id if planned.bundled
                  else Path(planned.folder))
        if not (folder / "policy.yml").is_file():
            raise ConfigError(
                f"policy {planned.definition.id}: its folder {folder} is not on this worker; "
                "policy folders of governance.yml (`policy_paths`) must be at the same path "
                "on every worker")
        enabled.append(EnabledPolicy(Policy(planned.definition, folder), planned.severity,
                                     planned.options))
    mine = pack_fingerprint(enabled)
    if mine != plan.fingerprint:
        raise ConfigError(
            f"a worker runs other policies than the driver (governance {__version__} here, "
            f"{plan.tool_version} on the driver, or other policy files): install the same "
            "version of governance and the same policy folders on every worker")
    return enabled


def _provider_for(task: BatchTask) -> Provider:
    """The provider of this thread for the task's source and options, opened once."""
    key = (task.source, _frozen(task.github), _frozen(task.gitlab), repr(task.gate))
    providers: OrderedDict[Any, Provider] | None = getattr(_local, "providers", None)
    if providers is None:
        providers = _local.providers = OrderedDict()
    provider = providers.get(key)
    if provider is None:
        provider = open_source(task.source, github=task.github, gitlab=task.gitlab)
        if task.gate is not None and isinstance(provider, BatchedProvider):
            provider.gate_requests(_worker_gate(task.gate))
        providers[key] = provider
        while len(providers) > PROVIDERS_PER_THREAD:
            _, old = providers.popitem(last=False)
            close = getattr(old, "close", None)
            if callable(close):
                close()
    else:
        providers.move_to_end(key)
    return provider


def _worker_gate(settings: Any) -> Any:
    from distributed import get_worker

    from governance.distributed.budget import ClusterGate, scheduler_call

    worker = get_worker()
    return ClusterGate(scheduler_call(worker.scheduler, worker.loop), worker.address, settings)


def _frozen(options: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in options.items()))
