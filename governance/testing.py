"""Helpers for testing policies against real git repositories (used by policies/*/test_*.py).

    def test_passes(tmp_path):
        finding = evaluate(tmp_path, "readme-present", {"README.md": "# hi"})
        assert finding.outcome is Outcome.PASS

Fixer tests (policies/*/test_fix_*.py) run a fixer with `fixed()` (or `fix()`, which also
returns the finding). Their golden cases in fixes/<case>/ are laid out as input/, expected/
and case.yml (`FixCase`) or as before/ and after/ (`BeforeAfter`); a `MappedResolver`
answers action lookups.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from governance import resources
from governance.engine import Engine
from governance.errors import Unsupported
from governance.fixes import FORGES, ActionResolver, FixContext, FixResult, Proposal
from governance.models import Finding, Outcome, RepoRef, TreeEntry
from governance.policy import EnabledPolicy, Policy, discover
from governance.providers.local import LocalProvider
from governance.snapshot import RepoFiles, RepoSnapshot

_POLICIES: dict[str, Policy] | None = None


def bundled_policy(policy_id: str) -> Policy:
    global _POLICIES
    if _POLICIES is None:
        _POLICIES = discover([resources.policies_folder()])
    return _POLICIES[policy_id]


def evaluate(
    tmp_path: Path,
    policy_id: str,
    files: Mapping[str, str | bytes],
    *,
    options: Mapping[str, Any] | None = None,
    symlinks: Mapping[str, str] | None = None,
    commit: bool = True,
    provider: str | None = None,
    settings: Mapping[str, Any] | None = None,
    unavailable: Mapping[str, str] | None = None,
) -> Finding:
    """Commit `files` into a fresh git repository and evaluate one bundled policy on it.

    `provider`, `settings` and `unavailable` make the snapshot look as a forge provider
    would hand it over (e.g. provider="github" with a default_branch_rules setting).
    """
    from governance.demo import make_repo

    repo = make_repo(tmp_path / "repo", files, symlinks=symlinks, commit=commit)
    policy = bundled_policy(policy_id)
    enabled = EnabledPolicy(
        policy, policy.definition.severity, {**policy.definition.options, **(options or {})}
    )
    engine = Engine([enabled])
    local = LocalProvider(repo)
    snapshot = local.snapshot(next(local.list_repos()), engine.needs)
    if provider is not None:
        snapshot.ref = replace(snapshot.ref, provider=provider)
    if settings is not None or unavailable is not None:
        snapshot.settings = dict(settings or {})
        snapshot.unavailable = dict(unavailable or {})
    try:
        (finding,) = engine.evaluate(snapshot)
    finally:
        snapshot.close()
    return finding


class _MemoryBlobs:
    def __init__(self, blobs: Mapping[str, bytes]) -> None:
        self._blobs = blobs

    def read_blob(self, entry: TreeEntry) -> bytes:
        return self._blobs[entry.path]


def memory_files(
    files: Mapping[str, str | bytes],
    *,
    provider: str = "local",
    settings: Mapping[str, Any] | None = None,
    unavailable: Mapping[str, str] | None = None,
) -> RepoFiles:
    """An in-memory snapshot for fast unit tests: RepoFiles behaves exactly as in a scan."""
    blobs = {p: t if isinstance(t, bytes) else t.encode() for p, t in files.items()}
    tree = {path: TreeEntry(path, "file", len(data), path) for path, data in blobs.items()}
    ref = RepoRef(provider, "acme/app", "/nonexistent/acme/app", "main")
    snapshot = RepoSnapshot(ref, "0" * 40, tree, _MemoryBlobs(blobs),
                            dict(settings or {}), dict(unavailable or {}))
    return RepoFiles(snapshot)


def fix(
    tmp_path: Path,
    policy_id: str,
    files: Mapping[str, str | bytes],
    *,
    forge: str = "github",
    options: Mapping[str, Any] | None = None,
    resolver: ActionResolver | None = None,
) -> tuple[FixResult, Finding]:
    """Evaluate one bundled policy on `files` (a real git repository), run its fixer on the
    finding, and return the fix result with the finding (for fixer tests).

    `resolver` answers action lookups; the default resolves nothing.
    """
    from governance.demo import make_repo

    repo = make_repo(tmp_path / "repo", files)
    policy = bundled_policy(policy_id)
    if policy.fix is None:
        raise AssertionError(f"{policy_id} has no fix.py")
    merged = {**policy.definition.options, **(options or {})}
    engine = Engine([EnabledPolicy(policy, policy.definition.severity, merged)])
    local = LocalProvider(repo)
    snapshot = local.snapshot(next(local.list_repos()), engine.needs)
    snapshot.ref = replace(snapshot.ref, provider=forge)
    try:
        (finding,) = engine.evaluate(snapshot)
        context = FixContext(snapshot.ref, RepoFiles(snapshot), merged, finding, forge,
                             policy.folder, resolver or ActionResolver())
        return policy.fix(context), finding
    finally:
        snapshot.close()


def fixed(
    tmp_path: Path,
    policy_id: str,
    files: Mapping[str, str | bytes],
    *,
    forge: str = "github",
    options: Mapping[str, Any] | None = None,
    resolver: ActionResolver | None = None,
) -> FixResult:
    """`fix()` for tests that need only the result: asserts the check failed first, since a
    fixer only ever runs on a failing finding."""
    result, finding = fix(tmp_path, policy_id, files, forge=forge, options=options,
                          resolver=resolver)
    assert finding.outcome is Outcome.FAIL, (finding.outcome, finding.message)
    return result


def applied(files: Mapping[str, str | bytes], proposal: Proposal) -> dict[str, bytes]:
    """`files` with a fix Proposal's changes applied (for re-checking the result)."""
    out = {p: t if isinstance(t, bytes) else t.encode() for p, t in files.items()}
    for change in proposal.changes:
        if change.content is None:
            out.pop(change.path, None)
        else:
            out[change.path] = change.content
    return out


