"""Source specs (`local:PATH`, `github:ORG`, `gitlab:GROUP`) to providers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from governance.errors import ConfigError, Unsupported
from governance.providers.base import Needs, Provider

__all__ = ["Needs", "Provider", "open_source"]

_PLANNED = {"gitlab"}


def open_source(spec: str, *, github: Mapping[str, Any] | None = None) -> Provider:
    """A provider for a source spec. A bare path means `local:PATH`.

    `github` holds keyword options of the GitHub provider (api_url, concurrency, max_wait,
    cache_dir, include_archived, include_forks...); credentials always come from the
    environment (GITHUB_TOKEN, or GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY_FILE).
    """
    kind, sep, rest = spec.partition(":")
    if not sep or len(kind) == 1:  # "." or "C:\\..." are paths
        kind, rest = "local", spec
    if kind == "local":
        from governance.providers.local import LocalProvider

        return LocalProvider(Path(rest or "."))
    if kind == "github":
        from governance.providers.github import GitHubProvider

        return GitHubProvider.from_environment(rest, **dict(github or {}))
    if kind in _PLANNED:
        raise Unsupported(
            f"the {kind} provider is not available in this version of governance; "
            "scan local checkouts with local:PATH"
        )
    raise ConfigError(
        f"unknown source {spec!r}: expected local:PATH, github:ORG[/REPO] or gitlab:GROUP[/PROJECT]"
    )
