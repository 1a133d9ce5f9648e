"""Validating the tool's own YAML (governance.yml, policy.yml, packs) with file:line errors.

pydantic checks the shape; ruamel.yaml knows where each key sits. Together they turn
`policies.0.severity: Input should be 'low', 'medium'...` into
`governance.yml:12: policies.0.severity: expected one of low, medium, ...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

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


def _line_for(document: Any, loc: tuple[int | str, ...]) -> int | None:
    node, line = document, line_of(document)
    for part in loc:
        in_mapping = isinstance(node, dict) and part in node
        in_sequence = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_mapping or in_sequence:
            line = line_of(node, part) or line
            node = node[part]
        else:
            break
    return line


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
        loc = tuple(first["loc"])
        where = ".".join(str(part) for part in loc) or "(top level)"
        raise error(f"{where}: {first['msg']}", str(path), _line_for(document, loc)) from None