def tree_of(folder: Path, *, dot_names: bool = False) -> dict[str, bytes]:
    """The files below `folder` as {posix path relative to it: content}.

    With `dot_names`, a top-level name starting with `dot-` stands for `.`
    (`dot-github/workflows/ci.yml` is `.github/workflows/ci.yml`): fixtures written that
    way are not taken for this repository's own workflows or CI configuration.
    """
    files: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            name = path.relative_to(folder).as_posix()
            if dot_names and name.startswith("dot-"):
                name = "." + name.removeprefix("dot-")
            files[name] = path.read_bytes()
    return files


def changed_lines(before: bytes, after: bytes) -> set[int]:
    """1-based numbers of the lines that differ, for edits that never add or remove lines
    (asserted)."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    assert len(old) == len(new), (len(old), len(new))
    return {number for number, (a, b) in enumerate(zip(old, new, strict=True), 1) if a != b}


def _case_folders(fixes: Path) -> list[Path]:
    return sorted(path for path in fixes.iterdir() if path.is_dir())


_CASE_KEYS = {"forge", "options", "notes", "deleted", "resolve_actions"}


@dataclass(frozen=True)
class FixCase:
    """A golden case laid out as fixes/<name>/: input/ is the repository, expected/ the
    files the fix writes (byte for byte), case.yml what else the result must show."""

    name: str
    files: dict[str, bytes]
    expected: dict[str, bytes]
    forge: str
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # each is part of some note
    deleted: list[str] = field(default_factory=list)  # paths the fix deletes, in order
    resolve_actions: bool = False  # whether the test answers action lookups

    @classmethod
    def load(cls, folder: Path) -> FixCase:
        """Read the case in `folder`; a case.yml key this does not know is an error, so a
        misspelt expectation cannot go unchecked."""
        document = YAML(typ="safe").load((folder / "case.yml").read_text(encoding="utf-8"))
        if not isinstance(document, dict) or not set(document) <= _CASE_KEYS:
            raise AssertionError(f"{folder}/case.yml: expected a mapping of {sorted(_CASE_KEYS)}")
        forge = document["forge"]
        if forge not in FORGES:
            raise AssertionError(f"{folder}/case.yml: forge {forge!r} is not one of {FORGES}")
        return cls(
            name=folder.name,
            files=tree_of(folder / "input"),
            expected=tree_of(folder / "expected"),
            forge=forge,
            options=dict(document.get("options") or {}),
            notes=[str(note) for note in document.get("notes") or []],
            deleted=[str(path) for path in document.get("deleted") or []],
            resolve_actions=bool(document.get("resolve_actions", False)),
        )

    @classmethod
    def load_all(cls, fixes: Path) -> list[FixCase]:
        """Every case in a policy's fixes/ folder, by name (to parametrize a test)."""
        return [cls.load(folder) for folder in _case_folders(fixes)]

    def __str__(self) -> str:  # the pytest id
        return self.name

    @property
    def hosts(self) -> list[str]:
        """The forges the fixed repository must pass on: a local checkout's files must
        work wherever the repository is hosted."""
        return list(FORGES) if self.forge == "local" else [self.forge]

    def proposal(self, tmp_path: Path, policy_id: str,
                 resolver: ActionResolver | None = None) -> Proposal:
        """Run the fixer on input/ with the case's forge and options; assert it proposes
        exactly the expected files and deletions, with every expected note."""
        result = fixed(tmp_path, policy_id, self.files, forge=self.forge,
                       options=self.options, resolver=resolver)
        assert isinstance(result, Proposal), result
        written = {c.path: c.content for c in result.changes if c.content is not None}
        assert written == self.expected
        assert sorted(c.path for c in result.changes if c.content is None) == self.deleted
        for note in self.notes:
            assert any(note in line for line in result.notes), (note, result.notes)
        return result


