"""Benchmark `gitlab:GROUP` scans against the fake GitLab with added latency: API requests per
project (cold and repeat), wall time, peak memory.

    python bench/run_gitlab.py                                  # 1,000 projects, 50 ms, c4
    python bench/run_gitlab.py --projects 100 --latency-ms 0    # small, no latency
    python bench/run_gitlab.py --projects 1000 --no-store       # repeat without the store

The fake forge (tests/fakes/gitlab.py, the one the tests use) is served by this process on
127.0.0.1 (nothing else is contacted), with a rate limit of 1,000,000 requests a minute so
that the request budget is measured, not throttled, and `--latency-ms` added to every
request (a latency fault on every path, forever; the fake sleeps outside its lock, so
concurrent requests overlap). It holds a premium top-level group `acme` with nested
subgroups and N projects spread over them; project i has the files of
bench/synthetic_org.py's `repository_files(seed, i)` (the deterministic mix of the
`local:` and `github:` benchmarks), one project in a hundred is empty, and the settings
vary: protected `main` (push / merge levels, force push) on some, merge request approval
rules on others.

Two scans run one after the other through governance.scan.run_scan, as `governance scan
gitlab:acme` does (GITLAB_TOKEN and GITLAB_URL in os.environ pointing at the fake, pack
gitops-baseline): a cold scan with an empty cache folder (and an empty store), then a
repeat scan of the unchanged group with the same cache folder (and store). Reports are not
rendered (bench/run_local.py and bench/render_large.py measure rendering). The fake counts
each scan's requests: all of them, those counted against the rate limit (a `304 Not
Modified` is not), and the 304s.

Each scan runs in its own Python process, so that its peak memory is its own: the
`ru_maxrss` of that process (resource.getrusage). Linux carries ru_maxrss across exec from
the address space the new program replaces, so a process started by this one once it holds
the fake forge (its ru_maxrss is about 180 MB at 1,000 projects) would report at least
the forge's size. The scanning processes are therefore started first, while this process is
still small, and wait on stdin for their turn (the forge's URL, the token, the folders).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchkit import (
    FIGURE,
    RATE_LIMIT,
    TEXT,
    Matching,
    add_forge_options,
    child_answer,
    child_environment,
    cpu_seconds,
    in_scratch_folder,
    publish,
    request_counts,
    scan_figures,
    scan_folder,
    titled_table,
)

if TYPE_CHECKING:
    from tests.fakes.gitlab import FakeGitLab

GROUP = "acme"
# Subgroups of GROUP, nested up to three levels; project i lives in SUBGROUPS[i % len].
SUBGROUPS = ("", "platform", "platform/sre", "platform/sre/observability", "data",
             "data/ml", "apps", "apps/web", "apps/mobile", "security")
KINDS = ("cold", "repeat")


# ---------------------------------------------------------------------------- one scan


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """One scan in this (fresh) process; `job` from the parent: url, token, folders."""
    os.environ["GITLAB_TOKEN"] = job["token"]
    os.environ["GITLAB_URL"] = job["url"]
    os.environ["XDG_CACHE_HOME"] = job["xdg"]
    from governance.scan import ScanRequest, run_scan

    with scan_folder("governance-gitlab-bench-out-") as out:
        store = Path(job["store"]) if job["store"] else None
        request = ScanRequest(job["source"], store=store,
                              gitlab={"cache_dir": Path(job["cache_dir"]),
                                      "concurrency": job["concurrency"],
                                      "fetch": job.get("fetch", "auto")})
        before = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        outcome = run_scan(request, out)
        elapsed = time.perf_counter() - started
        usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        **scan_figures(outcome),
        "scan_s": round(elapsed, 2),
        "cpu_s": cpu_seconds(before, usage),
        "maxrss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
    }


def _serve_one_job() -> None:
    """`measure` mode: wait for the job on stdin, scan, answer one JSON line on stdout."""
    line = sys.stdin.readline()
    if not line.strip():  # the parent gave up before our turn
        return
    print(json.dumps(measure(json.loads(line))), flush=True)


def _spawn_waiting() -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "measure"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_environment())


# ---------------------------------------------------------------------------- the forge


def seed_forge(forge: FakeGitLab, projects: int, seed: int) -> None:
    """The group: synthetic_org's files for project i, settings from (seed, i)."""
    from synthetic_org import repository_files  # here: the scanning children need not load it

    forge.add_group(GROUP, tier="premium")
    for sub in SUBGROUPS:
        if sub:
            forge.add_group(f"{GROUP}/{sub}", tier="premium")
    for index in range(projects):
        sub = SUBGROUPS[index % len(SUBGROUPS)]
        namespace = f"{GROUP}/{sub}" if sub else GROUP
        name = f"svc-{index:04d}"
        empty = index % 100 == 99
        forge.add_project(namespace, name, files=None if empty else repository_files(seed, index),
                          empty=empty,
                          topics=["service"] if index % 3 else ["service", "terraform"])
        if empty:
            continue
        full = f"{namespace}/{name}"
        rng = random.Random(f"{seed}:gitlab-settings:{index}")
        if rng.random() < 0.6:  # GitLab protects the default branch by default
            forge.protect_branch(full, "main", push_access_level=rng.choice([0, 40, 40, 30]),
                                 merge_access_level=rng.choice([30, 40]),
                                 allow_force_push=rng.random() < 0.1,
                                 code_owner_approval_required=rng.random() < 0.2)
        if rng.random() < 0.3:
            forge.add_approval_rule(full, "reviewers", rng.choice([1, 2]))


