"""One scan, start to finish: config -> pack -> provider -> engine -> spool -> reports.

The CLI, the demo, the benchmarks and the tests all run scans through `run_scan`. With a
store (governance.store), the scan is recorded repository by repository, unchanged
repositories reuse the last finished scan's findings, an unfinished scan can be resumed,
and the meta gets `changes` (governance.history) and `trend`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from governance import __version__, resources
from governance.config import Config, load_config
from governance.distributed.executor import ExecutorChoice, ScanJob, open_executor
from governance.engine import Carried, Engine, RepoResult, ScanStats
from governance.errors import ConfigError
from governance.models import Finding, RepoRef
from governance.policy import EnabledPolicy, Policy, discover, find_pack, resolve
from governance.providers import Provider, open_source

SPOOL_NAME = "findings.jsonl"


@dataclass(frozen=True)
class ScanRequest:
    source: str
    config_path: Path | None = None
    pack: str | None = None  # overrides the config's pack
    today: dt.date | None = None
    store: Path | None = None  # the SQLite store recording the scan; None: no history
    full: bool = False  # evaluate every repository, even those whose head did not change
    resume: bool = False  # continue the latest scan of the source if it did not finish
    # Keyword options of the forge providers (api_url, concurrency, max_wait, cache_dir;
    # GitLab also ci_lint).
    github: Mapping[str, object] = field(default_factory=dict)
    gitlab: Mapping[str, object] = field(default_factory=dict)
    # Command-line overrides of governance.yml's `repositories: archived / forks`.
    include_archived: bool | None = None
    include_forks: bool | None = None
    # Where repositories are evaluated: in this process (default) or on a Dask cluster.
    executor: ExecutorChoice = field(default_factory=ExecutorChoice)


@dataclass
class ScanOutcome:
    stats: ScanStats
    spool: Path
    meta: dict[str, object] = field(default_factory=dict)
    scan_id: int | None = None
    # Repositories by how they were done: scanned, failed, reused (unchanged head, findings
    # of the last scan), recorded (done by an earlier run of this resumed scan).
    done: Counter[str] = field(default_factory=Counter)
    resumed: bool = False
    notes: list[str] = field(default_factory=list)


class ScanInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM through the CLI) stopped a recorded scan; it can be resumed."""

    def __init__(self, scan_id: int, recorded: int, store: Path):
        super().__init__(f"scan {scan_id} interrupted")
        self.scan_id = scan_id
        self.recorded = recorded
        self.store = store


def load_policies(config: Config, pack: str | None = None) -> tuple[Path, list[EnabledPolicy]]:
    policies = discover([resources.policies_folder(), *config.policy_paths])
    _check_waivers(config, policies)
    pack_folders = [resources.packs_folder(), *(p / "packs" for p in config.policy_paths)]
    pack_path = find_pack(pack or config.pack, pack_folders)
    return pack_path, resolve(policies, pack_path, config.overrides, config.path,
                              config.document, pack_folders)


