"""Round-trip YAML edits that change only the lines they mean to change.

A fixer finds nodes with ruamel.yaml's composer (the exact character offsets of every key
and value), splices the smallest text change into the original text, and asks
`YamlFile.edited` for the new bytes. Nothing is re-dumped, so comments, key order,
quoting, indentation, `on:` keys, `---` / `...` markers, anchors, flow collections,
GitLab's `!reference` tags, a byte-order mark and CRLF line endings stay as written.

Every edit is then verified: the new text is parsed again (through governance.yamlsafe)
and its data must equal the original data with the same change made to the composed
nodes, and nothing else. A splice that says more or less than intended (a value that now
reads as another type, a key that lands in the wrong mapping, a duplicate key, a mapping
left empty) raises EditRefused with the reason; a fixer turns that into NeedsPerson.

    file = YamlFile(path, data)  # or EditRefused: not UTF-8, not YAML, a YAML bomb
    edits = [insert_top_level(file, "permissions", {"contents": "read"}, before=("jobs",))]
    new_bytes = file.edited(edits)  # or EditRefused
"""

from __future__ import annotations

import itertools
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import TaggedScalar
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode

from governance.errors import FileProblem, GovernanceError
from governance.yamlsafe import load_yaml_documents, tag_of

BOM = "\ufeff"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_ALIAS_VALUE = re.compile(r"\s*:\s*\*\S+\s*(#.*)?")

Node = Any  # ruamel.yaml.nodes.Node: ruamel ships no type hints


class EditRefused(GovernanceError):
    """An edit that cannot be made, or whose result is not what was intended."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class Splice:
    """Replace text[start:end] with `text` (start == end inserts)."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Edit:
    """The text splices of one change, and the same change made to the composed nodes
    (what `YamlFile.edited` expects the new text to parse to)."""

    splices: tuple[Splice, ...]
    change_nodes: Callable[[], None]
    description: str


@dataclass(frozen=True)
class Entry:
    """One key of a mapping node, with its value node."""

    mapping: Node
    key: Node
    value: Node

    @property
    def line(self) -> int:
        """1-based line of the key."""
        return int(self.key.start_mark.line) + 1


def newline_of(text: str) -> str:
    """The file's line ending: CRLF when most lines end with it, else LF."""
    return "\r\n" if 2 * text.count("\r\n") > text.count("\n") else "\n"


def _compose(text: str) -> list[Node]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(YAML(typ="rt").compose_all(text))


