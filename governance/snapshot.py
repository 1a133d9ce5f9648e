"""A repository as policies see it: its committed tree, its files, its settings.

Providers build RepoSnapshot objects; policies read them through RepoFiles, which
enforces the limits that keep a scan bounded on hostile input (size, binary, encoding,
symlinks leaving the repository) and caches parsed YAML, since several policies read
the same workflow files.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from wcmatch import glob as wcglob

from governance.errors import FileProblem, Unsupported
from governance.models import RepoRef, TreeEntry
from governance.yamlsafe import load_yaml_documents

# Text files larger than this are not read: no CI or policy file is anywhere near it.
MAX_TEXT_BYTES = 1024 * 1024
_MAX_SYMLINK_HOPS = 8
_MAX_SYMLINK_TARGET = 4096  # PATH_MAX; a "symlink" blob can be any size in git
_GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.DOTGLOB | wcglob.IGNORECASE | wcglob.BRACE


class BlobReader(Protocol):
    """How a provider hands over file contents; may fetch lazily."""

    def read_blob(self, entry: TreeEntry) -> bytes: ...


@dataclass
class RepoSnapshot:
    """Everything fetched for one repository. `close` releases provider resources."""

    ref: RepoRef
    head_sha: str | None
    tree: Mapping[str, TreeEntry]
    reader: BlobReader
    # Settings the provider could read, by name; a name missing here was not available,
    # and `unavailable` says why (for example the permission the token lacks).
    settings: Mapping[str, Any] = field(default_factory=dict)
    unavailable: Mapping[str, str] = field(default_factory=dict)
    on_close: Callable[[], None] | None = None

    @property
    def empty(self) -> bool:
        return self.head_sha is None

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()
            self.on_close = None


@dataclass(frozen=True)
class RepoFailure:
    """A repository that could not be snapshotted: every policy reports `error` for it."""

    ref: RepoRef
    reason: str


@lru_cache(maxsize=1024)
def _matcher(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """The globs as one regular expression, in wcmatch's own translation.

    wcmatch's compiled matcher costs a few microseconds of Python per path; a scan globs
    every path of every repository dozens of times, so one `re` call per path matters.
    """
    include, _ = wcglob.translate(list(patterns), flags=_GLOB_FLAGS)
    return re.compile("|".join(include) or "(?!)")


def matches(path: str, patterns: Iterable[str]) -> bool:
    """Case-insensitive glob match with `**` and braces, as policy.yml `reads:` uses."""
    return _matcher(tuple(patterns)).fullmatch(path) is not None


class RepoFiles:
    """Read-only, bounded access to a snapshot's files for policy checks."""

    def __init__(self, snapshot: RepoSnapshot):
        self._snapshot = snapshot
        self._lower = {path.lower(): path for path in snapshot.tree}
        self._text_cache: dict[str, str | FileProblem] = {}
        self._yaml_cache: dict[str, list[Any] | FileProblem] = {}
        self._glob_cache: dict[tuple[str, ...], list[str]] = {}

    @property
    def ref(self) -> RepoRef:
        return self._snapshot.ref

    @property
    def paths(self) -> Iterable[str]:
        return self._snapshot.tree.keys()

    def entry(self, path: str) -> TreeEntry | None:
        return self._snapshot.tree.get(path)

    def find(self, path: str) -> str | None:
        """The path as committed, matched case-insensitively; None when absent."""
        if path in self._snapshot.tree:
            return path
        return self._lower.get(path.lower())

    def exists(self, path: str) -> bool:
        return self.find(path) is not None

    def glob(self, *patterns: str) -> list[str]:
        """Committed paths matching any pattern, sorted (case-insensitive, `**` allowed)."""
        found = self._glob_cache.get(patterns)
        if found is None:  # several policies glob the same patterns over the same tree
            match = _matcher(patterns).fullmatch
            found = sorted(path for path in self._snapshot.tree if match(path))
            self._glob_cache[patterns] = found
        return list(found)

    def under(self, folder: str) -> Iterator[str]:
        prefix = folder.rstrip("/") + "/"
        return (path for path in self._snapshot.tree if path.startswith(prefix))

    def read_bytes(self, path: str) -> bytes:
        entry = self._resolve(path)
        if entry.size is not None and entry.size > MAX_TEXT_BYTES:
            raise FileProblem(
                path, f"file is {entry.size} bytes, over the {MAX_TEXT_BYTES} byte limit; not read"
            )
        data = self._snapshot.reader.read_blob(entry)
        if len(data) > MAX_TEXT_BYTES:
            raise FileProblem(path, f"file is over the {MAX_TEXT_BYTES} byte limit; not read")
        return data

    def read_text(self, path: str) -> str:
        """UTF-8 text of a committed file, or FileProblem (binary, huge, bad encoding...)."""
        cached = self._text_cache.get(path)
        if cached is None:
            try:
                cached = _decode(path, self.read_bytes(path))
            except FileProblem as problem:
                cached = problem
            self._text_cache[path] = cached
        if isinstance(cached, FileProblem):
            raise cached
        return cached

    def yaml_documents(self, path: str) -> list[Any]:
        cached = self._yaml_cache.get(path)
        if cached is None:
            try:
                cached = load_yaml_documents(self.read_text(path), path)
            except FileProblem as problem:
                cached = problem
            self._yaml_cache[path] = cached
        if isinstance(cached, FileProblem):
            raise cached
        return cached

    def yaml(self, path: str) -> Any:
        """First YAML document of a file (ruamel round-trip nodes with line numbers)."""
        documents = self.yaml_documents(path)
        return documents[0] if documents else None

    def setting(self, name: str) -> Any:
        """A repository setting, or Unsupported when this provider or token cannot see it."""
        if name in self._snapshot.settings:
            return self._snapshot.settings[name]
        reason = self._snapshot.unavailable.get(name)
        provider = self._snapshot.ref.provider
        raise Unsupported(reason or f"the {provider} provider cannot read {name}")

    def _resolve(self, path: str) -> TreeEntry:
        current = path
        for _ in range(_MAX_SYMLINK_HOPS):
            entry = self._snapshot.tree.get(current)
            if entry is None:
                raise FileProblem(path, "no such file in the committed tree")
            if entry.kind == "file":
                return entry
            if entry.kind != "symlink":
                raise FileProblem(path, f"is a {entry.kind}, not a file")
            if entry.size is not None and entry.size > _MAX_SYMLINK_TARGET:
                raise FileProblem(path, f"symlink target is {entry.size} bytes long; not read")
            target = self._snapshot.reader.read_blob(entry).decode("utf-8", "replace")
            joined = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
            if target.startswith("/") or joined == ".." or joined.startswith("../"):
                raise FileProblem(
                    path, f"symlink to {target!r} points outside the repository; not followed"
                )
            current = joined
        raise FileProblem(path, "too many levels of symbolic links")


def _decode(path: str, data: bytes) -> str:
    if b"\0" in data[:8192]:
        raise FileProblem(path, "binary file where text was expected")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FileProblem(
            path, f"not valid UTF-8 (byte 0x{data[error.start]:02x})", line
        ) from None
    return text.removeprefix("\ufeff")