@dataclass(frozen=True)
class BeforeAfter:
    """A golden case laid out as fixes/<name>/: before/ is the repository the check sees,
    after/ the repository once the proposal is applied; `dot-` names as in `tree_of`."""

    name: str
    before: dict[str, bytes]
    after: dict[str, bytes]

    @classmethod
    def load(cls, folder: Path) -> BeforeAfter:
        return cls(folder.name, tree_of(folder / "before", dot_names=True),
                   tree_of(folder / "after", dot_names=True))

    @classmethod
    def load_all(cls, fixes: Path) -> list[BeforeAfter]:
        """Every case in a policy's fixes/ folder, by name (to parametrize a test)."""
        return [cls.load(folder) for folder in _case_folders(fixes)]

    def __str__(self) -> str:  # the pytest id
        return self.name

    def proposal(self, tmp_path: Path, policy_id: str, *, forge: str = "github",
                 resolver: ActionResolver | None = None) -> tuple[Proposal, Finding]:
        """Run the fixer on before/; assert its proposal turns before/ into after/ byte for
        byte and the policy passes on that. Returns the proposal and the finding it fixed."""
        result, finding = fix(tmp_path / "fix", policy_id, self.before, forge=forge,
                              resolver=resolver)
        assert finding.outcome is Outcome.FAIL, (finding.outcome, finding.message)
        assert isinstance(result, Proposal), result
        fixed_files = applied(self.before, result)
        assert fixed_files == self.after
        rechecked = evaluate(tmp_path / "recheck", policy_id, fixed_files)
        assert rechecked.outcome is Outcome.PASS, rechecked.message
        return result, finding


class MappedResolver(ActionResolver):
    """Answers action lookups from a table {(action, ref): sha}, as the GitHub-backed
    resolver would, and records every question in `asked`.

    A pair not in the table raises `Unsupported`, as an unknown tag does on GitHub; with
    `strict` it fails the test instead, for tests where every lookup is expected.
    """

    def __init__(self, table: Mapping[tuple[str, str], str], *, strict: bool = False) -> None:
        self.table = dict(table)
        self.strict = strict
        self.asked: list[tuple[str, str]] = []

    def resolve(self, action: str, ref: str) -> str:
        self.asked.append((action, ref))
        if (action, ref) in self.table:
            return self.table[(action, ref)]
        if self.strict:
            raise AssertionError(f"unexpected lookup of {action}@{ref}")
        raise Unsupported(f"{action}@{ref}: no such tag or branch")
