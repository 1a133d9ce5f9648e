"""report.html: org summary, repository x policy matrix, every finding with remediation.

One self-contained file: the CSS and the filtering script (reports/templates/report.css and
report.js) are inlined, nothing is fetched, and it works from file:// and without
JavaScript. Every value from a scan (repository names, messages, paths, waiver reasons) is
attacker-controlled and goes through Jinja's autoescaping; only the two static assets are
marked safe. A Content-Security-Policy allows exactly those two inline blocks (by hash), so
even a markup injection could not run a script or load anything.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from governance import resources
from governance.models import Severity
from governance.render.summary import (
    DECIDED,
    OUTCOME_ATTENTION,
    PolicyInfo,
    PolicyRow,
    RepositoryRow,
    compliance_of,
    outcome_counts,
    policies_of,
    policy_rows,
    repository_rows,
    severity_rank,
)
from governance.render.tabular import finding_records

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
SCRIPT = "report.js"
BAR_WIDTH = 120


@dataclass(frozen=True)
class OutcomeView:
    key: str  # the outcome value
    cls: str  # CSS class
    sym: str  # symbol in the matrix
    label: str
    short: str  # column heading


OUTCOME_VIEWS: dict[str, OutcomeView] = {
    view.key: view for view in (
        OutcomeView("pass", "o-pass", "\u2713", "pass", "Pass"),
        OutcomeView("fail", "o-fail", "\u2717", "fail", "Fail"),
        OutcomeView("waived", "o-wv", "W", "waived", "Waived"),
        OutcomeView("error", "o-err", "!", "error", "Error"),
        OutcomeView("not_available", "o-nv", "?", "not available", "N/avail"),
        OutcomeView("not_applicable", "o-na", "\u2013", "not applicable", "N/a"),
    )
}
_BAR_CLASS = {"pass": "pass", "waived": "wv", "fail": "fail", "error": "err",
              "not_available": "nv", "not_applicable": "na"}


def _outcome_view(outcome: str) -> OutcomeView:
    return OUTCOME_VIEWS.get(outcome) or OutcomeView(outcome, "o-none", "?", outcome, outcome)


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def band(value: float | None) -> str:
    """CSS class of a compliance figure (the figure is always printed too)."""
    if value is None:
        return "muted"
    return "good" if value >= 90 else "fair" if value >= 60 else "poor"


def _when(value: object) -> tuple[str, str, dt.datetime | None]:
    """An ISO timestamp from the meta as (iso, display text, parsed)."""
    text = str(value or "")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return text, text or "unknown", None
    shown = parsed.astimezone(dt.timezone.utc) if parsed.tzinfo else parsed
    suffix = " UTC" if parsed.tzinfo else ""
    return text, shown.strftime("%Y-%m-%d %H:%M:%S") + suffix, parsed


def _duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None or (start.tzinfo is None) != (end.tzinfo is None):
        return ""
    seconds = max(0, int((end - start).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _asset(name: str, closing: str) -> str:
    text = (resources.templates_folder() / name).read_text(encoding="utf-8")
    if closing in text.lower():
        raise ValueError(f"{name} must not contain {closing!r}")  # it would end the block
    return text


def _head(frame: pd.DataFrame, meta: Mapping[str, object]) -> dict[str, Any]:
    started_iso, started, start = _when(meta.get("started"))
    _, _, end = _when(meta.get("finished"))
    repositories = meta.get("repositories")
    return {
        "source": str(meta.get("source") or "unknown source"),
        "pack": str(meta.get("pack") or "unknown"),
        "tool_version": str(meta.get("tool_version") or "unknown"),
        "started": started,
        "started_iso": started_iso,
        "duration": _duration(start, end),
        "repositories": repositories if isinstance(repositories, int)
        else int(frame["repository"].nunique()),
        "partial": bool(meta.get("partial")) or bool((frame["outcome"] == "error").any()),
    }


def _policy_view(row: PolicyRow) -> dict[str, Any]:
    total = sum(row.counts.values())
    segments, x = [], 0.0
    for outcome in ("pass", "waived", "fail", "error", "not_available", "not_applicable"):
        count = row.counts.get(outcome, 0)
        if count and total:
            width = BAR_WIDTH * count / total
            segments.append({"cls": _BAR_CLASS[outcome], "x": f"{x:.2f}", "w": f"{width:.2f}"})
            x += width
    label = ", ".join(f"{row.counts[o]} {_outcome_view(o).label}"
                      for o in OUTCOME_VIEWS if row.counts.get(o)) or "no findings"
    return {
        "id": row.info.id, "title": row.info.title,
        "severity": row.info.severity or "info",
        "rationale": prose(row.info.rationale), "remediation": prose(row.info.remediation),
        "counts": row.counts, "compliance_text": percent(row.compliance),
        "band": band(row.compliance), "bar": segments, "bar_label": label,
    }


def _repository_view(row: RepositoryRow, index: int) -> dict[str, Any]:
    return {
        "index": index, "name": row.name, "counts": row.counts, "failing": row.failing,
        "worst": row.worst, "compliance": row.compliance,
        "compliance_text": percent(row.compliance), "band": band(row.compliance),
        "failing_policies": row.failing_policies,
    }


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of policy prose: plain text, `code` (from backticks) or an http(s) link."""

    kind: str  # "text", "code" or "link"
    text: str


