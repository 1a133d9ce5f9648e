"""Helpers for testing policies against real git repositories (used by policies/*/test_*.py).

    def test_passes(tmp_path):
        finding = evaluate(tmp_path, "readme-present", {"README.md": "# hi"})
        assert finding.outcome is Outcome.PASS
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from governance import resources
from governance.engine import Engine
from governance.models import Finding, RepoRef, TreeEntry
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
    resolver: Any = None,
) -> tuple[Any, Finding]:
    """Evaluate one bundled policy on `files` (a real git repository), run its fixer on the
    failing finding, and return the fix result with the finding (for fixer tests).

    `resolver` is a `governance.fixes.ActionResolver`; the default resolves nothing.
    """
    from governance.demo import make_repo
    from governance.fixes import ActionResolver, FixContext

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


def applied(files: Mapping[str, str | bytes], proposal: Any) -> dict[str, bytes]:
    """`files` with a fix Proposal's changes applied (for re-checking the result)."""
    out = {p: t if isinstance(t, bytes) else t.encode() for p, t in files.items()}
    for change in proposal.changes:
        if change.content is None:
            out.pop(change.path, None)
        else:
            out[change.path] = change.content
    return out
