"""The repository codifies its CI: configuration of at least one common CI system exists.

Which files count is `governance.ci.systems.detect_ci`. Files that only look like a
pipeline (or need a project setting to become one) still pass, with medium confidence.
A workflow in a subfolder of .github/workflows/ never runs, so it is named in the
failure message rather than counted.
"""

from __future__ import annotations

from typing import Any

from governance.checks import CheckContext, Result, failed, passed
from governance.ci.systems import detect_ci, github_ignored_workflows
from governance.models import Confidence, Location


def check(ctx: CheckContext) -> Result:
    found = detect_ci(ctx.files)
    details: dict[str, Any] = {
        "systems": [
            {"system": c.system, "paths": list(c.paths), "likely": c.likely, "note": c.note}
            for c in found
        ],
    }
    ignored = github_ignored_workflows(ctx.files)
    if ignored:
        details["ignored_workflows"] = ignored
    if not found:
        message = "no CI configuration found for any common CI system"
        locations = [Location(p, None, "GitHub does not run workflows in subfolders")
                     for p in ignored]
        if ignored:
            message += (f"; {', '.join(ignored)} is in a subfolder of .github/workflows/, "
                        "which GitHub never runs")
        return failed(message, locations, details)

    names = list(dict.fromkeys(c.system for c in found if not c.likely))
    locations = [Location(path, None, f"{c.system}{' (likely)' if c.likely else ''}")
                 for c in found for path in c.paths[:10]]
    description = "; ".join(c.describe() for c in found)
    if not names:
        reasons = "; ".join(f"{c.paths[0]}: {c.note}" for c in found if c.note)
        return passed(f"CI configuration probably codified: {description} ({reasons})",
                      locations, details, Confidence.MEDIUM)
    return passed(f"CI codified: {description}", locations, details)
