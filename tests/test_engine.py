"""The engine over real repositories: outcomes, waivers, crashes, severities and options."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from governance import resources
from governance.config import load_config
from governance.demo import make_repo
from governance.engine import Engine
from governance.errors import ConfigError, PolicyError
from governance.models import Finding, Location, Outcome, RepoRef, Severity, Waiver
from governance.policy import EnabledPolicy, Policy, discover
from governance.providers.local import LocalProvider
from governance.scan import load_policies
from governance.snapshot import RepoFailure

FIXTURES = Path(__file__).resolve().parent / "policies_fixture"
TODAY = dt.date(2026, 3, 15)


@pytest.fixture(scope="module")
def policies() -> dict[str, Policy]:
    return discover([resources.policies_folder(), FIXTURES])


def enabled(policies: dict[str, Policy], policy_id: str, **options: Any) -> EnabledPolicy:
    policy = policies[policy_id]
    return EnabledPolicy(policy, policy.definition.severity,
                         {**policy.definition.options, **options})


def run(engine: Engine, source: Path) -> dict[tuple[str, str], Finding]:
    provider = LocalProvider(source)
    return {(f.repository.rsplit("/", 1)[-1], f.policy): f
            for f in engine.run(provider, provider.list_repos())}


def org_with_modes(folder: Path, modes: dict[str, str | None]) -> Path:
    """One repository per entry; MODE file says what fixture-behaviour does there."""
    for name, mode in modes.items():
        files = {"src/app.py": "x\n"} if mode is None else {"MODE": mode + "\n"}
        make_repo(folder / name, files)
    return folder


def waiver(repository: str = "*", policy: str = "fixture-behaviour", *,
           expires: dt.date | None = None, owner: str = "alice",
           reason: str = "migration planned") -> Waiver:
    return Waiver(repository=repository, policy=policy, reason=reason, owner=owner,
                  expires=expires)


def waived_org(tmp_path: Path, policies: dict[str, Policy], waivers: Sequence[Waiver],
               repos: Sequence[str] = ("payments-api",)) -> dict[tuple[str, str], Finding]:
    org = org_with_modes(tmp_path / "acme", dict.fromkeys(repos, "fail"))
    engine = Engine([enabled(policies, "fixture-behaviour")], waivers, today=TODAY)
    return run(engine, org)


# --- waivers ---

def test_active_waiver_turns_a_failure_into_waived_with_owner_and_reason(
    tmp_path: Path, policies: dict[str, Policy]
) -> None:
    w = waiver("payments-api", expires=dt.date(2026, 6, 30))
    finding = waived_org(tmp_path, policies, [w])[("payments-api", "fixture-behaviour")]
    assert finding.outcome is Outcome.WAIVED
    assert finding.waiver == w
    assert finding.message == "told to fail (waived: migration planned)"
    assert finding.severity is Severity.MEDIUM
    assert finding.as_dict()["waiver"] == {
        "repository": "payments-api", "policy": "fixture-behaviour",
        "reason": "migration planned", "owner": "alice", "expires": "2026-06-30",
    }


def test_expired_waiver_keeps_the_failure_and_says_it_expired(
    tmp_path: Path, policies: dict[str, Policy]
) -> None:
    w = waiver(expires=dt.date(2026, 3, 14), owner="bob")
    finding = waived_org(tmp_path, policies, [w])[("payments-api", "fixture-behaviour")]
    assert finding.outcome is Outcome.FAIL
    assert finding.waiver is None
    assert finding.message == ("told to fail (waiver by bob expired on 2026-03-14: "
                               "migration planned)")
    assert finding.details["expired_waiver"]["owner"] == "bob"
    assert finding.remediation  # a failure still says how to fix it


def test_waiver_is_active_on_its_expiry_date(tmp_path: Path, policies: dict[str, Policy]) -> None:
    finding = waived_org(tmp_path, policies, [waiver(expires=TODAY)])[
        ("payments-api", "fixture-behaviour")]
    assert finding.outcome is Outcome.WAIVED


def test_renewed_waiver_listed_after_the_expired_one_applies(
    tmp_path: Path, policies: dict[str, Policy]
) -> None:
    old = waiver(expires=dt.date(2025, 12, 31), owner="bob", reason="old")
    renewed = waiver(expires=dt.date(2026, 12, 31), owner="carol", reason="renewed")
    finding = waived_org(tmp_path, policies, [old, renewed])[
        ("payments-api", "fixture-behaviour")]
    assert finding.outcome is Outcome.WAIVED
    assert finding.waiver == renewed


@pytest.mark.parametrize("pattern", ["acme/pay*", "pay*", "*-api", "acme/payments-api"])
def test_waiver_repository_glob_matches_full_or_short_name(
    pattern: str, tmp_path: Path, policies: dict[str, Policy]
) -> None:
    findings = waived_org(tmp_path, policies, [waiver(pattern)],
                          repos=("payments-api", "web-frontend"))
    assert findings[("payments-api", "fixture-behaviour")].outcome is Outcome.WAIVED
    assert findings[("web-frontend", "fixture-behaviour")].outcome is Outcome.FAIL


def test_waiver_for_another_policy_does_not_apply(
    tmp_path: Path, policies: dict[str, Policy]
) -> None:
    findings = waived_org(tmp_path, policies, [waiver(policy="readme-present")])
    assert findings[("payments-api", "fixture-behaviour")].outcome is Outcome.FAIL


def test_star_waiver_covers_every_failing_policy_but_not_passes_or_errors(
    tmp_path: Path, policies: dict[str, Policy]
) -> None:
    org = org_with_modes(tmp_path / "acme", {"legacy": "fail", "broken": "crash"})
    make_repo(tmp_path / "acme" / "documented", {"README.md": "# hi\n", "MODE": "fail\n"})
    engine = Engine([enabled(policies, "fixture-behaviour"), enabled(policies, "readme-present")],
                    [waiver("legacy", "*"), waiver("broken", "*"), waiver("documented", "*")],
                    today=TODAY)
    findings = run(engine, org)
    assert findings[("legacy", "fixture-behaviour")].outcome is Outcome.WAIVED
    assert findings[("legacy", "readme-present")].outcome is Outcome.WAIVED
    assert findings[("broken", "fixture-behaviour")].outcome is Outcome.ERROR
    assert findings[("documented", "readme-present")].outcome is Outcome.PASS
    assert findings[("documented", "readme-present")].waiver is None


# --- crashes and other outcomes ---

def test_crashing_check_is_an_error_and_the_scan_goes_on(
    tmp_path: Path, policies: dict[str, Policy], caplog: pytest.LogCaptureFixture
) -> None:
    org = org_with_modes(tmp_path / "acme", {"a-ok": "pass", "b-crash": "crash",
                                             "c-exit": "exit", "d-bad": "bad-return",
                                             "e-ok": None})
    engine = Engine([enabled(policies, "fixture-behaviour"), enabled(policies, "readme-present")])
    seen: list[str] = []
    provider = LocalProvider(org)
    with caplog.at_level(logging.ERROR, logger="governance.engine"):
        findings = {(f.repository, f.policy): f for f in engine.run(
            provider, provider.list_repos(), lambda ref, found: seen.append(ref.name))}
    assert seen == ["acme/a-ok", "acme/b-crash", "acme/c-exit", "acme/d-bad", "acme/e-ok"]
    behaviour = {repo: f for (repo, policy), f in findings.items()
                 if policy == "fixture-behaviour"}
    assert behaviour["acme/b-crash"].outcome is Outcome.ERROR
    assert behaviour["acme/b-crash"].message == (
        "check crashed: RuntimeError: boom from the fixture")
    assert behaviour["acme/c-exit"].message == "check crashed: SystemExit: 4"
    assert behaviour["acme/d-bad"].message == (
        "check crashed: TypeError: check returned str, not Result")
    assert behaviour["acme/a-ok"].outcome is Outcome.PASS
    assert behaviour["acme/e-ok"].outcome is Outcome.PASS
    # the other policy of the crashing repositories ran
    assert findings[("acme/b-crash", "readme-present")].outcome is Outcome.FAIL
    crashed = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert [r.exc_info is not None for r in crashed] == [True, True, True]
    assert "fixture-behaviour crashed on acme/b-crash" in crashed[0].getMessage()


def test_unsupported_becomes_not_available_with_the_reason(
    tmp_path: Path, policies: dict[str, Policy]
) -> None:
    org = org_with_modes(tmp_path / "acme", {"svc": "unsupported"})
    finding = run(Engine([enabled(policies, "fixture-behaviour")]), org)[
        ("svc", "fixture-behaviour")]
    assert finding.outcome is Outcome.NOT_AVAILABLE
    assert "a local checkout carries no forge settings" in finding.message
    assert finding.remediation == ""


def test_file_problem_is_an_error_pointing_at_file_and_line(
    tmp_path: Path, policies: dict[str, Policy]
) -> None:
    make_repo(tmp_path / "acme" / "svc",
              {".github/workflows/ci.yml": "on: push\njobs:\n  a: 1\n  a: 2\n"})
    finding = run(Engine([enabled(policies, "fixture-workflow-yaml")]), tmp_path / "acme")[
        ("svc", "fixture-workflow-yaml")]
    assert finding.outcome is Outcome.ERROR
    assert finding.locations == (Location(".github/workflows/ci.yml", 4),)
    assert finding.message.startswith(".github/workflows/ci.yml:4: invalid YAML: ")


def test_unreadable_repository_is_an_error_for_every_policy(
    policies: dict[str, Policy]
) -> None:
    engine = Engine([enabled(policies, "fixture-behaviour"), enabled(policies, "readme-present")])
    ref = RepoRef("local", "acme/gone", "/nowhere")
    findings = engine.fail_repository(RepoFailure(ref, "/nowhere is not a git repository"))
    assert [(f.policy, f.outcome, f.message) for f in findings] == [
        ("fixture-behaviour", Outcome.ERROR, "/nowhere is not a git repository"),
        ("readme-present", Outcome.ERROR, "/nowhere is not a git repository"),
    ]


def test_empty_repository_prefixes_messages_except_not_available(
    tmp_path: Path, policies: dict[str, Policy]
) -> None:
    make_repo(tmp_path / "acme" / "new", {})
    engine = Engine([enabled(policies, "readme-present"),
                     enabled(policies, "fixture-behaviour", mode="unsupported")])
    findings = run(engine, tmp_path / "acme")
    readme = findings[("new", "readme-present")]
    assert readme.outcome is Outcome.FAIL
    assert readme.message.startswith("empty repository (no commits): no README")
    assert not findings[("new", "fixture-behaviour")].message.startswith("empty repository")


def test_needs_are_the_union_of_what_enabled_policies_read(
    policies: dict[str, Policy]
) -> None:
    engine = Engine([enabled(policies, "fixture-behaviour"),
                     enabled(policies, "fixture-workflow-yaml")])
    assert engine.needs.files == (".github/workflows/*.yaml", ".github/workflows/*.yml", "MODE")
    assert engine.needs.settings == frozenset({"branch_protection"})


def test_broken_check_module_fails_when_the_engine_is_built(tmp_path: Path) -> None:
    folder = tmp_path / "extra" / "broken-import"
    folder.mkdir(parents=True)
    (folder / "policy.yml").write_text(
        "id: broken-import\ntitle: t\nseverity: low\nrationale: r\nremediation: m\n")
    (folder / "check.py").write_text("import no_such_module_anywhere\n")
    (policy,) = discover([tmp_path / "extra"]).values()
    with pytest.raises(PolicyError, match="cannot import: ModuleNotFoundError") as caught:
        Engine([EnabledPolicy(policy, Severity.LOW, {})])
    assert caught.value.path == str(folder / "check.py")


# --- severities and options from packs and governance.yml ---

def scan_findings(scan: Callable[..., Any], org: Path, config: Path) -> dict[str, Any]:
    scanned = scan(org, config)
    return {f["policy"]: f for f in scanned.findings}


def test_severity_override_from_pack_then_config(
    tmp_path: Path, write_config: Callable[..., Path], scan_source: Callable[..., Any]
) -> None:
    org = org_with_modes(tmp_path / "acme", {"svc": "fail"})
    pack = tmp_path / "packs" / "team.yml"
    pack.parent.mkdir()
    pack.write_text("id: team\nextends: fixture-all\npolicies:\n"
                    "  fixture-behaviour: {severity: high}\n"
                    "  fixture-workflow-yaml: {enabled: false}\n")
    config = write_config(pack=str(pack))
    findings = scan_findings(scan_source, org, config)
    # `extends` found fixture-all in the extra policy folder's packs/; the child pack says
    # nothing about `defaults`, so it keeps its parent's (off: no bundled policy runs);
    # it disabled the other fixture policy.
    assert set(findings) == {"fixture-behaviour"}
    assert findings["fixture-behaviour"]["severity"] == "high"

    config = write_config("policies:\n  fixture-behaviour: {severity: critical}\n",
                          pack=str(pack))
    assert scan_findings(scan_source, org, config)["fixture-behaviour"]["severity"] == "critical"
    meta = scan_source(org, config).outcome.meta
    (entry,) = [p for p in meta["policies"] if p["id"] == "fixture-behaviour"]
    assert (entry["title"], entry["severity"]) == ("Behaves as told (test fixture)", "critical")


def test_pack_extending_with_defaults_on_adds_the_bundled_policies(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    pack = tmp_path / "team.yml"
    pack.write_text("id: team\nextends: fixture-all\ndefaults: true\n")
    _, resolved = load_policies(load_config(write_config(pack=str(pack))))
    ids = {e.id for e in resolved}
    assert {"fixture-behaviour", "fixture-workflow-yaml", "readme-present"} <= ids


def test_option_override_reaches_the_check(
    tmp_path: Path, write_config: Callable[..., Path], scan_source: Callable[..., Any]
) -> None:
    org = org_with_modes(tmp_path / "acme", {"svc": "pass"})
    config = write_config("policies:\n  fixture-behaviour:\n    options:\n"
                          "      threshold: 25\n      ratio: 1\n      anything: [1, 2]\n")
    findings = scan_findings(scan_source, org, config)
    assert findings["fixture-behaviour"]["details"] == {"threshold": 25}
    _, resolved = load_policies(load_config(config))
    options = {e.id: e.options for e in resolved}["fixture-behaviour"]
    assert options["ratio"] == 1 and options["anything"] == [1, 2]
    assert options["mode"] == "pass"  # untouched options keep their defaults


@pytest.mark.parametrize(
    ("options", "line", "message"),
    [
        ("threshold: ten", 6, "option fixture-behaviour.threshold expects a number, got a string"),
        ("threshold: true", 6,
         "option fixture-behaviour.threshold expects a number, got a boolean"),
        ("strict: 1", 6, "option fixture-behaviour.strict expects a boolean, got a number"),
        ("names: ci.yml", 6, "option fixture-behaviour.names expects a list, got a string"),
        ("mode: pass\n      treshold: 3", 7,
         "policy 'fixture-behaviour' has no option 'treshold' (options: anything, mode, names, "
         "ratio, strict, threshold)"),
    ],
    ids=["string-for-int", "bool-for-int", "int-for-bool", "string-for-list", "unknown"],
)
def test_option_override_is_validated_with_file_and_line(
    options: str, line: int, message: str, write_config: Callable[..., Path]
) -> None:
    config = write_config(f"policies:\n  fixture-behaviour:\n    options:\n      {options}\n")
    with pytest.raises(ConfigError) as caught:
        load_policies(load_config(config))
    assert (caught.value.path, caught.value.line) == (str(config), line)
    assert str(caught.value) == f"{config}:{line}: {message}"


def test_unknown_option_in_a_pack_names_the_pack(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    pack = tmp_path / "team.yml"
    pack.write_text("id: team\ndefaults: false\npolicies:\n  fixture-behaviour:\n"
                    "    options: {colour: red}\n")
    with pytest.raises(ConfigError) as caught:
        load_policies(load_config(write_config(pack=str(pack))))
    assert (caught.value.path, caught.value.line) == (str(pack), 5)
    assert "has no option 'colour'" in str(caught.value)
