"""Numbers every report shares: outcome counts, compliance, per-policy and per-repository rows.

Compliance is the share of *decided* findings (pass, fail, waived) that pass or are
waived, in percent with one decimal. `not_applicable`, `not_available` and `error` are
not decided and count neither way. A population with failures never shows 100.0 and one
with passes never shows 0.0, whatever the rounding.

Worst first, for repositories, means: the highest severity among failing findings, then
more failures, then more errors, then lower compliance, then the name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from governance.models import Outcome, Severity, compliance_of

OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
DECIDED: tuple[str, ...] = (Outcome.PASS.value, Outcome.FAIL.value, Outcome.WAIVED.value)
# Order of findings inside one repository: what needs attention first.
OUTCOME_ATTENTION: dict[str, int] = {
    name: rank for rank, name in enumerate(
        ["fail", "error", "not_available", "waived", "not_applicable", "pass"])
}
_SEVERITY_RANK = {s.value: s.rank for s in Severity}


def severity_rank(value: object) -> int:
    """Rank of a severity name; unknown or missing severities rank below `info`."""
    return _SEVERITY_RANK.get(str(value), -1)


def outcome_counts(outcomes: Iterable[object]) -> dict[str, int]:
    """Count per outcome, with every known outcome present (zero when absent)."""
    counts = dict.fromkeys(OUTCOMES, 0)
    for outcome in outcomes:
        key = str(outcome)
        counts[key] = counts.get(key, 0) + 1
    return counts


def compliance(frame: pd.DataFrame) -> float | None:
    """Compliance of every finding in a frame of findings."""
    return compliance_of(outcome_counts(frame["outcome"]))


@dataclass(frozen=True)
class PolicyInfo:
    """What the report knows about one enabled policy (from the scan's meta)."""

    id: str
    title: str
    severity: str
    remediation: str = ""
    rationale: str = ""


@dataclass
class PolicyRow:
    info: PolicyInfo
    counts: dict[str, int]
    compliance: float | None

    @property
    def id(self) -> str:
        return self.info.id

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.info.id, "title": self.info.title, "severity": self.info.severity,
                "compliance": self.compliance, "outcomes": dict(self.counts)}


@dataclass
class RepositoryRow:
    name: str
    counts: dict[str, int]
    compliance: float | None
    worst: str | None  # highest severity among failing findings
    failing_policies: list[str] = field(default_factory=list)

    @property
    def failing(self) -> int:
        return self.counts.get("fail", 0)

    def sort_key(self) -> tuple[int, int, int, float, str]:
        return (-severity_rank(self.worst) if self.worst else 1, -self.failing,
                -self.counts.get("error", 0),
                self.compliance if self.compliance is not None else 101.0, self.name)

    def as_dict(self) -> dict[str, Any]:
        return {"repository": self.name, "compliance": self.compliance,
                "failing": self.failing, "worst_severity": self.worst,
                "outcomes": dict(self.counts), "failing_policies": list(self.failing_policies)}


def policies_of(frame: pd.DataFrame, meta: Mapping[str, object]) -> list[PolicyInfo]:
    """Enabled policies from the meta (in its order), plus any the findings name besides."""
    known: dict[str, PolicyInfo] = {}
    listed = meta.get("policies")
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, Mapping) and entry.get("id"):
                policy_id = str(entry["id"])
                known[policy_id] = PolicyInfo(
                    id=policy_id,
                    title=str(entry.get("title") or policy_id),
                    severity=str(entry.get("severity") or ""),
                    remediation=str(entry.get("remediation") or "").strip(),
                    rationale=str(entry.get("rationale") or "").strip(),
                )
    if not frame.empty:
        firsts = frame.drop_duplicates("policy")
        for policy_id, title, severity in zip(
            firsts["policy"], firsts["title"], firsts["severity"], strict=True
        ):
            if str(policy_id) not in known:
                known[str(policy_id)] = PolicyInfo(str(policy_id), str(title or policy_id),
                                                   str(severity or ""))
        remediations = _common_remediation(frame)
        for policy_id, info in known.items():
            if not info.remediation and policy_id in remediations:
                known[policy_id] = PolicyInfo(info.id, info.title, info.severity,
                                              remediations[policy_id], info.rationale)
    return list(known.values())


