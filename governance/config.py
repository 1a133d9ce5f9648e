"""governance.yml: the pack, policy overrides, extra policy folders, repository filters, waivers."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from governance.models import RepoRef, Waiver, name_matches
from governance.policy import PackEntry
from governance.validation import load_config_yaml, validate
from governance.yamlsafe import line_of

DEFAULT_CONFIG_NAME = "governance.yml"
DEFAULT_PACK = "gitops-baseline"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WaiverEntry(_Strict):
    repository: str = Field(min_length=1)
    policy: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    expires: dt.date | None = None


class RepositoryFilter(_Strict):
    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)
    archived: bool = False
    forks: bool = False
    topics: list[str] = Field(default_factory=list)
    visibility: list[str] = Field(default_factory=list)


class ConfigFile(_Strict):
    pack: str = DEFAULT_PACK
    policy_paths: list[str] = Field(default_factory=list)
    policies: dict[str, PackEntry] = Field(default_factory=dict)
    repositories: RepositoryFilter = Field(default_factory=RepositoryFilter)
    waivers: list[WaiverEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class Config:
    path: Path | None
    pack: str = DEFAULT_PACK
    policy_paths: tuple[Path, ...] = ()
    overrides: dict[str, PackEntry] = field(default_factory=dict)
    repositories: RepositoryFilter = field(default_factory=RepositoryFilter)
    waivers: tuple[Waiver, ...] = ()
    # The loaded YAML, so that later checks (unknown policy, option) can name a line.
    document: Any = field(default=None, compare=False, repr=False)

    def selects(self, ref: RepoRef) -> bool:
        """Whether a listed repository is in scope (name globs, archived, forks, topics)."""
        rules = self.repositories

        def hit(patterns: list[str]) -> bool:
            return any(name_matches(ref.name, pattern) for pattern in patterns)

        if not hit(rules.include) or hit(rules.exclude):
            return False
        if (ref.archived and not rules.archived) or (ref.fork and not rules.forks):
            return False
        if rules.topics and not set(rules.topics) & set(ref.topics):
            return False
        return not (rules.visibility and ref.visibility not in rules.visibility)


def load_config(path: Path | None) -> Config:
    """Read governance.yml; with no path, use ./governance.yml when present, else defaults."""
    if path is None:
        default = Path(DEFAULT_CONFIG_NAME)
        if not default.is_file():
            return Config(path=None)
        path = default
    document = load_config_yaml(path)
    parsed = validate(ConfigFile, document, path)
    waiver_nodes = (document or {}).get("waivers") or []
    waivers = tuple(
        Waiver(
            repository=entry.repository,
            policy=entry.policy,
            reason=entry.reason,
            owner=entry.owner,
            expires=entry.expires,
            source_line=line_of(waiver_nodes, index),
        )
        for index, entry in enumerate(parsed.waivers)
    )
    base = path.parent
    return Config(
        path=path,
        pack=parsed.pack,
        policy_paths=tuple((base / p).resolve() for p in parsed.policy_paths),
        overrides=dict(parsed.policies),
        repositories=parsed.repositories,
        waivers=waivers,
        document=document,
    )
