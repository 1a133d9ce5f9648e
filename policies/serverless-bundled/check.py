"""Serverless functions are declared in one codified bundle (see policy.yml for what counts).

Inventory: `governance.iac.serverless_inventory`.
"""

from __future__ import annotations

from typing import Any

from governance.checks import CheckContext, Result, failed, not_applicable, passed, plural
from governance.iac import Bundle, serverless_inventory
from governance.models import Location, Outcome


def _describe(bundle: Bundle) -> str:
    count = f", {plural(bundle.functions, 'function')}" if bundle.functions else ""
    return f"{bundle.kind} {bundle.path}{count}"


def _bundle_dict(bundle: Bundle) -> dict[str, Any]:
    return {"kind": bundle.kind, "path": bundle.path, "line": bundle.line,
            "functions": bundle.functions, "children": list(bundle.children)}


def check(ctx: CheckContext) -> Result:
    limit = ctx.options.get("max_bundles", 1)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        return Result(Outcome.ERROR,
                      f"option serverless-bundled.max_bundles must be a positive integer, "
                      f"not {limit!r}")
    inventory = serverless_inventory(ctx.files)
    top = inventory.top_level
    details: dict[str, Any] = {
        "bundles": [_bundle_dict(b) for b in inventory.bundles],
        "top_level": [b.path for b in top],
        "handlers": [{"path": h.path, "line": h.line, "reason": h.reason}
                     for h in inventory.handlers[:50]],
    }
    if inventory.problems:
        details["unreadable"] = [{"path": p.path, "line": p.line, "reason": p.reason}
                                 for p in inventory.problems]
    if not inventory.any:
        return not_applicable("no serverless functions found", details)

    if not top:
        shown = inventory.handlers[:5]
        listed = ", ".join(h.path for h in shown)
        more = f" and {len(inventory.handlers) - 5} more" if len(inventory.handlers) > 5 else ""
        return failed(
            f"{plural(len(inventory.handlers), 'serverless handler')} with no codified bundle "
            f"(serverless.yml, SAM template, CDK app...): {listed}{more}",
            [Location(h.path, h.line, h.reason) for h in inventory.handlers[:20]],
            details,
        )

    locations = [Location(b.path, b.line, b.kind) for b in top]
    if len(top) > limit:
        kinds = sorted({b.kind for b in top})
        return failed(
            f"functions spread across {len(top)} bundle configurations "
            f"({', '.join(kinds)}): {'; '.join(_describe(b) for b in top)}",
            locations, details,
        )
    nested = [b for b in inventory.bundles if b not in top]
    suffix = f" (composing {', '.join(b.path for b in nested)})" if nested else ""
    if len(top) == 1:
        return passed(f"functions bundled by {_describe(top[0])}{suffix}", locations, details)
    return passed(f"functions bundled by {len(top)} configurations, within max_bundles "
                  f"{limit}: {'; '.join(_describe(b) for b in top)}", locations, details)
