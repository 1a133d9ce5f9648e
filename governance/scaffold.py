"""`governance init`: a governance repository in the GitOps way.

The files it writes are the whole setup, reviewed and changed through pull requests:

- `governance.yml`: the pack, repository filters and waivers;
- `.github/workflows/governance-nightly.yml`: a scheduled GitHub Actions workflow;
- `.gitlab-ci.yml`: the same job for a GitLab scheduled pipeline.

Both CI files run the nightly scan the same way: restore the scan store from the CI cache
(so repeat scans reuse the findings of unchanged repositories and a cancelled scan
resumes), scan with `--resume --fail-on-new critical`, save the store whatever happened,
write the Markdown of `governance diff` to the job summary, publish the report folder as
an artifact, and fail only when the scan found a new critical failure (exit 1) or could
not run at all (exit 2): a partial scan (3) warns.

The workflow passes the policies it enforces: actions pinned to commit SHAs, least-privilege
`permissions:`, and triggers that are not manual-only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from governance import __version__
from governance.config import DEFAULT_PACK
from governance.errors import ConfigError

WORKFLOW_PATH = ".github/workflows/governance-nightly.yml"
GITLAB_PATH = ".gitlab-ci.yml"
CONFIG_PATH = "governance.yml"
STORE = ".governance/governance.db"
OUT = "reports/out"

# Third-party actions pinned to commit SHAs (the tag they were published as in comments).
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"
SETUP_PYTHON = "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b # v5.3.0"
CACHE_RESTORE = "actions/cache/restore@1bd1e32a3bdc45362d1e726936510720a7c30a57 # v4.2.0"
CACHE_SAVE = "actions/cache/save@1bd1e32a3bdc45362d1e726936510720a7c30a57 # v4.2.0"
UPLOAD = "actions/upload-artifact@b4b15b8c7c6ac21ea08fcf65892d2ee8f75cf882 # v4.4.3"

_SOURCE = re.compile(r"(github|gitlab|local):[A-Za-z0-9._/~-]+")
_PACK = re.compile(r"[A-Za-z0-9._/-]+")
_CRON = re.compile(r"[0-9*/,-]+( [0-9*/,-]+){4}")
_INSTALL = re.compile(r"[A-Za-z0-9._\[\]=<>~!,@:/+-]+")


@dataclass(frozen=True)
class Settings:
    source: str = "github:your-org"
    pack: str = DEFAULT_PACK
    cron: str = "17 3 * * *"  # nightly, off the top of the hour
    install: str = f"governance=={__version__}"
    fail_on_new: str = "critical"

    def validate(self) -> Settings:
        """Every value ends up inside YAML and shell: only plain characters pass."""
        for name, pattern, value in (("--source", _SOURCE, self.source),
                                     ("--pack", _PACK, self.pack),
                                     ("--cron", _CRON, self.cron),
                                     ("--install", _INSTALL, self.install)):
            if not pattern.fullmatch(value):
                raise ConfigError(f"{name}: {value!r} is not accepted here "
                                  "(plain characters only: it goes into YAML and shell)")
        return self

    @property
    def token_variable(self) -> str:
        return "GITLAB_TOKEN" if self.source.startswith("gitlab:") else "GITHUB_TOKEN"


def _scan_command(settings: Settings) -> str:
    return (f'governance scan "{settings.source}" --db {STORE} --out {OUT} '
            f"--resume --fail-on-new {settings.fail_on_new}")


def config_file(settings: Settings) -> str:
    return f"""\
# governance.yml: what the nightly scan checks. Changes arrive by pull request.
# Reference: `governance policies list`, `governance policies show POLICY`.
pack: {settings.pack}

# Extra policy folders of this repository (one folder per policy), if any.
policy_paths: []

# Per-policy overrides on top of the pack, for example:
#   no-manual-jobs:
#     options: {{allow: [release.yml]}}
#   license-present: {{enabled: false}}
policies: {{}}

repositories:
  include: ["*"]
  exclude: []
  archived: false
  forks: false

# Accepted exceptions, each with an owner, a reason and an expiry date; an expired waiver
# stops waiving and the nightly diff lists it.
#   - {{repository: "legacy-*", policy: ci-config-present, reason: "Decommissioned in Q1",
#      owner: platform-team@example.com, expires: 2027-03-31}}
waivers: []
"""


def github_workflow(settings: Settings) -> str:
    token = settings.token_variable
    return f"""\