def _common_remediation(frame: pd.DataFrame) -> dict[str, str]:
    """The remediation text most failures of each policy carry."""
    failing = frame[(frame["outcome"] == "fail") & frame["remediation"].fillna("").astype(bool)]
    if failing.empty:
        return {}
    counted = failing.groupby(["policy", "remediation"]).size().reset_index(name="n")
    counted = counted.sort_values(["policy", "n"], ascending=[True, False])
    firsts = counted.drop_duplicates("policy")
    return {str(p): str(r) for p, r in zip(firsts["policy"], firsts["remediation"], strict=True)}


def counts_by(frame: pd.DataFrame, key: str) -> dict[str, dict[str, int]]:
    """Outcome counts (every outcome present) per value of a column."""
    if frame.empty:
        return {}
    table = pd.crosstab(frame[key], frame["outcome"])
    result: dict[str, dict[str, int]] = {}
    for name, row in zip(table.index, table.to_dict("records"), strict=True):
        counts = dict.fromkeys(OUTCOMES, 0)
        counts.update({str(k): int(v) for k, v in row.items()})
        result[str(name)] = counts
    return result


def policy_rows(frame: pd.DataFrame, policies: list[PolicyInfo]) -> list[PolicyRow]:
    """One row per policy, worst compliance first (then higher severity, then id)."""
    by_policy = counts_by(frame, "policy")
    rows = [
        PolicyRow(info, by_policy.get(info.id, outcome_counts(())),
                  compliance_of(by_policy.get(info.id, {})))
        for info in policies
    ]
    rows.sort(key=lambda r: (r.compliance if r.compliance is not None else 101.0,
                             -severity_rank(r.info.severity), r.info.id))
    return rows


def repository_rows(frame: pd.DataFrame) -> list[RepositoryRow]:
    """One row per repository, worst first (see the module docstring)."""
    fails = frame.loc[frame["outcome"] == "fail", ["repository", "policy", "severity"]].copy()
    fails["rank"] = [severity_rank(s) for s in fails["severity"]]
    fails = fails.sort_values(["repository", "rank", "policy"], ascending=[True, False, True])
    worst = {str(k): str(v) for k, v in fails.drop_duplicates("repository")[
        ["repository", "severity"]].itertuples(index=False, name=None)}
    failing: dict[str, list[str]] = {}
    for name, policy in zip(fails["repository"], fails["policy"], strict=True):
        failing.setdefault(str(name), []).append(str(policy))
    rows = [
        RepositoryRow(name, counts, compliance_of(counts), worst.get(name),
                      failing.get(name, []))
        for name, counts in counts_by(frame, "repository").items()
    ]
    rows.sort(key=RepositoryRow.sort_key)
    return rows


def summary(frame: pd.DataFrame, meta: Mapping[str, object] | None = None) -> dict[str, Any]:
    """The `summary` object of findings.json (documented in docs/report-formats.md)."""
    counts = outcome_counts(frame["outcome"])
    policies = policies_of(frame, meta or {})
    repositories = repository_rows(frame)
    return {
        "repositories": int(frame["repository"].nunique()),
        "failing_repositories": sum(1 for r in repositories if r.failing),
        "findings": len(frame),
        "outcomes": counts,
        "decided": sum(counts[o] for o in DECIDED),
        "compliance": compliance_of(counts),
        "by_policy": [row.as_dict() for row in policy_rows(frame, policies)],
        "by_repository": [row.as_dict() for row in repositories],
    }


# --- scan history: what changed since the previous scan, compliance over time ------------
#
# A scan recorded in a store carries `changes` and `trend` in its meta (governance.history:
# Changes.as_dict() and trend_meta()). The meta may come back from JSON or from an older
# version, so both are read defensively: wrong types are skipped, never trusted.

