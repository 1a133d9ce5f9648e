"""Pin each flagged third-party `uses:` to the commit SHA its tag or branch names now.

`uses: actions/checkout@v4` becomes `uses: actions/checkout@<40-hex> # v4`: the tag stays
as a trailing comment (Dependabot and Renovate read it when they update the pin), the
quoting stays as written, and nothing else in the file changes (governance.yamledit).
SHAs come from `ctx.resolve_action`, which the provider backs with the GitHub API.

Left as they are and named in the notes: references that cannot be resolved (no access
to GitHub, an unknown tag), `docker://` images (resolving an image digest is not
supported) and references GitHub itself cannot run. When none can be pinned, a person has
to: NeedsPerson with the reasons.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from governance.ci.github_actions import ActionRef, parse_uses
from governance.errors import FileProblem, GovernanceError
from governance.fixes import FileChange, FixContext, FixResult, NeedsPerson, proposal, update_file
from governance.yamledit import Edit, EditRefused, YamlFile, replace_scalar

_FULL_SHA = re.compile(r"[0-9a-f]{40}")


class _Resolutions:
    """Each (action, ref) asked once; a failure is remembered with its reason."""

    def __init__(self, ctx: FixContext) -> None:
        self._ctx = ctx
        self._done: dict[tuple[str, str], str | GovernanceError | LookupError] = {}

    def sha(self, ref: ActionRef) -> str:
        """The commit SHA, or raises with the reason it cannot be had."""
        assert ref.version is not None
        key = (ref.name, ref.version)
        if key not in self._done:
            try:
                answer = self._ctx.resolve_action(*key).strip().lower()
                if not _FULL_SHA.fullmatch(answer):
                    raise LookupError(f"the resolver answered {answer!r}, not a commit SHA")
                self._done[key] = answer
            except (GovernanceError, LookupError) as error:
                self._done[key] = error
        found = self._done[key]
        if isinstance(found, str):
            return found
        raise found


def _where(site: Mapping[str, Any]) -> str:
    line = site.get("line")
    return f"{site['path']}:{line}" if line else str(site["path"])


def _pinned_text(written: str, sha: str) -> str:
    """The written value with only the ref after the last `@` replaced (spaces kept)."""
    at = written.rindex("@")
    tail = written[at + 1:]
    return written[: at + 1] + sha + tail[len(tail.rstrip()):]


def _file_edits(file: YamlFile, sites: Iterable[Mapping[str, Any]], resolutions: _Resolutions,
                left: list[str]) -> list[tuple[Edit, str]]:
    """The edits for one file, each with its note; what cannot be pinned goes to `left`."""
    edits: list[tuple[Edit, str]] = []
    for site in sites:
        text = str(site["uses"])
        ref = parse_uses(text)
        where = _where(site)
        if ref.kind == "docker":
            left.append(f"`{text}` ({where}): pinning an image to its digest is not supported "
                        "here; pin it by hand (`docker://image@sha256:...`)")
            continue
        if ref.kind not in ("action", "workflow") or ref.version is None:
            left.append(f"`{text}` ({where}): not a reference GitHub can run; fix it by hand")
            continue
        try:
            sha = resolutions.sha(ref)
        except (GovernanceError, LookupError) as error:
            reason = "no such action or ref" if isinstance(error, KeyError) else str(error)
            left.append(f"`{text}` ({where}): could not resolve {ref.name}@{ref.version} to "
                        f"a commit: {reason}")
            continue
        entries = [entry for entry in file.entries_at("uses", int(site.get("line") or 0))
                   if str(getattr(entry.value, "value", "")).strip() == text]
        if len(entries) != 1:
            left.append(f"`{text}` ({where}): not found in the file as the check saw it")
            continue
        node = entries[0].value
        try:
            edit = replace_scalar(file, node, _pinned_text(node.value, sha), comment=ref.version)
        except EditRefused as refused:
            left.append(f"`{text}` ({where}): {refused.reason}")
            continue
        kept = "" if file.ends_line(node) else " (no room for the tag comment on that line)"
        edits.append((edit, f"`{text}` → `{sha}` ({where}){kept}"))
    return edits


def fix(ctx: FixContext) -> FixResult:
    sites: list[Mapping[str, Any]] = list(ctx.finding.details.get("unpinned") or [])
    by_path: dict[str, list[Mapping[str, Any]]] = {}
    for site in sites:
        by_path.setdefault(str(site["path"]), []).append(site)

    resolutions = _Resolutions(ctx)
    changes: list[FileChange] = []
    pinned: list[str] = []
    left: list[str] = []
    for path, path_sites in by_path.items():
        try:
            before = ctx.files.read_bytes(path)
            file = YamlFile(path, before)
        except (FileProblem, EditRefused) as problem:
            reason = problem.reason
            left += [f"`{site['uses']}` ({_where(site)}): {reason}" for site in path_sites]
            continue
        edits = _file_edits(file, path_sites, resolutions, left)
        if not edits:
            continue
        try:
            changes.append(update_file(path, before, file.edited([e for e, _ in edits])))
        except EditRefused as refused:
            left += [f"{note}: not made, {refused.reason}" for _, note in edits]
            continue
        pinned += [note for _, note in edits]

    if not pinned:
        reasons = "; ".join(left) or "the finding names no unpinned reference"
        return NeedsPerson(f"no action reference could be pinned: {reasons}")
    count = len(pinned)
    notes = [
        f"Pinned {count} action reference{'s' if count != 1 else ''} to the commit "
        "SHA its tag or branch points at today; the tag stays as a comment, so Dependabot "
        "or Renovate can keep the pins current.",
        *(f"Pinned {item}" for item in pinned),
        *(f"Left for a person: {item}" for item in left),
    ]
    noun = "reference" if count == 1 else "references"
    return proposal(f"Pin {count} action {noun} to commit SHAs", changes, notes)
