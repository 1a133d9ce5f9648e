"""One request budget per credential across a Dask cluster.

A token, or a GitHub App installation, has one rate limit however many processes use it,
and GitHub's secondary limits punish too many requests at once. On a cluster every API
request therefore passes `ClusterGate` (a `governance.providers.forge.RequestGate`), which
asks the scheduler: `BudgetPlugin`, a scheduler plugin, keeps per credential (the one-way
fingerprint the providers key their caches with, never the token) and resource (`core`,
`graphql`):

- the requests in flight, per holder (a worker, or the driver's client): at most
  `GateSettings.in_flight` at once across the whole cluster, whatever the resource;
- the rate-limit window the forge last reported (limit, the least `remaining` it said in
  that window, reset time). A request is granted only while `remaining - in flight` stays
  above the reserve (`GateSettings.reserve` of the limit); while no answer has told the
  budget of the current window (first request, or after a reset), one request at a time
  goes out to learn it. At the reserve with nothing in flight, the gate answers with the
  reset time: the worker waits for it, or stops the scan with `BudgetExhausted` when that
  is longer than `max_wait`, as the single-process provider does.

A worker that dies gives its requests in flight back at once (`remove_worker`), so a
killed worker never starves the others. The plugin lives in the scheduler's event loop (one
thread): no locks, and waiting requests are woken when a request ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import SchedulerPlugin

from governance.errors import ProviderError

if TYPE_CHECKING:
    from distributed.scheduler import Scheduler

log = logging.getLogger(__name__)

PLUGIN_NAME = "governance-request-budgets"
ACQUIRE = "governance_budget_acquire"
RELEASE = "governance_budget_release"
STATE = "governance_budget_state"


class BudgetExhausted(ProviderError):
    """A credential's rate limit is down to its reserve for longer than `max_wait`."""


@dataclass(frozen=True)
class GateSettings:
    """How a scan uses each credential across the cluster."""

    in_flight: int = 4  # requests of one credential at once, cluster-wide
    reserve: float = 0.05  # the share of a rate limit never spent
    max_wait: float = 3600.0  # the longest wait for a window's reset before stopping
    poll: float = 5.0  # the longest the scheduler holds an acquire before answering


@dataclass
class _Window:
    """One credential's rate limit on one resource, as the scheduler knows it."""

    limit: int | None = None
    remaining: int | None = None  # the least the forge said in the current window
    reset: float | None = None
    holders: Counter[str] = field(default_factory=Counter)  # requests in flight by holder

    @property
    def in_flight(self) -> int:
        return sum(self.holders.values())

    def verdict(self, now: float, reserve: float) -> bool | float:
        """True: send; False: wait for a request to end; a float: the budget is spent
        down to the reserve until that reset time."""
        if self.remaining is None or self.reset is None or self.limit is None or (
                now >= self.reset):
            return self.in_flight == 0  # an unknown window: one request learns it
        floor = math.ceil(self.limit * reserve)
        if self.remaining - self.in_flight > floor:
            return True
        if self.in_flight:
            return False  # the answers in flight may give some back (a 304 is free)
        return self.reset

    def observe(self, limit: int, remaining: int, reset: float) -> None:
        if self.reset is None or reset > self.reset + 1.0:  # a new window
            self.limit, self.remaining, self.reset = limit, remaining, reset
        elif abs(reset - self.reset) <= 1.0 and self.remaining is not None:
            # answers arrive out of order: within a window the least is the truth
            self.limit, self.remaining = limit, min(self.remaining, remaining)
        # else: an answer from an earlier window, arriving late


@dataclass
class _Credential:
    """A token or installation: its requests in flight (whatever the resource: GitHub's
    secondary limit counts them all) and a window per resource."""

    windows: dict[str, _Window] = field(default_factory=dict)

    @property
    def in_flight(self) -> int:
        return sum(w.in_flight for w in self.windows.values())

    def window(self, resource: str) -> _Window:
        return self.windows.setdefault(resource, _Window())

    def verdict(self, resource: str, now: float, in_flight: int, reserve: float
                ) -> bool | float:
        if self.in_flight >= max(1, in_flight):
            return False
        return self.window(resource).verdict(now, reserve)


