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
Memory: the peak resident memory of the scanning process (VmHWM, see `_peak_rss_mb`),
and with `--trace` the tracemalloc peak of a second, traced, pair of scans (times not
reported).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORG = "acme"
RATE_LIMIT = 1_000_000
sys.path.insert(0, str(HERE))  # bench/ is scripts, not a package
sys.path.insert(1, str(ROOT))  # tests.fakes: the fake forge the tests use

from synthetic_org import repository_files  # noqa: E402  (a sibling script)

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

_FORGE_ENVIRONMENT = ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_APP_ID",
                      "GITHUB_APP_PRIVATE_KEY_FILE", "GH_TOKEN", "GITLAB_TOKEN", "GITLAB_URL")


# ---------------------------------------------------------------------------- one scan


def _peak_rss_mb() -> float:
    """The peak resident memory of this process: VmHWM, the high-water mark of its own
    address space. ru_maxrss is not used for the figure: Linux carries it across exec from
    the address space it replaced, which here is a copy of the parent holding the fake
    forge, so a child's ru_maxrss is at least the forge's size at the time of the fork."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)



def measure(source: str, cache_dir: Path, concurrency: int, store: Path | None, trace: bool,
            profile: Path | None, fetch: str = "auto") -> dict[str, Any]:
    """One scan of `source`, in this process (credentials and URL from the environment)."""
    from governance.scan import ScanRequest, run_scan

    out = Path(tempfile.mkdtemp(prefix="governance-github-bench-out-"))
    os.chdir(out)  # no ./governance.yml is picked up by accident
    request = ScanRequest(source, store=store,
                          github={"cache_dir": cache_dir, "concurrency": concurrency,
                                  "fetch": fetch})
    if trace:
        tracemalloc.start()
    profiler = cProfile.Profile() if profile else None
    before = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = before.ru_utime + before.ru_stime
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
    os.chdir(tempfile.gettempdir())
    shutil.rmtree(out)
    return {
        "repositories": outcome.stats.repositories,
        "findings": sum(outcome.stats.outcomes.values()),
        "errors": outcome.stats.outcomes.get("error", 0),
        "outcomes": dict(outcome.stats.outcomes),
        "done": dict(outcome.done),
        "scan_s": round(elapsed, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime - cpu_before, 2),
        "peak_rss_mb": _peak_rss_mb(),
        "maxrss_mb": round(usage.ru_maxrss / 1024, 1),  # see _peak_rss_mb
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


@contextmanager
def serving(repos: int, seed: int, latency_ms: int) -> Iterator[FakeGitHub]:
    from tests.fakes.github import FakeGitHub

    forge = FakeGitHub(core_limit=RATE_LIMIT, graphql_limit=RATE_LIMIT)
    started = time.perf_counter()
    seed_forge(forge, repos, seed)
    print(f"[{repos}] fake forge seeded in {time.perf_counter() - started:.1f} s",
          file=sys.stderr)
    if latency_ms:
        forge.inject_fault("latency", "*", count=None, latency_ms=latency_ms)
    with forge.running():
        yield forge
    if forge.server_errors:
        raise SystemExit("the fake forge crashed:\n" + forge.server_errors[0])


def _requests(forge: FakeGitHub) -> dict[str, int]:
    with forge.lock:
        graphql_points = sum(r.cost for r in forge.requests if r.resource == "graphql")
        files = sum(r.graphql_query.count("object(oid:") for r in forge.requests
                    if "GovernanceBlobs" in r.graphql_query)
    return {
        "requests": forge.count(counted_only=False),
        "counted": forge.count(),
        "not_modified": forge.count(counted_only=False, status=304),
        "listing": forge.count(counted_only=False, path=f"/orgs/{ORG}/repos"),
        "graphql": forge.count(counted_only=False, resource="graphql"),
        "graphql_points": graphql_points,
        "trees": forge.count(counted_only=False, path="/repos/*/git/trees/*"),
        "blobs": forge.count(counted_only=False, path="/repos/*/git/blobs/*"),
        "files_fetched": files,  # blobs asked for in batched GraphQL queries
        "retried": forge.count(counted_only=False, status=500)
        + forge.count(counted_only=False, status=502),
    }


def _child(forge: FakeGitHub, cache_dir: Path, concurrency: int, store: Path | None,
           trace: bool, profile: Path | None, fetch: str) -> dict[str, Any]:
    from tests.fakes.github import DEFAULT_TOKEN

    env = {k: v for k, v in os.environ.items() if k not in _FORGE_ENVIRONMENT}
    env.update(GITHUB_TOKEN=DEFAULT_TOKEN, GITHUB_API_URL=forge.url,
               XDG_CACHE_HOME=str(cache_dir.parent / "xdg"))
    command = [sys.executable, str(Path(__file__).resolve()), "measure", f"github:{ORG}",
               "--cache-dir", str(cache_dir), "--concurrency", str(concurrency),
               "--fetch", fetch]
    command += ["--store", str(store)] if store else []
    command += ["--trace"] if trace else []
    command += ["--profile-to", str(profile)] if profile else []
    forge.reset_counts()
    before = resource.getrusage(resource.RUSAGE_SELF)
    process = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    after = resource.getrusage(resource.RUSAGE_SELF)
    if process.returncode != 0:
        sys.stderr.write(process.stderr)
        raise SystemExit("measurement failed")
    result: dict[str, Any] = json.loads(process.stdout.strip().splitlines()[-1])
    result.update(_requests(forge))
    result["forge_cpu_s"] = round(after.ru_utime + after.ru_stime
                                  - before.ru_utime - before.ru_stime, 2)
    result["load_1m"] = round(os.getloadavg()[0], 2)  # other work on the machine skews times
    return result


def _hot_spots(profile: Path, limit: int = 30) -> str:
    text = io.StringIO()
    stats = pstats.Stats(str(profile), stream=text)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)
    return text.getvalue()


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
                            print(_hot_spots(prof), file=sys.stderr)
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
              f"{_peak_rss_mb():.0f} MB", file=sys.stderr)
    return rows


def table(rows: list[dict[str, Any]], use_store: bool) -> str:
    lines = [
        "| repos | scan | concurrency | latency ms | wall s | repos/s | requests | counted "
        "| counted / repo | 304s | listing / GraphQL / trees / blobs | GraphQL points "
        "| files fetched | scanner / forge CPU s | peak RSS MB | tracemalloc peak MB | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        repos = r["repositories"] or 1
        peak = r.get("tracemalloc_peak_mb")
        lines.append(
            f"| {r['repositories']} | {r['kind']} | {r['concurrency']} | {r['latency_ms']} "
            f"| {r['scan_s']} | {r['repositories'] / r['scan_s']:.1f} | {r['requests']} "
            f"| {r['counted']} | {r['counted'] / repos:.3f} | {r['not_modified']} "
            f"| {r['listing']} / {r['graphql']} / {r['trees']} / {r['blobs']} "
            f"| {r['graphql_points']} | {r['files_fetched']} "
            f"| {r['cpu_s']} / {r['forge_cpu_s']} | {r['peak_rss_mb']} "
            f"| {peak if peak is not None else '-'} | {r['errors']} |")
    header = (f"{platform.python_implementation()} {platform.python_version()}, "
              f"{os.cpu_count()} CPUs, pack gitops-baseline, store "
              f"{'on (governance.db, as `governance scan` by default)' if use_store else 'off'}")
    return header + "\n\n" + "\n".join(lines)


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
    parser.add_argument("--latency-ms", type=int, default=50,
                        help="added to every request to the fake forge (default 50)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4],
                        help="the provider's --concurrency; several values: one pair each")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-store", action="store_true",
                        help="scan without the SQLite store (`--no-db`)")
    parser.add_argument("--trace", action="store_true",
                        help="a second pair of scans under tracemalloc for its peak")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the timed scans (hot spots on stderr)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--fetch", choices=("auto", "api", "clone"), default="auto",
                        help="the provider's --fetch (default auto)")
    options = parser.parse_args(args)
    folder = Path(tempfile.mkdtemp(prefix="governance-github-bench-"))
    try:
        rows = run(options.repos, options.concurrency, options.latency_ms, options.seed,
                   not options.no_store, options.trace, options.profile, folder,
                   options.fetch)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if options.json:
        options.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print("\n" + table(rows, not options.no_store))


if __name__ == "__main__":
    main()
