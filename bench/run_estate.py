"""Benchmark a many-org estate scanned on a Dask cluster: `governance scan github:*` with
`--executor dask` on a LocalCluster of 1, 2 and 4 worker processes (and in-process for
comparison), against the fake GitHub with added latency.

    python bench/run_estate.py --orgs 20 --repos 500 --workers 1 2 4   # the issue's estate
    python bench/run_estate.py --orgs 20 --repos 50 --workers 1 2 4 --inprocess
    python bench/run_estate.py measure ...                             # one scan, one JSON line

The fake forge (tests/fakes/github.py, the one the tests use) is served by this process on
127.0.0.1 with `--latency-ms` (default 50) added to every request. It holds `--orgs`
organizations of `--repos` repositories each, every repository with distinct files (those
of bench/synthetic_org.py for a running index, so no tree or file is shared between
repositories) and a classic protection or a ruleset on some. One GitHub App is installed on
every organization, one installation per org, each with its own rate limits (raised to
1,000,000: the budget is counted, not throttled). The scan lists the app's installations
(`github:*`), shards the repositories by organization into batches of 50 and evaluates the
batches on the workers; every request of an installation passes the cluster's budget of
that installation.

Each scan runs in a fresh Python process (`measure`), the driver, which starts its own
LocalCluster (worker processes inherit the App's id and key file from its environment),
with an empty forge cache and an empty store (cold scans). Figures per scan: wall time
(cluster start included, and reported apart), the fake's request counts (counted against a
rate limit, per repository), the driver's peak resident memory (VmHWM of the driver
process: the listing, the LocalCluster's scheduler, the results, the store; the workers
are separate processes) and the CPU time of this process (the fake forge) during the scan.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import resource
import shutil
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchkit import (
    FIGURE,
    RATE_LIMIT,
    TEXT,
    Matching,
    add_forge_options,
    child_environment,
    in_scratch_folder,
    peak_rss_mb,
    publish,
    request_counts,
    scan_against,
    scan_folder,
    serving_github,
    titled_table,
)
from synthetic_org import repository_files

if TYPE_CHECKING:
    from tests.fakes.github import FakeGitHub

APP_ID = 4242


# ---------------------------------------------------------------------------- one scan


def measure(workers: int, threads: int, cache_dir: Path, store: Path, concurrency: int
            ) -> dict[str, Any]:
    """One cold scan of `github:*` in this process (the driver)."""
    import inspect

    from governance.distributed.executor import ExecutorChoice
    from governance.providers.github import GitHubProvider
    from governance.scan import ScanRequest, run_scan

    options: dict[str, object] = {"cache_dir": cache_dir, "concurrency": concurrency}
    if "fetch" in inspect.signature(GitHubProvider).parameters:
        options["fetch"] = "api"  # the API path, as bench/run_github.py measured it
    with scan_folder("governance-estate-bench-out-") as out:
        cluster = None
        started = time.perf_counter()
        if workers:
            # The cluster is started first and timed apart (a nightly job on VMs or
            # Kubernetes finds it running); the scan reaches it by address, as with
            # --scheduler.
            from distributed import LocalCluster

            cluster = LocalCluster(n_workers=workers, threads_per_worker=threads,
                                   processes=True, dashboard_address=":0",
                                   silence_logs=logging.ERROR)
            choice = ExecutorChoice("dask", scheduler=cluster.scheduler_address)
        else:
            choice = ExecutorChoice()
        ready = time.perf_counter()
        request = ScanRequest("github:*", store=store, github=options, executor=choice)
        outcome = run_scan(request, out)
        elapsed = time.perf_counter() - ready
        workers_peak: list[float] = []
        if cluster is not None:
            from distributed import Client

            with Client(cluster, set_as_default=False) as client:
                workers_peak = sorted(client.run(peak_rss_mb).values())
            cluster.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "repositories": outcome.stats.repositories,
        "findings": sum(outcome.stats.outcomes.values()),
        "errors": outcome.stats.outcomes.get("error", 0),
        "done": dict(outcome.done),
        "wall_s": round(elapsed, 2),  # the scan, the cluster's start not included
        "cluster_start_s": round(ready - started, 2),
        "driver_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "driver_peak_rss_mb": peak_rss_mb(),
        "worker_peak_rss_mb": workers_peak,
    }


# ---------------------------------------------------------------------------- the forge


def seed_forge(forge: FakeGitHub, orgs: int, repos: int, seed: int, public_key: bytes
               ) -> None:
    forge.add_app(APP_ID, public_key_pem=public_key)
    for o in range(orgs):
        org = f"org-{o:02d}"
        forge.add_org(org)
        for i in range(repos):
            name = f"svc-{i:04d}"
            forge.add_repo(org, name, files=repository_files(seed, o * repos + i))
            roll = random.Random(f"{seed}:{org}:{i}").random()
            if roll < 0.3:
                forge.protect_branch(org, name, "main", required_approving_review_count=1)
            elif roll < 0.45:
                forge.add_ruleset(org, name, required_approving_review_count=2)
        forge.install_app(APP_ID, org, core_limit=RATE_LIMIT, graphql_limit=RATE_LIMIT)


def serving(orgs: int, repos: int, seed: int, latency_ms: int, public_key: bytes
            ) -> AbstractContextManager[FakeGitHub]:
    return serving_github(f"{orgs}x{repos}",
                          lambda forge: seed_forge(forge, orgs, repos, seed, public_key),
                          latency_ms)


def _requests(forge: FakeGitHub) -> dict[str, int]:
    with forge.lock:
        tokens = {r.token for r in forge.requests if r.token}
    return request_counts(forge, {
        "listing": Matching(path="/orgs/*/repos"),
        "graphql": forge.count(counted_only=False, resource="graphql"),
        "trees": Matching(path="/repos/*/git/trees/*"),
        "blobs": Matching(path="/repos/*/git/blobs/*"),
        "refused": (Matching(status=403), Matching(status=429)),
        "installation_tokens": len(tokens),
    })


def _child(forge: FakeGitHub, key_file: Path, workers: int, threads: int, work: Path,
           concurrency: int) -> dict[str, Any]:
    env = child_environment(GITHUB_APP_ID=str(APP_ID), GITHUB_APP_PRIVATE_KEY_FILE=str(key_file),
                            GITHUB_API_URL=forge.url, XDG_CACHE_HOME=str(work / "xdg"))
    command = [sys.executable, str(Path(__file__).resolve()), "measure",
               "--workers", str(workers), "--threads", str(threads),
               "--cache-dir", str(work / "cache"),
               "--store", str(work / "governance.db"), "--concurrency", str(concurrency)]
    return scan_against(forge, command, env, lambda: _requests(forge), stderr_tail=5000)


def run(orgs: int, repos: int, workers: list[int], threads: int, latency_ms: int, seed: int,
        concurrency: int, folder: Path) -> list[dict[str, Any]]:
    from tests.fakes.github import generate_app_key

    private, public = generate_app_key()
    key_file = folder / "app.pem"
    key_file.write_text(private)
    key_file.chmod(0o600)
    rows = []
    with serving(orgs, repos, seed, latency_ms, public) as forge:
        for count in workers:
            work = folder / f"w{count}"
            work.mkdir()
            result = _child(forge, key_file, count, threads, work, concurrency)
            result.update(orgs=orgs, repos_per_org=repos, workers=count, threads=threads,
                          latency_ms=latency_ms, concurrency=concurrency)
            print(f"[{orgs}x{repos} workers={count or 'in-process'}] {json.dumps(result)}",
                  file=sys.stderr)
            rows.append(result)
            shutil.rmtree(work, ignore_errors=True)
    return rows


_COLUMNS = (
    ("orgs x repos", TEXT), ("executor", TEXT), ("wall s", FIGURE), ("cluster start s", FIGURE),
    ("repos/s", FIGURE), ("speed-up", FIGURE), ("counted", FIGURE), ("counted / repo", FIGURE),
    ("listing / GraphQL / trees / blobs", TEXT), ("refused", FIGURE),
    ("driver peak RSS MB", FIGURE), ("worker peak RSS MB", FIGURE),
    ("driver / forge CPU s", TEXT), ("load", FIGURE),
)


def table(rows: list[dict[str, Any]]) -> str:
    base = next((r["wall_s"] for r in rows if r["workers"] == 1), None)
    cells = []
    for r in rows:
        executor = (f"dask, {r['workers']} x {r['threads']} thread(s)" if r["workers"]
                    else "in-process")
        speed = f"{base / r['wall_s']:.2f}" if base and r["workers"] else "-"
        cells.append((
            f"{r['orgs']} x {r['repos_per_org']}", executor, r["wall_s"], r["cluster_start_s"],
            f"{r['repositories'] / r['wall_s']:.1f}", speed, r["counted"],
            f"{r['counted'] / (r['repositories'] or 1):.3f}",
            f"{r['listing']} / {r['graphql']} / {r['trees']} / {r['blobs']}", r["refused"],
            r["driver_peak_rss_mb"], max(r.get("worker_peak_rss_mb") or [0]) or "-",
            f"{r['driver_cpu_s']} / {r['forge_cpu_s']}", r["load_1m"]))
    setting = (f"pack gitops-baseline, store on, cold scans, "
               f"latency {rows[0]['latency_ms'] if rows else '-'} ms, concurrency "
               f"{rows[0]['concurrency'] if rows else '-'} per credential")
    return titled_table(setting, _COLUMNS, cells)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["measure"]:
        parser = argparse.ArgumentParser(prog="run_estate.py measure")
        parser.add_argument("--workers", type=int, required=True, help="0: in-process")
        parser.add_argument("--threads", type=int, default=1)
        parser.add_argument("--cache-dir", type=Path, required=True)
        parser.add_argument("--store", type=Path, required=True)
        parser.add_argument("--concurrency", type=int, default=4)
        options = parser.parse_args(args[1:])
        print(json.dumps(measure(options.workers, options.threads, options.cache_dir.resolve(),
                                 options.store.resolve(), options.concurrency)))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=20)
    parser.add_argument("--repos", type=int, default=500, help="repositories per org")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per worker process (batches at once on each)")
    parser.add_argument("--inprocess", action="store_true",
                        help="also scan in-process (no cluster) first, for comparison")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="requests in flight per credential (installation)")
    add_forge_options(parser, store_and_fetch=False)
    options = parser.parse_args(args)
    workers = ([0] if options.inprocess else []) + options.workers
    rows = in_scratch_folder("governance-estate-bench-", lambda folder: run(
        options.orgs, options.repos, workers, options.threads, options.latency_ms,
        options.seed, options.concurrency, folder))
    publish(rows, table(rows), options.json)

if __name__ == "__main__":
    main()