class BudgetPlugin(SchedulerPlugin):
    """The scheduler's side, registered once per scheduler (`idempotent`: a second scan,
    or a second driver, finds it there with what it knows). Its handlers are called by
    `ClusterGate`."""

    name = PLUGIN_NAME
    idempotent = True

    def __init__(self) -> None:
        self._credentials: dict[str, _Credential] = {}
        self._changed: asyncio.Event | None = None

    async def start(self, scheduler: Scheduler) -> None:
        scheduler.handlers.update({ACQUIRE: self.acquire, RELEASE: self.release,
                                   STATE: self.state})

    # A holder that is gone (a worker killed, a driver stopped) gives its requests back.

    def remove_worker(self, scheduler: Scheduler, worker: str, *, stimulus_id: str,
                      **kwargs: Any) -> None:
        self._forget(worker)

    def remove_client(self, scheduler: Scheduler, client: str) -> None:
        self._forget(client)

    def _forget(self, holder: str) -> None:
        for credential in self._credentials.values():
            for window in credential.windows.values():
                window.holders.pop(holder, None)
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def _credential(self, key: str) -> _Credential:
        return self._credentials.setdefault(key, _Credential())

    # Handlers (the scheduler's event loop runs them one at a time).

    async def acquire(self, key: str, resource: str, holder: str, in_flight: int,
                      reserve: float, timeout: float) -> dict[str, Any]:
        credential = self._credential(key)
        deadline = time.time() + timeout
        while True:
            verdict = credential.verdict(resource, time.time(), in_flight, reserve)
            if verdict is True:
                credential.window(resource).holders[holder] += 1
                return {"granted": True}
            if verdict is not False:
                return {"granted": False, "reset": verdict}
            left = deadline - time.time()
            if left <= 0:
                return {"granted": False}
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(changed.wait(), left)

    def release(self, key: str, resource: str, holder: str, limit: int | None = None,
                remaining: int | None = None, reset: float | None = None) -> None:
        window = self._credential(key).window(resource)
        if window.holders[holder] > 1:
            window.holders[holder] -= 1
        else:
            window.holders.pop(holder, None)
        if limit is not None and remaining is not None and reset is not None:
            window.observe(limit, remaining, reset)
        self._wake()

    def state(self) -> dict[str, dict[str, Any]]:
        """What the scheduler knows, by `credential/resource` (for tests and diagnosis)."""
        return {f"{key}/{resource}": {"limit": w.limit, "remaining": w.remaining,
                                      "reset": w.reset, "in_flight": w.in_flight}
                for key, credential in self._credentials.items()
                for resource, w in credential.windows.items()}


def rate_limit_of(headers: Mapping[str, str] | None) -> tuple[int, int, float] | None:
    """(limit, remaining, reset epoch) of an answer: GitHub's `X-RateLimit-*` or GitLab's
    `RateLimit-*` headers; None without them."""
    if headers is None:
        return None
    for prefix in ("X-RateLimit-", "RateLimit-"):
        try:
            return (int(float(headers[prefix + "Limit"])),
                    int(float(headers[prefix + "Remaining"])),
                    float(headers[prefix + "Reset"]))
        except (KeyError, ValueError):
            continue
    return None


Call = Callable[..., Any]  # (handler name, **arguments) -> the scheduler's answer


class ClusterGate:
    """A `RequestGate` backed by the scheduler's `BudgetPlugin`. `call` sends one handler
    call to the scheduler (from a worker or from the driver's client); `holder` names who
    holds the requests (the worker's address, or the client's id)."""

    def __init__(self, call: Call, holder: str, settings: GateSettings,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        self._call = call
        self._holder = holder
        self._settings = settings
        self._sleep = sleep
        self._clock = clock

    def enter(self, key: str, resource: str) -> None:
        settings = self._settings
        while True:
            answer = self._call(ACQUIRE, key=key, resource=resource, holder=self._holder,
                                in_flight=settings.in_flight, reserve=settings.reserve,
                                timeout=settings.poll)
            if answer.get("granted"):
                return
            reset = answer.get("reset")
            if reset is None:
                continue  # still busy: ask again
            delay = max(0.0, float(reset) - self._clock()) + 1.0
            if delay > settings.max_wait:
                raise BudgetExhausted(
                    f"the API rate limit ({resource}) of a credential is down to its reserve "
                    f"across the cluster for {delay:.0f} s, longer than the maximum wait of "
                    f"{settings.max_wait:.0f} s (--max-wait); stopping: the repositories "
                    "scanned so far keep their findings")
            log.warning("API rate limit (%s) down to its reserve across the cluster: "
                        "waiting %.0f s for its reset", resource, delay)
            self._sleep(delay)

    def leave(self, key: str, resource: str, headers: Mapping[str, str] | None) -> None:
        seen = rate_limit_of(headers)
        limit, remaining, reset = seen if seen is not None else (None, None, None)
        self._call(RELEASE, key=key, resource=resource, holder=self._holder, limit=limit,
                   remaining=remaining, reset=reset)


def scheduler_call(scheduler: Any, loop: Any) -> Call:
    """`Call` through an rpc to the scheduler (a worker's or a client's) on `loop`, from a
    thread that is not the loop's."""
    from distributed.utils import sync

    def call(handler: str, **arguments: Any) -> Any:
        return sync(loop, getattr(scheduler, handler), **arguments)

    return call
