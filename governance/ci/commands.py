"""What a repository's CI runs, across CI systems: the evidence `iac-linted` looks for.

Each Invocation is one thing a pipeline executes or pulls in: a shell command line, an
action or orb it uses, a container image it runs in, a pre-commit hook or make target
reached from CI. Located, so findings can point at the line that lints (or should).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

InvocationKind = Literal["run", "uses", "image", "hook", "make", "include"]


@dataclass(frozen=True)
class Invocation:
    system: str  # "GitHub Actions", "GitLab CI", "Jenkins", ...
    kind: InvocationKind
    text: str  # the command line, action reference, image name, hook id or target name
    path: str
    line: int | None = None
