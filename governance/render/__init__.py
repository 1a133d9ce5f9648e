"""Reports rendered from the spooled findings of a scan (formats: docs/report-formats.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from governance.errors import ConfigError

FORMATS = ("html", "csv", "json", "sarif", "markdown")
DEFAULT_FORMATS = ("html", "csv", "json")  # what `scan` writes when no --format is given
FILE_NAMES = {"html": "report.html", "csv": "findings.csv", "json": "findings.json",
              "sarif": "findings.sarif", "markdown": "summary.md"}


def write_reports(
    spool: Path, meta: Mapping[str, object], out: Path, formats: Sequence[str] = FORMATS
) -> list[Path]:
    """Write each requested format into `out`; returns the files written."""
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ConfigError(f"unknown report format(s) {', '.join(unknown)}; "
                          f"known: {', '.join(FORMATS)}")
    # pandas and jinja2 load only when rendering
    from governance.render import html, markdown, sarif, tabular

    frame = tabular.load_findings(spool)
    written: list[Path] = []
    if "csv" in formats:
        written.append(tabular.write_csv(frame, out / FILE_NAMES["csv"]))
    if "json" in formats:
        written.append(tabular.write_json(frame, meta, out / FILE_NAMES["json"]))
    if "sarif" in formats:
        written.append(sarif.write_sarif(frame, meta, out / FILE_NAMES["sarif"]))
    if "markdown" in formats:
        written.append(markdown.write_markdown(frame, meta, out / FILE_NAMES["markdown"]))
    if "html" in formats:
        written.append(html.write_html(frame, meta, out / FILE_NAMES["html"]))
    return written
