"""Benchmark nightly scans with history: a first scan of a synthetic org, then nightly
repeat scans recorded in the same store, with a few repositories changed each night.

    python bench/run_nightly.py --repos 10000 --nights 3 --change 1.0   # Markdown table
    python bench/run_nightly.py --repos 1000 --compare-full             # plus a --full night
    python bench/run_nightly.py measure ORG DB [--full]                 # one scan, JSON line

Each scan runs in a fresh Python process (`measure`) through governance.scan.run_scan with
the store, as `governance scan local:ORG` does, and reports: wall time, repositories
scanned and reused, git processes started (the local provider's "requests": listing reads
each head with one `git rev-parse`; a scanned repository costs `ls-tree` and a
`cat-file --batch`), the store's size after the scan and the process's peak memory.
Reports are not rendered (bench/run_local.py measures rendering).

Between nights, `--change` percent of the repositories get a new commit (deterministic):
a file added, and for one in four of them README.md deleted (a new failure of
readme-present, so the diff has something to say).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit import FIGURE, TEXT, titled_table
from synthetic_org import _ENV, generate

DEFAULT_FOLDER = Path(tempfile.gettempdir()) / "governance-bench"


def _mb(size: float) -> float:
    return round(size / (1024 * 1024), 1)


def measure(org: Path, db: Path, full: bool) -> dict[str, Any]:
    """One scan of `org` recorded in `db`, in this process."""
    git_processes = 0
    original = subprocess.Popen

    class CountingPopen(original):  # type: ignore[misc,valid-type]
        def __init__(self, args: Any, *rest: Any, **options: Any) -> None:
            nonlocal git_processes
            if isinstance(args, (list, tuple)) and args and args[0] == "git":
                git_processes += 1
            super().__init__(args, *rest, **options)

    subprocess.Popen = CountingPopen  # type: ignore[misc]
    from governance.scan import ScanRequest, run_scan

    out = Path(tempfile.mkdtemp(prefix="governance-nightly-out-"))
    os.chdir(out)  # no ./governance.yml is picked up by accident
    started = time.perf_counter()
    outcome = run_scan(ScanRequest(f"local:{org}", store=db, full=full), out)
    elapsed = time.perf_counter() - started
    subprocess.Popen = original  # type: ignore[misc]
    changes = outcome.meta.get("changes") or {}
    counts = changes.get("counts") or {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    (out / "findings.jsonl").unlink()
    out.rmdir()
    return {
        "scan_id": outcome.scan_id,
        "repositories": outcome.stats.repositories,
        "findings": sum(outcome.stats.outcomes.values()),
        "scanned": outcome.done["scanned"] + outcome.done["failed"],
        "reused": outcome.done["reused"],
        "git_processes": git_processes,
        "scan_s": round(elapsed, 2),
        "repos_per_s": round(outcome.stats.repositories / elapsed, 1),
        "store_bytes": db.stat().st_size + _size(db.with_name(db.name + "-wal")),
        "maxrss_mb": round(peak / 1024, 1),
        "new_failures": counts.get("new_failures", 0),
        "fixed": counts.get("fixed", 0),
    }


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def change(org: Path, percent: float, night: int, seed: int) -> list[str]:
    """Give `percent` % of the repositories a new commit; returns their names."""
    repositories = sorted(p for p in org.iterdir() if p.is_dir())
    rng = random.Random(f"{seed}:night:{night}")
    chosen = rng.sample(repositories, max(1, round(len(repositories) * percent / 100)))
    for index, path in enumerate(chosen):
        note = f"night {night}\n".encode()
        stream = (
            b"commit refs/heads/main\n"
            + f"committer bench <bench@example.invalid> {1767225600 + night * 86400} +0000\n"
            .encode()
            + f"data {len(note)}\n".encode() + note
            + b"from refs/heads/main^0\n"
            + f"M 100644 inline NIGHTLY.md\ndata {len(note)}\n".encode() + note
            + (b"D README.md\n" if index % 4 == 0 else b"")
            + b"\n"
        )
        subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=stream,
                       check=True, env=_ENV, capture_output=True)
    return [p.name for p in chosen]


def _measure_in_process(org: Path, db: Path, full: bool) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "measure", str(org), str(db)]
    if full:
        command.append("--full")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measurement failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


_COLUMNS = (
    ("night", FIGURE), ("scan", TEXT), ("changed", FIGURE), ("scanned", FIGURE),
    ("reused", FIGURE), ("git processes", FIGURE), ("scan s", FIGURE), ("repos/s", FIGURE),
    ("store MB", FIGURE), ("growth MB", FIGURE), ("ru_maxrss MB", FIGURE),
    ("new failures", FIGURE), ("fixed", FIGURE),
)


def run(repos: int, folder: Path, seed: int, nights: int, percent: float,
        compare_full: bool) -> None:
    # A copy of the org of its own: nights change repositories, run_local's org stays.
    started = time.perf_counter()
    org = generate(folder / f"nightly-{repos}-seed{seed}", repos, seed)
    print(f"org of {repos} repositories ready ({time.perf_counter() - started:.0f} s)",
          file=sys.stderr)
    db = folder / f"nightly-{repos}-seed{seed}.db"
    for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)
    rows = []
    plan = [("first", False)] + [("nightly", False)] * nights
    if compare_full:
        plan.append(("nightly --full", True))
    before = 0
    for night, (label, full) in enumerate(plan):
        changed = change(org, percent, night, seed) if night else []
        row = _measure_in_process(org, db, full)
        row.update(night=night, mode=label, changed=len(changed),
                   growth_bytes=row["store_bytes"] - before)
        before = row["store_bytes"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    setting = (f"{repos} repositories, pack gitops-baseline, "
               f"{percent} % of repositories changed per night")
    print("\n" + titled_table(setting, _COLUMNS, [(
        r["night"], r["mode"], r["changed"], r["scanned"], r["reused"], r["git_processes"],
        r["scan_s"], r["repos_per_s"], _mb(r["store_bytes"]), _mb(r["growth_bytes"]),
        r["maxrss_mb"], r["new_failures"], r["fixed"]) for r in rows]))


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["measure"]:
        parser = argparse.ArgumentParser(prog="run_nightly.py measure")
        parser.add_argument("org", type=Path)
        parser.add_argument("db", type=Path)
        parser.add_argument("--full", action="store_true")
        options = parser.parse_args(args[1:])
        print(json.dumps(measure(options.org.resolve(), options.db.resolve(), options.full)))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=10000)
    parser.add_argument("--nights", type=int, default=3, help="repeat scans after the first")
    parser.add_argument("--change", type=float, default=1.0,
                        help="percent of repositories given a new commit each night")
    parser.add_argument("--compare-full", action="store_true",
                        help="end with a `--full` repeat scan for comparison")
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER,
                        help=f"where the org and the store are kept ({DEFAULT_FOLDER})")
    parser.add_argument("--seed", type=int, default=7)
    options = parser.parse_args(args)
    run(options.repos, options.folder.resolve(), options.seed, options.nights, options.change,
        options.compare_full)


if __name__ == "__main__":
    main()
