"""The bundled packs and the example configuration resolve against the bundled policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance import resources
from governance.config import load_config
from governance.errors import ConfigError
from governance.models import Severity
from governance.policy import discover, find_pack, resolve

ROOT = Path(__file__).resolve().parent.parent
BASELINE_IDS = {
    "ci-config-present", "no-manual-jobs", "iac-linted", "serverless-bundled",
    "dependency-updates-configured", "actions-pinned", "workflow-permissions-declared",
    "no-dangerous-workflow", "default-branch-protected", "codeowners-present",
    "security-policy-present", "license-present", "readme-present",
}


def _enabled(pack: str) -> dict[str, Severity]:
    policies = discover([resources.policies_folder()])
    enabled = resolve(policies, find_pack(pack, [resources.packs_folder()]))
    return {e.id: e.severity for e in enabled}


def test_baseline_enables_every_policy_the_reports_rely_on() -> None:
    assert set(_enabled("gitops-baseline")) >= BASELINE_IDS


def test_strict_extends_baseline_and_raises_severities() -> None:
    baseline, strict = _enabled("gitops-baseline"), _enabled("strict")
    assert set(strict) == set(baseline)
    assert strict["actions-pinned"] is Severity.CRITICAL
    assert all(strict[p].rank >= baseline[p].rank for p in strict)


def test_serverless_pack_selects_only_what_it_lists() -> None:
    enabled = _enabled("serverless")
    assert "serverless-bundled" in enabled and enabled["serverless-bundled"] is Severity.HIGH
    assert "readme-present" not in enabled


def test_unknown_pack_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="gitops-baseline"):
        find_pack("no-such-pack", [resources.packs_folder()])


def test_example_config_is_valid_and_its_overrides_resolve() -> None:
    config = load_config(ROOT / "governance.example.yml")
    policies = discover([resources.policies_folder()])
    enabled = resolve(policies, find_pack(config.pack, [resources.packs_folder()]),
                      config.overrides, config.path)
    ids = {e.id for e in enabled}
    assert "license-present" not in ids
    manual = next(e for e in enabled if e.id == "no-manual-jobs")
    assert manual.options["allow"] == ["release.yml"]
    assert config.waivers[0].expires is not None and config.waivers[0].source_line
