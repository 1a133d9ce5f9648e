"""The one interface every source of repositories implements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from governance.models import RepoRef
from governance.snapshot import RepoFailure, RepoSnapshot


@dataclass(frozen=True)
class Needs:
    """What the enabled policies read, handed to the provider once per scan so it can plan
    the cheapest fetch (which files to download, which settings to query)."""

    files: tuple[str, ...] = ()
    settings: frozenset[str] = field(default_factory=frozenset)


class Provider(Protocol):
    """A source of repositories: `local:PATH`, `github:ORG`, `gitlab:GROUP`."""

    kind: str

    def list_repos(self) -> Iterator[RepoRef]:
        """Every repository of the source, streamed; filtering is the engine's job."""
        ...

    def snapshots(
        self, refs: Iterable[RepoRef], needs: Needs
    ) -> Iterator[RepoSnapshot | RepoFailure]:
        """One snapshot (or failure) per ref, in order. The caller closes each snapshot."""
        ...