class YamlFile:
    """A YAML file's text and composed nodes, ready for one round of edits."""

    def __init__(self, path: str, data: bytes) -> None:
        self.path = path
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise EditRefused(path, "not valid UTF-8") from None
        self.bom = text.startswith(BOM)
        self.text = text.removeprefix(BOM)
        self.newline = newline_of(self.text)
        try:
            # The safe loader refuses YAML bombs and deep nesting before we compose.
            load_yaml_documents(self.text, path)
        except FileProblem as problem:
            raise EditRefused(path, problem.reason) from None
        self.documents = _compose(self.text)
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        self._spent = False

    # ---- lines

    def line_start(self, line: int) -> int:
        """Offset where 0-based `line` starts (the end of the text past the last line)."""
        return self._line_starts[line] if line < len(self._line_starts) else len(self.text)

    def line_text(self, line: int) -> str:
        """0-based line without its line ending."""
        if line >= len(self._line_starts):
            return ""
        return self.text[self.line_start(line):self.line_start(line + 1)].rstrip("\r\n")

    def rest_of_line(self, offset: int) -> str:
        end = self.text.find("\n", offset)
        return self.text[offset:] if end < 0 else self.text[offset:end].rstrip("\r")

    def ends_line(self, node: Node) -> bool:
        """Whether nothing but spaces or a comment follows the node on its line."""
        rest = self.rest_of_line(node.end_mark.index).strip()
        return not rest or rest.startswith("#")

    # ---- nodes

    def root(self, document: int = 0) -> Node | None:
        return self.documents[document] if document < len(self.documents) else None

    def entry(self, mapping: Node, key: str) -> Entry | None:
        """The entry of `mapping` whose key is written as `key` (`on`, `"on"`, `true`...)."""
        if not isinstance(mapping, MappingNode):
            return None
        for key_node, value_node in mapping.value:
            if (isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG
                    and key_node.value == key):
                return Entry(mapping, key_node, value_node)
        return None

    def entries_at(self, key: str, line: int) -> list[Entry]:
        """Every entry named `key` whose key is written on 1-based `line`."""
        found = []
        for node in self.nodes():
            if isinstance(node, MappingNode):
                entry = self.entry(node, key)
                if entry is not None and entry.line == line:
                    found.append(entry)
        return found

    def nodes(self) -> Iterator[Node]:
        """Every node of every document, once each (an alias is its anchor's node)."""
        seen: set[int] = set()
        pending = [node for node in reversed(self.documents) if node is not None]
        while pending:
            node = pending.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield node
            if isinstance(node, MappingNode):
                for key_node, value_node in reversed(node.value):
                    pending += [value_node, key_node]
            elif isinstance(node, SequenceNode):
                pending += reversed(node.value)

    def indent_width(self) -> int:
        """How far the file indents a nested block mapping (2 when nothing says)."""
        for node in self.nodes():
            if not isinstance(node, MappingNode) or node.flow_style:
                continue
            for key_node, value_node in node.value:
                if (isinstance(value_node, MappingNode) and not value_node.flow_style
                        and value_node.start_mark.line > key_node.start_mark.line
                        and value_node.start_mark.column > key_node.start_mark.column):
                    return int(value_node.start_mark.column - key_node.start_mark.column)
        return 2

    def last_line(self, entry: Entry) -> int:
        """0-based last line of an entry's text: its key's line when the value is an alias
        (whose node was written earlier, at its anchor) or empty."""
        if entry.value.start_mark.index < entry.key.end_mark.index or _empty(entry.value):
            return int(entry.key.start_mark.line)
        return max(int(entry.key.start_mark.line), self.last_content_line(entry.value))

    def last_content_line(self, node: Node) -> int:
        """0-based last line holding the node's own text (not comments after it)."""
        if isinstance(node, MappingNode) and not node.flow_style and node.value:
            return self.last_line(Entry(node, *node.value[-1]))
        if isinstance(node, SequenceNode) and not node.flow_style and node.value:
            last = node.value[-1]
            before = node.value[-2].end_mark.index if len(node.value) > 1 else (
                node.start_mark.index)
            if last.start_mark.index >= before:  # not an alias of an earlier node
                return self.last_content_line(last)
        end = node.end_mark
        line = int(end.line)
        if not _is_block(node):
            return line
        if end.column == 0 or not self.line_text(line)[: end.column].strip():
            line -= 1  # a block ends where the next token starts
        scalar = isinstance(node, ScalarNode)  # its lines may look like comments
        while line > node.start_mark.line and (
                not self.line_text(line).strip() if scalar
                else _blank_or_comment(self.line_text(line))):
            line -= 1
        return line

    # ---- the result

    def edited(self, edits: Sequence[Edit]) -> bytes:
        """The file with `edits` spliced in, verified; EditRefused when the result is not
        exactly the intended change. Edits change the nodes: a file is edited once."""
        if self._spent:
            raise RuntimeError("YamlFile.edited runs once; parse the file again for more edits")
        self._spent = True
        splices = sorted({s for edit in edits for s in edit.splices},
                         key=lambda s: (s.start, s.end))
        for previous, following in itertools.pairwise(splices):
            if following.start < previous.end or following.start == previous.start:
                raise EditRefused(self.path, "two edits touch the same text")
        parts = []
        offset = 0
        for splice in splices:
            parts += [self.text[offset:splice.start], splice.text]
            offset = splice.end
        parts.append(self.text[offset:])
        new_text = "".join(parts)

        for edit in edits:
            edit.change_nodes()
        expected = [_canonical(YAML(typ="rt").constructor.construct_document(node))
                    for node in self.documents]
        try:
            reparsed = load_yaml_documents(new_text, self.path)
        except FileProblem as problem:
            raise EditRefused(self.path, f"the edited file would not parse: {problem.reason}"
                              ) from None
        actual = [_canonical(document) for document in reparsed]
        if actual != expected:
            raise EditRefused(self.path, "the edit would change more than intended: "
                              + _difference(expected, actual))
        return ((BOM if self.bom else "") + new_text).encode("utf-8")


def _empty(node: Node) -> bool:
    """`key:` with nothing after it: the null value's marks point at the next token."""
    return isinstance(node, ScalarNode) and node.value == "" and node.style is None


