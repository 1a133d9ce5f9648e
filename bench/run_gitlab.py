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
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.gitlab import FakeGitLab

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GROUP = "acme"
# Subgroups of GROUP, nested up to three levels; project i lives in SUBGROUPS[i % len].
SUBGROUPS = ("", "platform", "platform/sre", "platform/sre/observability", "data",
             "data/ml", "apps", "apps/web", "apps/mobile", "security")
RATE_LIMIT = 1_000_000
KINDS = ("cold", "repeat")
_FORGE_ENVIRONMENT = ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_APP_ID",
                      "GITHUB_APP_PRIVATE_KEY_FILE", "GH_TOKEN", "GITLAB_TOKEN", "GITLAB_URL",
                      "CI_JOB_TOKEN", "CI_SERVER_URL")


# ---------------------------------------------------------------------------- one scan


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """One scan in this (fresh) process; `job` from the parent: url, token, folders."""
    os.environ["GITLAB_TOKEN"] = job["token"]
    os.environ["GITLAB_URL"] = job["url"]
    os.environ["XDG_CACHE_HOME"] = job["xdg"]
    sys.path.insert(0, str(ROOT))
    from governance.scan import ScanRequest, run_scan

    out = Path(tempfile.mkdtemp(prefix="governance-gitlab-bench-out-"))
    os.chdir(out)  # no ./governance.yml is picked up by accident
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
    os.chdir(tempfile.gettempdir())
    shutil.rmtree(out)
    return {
        "repositories": outcome.stats.repositories,
        "findings": sum(outcome.stats.outcomes.values()),
        "errors": outcome.stats.outcomes.get("error", 0),
        "outcomes": dict(outcome.stats.outcomes),
        "done": dict(outcome.done),
        "scan_s": round(elapsed, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime, 2),
        "maxrss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
    }


def _serve_one_job() -> None:
    """`measure` mode: wait for the job on stdin, scan, answer one JSON line on stdout."""
    line = sys.stdin.readline()
    if not line.strip():  # the parent gave up before our turn
        return
    print(json.dumps(measure(json.loads(line))), flush=True)


def _spawn_waiting() -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in _FORGE_ENVIRONMENT}
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "measure"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


# ---------------------------------------------------------------------------- the forge


def seed_forge(forge: FakeGitLab, projects: int, seed: int) -> None:
    """The group: synthetic_org's files for project i, settings from (seed, i)."""
    sys.path.insert(0, str(HERE))  # bench/ is scripts, not a package
    from synthetic_org import repository_files

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
    every = forge.count(counted_only=False)
    by_kind = {
        "listing": forge.count(counted_only=False, path=f"/groups/{GROUP}/projects"),
        "graphql": forge.count(counted_only=False, path="/api/graphql"),
        "trees": forge.count(counted_only=False, path="/projects/*/repository/tree"),
        "raw_blobs": forge.count(counted_only=False, path="/projects/*/repository/blobs/*"),
    }
    return {
        "requests": every,
        "counted": forge.count(),
        "not_modified": forge.count(counted_only=False, status=304),
        **by_kind,
        "other": every - sum(by_kind.values()),
    }


def run(projects: int, latency_ms: int, concurrency: int, seed: int, use_store: bool,
        folder: Path, fetch: str = "auto") -> list[dict[str, Any]]:
    waiting = [_spawn_waiting() for _ in KINDS]  # before the forge exists: see the docstring
    try:
        sys.path.insert(0, str(ROOT))  # tests.fakes: the fake forge the tests use
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
                if child.returncode != 0:
                    sys.stderr.write(stderr)
                    raise SystemExit(f"the {kind} scan failed")
                result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
                result.update(_requests(forge))
                result.update(kind=kind, projects=projects, concurrency=concurrency,
                              latency_ms=latency_ms,
                              forge_cpu_s=round(after.ru_utime + after.ru_stime
                                                - before.ru_utime - before.ru_stime, 2))
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


def table(rows: list[dict[str, Any]], use_store: bool) -> str:
    lines = [
        "| projects | scan | concurrency | latency ms | wall s | projects/s | requests "
        "| counted | counted / project | 304s | listing / GraphQL / trees / raw blobs / other "
        "| scanner / forge CPU s | ru_maxrss MB | errors |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in rows:
        scanned = r["repositories"] or 1
        lines.append(
            f"| {r['repositories']} | {r['kind']} | {r['concurrency']} | {r['latency_ms']} "
            f"| {r['scan_s']} | {r['repositories'] / max(r['scan_s'], 0.01):.1f} "
            f"| {r['requests']} | {r['counted']} | {r['counted'] / scanned:.3f} "
            f"| {r['not_modified']} | {r['listing']} / {r['graphql']} / {r['trees']} / "
            f"{r['raw_blobs']} / {r['other']} | {r['cpu_s']} / {r['forge_cpu_s']} "
            f"| {r['maxrss_mb']} | {r['errors']} |")
    header = (f"{platform.python_implementation()} {platform.python_version()}, "
              f"{os.cpu_count()} CPUs, pack gitops-baseline, store "
              f"{'on (as `governance scan` by default)' if use_store else 'off'}")
    return header + "\n\n" + "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["measure"]:
        _serve_one_job()
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--latency-ms", type=int, default=50,
                        help="added to every request to the fake forge (default 50)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="the provider's concurrency (default 4)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-store", action="store_true",
                        help="scan without the SQLite store (`--no-db`)")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--fetch", choices=("auto", "api", "clone"), default="auto",
                        help="the provider's --fetch (default auto)")
    options = parser.parse_args(args)
    folder = Path(tempfile.mkdtemp(prefix="governance-gitlab-bench-"))
    try:
        rows = run(options.projects, options.latency_ms, options.concurrency, options.seed,
                   not options.no_store, folder, options.fetch)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if options.json:
        options.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print("\n" + table(rows, not options.no_store))


if __name__ == "__main__":
    main()
