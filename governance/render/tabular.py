"""Findings as pandas frames, and the CSV / JSON reports built from them.

docs/report-formats.md documents both files; in short:

findings.csv
    One row per finding (repository x policy), UTF-8, header first, columns in the order of
    `CSV_COLUMNS` (new columns are only ever appended). Text cells are quoted; `line` is a
    bare integer or empty. A text cell that a spreadsheet would read as a formula gets a
    leading `'` (see `neutralize`).

findings.json
    ``{"scan": {...}, "summary": {...}, "findings": [...]}``: `scan` is the scan's meta
    (source, pack, policies, tool_version, started, finished, repositories, partial),
    `summary` the numbers of `governance.render.summary.summary`, and each finding has the
    keys of `FINDING_KEYS` (those of `Finding.as_dict`), in that order. Changes are additive.
    The JSON Schema (draft 2020-12) of the file ships with the package: `findings_schema()`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from numbers import Integral
from pathlib import Path
from typing import Any

import pandas as pd

from governance.render.summary import compliance, summary

__all__ = ["CSV_COLUMNS", "FINDINGS_SCHEMA", "FINDING_KEYS", "compliance", "finding_records",
           "findings_schema", "load_findings", "neutralize", "org_of", "summary", "write_csv",
           "write_json"]

CSV_COLUMNS = [
    "repository", "policy", "outcome", "severity", "message", "path", "line",
    "title", "confidence", "remediation", "waiver_owner", "waiver_expires", "org",
]
FINDING_KEYS = (
    "repository", "policy", "title", "outcome", "severity", "confidence", "message", "path",
    "line", "locations", "remediation", "details", "waiver",
)
JSON_KEYS = ("scan", "summary", "findings")
# governance/schemas/ is inside the package, so wheels and editable installs both have it.
FINDINGS_SCHEMA = Path(__file__).resolve().parent.parent / "schemas" / "findings.schema.json"

# CSV ("formula") injection, after OWASP's guidance: Excel, LibreOffice Calc and Google
# Sheets evaluate a cell whose first character is = + - @, and tab, CR, LF or NUL in
# first place are also used to smuggle one in. Spreadsheets with CJK input also take the
# full-width forms of = + - @. Leading blanks are skipped before the test, because some
# importers trim them and then evaluate what follows. Such a cell gets a leading single
# quote, which spreadsheets read as "this is text" (the quote stays visible elsewhere).
# Cells are also quoted, so a `,` or `;` inside a value cannot start a new cell whatever
# separator the spreadsheet assumes. `line` is an integer column and never needs this.
_FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\0\uff1d\uff0b\uff0d\uff20")
_LEADING_BLANKS = " \t\r\n\v\f\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
    "\u2007\u2008\u2009\u200a\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"


def org_of(repository: object) -> str:
    """The organization of a repository's full name: a GitHub owner, a GitLab top-level
    group, the folder of local checkouts ("" for a name without one)."""
    name = str(repository or "")
    return name.split("/", 1)[0] if "/" in name else ""


def findings_schema() -> dict[str, Any]:
    """The JSON Schema of findings.json (draft 2020-12)."""
    schema: dict[str, Any] = json.loads(FINDINGS_SCHEMA.read_text(encoding="utf-8"))
    return schema


def load_findings(spool: Path) -> pd.DataFrame:
    """The spooled findings (JSON lines of `Finding.as_dict`) as a frame, one row each."""
    records = []
    with spool.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                records.append(json.loads(line))
    frame: pd.DataFrame = pd.DataFrame.from_records(records, columns=list(FINDING_KEYS))
    line_numbers = pd.to_numeric(frame["line"], errors="coerce")
    frame["line"] = line_numbers.where(line_numbers % 1 == 0).astype("Int64")
    return frame


def neutralize(value: object) -> object:
    """Make a text cell inert for spreadsheets (see above); other values pass unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in _FORMULA_TRIGGERS:
        return "'" + value
    stripped = value.lstrip(_LEADING_BLANKS)
    if stripped and stripped[0] in _FORMULA_TRIGGERS:
        return "'" + value
    return value


def _plain(value: object) -> Any:
    """A frame cell as plain JSON-able Python: NA / NaN become None, numpy ints int."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Integral) and not isinstance(value, bool):
        return int(value)
    return value


def _column_values(series: pd.Series) -> list[Any]:
    """A column as plain Python values, converting cell by cell only where needed."""
    values = series.tolist()  # Python scalars; NA stays NA / NaN
    if not series.isna().any():
        return values
    return [_plain(value) for value in values]


def finding_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Every finding as a dict with the keys of `FINDING_KEYS`, in order, NA as None."""
    columns = [c for c in FINDING_KEYS if c in frame.columns]
    values = [_column_values(frame[c]) for c in columns]
    return [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    table = frame.copy()
    waivers = table["waiver"].apply(lambda w: w if isinstance(w, dict) else {})
    table["waiver_owner"] = waivers.apply(lambda w: w.get("owner") or "")
    table["waiver_expires"] = waivers.apply(lambda w: w.get("expires") or "")
    table["org"] = table["repository"].map(org_of)
    table = table[CSV_COLUMNS]
    text_columns = [c for c in CSV_COLUMNS if c != "line"]
    table[text_columns] = table[text_columns].astype(object).where(
        table[text_columns].notna(), ""
    ).map(lambda v: neutralize(str(v)))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Spooled paths may hold undecodable bytes (surrogate escapes): keep them visible.
    with path.open("w", encoding="utf-8", errors="backslashreplace", newline="") as out:
        out.write(",".join(CSV_COLUMNS) + "\n")  # plain names: the documented header line
        table.to_csv(out, index=False, header=False, quoting=csv.QUOTE_NONNUMERIC,
                     lineterminator="\n")
    return path


def write_json(frame: pd.DataFrame, meta: Mapping[str, object], path: Path) -> Path:
    findings = finding_records(frame)
    for record in findings:  # the CSV's org column, for filtering a many-org scan
        record["org"] = org_of(record["repository"])
    document = {"scan": dict(meta), "summary": summary(frame, meta), "findings": findings}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        json.dump(document, out, indent=2, default=str)  # ASCII: surrogates stay escaped
        out.write("\n")
    return path
