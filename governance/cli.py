"""Command line: wiring and exit codes only. The one module that imports typer.

Exit codes (the only place they are decided):
  0  the run completed (audit: and the repository meets the standards)
  1  audit: a finding at or above --fail-on failed;
     scan --fail-on-new: a new failure at or above that severity since the last scan
  2  usage or configuration error (bad flag, malformed governance.yml / policy.yml / pack,
     a file that is not a governance store or is from a newer version)
  3  the run was partial: some repository or check ended in `error`
     (fix: some planned or applied action ended in `error`)
  130 interrupted (Ctrl-C, SIGTERM); a recorded scan continues with --resume
"""

from __future__ import annotations

import json
import logging
import shlex
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from governance import __version__
from governance.errors import ConfigError, GovernanceError, ProviderError, Unsupported
from governance.models import Finding, Outcome, RepoRef, Severity
from governance.render import DEFAULT_FORMATS

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130
DEFAULT_OUT = Path("reports/out")
DEFAULT_DB = DEFAULT_OUT / "governance.db"

app = typer.Typer(
    help="Organization-wide repository governance: policy-as-code checks over every "
    "repository of a GitHub org, a GitLab group or a folder of git checkouts.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
policies_app = typer.Typer(help="List and explain the policies.", no_args_is_help=True)
app.add_typer(policies_app, name="policies")

out_console = Console()
err_console = Console(stderr=True)

_OUTCOME_STYLE = {
    "pass": "green", "fail": "bold red", "not_applicable": "dim", "not_available": "yellow",
    "error": "bold magenta", "waived": "cyan",
}

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="governance.yml (default: ./governance.yml if present)"),
]
PackOption = Annotated[
    str | None,
    typer.Option("--pack", "-p", help="Pack name or file (default: config's or gitops-baseline)"),
]
DbOption = Annotated[
    Path, typer.Option("--db", help="The scan store (SQLite) written by `governance scan`.")
]
SourceOption = Annotated[
    str | None,
    typer.Option("--source", "-s", help="Source as scanned (default: the last one scanned).")
]


FormatOption = Annotated[
    list[str] | None,
    typer.Option("--format", "-f",
                 help="Report formats: html, csv, json, sarif, markdown (repeatable; "
                      "default html, csv, json)."),
]
GitHubUrlOption = Annotated[
    str | None,
    typer.Option("--github-url", help="GitHub API URL (default $GITHUB_API_URL, else "
                 "https://api.github.com; Enterprise Server: https://HOST/api/v3)."),
]
GitLabUrlOption = Annotated[
    str | None,
    typer.Option("--gitlab-url", help="GitLab URL (default $GITLAB_URL, else https://gitlab.com)."),
]
GitLabLintOption = Annotated[
    bool, typer.Option("--gitlab-ci-lint", help="Ask GitLab's CI lint API for the merged "
                       "configuration (resolves includes from other projects and templates).")
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", min=1, max=32, help="Parallel API requests.")
]
MaxWaitOption = Annotated[
    float, typer.Option("--max-wait", min=0, help="Longest wait (seconds) for a rate limit "
                        "to reset before stopping with the partial results saved.")
]
CacheDirOption = Annotated[
    Path | None, typer.Option("--cache-dir", help="Conditional-request cache (default "
                              "$XDG_CACHE_HOME/governance or ~/.cache/governance).")
]
FetchOption = Annotated[
    str, typer.Option("--fetch", help="How forge files are read: auto (the API, or a partial "
                      "shallow clone where that saves many requests), api, or clone.")
]
ArchivedOption = Annotated[
    bool | None, typer.Option("--include-archived/--skip-archived",
                              help="Scan archived repositories (default: governance.yml, "
                                   "else skip).")
]
ForksOption = Annotated[
    bool | None, typer.Option("--include-forks/--skip-forks",
                              help="Scan forks (default: governance.yml, else skip).")
]
ExecutorOption = Annotated[
    str, typer.Option("--executor", help="Where repositories are evaluated: inprocess, or "
                      "dask (a Dask cluster: --scheduler, else a local one of --workers).")
]
SchedulerOption = Annotated[
    str | None, typer.Option("--scheduler", help="Dask scheduler address (tcp://HOST:8786); "
                             "workers take credentials from their own environment.")
]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", help="Worker processes of the local Dask cluster "
                             "(default: one per CPU).")
]


@dataclass(frozen=True)
class _Forges:
    """Keyword options for the forge providers; credentials only come from the environment."""

    github: dict[str, object]
    gitlab: dict[str, object]


def _forge_options(github_url: str | None, gitlab_url: str | None, gitlab_ci_lint: bool,
                   concurrency: int, max_wait: float, cache_dir: Path | None,
                   fetch: str = "auto") -> _Forges:
    common: dict[str, object] = {"concurrency": concurrency, "max_wait": max_wait,
                                 "fetch": fetch}
    if cache_dir is not None:
        common["cache_dir"] = cache_dir
    github = {**common, **({"api_url": github_url} if github_url else {})}
    gitlab = {**common, "ci_lint": gitlab_ci_lint,
              **({"api_url": gitlab_url} if gitlab_url else {})}
    return _Forges(github, gitlab)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"governance {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log details to stderr.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
    )


@contextmanager
def _progress(enabled: bool) -> Iterator[Any]:
    """A live counter on a terminal; nothing when output is piped or in CI logs."""
    if not enabled or not err_console.is_terminal:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), console=err_console, transient=True) as progress:
        yield progress


def _scan(source: str, config: Path | None, pack: str | None, out: Path,
          formats: list[str], single: bool = False, show_progress: bool = True,
          store: Path | None = None, full: bool = False, resume: bool = False,
          forge: _Forges | None = None, include_archived: bool | None = None,
          include_forks: bool | None = None, executor: Any = None) -> Any:
    from governance.distributed.executor import ExecutorChoice
    from governance.render import write_reports
    from governance.scan import ScanRequest, run_scan

    with _progress(show_progress) as progress:
        task = progress.add_task("scanning", total=None) if progress else None

        def advance(ref: RepoRef, findings: list[Finding]) -> None:
            if progress is not None:
                progress.update(task, advance=1, description=ref.name)

        request = ScanRequest(source, config, pack, store=store, full=full, resume=resume,
                              github=forge.github if forge else {},
                              gitlab=forge.gitlab if forge else {},
                              include_archived=include_archived,
                              include_forks=include_forks,
                              executor=executor or ExecutorChoice())
        outcome = run_scan(request, out, advance, single)
    written = write_reports(outcome.spool, outcome.meta, out, formats) if formats else []
    return outcome, written


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """A CI job cancelled (SIGTERM) stops like Ctrl-C: what is recorded stays resumable."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command()
def scan(
    source: Annotated[str, typer.Argument(
        help="local:PATH (a checkout or a folder of checkouts), github:ORG[,ORG...], "
             "github:ORG/REPO, github:* (every org a GitHub App is installed on), "
             "gitlab:GROUP[/SUBGROUP...][,GROUP...] or gitlab:GROUP/PROJECT")],
    config: ConfigOption = None,
    pack: PackOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = DEFAULT_OUT,
    formats: FormatOption = None,
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Scan store recording every scan (default: OUT/governance.db)."),
    ] = None,
    no_db: Annotated[
        bool, typer.Option("--no-db", help="Record nothing: no history, no reuse, no resume.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Evaluate every repository, even unchanged ones.")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the last scan of SOURCE if it did not "
                           "finish (otherwise start a new one).")
    ] = False,
    fail_on_new: Annotated[
        Severity | None,
        typer.Option("--fail-on-new", help="Exit 1 when a failure at or above this severity is "
                     "new since the last scan."),
    ] = None,
    github_url: GitHubUrlOption = None,
    gitlab_url: GitLabUrlOption = None,
    gitlab_ci_lint: GitLabLintOption = False,
    concurrency: ConcurrencyOption = 4,
    max_wait: MaxWaitOption = 3600.0,
    cache_dir: CacheDirOption = None,
    fetch: FetchOption = "auto",
    include_archived: ArchivedOption = None,
    include_forks: ForksOption = None,
    executor: ExecutorOption = "inprocess",
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
) -> None:
    """Scan every repository of a source, record it, and write reports."""
    from governance.distributed.executor import ExecutorChoice
    from governance.history import new_failures_at_or_above
    from governance.scan import ScanInterrupted

    choice = ExecutorChoice(executor, scheduler, workers)

    if no_db and (resume or db is not None or fail_on_new is not None):
        raise ConfigError("--no-db cannot be combined with --db, --resume or --fail-on-new")
    store = None if no_db else (db or out / "governance.db")
    try:
        with _sigterm_interrupts():
            outcome, written = _scan(source, config, pack, out,
                                     formats or list(DEFAULT_FORMATS), store=store,
                                     full=full, resume=resume,
                                     forge=_forge_options(github_url, gitlab_url,
                                                          gitlab_ci_lint, concurrency,
                                                          max_wait, cache_dir, fetch),
                                     include_archived=include_archived,
                                     include_forks=include_forks, executor=choice)
    except ScanInterrupted as stop:
        args = sys.argv[1:] if "--resume" in sys.argv else [*sys.argv[1:], "--resume"]
        err_console.print(
            f"[yellow]interrupted:[/] scan {stop.scan_id} keeps its {stop.recorded} finished "
            f"repositories in {escape(str(stop.store))}; continue it with:\n"
            f"  governance {escape(shlex.join(args))}", soft_wrap=True)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    for note in outcome.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    _print_summary(outcome)
    if outcome.scan_id is not None:
        _print_recorded(outcome, store)
    for path in written:
        out_console.print(f"wrote {escape(str(path))}")
    if fail_on_new is not None:
        new = new_failures_at_or_above(outcome.meta.get("changes") or {}, fail_on_new)
        if new:
            err_console.print(f"[red]{len(new)} new failure(s) at or above {fail_on_new} "
                              "since the last scan[/]")
            raise typer.Exit(EXIT_FAILED)
    if outcome.stats.partial:
        err_console.print("[yellow]partial run: some findings are errors (see the report)[/]")
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def report(
    db: DbOption = DEFAULT_DB,
    scan_id: Annotated[
        str, typer.Option("--scan", help="Scan id, or `latest` (newest finished scan).")
    ] = "latest",
    source: SourceOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = DEFAULT_OUT,
    formats: FormatOption = None,
) -> None:
    """Render the reports of a recorded scan again, without scanning."""
    from governance.scan import report_from_store

    number, status, written = report_from_store(db, scan_id, out,
                                                formats or list(DEFAULT_FORMATS), source)
    if status not in ("complete", "partial"):
        err_console.print(f"[yellow]scan {number} is {status}: the reports hold only the "
                          "repositories it recorded[/]")
    for path in written:
        out_console.print(f"wrote {escape(str(path))}")


@app.command()
def diff(
    db: DbOption = DEFAULT_DB,
    source: SourceOption = None,
    scan_id: Annotated[
        str, typer.Option("--scan", help="Scan id, or `latest`; compared with the one before.")
    ] = "latest",
    output: Annotated[str, typer.Option("--output", help="text, json or markdown")] = "text",
) -> None:
    """What changed since the previous scan: new failures, fixed findings, new and removed
    repositories, expired waivers."""
    from governance.history import changes, changes_markdown, default_source, select_scan
    from governance.store import Store

    if output not in ("text", "json", "markdown"):
        raise typer.BadParameter("expected text, json or markdown", param_hint="--output")
    with Store(db, create=False) as store:
        scan = select_scan(store, scan_id, default_source(store, source))
        found = changes(store, scan.id)
    if output == "json":
        out_console.print_json(json.dumps({"source": scan.source, **found.as_dict()}))
        return
    if output == "markdown":
        out_console.print(changes_markdown(found, scan.source), markup=False, highlight=False,
                          soft_wrap=True)
        return
    _print_changes(found, scan.source)


@app.command()
def history(
    db: DbOption = DEFAULT_DB,
    source: SourceOption = None,
    policy: Annotated[str | None, typer.Option("--policy", help="Only this policy.")] = None,
    repository: Annotated[
        str | None, typer.Option("--repository", "-r", help="Only this repository.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Last N scans.", min=1)] = 10,
) -> None:
    """Compliance over the last scans of a source, overall and per policy."""
    from governance.history import default_source, policy_trend, repository_outcomes, trend
    from governance.store import Store

    with Store(db, create=False) as store:
        name = default_source(store, source)
        points = trend(store, name, policy=policy, repository=repository, limit=limit)
        if repository is not None:
            scans, grid = repository_outcomes(store, name, repository, limit)
        else:
            scans, compliance = policy_trend(store, name, limit=limit)
            grid = {k: [_percent(v) for v in values] for k, values in compliance.items()
                    if policy is None or k == policy}
    if not points:
        raise ConfigError(f"no finished scan of {name} in {db}")
    what = " ".join(x for x in (f"policy {policy}" if policy else "",
                                f"repository {repository}" if repository else "") if x)
    table = Table("scan", "started", "status", "repositories", "pass", "fail", "waived",
                  "error", "compliance", title=escape(f"{name} {what}".strip()))
    for p in points:
        table.add_row(str(p.scan_id), p.started[:16].replace("T", " "), p.status,
                      str(p.repositories),
                      *(str(p.outcomes.get(o, 0)) for o in ("pass", "fail", "waived", "error")),
                      _percent(p.compliance))
    out_console.print(table)
    if grid:
        per_scan = Table("policy", *(str(s.id) for s in scans),
                         title="outcome per scan" if repository else "compliance per scan")
        for key, values in grid.items():
            per_scan.add_row(escape(key), *(
                f"[{_OUTCOME_STYLE.get(v or '', '')}]{v}[/]" if repository and v else (v or "")
                for v in values))
        out_console.print(per_scan)


@app.command()
def prune(
    keep: Annotated[
        int | None, typer.Option("--keep", help="Keep the N newest finished scans per source.")
    ] = None,
    older_than: Annotated[
        int | None, typer.Option("--older-than", help="Delete scans older than DAYS days.",
                                 metavar="DAYS", min=1)
    ] = None,
    db: DbOption = DEFAULT_DB,
    source: SourceOption = None,
    cache_days: Annotated[
        int | None, typer.Option("--cache-days", metavar="N", min=0,
                                 help="Also drop forge cache entries no scan used in N days.")
    ] = None,
    cache_dir: CacheDirOption = None,
) -> None:
    """Delete old scans (the latest scan of each source always stays) and, with
    --cache-days, forge cache entries that recent scans did not use."""
    import datetime as dt

    from governance.httpcache import ForgeCache, default_cache_dir
    from governance.scan import canonical_source
    from governance.store import Store

    if keep is None and older_than is None and cache_days is None:
        raise typer.BadParameter("give --keep N, --older-than DAYS and/or --cache-days N",
                                 param_hint="--keep")
    if keep is not None or older_than is not None:
        before = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=older_than)
                  if older_than is not None else None)
        with Store(db, create=False) as store:
            result = store.prune(keep, before, canonical_source(source) if source else None)
        ids = ", ".join(str(i) for i in result.scans) or "none"
        out_console.print(f"deleted {len(result.scans)} scan(s) ({ids}) and "
                          f"{result.bodies} unused finding text(s) from {escape(str(db))}")
    if cache_days is not None:
        cache = ForgeCache(cache_dir or default_cache_dir())
        try:
            evicted = cache.evict(cache_days)
        finally:
            cache.close()
        counts = ", ".join(f"{rows} {table}" for table, rows in evicted.removed.items())
        out_console.print(f"evicted {evicted.rows} cache entries ({counts}) from "
                          f"{escape(str(cache.path))}: {evicted.file_bytes_before:,} -> "
                          f"{evicted.file_bytes_after:,} bytes")


@app.command()
def audit(
    target: Annotated[str, typer.Argument(
        help="One repository: a path, local:PATH, github:ORG/REPO or gitlab:GROUP/PROJECT")
    ] = ".",
    config: ConfigOption = None,
    pack: PackOption = None,
    fail_on: Annotated[
        Severity, typer.Option("--fail-on", help="Lowest severity whose failure fails the audit.")
    ] = Severity.LOW,
    output: Annotated[str, typer.Option("--output", help="text or json")] = "text",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write reports to this folder.")
    ] = None,
    formats: FormatOption = None,
    github_url: GitHubUrlOption = None,
    gitlab_url: GitLabUrlOption = None,
    gitlab_ci_lint: GitLabLintOption = False,
    max_wait: MaxWaitOption = 3600.0,
    cache_dir: CacheDirOption = None,
    fetch: FetchOption = "auto",
) -> None:
    """Audit one repository: print its findings; exit 1 when it fails the standards.

    With --out, reports are written too: `--format sarif` gives findings.sarif for code
    scanning upload.
    """
    if output not in ("text", "json"):
        raise typer.BadParameter("expected text or json", param_hint="--output")
    if formats and out is None:
        raise typer.BadParameter("needs --out", param_hint="--format")
    with tempfile.TemporaryDirectory(prefix="governance-audit-") as scratch:
        folder = out or Path(scratch)
        wanted = (formats or list(DEFAULT_FORMATS)) if out else []
        # An audit names one repository explicitly: archived or forked, it is audited.
        outcome, _ = _scan(target, config, pack, folder, wanted, single=True,
                           show_progress=False,
                           forge=_forge_options(github_url, gitlab_url, gitlab_ci_lint, 4,
                                                max_wait, cache_dir, fetch),
                           include_archived=True, include_forks=True)
        findings = [json.loads(line) for line in outcome.spool.read_text().splitlines()]
    failing = [f for f in findings
               if f["outcome"] == "fail" and Severity(f["severity"]).rank >= fail_on.rank]
    if output == "json":
        out_console.print_json(json.dumps({"findings": findings, "failing": len(failing)}))
    else:
        _print_findings(findings)
    if failing:
        err_console.print(f"[red]{len(failing)} finding(s) at or above {fail_on} failed[/]")
        raise typer.Exit(EXIT_FAILED)
    if outcome.stats.partial:
        raise typer.Exit(EXIT_PARTIAL)


_ACTION_STYLE = {
    "create": "bold green", "update": "bold cyan", "close": "bold yellow",
    "unchanged": "dim", "skip": "dim", "blocked": "bold magenta", "declined": "magenta",
    "needs-person": "yellow", "error": "bold red",
}
_DIFF_STYLE = (("+++", "bold"), ("---", "bold"), ("@@", "cyan"), ("+", "green"), ("-", "red"))


@app.command()
def fix(
    source: Annotated[str, typer.Argument(
        help="local:PATH, github:ORG, github:ORG/REPO, gitlab:GROUP or gitlab:GROUP/PROJECT "
             "(as for scan)")],
    policy: Annotated[
        list[str] | None,
        typer.Option("--policy", help="Policy to fix (repeatable; it needs a fix.py).")
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Carry the plan out: branches, commits, pull "
                           "requests (without it, nothing is written).")
    ] = False,
    output: Annotated[
        str, typer.Option("--format", help="text or json (shape in the README).")
    ] = "text",
    max_prs: Annotated[
        int | None, typer.Option("--max-prs", min=1, help="Create or update at most N pull "
                                 "requests in this run; the rest are skipped.")
    ] = None,
    write_gap: Annotated[
        float, typer.Option("--write-gap", min=0, help="Seconds between two writes to the "
                            "forge (GitHub asks for at least 1 s to stay under its "
                            "content-creation limits).")
    ] = 1.0,
    config: ConfigOption = None,
    pack: PackOption = None,
    github_url: GitHubUrlOption = None,
    gitlab_url: GitLabUrlOption = None,
) -> None:
    """Plan (or with --apply, make) one pull request per repository and policy that fixes
    a failing finding: merge requests on GitLab, branches in local checkouts."""
    from governance.remediation import FixRequest, fix_source

    if output not in ("text", "json"):
        raise typer.BadParameter("expected text or json", param_hint="--format")
    request = FixRequest(source, tuple(policy or ()), config, pack, apply, max_prs,
                         github_url, gitlab_url, write_gap=write_gap)
    counts: dict[str, int] = {}
    collected: list[dict[str, Any]] = []
    with fix_source(request) as run:
        for policy_id in run.without_fixer:
            err_console.print(f"[yellow]note:[/] policy {escape(policy_id)} has no fixer "
                              "(no fix.py): nothing to plan for it")
        for action in run.actions:
            counts[action.kind] = counts.get(action.kind, 0) + 1
            if output == "json":
                collected.append(action.as_dict())
            else:
                _print_action(action)
    if output == "json":
        document = {
            "tool_version": __version__, "source": source, "applied": apply,
            "policies": [e.id for e in run.policies], "without_fixer": run.without_fixer,
            "max_prs": max_prs, "counts": counts, "actions": collected,
        }
        # Plain text, not rich: the document holds every diff, and a pipe wants it as is.
        out_console.file.write(json.dumps(document, indent=2) + "\n")
    else:
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing"
        tail = "" if apply else " (a plan: nothing was written; --apply carries it out)"
        out_console.print(f"{'applied' if apply else 'plan'}: {summary}{tail}")
    if counts.get("error"):
        err_console.print(f"[yellow]partial run: {counts['error']} action(s) ended in error[/]")
        raise typer.Exit(EXIT_PARTIAL)


def _print_action(action: Any) -> None:
    from rich.text import Text

    done = " (done)" if action.applied else ""
    head = Text.assemble((f"{action.kind}{done}", _ACTION_STYLE.get(action.kind, "")),
                         f"  {action.repository}  {action.policy}: {action.reason}")
    out_console.print(head, soft_wrap=True, highlight=False)
    request = action.request
    if request is not None and request.url:
        out_console.print(Text(f"  {request.url}"), soft_wrap=True, highlight=False)
    if action.proposal is not None and action.kind in ("create", "update"):
        for line in action.proposal.diff().splitlines():
            style = next((s for prefix, s in _DIFF_STYLE if line.startswith(prefix)), "")
            out_console.print(Text("    " + line, style=style), soft_wrap=True,
                              highlight=False)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("reports/out"),
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Create the sample org here and keep it.")
    ] = None,
) -> None:
    """Build a small sample org of real git repositories and scan it (no network)."""
    from governance.demo import build_demo_org

    with tempfile.TemporaryDirectory(prefix="governance-demo-") as scratch:
        org = build_demo_org((keep or Path(scratch)) / "acme")
        out_console.print(f"sample org with {sum(1 for _ in org.iterdir())} repositories in "
                          f"{escape(str(org))}")
        outcome, written = _scan(f"local:{org}", None, None, out, list(DEFAULT_FORMATS))
    _print_summary(outcome)
    for path in written:
        out_console.print(f"wrote {escape(str(path))}")


@app.command()
def init(
    folder: Annotated[Path, typer.Argument(help="The governance repository (a folder).")] = Path(
        "."),
    source: Annotated[
        str, typer.Option("--source", "-s", help="What the nightly scan scans: github:ORG...")
    ] = "github:your-org",
    pack: Annotated[str, typer.Option("--pack", "-p", help="Pack of governance.yml.")] = (
        "gitops-baseline"),
    cron: Annotated[str, typer.Option("--cron", help="Schedule (UTC, cron syntax).")] = (
        "17 3 * * *"),
    install: Annotated[
        str | None, typer.Option("--install", help="pip requirement that installs governance.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Scaffold a governance repository: governance.yml, a scheduled GitHub Actions
    workflow and a GitLab CI schedule pipeline running the nightly scan."""
    from governance.scaffold import Settings, files, write

    settings = Settings(source=source, pack=pack, cron=cron)
    if install is not None:
        settings = Settings(source=source, pack=pack, cron=cron, install=install)
    for path in write(folder, files(settings), force):
        out_console.print(f"wrote {escape(str(path))}")
    out_console.print("next: commit these files, add the GOVERNANCE_TOKEN secret (GitHub) or "
                      "CI/CD variable and a pipeline schedule (GitLab)")


@policies_app.command("list")
def policies_list(pack: PackOption = None, config: ConfigOption = None) -> None:
    """Every policy, and whether the pack enables it."""
    from governance.config import load_config
    from governance.policy import discover
    from governance.resources import policies_folder
    from governance.scan import load_policies

    loaded = load_config(config)
    known = discover([policies_folder(), *loaded.policy_paths])
    _, enabled = load_policies(loaded, pack)
    active = {e.id: e for e in enabled}
    table = Table("id", "title", "severity", "enabled", "autofix")
    for policy_id, policy in sorted(known.items()):
        effective = active.get(policy_id)
        table.add_row(policy_id, escape(policy.definition.title),
                      str(effective.severity if effective else policy.definition.severity),
                      "yes" if effective else "no", policy.definition.autofix)
    out_console.print(table)


@policies_app.command("show")
def policies_show(
    policy_id: Annotated[str, typer.Argument(help="Policy id")], config: ConfigOption = None
) -> None:
    """A policy's definition: rationale, remediation, what it reads, options."""
    from governance.config import load_config
    from governance.policy import discover
    from governance.resources import policies_folder

    known = discover([policies_folder(), *load_config(config).policy_paths])
    if policy_id not in known:
        raise ConfigError(f"unknown policy {policy_id!r}; see `governance policies list`")
    d = known[policy_id].definition
    out_console.print(f"[bold]{escape(d.id)}[/]: {escape(d.title)}  (severity {d.severity}, "
                      f"autofix {d.autofix}, {'on' if d.enabled else 'off'} by default)")
    out_console.print(f"\n[bold]Why[/]\n{escape(d.rationale.strip())}")
    out_console.print(f"\n[bold]Remediation[/]\n{escape(d.remediation.strip())}")
    if d.reads.files or d.reads.settings:
        reads = ", ".join(d.reads.files + d.reads.settings)
        out_console.print(f"\n[bold]Reads[/]\n{escape(reads)}")
    if d.options:
        out_console.print("\n[bold]Options[/] (defaults)")
        for name, value in d.options.items():
            out_console.print(f"  {escape(name)}: {escape(json.dumps(value))}")


@policies_app.command("docs")
def policies_docs(
    write: Annotated[
        Path | None,
        typer.Option("--write", help="Rewrite the table between the policy markers of this file."),
    ] = None,
) -> None:
    """The policy table in Markdown, generated from the policy.yml files."""
    from governance.docs import policy_table_markdown, readme_with_policy_table
    from governance.policy import discover
    from governance.resources import policies_folder

    table = policy_table_markdown(discover([policies_folder()]).values())
    if write is None:
        out_console.print(table, markup=False, highlight=False, soft_wrap=True)
        return
    try:
        text = write.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read: {error.strerror}", str(write)) from None
    write.write_text(readme_with_policy_table(text, table), encoding="utf-8")
    out_console.print(f"updated the policy table in {escape(str(write))}")


def _print_findings(findings: list[dict[str, Any]]) -> None:
    table = Table("policy", "outcome", "severity", "message", "where", show_lines=False)
    for f in findings:
        style = _OUTCOME_STYLE.get(f["outcome"], "")
        where = f"{f['path']}:{f['line']}" if f.get("line") else (f.get("path") or "")
        table.add_row(f["policy"], f"[{style}]{f['outcome']}[/]", f["severity"],
                      escape(f["message"]), escape(where))
    out_console.print(table)


def _print_summary(outcome: Any) -> None:
    stats = outcome.stats
    table = Table(title=f"{stats.repositories} repositories scanned")
    for name in Outcome:
        table.add_column(name.value, justify="right", style=_OUTCOME_STYLE[name.value])
    table.add_row(*(str(stats.outcomes[o.value]) for o in Outcome))
    out_console.print(table)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} %"


def _print_recorded(outcome: Any, store: Path | None) -> None:
    done = outcome.done
    parts = [f"{done[k]} {label}" for k, label in (
        ("scanned", "scanned"), ("reused", "unchanged (findings reused)"),
        ("recorded", "done before the interruption"), ("failed", "unreadable")) if done[k]]
    resumed = " (resumed)" if outcome.resumed else ""
    out_console.print(f"scan {outcome.scan_id}{resumed} recorded in {escape(str(store))}: "
                      f"{', '.join(parts) or 'no repositories'}")
    changes = outcome.meta.get("changes") or {}
    if changes.get("previous_scan_id") is None:
        return
    counts = changes["counts"]
    out_console.print(
        f"since scan {changes['previous_scan_id']}: {counts['new_failures']} new failure(s), "
        f"{counts['fixed']} fixed, {counts['new_repositories']} new and "
        f"{counts['removed_repositories']} removed repositories, "
        f"{counts['expired_waivers']} expired waiver(s) (`governance diff` lists them)")


def _print_changes(found: Any, source: str) -> None:
    if found.previous_scan_id is None:
        out_console.print(f"scan {found.scan_id} is the first finished scan of "
                          f"{escape(source)}: nothing to compare with")
        return
    out_console.print(f"[bold]{escape(source)}[/]: scan {found.scan_id} against scan "
                      f"{found.previous_scan_id} ({found.previous_started})")
    sections = [
        ("new failures", ["severity", "repository", "policy", "before", "message"],
         [[c.severity, c.repository, c.policy, c.previous_outcome or "not scanned", c.message]
          for c in found.new_failures], "new_failures"),
        ("fixed", ["severity", "repository", "policy", "now"],
         [[c.severity, c.repository, c.policy, c.outcome] for c in found.fixed], "fixed"),
        ("expired waivers", ["repository", "policy", "owner", "expired", "reason"],
         [[w.repository, w.policy, w.owner, w.expires or "", w.reason]
          for w in found.expired_waivers], "expired_waivers"),
        ("new repositories", ["repository"], [[n] for n in found.new_repositories],
         "new_repositories"),
        ("removed repositories", ["repository"], [[n] for n in found.removed_repositories],
         "removed_repositories"),
    ]
    for title, header, rows, key in sections:
        total = found.counts[key]
        if not total:
            out_console.print(f"{title}: none")
            continue
        table = Table(*header, title=f"{title}: {total}")
        for row in rows:
            table.add_row(*(escape(str(cell)) for cell in row))
        out_console.print(table)
        if total > len(rows):
            out_console.print(f"... and {total - len(rows)} more (see --output json)")


def main() -> None:
    """Entry point: every user-caused error ends as one message and a documented code."""
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exit_:
        code = exit_.exit_code
    except (ConfigError, Unsupported) as error:
        err_console.print(f"[red]error:[/] {escape(str(error))}")
        sys.exit(EXIT_USAGE)
    except ProviderError as error:
        err_console.print(f"[red]error:[/] {escape(str(error))}")
        sys.exit(EXIT_PARTIAL)
    except GovernanceError as error:
        err_console.print(f"[red]error:[/] {escape(str(error))}")
        sys.exit(EXIT_USAGE)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as error:
        # Usage errors (unknown flag, bad value) surface here with standalone_mode=False;
        # they carry their own message and `show()`, whichever click typer bundles.
        show = getattr(error, "show", None)
        if callable(show) and isinstance(getattr(error, "exit_code", None), int):
            show()
            sys.exit(EXIT_USAGE)
        raise
    sys.exit(code if isinstance(code, int) else EXIT_OK)
