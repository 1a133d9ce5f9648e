"""Benchmark `github:ORG` scans against the fake GitHub with added latency: API requests per
repository (cold and repeat), wall time, peak memory.

    python bench/run_github.py --repos 1000 10000                 # Markdown table on stdout
    python bench/run_github.py --repos 1000 --concurrency 4 8 16  # the effect of concurrency
    python bench/run_github.py --repos 1000 --latency-ms 0        # no latency: CPU alone
    python bench/run_github.py measure github:ORG --cache-dir D   # one scan, one JSON line

The fake forge (tests/fakes/github.py, the one the tests use) is served by this process on
127.0.0.1, with rate limits raised to 1,000,000 so that the budget is measured, not
throttled, and `--latency-ms` added to every request (a latency fault on every path,
forever; the sleep happens outside the fake's lock, so concurrent requests overlap). It
holds an org of N repositories with the files of bench/synthetic_org.py (the same
deterministic mix as the `local:` benchmarks) plus forge settings: classic protection of
`main` on some repositories, repository rulesets on others, an active organization ruleset
for one repository in ten and an evaluate-only one for all.

For each size and concurrency, two scans run one after the other, each in a fresh Python
process (`measure`) through governance.scan.run_scan, as `governance scan github:ORG`
does (GITHUB_TOKEN and GITHUB_API_URL in the environment, pack gitops-baseline): a cold
scan with an empty cache folder and an empty store, then a repeat scan of the unchanged org
with the same cache folder and store. Reports are not rendered (bench/run_local.py and
bench/render_large.py measure rendering). The fake counts the requests of each scan:
all of them, those counted against a rate limit (a `304 Not Modified` is not), and the
304s. CPU time of the scanning process and of this one (the forge) during each scan.
Memory: the peak resident memory of the scanning process (VmHWM, see `benchkit.peak_rss_mb`),
and with `--trace` the tracemalloc peak of a second, traced, pair of scans (times not
reported).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import resource
import shutil
import sys
import time
import tracemalloc
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchkit import (
    FIGURE,
    TEXT,
    Matching,
    add_forge_options,
    child_environment,
    cpu_seconds,
    hot_spots,
    in_scratch_folder,
    peak_rss_mb,
    publish,
    request_counts,
    scan_against,
    scan_figures,
    scan_folder,
    serving_github,
    titled_table,
)
from synthetic_org import repository_files

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

ORG = "acme"


# ---------------------------------------------------------------------------- one scan


def measure(source: str, cache_dir: Path, concurrency: int, store: Path | None, trace: bool,
            profile: Path | None, fetch: str = "auto") -> dict[str, Any]:
    """One scan of `source`, in this process (credentials and URL from the environment)."""
    from governance.scan import ScanRequest, run_scan

    with scan_folder("governance-github-bench-out-") as out:
        request = ScanRequest(source, store=store,
                              github={"cache_dir": cache_dir, "concurrency": concurrency,
                                      "fetch": fetch})
        if trace:
            tracemalloc.start()
        profiler = cProfile.Profile() if profile else None
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        outcome = run_scan(request, out)
        if profiler:
            profiler.disable()
            profiler.dump_stats(str(profile))
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        **scan_figures(outcome),
        "scan_s": round(elapsed, 2),
        "cpu_s": cpu_seconds(before, usage),
        "peak_rss_mb": peak_rss_mb(),
        "maxrss_mb": round(usage.ru_maxrss / 1024, 1),  # see benchkit.peak_rss_mb
        "tracemalloc_peak_mb": round(peak / 2**20, 1) if peak is not None else None,
    }


# ---------------------------------------------------------------------------- the forge


def seed_forge(forge: FakeGitHub, repos: int, seed: int) -> None:
    """The org: synthetic_org's files for repository i, and forge settings (deterministic)."""
    forge.add_org(ORG)
    for index in range(repos):
        name = f"svc-{index:04d}"
        forge.add_repo(ORG, name, files=repository_files(seed, index),
                       topics=["service"] if index % 3 else ["service", "terraform"])
        rng = random.Random(f"{seed}:settings:{index}")
        roll = rng.random()
        if roll < 0.3:  # classic protection of the default branch
            forge.protect_branch(
                ORG, name, "main", required_approving_review_count=rng.choice([None, 1, 2]),
                enforce_admins=rng.random() < 0.5, dismiss_stale_reviews=rng.random() < 0.5,
                required_status_checks=["ci"] if rng.random() < 0.5 else None)
        elif roll < 0.45:  # a repository ruleset
            forge.add_ruleset(ORG, name, required_approving_review_count=rng.choice([1, 2]),
                              require_code_owner_review=rng.random() < 0.3,
                              rules=[{"type": "deletion"}, {"type": "non_fast_forward"}])
    forge.add_ruleset(ORG, None, name="org: reviews on services ending in 5",
                      repositories=["svc-*5"], required_approving_review_count=1)
    forge.add_ruleset(ORG, None, name="org: evaluate linear history", enforcement="evaluate",
                      rules=[{"type": "required_linear_history"}])


def serving(repos: int, seed: int, latency_ms: int) -> AbstractContextManager[FakeGitHub]:
    return serving_github(f"{repos}", lambda forge: seed_forge(forge, repos, seed), latency_ms)


def _requests(forge: FakeGitHub) -> dict[str, int]:
    with forge.lock:
        graphql_points = sum(r.cost for r in forge.requests if r.resource == "graphql")
        files = sum(r.graphql_query.count("object(oid:") for r in forge.requests
                    if "GovernanceBlobs" in r.graphql_query)
    return request_counts(forge, {
        "not_modified": Matching(status=304),
        "listing": Matching(path=f"/orgs/{ORG}/repos"),
        "graphql": forge.count(counted_only=False, resource="graphql"),
        "graphql_points": graphql_points,
        "trees": Matching(path="/repos/*/git/trees/*"),
        "blobs": Matching(path="/repos/*/git/blobs/*"),
        "files_fetched": files,  # blobs asked for in batched GraphQL queries
        "retried": (Matching(status=500), Matching(status=502)),
    })


