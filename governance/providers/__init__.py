"""Source specs (`local:PATH`, `github:ORG`, `gitlab:GROUP`) to providers."""

from __future__ import annotations

from pathlib import Path

from governance.errors import ConfigError, Unsupported
from governance.providers.base import Needs, Provider

__all__ = ["Needs", "Provider", "open_source"]

_PLANNED = {"github", "gitlab"}


def open_source(spec: str) -> Provider:
    """A provider for a source spec. A bare path means `local:PATH`."""
    kind, sep, rest = spec.partition(":")
    if not sep or len(kind) == 1:  # "." or "C:\\..." are paths
        kind, rest = "local", spec
    if kind == "local":
        from governance.providers.local import LocalProvider

        return LocalProvider(Path(rest or "."))
    if kind in _PLANNED:
        raise Unsupported(
            f"the {kind} provider is not available in this version of governance; "
            "scan local checkouts with local:PATH"
        )
    raise ConfigError(
        f"unknown source {spec!r}: expected local:PATH, github:ORG[/REPO] or gitlab:GROUP[/PROJECT]"
    )
