"""`local:PATH`: one git checkout, or a folder whose child folders are checkouts.

Reads the committed tree of HEAD through git's object database (ls-tree, cat-file), so
untracked and modified files are ignored and a symlink is never followed on disk: it is
a blob holding its target, resolved (or refused) by RepoFiles inside the tree.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO

from governance.errors import ConfigError, FileProblem, ProviderError
from governance.models import RepoRef, TreeEntry
from governance.providers.base import Needs
from governance.snapshot import RepoFailure, RepoSnapshot

# Read-only plumbing, but a checkout may belong to another user (CI containers), and a
# hostile repository's config must not make git run anything.
_GIT = ("git", "-c", "safe.directory=*", "-c", "core.fsmonitor=false", "--no-pager")
_KINDS = {"100644": "file", "100755": "file", "120000": "symlink", "160000": "submodule"}
_UNSUPPORTED_SETTINGS = (
    "a local checkout carries no forge settings (branch protection, rulesets); "
    "scan the repository through its forge to evaluate this"
)


def is_git_repository(path: Path) -> bool:
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


def git_env(repo: Path) -> dict[str, str]:
    """git's environment for reading `repo` and nothing else.

    GIT_DIR, GIT_WORK_TREE... inherited from a caller (a git hook, a CI step) would make
    every command read that repository instead; and without a ceiling, a folder whose
    `.git` is broken or empty would be read as the enclosing repository (for example the
    checkout the org folder sits in), attributing its files to the wrong repository.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C",
               GIT_CEILING_DIRECTORIES=str(repo.parent))
    return env


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*_GIT, "-C", str(repo), *args], capture_output=True, env=git_env(repo), check=False
    )


