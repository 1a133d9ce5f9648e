"""Loading untrusted YAML from scanned repositories, in bounded time and memory.

ruamel.yaml's round-trip loader keeps line numbers (findings point at lines), treats
`on:` as a string (YAML 1.2) and keeps unknown tags such as GitLab's `!reference`.
What it does not do is refuse YAML bombs: aliases are shared, so loading is cheap, but
every walk over the result visits each alias again. We measure the expanded size from
the event stream first and refuse documents that would expand beyond a limit.
"""

from __future__ import annotations

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


def _check_expansion(yaml: YAML, text: str, path: str) -> None:
    """Refuse recursive aliases and documents whose aliases expand past MAX_EXPANDED_NODES."""
    anchors: dict[str, int] = {}
    open_anchors: set[str] = set()
    stack: list[tuple[str | None, int]] = []  # (anchor, nodes so far) per open collection
    total = 0
    for event in yaml.parse(text):
        size = 0
        if isinstance(event, AliasEvent):
            name = event.anchor
            if name in open_anchors:
                raise FileProblem(path, f"invalid YAML: recursive alias *{name}", _line(event))
            if name not in anchors:
                raise FileProblem(
                    path, f"invalid YAML: alias *{name} refers to no anchor", _line(event)
                )
            size = anchors[name]
        elif isinstance(event, ScalarEvent):
            size = 1
            if event.anchor:
                anchors[event.anchor] = 1
        elif isinstance(event, CollectionStartEvent):
            stack.append((event.anchor, 1))
            if event.anchor:
                open_anchors.add(event.anchor)
            continue
        elif isinstance(event, CollectionEndEvent):
            anchor, size = stack.pop()
            if anchor:
                open_anchors.discard(anchor)
                anchors[anchor] = size
        else:
            continue
        if stack:
            anchor, count = stack[-1]
            stack[-1] = (anchor, count + size)
        else:
            total += size
        if total + sum(count for _, count in stack) > MAX_EXPANDED_NODES:
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
        if "*" in text:  # no alias, no bomb: skip the extra pass
            _check_expansion(yaml, text, path)
        return list(yaml.load_all(text))
    except FileProblem:
        raise
    except YAMLError as error:
        raise FileProblem(path, _describe(error), _mark_line(error)) from None
    except (ValueError, TypeError, RecursionError) as error:
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
