"""Findings as pandas frames, and the CSV / JSON reports built from them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

CSV_COLUMNS = [
    "repository", "policy", "outcome", "severity", "message", "path", "line",
    "title", "confidence", "remediation", "waiver_owner", "waiver_expires",
]
# A cell starting with one of these is a formula to Excel, LibreOffice and Sheets
# (OWASP "CSV injection"); prefixing a single quote makes it inert text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|", "%")


def load_findings(spool: Path) -> pd.DataFrame:
    records = []
    with spool.open(encoding="utf-8") as lines:
        for line in lines:
            records.append(json.loads(line))
    frame = pd.DataFrame.from_records(
        records,
        columns=["repository", "policy", "title", "outcome", "severity", "confidence",
                 "message", "path", "line", "locations", "remediation", "details", "waiver"],
    )
    frame["line"] = frame["line"].astype("Int64")
    return frame  # type: ignore[no-any-return]


def neutralize(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    table = frame.copy()
    waivers = table["waiver"].apply(lambda w: w if isinstance(w, dict) else {})
    table["waiver_owner"] = waivers.apply(lambda w: w.get("owner", ""))
    table["waiver_expires"] = waivers.apply(lambda w: w.get("expires") or "")
    table = table[CSV_COLUMNS]
    text_columns = [c for c in CSV_COLUMNS if c != "line"]
    table[text_columns] = table[text_columns].map(neutralize)
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path


def write_json(frame: pd.DataFrame, meta: Mapping[str, object], path: Path) -> Path:
    findings = json.loads(frame.to_json(orient="records"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        json.dump({"scan": dict(meta), "summary": summary(frame), "findings": findings},
                  out, indent=2, default=str)
        out.write("\n")
    return path


def summary(frame: pd.DataFrame) -> dict[str, object]:
    counts = frame["outcome"].value_counts().to_dict()
    return {
        "repositories": int(frame["repository"].nunique()),
        "findings": len(frame),
        "outcomes": {str(k): int(v) for k, v in counts.items()},
        "compliance": compliance(frame),
    }


def compliance(frame: pd.DataFrame) -> float | None:
    """Share of decided findings (pass / fail / waived) that pass or are waived."""
    decided = frame[frame["outcome"].isin(["pass", "fail", "waived"])]
    if decided.empty:
        return None
    return round(float((decided["outcome"] != "fail").mean()) * 100, 1)