class CatFile:
    """One `git cat-file --batch` process per repository, started on first read."""

    def __init__(self, repo: Path, env: dict[str, str] | None = None):
        self._repo = repo
        self._env = env or git_env(repo)
        self._process: subprocess.Popen[bytes] | None = None

    def read_blob(self, entry: TreeEntry) -> bytes:
        if entry.sha is None:
            raise FileProblem(entry.path, "has no object id")
        process = self._start()
        stdin, stdout = _pipes(process)
        try:
            stdin.write(entry.sha.encode() + b"\n")
            stdin.flush()
            header = stdout.readline().split()
            if len(header) != 3:
                raise FileProblem(entry.path, f"git cannot read object {entry.sha}")
            size = int(header[2])
            data = stdout.read(size)
            stdout.read(1)  # the newline after each object
        except (OSError, ValueError) as error:  # git died (disk, memory, killed)
            raise FileProblem(entry.path, f"git cannot read object {entry.sha}: {error}"
                              ) from None
        if len(data) != size:
            raise FileProblem(entry.path, f"git cannot read object {entry.sha}: truncated")
        return data

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            self._process = subprocess.Popen(
                [*_GIT, "-C", str(self._repo), "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=self._env,
            )
        return self._process

    def close(self) -> None:
        if self._process is not None:
            process, self._process = self._process, None
            stdin, stdout = _pipes(process)
            stdin.close()
            stdout.close()
            process.wait()


def _pipes(process: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    assert process.stdin is not None and process.stdout is not None
    return process.stdin, process.stdout


class LocalProvider:
    kind = "local"
    # A checkout has no forge settings: findings of an unchanged head can be reused whole.
    offers_settings = False

    def __init__(self, path: Path):
        self.root = path.expanduser().resolve()
        if not self.root.exists():
            raise ConfigError(f"local source {path}: no such folder")
        if not self.root.is_dir():
            raise ConfigError(f"local source {path}: not a folder")

    def list_repos(self) -> Iterator[RepoRef]:
        if is_git_repository(self.root):
            yield self._ref(self.root, self.root.name)
            return
        try:
            children = sorted(
                child for child in self.root.iterdir()
                if child.is_dir() and not child.name.startswith(".")
            )
        except OSError as error:
            raise ConfigError(f"local source {self.root}: cannot list: {error}") from None
        if not any(is_git_repository(child) for child in children):
            # A folder inside a checkout (`governance audit .` from a sub-folder) means
            # that checkout; a folder of plain folders is an org whose children are reported.
            toplevel = _enclosing_worktree(self.root)
            if toplevel is not None:
                yield self._ref(toplevel, toplevel.name)
                return
        if not children:
            raise ConfigError(
                f"local source {self.root}: not a git repository and has no sub-folders "
                "that could be repositories"
            )
        for child in children:
            yield self._ref(child, f"{self.root.name}/{child.name}")

    def _ref(self, path: Path, name: str) -> RepoRef:
        # The head is read while listing (one git process, which the snapshot then saves),
        # so that an incremental scan can skip a repository whose head did not change.
        sha, branch = None, None
        if is_git_repository(path) and self._inside(path):
            sha, branch = _head(path)
        return RepoRef(provider=self.kind, name=name, location=str(path), visibility="unknown",
                       default_branch=branch, head_sha=sha)

    def _inside(self, path: Path) -> bool:
        return not path.is_symlink() or path.resolve().is_relative_to(self.root)

    def snapshots(
        self, refs: Iterable[RepoRef], needs: Needs
    ) -> Iterator[RepoSnapshot | RepoFailure]:
        # Files are read lazily from the object database, so `needs` only matters for
        # settings, which a checkout does not have.
        for ref in refs:
            try:
                yield self.snapshot(ref, needs)
            except ProviderError as error:
                yield RepoFailure(ref, str(error))

    def snapshot(self, ref: RepoRef, needs: Needs) -> RepoSnapshot:
        path = Path(ref.location)
        if not self._inside(path):
            raise ProviderError(f"{path} is a symlink to outside {self.root}; not followed")
        if not is_git_repository(path):
            raise ProviderError(f"{path} is not a git repository")
        unavailable = dict.fromkeys(needs.settings, _UNSUPPORTED_SETTINGS)
        sha: str | None
        branch: str | None
        if ref.head_sha is not None:
            # Read while listing: the snapshot is of that commit (objects never change).
            sha, branch = ref.head_sha, ref.default_branch
        else:
            sha, branch = _head(path)
        if sha is None:
            probe = _git(path, "rev-parse", "--git-dir")
            if probe.returncode != 0:
                raise ProviderError(f"git cannot open {path}: {first_line(probe.stderr)}")
            # A repository with no commits yet: its branch is still named.
            branch = _git(path, "symbolic-ref", "--quiet", "--short", "HEAD").stdout.decode(
                "utf-8", "replace").strip()
        if branch and branch != "HEAD" and ref.default_branch != branch:
            ref = replace(ref, default_branch=branch)
        reader = CatFile(path)
        if sha is None:
            # An empty tree, reported as such by policies.
            return RepoSnapshot(ref, None, {}, reader, {}, unavailable, reader.close)
        listing = _git(path, "ls-tree", "-r", "-z", "--long", "--full-tree", sha)
        if listing.returncode != 0:
            raise ProviderError(f"git cannot list {path}: {first_line(listing.stderr)}")
        tree = dict(parse_ls_tree(listing.stdout))
        return RepoSnapshot(ref, sha, tree, reader, {}, unavailable, reader.close)


def _enclosing_worktree(folder: Path) -> Path | None:
    env = git_env(folder)
    del env["GIT_CEILING_DIRECTORIES"]  # here the point is to look upwards
    result = subprocess.run(
        [*_GIT, "-C", str(folder), "rev-parse", "--show-toplevel"],
        capture_output=True, env=env, check=False,
    )
    if result.returncode != 0 or not result.stdout.strip():
        return None
    return Path(result.stdout.decode("utf-8", "surrogateescape").strip())


_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_BRANCH = re.compile(r"refs/heads/(?!.*\.\.)[A-Za-z0-9._/-]{1,200}")


def _read_small(path: Path) -> str | None:
    """A small regular file's text; None for anything else (missing, symlink, large)."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 4096:
            return None
        return path.read_text(encoding="ascii")
    except (OSError, ValueError):
        return None


def _head_from_files(path: Path) -> tuple[str, str | None] | None:
    """The head read from `.git` in the everyday layout (a `.git` folder, HEAD naming a
    branch whose ref is loose or packed, or a detached HEAD): no process, which matters
    when a repeat scan lists thousands of repositories. None for anything unusual (a
    `.git` file, a bare repository, reftable, a symbolic HEAD, no commits yet): git then
    decides."""
    git_dir = path / ".git"
    if git_dir.is_symlink() or not git_dir.is_dir() or (git_dir / "commondir").exists():
        return None
    head = _read_small(git_dir / "HEAD")
    if head is None:
        return None
    head = head.strip()
    if _HEX.fullmatch(head):
        return head, None  # detached
    name = head.removeprefix("ref: ")
    if name == head or not _BRANCH.fullmatch(name):
        return None
    loose = _read_small(git_dir / name)
    if loose is not None:
        sha = loose.strip()
        return (sha, name.removeprefix("refs/heads/")) if _HEX.fullmatch(sha) else None
    packed = _read_packed(git_dir / "packed-refs", name)
    return (packed, name.removeprefix("refs/heads/")) if packed else None


def _read_packed(packed_refs: Path, name: str) -> str | None:
    try:
        if packed_refs.is_symlink() or not packed_refs.is_file():
            return None
        with packed_refs.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                sha, _, ref = line.rstrip("\n").partition(" ")
                if ref == name and _HEX.fullmatch(sha):
                    return sha
    except OSError:
        return None
    return None


def _head(path: Path) -> tuple[str | None, str | None]:
    """The head commit and the branch HEAD points at (None when detached); (None, None)
    when git cannot tell (no commits yet, a broken repository)."""
    found = _head_from_files(path)
    if found is not None:
        return found
    # One process for both; `--` makes them revisions, never paths of the work tree.
    head = _git(path, "rev-parse", "HEAD^{commit}", "--symbolic-full-name", "HEAD", "--")
    lines = head.stdout.decode("utf-8", "replace").splitlines()
    if head.returncode != 0 or len(lines) < 2:
        return None, None
    branch = lines[1].strip().removeprefix("refs/heads/")
    return lines[0].strip(), (branch if branch and branch != "HEAD" else None)


def parse_ls_tree(output: bytes) -> Iterator[tuple[str, TreeEntry]]:
    for record in output.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        mode, _type, sha, *rest = meta.split()  # the size only with `ls-tree -l`
        size = rest[0] if rest else b"-"
        # Not "surrogateescape": a lone surrogate in a path crashes every UTF-8 writer
        # downstream (reports, the terminal). The object id still finds the blob.
        path = raw_path.decode("utf-8", "replace")
        kind = _KINDS.get(mode.decode(), "file")
        yield path, TreeEntry(
            path=path, kind=kind, size=None if size == b"-" else int(size), sha=sha.decode()
        )


def first_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[0] if text else "unknown error"
