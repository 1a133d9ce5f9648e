"""Loading untrusted YAML from scanned repositories, in bounded time and memory.

ruamel.yaml's round-trip loader keeps line numbers (findings point at lines), treats
`on:` as a string (YAML 1.2) and keeps unknown tags such as GitLab's `!reference`.
What it does not do is refuse YAML bombs: aliases are shared, so loading is cheap, but
every walk over the result visits each alias again. We measure the expanded size from
the event stream first and refuse documents that would expand beyond a limit.

Deep flow nesting (`[[[[...`) is the other trap: ruamel's scanner does work proportional
to the nesting depth for every token, so a 1 MB line of brackets takes minutes, and the
composer recurses once per level. The same event pass refuses nesting beyond MAX_DEPTH.
"""

from __future__ import annotations

import warnings
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
    ScalarEvent,
)

from governance.errors import FileProblem

# A real CI file has a few thousand nodes; a billion-laughs document has 10**9.
MAX_EXPANDED_NODES = 250_000
# Nodes actually written in the text. ruamel's round-trip loader needs about 0.7 kB and
# 40 us per node: a 1 MB flow list of 500,000 one-letter items would cost 360 MB and 25 s.
MAX_NODES = 100_000
# Real CI files, manifests and Helm values nest a few dozen levels at most.
MAX_DEPTH = 100
# Below this size a document cannot hold MAX_NODES nodes (two characters per node at
# least), so the node count needs no extra pass.
_SMALL_TEXT = 2 * MAX_NODES // 3


def _new_loader() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _mark_line(error: YAMLError) -> int | None:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    return mark.line + 1 if mark is not None else None


def _describe(error: YAMLError) -> str:
    if isinstance(error, MarkedYAMLError):
        parts = [p for p in (error.context, error.problem) if p]
        text = "; ".join(str(p).strip() for p in parts) or type(error).__name__
    else:
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"invalid YAML: {text}"


def _needs_structure_check(text: str) -> bool:
    """Whether the event pass is needed: aliases, many brackets, or a large text.

    Without `*` there is no alias; with at most MAX_DEPTH brackets flow nesting cannot
    exceed MAX_DEPTH (block nesting is cheap to scan and the composer's own recursion
    limit ends it); a small text cannot hold MAX_NODES nodes. Most CI files skip the pass.
    """
    return (
        len(text) > _SMALL_TEXT
        or "*" in text
        or text.count("[") + text.count("{") > MAX_DEPTH
    )


def _check_expansion(yaml: YAML, text: str, path: str) -> None:
    """Refuse recursive aliases, aliases expanding past MAX_EXPANDED_NODES, more than
    MAX_NODES nodes, and nesting deeper than MAX_DEPTH."""
    anchors: dict[str, int] = {}  # anchor -> expanded size of the node it names
    open_anchors: set[str] = set()  # anchors of collections not closed yet
    stack: list[tuple[str | None, int]] = []  # (anchor, `expanded` at start) per collection
    expanded = 0  # nodes the document expands to, so far
    written = 0  # nodes in the text, so far
    for event in yaml.parse(text):
        if isinstance(event, NodeEvent):
            written += 1
            if written > MAX_NODES:
                raise FileProblem(
                    path, f"YAML has more than {MAX_NODES} nodes; refused", _line(event)
                )
        if isinstance(event, AliasEvent):
            name = event.anchor
            if name in open_anchors:
                raise FileProblem(path, f"invalid YAML: recursive alias *{name}", _line(event))
            if name not in anchors:
                raise FileProblem(
                    path, f"invalid YAML: alias *{name} refers to no anchor", _line(event)
                )
            expanded += anchors[name]
        elif isinstance(event, ScalarEvent):
            expanded += 1
            if event.anchor:
                open_anchors.discard(event.anchor)  # the name now refers to this scalar
                anchors[event.anchor] = 1
        elif isinstance(event, CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise FileProblem(
                    path, f"YAML nests deeper than {MAX_DEPTH} levels; refused", _line(event)
                )
            stack.append((event.anchor, expanded))
            expanded += 1
            if event.anchor:
                open_anchors.add(event.anchor)
        elif isinstance(event, CollectionEndEvent):
            anchor, start = stack.pop()
            if anchor:
                open_anchors.discard(anchor)
                anchors[anchor] = expanded - start
            continue
        else:
            continue
        if expanded > MAX_EXPANDED_NODES:
            raise FileProblem(
                path,
                f"YAML expands to more than {MAX_EXPANDED_NODES} nodes through aliases "
                "(a YAML bomb?); refused",
                _line(event),
            )


def _line(event: NodeEvent | CollectionEndEvent) -> int | None:
    mark = getattr(event, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def load_yaml_documents(text: str, path: str) -> list[Any]:
    """Every document of a YAML stream, or FileProblem naming path and line."""
    yaml = _new_loader()
    try:
        # ruamel warns (on stderr) about legal but odd input such as a reused anchor name;
        # a scan of untrusted repositories must not print them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if _needs_structure_check(text):
                _check_expansion(yaml, text, path)
            return list(yaml.load_all(text))
    except FileProblem:
        raise
    except YAMLError as error:
        raise FileProblem(path, _describe(error), _mark_line(error)) from None
    except RecursionError:
        raise FileProblem(path, "invalid YAML: nested too deeply to load") from None
    except (ValueError, TypeError, OverflowError) as error:
        raise FileProblem(path, f"invalid YAML: {error}") from None


def load_yaml(text: str, path: str) -> Any:
    """The first document of a YAML file (None when empty)."""
    documents = load_yaml_documents(text, path)
    return documents[0] if documents else None


def line_of(node: Any, key: Any = None) -> int | None:
    """1-based line of a mapping key, a sequence index, or the node itself."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if key is None:
            return int(lc.line) + 1
        if isinstance(key, int) and not hasattr(node, "keys"):
            return int(lc.item(key)[0]) + 1
        return int(lc.key(key)[0]) + 1
    except (KeyError, IndexError, TypeError, AttributeError):
        # Keys that arrived through a merge (<<: *anchor) have no position of their own.
        return int(lc.line) + 1 if lc.line is not None else None


def tag_of(node: Any) -> str | None:
    """The explicit YAML tag of a node (`!reference`), if any."""
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", tag)
    return str(value) if value else None
