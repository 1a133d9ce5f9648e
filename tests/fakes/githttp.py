"""Git's smart HTTP protocol for the fake forges, served by the real `git http-backend`.

A fake forge keeps its repositories as objects in memory (tests/fakes/gitobjects.py).
On the first git request for a repository they are written as loose objects into a bare
repository under a temporary folder (and again whenever a branch moved), and the request
is handed to `git http-backend` as a CGI, so the scanner's `git clone --filter=blob:none
--depth=1` talks to the same server code as on a real forge. Partial clone is enabled
(`uploadpack.allowFilter`, `allowAnySHA1InWant`) as on GitHub and GitLab.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .gitobjects import Signature, commit_bytes, hash_object, tree_bytes
from .server import Fault, ResetConnection, status_line

# /<owner>/<name>.git/info/refs?service=git-upload-pack and /<...>.git/git-upload-pack
_ROUTE = re.compile(r"^/(?P<repo>.+?)\.git/(?P<rest>info/refs|git-upload-pack)$")
_CONFIG = """[core]
\trepositoryformatversion = 0
\tbare = true
[uploadpack]
\tallowFilter = true
\tallowAnySHA1InWant = true
[http]
\tuploadpack = true
\treceivepack = false
"""


@dataclass
class GitCommit:
    """What a fake knows of a commit, enough to write it byte for byte."""

    sha: str
    tree: str
    parents: list[str]
    message: str
    author: Signature


@dataclass
class GitRepository:
    """A fake forge's repository, as the git server needs it."""

    commits: Mapping[str, GitCommit]
    trees: Mapping[str, Iterable[Any]]  # tree sha -> gitobjects.TreeEntry list
    blobs: Mapping[str, bytes]
    branches: Mapping[str, str]
    default_branch: str


@dataclass
class GitRequest:
    repository: str
    path: str
    credential: str | None  # the password of Basic auth (the token), None without auth


@dataclass
class GitHttp:
    """Serves in-memory repositories over smart HTTP; counts the requests it answered."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fake-git-")))
    requests: list[GitRequest] = field(default_factory=list)
    _written: dict[str, set[str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def route(path: str) -> tuple[str, str] | None:
        """(repository path, protocol step) when `path` is a git smart HTTP request."""
        found = _ROUTE.match(path)
        return (found["repo"], found["rest"]) if found else None

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def serve(
        self,
        environ: Mapping[str, Any],
        start_response: Callable[..., Any],
        repository: str,
        rest: str,
        find: Callable[[str, str | None], GitRepository | int],
        faults: Iterable[Fault] = (),
    ) -> Iterable[bytes]:
        """Answer one request; `find(repository, credential)` returns the repository or the
        HTTP status to refuse with (401 without credentials, 404 when not visible).
        `faults` are the forge's injected faults (kind, matches(method, path)): a latency
        delays, a reset drops the connection, a status kind answers that status."""
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        for fault in faults:
            if not fault.matches(method, f"/{repository}.git/{rest}"):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            fault.hits += 1
            if fault.kind == "latency":
                time.sleep(fault.latency_ms / 1000)
                continue
            if fault.kind == "reset":
                raise ResetConnection()
            start_response(status_line(429 if fault.kind == "429" else int(fault.kind)
                                       if fault.kind.isdigit() else 403), [])
            return [b"fault injected\n"]
        credential = _basic_password(environ.get("HTTP_AUTHORIZATION", ""))
        with self._lock:
            self.requests.append(GitRequest(repository, rest, credential))
            found = find(repository, credential)
            if isinstance(found, int):
                headers = [("Content-Type", "text/plain")]
                if found == 401:
                    headers.append(("WWW-Authenticate", 'Basic realm="fake forge"'))
                start_response(status_line(found), headers)
                return [b"denied\n" if found != 404 else b"Repository not found.\n"]
            folder = self._materialize(repository, found)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{folder.name}/{rest}",
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "REQUEST_METHOD": environ.get("REQUEST_METHOD", "GET"),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": environ.get("HTTP_GIT_PROTOCOL", ""),
            "HTTP_CONTENT_ENCODING": environ.get("HTTP_CONTENT_ENCODING", ""),
        }
        done = subprocess.run(["git", "http-backend"], input=body, env=env,
                              capture_output=True, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status = 200 if done.returncode == 0 else 500
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name.strip(), value.strip()))
        if done.returncode != 0 and not payload:
            payload = done.stderr
        start_response(status_line(status), headers)
        return [payload]

    def _materialize(self, repository: str, repo: GitRepository) -> Path:
        folder = self.root / (re.sub(r"[^A-Za-z0-9._-]", "_", repository) + ".git")
        written = self._written.setdefault(repository, set())
        if not written:
            for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags"):
                (folder / sub).mkdir(parents=True, exist_ok=True)
            (folder / "config").write_text(_CONFIG)
        for sha, commit in repo.commits.items():
            if sha in written:
                continue
            data = commit_bytes(commit.tree, commit.parents, commit.author, commit.author,
                                commit.message)
            self._write(folder, "commit", data, sha)
            written.add(sha)
        for sha, entries in repo.trees.items():
            if sha not in written:
                self._write(folder, "tree", tree_bytes(entries), sha)
                written.add(sha)
        for sha, data in repo.blobs.items():
            if sha not in written:
                self._write(folder, "blob", data, sha)
                written.add(sha)
        heads = folder / "refs" / "heads"
        shutil.rmtree(heads, ignore_errors=True)
        for branch, sha in repo.branches.items():
            target = heads / branch
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(sha + "\n")
        (folder / "HEAD").write_text(f"ref: refs/heads/{repo.default_branch}\n")
        return folder

    @staticmethod
    def _write(folder: Path, kind: str, data: bytes, sha: str) -> None:
        if hash_object(kind, data) != sha:  # the fake's bookkeeping, not the client, is wrong
            raise AssertionError(f"{kind} {sha} does not hash to its id")
        path = folder / "objects" / sha[:2] / sha[2:]
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(zlib.compress(f"{kind} {len(data)}\0".encode() + data))


def _basic_password(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None
