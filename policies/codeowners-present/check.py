"""A CODEOWNERS file where the repository's forge reads it, with at least one rule.

GitHub reads `.github/CODEOWNERS`, then `CODEOWNERS`, then `docs/CODEOWNERS`; GitLab
reads `CODEOWNERS`, `docs/CODEOWNERS`, `.gitlab/CODEOWNERS`; in both the first one found
wins. A local checkout (or an unknown forge) accepts any of the four. A file only in a
place the forge ignores fails, naming it. The file in use must have a rule line (not
blank, not a `#` comment, not a GitLab `[Section]` header) and some owner: a rule
naming one, or a GitLab section header with default owners.
"""

from __future__ import annotations

import re

from governance.checks import CheckContext, Result, failed, passed, plural
from governance.models import Location

LOCATIONS = {
    "github": (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"),
    "gitlab": ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"),
}
ANY_LOCATION = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")
_FORGE_NAMES = {"github": "GitHub", "gitlab": "GitLab"}
# GitLab sections: `[Name]`, `^[Optional]`, `[Name][2]`, optionally with default owners.
_SECTION = re.compile(r"^\^?\[[^\]]+\](?:\[\d+\])?(?P<owners>(?:\s+\S+)*)\s*$")


def _rules(text: str) -> tuple[int, bool, int | None]:
    """(rule lines, whether any owner is named, line of the first rule)."""
    rules = 0
    owners = False
    first: int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        section = _SECTION.match(line)
        if section:
            owners = owners or bool(section.group("owners").strip())
            continue
        rules += 1
        first = first or number
        tokens = line.split("#", 1)[0].split() if " #" in line else line.split()
        owners = owners or len(tokens) > 1
    return rules, owners, first


def check(ctx: CheckContext) -> Result:
    provider = ctx.repo.provider
    forge = _FORGE_NAMES.get(provider)
    candidates = LOCATIONS.get(provider, ANY_LOCATION)
    present = [path for path in (ctx.files.find(c) for c in ANY_LOCATION) if path]
    used = next((path for c in candidates if (path := ctx.files.find(c))), None)
    details: dict[str, object] = {"provider": provider, "searched": list(candidates),
                                  "present": present}

    if used is None:
        if present:
            where = ", ".join(present)
            return failed(
                f"{where} is not read by {forge}, which looks in {', '.join(candidates)}",
                [Location(p, None, f"{forge} ignores this location") for p in present],
                details,
            )
        return failed(f"no CODEOWNERS file in {', '.join(candidates)}", details=details)

    rules, owners, first = _rules(ctx.files.read_text(used))
    details.update({"path": used, "rules": rules})
    shadowed = [p for p in present if p != used]
    if rules == 0:
        return failed(f"{used} has no rules (only blank lines, comments or section headers)",
                      [Location(used, 1, "no rule lines")], details)
    if not owners:
        return failed(f"{used} has {plural(rules, 'rule')} but none names an owner",
                      [Location(used, first, "rules without owners")], details)
    message = f"code owners declared in {used} ({plural(rules, 'rule')})"
    if shadowed and provider in LOCATIONS:
        message += f"; {', '.join(shadowed)} is ignored because {used} comes first"
        details["shadowed"] = shadowed
    return passed(message, [Location(used, first)], details)
