from pathlib import Path

from governance.models import Confidence, Outcome
from governance.testing import evaluate

POLICY = "dependency-updates-configured"
DEPENDABOT = """\
version: 2
updates:
  - package-ecosystem: github-actions
    directory: /
    schedule: {interval: weekly}
  - package-ecosystem: pip
    directory: /
    schedule: {interval: weekly}
"""


def test_dependabot_with_updates_passes(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {".github/dependabot.yml": DEPENDABOT})
    assert finding.outcome is Outcome.PASS
    assert finding.message == (
        "dependency updates configured: Dependabot in .github/dependabot.yml (2 update entries)")


def test_dependabot_without_updates_fails_at_the_key(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {".github/dependabot.yaml": "version: 2\nupdates: []\n"})
    assert finding.outcome is Outcome.FAIL
    assert ".github/dependabot.yaml has no `updates:` entries" in finding.message
    assert (finding.path, finding.line) == (".github/dependabot.yaml", 2)


def test_dependabot_without_updates_key_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {".github/dependabot.yml": "version: 2\n"})
    assert finding.outcome is Outcome.FAIL
    assert finding.locations[0].note == "no entries under `updates:`"


def test_invalid_dependabot_yaml_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    text = "version: 2\nupdates:\n  - package-ecosystem: pip\n   directory: /\n"
    finding = evaluate(tmp_path, POLICY, {".github/dependabot.yml": text})
    assert finding.outcome is Outcome.ERROR
    assert finding.path == ".github/dependabot.yml"
    assert finding.line == 4
    assert finding.message.startswith(".github/dependabot.yml:4: invalid YAML")


def test_renovate_files_pass_and_name_the_file(tmp_path: Path) -> None:
    for index, name in enumerate(["renovate.json", ".renovaterc", ".github/renovate.json5",
                                  ".gitlab/renovate.json", ".renovaterc.json5"]):
        finding = evaluate(tmp_path / str(index), POLICY, {name: "{}\n"})
        assert finding.outcome is Outcome.PASS, name
        assert finding.message == f"dependency updates configured: Renovate in {name}"


def test_renovate_key_in_package_json_passes(tmp_path: Path) -> None:
    files = {"package.json": '{"name": "web", "renovate": {"extends": ["config:recommended"]}}'}
    finding = evaluate(tmp_path, POLICY, files)
    assert finding.outcome is Outcome.PASS
    assert "`renovate` key of package.json" in finding.message


def test_package_json_without_renovate_key_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"package.json": '{"name": "web"}'})
    assert finding.outcome is Outcome.FAIL
    assert "no Dependabot" in finding.message
    assert "Renovate" in finding.remediation


def test_renovate_covers_for_a_broken_dependabot_file(tmp_path: Path) -> None:
    files = {".github/dependabot.yml": "updates: [\n", "renovate.json": "{}"}
    finding = evaluate(tmp_path, POLICY, files)
    assert finding.outcome is Outcome.PASS
    assert "could not read .github/dependabot.yml" in finding.message


def test_invalid_package_json_is_an_error_when_nothing_else_is_configured(
    tmp_path: Path,
) -> None:
    finding = evaluate(tmp_path, POLICY, {"package.json": '{\n  "name": "web",\n}\n'})
    assert finding.outcome is Outcome.ERROR
    assert (finding.path, finding.line) == ("package.json", 3)


def test_nothing_configured_fails(tmp_path: Path) -> None:
    finding = evaluate(tmp_path, POLICY, {"README.md": "x\n"})
    assert finding.outcome is Outcome.FAIL


def test_gitlab_does_not_read_github_folders(tmp_path: Path) -> None:
    files = {".github/dependabot.yml": DEPENDABOT, ".github/renovate.json": "{}"}
    finding = evaluate(tmp_path, POLICY, provider="gitlab", files=files)
    assert finding.outcome is Outcome.FAIL
    assert finding.confidence is Confidence.MEDIUM
    assert {loc.path for loc in finding.locations} == {
        ".github/dependabot.yml", ".github/renovate.json"}
    assert "GitLab does not run Dependabot" in finding.message


def test_gitlab_folder_counts_on_gitlab_but_not_on_github(tmp_path: Path) -> None:
    files = {".gitlab/renovate.json": "{}"}
    assert evaluate(tmp_path / "gl", POLICY, provider="gitlab", files=files).outcome is Outcome.PASS
    on_github = evaluate(tmp_path / "gh", POLICY, provider="github", files=files)
    assert on_github.outcome is Outcome.FAIL
    assert on_github.locations[0].note == "Renovate does not read this folder on github"