CHANGE_KINDS: tuple[tuple[str, str], ...] = (
    ("new_failures", "New failures"),
    ("fixed", "Fixed"),
    ("new_repositories", "New repositories"),
    ("removed_repositories", "Removed repositories"),
    ("expired_waivers", "Expired waivers"),
)
_CHANGE_FIELDS = ("repository", "policy", "severity", "outcome", "previous_outcome", "message",
                  "owner", "reason", "expires")


@dataclass(frozen=True)
class ChangeList:
    """One list of `changes`: its entries (most severe first, then by repository and
    policy) and its full length, which may exceed the entries when the list was cut."""

    key: str
    title: str
    total: int
    entries: list[dict[str, str]]


def previous_scan_of(changes: Mapping[str, Any]) -> int | None:
    value = changes.get("previous_scan_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def change_lists(changes: Mapping[str, Any]) -> list[ChangeList]:
    """Every kind of change, in CHANGE_KINDS order (empty ones included). Entries are
    dicts of strings (missing values are ""); a list of names becomes entries with only a
    `repository`."""
    counts = changes.get("counts")
    counts = counts if isinstance(counts, Mapping) else {}
    lists = []
    for key, title in CHANGE_KINDS:
        entries: list[dict[str, str]] = []
        raw = changes.get(key)
        for item in raw if isinstance(raw, (list, tuple)) else ():
            if isinstance(item, Mapping):
                entries.append({name: "" if item.get(name) is None else str(item.get(name))
                                for name in _CHANGE_FIELDS})
            elif isinstance(item, str):
                entries.append({**dict.fromkeys(_CHANGE_FIELDS, ""), "repository": item})
        entries.sort(key=lambda e: (-severity_rank(e["severity"]), e["repository"],
                                    e["policy"]))
        total = counts.get(key)
        if not isinstance(total, int) or isinstance(total, bool) or total < len(entries):
            total = len(entries)
        lists.append(ChangeList(key, title, total, entries))
    return lists


@dataclass(frozen=True)
class TrendScan:
    """One recorded scan in a trend: its id, start and overall compliance."""

    id: int | None
    started: str
    repositories: int | None
    compliance: float | None
    outcomes: dict[str, int]


@dataclass(frozen=True)
class Trend:
    """Compliance over recorded scans, oldest first; `policies` holds, per policy id, one
    value (or None: not evaluated, nothing decided) per scan."""

    scans: list[TrendScan]
    policies: dict[str, list[float | None]]


def _percent_value(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if 0.0 <= number <= 100.0 else None  # also drops NaN


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def trend_of(value: object, upto: int | None = None, limit: int = 30) -> Trend | None:
    """The meta's `trend` as a Trend: only the scans up to scan `upto` (a report of an
    older scan does not show later ones), at most the last `limit`. None when there is
    no usable trend."""
    if not isinstance(value, Mapping) or not isinstance(value.get("scans"), list):
        return None
    keep: list[int] = []
    scans: list[TrendScan] = []
    for index, item in enumerate(value["scans"]):
        if not isinstance(item, Mapping):
            continue
        scan_id = _count(item.get("id"))
        if upto is not None and scan_id is not None and scan_id > upto:
            continue
        outcomes = item.get("outcomes")
        keep.append(index)
        scans.append(TrendScan(
            scan_id, str(item.get("started") or ""), _count(item.get("repositories")),
            _percent_value(item.get("compliance")),
            {str(k): n for k, n in outcomes.items() if _count(n) is not None}
            if isinstance(outcomes, Mapping) else {}))
    keep, scans = keep[-limit:], scans[-limit:]
    if not scans:
        return None
    policies: dict[str, list[float | None]] = {}
    raw = value.get("policies")
    for policy, series in (raw.items() if isinstance(raw, Mapping) else ()):
        if isinstance(series, list):
            policies[str(policy)] = [_percent_value(series[i]) if i < len(series) else None
                                     for i in keep]
    return Trend(scans, policies)
