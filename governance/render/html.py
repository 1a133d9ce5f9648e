"""report.html: org summary, repository x policy matrix, a panel per repository, a view per
policy, for 10 or 10,000 repositories; for a scan recorded in a store, what changed since
the previous scan and compliance over time (inline SVG charts drawn here).

One self-contained file: the CSS and the script (reports/templates/report.css and report.js)
are inlined and nothing is fetched, so it works from file://. The findings are embedded once,
as JSON in a <script type="application/json"> element (see `build_data`), and the script
renders the paged, sortable, filterable matrix, the repository panels and the policy views
from it, building elements with textContent only. The overview, the policy table, the
waivers and the first page of the matrix are also rendered here, so the report says
something without JavaScript.

Every value from a scan (repository names, messages, paths, waiver reasons) is
attacker-controlled: in HTML it goes through Jinja's autoescaping, in the JSON through
`script_json`; only the two static assets and that JSON are marked safe. A
Content-Security-Policy allows exactly the report's own style and script (by hash), so even
a markup injection could not run a script or load anything.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from governance import resources
from governance.models import Severity, compliance_of
from governance.render.summary import (
    DECIDED,
    PolicyInfo,
    PolicyRow,
    RepositoryRow,
    Trend,
    TrendScan,
    change_lists,
    outcome_counts,
    policies_of,
    policy_rows,
    previous_scan_of,
    repository_rows,
    trend_of,
)
from governance.render.tabular import finding_records, org_of

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
        "counts": row.counts, "compliance": row.compliance,
        "compliance_text": percent(row.compliance),
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


# --- the data the report's script renders -----------------------------------------------
#
# Embedded once, as JSON in <script type="application/json" id="report-data">, compact:
#
#   outcomes    [[key, css class, symbol, label], ...]      outcome codes index this list
#   severities  ["info", "low", "medium", "high", "critical"]
#   policies    [{id, title, severity, compliance, counts, why, fix}, ...]  matrix columns,
#               worst compliance first; why / fix index `prose`
#   repos       [[name, compliance, failing, worst severity code or -1, counts], ...]
#               worst first; counts follow `outcomes`
#   findings    per repository (same order), a list of findings, each an array
#               [policy, outcome, message, locations, remediation, severity, confidence,
#                waiver] whose trailing defaults are left out: locations 0 or
#               [[path, line or null, note], ...] (strings indexes), remediation a `prose`
#               index or -1, severity -1 for the policy's own, confidence -1 for high,
#               waiver -1 or an index into `waivers`
#   strings     every distinct message, path and note, once
#   prose       policy prose split into [[kind, text], ...]: 0 text, 1 code, 2 http(s) link
#   waivers     [[owner, reason, expires, repository glob, policy glob], ...]
#
# The JSON is escaped for a script element: <, >, & and U+2028/9 become \uXXXX, so no
# value can close the element or start a comment, and lone surrogates (undecodable path
# bytes) become \udcXX escapes.

PAGE_SIZE = 100  # repositories per page, server-side first page included
WORST_LIMIT = 10
WAIVER_LIMIT = 100
CONFIDENCES = ("low", "medium", "high")
SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                   0x2028: "\\u2028", 0x2029: "\\u2029"}
_SURROGATE = re.compile("[\ud800-\udfff]")


def script_json(value: object) -> str:
    """JSON that is safe as the text of a <script type="application/json"> element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    text = text.translate(_SCRIPT_ESCAPES)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class _Interned:
    """A table of distinct values; `add` returns a value's index."""

    def __init__(self) -> None:
        self.index: dict[Any, int] = {}
        self.values: list[Any] = []

    def add(self, value: Any, key: Any = None) -> int:
        key = value if key is None else key
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.values)
            self.values.append(value)
        return found

    def add_prose(self, text: str) -> int:
        """The index of `text` split into prose segments (split once per distinct text)."""
        found = self.index.get(text)
        return found if found is not None else self.add(_segments(text), text)


def _segments(text: str) -> list[list[Any]]:
    kinds = {"text": 0, "code": 1, "link": 2}
    return [[kinds[seg.kind], seg.text] for seg in prose(text)]


