"""One scan, start to finish: config -> pack -> provider -> engine -> spool -> reports.

The CLI, the demo, the benchmarks and the tests all run scans through `run_scan`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from governance import __version__, resources
from governance.config import Config, load_config
from governance.engine import Engine, ScanStats
from governance.errors import ConfigError
from governance.models import Finding, RepoRef
from governance.policy import EnabledPolicy, Policy, discover, find_pack, resolve
from governance.providers import open_source

SPOOL_NAME = "findings.jsonl"


@dataclass(frozen=True)
class ScanRequest:
    source: str
    config_path: Path | None = None
    pack: str | None = None  # overrides the config's pack
    today: dt.date | None = None


@dataclass
class ScanOutcome:
    stats: ScanStats
    spool: Path
    meta: dict[str, object] = field(default_factory=dict)


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
) -> ScanOutcome:
    """Scan a source and spool every finding as JSON lines (memory stays flat)."""
    config = load_config(request.config_path)
    pack_path, enabled = load_policies(config, request.pack)
    engine = Engine(enabled, config.waivers, request.today)
    provider = open_source(request.source)
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

    def record(ref: RepoRef, findings: list[Finding]) -> None:
        stats.add(ref.name, findings)
        if on_repository is not None:
            on_repository(ref, findings)

    spool_folder.mkdir(parents=True, exist_ok=True)
    spool = spool_folder / SPOOL_NAME
    with spool.open("w", encoding="utf-8") as out:
        for finding in engine.run(provider, refs, record):
            out.write(json.dumps(finding.as_dict(), default=str) + "\n")
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
            }
            for e in enabled
        ],
        "waivers_checked_on": engine.today.isoformat(),
        "excluded_repositories": excluded,
        "tool_version": __version__,
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "repositories": stats.repositories,
        "partial": stats.partial,
    }
    return ScanOutcome(stats, spool, meta)


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