_PROSE = re.compile(r"`([^`\n]+)`|(https?://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]])")


@lru_cache(maxsize=512)
def prose(text: str) -> tuple[Segment, ...]:
    """Split policy prose (remediation, rationale) into segments the template prints.

    The template escapes every segment; links are only ever http(s) URLs.
    """
    segments: list[Segment] = []
    position = 0
    for match in _PROSE.finditer(text):
        if match.start() > position:
            segments.append(Segment("text", text[position:match.start()]))
        if match.group(1) is not None:
            segments.append(Segment("code", match.group(1)))
        else:
            segments.append(Segment("link", match.group(2)))
        position = match.end()
    if position < len(text):
        segments.append(Segment("text", text[position:]))
    return tuple(segments)


@dataclass(frozen=True, slots=True)
class LocationView:
    where: str  # path or path:line
    note: str


@dataclass(frozen=True, slots=True)
class WaiverView:
    owner: str
    reason: str
    expires: str  # YYYY-MM-DD or ""
    repository: str  # the waiver's own globs
    policy: str

    @classmethod
    def of(cls, waiver: object) -> WaiverView | None:
        if not isinstance(waiver, Mapping):
            return None
        return cls(*(str(waiver.get(key) or "") for key in
                     ("owner", "reason", "expires", "repository", "policy")))


@dataclass(frozen=True, slots=True)
class FindingView:
    i: int  # anchor: f{i}
    repository: str
    policy: str
    title: str
    outcome: str
    cls: str
    sym: str
    label: str
    severity: str
    message: str
    locations: tuple[LocationView, ...]
    fix: tuple[Segment, ...]  # remediation, on failures only
    waiver: WaiverView | None
    confidence: str  # "" when high
    quiet: bool  # pass / not applicable: rendered smaller


def _where(path: object, line: object) -> str:
    return f"{path}:{line}" if line is not None else str(path)


def _finding_view(index: int, record: Mapping[str, Any], policies: Mapping[str, PolicyInfo]
                  ) -> FindingView:
    outcome = str(record.get("outcome") or "")
    view = _outcome_view(outcome)
    policy = str(record.get("policy") or "")
    locations = [
        LocationView(_where(loc["path"], loc.get("line")), str(loc.get("note") or ""))
        for loc in record.get("locations") or ()
        if isinstance(loc, Mapping) and loc.get("path")
    ]
    if not locations and record.get("path"):
        locations.append(LocationView(_where(record["path"], record.get("line")), ""))
    confidence = str(record.get("confidence") or "high")
    info = policies.get(policy)
    remediation = str(record.get("remediation") or "").strip() if outcome == "fail" else ""
    return FindingView(
        i=index, repository=str(record.get("repository") or ""), policy=policy,
        title=str(record.get("title") or (info.title if info else policy)),
        outcome=outcome, cls=view.cls, sym=view.sym, label=view.label,
        severity=str(record.get("severity") or "info"),
        message=str(record.get("message") or ""), locations=tuple(locations),
        fix=prose(remediation) if remediation else (),
        waiver=WaiverView.of(record.get("waiver")),
        confidence="" if confidence == "high" else confidence,
        quiet=outcome in ("pass", "not_applicable"),
    )


