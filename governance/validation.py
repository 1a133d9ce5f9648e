"""Validating the tool's own YAML (governance.yml, policy.yml, packs) with file:line errors.

pydantic checks the shape; ruamel.yaml knows where each key sits. Together they turn
`policies.0.severity: Input should be 'low', 'medium'...` into
`governance.yml:12: policies.0.severity: expected one of low, medium, ...`.
"""

from __future__ import annotations

from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from governance.errors import ConfigError, FileProblem
from governance.yamlsafe import line_of, load_yaml

ModelT = TypeVar("ModelT", bound=BaseModel)


def load_config_yaml(path: Path, error: type[ConfigError] = ConfigError) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error("file not found", str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read: {exc}", str(path)) from None
    try:
        return load_yaml(text, str(path))
    except FileProblem as problem:
        raise error(problem.reason, str(path), problem.line) from None


def line_at(document: Any, loc: tuple[int | str, ...]) -> int | None:
    """1-based line of the deepest node of `loc` present in a loaded YAML document."""
    node, line = document, line_of(document)
    for part in loc:
        in_mapping = isinstance(node, dict) and part in node
        in_sequence = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if not (in_mapping or in_sequence):
            break
        line = line_of(node, part) or line
        node = node[part]
    return line


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X (the first non-None member of a union)."""
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        return members[0] if members else annotation
    return annotation


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The pydantic model that validates the mapping at `loc` (None if not a model)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1] if get_args(current) else None
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


_PLAIN = {"dict_type": "expected a mapping", "list_type": "expected a list"}


def _explain(model: type[BaseModel], error: ErrorDetails) -> tuple[str, str]:
    """Where (dotted path) and what, in terms of the YAML file and what it expects."""
    loc = tuple(error["loc"])
    where = ".".join(str(part) for part in loc) or "(top level)"
    parent = ".".join(str(part) for part in loc[:-1]) or "(top level)"
    if error["type"] == "extra_forbidden" and loc:
        owner = _model_at(model, loc[:-1])
        known = ", ".join(owner.model_fields) if owner else ""
        return parent, f"unknown key {loc[-1]!r}" + (
            f"; expected one of: {known}" if known else "")
    if error["type"] == "missing" and loc:
        return parent, f"missing required key {loc[-1]!r}"
    return where, _PLAIN.get(error["type"], str(error["msg"]))


def validate(
    model: type[ModelT], document: Any, path: Path, error: type[ConfigError] = ConfigError
) -> ModelT:
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise error("expected a mapping at the top level", str(path), line_of(document))
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where, what = _explain(model, first)
        raise error(f"{where}: {what}", str(path), line_at(document, tuple(first["loc"]))
                    ) from None