def _child(forge: FakeGitHub, cache_dir: Path, concurrency: int, store: Path | None,
           trace: bool, profile: Path | None, fetch: str) -> dict[str, Any]:
    from tests.fakes.github import DEFAULT_TOKEN

    env = child_environment(GITHUB_TOKEN=DEFAULT_TOKEN, GITHUB_API_URL=forge.url,
                            XDG_CACHE_HOME=str(cache_dir.parent / "xdg"))
    command = [sys.executable, str(Path(__file__).resolve()), "measure", f"github:{ORG}",
               "--cache-dir", str(cache_dir), "--concurrency", str(concurrency),
               "--fetch", fetch]
    command += ["--store", str(store)] if store else []
    command += ["--trace"] if trace else []
    command += ["--profile-to", str(profile)] if profile else []
    return scan_against(forge, command, env, lambda: _requests(forge))


def run(sizes: list[int], concurrencies: list[int], latency_ms: int, seed: int,
        use_store: bool, trace: bool, profile: bool, folder: Path, fetch: str = "auto"
        ) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for size in sizes:
        with serving(size, seed, latency_ms) as forge:
            for concurrency in concurrencies:
                work = folder / f"n{size}-c{concurrency}"
                shutil.rmtree(work, ignore_errors=True)
                pairs = [("timed", False)] + ([("traced", True)] if trace else [])
                measured: dict[str, dict[str, dict[str, Any]]] = {}
                for label, traced in pairs:
                    cache = work / label / "cache"
                    store = work / label / "governance.db" if use_store else None
                    cache.mkdir(parents=True)
                    for kind in ("cold", "repeat"):
                        prof = work / f"{kind}.prof" if profile and not traced else None
                        result = _child(forge, cache, concurrency, store, traced, prof, fetch)
                        print(f"[{size} c{concurrency} {label} {kind}] {json.dumps(result)}",
                              file=sys.stderr)
                        if prof:
                            print(hot_spots(prof, 30), file=sys.stderr)
                        measured.setdefault(kind, {})[label] = result
                for kind in ("cold", "repeat"):
                    row = {**measured[kind]["timed"], "size": size, "kind": kind,
                           "concurrency": concurrency, "latency_ms": latency_ms}
                    if trace:
                        row["tracemalloc_peak_mb"] = measured[kind]["traced"][
                            "tracemalloc_peak_mb"]
                    rows.append(row)
                shutil.rmtree(work, ignore_errors=True)
        print(f"[{size}] peak RSS of this process (the fake forge) so far: "
              f"{peak_rss_mb():.0f} MB", file=sys.stderr)
    return rows


_COLUMNS = (
    ("repos", FIGURE), ("scan", TEXT), ("concurrency", FIGURE), ("latency ms", FIGURE),
    ("wall s", FIGURE), ("repos/s", FIGURE), ("requests", FIGURE), ("counted", FIGURE),
    ("counted / repo", FIGURE), ("304s", FIGURE), ("listing / GraphQL / trees / blobs", TEXT),
    ("GraphQL points", FIGURE), ("files fetched", FIGURE), ("scanner / forge CPU s", TEXT),
    ("peak RSS MB", FIGURE), ("tracemalloc peak MB", FIGURE), ("errors", FIGURE),
)


def table(rows: list[dict[str, Any]], use_store: bool) -> str:
    cells = []
    for r in rows:
        peak = r.get("tracemalloc_peak_mb")
        cells.append((
            r["repositories"], r["kind"], r["concurrency"], r["latency_ms"], r["scan_s"],
            f"{r['repositories'] / r['scan_s']:.1f}", r["requests"], r["counted"],
            f"{r['counted'] / (r['repositories'] or 1):.3f}", r["not_modified"],
            f"{r['listing']} / {r['graphql']} / {r['trees']} / {r['blobs']}",
            r["graphql_points"], r["files_fetched"], f"{r['cpu_s']} / {r['forge_cpu_s']}",
            r["peak_rss_mb"], peak if peak is not None else "-", r["errors"]))
    store = "on (governance.db, as `governance scan` by default)" if use_store else "off"
    return titled_table(f"pack gitops-baseline, store {store}", _COLUMNS, cells)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["measure"]:
        parser = argparse.ArgumentParser(prog="run_github.py measure")
        parser.add_argument("source")
        parser.add_argument("--cache-dir", type=Path, required=True)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--store", type=Path)
        parser.add_argument("--trace", action="store_true")
        parser.add_argument("--profile-to", type=Path)
        parser.add_argument("--fetch", default="auto")
        options = parser.parse_args(args[1:])
        print(json.dumps(measure(options.source, options.cache_dir.resolve(),
                                 options.concurrency,
                                 options.store.resolve() if options.store else None,
                                 options.trace, options.profile_to, options.fetch)))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--repos", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4],
                        help="the provider's --concurrency; several values: one pair each")
    parser.add_argument("--trace", action="store_true",
                        help="a second pair of scans under tracemalloc for its peak")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the timed scans (hot spots on stderr)")
    add_forge_options(parser, store_and_fetch=True)
    options = parser.parse_args(args)
    rows = in_scratch_folder("governance-github-bench-", lambda folder: run(
        options.repos, options.concurrency, options.latency_ms, options.seed,
        not options.no_store, options.trace, options.profile, folder, options.fetch))
    publish(rows, table(rows, not options.no_store), options.json)

if __name__ == "__main__":
    main()