def build_context(frame: pd.DataFrame, meta: Mapping[str, object]) -> dict[str, Any]:
    """Everything the template shows, as plain values (the template only loops and prints)."""
    policies = policies_of(frame, meta)
    by_id = {p.id: p for p in policies}
    policy_table = [_policy_view(row) for row in policy_rows(frame, policies)]
    order = [p["id"] for p in policy_table]  # matrix columns follow the policy table
    column = {policy_id: n for n, policy_id in enumerate(order)}

    repo_rows = repository_rows(frame)
    repositories = [_repository_view(row, n) for n, row in enumerate(repo_rows)]
    repo_by_name = {r["name"]: r for r in repositories}

    findings = [_finding_view(n, rec, by_id) for n, rec in enumerate(finding_records(frame))]
    cells: dict[str, list[FindingView | None]] = {
        name: [None] * len(order) for name in repo_by_name
    }
    grouped: dict[str, list[FindingView]] = {name: [] for name in repo_by_name}
    for finding in findings:
        grouped[finding.repository].append(finding)
        slot = column.get(finding.policy)
        if slot is not None and cells[finding.repository][slot] is None:
            cells[finding.repository][slot] = finding

    def attention(f: FindingView) -> tuple[int, int, int]:
        return (OUTCOME_ATTENTION.get(f.outcome, len(OUTCOME_ATTENTION)),
                -severity_rank(f.severity), column.get(f.policy, len(column)))

    names = sorted(repo_by_name)
    counts = outcome_counts(frame["outcome"])
    value = compliance_of(counts)
    css, js = _asset(STYLESHEET, "</style"), _asset(SCRIPT, "</script")
    csp = "; ".join([
        "default-src 'none'", f"style-src {_csp_hash(css)}", f"script-src {_csp_hash(js)}",
        "img-src data:", "base-uri 'none'", "form-action 'none'",
    ])
    return {
        "head": _head(frame, meta),
        "totals": {
            "counts": counts, "compliance": value, "compliance_text": percent(value),
            "band": band(value), "decided": sum(counts[o] for o in DECIDED),
            "findings": len(frame), "failing_repositories": sum(1 for r in repo_rows if r.failing),
        },
        "outcomes": list(OUTCOME_VIEWS.values()),
        "severities": [s.value for s in reversed(Severity)],
        "policies": policy_table,
        "repositories": repositories,
        "matrix": [{"repo": repo_by_name[name], "cells": cells[name]} for name in names],
        "sections": [
            {"repo": repo_by_name[name], "findings": sorted(grouped[name], key=attention)}
            for name in names
        ],
        "waived": sorted(
            (f for f in findings if f.waiver is not None),
            key=lambda f: (f.waiver.expires or "9999" if f.waiver else "", f.repository, f.policy),
        ),
        "bar_width": BAR_WIDTH,
        "css": Markup(css),  # static files of this project, never scan data
        "js": Markup(js),
        "csp": csp,
    }


def render_html(frame: pd.DataFrame, meta: Mapping[str, object]) -> str:
    env = Environment(
        loader=FileSystemLoader(str(resources.templates_folder())),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(TEMPLATE).render(**build_context(frame, meta))


def write_html(frame: pd.DataFrame, meta: Mapping[str, object], path: Path) -> Path:
    html = render_html(frame, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Spooled paths may hold undecodable bytes (surrogate escapes): keep them visible.
    path.write_text(html, encoding="utf-8", errors="backslashreplace")
    return path
