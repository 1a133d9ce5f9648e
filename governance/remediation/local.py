"""The write side of a local checkout: the fix as a branch with one commit.

A checkout has no pull requests, so the branch `governance/<policy-id>` itself is the
change request: `find` reports it as an open request numbered 0, and opening, updating or
commenting on it changes nothing. Commits are built with git plumbing only (hash-object,
a throw-away index file, write-tree, commit-tree, update-ref), so HEAD, the branch checked
out, the index and the working tree are never touched; a branch checked out in any
worktree (the current one included) and the default branch are refused.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from governance.errors import ProviderError
from governance.fixes import FileChange
from governance.models import RepoRef
from governance.providers.local import _GIT, first_line, git_env, is_git_repository
from governance.remediation.base import (
    COMMIT_TRAILER,
    Branch,
    BranchCommit,
    ChangeRequest,
    Marker,
    WriteRefused,
    is_ours,
)

# update-ref runs the reference-transaction hook; a fix must not run a checkout's hooks.
_NO_HOOKS = ("-c", f"core.hooksPath={os.devnull}")
# Commits are the tool's, whoever runs it: the trailer marks them, the identity names them.
_IDENTITY = {
    "GIT_AUTHOR_NAME": "governance",
    "GIT_AUTHOR_EMAIL": "governance@localhost",
    "GIT_COMMITTER_NAME": "governance",
    "GIT_COMMITTER_EMAIL": "governance@localhost",
}
_FIELD = "\x1f"  # between the fields of one commit in `git log` output


class LocalChangeRequests:
    """ChangeRequests for `local:` sources; the repository is the RepoRef's location."""

    kind = "local"

    def writable(self, repo: RepoRef) -> str | None:
        path = Path(repo.location)
        if not is_git_repository(path):
            return "not a git repository"
        if repo.default_branch is None:
            return ("HEAD is detached or the repository has no commits: "
                    "no branch to base a fix on")
        # Objects and branches live in the common folder (a linked worktree's own folder
        # holds neither).
        common = Path(self._git(path, "rev-parse", "--path-format=absolute",
                                "--git-common-dir").strip())
        for folder in (common, common / "objects"):
            if not os.access(folder, os.W_OK):
                return f"no write access to {folder}"
        return None

    def default_head(self, repo: RepoRef) -> str:
        sha = self._resolve(Path(repo.location), self._default(repo))
        if sha is None:
            raise ProviderError(f"{repo.name}: branch {self._default(repo)} not found")
        return sha

    def branch(self, repo: RepoRef, name: str) -> Branch | None:
        path = Path(repo.location)
        head = self._resolve(path, name)
        if head is None:
            return None
        return Branch(name, head, self._commits(path, name, self._default(repo)))

    def find(self, repo: RepoRef, branch: str) -> ChangeRequest | None:
        """The branch as an open request numbered 0, its body the marker of our newest
        commit on it (the trailer names policy and fingerprint), or None without a branch."""
        path = Path(repo.location)
        head = self._resolve(path, branch)
        if head is None:
            return None
        # The head first: after a merge into the default branch, no commit is "ahead".
        newest = [*self._commits(path, branch, None, limit=1),
                  *self._commits(path, branch, self._default(repo))]
        body = ""
        for commit in newest:
            if commit.ours:
                body = _marker_of(commit.message)
                break
        return ChangeRequest(0, path.as_uri(), "open", branch, body)

    def commit(self, repo: RepoRef, branch: str, base: str, changes: Sequence[FileChange],
               message: str, *, replace: str | None = None) -> str:
        path = Path(repo.location)
        self._refuse_checked_out(repo, branch)
        for change in changes:
            _check_path(change.path)
        with tempfile.TemporaryDirectory(prefix="governance-index-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self._git(path, "read-tree", f"{base}^{{tree}}", env=index)
            entries = b"".join(self._index_entry(path, change) for change in changes)
            self._git(path, "update-index", "-z", "--index-info", stdin=entries, env=index)
            tree = self._git(path, "write-tree", env=index).strip()
        sha = self._git(path, "commit-tree", "--no-gpg-sign", tree, "-p", base, "-F", "-",
                        stdin=message.encode("utf-8"), env=_IDENTITY).strip()
        old = replace if replace is not None else "0" * len(sha)
        moved = self._run(path, "update-ref", "-m", f"governance: {message.splitlines()[0]}",
                          f"refs/heads/{branch}", sha, old)
        if moved.returncode != 0:
            what = "was created" if replace is None else f"moved from {replace[:12]}"
            raise WriteRefused(f"branch {branch} {what} since it was read: not overwritten "
                               f"({first_line(moved.stderr)})")
        return sha

    def open(self, repo: RepoRef, branch: str, title: str, body: str,
             labels: Sequence[str]) -> ChangeRequest:
        """No pull request locally: the branch written by `commit` is the request."""
        found = self.find(repo, branch)
        if found is None:
            raise WriteRefused(f"branch {branch} does not exist")
        return found

    def update(self, repo: RepoRef, request: ChangeRequest, title: str, body: str) -> None:
        """Nothing to do: a branch has no title or body; `commit` moved it already."""

    def comment(self, repo: RepoRef, request: ChangeRequest, text: str) -> None:
        """Nothing to do: a local branch has nowhere to hold a comment."""

    def close(self, repo: RepoRef, request: ChangeRequest, comment: str) -> None:
        """Delete the branch, only while its head is still our commit."""
        path = Path(repo.location)
        self._refuse_checked_out(repo, request.branch)
        head = self._resolve(path, request.branch)
        if head is None:
            return
        message = self._git(path, "log", "-1", "--format=%B", head, "--")
        if not is_ours(message):
            raise WriteRefused(f"the head of {request.branch} is not a governance commit: "
                               "the branch is left alone")
        deleted = self._run(path, "update-ref", "-d", f"refs/heads/{request.branch}", head)
        if deleted.returncode != 0:
            raise WriteRefused(f"branch {request.branch} moved: not deleted "
                               f"({first_line(deleted.stderr)})")

    # -- git ---------------------------------------------------------------------------

    def _default(self, repo: RepoRef) -> str:
        if repo.default_branch is None:
            raise WriteRefused(f"{repo.name}: HEAD is detached: no default branch")
        return repo.default_branch

    def _refuse_checked_out(self, repo: RepoRef, branch: str) -> None:
        path = Path(repo.location)
        if self._run(path, "check-ref-format", "--branch", branch).returncode != 0:
            raise WriteRefused(f"{branch!r} is not a valid branch name")
        if branch == repo.default_branch:
            raise WriteRefused(f"{branch} is the default branch: never written")
        listing = self._git(path, "worktree", "list", "--porcelain")
        checked_out = {line.removeprefix("branch refs/heads/")
                       for line in listing.splitlines() if line.startswith("branch ")}
        if branch in checked_out:
            raise WriteRefused(f"{branch} is checked out: never written")

    def _resolve(self, path: Path, branch: str) -> str | None:
        found = self._run(path, "rev-parse", "--verify", "--quiet",
                          f"refs/heads/{branch}^{{commit}}")
        if found.returncode != 0:
            return None
        return found.stdout.decode().strip() or None

    def _commits(self, path: Path, branch: str, default: str | None, limit: int | None = None
                 ) -> tuple[BranchCommit, ...]:
        """Commits of `branch` that `default` lacks, newest first (all, or `limit`)."""
        args = ["log", "-z", f"--format=%H{_FIELD}%an <%ae>{_FIELD}%B"]
        if limit is not None:
            args.append(f"--max-count={limit}")
        args.append(f"refs/heads/{branch}")
        if default is not None and self._resolve(path, default) is not None:
            args += ["--not", f"refs/heads/{default}"]
        output = self._git(path, *args, "--")
        commits = []
        for record in output.split("\0"):
            if record:
                sha, author, message = record.split(_FIELD, 2)
                commits.append(BranchCommit(sha.strip(), author, message))
        return tuple(commits)

    def _index_entry(self, path: Path, change: FileChange) -> bytes:
        if change.content is None:  # mode 0 removes the path from the index
            return b"0 " + b"0" * 40 + b"\t" + change.path.encode("utf-8") + b"\0"
        blob = self._git(path, "hash-object", "-w", "--no-filters", "--stdin",
                         stdin=change.content).strip()
        mode = "100755" if change.executable else "100644"
        return f"{mode} {blob}\t{change.path}".encode() + b"\0"

    def _run(self, path: Path, *args: str, stdin: bytes | None = None,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*_GIT, *_NO_HOOKS, "-C", str(path), *args], input=stdin,
                              capture_output=True, env={**git_env(path), **(env or {})},
                              check=False)

    def _git(self, path: Path, *args: str, stdin: bytes | None = None,
             env: Mapping[str, str] | None = None) -> str:
        done = self._run(path, *args, stdin=stdin, env=env)
        if done.returncode != 0:
            raise ProviderError(f"git {args[0]} failed in {path}: {first_line(done.stderr)}")
        return done.stdout.decode("utf-8", "replace")


def _marker_of(message: str) -> str:
    """The request body a local branch stands for: the marker our trailer describes."""
    for line in message.splitlines():
        if line.startswith(f"{COMMIT_TRAILER}: "):
            policy, _, fingerprint = line.removeprefix(f"{COMMIT_TRAILER}: ").partition(" ")
            # The trailer does not record the tool version that wrote it.
            return Marker(policy.strip(), fingerprint.strip(), "unknown").comment()
    return ""


def _check_path(path: str) -> None:
    """A change may only name a file inside the work tree, never git's own files."""
    parts = path.split("/")
    if "\\" in path or "\0" in path or any(
            p in ("", ".", "..") or p.lower() == ".git" for p in parts):
        raise WriteRefused(f"refusing to write {path!r}: not a path inside the repository")

