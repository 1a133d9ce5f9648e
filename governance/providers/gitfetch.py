"""Partial shallow clones: one commit's files over git's HTTPS protocol, no API quota.

A forge provider lists files and reads them through the API, which is cheapest when a
repository is small or its files are cached. Where a repository needs many requests (a
tree GitHub truncates, a GitLab tree of many pages, hundreds of files to read) it clones
instead: `git clone --bare --depth=1 --filter=blob:none` brings the commit and its trees
only, then the blobs the policies need come in one more fetch (`--stdin` with their ids,
as git's own lazy fetch does). Git traffic does not count against the API rate limit.

The credential reaches git through GIT_CONFIG_* environment variables (an
`http.extraHeader`), never the command line or the clone's config file, so it is not in
any process argument list or on disk.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from governance.errors import ProviderError
from governance.models import TreeEntry
from governance.providers.local import CatFile, first_line, git_env, parse_ls_tree

# Clone and fetch are bounded: a hung server must not hang the scan.
DEFAULT_TIMEOUT = 600.0
# GIT_CONFIG_COUNT (credentials in the environment) arrived in git 2.31.
MINIMUM_GIT = (2, 31)


def unsupported_reason() -> str | None:
    """Why this machine's git cannot take the clone path (None: it can)."""
    try:
        done = subprocess.run(["git", "--version"], capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"git cannot be run ({error})"
    found = re.search(r"(\d+)\.(\d+)", done.stdout)
    if done.returncode != 0 or found is None:
        return f"git --version answered {done.stdout.strip() or done.returncode!r}"
    if (int(found[1]), int(found[2])) < MINIMUM_GIT:
        return (f"git {found[1]}.{found[2]} is older than "
                f"{'.'.join(map(str, MINIMUM_GIT))}, which passing credentials needs")
    return None


class CloneFailed(ProviderError):
    """git could not clone or fetch; the message is git's first line of complaint."""


class ShallowClone:
    """A bare, partial, depth-1 clone of one branch in a temporary folder. Close it."""

    def __init__(self, url: str, *, username: str, password: str, what: str,
                 parent: Path | None = None, timeout: float = DEFAULT_TIMEOUT):
        self.url = url
        self._what = what
        self._secret = password
        self._timeout = timeout
        self.folder = Path(tempfile.mkdtemp(prefix="governance-clone-", dir=parent))
        basic = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._env = git_env(self.folder)
        self._env.update({
            "GIT_CONFIG_COUNT": "2",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            # no credential helper may answer (or store) anything for this host
            "GIT_CONFIG_KEY_1": "credential.helper",
            "GIT_CONFIG_VALUE_1": "",
        })
        self._reader: CatFile | None = None

    def clone(self, branch: str) -> str:
        """Clone `branch` (trees, no blobs); returns the commit it is at."""
        self._git("clone", "--quiet", "--bare", "--depth=1", "--filter=blob:none",
                  "--single-branch", "--no-tags", "--branch", branch, self.url,
                  str(self.folder), cwd=self.folder.parent)
        return self._git("rev-parse", "HEAD").decode().strip()

    def tree(self) -> dict[str, TreeEntry]:
        """Every path of the cloned commit (sizes are unknown: the blobs are not here)."""
        listing = self._git("ls-tree", "-r", "-z", "--full-tree", "HEAD")
        return dict(parse_ls_tree(listing))

    def fetch_blobs(self, ids: Iterable[str]) -> None:
        """Bring the given blobs in one fetch (missing ones would come one at a time)."""
        wanted = "".join(f"{sha}\n" for sha in ids)
        if wanted:
            self._git("-c", "fetch.negotiationAlgorithm=noop", "fetch", "--quiet", "origin",
                      "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no",
                      "--filter=blob:none", "--stdin", stdin=wanted.encode())

    def read_blob(self, entry: TreeEntry) -> bytes:
        if self._reader is None:
            self._reader = CatFile(self.folder, self._env)
        return self._reader.read_blob(entry)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def _git(self, *args: str, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
        command = ["git", *args] if cwd else ["git", "-C", str(self.folder), *args]
        try:
            done = subprocess.run(command, input=stdin, capture_output=True, env=self._env,
                                  cwd=cwd, timeout=self._timeout, check=False)
        except subprocess.TimeoutExpired:
            raise CloneFailed(f"{self._what}: git {args[0]} timed out after "
                              f"{self._timeout:.0f} s") from None
        except OSError as error:
            raise CloneFailed(f"{self._what}: cannot run git: {error}") from None
        if done.returncode != 0:
            reason = first_line(done.stderr).replace(self._secret, "***")
            raise CloneFailed(f"{self._what}: git {args[0]} failed: {reason}")
        return done.stdout
