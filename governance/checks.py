"""What a policy's check.py codes against: the context it receives and the result it returns.

    from governance.checks import CheckContext, Result, failed, passed

    def check(ctx: CheckContext) -> Result:
        if ctx.files.glob("README*"):
            return passed("README found")
        return failed("no README")

A check never calls an API: it reads `ctx.files` (the committed tree and the files its
policy.yml declares under `reads:`) and `ctx.files.setting(...)`. Raising
`Unsupported` yields `not_available`; raising `FileProblem` yields an `error` finding that
points at the file; any other exception is a bug in the check and yields `error` too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from governance.models import Confidence, Location, Outcome, RepoRef
from governance.snapshot import RepoFiles


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    message: str
    locations: tuple[Location, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    confidence: Confidence = Confidence.HIGH


@dataclass(frozen=True)
class CheckContext:
    repo: RepoRef
    files: RepoFiles
    options: Mapping[str, Any]


def _result(
    outcome: Outcome,
    message: str,
    locations: tuple[Location, ...] | list[Location] = (),
    details: dict[str, Any] | None = None,
    confidence: Confidence = Confidence.HIGH,
) -> Result:
    return Result(outcome, message, tuple(locations), details or {}, confidence)


def passed(message: str, locations: tuple[Location, ...] | list[Location] = (),
           details: dict[str, Any] | None = None,
           confidence: Confidence = Confidence.HIGH) -> Result:
    return _result(Outcome.PASS, message, locations, details, confidence)


def failed(message: str, locations: tuple[Location, ...] | list[Location] = (),
           details: dict[str, Any] | None = None,
           confidence: Confidence = Confidence.HIGH) -> Result:
    return _result(Outcome.FAIL, message, locations, details, confidence)


def not_applicable(message: str, details: dict[str, Any] | None = None) -> Result:
    return _result(Outcome.NOT_APPLICABLE, message, (), details)


def not_available(message: str, locations: tuple[Location, ...] | list[Location] = (),
                  details: dict[str, Any] | None = None) -> Result:
    return _result(Outcome.NOT_AVAILABLE, message, locations, details)


def plural(count: int, noun: str) -> str:
    """'1 workflow', '3 workflows'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
