"""Propose a CODEOWNERS file where the forge reads it, owned by the configured default owner.

The owner is never guessed: without the `default_owner` option a person must say which
team reviews. New files go to `.github/CODEOWNERS` on GitHub, to `.gitlab/CODEOWNERS` on
GitLab when the project already has a `.gitlab/` folder and `CODEOWNERS` otherwise (a
local checkout also gets the root file, which both forges read). A file in a place the
forge ignores is moved there, its rules kept; a file without an owner gets a `*` rule
for the default owner before its own rules, so its narrower rules still win.
"""

from __future__ import annotations

import re

from governance.fixes import (
    FileChange,
    FixContext,
    FixResult,
    NeedsPerson,
    create_file,
    proposal,
    update_file,
)
from governance.snapshot import RepoFiles

# Where each forge reads CODEOWNERS, first found wins (as check.py).
LOCATIONS = {
    "github": (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"),
    "gitlab": ("CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"),
}
_FORGE_NAMES = {"github": "GitHub", "gitlab": "GitLab"}
ANY_LOCATION = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")
# @user, @org/team, GitLab's @group/subgroup and @@role, or an e-mail address.
_OWNER = re.compile(r"^(@@?[\w.-]+(/[\w.-]+)*|[\w.+-]+@[\w-]+(\.[\w-]+)+)$")
_SECTION = re.compile(r"^\^?\[[^\]]+\](\[\d+\])?(\s+\S+)*\s*$")


def owners_of(option: object) -> tuple[list[str], str]:
    """(owners, problem) from the `default_owner` option: space-separated handles, `@`
    added where it is missing (`acme/platform` -> `@acme/platform`)."""
    if not isinstance(option, str) or not option.strip():
        return [], "set default_owner to the team that should review"
    owners: list[str] = []
    for token in option.split():
        owner = token if token.startswith("@") or "@" in token else f"@{token}"
        if not _OWNER.match(owner):
            return [], f"default_owner {token!r} is not a user, team or e-mail address"
        owners.append(owner)
    return owners, ""


def _target(files: RepoFiles, forge: str) -> str:
    if forge == "github":
        return ".github/CODEOWNERS"
    if forge == "gitlab" and any(p.startswith(".gitlab/") for p in files.paths):
        return ".gitlab/CODEOWNERS"
    return "CODEOWNERS"


def _owned(text: str) -> bool:
    """Whether any rule line names an owner (or a GitLab section header has defaults)."""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if _SECTION.match(line):
            if len(line.split("]")[-1].split()) > 0:
                return True
            continue
        if len(line.split()) > 1:
            return True
    return False


def _with_default_rule(text: str, owners: list[str]) -> str:
    """`text` with `* owners` after its leading comments: the first rule, so that every
    later, narrower rule (or section) still takes precedence."""
    lines = text.splitlines(keepends=True)
    head = 0
    while head < len(lines) and (not lines[head].strip() or lines[head].lstrip().startswith("#")):
        head += 1
    rule = f"* {' '.join(owners)}\n"
    if head and lines[head - 1].strip():
        rule = "\n" + rule  # keep the header comment apart from the rules
    if head < len(lines):
        rule += "\n"
    body = "".join(lines[:head])
    if body and not body.endswith("\n"):
        body += "\n"
    return body + rule + "".join(lines[head:])


def fix(ctx: FixContext) -> FixResult:
    forge = ctx.forge
    owners, problem = owners_of(ctx.options.get("default_owner"))
    candidates = LOCATIONS.get(forge, ANY_LOCATION)
    used = next((p for c in candidates if (p := ctx.files.find(c))), None)
    present = [p for p in (ctx.files.find(c) for c in ANY_LOCATION) if p]
    target = _target(ctx.files, forge)

    if used is None and present:
        source = present[0]
        content = ctx.files.read_bytes(source)
        text = content.decode("utf-8", "replace")
        notes = [f"{_FORGE_NAMES.get(forge, forge)} does not read {source}; moves it to "
                 f"{target} with its rules"]
        if not _owned(text):
            if not owners:
                return NeedsPerson(f"{source} names no owner; {problem}")
            text = _with_default_rule(text, owners)
            notes.append(f"adds a default rule `* {' '.join(owners)}`")
        return proposal(f"Move {source} to {target}",
                        [create_file(target, text), FileChange(source, None, content)], notes)

    if used is not None:
        if not owners:
            return NeedsPerson(f"{used} names no owner; {problem}")
        before = ctx.files.read_bytes(used)
        after = _with_default_rule(before.decode("utf-8", "replace"), owners)
        return proposal(f"Add a default code owner to {used}",
                        [update_file(used, before, after)],
                        [f"adds `* {' '.join(owners)}` as the first rule of {used}; the rules "
                         "below it still take precedence for their paths"])

    if not owners:
        return NeedsPerson(problem)
    text = ctx.template("CODEOWNERS.j2", owners=" ".join(owners), forge=forge)
    notes = [f"adds {target} making {' '.join(owners)} the default owner of every path",
             "add narrower rules below the default one for paths other teams own"]
    if forge == "local":
        notes.append("CODEOWNERS at the root is read by both GitHub and GitLab")
    return proposal(f"Add {target}", [create_file(target, text)], notes)
