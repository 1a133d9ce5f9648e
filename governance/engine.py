"""Snapshots x enabled policies -> findings, streamed one repository at a time.

The unit of work is one repository: ref in, findings out. Nothing here knows which
provider produced the snapshot. A crashing check, an unreadable file or an unreadable
repository becomes an `error` finding and the scan goes on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from governance.checks import CheckContext, Result
from governance.errors import FileProblem, Unsupported
from governance.models import Finding, Location, Outcome, RepoRef, Waiver, name_matches
from governance.policy import EnabledPolicy, needed_files, needed_settings
from governance.providers.base import Needs, Provider
from governance.snapshot import RepoFailure, RepoFiles, RepoSnapshot

log = logging.getLogger(__name__)


@dataclass
class ScanStats:
    repositories: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    failed_repositories: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """Some finding is an error: the run did not see everything it should have."""
        return self.outcomes[Outcome.ERROR.value] > 0

    def add(self, repository: str, findings: Sequence[Finding]) -> None:
        self.repositories += 1
        self.outcomes.update(f.outcome.value for f in findings)
        if any(f.outcome is Outcome.FAIL for f in findings):
            self.failed_repositories.append(repository)


@dataclass(frozen=True)
class Carried:
    """Findings established earlier for a repository, handed back instead of evaluating it.

    An incremental scan carries the last scan's findings of a repository whose head did not
    change; a resumed scan carries what it recorded before it was stopped. `load` returns
    the findings of every policy not in `evaluate`. Policies in `evaluate` are evaluated
    afresh on a snapshot (for example those reading forge settings, which change without a
    commit); when it is empty the provider is not asked for the repository at all.
    `final`: the findings already carry their waivers (recorded by this very scan);
    otherwise they are the findings before waivers, and today's waivers are applied.
    """

    load: Callable[[], Sequence[Finding]]
    evaluate: frozenset[str] = frozenset()
    final: bool = False
    head_sha: str | None = None
    status: str = "reused"  # how the result is labelled: "reused" or "recorded"


@dataclass(frozen=True)
class RepoResult:
    """One repository done: what the store records.

    status: "scanned" (evaluated on a snapshot, possibly with some findings carried),
    "failed" (no snapshot: every finding is an error), "reused" (carried from an earlier
    scan), "recorded" (carried from this scan's own earlier run).
    """

    ref: RepoRef
    findings: list[Finding]  # waivers applied, in the engine's policy order
    unwaived: list[Finding]  # the same findings before waivers
    status: str
    head_sha: str | None
    settings_fingerprint: str | None = None
    carried: frozenset[str] = frozenset()  # ids of the policies whose findings were carried


class Engine:
    def __init__(
        self,
        policies: Sequence[EnabledPolicy],
        waivers: Sequence[Waiver] = (),
        today: dt.date | None = None,
    ):
        self.policies = list(policies)
        self.waivers = list(waivers)
        self.today = today or dt.date.today()
        for enabled in self.policies:
            _ = enabled.policy.check  # import every check.py now: a broken one fails fast
        self.needs = Needs(needed_files(self.policies), needed_settings(self.policies))

    def evaluate(self, snapshot: RepoSnapshot) -> list[Finding]:
        files = RepoFiles(snapshot)
        return [self._apply_waivers(self._check(e, snapshot, files)) for e in self.policies]

    def fail_repository(self, failure: RepoFailure) -> list[Finding]:
        return [
            self._finding(e, failure.ref, Result(Outcome.ERROR, failure.reason))
            for e in self.policies
        ]

    def run(
        self, provider: Provider, refs: Iterable[RepoRef],
        on_repository: Callable[[RepoRef, list[Finding]], None] | None = None,
        carry: Callable[[RepoRef], Carried | None] | None = None,
        on_result: Callable[[RepoResult], None] | None = None,
    ) -> Iterator[Finding]:
        """Stream findings for each ref, in the order of `refs`; memory holds one repository
        at a time (plus the refs a batching provider has taken ahead).

        `carry(ref)` may hand back findings established earlier (see Carried); such a
        repository reaches the provider only if some policy must be evaluated afresh.
        `on_result` receives each repository's RepoResult before `on_repository` is called
        and before its findings are yielded.
        """
        # Refs in order, each with what is carried for it; the provider sees only those that
        # need a snapshot and answers in order, so results keep the order of `refs`.
        pending: deque[tuple[RepoRef, Carried | None]] = deque()

        def wanted() -> Iterator[RepoRef]:
            for ref in refs:
                carried = carry(ref) if carry is not None else None
                pending.append((ref, carried))
                if carried is None or carried.evaluate:
                    yield ref

        def deliver(result: RepoResult) -> list[Finding]:
            if on_result is not None:
                on_result(result)
            if on_repository is not None:
                on_repository(result.ref, result.findings)
            return result.findings

        for item in provider.snapshots(wanted(), self.needs):
            while pending and _carried_whole(pending[0][1]):
                ref, whole = pending.popleft()
                assert whole is not None
                yield from deliver(self._carried_result(ref, whole))
            carried = pending.popleft()[1] if pending else None
            yield from deliver(self._fresh_result(item, carried))
        while pending:
            ref, carried = pending.popleft()
            if carried is None or carried.evaluate:  # a provider that skipped a ref: a bug
                failure = RepoFailure(ref, "the provider returned no snapshot for it")
                yield from deliver(self._fresh_result(failure, None))
            else:
                yield from deliver(self._carried_result(ref, carried))

    def _fresh_result(self, item: RepoSnapshot | RepoFailure, carried: Carried | None
                      ) -> RepoResult:
        if isinstance(item, RepoFailure):
            unwaived = self.fail_repository(item)
            return RepoResult(item.ref, unwaived, unwaived, "failed", None)
        try:
            only = carried.evaluate if carried is not None else None
            files = RepoFiles(item)
            fresh = {e.id: self._check(e, item, files) for e in self.policies
                     if only is None or e.id in only}
        finally:
            item.close()
        earlier = {f.policy: f for f in carried.load()} if carried is not None else {}
        unwaived = [fresh[e.id] if e.id in fresh else self._earlier(e, item.ref, earlier)
                    for e in self.policies]
        return RepoResult(
            item.ref, [self._apply_waivers(f) for f in unwaived], unwaived, "scanned",
            item.head_sha, settings_fingerprint(item),
            frozenset(e.id for e in self.policies if e.id not in fresh),
        )

    def _carried_result(self, ref: RepoRef, carried: Carried) -> RepoResult:
        earlier = {f.policy: f for f in carried.load()}
        found = [self._earlier(e, ref, earlier) for e in self.policies]
        findings = found if carried.final else [self._apply_waivers(f) for f in found]
        return RepoResult(ref, findings, found, carried.status, carried.head_sha,
                          None, frozenset(e.id for e in self.policies))

    def _earlier(self, enabled: EnabledPolicy, ref: RepoRef, earlier: dict[str, Finding]
                 ) -> Finding:
        found = earlier.get(enabled.id)
        if found is not None:
            return found
        # Only a store that lost a row gets here: say so rather than invent an outcome.
        return self._finding(enabled, ref, Result(
            Outcome.ERROR, "the finding carried from an earlier scan is missing; "
            "scan again with --full"))

    def _check(self, enabled: EnabledPolicy, snapshot: RepoSnapshot, files: RepoFiles
               ) -> Finding:
        ctx = CheckContext(repo=snapshot.ref, files=files, options=enabled.options)
        try:
            result = enabled.policy.check(ctx)
            if not isinstance(result, Result):
                raise TypeError(f"check returned {type(result).__name__}, not Result")
        except Unsupported as reason:
            result = Result(Outcome.NOT_AVAILABLE, str(reason))
        except FileProblem as problem:
            result = Result(Outcome.ERROR, str(problem), (Location(problem.path, problem.line),))
        except (Exception, SystemExit) as exc:  # a bug in a check must not stop the scan
            log.exception("policy %s crashed on %s", enabled.id, snapshot.ref.name)
            result = Result(Outcome.ERROR, f"check crashed: {type(exc).__name__}: {exc}")
        if snapshot.empty and result.outcome is not Outcome.NOT_AVAILABLE:
            result = replace(result, message=f"empty repository (no commits): {result.message}")
        return self._finding(enabled, snapshot.ref, result)

    def _finding(self, enabled: EnabledPolicy, ref: RepoRef, result: Result) -> Finding:
        definition = enabled.definition
        return Finding(
            repository=ref.name,
            policy=enabled.id,
            title=definition.title,
            outcome=result.outcome,
            severity=enabled.severity,
            confidence=result.confidence,
            message=result.message,
            locations=result.locations,
            remediation=definition.remediation.strip() if result.outcome is Outcome.FAIL else "",
            details=result.details,
        )

    def _apply_waivers(self, finding: Finding) -> Finding:
        if finding.outcome is not Outcome.FAIL:
            return finding
        expired: Waiver | None = None
        for waiver in self.waivers:
            if waiver.policy not in ("*", finding.policy):
                continue
            if not name_matches(finding.repository, waiver.repository):
                continue
            if waiver.expires is not None and waiver.expires < self.today:
                # An expired waiver must not hide a renewed one listed after it.
                expired = expired or waiver
                continue
            return replace(finding, outcome=Outcome.WAIVED, waiver=waiver,
                           message=f"{finding.message} (waived: {waiver.reason})")
        if expired is not None and expired.expires is not None:
            return replace(
                finding,
                message=f"{finding.message} (waiver by {expired.owner} expired on "
                f"{expired.expires.isoformat()}: {expired.reason})",
                details={**finding.details, "expired_waiver": expired.as_dict()},
            )
        return finding


def _carried_whole(carried: Carried | None) -> bool:
    return carried is not None and not carried.evaluate


def settings_fingerprint(snapshot: RepoSnapshot) -> str | None:
    """A hash of the forge settings a snapshot carries; None when the provider read none."""
    if not snapshot.settings:
        return None
    text = json.dumps(snapshot.settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
