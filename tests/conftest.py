"""Shared helpers: the test-only policies, scans of real git repositories, the real CLI.

Helpers are fixtures (tests are imported with --import-mode=importlib, so they cannot
import each other).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from governance.scan import ScanOutcome, ScanRequest, run_scan

FIXTURE_POLICIES = Path(__file__).resolve().parent / "policies_fixture"


_FORGE_ENVIRONMENT = (
    "GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY_FILE",
    "GITLAB_TOKEN", "GITLAB_URL", "GH_TOKEN",
)


@pytest.fixture(autouse=True)
def _no_forge_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A developer's real token must never send a test to a real forge, and no test may
    read or fill the developer's own forge cache (~/.cache/governance)."""
    for name in _FORGE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a governance.yml using the test-only policies; returns its path."""

    def write(body: str = "", *, pack: str = "fixture-all", name: str = "governance.yml",
              folder: Path | None = None) -> Path:
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        header = f"pack: {pack}\npolicy_paths: [{json.dumps(str(FIXTURE_POLICIES))}]\n"
        path.write_text(header + body, encoding="utf-8")
        return path

    return write


@dataclass
class Scanned:
    outcome: ScanOutcome
    findings: list[dict[str, Any]]

    def of(self, repository: str, policy: str) -> dict[str, Any]:
        (found,) = [f for f in self.findings
                    if f["repository"] == repository and f["policy"] == policy]
        return found

    @property
    def repositories(self) -> set[str]:
        return {f["repository"] for f in self.findings}


@pytest.fixture
def scan_source(tmp_path: Path) -> Callable[..., Scanned]:
    """run_scan over a source with a config; findings read back from the spool."""
    counter = iter(range(1_000_000))

    def run(source: Path | str, config: Path, **request: Any) -> Scanned:
        spool = tmp_path / f"spool-{next(counter)}"
        outcome = run_scan(ScanRequest(f"local:{source}" if isinstance(source, Path)
                                       else source, config, **request), spool)
        lines = outcome.spool.read_text(encoding="utf-8").splitlines()
        return Scanned(outcome, [json.loads(line) for line in lines])

    return run


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout and stderr with rich's line wrapping undone."""
        return " ".join((self.out + " " + self.err).split())


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., CliResult]]:
    """Run `governance ARGS` through cli.main() (the exit-code mapping) in tmp_path."""
    from governance.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")  # rich reads it on every print: no wrapped paths

    def run(*args: str, env: Mapping[str, str] | None = None) -> CliResult:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setattr(sys, "argv", ["governance", *args])
        out, err = io.StringIO(), io.StringIO()
        code: int
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            else:  # pragma: no cover - main() always exits
                code = 0
        return CliResult(code, out.getvalue(), err.getvalue())

    yield run
