"""What the provider tests of both forges share: scanning a provider with the baseline
pack, its snapshots by name, and a stand-in for time.sleep."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from governance.config import Config
from governance.engine import Engine
from governance.models import Finding, RepoRef
from governance.policy import EnabledPolicy
from governance.providers import Needs
from governance.scan import load_policies
from governance.settings import DEFAULT_BRANCH_RULES
from governance.snapshot import RepoFailure, RepoSnapshot

RULES_NEEDS = Needs(settings=frozenset({DEFAULT_BRANCH_RULES}))


@dataclass
class Sleeps:
    """Stands in for time.sleep: records the delays; `then` simulates the time passing."""

    calls: list[float] = field(default_factory=list)
    then: Callable[[float], None] | None = None

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.then is not None:
            self.then(seconds)


@lru_cache(maxsize=1)
def baseline() -> tuple[EnabledPolicy, ...]:
    return tuple(load_policies(Config(path=None))[1])


def scan(provider: Any, policies: tuple[EnabledPolicy, ...] | None = None
         ) -> dict[tuple[str, str], Finding]:
    """(repository, policy) -> finding of a whole scan of the provider."""
    engine = Engine(list(policies or baseline()))
    return {(f.repository, f.policy): f for f in engine.run(provider, provider.list_repos())}


def snapshots(provider: Any, needs: Needs = RULES_NEEDS, refs: list[RepoRef] | None = None
              ) -> dict[str, RepoSnapshot | RepoFailure]:
    found = list(provider.snapshots(refs if refs is not None else provider.list_repos(), needs))
    return {item.ref.name: item for item in found}


def snapshot(provider: Any, name: str, needs: Needs = RULES_NEEDS) -> RepoSnapshot:
    item = snapshots(provider, needs)[name]
    assert isinstance(item, RepoSnapshot), item
    return item
