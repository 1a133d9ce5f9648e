"""What the benchmark scripts share: the checkout on sys.path, measuring children, forge
request counts, the fake GitHub served with latency, Markdown tables.

The scripts run as `python bench/x.py`, so bench/ is first on sys.path and they import this
module as `from benchkit import ...` (bench/ is scripts, not a package). Importing it puts
the checkout next on sys.path: `tests.fakes` (the fake forges the tests use) and
`governance` come from this working tree.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from governance.scan import ScanOutcome
    from tests.fakes.github import FakeGitHub

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))  # after bench/, before site-packages

# The fakes' rate limits: high enough that the request budget is counted, not throttled.
RATE_LIMIT = 1_000_000
# Credentials and URLs of real forges: a scanning child must reach the fake forge alone.
FORGE_ENVIRONMENT = ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_APP_ID",
                     "GITHUB_APP_PRIVATE_KEY_FILE", "GH_TOKEN", "GITLAB_TOKEN", "GITLAB_URL",
                     "CI_JOB_TOKEN", "CI_SERVER_URL")
# Markdown column alignments: figures to the right, text (and "a / b" groups) to the left.
FIGURE = "---:"
TEXT = "---"

Result = TypeVar("Result")


# ---------------------------------------------------------------------------- memory, CPU


def peak_rss_mb() -> float:
    """The peak resident memory of this process: VmHWM, the high-water mark of its own
    address space. ru_maxrss is not used for the figure: Linux carries it across exec from
    the address space it replaced, which for a scanning child is a copy of the parent holding
    the fake forge, so a child's ru_maxrss is at least the forge's size at the time of the
    fork."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds(before: resource.struct_rusage, after: resource.struct_rusage) -> float:
    """User and system CPU time between two getrusage() readings, in seconds."""
    return round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)


# ---------------------------------------------------------------------------- children


def child_environment(**settings: str) -> dict[str, str]:
    """This process's environment without FORGE_ENVIRONMENT, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in FORGE_ENVIRONMENT}
    env.update(settings)
    return env


def child_answer(returncode: int, stdout: str, stderr: str, failure: str,
                 stderr_tail: int | None = None) -> dict[str, Any]:
    """The last line a measuring child printed, a JSON object. A child that failed: its
    stderr (the last `stderr_tail` characters) and SystemExit(failure)."""
    if returncode != 0:
        sys.stderr.write(stderr if stderr_tail is None else stderr[-stderr_tail:])
        raise SystemExit(failure)
    answer: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    return answer


def run_child(command: Sequence[str], failure: str, env: Mapping[str, str] | None = None,
              stderr_tail: int | None = None) -> dict[str, Any]:
    """Run a measuring child to its end; its JSON answer (see child_answer)."""
    process = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    return child_answer(process.returncode, process.stdout, process.stderr, failure,
                        stderr_tail)


def in_scratch_folder(prefix: str, work: Callable[[Path], Result]) -> Result:
    """`work` done in a fresh temporary folder, deleted afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix, ignore_cleanup_errors=True) as folder:
        return work(Path(folder))


def hot_spots(profile: Path, limit: int) -> str:
    """A cProfile dump's `limit` top functions by own time, then by cumulative time."""
    import pstats  # here: scanning children import this module and need not load it

    text = io.StringIO()
    stats = pstats.Stats(str(profile), stream=text)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return text.getvalue()


# ---------------------------------------------------------------------------- one scan


@contextmanager
def scan_folder(prefix: str) -> Iterator[Path]:
    """A fresh report folder, the working directory while the scan runs (so no
    ./governance.yml is picked up by accident); deleted afterwards."""
    out = Path(tempfile.mkdtemp(prefix=prefix))
    os.chdir(out)
    try:
        yield out
    finally:
        os.chdir(tempfile.gettempdir())
        shutil.rmtree(out)


def scan_figures(outcome: ScanOutcome) -> dict[str, Any]:
    """What a scan found: repositories, findings, errors, outcomes, repositories done."""
    return {
        "repositories": outcome.stats.repositories,
        "findings": sum(outcome.stats.outcomes.values()),
        "errors": outcome.stats.outcomes.get("error", 0),
        "outcomes": dict(outcome.stats.outcomes),
        "done": dict(outcome.done),
    }


# ---------------------------------------------------------------------------- forges


class CountingForge(Protocol):
    """What the fake GitHub and the fake GitLab both count requests with."""

    def count(self, counted_only: bool = True, *, path: str | None = None,
              status: int | None = None) -> int: ...

    def reset_counts(self) -> None: ...


