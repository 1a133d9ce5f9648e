"""What changed between scans, and compliance over time, computed from the store.

`changes(store, scan_id)` compares a finished scan with the previous finished scan of the
same source (whatever its pack). The result, as `Changes.as_dict()`, is the scan meta's
`changes` entry that reports show as "since the last scan":

    {
      "scan_id": 12, "previous_scan_id": 11 | null, "previous_started": "..." | null,
      "counts": {"new_failures": n, "fixed": n, "new_repositories": n,
                 "removed_repositories": n, "expired_waivers": n},
      "new_failures": [{"repository", "policy", "severity", "outcome": "fail",
                        "previous_outcome": "pass" | ... | null, "message"}],
      "fixed": [{"repository", "policy", "severity", "outcome": "pass" | "not_applicable",
                 "previous_outcome": "fail", "message"}],
      "new_repositories": ["acme/x", ...], "removed_repositories": [...],
      "expired_waivers": [{"repository", "policy", "severity", "owner", "reason",
                           "expires", "message"}],
      "truncated": false
    }

- a new failure fails now and did not fail in the previous scan (it passed, was waived,
  errored, or was not evaluated: a new repository or a newly enabled policy);
- a fixed finding failed in the previous scan and now passes or no longer applies (a
  removed repository or policy is not "fixed");
- an expired waiver: waived in the previous scan, failing now because its waiver expired
  (the finding is also a new failure).
Lists are sorted most severe first and cut at `limit` entries each (`truncated`); counts
are always complete. With no previous scan every list is empty.

`trend(...)` and `policy_trend(...)` give compliance per scan, oldest first, with the
definition the reports use (governance.models.compliance_of).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from governance.models import Outcome, Severity, compliance_of
from governance.store import ScanRow, Store

_SEVERITY_ORDER = "CASE {col} " + " ".join(
    f"WHEN '{s.value}' THEN {s.rank}" for s in Severity) + " ELSE -1 END DESC"
_FIXED = (Outcome.PASS.value, Outcome.NOT_APPLICABLE.value)


@dataclass(frozen=True)
class FindingChange:
    repository: str
    policy: str
    severity: str
    outcome: str
    previous_outcome: str | None
    message: str


@dataclass(frozen=True)
class ExpiredWaiver:
    repository: str
    policy: str
    severity: str
    owner: str
    reason: str
    expires: str | None
    message: str


@dataclass
class Changes:
    scan_id: int
    previous_scan_id: int | None = None
    previous_started: str | None = None
    new_failures: list[FindingChange] = field(default_factory=list)
    fixed: list[FindingChange] = field(default_factory=list)
    new_repositories: list[str] = field(default_factory=list)
    removed_repositories: list[str] = field(default_factory=list)
    expired_waivers: list[ExpiredWaiver] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("new_failures", "fixed", "new_repositories", "removed_repositories",
         "expired_waivers"), 0))
    truncated: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def new_failures_at_or_above(self, severity: Severity) -> list[FindingChange]:
        """New failures of this severity or worse (within the listed ones: the most severe
        come first, so a cut list still holds every critical one unless there are more
        critical ones than the limit)."""
        return [c for c in self.new_failures if Severity(c.severity).rank >= severity.rank]


def previous_scan(store: Store, scan: ScanRow) -> ScanRow | None:
    return store.latest(scan.source, finished=True, before=scan.id)


def changes(store: Store, scan_id: int, previous_id: int | None = None,
            limit: int | None = 1000) -> Changes:
    """What changed from the previous finished scan of the same source to `scan_id`."""
    scan = store.scan(scan_id)
    if scan is None:
        raise LookupError(f"no scan {scan_id}")
    previous = store.scan(previous_id) if previous_id is not None else previous_scan(store, scan)
    result = Changes(scan_id)
    if previous is None:
        return result
    result.previous_scan_id, result.previous_started = previous.id, previous.started
    conn = store.connection
    ids = {"now": scan_id, "before": previous.id}

    def cut(rows: list[Any], key: str) -> list[Any]:
        result.counts[key] = len(rows)
        if limit is not None and len(rows) > limit:
            result.truncated = True
            return rows[:limit]
        return rows

    rows = cut(conn.execute(
        "SELECT n.repository, n.policy, n.severity, n.outcome, b.outcome, n.body_id "
        "FROM findings n LEFT JOIN findings b ON b.scan_id = :before "
        "AND b.repository = n.repository AND b.policy = n.policy "
        "WHERE n.scan_id = :now AND n.outcome = 'fail' "
        "AND (b.outcome IS NULL OR b.outcome != 'fail') "
        f"ORDER BY {_SEVERITY_ORDER.format(col='n.severity')}, n.repository, n.policy",
        ids).fetchall(), "new_failures")
    bodies = _bodies(store, (row[5] for row in rows))
    result.new_failures = [
        FindingChange(r[0], r[1], r[2], r[3], r[4], str(bodies[r[5]].get("message", "")))
        for r in rows]

    rows = cut(conn.execute(
        "SELECT b.repository, b.policy, b.severity, n.outcome, b.outcome, b.body_id "
        "FROM findings b JOIN findings n ON n.scan_id = :now "
        "AND n.repository = b.repository AND n.policy = b.policy "
        f"WHERE b.scan_id = :before AND b.outcome = 'fail' AND n.outcome IN {_FIXED} "
        f"ORDER BY {_SEVERITY_ORDER.format(col='b.severity')}, b.repository, b.policy",
        ids).fetchall(), "fixed")
    bodies = _bodies(store, (row[5] for row in rows))
    result.fixed = [
        FindingChange(r[0], r[1], r[2], r[3], r[4], str(bodies[r[5]].get("message", "")))
        for r in rows]

    rows = conn.execute(
        "SELECT n.repository, n.policy, n.severity, n.body_id FROM findings n "
        "JOIN findings b ON b.scan_id = :before AND b.repository = n.repository "
        "AND b.policy = n.policy WHERE n.scan_id = :now AND n.outcome = 'fail' "
        "AND b.outcome = 'waived' "
        f"ORDER BY {_SEVERITY_ORDER.format(col='n.severity')}, n.repository, n.policy",
        ids).fetchall()
    bodies = _bodies(store, (row[3] for row in rows))
    expired = []
    for repository, policy, severity, body_id in rows:
        body = bodies[body_id]
        waiver = (body.get("details") or {}).get("expired_waiver")
        if isinstance(waiver, Mapping):
            expired.append(ExpiredWaiver(
                repository, policy, severity, str(waiver.get("owner", "")),
                str(waiver.get("reason", "")), waiver.get("expires"),
                str(body.get("message", ""))))
    result.expired_waivers = cut(expired, "expired_waivers")

    names = "SELECT name FROM repositories WHERE scan_id = ? EXCEPT " \
            "SELECT name FROM repositories WHERE scan_id = ? ORDER BY name"
    result.new_repositories = cut([r[0] for r in conn.execute(
        names, (scan_id, previous.id))], "new_repositories")
    result.removed_repositories = cut([r[0] for r in conn.execute(
        names, (previous.id, scan_id))], "removed_repositories")
    return result


def _bodies(store: Store, body_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(set(body_ids))
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        for body_id, text in store.connection.execute(
                f"SELECT id, body FROM finding_bodies WHERE id IN ({marks})", chunk):
            found[int(body_id)] = json.loads(text)
    return found


# --------------------------------------------------------------------------- over time

def totals(store: Store, scan_id: int, repository: str | None = None
           ) -> dict[str, dict[str, int]]:
    """Outcome counts per policy of a scan (optionally of one repository)."""
    sql = "SELECT policy, outcome, COUNT(*) FROM findings WHERE scan_id = ?"
    params: list[object] = [scan_id]
    if repository is not None:
        sql += " AND repository = ?"
        params.append(repository)
    result: dict[str, dict[str, int]] = {}
    for policy, outcome, count in store.connection.execute(
            sql + " GROUP BY policy, outcome", params):
        result.setdefault(policy, {})[outcome] = int(count)
    return result


def _totals_of(store: Store, scan: ScanRow, repository: str | None
               ) -> dict[str, dict[str, int]]:
    """A finished scan keeps its totals in its meta (written when it finished)."""
    kept = scan.meta.get("totals")
    if repository is None and isinstance(kept, dict):
        return {str(k): {str(o): int(n) for o, n in v.items()} for k, v in kept.items()
                if isinstance(v, dict)}
    return totals(store, scan.id, repository)


@dataclass(frozen=True)
class Point:
    """Compliance of one scan (of the whole source, or of one policy or repository)."""

    scan_id: int
    started: str
    status: str
    repositories: int
    outcomes: dict[str, int]
    compliance: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scans(store: Store, source: str, limit: int) -> list[ScanRow]:
    return list(reversed(store.scans(source, finished=True, limit=limit)))


def trend(store: Store, source: str, *, policy: str | None = None,
          repository: str | None = None, limit: int = 30) -> list[Point]:
    """Compliance per finished scan of a source, oldest first, for every policy or one,
    of every repository or one."""
    return [_point(store, scan, _totals_of(store, scan, repository), policy, repository)
            for scan in _scans(store, source, limit)]


def _point(store: Store, scan: ScanRow, per_policy: Mapping[str, Mapping[str, int]],
           policy: str | None, repository: str | None) -> Point:
    counts = dict.fromkeys((o.value for o in Outcome), 0)
    for name, outcomes in per_policy.items():
        if policy is None or name == policy:
            for outcome, count in outcomes.items():
                counts[outcome] = counts.get(outcome, 0) + count
    if repository is not None:
        size = 1 if per_policy else 0
    elif isinstance(scan.meta.get("repositories"), int):
        size = int(scan.meta["repositories"])
    else:
        size = int(store.connection.execute(
            "SELECT COUNT(*) FROM repositories WHERE scan_id = ?", (scan.id,)).fetchone()[0])
    return Point(scan.id, scan.started, scan.status, size, counts, compliance_of(counts))


def policy_trend(store: Store, source: str, *, repository: str | None = None,
                 limit: int = 30) -> tuple[list[ScanRow], dict[str, list[float | None]]]:
    """Per policy, its compliance in each of the last `limit` finished scans (oldest first;
    None where it was not evaluated or nothing was decided)."""
    scans = _scans(store, source, limit)
    return scans, _by_policy([_totals_of(store, scan, repository) for scan in scans])


def _by_policy(per_scan: list[dict[str, dict[str, int]]]) -> dict[str, list[float | None]]:
    by_policy: dict[str, list[float | None]] = {}
    for index, per_policy in enumerate(per_scan):
        for name, outcomes in per_policy.items():
            by_policy.setdefault(name, [None] * len(per_scan))[index] = compliance_of(outcomes)
    return dict(sorted(by_policy.items()))


def repository_outcomes(store: Store, source: str, repository: str, limit: int = 30
                        ) -> tuple[list[ScanRow], dict[str, list[str | None]]]:
    """Per policy, one repository's outcome in each of the last finished scans."""
    scans = _scans(store, source, limit)
    by_policy: dict[str, list[str | None]] = {}
    for index, scan in enumerate(scans):
        for policy, outcome in store.connection.execute(
                "SELECT policy, outcome FROM findings WHERE scan_id = ? AND repository = ?",
                (scan.id, repository)):
            by_policy.setdefault(policy, [None] * len(scans))[index] = outcome
    return scans, dict(sorted(by_policy.items()))


