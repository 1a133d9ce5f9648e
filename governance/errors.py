"""One error hierarchy. The CLI maps it to exit codes in one place (cli.py)."""

from __future__ import annotations


class GovernanceError(Exception):
    """Base of every error a user can cause or meet; never a bug."""


class ConfigError(GovernanceError):
    """governance.yml, a pack or a command-line value is wrong. Exit code 2."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")


class PolicyError(ConfigError):
    """A policy.yml or check.py is malformed. Fails fast: it is the tool's own config."""


class ProviderError(GovernanceError):
    """A source cannot be listed or a repository cannot be read."""


class Unsupported(GovernanceError):
    """The provider or its credentials cannot see this. Becomes `not_available`."""


class FileProblem(GovernanceError):
    """A file in a scanned repository cannot be used: not UTF-8, too large, invalid YAML...

    Raised from a check, it becomes an `error` finding that names the file and line.
    """

    def __init__(self, path: str, reason: str, line: int | None = None):
        self.path = path
        self.reason = reason
        self.line = line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {reason}")
