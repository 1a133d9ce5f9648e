"""Source specs (`local:PATH`, `github:ORG`, `gitlab:GROUP`) to providers."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from governance.errors import ConfigError
from governance.providers.base import Needs, Provider

__all__ = ["Needs", "Provider", "open_source"]

# Options every forge provider takes; a gitlab: source scanned with only `github` options
# uses these of them.
_SHARED_FORGE_OPTIONS = ("concurrency", "max_wait", "cache_dir", "fetch")


def open_source(spec: str, *, github: Mapping[str, Any] | None = None,
                gitlab: Mapping[str, Any] | None = None) -> Provider:
    """A provider for a source spec. A bare path means `local:PATH`.

    `github` holds keyword options of the GitHub provider (api_url, concurrency, max_wait,
    cache_dir, include_archived, include_forks...); credentials always come from the
    environment (GITHUB_TOKEN, or GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY_FILE).

    `gitlab` holds keyword options of the GitLab provider (api_url, concurrency, max_wait,
    cache_dir, ci_lint); without it, a gitlab: source takes concurrency, max_wait and
    cache_dir from `github`. Credentials come from GITLAB_TOKEN (or CI_JOB_TOKEN), the URL
    from `api_url` or GITLAB_URL.
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
    if kind == "gitlab":
        from governance.providers.gitlab import GitLabProvider

        if gitlab is None:
            options = {k: v for k, v in (github or {}).items() if k in _SHARED_FORGE_OPTIONS}
        else:
            options = dict(gitlab)
        return GitLabProvider.from_environment(rest, **options)
    raise ConfigError(
        f"unknown source {spec!r}: expected local:PATH, github:ORG[/REPO] or gitlab:GROUP[/PROJECT]"
    )