def _requests(forge: FakeGitLab) -> dict[str, int]:
    by_kind = {
        "listing": Matching(path=f"/groups/{GROUP}/projects"),
        "graphql": Matching(path="/api/graphql"),
        "trees": Matching(path="/projects/*/repository/tree"),
        "raw_blobs": Matching(path="/projects/*/repository/blobs/*"),
    }
    counts = request_counts(forge, {"not_modified": Matching(status=304), **by_kind})
    counts["other"] = counts["requests"] - sum(counts[kind] for kind in by_kind)
    return counts


def run(projects: int, latency_ms: int, concurrency: int, seed: int, use_store: bool,
        folder: Path, fetch: str = "auto") -> list[dict[str, Any]]:
    waiting = [_spawn_waiting() for _ in KINDS]  # before the forge exists: see the docstring
    try:
        from tests.fakes.gitlab import DEFAULT_TOKEN, FakeGitLab

        forge = FakeGitLab(rate_limit=RATE_LIMIT)
        started = time.perf_counter()
        seed_forge(forge, projects, seed)
        print(f"[{projects}] fake GitLab seeded in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        if latency_ms:
            forge.inject_fault("latency", "*", count=None, delay_ms=latency_ms)
        cache = folder / "cache"
        cache.mkdir(parents=True)
        rows: list[dict[str, Any]] = []
        with forge.running():
            for kind, child in zip(KINDS, waiting, strict=True):
                job = {"source": f"gitlab:{GROUP}", "url": forge.url, "token": DEFAULT_TOKEN,
                       "cache_dir": str(cache), "xdg": str(folder / "xdg"),
                       "store": str(folder / "governance.db") if use_store else None,
                       "concurrency": concurrency, "fetch": fetch}
                forge.reset_counts()
                before = resource.getrusage(resource.RUSAGE_SELF)
                stdout, stderr = child.communicate(json.dumps(job) + "\n")
                after = resource.getrusage(resource.RUSAGE_SELF)
                result = child_answer(child.returncode, stdout, stderr,
                                      f"the {kind} scan failed")
                result.update(_requests(forge))
                result.update(kind=kind, projects=projects, concurrency=concurrency,
                              latency_ms=latency_ms, forge_cpu_s=cpu_seconds(before, after))
                print(f"[{projects} {kind}] {json.dumps(result)}", file=sys.stderr)
                rows.append(result)
        if forge.server_errors:
            raise SystemExit("the fake GitLab crashed:\n" + forge.server_errors[0])
        print(f"[{projects}] ru_maxrss of this process (the fake forge): "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB",
              file=sys.stderr)
        return rows
    finally:
        for child in waiting:
            if child.poll() is None:
                child.kill()
                child.wait()


_COLUMNS = (
    ("projects", FIGURE), ("scan", TEXT), ("concurrency", FIGURE), ("latency ms", FIGURE),
    ("wall s", FIGURE), ("projects/s", FIGURE), ("requests", FIGURE), ("counted", FIGURE),
    ("counted / project", FIGURE), ("304s", FIGURE),
    ("listing / GraphQL / trees / raw blobs / other", TEXT), ("scanner / forge CPU s", TEXT),
    ("ru_maxrss MB", FIGURE), ("errors", FIGURE),
)


def table(rows: list[dict[str, Any]], use_store: bool) -> str:
    cells = [(
        r["repositories"], r["kind"], r["concurrency"], r["latency_ms"], r["scan_s"],
        f"{r['repositories'] / max(r['scan_s'], 0.01):.1f}", r["requests"], r["counted"],
        f"{r['counted'] / (r['repositories'] or 1):.3f}", r["not_modified"],
        f"{r['listing']} / {r['graphql']} / {r['trees']} / {r['raw_blobs']} / {r['other']}",
        f"{r['cpu_s']} / {r['forge_cpu_s']}", r["maxrss_mb"], r["errors"]) for r in rows]
    store = "on (as `governance scan` by default)" if use_store else "off"
    return titled_table(f"pack gitops-baseline, store {store}", _COLUMNS, cells)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["measure"]:
        _serve_one_job()
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4,
                        help="the provider's concurrency (default 4)")
    add_forge_options(parser, store_and_fetch=True)
    options = parser.parse_args(args)
    rows = in_scratch_folder("governance-gitlab-bench-", lambda folder: run(
        options.projects, options.latency_ms, options.concurrency, options.seed,
        not options.no_store, folder, options.fetch))
    publish(rows, table(rows, not options.no_store), options.json)

if __name__ == "__main__":
    main()
