"""Where the bundled policies and report templates are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_BUNDLED = _PACKAGE / "_bundled"  # filled by the wheel build (pyproject force-include)
_SOURCE_ROOT = _PACKAGE.parent  # a source checkout or an editable install


def _pick(relative: str) -> Path:
    bundled = _BUNDLED / relative
    return bundled if bundled.is_dir() else _SOURCE_ROOT / relative


def policies_folder() -> Path:
    return _pick("policies")


def packs_folder() -> Path:
    return policies_folder() / "packs"


def templates_folder() -> Path:
    return _pick("reports/templates")