def trend_meta(store: Store, source: str, limit: int = 30) -> dict[str, Any]:
    """The scan meta's `trend` entry: compliance of the source and of each policy over the
    last finished scans, oldest first, for charts in reports:
    {"scans": [{"id", "started", "repositories", "compliance", "outcomes"}],
     "policies": {policy id: [compliance or null, one per scan]}}"""
    scans = _scans(store, source, limit)
    per_scan = [_totals_of(store, scan, None) for scan in scans]
    points = [_point(store, scan, per_policy, None, None)
              for scan, per_policy in zip(scans, per_scan, strict=True)]
    return {
        "scans": [{"id": p.scan_id, "started": p.started, "repositories": p.repositories,
                   "compliance": p.compliance, "outcomes": p.outcomes} for p in points],
        "policies": _by_policy(per_scan),
    }


# --------------------------------------------------------------------------- presenting

def select_scan(store: Store, which: str, source: str | None = None) -> ScanRow:
    """`latest` (the newest finished scan, of `source` if given) or a scan id."""
    from governance.errors import ConfigError

    if which == "latest":
        scan = store.latest(source, finished=True)
        if scan is None:
            of = f" of {source}" if source else ""
            raise ConfigError(f"no finished scan{of} in {store.path}")
        return scan
    try:
        scan_id = int(which)
    except ValueError:
        raise ConfigError(f"--scan expects a scan id or `latest`, not {which!r}") from None
    found = store.scan(scan_id)
    if found is None:
        raise ConfigError(f"no scan {scan_id} in {store.path}")
    return found


