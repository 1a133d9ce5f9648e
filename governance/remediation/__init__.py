"""Remediation: turn fixable findings into pull requests, merge requests or local branches.

`fix_source` wires one run of `governance fix`: the config and the selected policies, the
read provider (as a scan opens it), the writer of the source's forge (`open_writer`), the
resolver fixers use for GitHub Action SHAs (`open_resolver`), then plan.plan / plan.apply.
The forge modules are imported only when a source needs them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from governance.errors import ConfigError

if TYPE_CHECKING:
    from governance.config import Config
    from governance.fixes import ActionResolver
    from governance.policy import EnabledPolicy
    from governance.remediation.base import ChangeRequests
    from governance.remediation.plan import PlannedAction


def _source_kind(spec: str) -> str:
    kind, sep, _ = spec.partition(":")
    if not sep or len(kind) == 1:  # "." or "C:\\..." are paths, as in open_source
        return "local"
    return kind


def open_writer(spec: str, *, github_url: str | None = None, gitlab_url: str | None = None,
                write_gap: float = 1.0) -> ChangeRequests:
    """The write side of a source's forge; credentials come from the environment only.
    Writes to a forge are at least `write_gap` seconds apart."""
    kind = _source_kind(spec)
    if kind == "local":
        from governance.remediation.local import LocalChangeRequests

        return LocalChangeRequests()
    if kind == "github":
        from governance.remediation.github import GitHubChangeRequests

        return GitHubChangeRequests.from_environment(api_url=github_url,
                                                     min_write_gap=write_gap)
    if kind == "gitlab":
        from governance.remediation.gitlab import GitLabChangeRequests

        return GitLabChangeRequests.from_environment(url=gitlab_url, min_write_gap=write_gap)
    raise ConfigError(f"unknown source {spec!r}: expected local:PATH, github:ORG[/REPO] "
                      "or gitlab:GROUP[/PROJECT]")


def open_resolver(spec: str, *, github_url: str | None = None) -> ActionResolver:
    """What fixers use to pin GitHub Actions: the GitHub API for github: sources; the
    default (which resolves nothing, so such fixes are skipped) elsewhere."""
    if _source_kind(spec) == "github":
        from governance.remediation.github import GitHubActionResolver

        # With GitHub App credentials, the installation of the (first) org reads actions.
        owner = spec.partition(":")[2].split(",")[0].strip().strip("/").split("/")[0]
        return GitHubActionResolver.from_environment(api_url=github_url, owner=owner or None)
    from governance.fixes import ActionResolver

    return ActionResolver()


def select_policies(config: Config, pack: str | None, ids: Sequence[str]
                    ) -> list[EnabledPolicy]:
    """The policies named by `--policy`, as the pack and governance.yml enable them
    (effective options and severity). A policy the pack leaves off is refused: a fix
    follows the same standards a scan checks."""
    from governance.policy import _unknown_policy, discover
    from governance.resources import policies_folder
    from governance.scan import load_policies

    if not ids:
        raise ConfigError("name at least one policy with --policy ID")
    known = discover([policies_folder(), *config.policy_paths])
    pack_path, enabled = load_policies(config, pack)
    by_id = {e.id: e for e in enabled}
    selected: list[EnabledPolicy] = []
    for policy_id in dict.fromkeys(ids):
        if policy_id not in known:
            raise ConfigError(f"--policy: {_unknown_policy(policy_id, known)}")
        if policy_id not in by_id:
            raise ConfigError(f"--policy: {policy_id!r} is not enabled by the pack "
                              f"{pack_path.stem!r} or governance.yml: enable it there first")
        selected.append(by_id[policy_id])
    return selected


@dataclass(frozen=True)
class FixRequest:
    source: str
    policies: tuple[str, ...]
    config_path: Path | None = None
    pack: str | None = None
    apply: bool = False
    max_prs: int | None = None
    github_url: str | None = None
    gitlab_url: str | None = None
    today: dt.date | None = None
    write_gap: float = 1.0


@dataclass
class FixRun:
    """The selected policies and the stream of actions (planned, or carried out)."""

    policies: list[EnabledPolicy]
    without_fixer: list[str]  # selected policies that have no fix.py: nothing planned
    actions: Iterator[PlannedAction] = field(default_factory=lambda: iter(()))


@contextmanager
def fix_source(request: FixRequest) -> Iterator[FixRun]:
    """Open everything a fix run needs and hand over its actions; closes what it opened.

    Archived repositories and forks are listed (and reported as skipped) whatever
    governance.yml's `repositories:` says about scanning them; its name, topic and
    visibility filters apply as in a scan."""
    from governance.config import load_config
    from governance.providers import open_source
    from governance.remediation.plan import apply, cap, plan

    config = load_config(request.config_path)
    selected = select_policies(config, request.pack, request.policies)
    fixable = [e for e in selected if e.policy.fix is not None]
    run = FixRun(selected, [e.id for e in selected if e.policy.fix is None])
    if not fixable:
        yield run
        return
    scope = replace(config, repositories=config.repositories.model_copy(
        update={"archived": True, "forks": True}))
    github = {"api_url": request.github_url} if request.github_url else {}
    gitlab = {"api_url": request.gitlab_url} if request.gitlab_url else {}
    # Released in reverse whatever fails on the way: `close()` of the provider and the
    # resolver, `close_session()` of a writer (its `close` closes a pull request).
    opened: list[Callable[[], object]] = []
    try:
        provider = open_source(request.source, github=github, gitlab=gitlab)
        opened.append(getattr(provider, "close", lambda: None))
        writer = open_writer(request.source, github_url=request.github_url,
                             gitlab_url=request.gitlab_url, write_gap=request.write_gap)
        opened.append(getattr(writer, "close_session", lambda: None))
        resolver = open_resolver(request.source, github_url=request.github_url)
        opened.append(getattr(resolver, "close", lambda: None))
        refs = (r for r in provider.list_repos() if scope.selects(r))
        planned = plan(provider, refs, fixable, writer, resolver, waivers=config.waivers,
                       today=request.today)
        run.actions = (apply(planned, writer, max_prs=request.max_prs) if request.apply
                       else cap(planned, request.max_prs))
        yield run
    finally:
        for release in reversed(opened):
            release()