def _is_block(node: Node) -> bool:
    """A block collection or block scalar: it ends where the next token starts."""
    if isinstance(node, (MappingNode, SequenceNode)):
        return not node.flow_style
    return isinstance(node, ScalarNode) and node.style in ("|", ">")


def _blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


# --------------------------------------------------------------------------- edits


def replace_scalar(file: YamlFile, node: Node, value: str, comment: str | None = None) -> Edit:
    """Write `value` in place of a one-line plain or quoted scalar, in the same quoting.
    An anchor or tag before it stays. `comment` is added after it (` # comment`, before
    any comment already there) when the scalar ends its line; in a flow collection
    that goes on, it is not (see `YamlFile.ends_line`)."""
    if not isinstance(node, ScalarNode) or node.style not in (None, "'", '"'):
        raise EditRefused(file.path, "only a plain or quoted scalar can be replaced")
    if node.start_mark.line != node.end_mark.line:
        raise EditRefused(file.path, f"the value at line {node.start_mark.line + 1} spans "
                                     "several lines")
    start = _after_properties(file.text, node.start_mark.index, node.end_mark.index)
    text = _render_scalar(file.path, value, node.style)
    if comment is not None and file.ends_line(node):
        text += f" # {comment}"

    def change() -> None:
        node.value = value

    return Edit((Splice(start, node.end_mark.index, text),), change,
                f"line {node.start_mark.line + 1}: {node.value!r} -> {value!r}")


def delete_entry(file: YamlFile, entry: Entry) -> Edit:
    """Remove a key of a block mapping with its value: whole lines, from the key's line
    to the value's last line (with a comment trailing it). Comments above are kept."""
    mapping, key, value = entry.mapping, entry.key, entry.value
    line = int(key.start_mark.line)
    if mapping.flow_style:
        raise EditRefused(file.path, f"line {line + 1}: `{key.value}` is in a flow mapping")
    if file.line_text(line)[: key.start_mark.column].strip():
        raise EditRefused(file.path, f"line {line + 1}: `{key.value}` shares its line with "
                                     "what comes before it")
    if value.start_mark.index < key.end_mark.index:  # an alias: `key: *name`
        if not _ALIAS_VALUE.fullmatch(file.rest_of_line(key.end_mark.index)):
            raise EditRefused(file.path, f"line {line + 1}: more follows the value of "
                                         f"`{key.value}` on its line")
        last = line
    elif _is_block(value):
        last = file.last_line(entry)
    else:
        end = value.end_mark.index
        rest = file.rest_of_line(end)
        if _empty(value):
            end = key.end_mark.index
            rest = file.rest_of_line(end).lstrip().removeprefix(":")
        if not _blank_or_comment(rest):
            raise EditRefused(file.path, f"line {line + 1}: more follows the value of "
                                         f"`{key.value}` on its line")
        last = file.text.count("\n", 0, end)

    def change() -> None:
        mapping.value[:] = [pair for pair in mapping.value if pair[0] is not key]

    splice = Splice(file.line_start(line), file.line_start(last + 1), "")
    return Edit((splice,), change, f"line {line + 1}: delete `{key.value}`")


def insert_top_level(
    file: YamlFile,
    key: str,
    value: str | Mapping[str, str],
    *,
    before: Sequence[str] = (),
    after: Sequence[str] = (),
) -> Edit:
    """Add `key: value` (a plain scalar, or a mapping of plain scalars, indented as the
    file indents) to the first document's top-level block mapping: before the first
    present key of `before` (above the comment lines heading it), else after the first
    present key of `after`, else at the end. A blank line separates it as the file
    separates its top-level keys there."""
    root = file.root()
    if not isinstance(root, MappingNode) or root.flow_style or root.start_mark.column != 0:
        raise EditRefused(file.path, "the top level is not a block mapping")
    if file.entry(root, key) is not None:
        raise EditRefused(file.path, f"`{key}:` is already at the top level")
    nl = file.newline
    if isinstance(value, str):
        lines = [f"{key}: {value}"]
    else:
        pad = " " * file.indent_width()
        lines = [f"{key}:", *(f"{pad}{name}: {item}" for name, item in value.items())]
    block = nl.join(lines) + nl

    anchor_before = _first_entry(file, root, before)
    if anchor_before is not None:
        index = _pair_index(root, anchor_before)
        line = anchor_before.key.start_mark.line
        # Comment lines heading the key stay with it (not lines of the value before it).
        floor = file.last_line(Entry(root, *root.value[index - 1])) + 1 if index else 0
        while line > floor and file.line_text(line - 1).startswith("#"):
            line -= 1
        if line > 0 and not file.line_text(line - 1).strip():
            block += nl
        offset = file.line_start(line)
    else:
        anchor_after = _first_entry(file, root, after)
        if anchor_after is None:
            last_key, last_value = root.value[-1]
            anchor_after = Entry(root, last_key, last_value)
        index = _pair_index(root, anchor_after) + 1
        line = file.last_line(anchor_after) + 1
        offset = file.line_start(line)
        if offset == len(file.text):
            if file.text and not file.text.endswith("\n"):
                block = nl + block  # the last line had no line ending
        elif not file.line_text(line).strip():
            block = nl + block
    try:
        (snippet,) = _compose(nl.join(lines) + nl)
    except (YAMLError, ValueError) as error:
        raise EditRefused(file.path, f"`{key}:` does not read as YAML: {error}") from None
    pairs = list(snippet.value)

    def change() -> None:
        root.value[index:index] = pairs

    return Edit((Splice(offset, offset, block),), change, f"insert `{key}:` at the top level")