def default_source(store: Store, source: str | None) -> str:
    """The source asked for (canonical), or the one scanned most recently."""
    from governance.errors import ConfigError
    from governance.scan import canonical_source

    if source is not None:
        return canonical_source(source)
    known = store.sources()
    if not known:
        raise ConfigError(f"no scan recorded in {store.path}")
    return known[0]


def new_failures_at_or_above(changes_meta: Mapping[str, Any], severity: Severity
                             ) -> list[Mapping[str, Any]]:
    """From a meta `changes` entry: the new failures of `severity` or worse."""
    return [c for c in changes_meta.get("new_failures") or []
            if Severity(c["severity"]).rank >= severity.rank]


def _cell(text: object) -> str:
    """Markdown table cell: one line, pipes and markup neutralised."""
    value = " ".join(str(text).split())
    for char in "\\|`*_[]<>":
        value = value.replace(char, "\\" + char)
    return value


def changes_markdown(found: Changes, source: str, limit: int = 50) -> str:
    """The changes as GitHub-flavoured Markdown (a CI job summary)."""
    lines = [f"## Governance: changes since the last scan of {_cell(source)}", ""]
    if found.previous_scan_id is None:
        lines.append(f"Scan {found.scan_id} is the first finished scan of this source: "
                     "nothing to compare with yet.")
        return "\n".join(lines) + "\n"
    counts = found.counts
    lines.append(
        f"Scan {found.scan_id} against scan {found.previous_scan_id}: "
        f"**{counts['new_failures']} new failure(s)**, {counts['fixed']} fixed, "
        f"{counts['new_repositories']} new and {counts['removed_repositories']} removed "
        f"repositories, {counts['expired_waivers']} expired waiver(s).")

    def table(title: str, header: list[str], rows: list[list[object]], total: int) -> None:
        if not rows:
            return
        lines.extend(["", f"### {title}", "", "| " + " | ".join(header) + " |",
                      "|" + "---|" * len(header)])
        lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows[:limit])
        if total > min(len(rows), limit):
            lines.append(f"\n... and {total - min(len(rows), limit)} more")

    table("New failures", ["severity", "repository", "policy", "before", "message"],
          [[c.severity, c.repository, c.policy, c.previous_outcome or "not scanned", c.message]
           for c in found.new_failures], counts["new_failures"])
    table("Fixed", ["severity", "repository", "policy", "now"],
          [[c.severity, c.repository, c.policy, c.outcome] for c in found.fixed],
          counts["fixed"])
    table("Expired waivers", ["repository", "policy", "owner", "expired", "reason"],
          [[w.repository, w.policy, w.owner, w.expires or "", w.reason]
           for w in found.expired_waivers], counts["expired_waivers"])
    table("New repositories", ["repository"], [[n] for n in found.new_repositories],
          counts["new_repositories"])
    table("Removed repositories", ["repository"], [[n] for n in found.removed_repositories],
          counts["removed_repositories"])
    return "\n".join(lines) + "\n"
