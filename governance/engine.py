"""Snapshots x enabled policies -> findings, streamed one repository at a time.

The unit of work is one repository: ref in, findings out. Nothing here knows which
provider produced the snapshot. A crashing check, an unreadable file or an unreadable
repository becomes an `error` finding and the scan goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
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
    ) -> Iterator[Finding]:
        """Stream findings for each ref; memory holds one repository at a time."""
        for item in provider.snapshots(refs, self.needs):
            if isinstance(item, RepoFailure):
                findings, ref = self.fail_repository(item), item.ref
            else:
                try:
                    findings, ref = self.evaluate(item), item.ref
                finally:
                    item.close()
            if on_repository is not None:
                on_repository(ref, findings)
            yield from findings

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
