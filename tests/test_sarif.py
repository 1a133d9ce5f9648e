"""findings.sarif from a real scan of real git repositories, checked against the official
SARIF 2.1.0 schema (tests/contracts/sarif) and against what GitHub code scanning needs.

The pack: readme-present (fails without a file), actions-pinned (fails at a file and line)
and the test-only fixture-behaviour (pass, fail or crash as the repository's MODE says).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema
import pytest

from governance.demo import make_repo
from governance.models import Finding, Location, Outcome, Severity, Waiver
from governance.render import FORMATS, write_reports
from governance.render.sarif import (
    FINGERPRINT_KEY,
    ROOT_URI,
    SARIF_VERSION,
    artifact_uri,
    build_sarif,
    fingerprint,
)
from governance.render.tabular import load_findings
from governance.scan import ScanRequest, run_scan

HERE = Path(__file__).resolve().parent
SCHEMA = HERE / "contracts" / "sarif" / "sarif-schema-2.1.0.json"
FIXTURE_POLICIES = HERE / "policies_fixture"

HOSTILE = "x<img src=x onerror=alert(1)> `t` | @team"
HOSTILE_WORKFLOW = ".github/workflows/build <b> #1 %41?.yml"
JAPANESE = "日本語-サービス"
JAPANESE_WORKFLOW = ".github/workflows/ワークフロー.yml"
UNPINNED = """\
name: ci
on: push
permissions: {contents: read}
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo hello
      - uses: actions/checkout@v4
"""
PINNED = UNPINNED.replace("actions/checkout@v4",
                          "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683")
PACK = """\
id: sarif-test
defaults: false
policies:
  readme-present: {}
  actions-pinned: {}
  fixture-behaviour: {severity: critical}
