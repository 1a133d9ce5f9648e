"""What a policy's fix.py codes against: the context it receives and what it proposes.

    from governance.fixes import FixContext, FixResult, create_file, proposal

    def fix(ctx: FixContext) -> FixResult:
        text = ctx.template("SECURITY.md.j2")
        return proposal("Add a security policy", [create_file("SECURITY.md", text)])

A fixer is pure: it reads `ctx.files` (the same committed tree the check saw) and returns
either a `Proposal` (the files to create, update or delete, as whole new contents) or
`NeedsPerson` (why a machine should not make this change). It never writes anything and
never calls an API except through `ctx.resolve_action`, which the provider backs.
The remediation planner turns proposals into pull requests, merge requests or local
branches; nothing here knows which.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from governance.errors import Unsupported
from governance.models import Finding, RepoRef
from governance.snapshot import RepoFiles

# The forges a fix can target; a fixer picks the right file for the platform.
FORGES = ("github", "gitlab", "local")


@dataclass(frozen=True)
class FileChange:
    """The new content of one file (`None` deletes it) and what was committed before
    (`None` when the file is new)."""

    path: str
    content: bytes | None
    previous: bytes | None = None
    executable: bool = False

    @property
    def action(self) -> str:
        if self.content is None:
            return "delete"
        return "create" if self.previous is None else "update"

    def diff(self) -> str:
        """A unified diff of this change (`a/` and `b/` prefixes, as git prints it)."""
        before = _lines(self.previous)
        after = _lines(self.content)
        old = "/dev/null" if self.previous is None else f"a/{self.path}"
        new = "/dev/null" if self.content is None else f"b/{self.path}"
        return "".join(difflib.unified_diff(before, after, old, new))


@dataclass(frozen=True)
class Proposal:
    """A change a fixer proposes: one commit, one pull request."""

    title: str  # short, imperative: "Pin 3 actions to commit SHAs"
    changes: tuple[FileChange, ...]
    # Markdown bullets for the pull request body: what changed and why, one per line.
    notes: tuple[str, ...] = ()

    def fingerprint(self) -> str:
        """Identifies the change itself, so an unchanged fix is recognised on the next run."""
        digest = hashlib.sha256()
        for change in sorted(self.changes, key=lambda c: c.path):
            digest.update(change.path.encode() + b"\0")
            digest.update(b"-" if change.content is None else change.content)
            digest.update(b"\0x" if change.executable else b"\0")
        return digest.hexdigest()[:16]

    def diff(self) -> str:
        return "".join(change.diff() for change in self.changes)


@dataclass(frozen=True)
class NeedsPerson:
    """The fix cannot be made safely by a machine; `reason` says why, for the plan."""

    reason: str


FixResult = Proposal | NeedsPerson


class ActionResolver:
    """Resolves `owner/repo@ref` of a GitHub Action to a commit SHA. The default cannot;
    providers that can reach GitHub supply one that asks the API (and caches)."""

    def resolve(self, action: str, ref: str) -> str:
        raise Unsupported(
            f"resolving {action}@{ref} to a commit SHA needs access to GitHub "
            "(run the fix against a github: source or set GITHUB_TOKEN)")


@dataclass(frozen=True)
class FixContext:
    repo: RepoRef
    files: RepoFiles
    options: Mapping[str, Any]
    finding: Finding  # the failing finding being fixed: message, locations, details
    forge: str  # "github", "gitlab" or "local": which CI / bot files fit the platform
    folder: Path  # the policy's folder, where its templates live
    resolver: ActionResolver = field(default_factory=ActionResolver)
    render: Callable[[Path, Mapping[str, Any]], str] | None = None

    def template(self, name: str, **values: Any) -> str:
        """Render `templates/<name>` of this policy with jinja2 (`repo` is always set)."""
        path = self.folder / "templates" / name
        if self.render is not None:
            return self.render(path, {"repo": self.repo, **values})
        return render_template(path, {"repo": self.repo, **values})

    def resolve_action(self, action: str, ref: str) -> str:
        return self.resolver.resolve(action, ref)


def render_template(path: Path, values: Mapping[str, Any]) -> str:
    """Plain-text jinja2 (no autoescape: the output is YAML or Markdown, not HTML),
    undefined names are errors, files keep their final newline."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(path.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML and Markdown, never served as HTML
    )
    return environment.get_template(path.name).render(**values)


def create_file(path: str, text: str | bytes) -> FileChange:
    return FileChange(path, text.encode("utf-8") if isinstance(text, str) else text)


def update_file(path: str, before: bytes, after: str | bytes) -> FileChange:
    return FileChange(path, after.encode("utf-8") if isinstance(after, str) else after, before)


def proposal(title: str, changes: Iterable[FileChange], notes: Sequence[str] = ()
             ) -> FixResult:
    """A Proposal of the changes that really change something; `NeedsPerson` when none do
    (a fixer that finds nothing to change has misread the finding)."""
    real = tuple(c for c in changes if c.content != c.previous)
    if not real:
        return NeedsPerson("the fixer found nothing it could change for this finding")
    return Proposal(title, real, tuple(notes))


def _lines(data: bytes | None) -> list[str]:
    if data is None:
        return []
    text = data.decode("utf-8", "replace")
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines
