"""Command line: wiring and exit codes only. The one module that imports typer.

Exit codes (the only place they are decided):
  0  the run completed (audit: and the repository meets the standards)
  1  audit: a finding at or above --fail-on failed
  2  usage or configuration error (bad flag, malformed governance.yml / policy.yml / pack)
  3  the run was partial: some repository or check ended in `error`
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

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
          formats: list[str], single: bool = False, show_progress: bool = True) -> Any:
    from governance.render import write_reports
    from governance.scan import ScanRequest, run_scan

    with _progress(show_progress) as progress:
        task = progress.add_task("scanning", total=None) if progress else None

        def advance(ref: RepoRef, findings: list[Finding]) -> None:
            if progress is not None:
                progress.update(task, advance=1, description=ref.name)

        outcome = run_scan(ScanRequest(source, config, pack), out, advance, single)
    written = write_reports(outcome.spool, outcome.meta, out, formats) if formats else []
    return outcome, written


@app.command()
def scan(
    source: Annotated[str, typer.Argument(help="local:PATH (a checkout or a folder of checkouts)")],
    config: ConfigOption = None,
    pack: PackOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("reports/out"),
    formats: Annotated[
        list[str] | None,
        typer.Option("--format", "-f", help="Report formats: html, csv, json (repeatable)."),
    ] = None,
) -> None:
    """Scan every repository of a source and write reports."""
    outcome, written = _scan(source, config, pack, out, formats or ["html", "csv", "json"])
    _print_summary(outcome)
    for path in written:
        out_console.print(f"wrote {escape(str(path))}")
    if outcome.stats.partial:
        err_console.print("[yellow]partial run: some findings are errors (see the report)[/]")
        raise typer.Exit(EXIT_PARTIAL)


@app.command()
def audit(
    target: Annotated[str, typer.Argument(help="One repository: a path, local:PATH")] = ".",
    config: ConfigOption = None,
    pack: PackOption = None,
    fail_on: Annotated[
        Severity, typer.Option("--fail-on", help="Lowest severity whose failure fails the audit.")
    ] = Severity.LOW,
    output: Annotated[str, typer.Option("--output", help="text or json")] = "text",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write reports to this folder.")
    ] = None,
) -> None:
    """Audit one repository: print its findings; exit 1 when it fails the standards."""
    if output not in ("text", "json"):
        raise typer.BadParameter("expected text or json", param_hint="--output")
    with tempfile.TemporaryDirectory(prefix="governance-audit-") as scratch:
        folder = out or Path(scratch)
        outcome, _ = _scan(target, config, pack, folder, ["html", "csv", "json"] if out else [],
                           single=True, show_progress=False)
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
        outcome, written = _scan(f"local:{org}", None, None, out, ["html", "csv", "json"])
    _print_summary(outcome)
    for path in written:
        out_console.print(f"wrote {escape(str(path))}")


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
