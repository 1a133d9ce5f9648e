"""governance.yml: defaults, discovery in the working folder, waivers, repository filters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from governance.config import DEFAULT_PACK, Config, RepositoryFilter, load_config
from governance.errors import ConfigError
from governance.models import RepoRef, Waiver


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_without_a_file_the_defaults_apply(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.path is None
    assert config.pack == DEFAULT_PACK
    assert config.waivers == () and config.overrides == {} and config.policy_paths == ()


def test_governance_yml_in_the_working_folder_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "governance.yml", "pack: strict\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.path == Path("governance.yml")
    assert config.pack == "strict"


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "governance.yml", "# nothing yet\n"))
    assert config.pack == DEFAULT_PACK and config.repositories == RepositoryFilter()


def test_policy_paths_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = write(tmp_path / "conf" / "governance.yml",
                        "policy_paths: [local-policies, ../shared/policies]\n")
    monkeypatch.chdir(tmp_path / "conf")
    config = load_config(Path("governance.yml"))
    assert config.policy_paths == (
        (tmp_path / "conf" / "local-policies").resolve(),
        (tmp_path / "shared" / "policies").resolve(),
    )
    assert load_config(config_path).policy_paths == config.policy_paths


def test_waivers_carry_dates_and_the_line_they_were_written_on(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "governance.yml", """\
pack: gitops-baseline
waivers:
  - repository: acme/legacy-*
    policy: actions-pinned
    reason: vendored actions, replaced in Q3
    owner: platform-team
    expires: 2026-09-30
  - {repository: handbook, policy: "*", reason: docs only, owner: docs-team}
"""))
    assert config.waivers == (
        Waiver("acme/legacy-*", "actions-pinned", "vendored actions, replaced in Q3",
               "platform-team", dt.date(2026, 9, 30), source_line=3),
        Waiver("handbook", "*", "docs only", "docs-team", None, source_line=8),
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("pack: x\nwaivers:\n  - repository: r\n    policy: p\n    reason: ''\n    owner: o\n",
         5, "waivers.0.reason: String should have at least 1 character"),
        ("repositories:\n  include: [a]\n  archive: true\n", 3,
         "repositories: unknown key 'archive'; expected one of: include, exclude, archived, "
         "forks, topics, visibility"),
        ("- pack: x\n", 1, "expected a mapping at the top level"),
        ("pack: x\n  policies: {}\n", 2, "invalid YAML: "),
    ],
    ids=["empty-reason", "unknown-filter-key", "list", "bad-indent"],
)
def test_errors_carry_path_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path / "governance.yml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.path == str(path)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: {message}")


def test_config_that_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yml")
    (tmp_path / "folder.yml").mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "folder.yml")
    write(tmp_path / "latin1.yml", "")
    (tmp_path / "latin1.yml").write_bytes(b"pack: caf\xe9\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "latin1.yml")


def _ref(name: str, **extra: object) -> RepoRef:
    return RepoRef("github", name, f"https://example.invalid/{name}", **extra)  # type: ignore[arg-type]


def test_repository_filter_globs_archived_forks_topics_visibility(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "governance.yml", """\
repositories:
  include: ["acme/*"]
  exclude: ["*-sandbox", "acme/old-*"]
  topics: [production, pci]
  visibility: [private, internal]
"""))
    prod = {"topics": ("production",), "visibility": "private"}
    assert config.selects(_ref("acme/payments", **prod))
    assert not config.selects(_ref("other/payments", **prod))  # not included
    assert not config.selects(_ref("acme/team-sandbox", **prod))  # excluded by short name
    assert not config.selects(_ref("acme/old-billing", **prod))
    assert not config.selects(_ref("acme/payments", **{**prod, "archived": True}))
    assert not config.selects(_ref("acme/payments", **{**prod, "fork": True}))
    assert not config.selects(_ref("acme/payments", topics=("docs",), visibility="private"))
    assert not config.selects(_ref("acme/payments", topics=("pci",), visibility="public"))


def test_default_filter_takes_everything_but_archives_and_forks() -> None:
    config = Config(path=None)
    assert config.selects(_ref("any/thing"))
    assert not config.selects(_ref("any/thing", archived=True))
    assert not config.selects(_ref("any/thing", fork=True))
    opted_in = Config(path=None, repositories=RepositoryFilter(archived=True, forks=True))
    assert opted_in.selects(_ref("any/thing", archived=True, fork=True))