def _check_waivers(config: Config, policies: Mapping[str, Policy]) -> None:
    """A waiver naming no known policy is a typo that would silently waive nothing."""
    for waiver in config.waivers:
        if waiver.policy != "*" and waiver.policy not in policies:
            close = difflib.get_close_matches(waiver.policy, list(policies), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "or `*` for every policy"
            raise ConfigError(
                f"waivers: unknown policy {waiver.policy!r}; {hint}",
                str(config.path) if config.path else None, waiver.source_line,
            )


def run_scan(
    request: ScanRequest,
    spool_folder: Path,
    on_repository: Callable[[RepoRef, list[Finding]], None] | None = None,
    single_repository: bool = False,
    provider: Provider | None = None,
) -> ScanOutcome:
    """Scan a source and spool every finding as JSON lines (memory stays flat).

    With `request.store`, the scan is recorded repository by repository, repositories whose
    head did not change since the last finished scan reuse its findings (unless
    `request.full`), an unfinished scan is continued (`request.resume`), and the meta
    carries `changes` since the previous scan (governance.history.changes).
    `provider` replaces the one the source spec names (tests, benchmarks).
    """
    config = _with_overrides(load_config(request.config_path), request)
    pack_path, enabled = load_policies(config, request.pack)
    engine = Engine(enabled, config.waivers, request.today)
    owned = provider is None  # a provider we open is ours to close (sessions, caches)
    provider = provider or open_source(request.source, github=request.github,
                                       gitlab=request.gitlab)
    try:
        excluded = 0

        def in_scope(ref: RepoRef) -> bool:
            nonlocal excluded
            selected = config.selects(ref)
            excluded += not selected
            return selected

        refs: Iterator[RepoRef] = (r for r in provider.list_repos() if in_scope(r))
        if single_repository:
            refs = _exactly_one(refs, request.source)

        stats = ScanStats()
        started = dt.datetime.now(dt.timezone.utc)
        meta: dict[str, object] = {
            "source": request.source,
            "pack": pack_path.stem,
            "policies": [
                {
                    "id": e.id,
                    "title": e.definition.title,
                    "severity": e.severity.value,
                    "rationale": e.definition.rationale.strip(),
                    "remediation": e.definition.remediation.strip(),
                    "autofix": e.definition.autofix,
                    "references": list(e.definition.references),
                    "tags": list(e.definition.tags),
                }
                for e in enabled
            ],
            "waivers_checked_on": engine.today.isoformat(),
            "tool_version": __version__,
            "started": started.isoformat(timespec="seconds"),
        }
        recorder = None
        if request.store is not None:
            recorder = _Recorder(request, provider, enabled, pack_path.stem, meta)
        outcome = ScanOutcome(stats, spool_folder / SPOOL_NAME)
        done = outcome.done

        def record(ref: RepoRef, findings: list[Finding]) -> None:
            stats.add(ref.name, findings)
            if on_repository is not None:
                on_repository(ref, findings)

        def result(item: RepoResult) -> None:
            done[item.status] += 1
            if recorder is not None:
                recorder.record(item)

        spool_folder.mkdir(parents=True, exist_ok=True)
        job = ScanJob(request.source, enabled, config.waivers, engine.today, request.github,
                      request.gitlab)
        try:
            executor = open_executor(request.executor)
            try:
                with outcome.spool.open("w", encoding="utf-8") as out:
                    for finding in executor.run(job, engine, provider, refs, record,
                                                recorder.carry if recorder else None, result):
                        out.write(json.dumps(finding.as_dict(), default=str) + "\n")
            finally:
                executor.close()
        except BaseException as stop:
            if recorder is not None:
                recorder.stopped(stop)
            raise
        meta.update({
            "excluded_repositories": excluded,
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "repositories": stats.repositories,
            "partial": stats.partial,
        })
        if recorder is not None:
            recorder.finish(stats, meta)
            outcome.scan_id, outcome.resumed = recorder.scan_id, recorder.resumed
            outcome.notes = recorder.notes
        outcome.meta = meta
        return outcome
    finally:
        close = getattr(provider, "close", None)
        if owned and callable(close):
            close()


def canonical_source(spec: str) -> str:
    """The source as the store names it: `local:` plus the absolute path for a folder,
    `kind:rest` in lower case for a forge (GitHub and GitLab names ignore case)."""
    kind, sep, rest = spec.partition(":")
    if not sep or len(kind) == 1:  # "." or "C:\\..." are paths, as in open_source
        kind, rest = "local", spec
    if kind == "local":
        return f"local:{Path(rest or '.').expanduser().resolve()}"
    return f"{kind}:{rest.strip().strip('/').lower()}"


def pack_fingerprint(enabled: Sequence[EnabledPolicy], tool_version: str = __version__) -> str:
    """What decides the findings of an unchanged repository: the enabled policies with their
    severity and options, their policy.yml and check.py, and the tool's version."""
    digest = hashlib.sha256(f"governance {tool_version}\n".encode())
    for e in sorted(enabled, key=lambda e: e.id):
        digest.update(json.dumps([e.id, e.severity.value, dict(e.options)], sort_keys=True,
                                 default=str).encode())
        for name in ("policy.yml", "check.py"):
            path = e.policy.folder / name
            if path.is_file():
                digest.update(f"\n{name} {path.stat().st_size}\n".encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:32]


class _Recorder:
    """The store's side of one scan: start or resume, what to carry, record, finish.

    Reuse rule: a repository is not evaluated again when the provider listed its head commit,
    the last finished scan (complete, or partial: ran to its end with some errors) of the
    same source under the same pack fingerprint recorded the same head, and that scan
    evaluated it without any `error` finding (an error may be transient: evaluate again).
    Its findings are carried (waivers re-applied: one may have expired). Policies reading
    forge settings are still evaluated on a fresh snapshot when the provider offers
    settings (`offers_settings`, True unless the provider says otherwise), since settings
    change without a commit.
    """

    def __init__(self, request: ScanRequest, provider: Provider,
                 enabled: Sequence[EnabledPolicy], pack: str, meta: Mapping[str, object]):
        from governance.store import Store

        assert request.store is not None
        self.path = request.store
        self.store = Store(request.store)
        self.source = canonical_source(request.source)
        self.fingerprint = pack_fingerprint(enabled)
        self.policies = len(enabled)
        self.notes: list[str] = []
        self.resumed = False
        self.seen: set[str] = set()
        self.fresh = 0  # repositories recorded by this run
        candidate = self.store.latest(self.source)
        if request.resume and candidate is not None and not candidate.done:
            if candidate.pack_fingerprint == self.fingerprint:
                self.resumed = True
            else:
                self.notes.append(
                    f"scan {candidate.id} did not finish but ran other policies (pack, options "
                    "or governance version changed): it cannot be resumed; a new scan starts")
        elif request.resume:
            self.notes.append("no unfinished scan of this source to resume; a new scan starts")
        if self.resumed and candidate is not None:
            self.scan_id = candidate.id
            self.store.reopen_scan(self.scan_id)
            self.recorded = self.store.repository_states(self.scan_id)
        else:
            # One start time for the store and the reports, so diffs name the same moment.
            self.scan_id = self.store.begin_scan(
                self.source, pack, self.fingerprint, __version__, meta,
                started=str(meta["started"]))
            self.recorded = {}
        self.position = max((s.position for s in self.recorded.values()), default=-1) + 1
        baseline = None if request.full else self.store.latest(
            self.source, finished=True, fingerprint=self.fingerprint, before=self.scan_id)
        self.baseline_id = baseline.id if baseline else None
        self.baseline = self.store.repository_states(baseline.id) if baseline else {}
        offers_settings = bool(getattr(provider, "offers_settings", True))
        self.settings_policies = frozenset(
            e.id for e in enabled if e.definition.reads.settings) if offers_settings else (
            frozenset())

    def carry(self, ref: RepoRef) -> Carried | None:
        self.seen.add(ref.name)
        store, name = self.store, ref.name
        done = self.recorded.get(name)
        if done is not None:
            scan_id = self.scan_id
            return Carried(lambda: store.findings(scan_id, name), final=True,
                           head_sha=done.head_sha, status="recorded")
        before = self.baseline.get(name)
        if (before is None or ref.head_sha is None or before.head_sha != ref.head_sha
                or before.status not in ("scanned", "reused") or before.errors
                or before.findings != self.policies or self.baseline_id is None):
            return None
        baseline_id = self.baseline_id
        return Carried(lambda: store.findings(baseline_id, name, unwaived=True),
                       evaluate=self.settings_policies, head_sha=ref.head_sha)

    def record(self, result: RepoResult) -> None:
        if result.status == "recorded":
            return
        self.store.record_repository(self.scan_id, self.position, result,
                                     self.baseline_id if result.carried else None)
        self.position += 1
        self.fresh += 1

    def finish(self, stats: ScanStats, meta: dict[str, object]) -> None:
        from governance.history import changes, totals, trend_meta

        status = "partial" if stats.partial else "complete"
        try:
            if self.resumed:
                self.store.keep_only(self.scan_id, self.seen)
            kept = {**meta, "totals": totals(self.store, self.scan_id)}
            self.store.finish_scan(self.scan_id, status, kept)
            meta["scan_id"] = self.scan_id
            meta["changes"] = changes(self.store, self.scan_id).as_dict()
            meta["trend"] = trend_meta(self.store, self.source)
        finally:
            self.store.close()

    def stopped(self, reason: BaseException) -> None:
        """The scan did not reach its end: keep what is recorded, unless nothing is."""
        try:
            if self.fresh == 0 and not self.resumed and not isinstance(reason, KeyboardInterrupt):
                self.store.delete_scan(self.scan_id)  # e.g. the source could not be listed
            else:
                self.store.set_status(self.scan_id, "interrupted")
        finally:
            self.store.close()
        if isinstance(reason, KeyboardInterrupt) and not isinstance(reason, ScanInterrupted):
            recorded = len(self.recorded) + self.fresh
            raise ScanInterrupted(self.scan_id, recorded, self.path) from None


def _with_overrides(config: Config, request: ScanRequest) -> Config:
    """The command line's --include-archived / --include-forks win over governance.yml."""
    update = {
        key: value
        for key, value in (("archived", request.include_archived),
                           ("forks", request.include_forks))
        if value is not None
    }
    if not update:
        return config
    return replace(config, repositories=config.repositories.model_copy(update=update))


def _exactly_one(refs: Iterator[RepoRef], source: str) -> Iterator[RepoRef]:
    first = next(refs, None)
    if first is None:
        raise ConfigError(f"{source}: no repository found (or it is excluded by the config)")
    second = next(refs, None)
    if second is not None:
        raise ConfigError(
            f"{source} holds several repositories ({first.name}, {second.name}, ...); "
            "audit takes one repository: use `governance scan` for a folder of checkouts"
        )
    yield first


def report_from_store(store_path: Path, which: str, out: Path, formats: Sequence[str],
                      source: str | None = None) -> tuple[int, str, list[Path]]:
    """Render a recorded scan again, without scanning: its findings exported to a spool in
    `out`, its meta with `changes` and `trend` recomputed. Returns (scan id, status, files)."""
    from governance.history import changes, select_scan, trend_meta
    from governance.render import write_reports
    from governance.store import Store

    with Store(store_path, create=False) as store:
        scan = select_scan(store, which, canonical_source(source) if source else None)
        spool = out / SPOOL_NAME
        store.export_spool(scan.id, spool)
        meta: dict[str, object] = {k: v for k, v in scan.meta.items() if k != "totals"}
        meta["scan_id"] = scan.id
        if scan.done:
            meta["changes"] = changes(store, scan.id).as_dict()
            meta["trend"] = trend_meta(store, scan.source)
        written = write_reports(spool, meta, out, formats)
    return scan.id, scan.status, written
