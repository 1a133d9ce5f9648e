"""Dependabot or Renovate is configured where the repository's forge will find it.

- Dependabot: `.github/dependabot.yml` / `.yaml`, valid YAML, with at least one entry
  under `updates:`. GitHub only: on GitLab the file does nothing and does not count.
- Renovate: `renovate.json`, `renovate.json5`, `.renovaterc`, `.renovaterc.json(5)`, a
  `renovate` key in the root `package.json`, or the forge's own folder: `.github/` on
  GitHub, `.gitlab/` on GitLab (Renovate ignores the other forges' folders); a local
  checkout accepts any of them. The file's presence is enough (Renovate itself reports
  an invalid configuration); an org-wide preset alone cannot be seen from the repository.

An unreadable Dependabot file (or package.json, when looking for the `renovate` key) is
an `error` naming the file and line, unless another configuration already satisfies the
policy (then the problem is mentioned in the message and details).
"""

from __future__ import annotations

import json
from typing import Any

from governance.checks import CheckContext, Result, failed, passed
from governance.errors import FileProblem
from governance.models import Confidence, Location
from governance.snapshot import RepoFiles
from governance.yamlsafe import line_of

DEPENDABOT_FILES = (".github/dependabot.yml", ".github/dependabot.yaml")
RENOVATE_ROOT_FILES = (
    "renovate.json", "renovate.json5", ".renovaterc", ".renovaterc.json", ".renovaterc.json5",
)
_FORGE_FOLDERS = {"github": (".github",), "gitlab": (".gitlab",)}
_ALL_FOLDERS = (".github", ".gitlab", ".gitea", ".forgejo")


def _renovate_files(provider: str) -> tuple[list[str], list[str]]:
    """(files Renovate reads on this forge, files it ignores here)."""
    read_folders = _FORGE_FOLDERS.get(provider, _ALL_FOLDERS)
    read = list(RENOVATE_ROOT_FILES)
    ignored: list[str] = []
    for folder in _ALL_FOLDERS:
        target = read if folder in read_folders else ignored
        target += [f"{folder}/renovate.json", f"{folder}/renovate.json5"]
    return read, ignored


def _dependabot(files: RepoFiles, path: str) -> tuple[int, Location | None]:
    """(update entries, where it falls short). FileProblem when unreadable."""
    document = files.yaml(path)
    if document is None:
        return 0, Location(path, 1, "empty file: no `updates:` entries")
    if not isinstance(document, dict):
        raise FileProblem(path, "a Dependabot configuration must be a mapping", line_of(document))
    updates = document.get("updates")
    entries = [e for e in updates if isinstance(e, dict)] if isinstance(updates, list) else []
    if entries:
        return len(entries), None
    line = line_of(document, "updates") if "updates" in document else 1
    return 0, Location(path, line, "no entries under `updates:`")


def _package_json_renovate(files: RepoFiles, path: str) -> bool:
    text = files.read_text(path)
    try:
        document: Any = json.loads(text)
    except json.JSONDecodeError as error:
        raise FileProblem(path, f"invalid JSON: {error.msg}", error.lineno) from None
    return isinstance(document, dict) and "renovate" in document


def check(ctx: CheckContext) -> Result:
    provider = ctx.repo.provider
    found: list[str] = []  # "Dependabot in .github/dependabot.yml (2 update entries)"
    shortfalls: list[Location] = []
    problems: list[FileProblem] = []
    ignored: list[Location] = []

    for candidate in DEPENDABOT_FILES:
        path = ctx.files.find(candidate)
        if path is None:
            continue
        if provider == "gitlab":
            ignored.append(Location(path, None, "GitLab does not run Dependabot"))
            continue
        try:
            entries, shortfall = _dependabot(ctx.files, path)
        except FileProblem as problem:
            problems.append(problem)
            continue
        if shortfall is not None:
            shortfalls.append(shortfall)
        else:
            noun = "update entry" if entries == 1 else "update entries"
            found.append(f"Dependabot in {path} ({entries} {noun})")

    read, not_read = _renovate_files(provider)
    for candidate in read:
        path = ctx.files.find(candidate)
        if path is not None:
            found.append(f"Renovate in {path}")
    package = ctx.files.find("package.json")
    if package is not None:
        try:
            if _package_json_renovate(ctx.files, package):
                found.append(f"Renovate in the `renovate` key of {package}")
        except FileProblem as problem:
            problems.append(problem)
    for candidate in not_read:
        path = ctx.files.find(candidate)
        if path is not None:
            note = f"Renovate does not read this folder on {provider}"
            ignored.append(Location(path, None, note))

    details: dict[str, Any] = {
        "configured": found,
        "shortfalls": [{"path": s.path, "line": s.line, "note": s.note} for s in shortfalls],
        "unreadable": [{"path": p.path, "line": p.line, "reason": p.reason} for p in problems],
        "ignored": [loc.path for loc in ignored],
    }
    if found:
        message = "dependency updates configured: " + "; ".join(found)
        if problems:
            message += "; but could not read " + ", ".join(str(p) for p in problems)
        return passed(message, details=details)
    if problems:
        first, *others = problems
        reason = first.reason
        if others:
            reason += "; also unreadable: " + ", ".join(str(p) for p in others)
        raise FileProblem(first.path, reason, first.line)
    if shortfalls:
        where = ", ".join(loc.path for loc in shortfalls)
        return failed(f"Dependabot configuration {where} has no `updates:` entries and no "
                      "Renovate configuration was found", [*shortfalls, *ignored], details)
    if ignored:
        notes = "; ".join(f"{loc.path}: {loc.note}" for loc in ignored)
        return failed(f"no dependency update configuration that {provider} uses ({notes})",
                      ignored, details, confidence=Confidence.MEDIUM)
    return failed("no Dependabot (.github/dependabot.yml) or Renovate configuration "
                  "(renovate.json, .renovaterc, package.json `renovate` key...)", details=details)
