"""Every kind of infrastructure as code in the repository is linted by something CI runs.

Inventory: `governance.iac.detect_iac`. What CI runs, followed through pre-commit, make,
npm scripts, tox and shell scripts: `governance.ci.commands.ci_invocations`. Which of
those invocations lint which kind: `governance.iac.lint_coverage`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from governance.checks import CheckContext, Result, failed, not_applicable, passed
from governance.ci.commands import ci_invocations
from governance.errors import ConfigError
from governance.iac import LintEvidence, detect_iac, kind_of, label, lint_coverage
from governance.models import Confidence, Location, Outcome

_SHOWN_EVIDENCE = 3  # linting invocations listed per kind


def _extra_linters(value: Any) -> Mapping[str, Sequence[str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("option iac-linted.extra_linters must map a kind to a list of "
                          f"commands, not {type(value).__name__}")
    extra: dict[str, list[str]] = {}
    for name, needles in value.items():
        if kind_of(str(name)) is None:
            raise ConfigError(f"option iac-linted.extra_linters: unknown kind {name!r}")
        extra[str(name)] = [needles] if isinstance(needles, str) else [str(n) for n in needles]
    return extra


def _where(evidence: LintEvidence) -> str:
    invocation = evidence.invocation
    place = f"{invocation.path}:{invocation.line}" if invocation.line else invocation.path
    return f"{evidence.linter} ({place})"


def _summary(evidence: Sequence[LintEvidence]) -> str:
    places = list(dict.fromkeys(_where(e) for e in evidence))
    more = f" and {len(places) - _SHOWN_EVIDENCE} more" if len(places) > _SHOWN_EVIDENCE else ""
    return ", ".join(places[:_SHOWN_EVIDENCE]) + more


def check(ctx: CheckContext) -> Result:
    try:
        extra = _extra_linters(ctx.options.get("extra_linters"))
    except ConfigError as error:
        return Result(Outcome.ERROR, str(error))
    inventory = detect_iac(ctx.files)
    details: dict[str, Any] = {
        "kinds": list(inventory.kinds),
        "files": {kind: paths[:20] for kind, paths in inventory.kinds.items()},
    }
    if inventory.problems:
        details["unreadable"] = [
            {"path": p.path, "line": p.line, "reason": p.reason} for p in inventory.problems
        ]
    if inventory.truncated:
        details["truncated"] = True  # more YAML / JSON files than the scanner examines
    if not inventory.kinds:
        return not_applicable("no infrastructure as code found", details)

    run = ci_invocations(ctx.files)
    coverage = lint_coverage(inventory.kinds, run.invocations, extra)
    unlinted = [kind for kind, evidence in coverage.items() if not evidence]
    details["unlinted"] = unlinted
    details["linted_by"] = {
        kind: [{"linter": e.linter, "system": e.invocation.system, "kind": e.invocation.kind,
                "text": e.invocation.text, "path": e.invocation.path,
                "line": e.invocation.line} for e in evidence[:10]]
        for kind, evidence in coverage.items() if evidence
    }
    details["ci_systems"] = [c.system for c in run.systems]
    if run.external:
        details["external"] = [
            {"system": e.system, "text": e.text, "path": e.path, "line": e.line,
             "reason": e.reason} for e in run.external
        ]
    if run.problems:
        details["ci_unreadable"] = [
            {"path": p.path, "line": p.line, "reason": p.reason} for p in run.problems
        ]

    locations: list[Location] = []
    for kind in unlinted:
        first = inventory.kinds[kind][0]
        locations.append(Location(first, None, f"{label(kind)}: not linted in CI"))
    seen: set[tuple[str, int | None]] = set()
    for kind, evidence in coverage.items():
        for item in evidence[:_SHOWN_EVIDENCE]:
            where = (item.invocation.path, item.invocation.line)
            if where not in seen:
                seen.add(where)
                locations.append(Location(item.invocation.path, item.invocation.line,
                                          f"{item.linter} lints {label(kind)}"))

    linted_text = "; ".join(
        f"{label(kind)} by {_summary(evidence)}" for kind, evidence in coverage.items() if evidence
    )
    if not unlinted:
        if len(coverage) == 1:
            (kind, evidence), = coverage.items()
            return passed(f"{label(kind)} linted in CI by {_summary(evidence)}", locations,
                          details)
        return passed(f"all {len(coverage)} IaC kinds linted in CI: {linted_text}",
                      locations, details)

    names = ", ".join(f"{label(k)} ({inventory.kinds[k][0]})" for k in unlinted)
    if not run.systems:
        message = f"no CI configuration found, so no IaC is linted: {names}"
    else:
        message = f"not linted in CI: {names}"
        if linted_text:
            message += f"; linted: {linted_text}"
    confidence = Confidence.HIGH
    if run.external:
        shown = ", ".join(dict.fromkeys(e.text for e in run.external[:3]))
        more = f" and {len(run.external) - 3} more" if len(run.external) > 3 else ""
        message += (f"; CI also uses configuration the scanner cannot read ({shown}{more}), "
                    "which may lint them")
        locations += [Location(e.path, e.line, f"cannot be read here: {e.reason}")
                      for e in run.external[:10]]
        confidence = Confidence.MEDIUM
    if run.problems:
        listed = ", ".join(
            f"{p.path}:{p.line}" if p.line else p.path for p in run.problems[:3])
        message += f"; could not read CI files {listed}"
        locations += [Location(p.path, p.line, f"not read: {p.reason}") for p in run.problems]
        confidence = Confidence.MEDIUM
    return failed(message, locations, details, confidence)
