"""Benchmark a `local:` scan of a synthetic org: throughput of scan and render, peak memory.

    python bench/run_local.py --repos 100 1000            # generate (cached), measure, table
    python bench/run_local.py --repos 1000 --profile      # also cProfile the scan
    python bench/run_local.py measure ORG_FOLDER          # one measurement, one JSON line

Every measurement runs in a fresh Python process so that ru_maxrss is that run's own
peak. Two processes per size: one timed (no tracing), one under tracemalloc for the peak
of Python allocations during the scan and during the render (tracing slows Python down,
so its times are not reported). The scan goes through governance.scan.run_scan and the
render through governance.render.write_reports, as `governance scan` does.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchkit import FIGURE, hot_spots, run_child, scan_folder, titled_table

DEFAULT_FOLDER = Path(tempfile.gettempdir()) / "governance-bench"


def _mb(kilobytes: int) -> float:
    return round(kilobytes / 1024, 1)  # ru_maxrss is in KiB on Linux


def measure(org: Path, pack: str | None, trace: bool, profile: Path | None) -> dict[str, Any]:
    """Scan and render `org` once, in this process."""
    from governance.render import write_reports
    from governance.scan import ScanRequest, run_scan

    with scan_folder("governance-bench-out-") as out:
        if trace:
            tracemalloc.start()
        profiler = cProfile.Profile() if profile else None

        started = time.perf_counter()
        if profiler:
            profiler.enable()
        outcome = run_scan(ScanRequest(f"local:{org}", None, pack), out)
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile))
        scanned = time.perf_counter()
        scan_peak = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.reset_peak()

        written = write_reports(outcome.spool, outcome.meta, out)
        rendered = time.perf_counter()
        render_peak = tracemalloc.get_traced_memory()[1] if trace else None

        repos = outcome.stats.repositories
        scan_s, render_s = scanned - started, rendered - scanned
        sizes = {p.name: p.stat().st_size for p in written}
    return {
        "repositories": repos,
        "findings": sum(outcome.stats.outcomes.values()),
        "outcomes": dict(outcome.stats.outcomes),
        "policies": len(outcome.meta["policies"]),  # type: ignore[arg-type]
        "scan_s": round(scan_s, 2),
        "scan_repos_per_s": round(repos / scan_s, 1) if scan_s else None,
        "render_s": round(render_s, 2),
        "render_repos_per_s": round(repos / render_s, 1) if render_s else None,
        "report_bytes": sizes,
        "maxrss_mb": _mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "maxrss_children_mb": _mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss),
        "tracemalloc_scan_peak_mb": round(scan_peak / 2**20, 1) if scan_peak else None,
        "tracemalloc_render_peak_mb": round(render_peak / 2**20, 1) if render_peak else None,
    }


def _child(org: Path, pack: str | None, trace: bool, profile: Path | None) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "measure", str(org)]
    command += ["--pack", pack] if pack else []
    command += ["--trace"] if trace else []
    command += ["--profile-to", str(profile)] if profile else []
    return run_child(command, f"measurement failed for {org}")


_COLUMNS = tuple((title, FIGURE) for title in (
    "repos", "policies", "findings", "scan s", "scan repos/s", "render s", "render repos/s",
    "ru_maxrss MB (git children)", "tracemalloc peak MB scan / render"))


def run(sizes: list[int], folder: Path, seed: int, pack: str | None, profile: bool) -> None:
    from synthetic_org import generate  # here: the measuring children need not load it

    rows = []
    for size in sizes:
        started = time.perf_counter()
        org = generate(folder / f"seed{seed}-n{size}", size, seed)
        print(f"[{size}] org ready in {time.perf_counter() - started:.1f} s: {org}",
              file=sys.stderr)
        profile_path = folder / f"scan-n{size}.prof" if profile else None
        timed = _child(org, pack, trace=False, profile=None)
        traced = _child(org, pack, trace=True, profile=None)
        if profile_path:
            _child(org, pack, trace=False, profile=profile_path)
            print(hot_spots(profile_path, 25), file=sys.stderr)
            print(f"[{size}] profile written to {profile_path}", file=sys.stderr)
        row = {**timed, "tracemalloc_scan_peak_mb": traced["tracemalloc_scan_peak_mb"],
               "tracemalloc_render_peak_mb": traced["tracemalloc_render_peak_mb"]}
        print(json.dumps(row), file=sys.stderr)
        rows.append(row)

    cells = [(r["repositories"], r["policies"], r["findings"], r["scan_s"],
              r["scan_repos_per_s"], r["render_s"], r["render_repos_per_s"],
              f"{r['maxrss_mb']} ({r['maxrss_children_mb']})",
              f"{r['tracemalloc_scan_peak_mb']} / {r['tracemalloc_render_peak_mb']}")
             for r in rows]
    setting = f"pack {pack or 'from config / gitops-baseline'}"
    print("\n" + titled_table(setting, _COLUMNS, cells))


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["measure"]:
        parser = argparse.ArgumentParser(prog="run_local.py measure")
        parser.add_argument("org", type=Path)
        parser.add_argument("--pack")
        parser.add_argument("--trace", action="store_true")
        parser.add_argument("--profile-to", type=Path)
        options = parser.parse_args(args[1:])
        result = measure(options.org.resolve(), options.pack, options.trace, options.profile_to)
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER,
                        help=f"where synthetic orgs are generated and kept ({DEFAULT_FOLDER})")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pack", help="pack name or path (default: gitops-baseline)")
    parser.add_argument("--profile", action="store_true", help="cProfile the scan too")
    options = parser.parse_args(args)
    run(options.repos, options.folder.resolve(), options.seed, options.pack, options.profile)


if __name__ == "__main__":
    main()