"""
REPOSITORIES: dict[str, dict[str, str]] = {
    "clean": {"README.md": "# clean\n", ".github/workflows/ci.yml": PINNED, "MODE": "pass"},
    # no README (repository-level failure), unpinned action at a hostile path, crash
    HOSTILE: {HOSTILE_WORKFLOW: UNPINNED, "MODE": "crash"},
    # unpinned action at a Japanese path, told to fail
    JAPANESE: {"README.md": "# jp\n", JAPANESE_WORKFLOW: UNPINNED, "MODE": "fail"},
    # waived README failure, passes otherwise
    "waived": {".github/workflows/ci.yml": PINNED, "MODE": "pass"},
}


@dataclass
class Scan:
    folder: Path
    meta: dict[str, object]
    sarif: dict[str, Any]
    findings: list[dict[str, Any]]

    @property
    def run(self) -> dict[str, Any]:
        (run,) = self.sarif["runs"]
        return run  # type: ignore[no-any-return]

    def results(self, policy: str) -> list[dict[str, Any]]:
        return [r for r in self.run["results"] if r["ruleId"] == policy]


def _scan(root: Path, out: Path) -> Scan:
    extra = root / "extra"
    (extra / "packs").mkdir(parents=True, exist_ok=True)
    (extra / "packs" / "sarif-test.yml").write_text(PACK, encoding="utf-8")
    config = root / "governance.yml"
    config.write_text(
        f"pack: sarif-test\npolicy_paths: [{json.dumps(str(extra))}, "
        f"{json.dumps(str(FIXTURE_POLICIES))}]\n"
        "waivers:\n  - {repository: waived, policy: readme-present, reason: archived soon,"
        " owner: team, expires: 2099-01-01}\n",
        encoding="utf-8",
    )
    outcome = run_scan(ScanRequest(f"local:{root / 'acme'}", config), out)
    write_reports(outcome.spool, outcome.meta, out, ["sarif", "json"])
    sarif = json.loads((out / "findings.sarif").read_text(encoding="utf-8"))
    document = json.loads((out / "findings.json").read_text(encoding="utf-8"))
    return Scan(out, dict(outcome.meta), sarif, document["findings"])


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> tuple[Scan, Scan]:
    """The same org scanned twice, the second time after a commit moved a failing line."""
    root = tmp_path_factory.mktemp("sarif")
    for name, files in REPOSITORIES.items():
        make_repo(root / "acme" / name, files)
    first = _scan(root, root / "out1")
    make_repo(root / "acme" / JAPANESE, {JAPANESE_WORKFLOW: "# moved down\n" + UNPINNED})
    return first, _scan(root, root / "out2")


@pytest.fixture(scope="module")
def scan(scans: tuple[Scan, Scan]) -> Scan:
    return scans[0]


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


# RFC 3986 URI reference characters: what GitHub's upload checks as "uri-reference".
_URI_REFERENCE = re.compile(r"^(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")


def _uris(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("uri", "informationUri", "helpUri") and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_uris(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_uris(value))
    return found


def test_sarif_is_valid_against_the_official_schema(scan: Scan) -> None:
    validator = _validator()
    errors = sorted(validator.iter_errors(scan.sarif), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])
    assert scan.sarif["version"] == SARIF_VERSION
    uris = _uris(scan.sarif)
    assert len(uris) > 5
    for uri in uris:
        assert _URI_REFERENCE.match(uri), uri


def test_the_schema_catches_what_it_should(scan: Scan) -> None:
    """The vendored schema is the real thing: it rejects a broken log."""
    validator = _validator()
    broken = json.loads(json.dumps(scan.sarif))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    del broken["runs"][0]["tool"]["driver"]["name"]
    assert len(list(validator.iter_errors(broken))) >= 2


def test_one_run_whose_rules_are_the_policies(scan: Scan) -> None:
    run = scan.run
    driver = run["tool"]["driver"]
    assert driver["name"] == "governance" and driver["version"] == scan.meta["tool_version"]
    assert driver["informationUri"].startswith("https://")
    policies = {p["id"]: p for p in scan.meta["policies"]}  # type: ignore[union-attr]
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(rules) == set(policies) == {"readme-present", "actions-pinned",
                                           "fixture-behaviour"}
    for policy_id, policy in policies.items():
        rule = rules[policy_id]
        assert rule["shortDescription"]["text"] == policy["title"]
        assert rule["fullDescription"]["text"] == " ".join(policy["rationale"].split())
        assert rule["help"]["text"] == " ".join(policy["remediation"].split())
        assert "How to fix" in rule["help"]["markdown"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]*", rule["name"])
    assert rules["actions-pinned"]["defaultConfiguration"]["level"] == "error"  # high
    assert rules["fixture-behaviour"]["defaultConfiguration"]["level"] == "error"  # critical
    assert rules["readme-present"]["defaultConfiguration"]["level"] == "note"  # low
    assert rules["actions-pinned"]["helpUri"].startswith("https://docs.github.com/")
    for result in run["results"]:  # ruleIndex points at the result's rule
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_failures_are_results_with_locations(scan: Scan) -> None:
    fails = [f for f in scan.findings if f["outcome"] == "fail"]
    results = scan.run["results"]
    assert sorted((r["properties"]["repository"], r["ruleId"]) for r in results) == sorted(
        (f["repository"], f["policy"]) for f in fails)
    assert len(results) == 4  # 2 x actions-pinned, readme-present, fixture-behaviour

    by_repo = {r["properties"]["repository"]: r for r in scan.results("actions-pinned")}
    hostile = by_repo[f"acme/{HOSTILE}"]
    (location,) = hostile["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert unquote(physical["artifactLocation"]["uri"]) == HOSTILE_WORKFLOW
    assert physical["region"]["startLine"] == UNPINNED.splitlines().index(
        "      - uses: actions/checkout@v4") + 1
    assert hostile["level"] == "error" and hostile["properties"]["severity"] == "high"
    japanese = by_repo[f"acme/{JAPANESE}"]["locations"][0]["physicalLocation"]
    assert unquote(japanese["artifactLocation"]["uri"]) == JAPANESE_WORKFLOW

    # A repository-level failure (no file) is located at the repository root.
    (readme,) = scan.results("readme-present")
    assert readme["properties"]["repository"] == f"acme/{HOSTILE}"
    assert readme["level"] == "note"
    (root,) = readme["locations"]
    assert root["physicalLocation"]["artifactLocation"]["uri"] == ROOT_URI
    assert "region" not in root["physicalLocation"]
    (told,) = scan.results("fixture-behaviour")
    assert told["level"] == "error" and told["message"]["text"] == "told to fail"


def test_errors_are_tool_notifications_and_nothing_else_is_reported(scan: Scan) -> None:
    (invocation,) = scan.run["invocations"]
    assert invocation["executionSuccessful"] is True
    assert invocation["startTimeUtc"].endswith("Z")
    (notification,) = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error"
    assert notification["associatedRule"]["id"] == "fixture-behaviour"
    assert notification["properties"]["repository"] == f"acme/{HOSTILE}"
    assert "boom from the fixture" in notification["message"]["text"]
    reported = {(r["properties"]["repository"], r["ruleId"]) for r in scan.run["results"]}
    assert (f"acme/{HOSTILE}", "fixture-behaviour") not in reported  # the crash
    assert ("acme/waived", "readme-present") not in reported  # waived
    assert not any(repo == "acme/clean" for repo, _ in reported)  # passes


def test_fingerprints_are_stable_and_unique(scans: tuple[Scan, Scan]) -> None:
    first, second = scans

    def prints(scan: Scan) -> dict[tuple[str, str], str]:
        return {(r["properties"]["repository"], r["ruleId"]):
                r["partialFingerprints"][FINGERPRINT_KEY] for r in scan.run["results"]}

    assert prints(first) == prints(second)

    def line(scan: Scan) -> int:
        (result,) = [r for r in scan.results("actions-pinned")
                     if r["properties"]["repository"] == f"acme/{JAPANESE}"]
        start: int = result["locations"][0]["physicalLocation"]["region"]["startLine"]
        return start

    assert line(second) == line(first) + 1
    assert len(set(prints(first).values())) == len(first.run["results"])
    assert fingerprint("acme/a", "p") != fingerprint("acme/a", "q")
    assert fingerprint("acme/a", "p") != fingerprint("acme/ap", "")


@pytest.mark.parametrize(("path", "expected"), [
    ("README.md", "README.md"),
    (".github/workflows/a b.yml", ".github/workflows/a%20b.yml"),
    ("x#y?z%.yml", "x%23y%3Fz%25.yml"),
    ("<script>.yml", "%3Cscript%3E.yml"),
    ("/abs/path", "abs/path"),
    ("dir\\file.txt", "dir/file.txt"),
    ("日本.yml", "%E6%97%A5%E6%9C%AC.yml"),
    ("bad-\udcff.yml", "bad-%FF.yml"),  # an undecodable byte kept by the scan
    ("", ROOT_URI),
])
def test_artifact_uris_are_percent_encoded_relative_references(path: str, expected: str) -> None:
    uri = artifact_uri(path)
    assert uri == expected
    assert _URI_REFERENCE.match(uri)


def _finding(repository: str, policy: str, outcome: Outcome, **extra: Any) -> str:
    finding = Finding(repository, policy, outcome, Severity.MEDIUM, f"{policy} {outcome}",
                      **extra)
    return json.dumps(finding.as_dict())


def test_security_tags_multiple_locations_and_a_scan_of_many_repositories(
        tmp_path: Path) -> None:
    spool = tmp_path / "findings.jsonl"
    spool.write_text("\n".join([
        _finding("acme/a", "pinned", Outcome.FAIL, locations=(
            Location("a.yml", 3, "first"), Location("b.yml", None, "second"),
            Location("c.yml", 0))),
        _finding("acme/b", "pinned", Outcome.FAIL),
        _finding("acme/c", "pinned", Outcome.WAIVED,
                 waiver=Waiver("acme/c", "pinned", "ok", "me", None)),
        _finding("acme/d", "unlisted", Outcome.FAIL),
    ]) + "\n", encoding="utf-8")
    meta = {"tool_version": "1.2.3", "started": "2026-01-02T03:04:05+01:00",
            "policies": [{"id": "pinned", "title": "Pinned", "severity": "high",
                          "rationale": "why", "remediation": "how",
                          "tags": ["supply-chain"], "references": ["http://insecure.example",
                                                                   "https://ok.example"]}]}
    sarif = build_sarif(load_findings(spool), meta)
    assert not list(_validator().iter_errors(sarif))
    (run,) = sarif["runs"]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["pinned"]["properties"]["security-severity"] == "8.0"
    assert "security" in rules["pinned"]["properties"]["tags"]
    assert rules["pinned"]["helpUri"] == "https://ok.example"  # only https references
    assert "security-severity" not in rules["unlisted"]["properties"]
    assert run["invocations"][0]["startTimeUtc"] == "2026-01-02T02:04:05Z"
    (first,) = [r for r in run["results"] if r["properties"]["repository"] == "acme/a"]
    assert first["locations"][0]["physicalLocation"]["region"] == {"startLine": 3}
    assert first["locations"][0]["message"]["text"] == "first"
    related = first["relatedLocations"]
    assert [r["physicalLocation"]["artifactLocation"]["uri"] for r in related] == [
        "b.yml", "c.yml"]
    assert all("region" not in r["physicalLocation"] for r in related)  # no line, line 0
    assert len(run["results"]) == 3  # the waived finding is not reported


def test_sarif_is_a_known_format_and_an_empty_scan_is_valid(tmp_path: Path) -> None:
    assert "sarif" in FORMATS
    spool = tmp_path / "findings.jsonl"
    spool.write_text("", encoding="utf-8")
    (path,) = write_reports(spool, {"policies": []}, tmp_path, ["sarif"])
    assert path.name == "findings.sarif"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert not list(_validator().iter_errors(document))
    assert document["runs"][0]["results"] == []
