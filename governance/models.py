"""The project's own types. Providers, policies, the engine and renderers speak only these."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Outcome(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"
    NOT_AVAILABLE = "not_available"
    ERROR = "error"
    WAIVED = "waived"

    def __str__(self) -> str:
        return self.value


class Severity(str, Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)

    def __str__(self) -> str:
        return self.value


_SEVERITY_ORDER = list(Severity)


class Confidence(str, Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class RepoRef:
    """One repository as a provider lists it, before anything is fetched."""

    provider: str  # "local", "github", "gitlab"
    name: str  # full name as people write it: "acme/payments-api"
    location: str  # URL or filesystem path
    default_branch: str | None = None
    archived: bool = False
    fork: bool = False
    visibility: str = "unknown"  # public / internal / private / unknown
    topics: tuple[str, ...] = ()
    # The default branch's head commit when the listing knows it cheaply (None: unknown).
    # An incremental scan reuses the last scan's findings when it did not change.
    head_sha: str | None = None


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a repository's committed tree."""

    path: str  # POSIX path relative to the repository root
    kind: str  # "file", "symlink", "submodule"
    size: int | None = None
    sha: str | None = None


@dataclass(frozen=True)
class Location:
    """A place in a repository that a finding points at."""

    path: str
    line: int | None = None
    note: str = ""


@dataclass(frozen=True)
class Finding:
    """The verdict of one policy on one repository."""

    repository: str
    policy: str
    outcome: Outcome
    severity: Severity
    message: str
    locations: tuple[Location, ...] = ()
    remediation: str = ""
    title: str = ""
    confidence: Confidence = Confidence.HIGH
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    waiver: Waiver | None = None

    @property
    def path(self) -> str | None:
        return self.locations[0].path if self.locations else None

    @property
    def line(self) -> int | None:
        return self.locations[0].line if self.locations else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "policy": self.policy,
            "title": self.title,
            "outcome": self.outcome.value,
            "severity": self.severity.value,
            "confidence": self.confidence.value,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "locations": [
                {"path": loc.path, "line": loc.line, "note": loc.note} for loc in self.locations
            ],
            "remediation": self.remediation,
            "details": self.details,
            "waiver": self.waiver.as_dict() if self.waiver else None,
        }


@dataclass(frozen=True)
class Waiver:
    """An accepted exception from governance.yml."""

    repository: str  # glob over RepoRef.name
    policy: str  # policy id or "*"
    reason: str
    owner: str
    expires: dt.date | None
    source_line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "policy": self.policy,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat() if self.expires else None,
        }


def name_matches(full_name: str, pattern: str) -> bool:
    """A repository glob matches the full name ("acme/api") or the short name ("api")."""
    short = full_name.rsplit("/", 1)[-1]
    return fnmatch.fnmatchcase(full_name, pattern) or fnmatch.fnmatchcase(short, pattern)


def compliance_of(counts: Mapping[str, int]) -> float | None:
    """The reports' compliance: (pass + waived) / (pass + fail + waived) in percent with one
    decimal, never 100.0 while something fails nor 0.0 while something passes; None when
    nothing is decided (not applicable, not available and errors count neither way)."""
    good = counts.get("pass", 0) + counts.get("waived", 0)
    bad = counts.get("fail", 0)
    if good + bad == 0:
        return None
    value = round(good * 100 / (good + bad), 1)
    if bad and value >= 100.0:
        return 99.9
    if good and value <= 0.0:
        return 0.1
    return value