def _finding_row(record: Mapping[str, Any], column: Mapping[str, int],
                 policy_severity: Mapping[str, str], strings: _Interned,
                 prose_table: _Interned, waivers: _Interned) -> list[Any]:
    policy = str(record.get("policy") or "")
    outcome = str(record.get("outcome") or "")
    locations: list[list[Any]] = []
    for loc in record.get("locations") or ():
        if isinstance(loc, Mapping) and loc.get("path"):
            line = loc.get("line")
            locations.append([strings.add(str(loc["path"])),
                              line if isinstance(line, int) else None,
                              strings.add(str(loc.get("note") or ""))])
    if not locations and record.get("path"):
        line = record.get("line")
        locations.append([strings.add(str(record["path"])),
                          line if isinstance(line, int) else None, strings.add("")])
    remediation = str(record.get("remediation") or "").strip() if outcome == "fail" else ""
    severity = str(record.get("severity") or "")
    confidence = str(record.get("confidence") or "high")
    waiver = record.get("waiver")
    row: list[Any] = [
        column[policy], _OUTCOME_CODE.get(outcome, len(_OUTCOME_CODE)),
        strings.add(str(record.get("message") or "")),
        locations or 0,
        prose_table.add_prose(remediation) if remediation else -1,
        SEVERITIES.index(severity)
        if severity in SEVERITIES and severity != policy_severity.get(policy) else -1,
        CONFIDENCES.index(confidence) if confidence in CONFIDENCES[:2] else -1,
        waivers.add([str(waiver.get(k) or "") for k in
                     ("owner", "reason", "expires", "repository", "policy")],
                    tuple(sorted((str(k), str(v)) for k, v in waiver.items())))
        if isinstance(waiver, Mapping) else -1,
    ]
    while len(row) > 3 and row[-1] == _FINDING_DEFAULTS[len(row) - 1]:
        row.pop()
    return row


# Trailing values equal to these are left out of a finding's array.
_FINDING_DEFAULTS: tuple[object, ...] = (None, None, None, 0, -1, -1, -1, -1)


_OUTCOME_ORDER: tuple[str, ...] = tuple(OUTCOME_VIEWS)  # pass, fail, waived, error, n/av, n/a
_OUTCOME_CODE = {key: n for n, key in enumerate(_OUTCOME_ORDER)}


def build_data(records: list[dict[str, Any]], policies: list[dict[str, Any]],
               repositories: list[RepositoryRow], infos: Mapping[str, PolicyInfo]
               ) -> dict[str, Any]:
    """The report's data (the comment above describes it)."""
    strings, prose_table, waivers = _Interned(), _Interned(), _Interned()
    column = {p["id"]: n for n, p in enumerate(policies)}
    policy_severity = {p["id"]: p["severity"] for p in policies}
    row_of = {r.name: n for n, r in enumerate(repositories)}
    findings: list[list[list[Any]]] = [[] for _ in repositories]
    for record in records:
        findings[row_of[str(record.get("repository") or "")]].append(
            _finding_row(record, column, policy_severity, strings, prose_table, waivers))

    def prose_index(text: str) -> int:
        return prose_table.add_prose(text) if text else -1

    return {
        "v": 1,
        "outcomes": [[v.key, v.cls, v.sym, v.label] for v in OUTCOME_VIEWS.values()],
        "severities": list(SEVERITIES),
        "policies": [
            {"id": p["id"], "title": p["title"], "severity": p["severity"],
             "compliance": p["compliance"],
             "counts": [p["counts"].get(o, 0) for o in _OUTCOME_ORDER],
             "why": prose_index(infos[p["id"]].rationale if p["id"] in infos else ""),
             "fix": prose_index(infos[p["id"]].remediation if p["id"] in infos else "")}
            for p in policies
        ],
        "repos": [
            [r.name, r.compliance, r.failing,
             SEVERITIES.index(r.worst) if r.worst in SEVERITIES else -1,
             [r.counts.get(o, 0) for o in _OUTCOME_ORDER]]
            for r in repositories
        ],
        "findings": findings,
        "strings": strings.values,
        "prose": prose_table.values,
        "waivers": waivers.values,
    }