# The nightly governance scan. The scan store is kept in the Actions cache between runs:
# a repeat scan reuses the findings of repositories whose head did not change, and a
# cancelled or failed run is resumed by the next one (--resume).
# Needs a secret GOVERNANCE_TOKEN that can read every repository of the source.
name: governance nightly scan

on:
  schedule:
    - cron: "{settings.cron}"
  push:
    branches: [main]
    paths: ["{CONFIG_PATH}", "{WORKFLOW_PATH}"]

permissions:
  contents: read

concurrency:
  group: governance-nightly
  cancel-in-progress: false

jobs:
  scan:
    runs-on: ubuntu-latest
    timeout-minutes: 240
    steps:
      - uses: {CHECKOUT}
        with:
          persist-credentials: false

      - uses: {SETUP_PYTHON}
        with:
          python-version: "3.12"

      - name: Install governance
        run: python -m pip install "{settings.install}"

      - name: Restore the scan store
        uses: {CACHE_RESTORE}
        with:
          path: {STORE}
          key: governance-store-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}
          restore-keys: governance-store-

      - name: Scan
        id: scan
        env:
          {token}: ${{{{ secrets.GOVERNANCE_TOKEN }}}}
        run: |
          code=0
          {_scan_command(settings)} || code=$?
          echo "code=$code" >> "$GITHUB_OUTPUT"

      - name: Save the scan store
        if: always()
        uses: {CACHE_SAVE}
        with:
          path: {STORE}
          key: governance-store-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}

      - name: Summary of the changes since the last scan
        if: always()
        run: governance diff --db {STORE} --output markdown >> "$GITHUB_STEP_SUMMARY" || true

      - name: Publish the report
        if: always()
        uses: {UPLOAD}
        with:
          name: governance-report
          path: {OUT}/
          retention-days: 30
          if-no-files-found: ignore

      - name: Fail on new {settings.fail_on_new} failures
        if: always()
        env:
          CODE: ${{{{ steps.scan.outputs.code }}}}
        run: |
          case "$CODE" in
            1) echo "::error::new {settings.fail_on_new} failures since the last scan"; exit 1 ;;
            2) echo "::error::the scan could not run (see the Scan step)"; exit 2 ;;
            3) echo "::warning::partial scan: some findings are errors (see the report)" ;;
            130) echo "::warning::the scan was interrupted; the next run resumes it" ;;
            *) ;;
          esac
"""


def gitlab_pipeline(settings: Settings) -> str:
    token = settings.token_variable
    return f"""\
# The nightly governance scan. Create a pipeline schedule (Build > Pipeline schedules,
# for example "{settings.cron}") and a masked CI/CD variable GOVERNANCE_TOKEN that can read
# every repository of the source. The scan store is kept in the CI cache between runs: a
# repeat scan reuses the findings of unchanged repositories and an interrupted run is
# resumed by the next one (--resume).
stages: [scan]

governance-nightly:
  stage: scan
  image: python:3.12-slim
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
  timeout: 4h
  cache:
    - key: governance-store
      paths: [.governance/]
      when: always
  variables:
    {token}: $GOVERNANCE_TOKEN
  before_script:
    - python -m pip install "{settings.install}"
  script:
    - code=0
    - {_scan_command(settings)} || code=$?
    - mkdir -p {OUT}
    - governance diff --db {STORE} --output markdown > {OUT}/summary.md || true
    - cat {OUT}/summary.md
    - |
      case "$code" in
        1) echo "new {settings.fail_on_new} failures since the last scan"; exit 1 ;;
        2) echo "the scan could not run"; exit 2 ;;
        3) echo "warning: partial scan: some findings are errors (see the report)" ;;
        *) ;;
      esac
  artifacts:
    when: always
    expire_in: 30 days
    name: governance-report
    paths: [{OUT}/]
"""


def files(settings: Settings) -> dict[str, str]:
    """Relative path -> content of every scaffolded file."""
    settings = settings.validate()
    return {
        CONFIG_PATH: config_file(settings),
        WORKFLOW_PATH: github_workflow(settings),
        GITLAB_PATH: gitlab_pipeline(settings),
    }


def write(folder: Path, contents: Mapping[str, str], force: bool = False) -> list[Path]:
    """Write the files under `folder`; existing ones are kept unless `force`."""
    existing = [name for name in contents if (folder / name).exists()]
    if existing and not force:
        raise ConfigError(f"{', '.join(existing)} already exist(s) in {folder}; "
                          "--force overwrites")
    written = []
    for name, text in contents.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
