"""summary.md: the scan in a few screens of GitHub-flavoured Markdown.

Written for CI job summaries (`cat summary.md >> "$GITHUB_STEP_SUMMARY"`) and issue or
merge-request bodies: totals and compliance, what failed grouped by policy (most severe
first, each list capped with "... and N more"), errors, and what changed since the
previous scan when the scan's meta carries `changes`.

Repository names, messages and paths come from scanned repositories and are
attacker-controlled. They are printed either as code spans (names, paths: fenced with more
backticks than they contain, on one line) or as escaped text (messages: Markdown
punctuation backslash-escaped, `<`, `>` and `&` as entities, so no HTML, link, image or
table cell can be injected). Outside code spans `@` is followed by a zero-width space, so
`@org/team` never mentions anyone, and `://` and `www.` get one too, so no link is made;
control and bidirectional-override characters are replaced. Lines never start with user
data, so no heading, list or quote can be opened.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from governance.models import compliance_of
from governance.render.summary import (
    DECIDED,
    outcome_counts,
    policies_of,
    policy_rows,
    repository_rows,
    severity_rank,
)
from governance.render.tabular import finding_records

LIST_LIMIT = 10  # entries per list before "... and N more"
POLICY_LIMIT = 25  # failing policies shown
TEXT_LIMIT = 240  # characters of a message
CODE_LIMIT = 160  # characters of a name or path

OUTCOME_LABELS = {"pass": "\u2713 pass", "fail": "\u2717 fail", "waived": "W waived",
                  "error": "! error", "not_available": "? not available",
                  "not_applicable": "\u2013 not applicable"}
CHANGE_SECTIONS = (
    ("new_failures", "New failures"),
    ("fixed", "Fixed"),
    ("new_repositories", "New repositories"),
    ("removed_repositories", "Removed repositories"),
    ("expired_waivers", "Expired waivers"),
)

ZWSP = "\u200b"
_ESCAPED = frozenset("\\`*_[]|~!$#")  # inline syntax (and GitHub's $math$)
_AUTOLINKS = re.compile(r"(?i)(?<=:/)(?=/)|(?<=\bwww)(?=\.)")  # http:// and www. links
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _clean(value: object, limit: int) -> str:
    """One line of printable text: control and bidi characters replaced, cut at `limit`."""
    text = str(value if value is not None else "")
    out = []
    for char in text:
        if char in _BIDI or (unicodedata.category(char) in ("Cc", "Cs") and not char.isspace()):
            out.append("\ufffd")
        else:
            out.append(char)
    flat = " ".join("".join(out).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"


def md_text(value: object, limit: int = TEXT_LIMIT) -> str:
    """Untrusted text as inert Markdown inline text (see the module docstring)."""
    out = []
    for char in _AUTOLINKS.sub(ZWSP, _clean(value, limit)):
        if char == "&":
            out.append("&amp;")
        elif char == "<":
            out.append("&lt;")
        elif char == ">":
            out.append("&gt;")
        elif char == "@":
            out.append("@" + ZWSP)
        elif char in _ESCAPED:
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def md_code(value: object, limit: int = CODE_LIMIT, table: bool = False) -> str:
    """Untrusted text as one inline code span; never empty. In a table cell, `|` is escaped
    (GitHub shows `\\|` inside a code span in a table as `|`)."""
    text = _clean(value, limit) or "\u2205"  # GitHub never mentions inside code
    if table:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _where(path: object, line: object) -> str:
    if not path:
        return ""
    return md_code(f"{path}:{line}" if isinstance(line, int) else path)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _more(total: int, shown: int, what: str = "") -> list[str]:
    return [f"- \u2026 and {total - shown} more{what}"] if total > shown else []


def _finding_line(record: Mapping[str, Any], with_policy: bool = False) -> str:
    parts = [f"- {md_code(record.get('repository'))}"]
    if with_policy:
        parts.append(f" \u00b7 {md_code(record.get('policy'))}")
    message = md_text(record.get("message"))
    if message:
        parts.append(f": {message}")
    where = _where(record.get("path"), record.get("line"))
    if where:
        parts.append(f" ({where})")
    return "".join(parts)


def _failures(records: Sequence[Mapping[str, Any]], titles: Mapping[str, str],
              severities: Mapping[str, str]) -> list[str]:
    by_policy: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get("outcome") == "fail":
            by_policy.setdefault(str(record.get("policy") or ""), []).append(record)
    if not by_policy:
        return ["### What failed", "", "Nothing failed."]

    def severity(policy: str) -> str:
        return severities.get(policy) or str(by_policy[policy][0].get("severity") or "info")

    order = sorted(by_policy, key=lambda p: (-severity_rank(severity(p)), -len(by_policy[p]), p))
    total = sum(len(v) for v in by_policy.values())
    lines = [f"### What failed ({total} finding{'s' if total != 1 else ''} in "
             f"{len(by_policy)} polic{'ies' if len(by_policy) != 1 else 'y'})"]
    for policy in order[:POLICY_LIMIT]:
        failing = sorted(by_policy[policy], key=lambda r: str(r.get("repository")))
        count = len(failing)
        lines += ["", f"#### \u2717 {md_text(titles.get(policy) or policy)} "
                      f"({md_code(policy)}): {md_text(severity(policy))}, "
                      f"{count} repositor{'ies' if count != 1 else 'y'}", ""]
        lines += [_finding_line(r) for r in failing[:LIST_LIMIT]]
        lines += _more(count, LIST_LIMIT)
    if len(order) > POLICY_LIMIT:
        rest = order[POLICY_LIMIT:]
        lines += ["", f"\u2026 and {len(rest)} more failing "
                      f"polic{'ies' if len(rest) != 1 else 'y'} "
                      f"({sum(len(by_policy[p]) for p in rest)} findings)."]
    return lines


def _errors(records: Sequence[Mapping[str, Any]]) -> list[str]:
    errors = [r for r in records if r.get("outcome") == "error"]
    if not errors:
        return []
    errors.sort(key=lambda r: (str(r.get("repository")), str(r.get("policy"))))
    lines = [f"### Errors ({len(errors)})", "",
             "These checks could not run, so the run is partial:", ""]
    lines += [_finding_line(record, with_policy=True) for record in errors[:LIST_LIMIT]]
    return lines + _more(len(errors), LIST_LIMIT)


def _change_line(entry: Mapping[str, Any]) -> str:
    parts = [f"- {md_code(entry.get('repository'))}"]
    if entry.get("policy"):
        parts.append(f" \u00b7 {md_code(entry.get('policy'))}")
    details = []
    if entry.get("severity"):
        details.append(md_text(entry.get("severity")))
    if entry.get("expires"):
        details.append(f"expired {md_text(entry.get('expires'))}")
    if entry.get("owner"):
        details.append(f"owner {md_text(entry.get('owner'))}")
    if entry.get("previous_outcome"):
        details.append(f"was {md_text(str(entry.get('previous_outcome')).replace('_', ' '))}")
    if entry.get("outcome") and entry.get("outcome") != "fail":
        details.append(f"now {md_text(str(entry.get('outcome')).replace('_', ' '))}")
    if details:
        parts.append(f" ({', '.join(details)})")
    if entry.get("message"):
        parts.append(f": {md_text(entry.get('message'))}")
    return "".join(parts)


def _changes(changes: object) -> list[str]:
    """The `changes` of the meta (governance.history.Changes.as_dict()): lists that may be
    cut, with their full lengths in `counts`."""
    if not isinstance(changes, Mapping):
        return []
    lines = ["### What changed since the previous scan"]
    if "previous_scan_id" in changes and changes.get("previous_scan_id") is None:
        return [*lines, "", "This is the first recorded scan of this source: nothing to "
                            "compare with yet."]
    counts = changes.get("counts")
    counts = counts if isinstance(counts, Mapping) else {}
    any_change = False
    for key, title in CHANGE_SECTIONS:
        entries = list(_entries(changes.get(key)))
        total = counts.get(key)
        total = total if isinstance(total, int) and total >= len(entries) else len(entries)
        if not total:
            continue
        any_change = True
        entries.sort(key=lambda e: (-severity_rank(e.get("severity")), str(e.get("repository")),
                                    str(e.get("policy") or "")))
        lines += ["", f"**{title} ({total})**", ""]
        lines += [_change_line(e) for e in entries[:LIST_LIMIT]]
        lines += _more(total, min(len(entries), LIST_LIMIT))
    if not any_change:
        lines += ["", "Nothing changed."]
    return lines


def _entries(value: object) -> Iterable[Mapping[str, Any]]:
    if isinstance(value, (list, tuple)):
        for entry in value:
            if isinstance(entry, Mapping):
                yield entry
            elif isinstance(entry, str):
                yield {"repository": entry}


def render_markdown(frame: pd.DataFrame, meta: Mapping[str, object]) -> str:
    records = finding_records(frame)
    counts = outcome_counts(frame["outcome"])
    policies = policies_of(frame, meta)
    titles = {p.id: p.title for p in policies}
    severities = {p.id: p.severity for p in policies}
    repositories = repository_rows(frame)
    failing_repositories = sum(1 for r in repositories if r.failing)
    repository_count = meta.get("repositories")
    if not isinstance(repository_count, int):
        repository_count = len(repositories)
    value = compliance_of(counts)
    decided = sum(counts[o] for o in DECIDED)

    lines = [f"## Governance report: {md_code(meta.get('source') or 'unknown source')}", ""]
    lines.append(
        f"**Compliance: {_percent(value)}** (pass + waived of {decided} decided) \u00b7 "
        f"{repository_count} repositor{'ies' if repository_count != 1 else 'y'}, "
        f"{failing_repositories} with failures \u00b7 {len(policies)} "
        f"polic{'ies' if len(policies) != 1 else 'y'} \u00b7 pack "
        f"{md_code(meta.get('pack') or 'unknown')} \u00b7 governance "
        f"{md_text(meta.get('tool_version') or 'unknown')}")
    lines += ["", "| outcome | findings |", "|---|---:|"]
    lines += [f"| {OUTCOME_LABELS.get(o, o)} | {n} |" for o, n in counts.items()]
    if bool(meta.get("partial")) or counts.get("error"):
        lines += ["", f"> **Partial run:** {counts.get('error', 0)} finding(s) ended in an "
                      "error, so some repositories were not fully evaluated."]
    rows = [r for r in policy_rows(frame, policies) if r.counts.get("fail")]
    if rows:
        lines += ["", "| policy | severity | compliance | failing |", "|---|---|---:|---:|"]
        lines += [f"| {md_text(r.info.title, 120)} ({md_code(r.id, table=True)}) | "
                  f"{md_text(r.info.severity or 'info')} | {_percent(r.compliance)} | "
                  f"{r.counts['fail']} |" for r in rows[:POLICY_LIMIT]]
    lines += ["", *_failures(records, titles, severities)]
    errors = _errors(records)
    if errors:
        lines += ["", *errors]
    changes = _changes(meta.get("changes"))
    if changes:
        lines += ["", *changes]
    return "\n".join(lines) + "\n"


def write_markdown(frame: pd.DataFrame, meta: Mapping[str, object], path: Path) -> Path:
    text = render_markdown(frame, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Spooled paths may hold undecodable bytes (surrogate escapes): keep them visible.
    path.write_text(text, encoding="utf-8", errors="backslashreplace")
    return path
