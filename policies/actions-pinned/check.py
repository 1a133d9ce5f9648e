"""Every third-party `uses:` is pinned to a full commit SHA (or an image digest).

Counted: step actions and job-level reusable workflows of every workflow, plus the steps
(and `docker://` image) of the repository's own action.yml files. Local references
(`./...`) are pinned by nature; references matching the `allow` globs are exempt.
A reference GitHub cannot resolve (no `@ref`, an expression) counts as unpinned.
"""

from __future__ import annotations

from governance.checks import CheckContext, Result, failed, not_applicable, passed, plural
from governance.ci.github_actions import (
    UsesSite,
    action_uses_sites,
    load_workflows,
    uses_sites,
)
from governance.models import Location


def _allow_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    raise TypeError(f"option `allow` must be a list of owner/repo globs, not {value!r}")


def _summary(counts: dict[str, int]) -> str:
    parts = [f"{n} {label}" for label, n in counts.items() if n]
    return f" ({', '.join(parts)})" if parts else ""


def check(ctx: CheckContext) -> Result:
    allow = _allow_list(ctx.options.get("allow"))
    load = load_workflows(ctx.files, actions=True)
    sites: list[UsesSite] = [site for wf in load.workflows for site in uses_sites(wf)]
    sites += [site for action in load.actions for site in action_uses_sites(action)]

    if not load.workflows and not sites:
        return load.settle(not_applicable("no GitHub Actions workflows"))

    unpinned: list[UsesSite] = []
    counts = {"pinned to a SHA or digest": 0, "local": 0, "exempt by allow": 0}
    for site in sites:
        if site.ref.kind == "local":
            counts["local"] += 1
        elif site.ref.pinned:
            counts["pinned to a SHA or digest"] += 1
        elif allow and site.ref.matches(allow):
            counts["exempt by allow"] += 1
        else:
            unpinned.append(site)

    details = {
        "references": len(sites),
        "unpinned": [
            {"path": s.path, "line": s.line, "uses": s.ref.text, "kind": s.ref.kind,
             "where": s.where}
            for s in unpinned
        ],
        "pinned": counts["pinned to a SHA or digest"],
        "local": counts["local"],
        "exempt": counts["exempt by allow"],
        "allow": allow,
    }
    total = plural(len(sites), "action reference")
    if unpinned:
        files = len({s.path for s in unpinned})
        verb = "is" if len(unpinned) == 1 else "are"
        message = (f"{len(unpinned)} of {total} {verb} not pinned to a commit SHA "
                   f"(in {plural(files, 'file')})")
        locations = [
            Location(s.path, s.line, s.ref.text + ("" if s.ref.kind != "invalid"
                                                   else " (not a valid reference)"))
            for s in unpinned
        ]
        return load.settle(failed(message, locations, details))
    if not sites:
        return load.settle(passed(
            f"{plural(len(load.workflows), 'workflow')} use no actions", details=details))
    verdict = f"all {total} are pinned" if len(sites) > 1 else "the only action reference is pinned"
    return load.settle(passed(verdict + _summary(counts), details=details))