def _pair_index(mapping: Node, entry: Entry) -> int:
    return next(i for i, (key, _) in enumerate(mapping.value) if key is entry.key)


def _first_entry(file: YamlFile, mapping: Node, keys: Sequence[str]) -> Entry | None:
    for key in keys:
        entry = file.entry(mapping, key)
        if entry is not None:
            return entry
    return None


def _after_properties(text: str, start: int, end: int) -> int:
    """Skip an anchor (`&name`) and a tag (`!tag`) written before a scalar's text."""
    while start < end and text[start] in "&!":
        while start < end and not text[start].isspace():
            start += 1
        while start < end and text[start].isspace():
            start += 1
    return start


def _render_scalar(path: str, value: str, style: str | None) -> str:
    if any(ord(c) < 0x20 for c in value):
        raise EditRefused(path, "a new value with control characters is not written")
    if style == "'":
        return "'" + value.replace("'", "''") + "'"
    if style == '"':
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value  # plain: the verification refuses one that would read differently


# --------------------------------------------------------------------------- verification


def _canonical(value: Any) -> Any:
    """Loaded YAML as comparable tuples: ordered keys, types kept apart (1 is not true),
    explicit tags kept, comments and formatting gone."""
    tag = tag_of(value)
    if isinstance(value, Mapping):
        return ("map", tag, tuple((_canonical(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("seq", tag, tuple(_canonical(item) for item in value))
    if isinstance(value, TaggedScalar):
        return ("tagged", tag, str(value.value))
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", repr(float(value)))
    if isinstance(value, str):
        return ("str", str(value))
    if isinstance(value, date):
        return ("time", value.isoformat())
    return (type(value).__name__, repr(value))


def _show(canonical: Any) -> str:
    kind = canonical[0]
    if kind == "map":
        return "a mapping" if canonical[2] else "an empty mapping"
    if kind == "seq":
        return "a list"
    if kind == "null":
        return "null"
    return repr(canonical[-1])


def _difference(expected: Any, actual: Any, where: str = "") -> str:
    """Where two canonical values first differ, for a person to read."""
    if isinstance(expected, list):  # the documents of a stream
        if len(expected) != len(actual):
            return f"{len(expected)} documents would become {len(actual)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            if left != right:
                return _difference(left, right, f"document {index + 1}" if index else "")
        return "no difference"
    at = where or "the top level"
    if expected[0] == actual[0] == "map" and expected[1] == actual[1]:
        left_keys = [k for k, _ in expected[2]]
        right_keys = [k for k, _ in actual[2]]
        if left_keys != right_keys:
            return (f"{at}: keys {', '.join(_show(k) for k in left_keys)} would become "
                    f"{', '.join(_show(k) for k in right_keys)}")
        for (name, left), (_, right) in zip(expected[2], actual[2], strict=True):
            if left != right:
                label = str(name[-1]) if name[0] == "str" else _show(name)
                return _difference(left, right, f"{where}.{label}" if where else label)
    if (expected[0] == actual[0] == "seq" and expected[1] == actual[1]
            and len(expected[2]) == len(actual[2])):
        for index, (left, right) in enumerate(zip(expected[2], actual[2], strict=True)):
            if left != right:
                return _difference(left, right, f"{where}[{index}]")
    return f"{at}: {_show(expected)} would become {_show(actual)}"
