"""Parse each workflow; a file the readers refuse raises FileProblem (an `error` finding)."""

from __future__ import annotations

from governance.checks import CheckContext, Result, failed, not_applicable, passed, plural
from governance.models import Location
from governance.yamlsafe import line_of


def check(ctx: CheckContext) -> Result:
    paths = ctx.files.glob(".github/workflows/*.yml", ".github/workflows/*.yaml")
    if not paths:
        return not_applicable("no GitHub Actions workflow")
    for path in paths:
        document = ctx.files.yaml(path)
        if not isinstance(document, dict):
            return failed(f"{path} is not a mapping", [Location(path, line_of(document))])
        if "jobs" not in document:
            return failed(f"{path} has no jobs", [Location(path, line_of(document))])
    return passed(f"{plural(len(paths), 'workflow')} parsed", [Location(p) for p in paths])
