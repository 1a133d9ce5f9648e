"""Reports rendered from the spooled findings of a scan (formats: docs/report-formats.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from governance.errors import ConfigError

FORMATS = ("html", "csv", "json")


def write_reports(
    spool: Path, meta: Mapping[str, object], out: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Write each requested format into `out`; returns the files written."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ConfigError(f"unknown report format(s) {', '.join(unknown)}; "
                          f"known: {', '.join(FORMATS)}")
    from governance.render import html, tabular  # pandas and jinja2 load only when rendering

    frame = tabular.load_findings(spool)
    written: list[Path] = []
    if "csv" in formats:
        written.append(tabular.write_csv(frame, out / "findings.csv"))
    if "json" in formats:
        written.append(tabular.write_json(frame, meta, out / "findings.json"))
    if "html" in formats:
        written.append(html.write_html(frame, meta, out / "report.html"))
    return written