@dataclass(frozen=True)
class Matching:
    """Requests by path (an fnmatch glob, as the fakes match it) and / or status."""

    path: str | None = None
    status: int | None = None


def request_counts(forge: CountingForge,
                   kinds: Mapping[str, Matching | tuple[Matching, ...] | int]
                   ) -> dict[str, int]:
    """The forge's requests since its counts were reset: all of them, those counted against
    a rate limit, then one figure per kind: the requests matching it (any of a tuple), or a
    figure worked out by the caller."""
    def matching(kind: Matching) -> int:
        return forge.count(counted_only=False, path=kind.path, status=kind.status)

    counts = {"requests": forge.count(counted_only=False), "counted": forge.count()}
    for name, kind in kinds.items():
        if isinstance(kind, int):
            counts[name] = kind
        elif isinstance(kind, Matching):
            counts[name] = matching(kind)
        else:
            counts[name] = sum(matching(each) for each in kind)
    return counts


def scan_against(forge: CountingForge, command: Sequence[str], env: Mapping[str, str],
                 counts: Callable[[], dict[str, int]], stderr_tail: int | None = None
                 ) -> dict[str, Any]:
    """Run a scanning child against `forge`, counted from zero: its JSON answer, `counts()`,
    the CPU time of this process (the forge) meanwhile, and the load average (other work on
    the machine skews times)."""
    forge.reset_counts()
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = run_child(command, "measurement failed", env, stderr_tail)
    after = resource.getrusage(resource.RUSAGE_SELF)
    result.update(counts())
    result["forge_cpu_s"] = cpu_seconds(before, after)
    result["load_1m"] = round(os.getloadavg()[0], 2)
    return result


@contextmanager
def serving_github(label: str, seed: Callable[[FakeGitHub], None], latency_ms: int
                   ) -> Iterator[FakeGitHub]:
    """The fake GitHub, seeded by `seed`, served on 127.0.0.1 with RATE_LIMIT and
    `latency_ms` added to every request (the fake sleeps outside its lock, so concurrent
    requests overlap)."""
    from tests.fakes.github import FakeGitHub

    forge = FakeGitHub(core_limit=RATE_LIMIT, graphql_limit=RATE_LIMIT)
    started = time.perf_counter()
    seed(forge)
    print(f"[{label}] fake forge seeded in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    if latency_ms:
        forge.inject_fault("latency", "*", count=None, latency_ms=latency_ms)
    with forge.running():
        yield forge
    if forge.server_errors:
        raise SystemExit("the fake forge crashed:\n" + forge.server_errors[0])


# ---------------------------------------------------------------------------- output


def add_forge_options(parser: argparse.ArgumentParser, *, store_and_fetch: bool) -> None:
    """The options of every forge benchmark: latency, seed, the JSON rows; with
    `store_and_fetch` the store switch and the provider's --fetch too."""
    parser.add_argument("--latency-ms", type=int, default=50,
                        help="added to every request to the fake forge (default 50)")
    parser.add_argument("--seed", type=int, default=7)
    if store_and_fetch:
        parser.add_argument("--no-store", action="store_true",
                            help="scan without the SQLite store (`--no-db`)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    if store_and_fetch:
        parser.add_argument("--fetch", choices=("auto", "api", "clone"), default="auto",
                            help="the provider's --fetch (default auto)")


def publish(rows: list[dict[str, Any]], table: str, json_file: Path | None) -> None:
    """The rows to `json_file` if one is given; the table on stdout after a blank line."""
    if json_file:
        json_file.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print("\n" + table)


def titled_table(setting: str, columns: Sequence[tuple[str, str]],
                 rows: Iterable[Sequence[object]]) -> str:
    """A header line (the interpreter, the CPU count, then `setting`), a blank line and the
    Markdown table."""
    machine = (f"{platform.python_implementation()} {platform.python_version()}, "
               f"{os.cpu_count()} CPUs")
    return f"{machine}, {setting}\n\n{markdown_table(columns, rows)}"


def markdown_table(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[object]]
                   ) -> str:
    """A Markdown table: `columns` are (title, FIGURE or TEXT), a row one value a column."""
    def line(cells: Iterable[object]) -> str:
        return "| " + " | ".join(str(cell) for cell in cells) + " |"

    width = len(columns)
    lines = [line(title for title, _ in columns),
             "|" + "|".join(align for _, align in columns) + "|"]
    for cells in rows:
        if len(cells) != width:
            raise ValueError(f"a row of {len(cells)} cells in a table of {width} columns")
        lines.append(line(cells))
    return "\n".join(lines)
