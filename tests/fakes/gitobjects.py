"""Real git object identities (SHA-1), computed the way ``git hash-object`` does.

A blob is ``b"blob <size>\\0" + data``, a tree is ``b"tree <size>\\0"`` followed by entries
``b"<mode> <name>\\0" + <20 raw sha bytes>`` sorted by name with sub-trees compared as
``name + "/"``, and a commit is ``b"commit <size>\\0"`` followed by its text headers.
``test_fake_github.py`` checks these against the real ``git`` binary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

MODE_FILE = "100644"
MODE_EXECUTABLE = "100755"
MODE_SYMLINK = "120000"
MODE_TREE = "40000"  # as written inside tree objects; the REST API shows "040000"
MODE_SUBMODULE = "160000"


def hash_object(kind: str, data: bytes) -> str:
    header = f"{kind} {len(data)}\0".encode("ascii")
    return hashlib.sha1(header + data).hexdigest()


def blob_sha(data: bytes) -> str:
    return hash_object("blob", data)


@dataclass(frozen=True)
class TreeEntry:
    mode: str  # git's own spelling: "100644", "100755", "120000", "40000", "160000"
    name: str
    sha: str

    @property
    def type(self) -> str:
        if self.mode == MODE_TREE:
            return "tree"
        if self.mode == MODE_SUBMODULE:
            return "commit"
        return "blob"

    @property
    def api_mode(self) -> str:
        """The mode as GitHub's REST API spells it (six digits)."""
        return self.mode.rjust(6, "0")


def _sort_key(entry: TreeEntry) -> bytes:
    name = entry.name.encode("utf-8")
    return name + b"/" if entry.mode == MODE_TREE else name


def tree_bytes(entries: Iterable[TreeEntry]) -> bytes:
    out = bytearray()
    for entry in sorted(entries, key=_sort_key):
        out += f"{entry.mode} {entry.name}".encode() + b"\0" + bytes.fromhex(entry.sha)
    return bytes(out)


def tree_sha(entries: Iterable[TreeEntry]) -> str:
    return hash_object("tree", tree_bytes(entries))


def sorted_entries(entries: Iterable[TreeEntry]) -> list[TreeEntry]:
    return sorted(entries, key=_sort_key)


@dataclass(frozen=True)
class Signature:
    name: str = "Fake Forge"
    email: str = "forge@example.invalid"
    timestamp: int = 1_700_000_000  # seconds since the epoch
    tz: str = "+0000"

    def header(self) -> str:
        return f"{self.name} <{self.email}> {self.timestamp} {self.tz}"

    def iso8601(self) -> str:
        import datetime as _dt

        moment = _dt.datetime.fromtimestamp(self.timestamp, tz=_dt.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def commit_bytes(
    tree: str,
    parents: Iterable[str],
    author: Signature,
    committer: Signature,
    message: str,
) -> bytes:
    lines = [f"tree {tree}"]
    lines += [f"parent {p}" for p in parents]
    lines += [f"author {author.header()}", f"committer {committer.header()}", "", message]
    text = "\n".join(lines)
    if not text.endswith("\n"):
        text += "\n"
    return text.encode("utf-8")


def commit_sha(
    tree: str,
    parents: Iterable[str],
    author: Signature,
    committer: Signature | None = None,
    message: str = "fake commit",
) -> str:
    return hash_object("commit", commit_bytes(tree, parents, author, committer or author, message))


@dataclass
class GitSnapshot:
    """Every object of one working tree: blobs, trees (by sha) and the root tree sha."""

    root: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    trees: dict[str, list[TreeEntry]] = field(default_factory=dict)
    # path ("" for the root) -> tree sha, and path -> (mode, blob sha) for files
    tree_paths: dict[str, str] = field(default_factory=dict)
    file_paths: dict[str, tuple[str, str]] = field(default_factory=dict)


def build_snapshot(
    files: Mapping[str, bytes], modes: Mapping[str, str] | None = None
) -> GitSnapshot:
    """Compute the blobs and trees of a set of files given by slash-separated paths."""
    modes = modes or {}
    blobs: dict[str, bytes] = {}
    file_paths: dict[str, tuple[str, str]] = {}
    # directory path -> {name: entry or None for a sub-directory}
    dirs: dict[str, dict[str, TreeEntry | None]] = {"": {}}
    for path, data in files.items():
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise ValueError(f"bad path: {path!r}")
        clean = "/".join(parts)
        sha = blob_sha(data)
        blobs[sha] = data
        mode = modes.get(clean, MODE_FILE)
        file_paths[clean] = (mode, sha)
        parent = ""
        for part in parts[:-1]:
            child = f"{parent}/{part}" if parent else part
            dirs.setdefault(parent, {})[part] = None
            dirs.setdefault(child, {})
            parent = child
        dirs.setdefault(parent, {})[parts[-1]] = TreeEntry(mode, parts[-1], sha)

    trees: dict[str, list[TreeEntry]] = {}
    tree_paths: dict[str, str] = {}

    def visit(dir_path: str) -> str:
        entries: list[TreeEntry] = []
        for name, entry in dirs[dir_path].items():
            if entry is None:
                sub = f"{dir_path}/{name}" if dir_path else name
                entries.append(TreeEntry(MODE_TREE, name, visit(sub)))
            else:
                entries.append(entry)
        ordered = sorted_entries(entries)
        sha = tree_sha(ordered)
        trees[sha] = ordered
        tree_paths[dir_path] = sha
        return sha

    root = visit("")
    return GitSnapshot(
        root=root, blobs=blobs, trees=trees, tree_paths=tree_paths, file_paths=file_paths
    )


EMPTY_TREE_SHA = tree_sha([])  # 4b825dc642cb6eb9a060e54bf8d69288fbee4904
