"""`local:PATH` against real git repositories: what is a repository, what content counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from governance.demo import _AUTHOR, make_repo
from governance.errors import ConfigError, FileProblem
from governance.providers import open_source
from governance.providers.base import Needs
from governance.providers.local import LocalProvider
from governance.snapshot import RepoFailure, RepoFiles, RepoSnapshot


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **_AUTHOR}).stdout


def snapshots(source: Path, needs: Needs | None = None
              ) -> Iterator[RepoSnapshot | RepoFailure]:
    provider = LocalProvider(source)
    return provider.snapshots(list(provider.list_repos()), needs or Needs())


def only(source: Path) -> RepoSnapshot:
    (item,) = list(snapshots(source))
    assert isinstance(item, RepoSnapshot), item
    return item


def test_single_checkout_is_one_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "payments-api", {"README.md": "# x\n", "src/app.py": "x\n"})
    refs = list(LocalProvider(repo).list_repos())
    assert [(r.name, r.location, r.provider) for r in refs] == [
        ("payments-api", str(repo), "local")
    ]


def test_sub_folder_of_a_checkout_means_that_checkout(tmp_path: Path) -> None:
    """`governance audit .` run from a sub-folder audits the enclosing repository."""
    repo = make_repo(tmp_path / "payments-api", {"src/app/main.py": "x\n", "README.md": "x"})
    refs = list(LocalProvider(repo / "src").list_repos())
    assert [(r.name, r.location) for r in refs] == [("payments-api", str(repo))]


def test_org_folder_lists_child_folders_sorted_skipping_hidden_ones_and_files(
    tmp_path: Path,
) -> None:
    org = tmp_path / "acme"
    for name in ("zeta", "alpha", "mid"):
        make_repo(org / name, {"README.md": name})
    make_repo(org / ".cache", {"README.md": "hidden"})
    (org / "notes.txt").write_text("a file, not a repository\n")
    names = [ref.name for ref in LocalProvider(org).list_repos()]
    assert names == ["acme/alpha", "acme/mid", "acme/zeta"]


def test_open_source_accepts_local_prefix_and_bare_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {"README.md": "x"})
    for spec in (f"local:{repo}", str(repo)):
        provider = open_source(spec)
        assert [ref.name for ref in provider.list_repos()] == ["svc"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: None, "no such folder"),
        (lambda p: p.write_text("a file"), "not a folder"),
        (lambda p: p.mkdir(), "not a git repository and has no sub-folders"),
    ],
    ids=["missing", "file", "empty-folder"],
)
def test_unusable_source_is_a_config_error(tmp_path: Path, setup: object, message: str) -> None:
    source = tmp_path / "source"
    setup(source)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=message):
        list(LocalProvider(source).list_repos())


def test_only_committed_head_content_counts(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {"README.md": "committed\n", "app.py": "v1\n"})
    (repo / "README.md").write_text("modified, not committed\n")
    (repo / "untracked.yml").write_text("jobs: {}\n")
    (repo / "staged.txt").write_text("staged only\n")
    git(repo, "add", "staged.txt")
    (repo / "app.py").unlink()  # deleted in the work tree, still committed

    snapshot = only(repo)
    try:
        files = RepoFiles(snapshot)
        assert sorted(files.paths) == ["README.md", "app.py"]
        assert files.read_text("README.md") == "committed\n"
        assert files.read_text("app.py") == "v1\n"
        assert snapshot.head_sha == git(repo, "rev-parse", "HEAD").strip()
    finally:
        snapshot.close()


def test_default_branch_is_the_checked_out_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {"README.md": "x"}, branch="trunk")
    snapshot = only(repo)
    snapshot.close()
    assert snapshot.ref.default_branch == "trunk"


def test_detached_head_has_no_branch_and_a_file_named_head_is_harmless(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {"HEAD": "a file named HEAD\n", "README.md": "v1\n"})
    first = git(repo, "rev-parse", "HEAD").strip()
    (repo / "README.md").write_text("v2\n")
    git(repo, "commit", "--quiet", "-am", "v2")
    git(repo, "checkout", "--quiet", "--detach", first)
    snapshot = only(repo)
    try:
        assert snapshot.head_sha == first
        assert snapshot.ref.default_branch is None
        assert RepoFiles(snapshot).read_text("README.md") == "v1\n"
    finally:
        snapshot.close()


def test_repository_without_commits_is_an_empty_snapshot_with_its_branch(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "new", {}, branch="develop")
    snapshot = only(repo)
    snapshot.close()
    assert snapshot.empty and snapshot.head_sha is None
    assert dict(snapshot.tree) == {}
    assert snapshot.ref.default_branch == "develop"


def test_bare_repository_is_read(tmp_path: Path) -> None:
    work = make_repo(tmp_path / "work", {"README.md": "bare\n", ".github/workflows/ci.yml": "x"})
    subprocess.run(["git", "clone", "--quiet", "--bare", str(work), str(tmp_path / "org" /
                    "svc.git")], check=True, capture_output=True)
    snapshot = only(tmp_path / "org")
    try:
        assert snapshot.ref.name == "org/svc.git"
        assert RepoFiles(snapshot).read_text("README.md") == "bare\n"
        assert snapshot.ref.default_branch == "main"
    finally:
        snapshot.close()


def test_worktree_with_a_gitdir_file_is_read(tmp_path: Path) -> None:
    main = make_repo(tmp_path / "main", {"README.md": "main\n"})
    git(main, "worktree", "add", "--quiet", "-b", "feature", str(tmp_path / "org" / "feature"))
    assert (tmp_path / "org" / "feature" / ".git").is_file()
    snapshot = only(tmp_path / "org")
    snapshot.close()
    assert snapshot.ref.default_branch == "feature"
    assert list(snapshot.tree) == ["README.md"]


def test_hidden_and_non_repository_folders(tmp_path: Path) -> None:
    org = tmp_path / "org"
    make_repo(org / "svc", {"README.md": "x"})
    (org / "scratch").mkdir()
    items = {item.ref.name: item for item in snapshots(org)}
    assert set(items) == {"org/svc", "org/scratch"}
    failure = items["org/scratch"]
    assert isinstance(failure, RepoFailure)
    assert failure.reason == f"{org / 'scratch'} is not a git repository"
    svc = items["org/svc"]
    assert isinstance(svc, RepoSnapshot)
    svc.close()


def test_broken_git_folder_is_not_read_as_the_enclosing_repository(tmp_path: Path) -> None:
    """An org folder inside a checkout: a child with an empty .git must not be read as
    the outer repository (its files would be attributed to the child)."""
    outer = make_repo(tmp_path / "outer", {"README.md": "outer repository\n"})
    (outer / "org" / "broken" / ".git").mkdir(parents=True)
    make_repo(outer / "org" / "fine", {"SECURITY.md": "x"})
    items = {item.ref.name: item for item in snapshots(outer / "org")}
    broken = items["org/broken"]
    assert isinstance(broken, RepoFailure)
    assert broken.reason.startswith(f"git cannot open {outer / 'org' / 'broken'}: ")
    fine = items["org/fine"]
    assert isinstance(fine, RepoSnapshot)
    fine.close()
    assert list(fine.tree) == ["SECURITY.md"]


_LIST_TREE = """
import sys
from pathlib import Path
from governance.providers.local import LocalProvider
from governance.providers.base import Needs
from governance.snapshot import RepoFiles
provider = LocalProvider(Path(sys.argv[1]))
(snapshot,) = provider.snapshots(list(provider.list_repos()), Needs())
print(sorted(snapshot.tree), RepoFiles(snapshot).read_text("README.md").strip())
snapshot.close()
"""


def test_git_environment_of_the_caller_does_not_redirect_reads(tmp_path: Path) -> None:
    """Run from a git hook or a CI step, GIT_DIR / GIT_WORK_TREE are set; ignore them."""
    other = make_repo(tmp_path / "other", {"OTHER.md": "x", "README.md": "other\n"})
    repo = make_repo(tmp_path / "svc", {"README.md": "svc\n"})
    env = {**os.environ, "GIT_DIR": str(other / ".git"), "GIT_WORK_TREE": str(other),
           "GIT_INDEX_FILE": str(other / ".git" / "index")}
    process = subprocess.run([sys.executable, "-c", _LIST_TREE, str(repo)], env=env,
                             capture_output=True, text=True, check=True, timeout=60)
    assert process.stdout.strip() == "['README.md'] svc"


def test_repository_symlinked_from_outside_the_org_is_refused(tmp_path: Path) -> None:
    outside = make_repo(tmp_path / "private" / "secret", {"README.md": "secret\n"})
    org = tmp_path / "org"
    make_repo(org / "inside", {"README.md": "x"})
    (org / "alias").symlink_to(org / "inside")
    (org / "escape").symlink_to(outside)
    items = {item.ref.name: item for item in snapshots(org)}
    escape = items["org/escape"]
    assert isinstance(escape, RepoFailure)
    assert escape.reason == f"{org / 'escape'} is a symlink to outside {org}; not followed"
    for name in ("org/alias", "org/inside"):  # a symlink within the org folder is fine
        item = items[name]
        assert isinstance(item, RepoSnapshot)
        item.close()


def test_symlinks_in_the_tree_resolve_inside_only(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "svc",
        {"ci/real.yml": "jobs: {}\n"},
        symlinks={".github/workflows/ci.yml": "../../ci/real.yml",
                  "passwd": "/etc/passwd", "up": "../svc/ci/real.yml",
                  "dangling": "nowhere.yml", "dir-link": "ci"},
    )
    snapshot = only(repo)
    try:
        files = RepoFiles(snapshot)
        assert snapshot.tree[".github/workflows/ci.yml"].kind == "symlink"
        assert files.yaml(".github/workflows/ci.yml") == {"jobs": {}}
        with pytest.raises(FileProblem, match="points outside the repository"):
            files.read_text("passwd")
        with pytest.raises(FileProblem, match="points outside the repository"):
            files.read_text("up")
        with pytest.raises(FileProblem, match="no such file in the committed tree"):
            files.read_text("dangling")
        with pytest.raises(FileProblem, match="no such file"):
            files.read_text("dir-link")  # a folder, not a file
    finally:
        snapshot.close()


def test_submodule_is_listed_but_not_read(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {"README.md": "x"})
    sha = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},vendor/lib")
    git(repo, "commit", "--quiet", "-m", "submodule")
    snapshot = only(repo)
    try:
        assert snapshot.tree["vendor/lib"].kind == "submodule"
        with pytest.raises(FileProblem, match="is a submodule, not a file"):
            RepoFiles(snapshot).read_text("vendor/lib")
    finally:
        snapshot.close()


def test_file_name_that_is_not_utf8_becomes_printable_text(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {"README.md": "x"})
    (repo / os.fsdecode(b"caf\xe9.yml")).write_text("a: 1\n")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "latin-1 name")
    snapshot = only(repo)
    try:
        (odd,) = [path for path in snapshot.tree if path != "README.md"]
        assert odd == "caf\ufffd.yml"
        odd.encode("utf-8")  # reports and terminals can write it
        json.dumps(odd, ensure_ascii=False).encode("utf-8")
        assert RepoFiles(snapshot).yaml(odd) == {"a": 1}
    finally:
        snapshot.close()


def test_settings_are_not_available_from_a_checkout(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {"README.md": "x"})
    (item,) = list(snapshots(repo, Needs(settings=frozenset({"branch_protection"}))))
    assert isinstance(item, RepoSnapshot)
    item.close()
    assert item.settings == {}
    assert "carries no forge settings" in item.unavailable["branch_protection"]


def test_files_are_read_lazily_and_close_is_idempotent(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {f"f{i}.txt": str(i) for i in range(50)})
    snapshot = only(repo)
    files = RepoFiles(snapshot)
    assert [files.read_text(f"f{i}.txt") for i in (7, 42, 7)] == ["7", "42", "7"]
    snapshot.close()
    snapshot.close()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root to give the repository to another user")
def test_repository_owned_by_another_user_is_read(tmp_path: Path) -> None:
    """CI containers often check out as one uid and scan as another (git's
    safe.directory check would refuse the repository)."""
    repo = make_repo(tmp_path / "svc", {"README.md": "someone else's\n"})
    for folder, dirs, names in os.walk(repo):
        for name in [*dirs, *names]:
            os.lchown(os.path.join(folder, name), 4242, 4242)
    os.lchown(repo, 4242, 4242)
    snapshot = only(repo)
    try:
        assert RepoFiles(snapshot).read_text("README.md") == "someone else's\n"
    finally:
        snapshot.close()


def test_glob_over_the_committed_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "svc", {
        "README.md": "x", "docs/readme.RST": "x", ".github/workflows/CI.YML": "x",
        ".github/workflows/nested/deploy.yml": "x", "infra/a/main.tf": "x", "main.tf": "x",
        ".hidden/x.tf": "x", "LICENSE-MIT": "x",
    })
    (repo / "README\n").write_text("a name ending in a line break")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", "odd name")
    snapshot = only(repo)
    try:
        files = RepoFiles(snapshot)
        assert files.glob(".github/workflows/*.y*ml") == [".github/workflows/CI.YML"]
        assert files.glob("**/*.tf") == [".hidden/x.tf", "infra/a/main.tf", "main.tf"]
        assert files.glob("README", "docs/README.{md,rst}") == ["docs/readme.RST"]
        assert files.glob("LICEN[CS]E*") == ["LICENSE-MIT"]
        found = files.glob("*.md")
        found.append("mutated by a caller")
        assert files.glob("*.md") == ["README.md"]  # cached, but callers get a copy
        assert files.find("readme.md") == "README.md"
    finally:
        snapshot.close()