# --- what the template prints (overview, policies, first page, waivers) -----------------


def _cell(record: Mapping[str, Any] | None, policy: Mapping[str, Any]) -> dict[str, str]:
    if record is None:
        return {"cls": "o-none", "sym": "\u00b7", "label": "no finding",
                "title": f"{policy['id']}: no finding"}
    view = _outcome_view(str(record.get("outcome") or ""))
    return {"cls": view.cls, "sym": view.sym, "label": view.label,
            "title": f"{policy['id']}: {view.label} \u2014 {record.get('message') or ''}"}


def _first_page(records: list[dict[str, Any]], policies: list[dict[str, Any]],
                repositories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shown = {r["name"]: r for r in repositories[:PAGE_SIZE]}
    cells: dict[str, dict[str, Mapping[str, Any]]] = {name: {} for name in shown}
    for record in records:
        name = str(record.get("repository") or "")
        if name in cells:
            cells[name].setdefault(str(record.get("policy") or ""), record)
    return [{"repo": shown[name],
             "cells": [_cell(cells[name].get(p["id"]), p) for p in policies]}
            for name in shown]


def _waived(records: list[dict[str, Any]], titles: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        waiver = record.get("waiver")
        if record.get("outcome") == "waived" and isinstance(waiver, Mapping):
            rows.append({"repository": str(record.get("repository") or ""),
                         "policy": str(record.get("policy") or ""),
                         "title": titles.get(str(record.get("policy")), str(record.get("title"))),
                         "owner": str(waiver.get("owner") or ""),
                         "reason": str(waiver.get("reason") or ""),
                         "expires": str(waiver.get("expires") or "")})
    rows.sort(key=lambda w: (w["expires"] or "9999", w["repository"], w["policy"]))
    return rows


def repo_href(name: str) -> str:
    """The in-report link that opens a repository's panel (the script reads it)."""
    return "#repo=" + quote(name, safe="")


# --- scan history: "Since the last scan" and compliance over time -----------------------
#
# Only for a scan recorded in a store, whose meta carries `changes` and `trend`
# (governance.history). The charts are inline SVG computed here: coordinates are numbers
# this module formats, every text (titles, labels) goes through autoescaping, and styling
# is by class from report.css, so the CSP needs nothing more.

CHANGE_LIMIT = 20  # entries shown per list of changes, then "... and N more"
CHANGE_MESSAGE_LIMIT = 300  # characters of a message in the list of changes
TREND_LIMIT = 30  # scans in the charts


@dataclass(frozen=True)
class Plot:
    """A plotting area in SVG user units: scans spread evenly from left to right (oldest
    first), compliance 0 % at the bottom to 100 % at the top."""

    width: int  # of the whole SVG (its viewBox starts at 0 0)
    height: int
    left: float
    top: float
    plot_width: float
    plot_height: float

    def x(self, index: int, count: int) -> float:
        if count <= 1:
            return self.left + self.plot_width / 2
        return self.left + self.plot_width * index / (count - 1)

    def y(self, value: float) -> float:
        return self.top + self.plot_height * (100.0 - value) / 100.0


CHART = Plot(640, 180, 46.0, 10.0, 574.0, 140.0)  # the org's compliance over time
SPARK = Plot(96, 24, 3.0, 3.0, 90.0, 18.0)  # one policy's, in the policy table


def _coordinate(value: float) -> str:
    return f"{value:.2f}"


def _series(values: list[float | None], plot: Plot) -> dict[str, Any]:
    """Polylines through each run of known values (a gap where a value is None) and a
    point per known value; `lonely` points have no known neighbour (no line shows them)."""
    count = len(values)
    lines: list[str] = []
    run: list[str] = []
    dots: list[dict[str, Any]] = []
    for index, value in enumerate(values):
        if value is None:
            if len(run) > 1:
                lines.append(" ".join(run))
            run = []
            continue
        x, y = _coordinate(plot.x(index, count)), _coordinate(plot.y(value))
        run.append(f"{x},{y}")
        before = values[index - 1] if index > 0 else None
        after = values[index + 1] if index + 1 < count else None
        dots.append({"x": x, "y": y, "index": index, "value": value,
                     "lonely": before is None and after is None})
    if len(run) > 1:
        lines.append(" ".join(run))
    return {"lines": lines, "dots": dots}


def _day(started: str) -> str:
    """The date of an ISO timestamp (UTC when it has a zone), or the text as it is."""
    _, shown, parsed = _when(started)
    return shown[:10] if parsed is not None else shown


def _delta(values: list[float | None]) -> dict[str, str] | None:
    """The change from the previous scan to this one, in percentage points."""
    if len(values) < 2 or values[-1] is None or values[-2] is None:
        return None
    change = round(values[-1] - values[-2], 1)
    if change > 0:
        return {"cls": "up", "sym": "\u25b2", "text": f"+{change:.1f} pts"}
    if change < 0:
        return {"cls": "down", "sym": "\u25bc", "text": f"\u2212{-change:.1f} pts"}
    return {"cls": "same", "sym": "=", "text": "\u00b10.0 pts"}


def _trend_view(trend: Trend, policy_ids: list[str]) -> dict[str, Any]:
    scans = trend.scans
    count = len(scans)
    values = [s.compliance for s in scans]
    known = [(v, s) for v, s in zip(values, scans, strict=True) if v is not None]

    def name(scan: TrendScan) -> str:
        return f"scan {scan.id}" if scan.id is not None else "a scan"

    if known:
        (first, first_scan), (last, last_scan) = known[0], known[-1]
        desc = (f"Overall compliance in the last {count} recorded scans of this source, "
                f"oldest first: {percent(first)} on {_day(first_scan.started)} "
                f"({name(first_scan)}), {percent(last)} on {_day(last_scan.started)} "
                f"({name(last_scan)}); lowest {percent(min(v for v, _ in known))}, highest "
                f"{percent(max(v for v, _ in known))}. The table below lists every scan.")
    else:
        desc = f"No scan of the last {count} decided any finding: there is no compliance."
    delta = _delta(values)
    org = _series(values, CHART)
    for dot in org["dots"]:
        scan = scans[dot["index"]]
        dot["title"] = f"{name(scan).capitalize()}, {_day(scan.started)}: {percent(dot['value'])}"
    ticks = [{"label": f"{v}%", "y": _coordinate(CHART.y(v)), "x": _coordinate(CHART.left - 6),
              "x1": _coordinate(CHART.left), "x2": _coordinate(CHART.left + CHART.plot_width)}
             for v in (0, 50, 100)]
    baseline = _coordinate(CHART.top + CHART.plot_height + 16)
    xlabels = [{"x": _coordinate(CHART.x(0, count)), "y": baseline, "anchor": "start",
                "text": _day(scans[0].started)},
               {"x": _coordinate(CHART.x(count - 1, count)), "y": baseline, "anchor": "end",
                "text": _day(scans[-1].started)}]
    rows = []
    for scan in scans:
        iso, shown, _ = _when(scan.started)
        rows.append({"id": "" if scan.id is None else scan.id, "started": shown,
                     "started_iso": iso,
                     "repositories": "" if scan.repositories is None else scan.repositories,
                     "compliance_text": percent(scan.compliance), "band": band(scan.compliance),
                     "counts": {o: scan.outcomes.get(o, 0) for o in OUTCOME_VIEWS}})
    policies = {}
    for policy_id in policy_ids:
        series = trend.policies.get(policy_id)
        if series is None or all(v is None for v in series):
            continue
        drawn = _series(series, SPARK)
        drawn["marks"] = [d for d in drawn["dots"] if d["lonely"] or d["index"] == count - 1]
        drawn["label"] = (f"{policy_id}: compliance in the last {count} scans, oldest first: "
                          + ", ".join(percent(v) for v in series))
        drawn["delta"] = _delta(series)
        policies[policy_id] = drawn
    return {
        "count": count, "org": org, "delta": delta, "ticks": ticks, "xlabels": xlabels,
        "title": f"Overall compliance over the last {count} recorded scans",
        "desc": desc, "rows": rows, "policies": policies, "chart": CHART, "spark": SPARK,
    }


def _outcome_label(outcome: str) -> str:
    return _outcome_view(outcome).label if outcome else ""


def _change_entry(kind: str, entry: Mapping[str, str], names: set[str],
                  titles: Mapping[str, str]) -> dict[str, Any]:
    repository, policy = entry["repository"], entry["policy"]
    href = ""
    if repository in names and kind != "removed_repositories":
        href = repo_href(repository) + (f"&p={quote(policy, safe='')}" if policy else "")
    note = ""
    if kind == "new_failures":
        previous = entry["previous_outcome"]
        note = f"was {_outcome_label(previous)}" if previous else "not evaluated before"
    elif kind == "fixed":
        note = f"now {_outcome_label(entry['outcome'] or 'pass')}"
    elif kind == "expired_waivers":
        note = "waiver" + (f" by {entry['owner']}" if entry["owner"] else "") + (
            f" expired on {entry['expires']}" if entry["expires"] else " expired") + (
            f": {entry['reason']}" if entry["reason"] else "")
    message = entry["message"]
    if len(message) > CHANGE_MESSAGE_LIMIT:
        message = message[:CHANGE_MESSAGE_LIMIT - 1].rstrip() + "\u2026"
    return {"repository": repository, "href": href, "policy": policy,
            "title": titles.get(policy, policy) if policy else "",
            "severity": entry["severity"] if entry["severity"] in SEVERITIES else "",
            "note": note, "message": message if kind != "expired_waivers" else "",
            # a fixed finding carries the message of the failure it fixed
            "lead": "it failed with:" if kind == "fixed" else ""}


def _changes_view(changes: object, names: set[str], titles: Mapping[str, str]
                  ) -> dict[str, Any] | None:
    if not isinstance(changes, Mapping):
        return None
    previous = previous_scan_of(changes)
    if previous is None:
        return {"first": True}
    iso, started, _ = _when(changes.get("previous_started"))
    lists = []
    for found in change_lists(changes):
        entries = [_change_entry(found.key, e, names, titles)
                   for e in found.entries[:CHANGE_LIMIT]]
        lists.append({"key": found.key, "title": found.title, "total": found.total,
                      "entries": entries, "more": found.total - len(entries)})
    return {"first": False, "previous": previous, "previous_started": started,
            "previous_iso": iso, "lists": lists, "any": any(c["total"] for c in lists)}


def build_context(frame: pd.DataFrame, meta: Mapping[str, object]) -> dict[str, Any]:
    """Everything the template shows, as plain values (the template only loops and prints)."""
    infos = policies_of(frame, meta)
    by_id = {p.id: p for p in infos}
    policy_table = [_policy_view(row) for row in policy_rows(frame, infos)]
    repo_rows = repository_rows(frame)
    repositories = [_repository_view(row, n) for n, row in enumerate(repo_rows)]
    records = finding_records(frame)
    data = build_data(records, policy_table, repo_rows, by_id)
    waived = _waived(records, {p.id: p.title for p in infos})

    orgs = sorted({org_of(r.name) for r in repo_rows} - {""})
    counts = outcome_counts(frame["outcome"])
    value = compliance_of(counts)
    scan_id = meta.get("scan_id")
    trend = trend_of(meta.get("trend"), scan_id if isinstance(scan_id, int) else None,
                     TREND_LIMIT)
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
        "orgs": orgs if len(orgs) > 1 else [],  # a filter only where there is a choice
        "repositories": repositories,
        "worst": [r for r in repositories if r["failing"] or r["counts"].get("error")][
            :WORST_LIMIT],
        "first_page": _first_page(records, policy_table, repositories),
        "page_size": PAGE_SIZE,
        "waived": waived[:WAIVER_LIMIT],
        "waived_total": len(waived),
        "repo_href": repo_href,
        "changes": _changes_view(meta.get("changes"), {r.name for r in repo_rows},
                                 {p.id: p.title for p in infos}),
        "trend": _trend_view(trend, [p["id"] for p in policy_table])
        if trend is not None and len(trend.scans) > 1 else None,
        "bar_width": BAR_WIDTH,
        "data": Markup(script_json(data)),  # escaped for the script element by script_json
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
