"""Policies as code: discovery of policies/<id>/ folders, packs that select and override.

A policy folder holds `policy.yml` (what the rule is, why, how to fix it, what it reads)
and either a declarative `expect:` block in it or a `check.py` with a `check(ctx)`
function. Discovery is by path: adding a policy is adding a folder.
"""

from __future__ import annotations

import difflib
import importlib.util
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from governance import resources
from governance.checks import CheckContext, Result, failed, passed
from governance.errors import ConfigError, PolicyError
from governance.models import Severity
from governance.validation import line_at, load_config_yaml, validate

if TYPE_CHECKING:
    from governance.fixes import FixContext, FixResult

CheckFunction = Callable[[CheckContext], Result]
FixFunction = Callable[["FixContext"], "FixResult"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reads(_Strict):
    files: list[str] = Field(default_factory=list)
    settings: list[str] = Field(default_factory=list)


class Expect(_Strict):
    """Declarative check: pass when any of these globs matches a committed path."""

    any_file: list[str] = Field(min_length=1)
    found: str = "found {path}"
    missing: str = "none of {patterns} found"


class PolicyDefinition(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    severity: Severity
    rationale: str
    remediation: str
    reads: Reads = Field(default_factory=Reads)
    enabled: bool = True
    autofix: Literal["safe", "unsafe", "none"] = "none"
    tags: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    expect: Expect | None = None
    references: list[str] = Field(default_factory=list)


class PackEntry(_Strict):
    enabled: bool | None = None
    severity: Severity | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class PackDefinition(_Strict):
    id: str
    title: str = ""
    description: str = ""
    extends: str | None = None
    # Start from every policy that is enabled by default. Unset: yes for a pack of its
    # own, and for a pack that `extends` another, whatever that one started from.
    defaults: bool | None = None
    policies: dict[str, PackEntry] = Field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """A policy as found on disk."""

    definition: PolicyDefinition
    folder: Path

    @property
    def id(self) -> str:
        return self.definition.id

    @cached_property
    def check(self) -> CheckFunction:
        script = self.folder / "check.py"
        if script.is_file():
            return _load_check(self.id, script)
        expect = self.definition.expect
        if expect is None:
            raise PolicyError("needs an `expect:` block or a check.py", str(self.folder))
        return _expect_check(expect)

    @cached_property
    def fix(self) -> FixFunction | None:
        """The policy's fixer (`fix.py` with `fix(ctx)`), or None when it has none."""
        script = self.folder / "fix.py"
        if not script.is_file():
            return None
        return _load_function(self.id, script, "fix", "governance_fix_")


@dataclass(frozen=True)
class EnabledPolicy:
    """A policy as a pack and the config turned it on: effective severity and options."""

    policy: Policy
    severity: Severity
    options: Mapping[str, Any]

    @property
    def id(self) -> str:
        return self.policy.id

    @property
    def definition(self) -> PolicyDefinition:
        return self.policy.definition


def _load_check(policy_id: str, script: Path) -> CheckFunction:
    return _load_function(policy_id, script, "check", "governance_policy_")


def _load_function(policy_id: str, script: Path, name: str, prefix: str) -> Callable[..., Any]:
    module_name = prefix + policy_id.replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, script)
    if spec is None or spec.loader is None:
        raise PolicyError("cannot import", str(script))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken check.py is the tool's own config: fail fast
        raise PolicyError(f"cannot import: {type(exc).__name__}: {exc}", str(script)) from exc
    function = getattr(module, name, None)
    if not callable(function):
        raise PolicyError(f"defines no {name}(ctx) function", str(script))
    return function  # type: ignore[no-any-return]


def _expect_check(expect: Expect) -> CheckFunction:
    def check(ctx: CheckContext) -> Result:
        found = ctx.files.glob(*expect.any_file)
        if found:
            from governance.models import Location

            return passed(expect.found.format(path=found[0]), [Location(found[0])])
        return failed(expect.missing.format(patterns=", ".join(expect.any_file)))

    return check


def discover(folders: Iterable[Path]) -> dict[str, Policy]:
    """Every policy folder under the given roots; later roots may not reuse an id."""
    policies: dict[str, Policy] = {}
    for root in folders:
        if not root.is_dir():
            raise PolicyError("policy folder not found", str(root))
        for policy_file in sorted(root.glob("*/policy.yml")):
            folder = policy_file.parent
            document = load_config_yaml(policy_file, PolicyError)
            definition = validate(PolicyDefinition, document, policy_file, PolicyError)
            if definition.id != folder.name:
                raise PolicyError(
                    f"id {definition.id!r} must match its folder name {folder.name!r}",
                    str(policy_file),
                )
            if definition.id in policies:
                raise PolicyError(f"duplicate policy id {definition.id!r}", str(policy_file))
            if definition.expect is None and not (folder / "check.py").is_file():
                raise PolicyError("needs an `expect:` block or a check.py", str(policy_file))
            policies[definition.id] = Policy(definition, folder)
    return policies


def find_pack(name_or_path: str, pack_folders: Iterable[Path]) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yml", ".yaml") and candidate.is_file():
        return candidate
    for folder in pack_folders:
        for suffix in (".yml", ".yaml"):
            path = folder / f"{name_or_path}{suffix}"
            if path.is_file():
                return path
    known = sorted({p.stem for f in pack_folders if f.is_dir() for p in f.glob("*.y*ml")})
    raise ConfigError(f"unknown pack {name_or_path!r}; known packs: {', '.join(known)}")


@dataclass(frozen=True)
class _Layer:
    """One pack of an `extends` chain, or the config's overrides, with its YAML for lines."""

    where: Path
    entries: Mapping[str, PackEntry]
    defaults: bool
    document: Any = None

    def line(self, *loc: str) -> int | None:
        return line_at(self.document, ("policies", *loc)) if self.document is not None else None


def _load_pack_chain(path: Path, pack_folders: list[Path], seen: tuple[Path, ...] = ()
                     ) -> list[_Layer]:
    if path in seen:
        raise ConfigError("packs extend each other in a cycle", str(path))
    document = load_config_yaml(path)
    pack = validate(PackDefinition, document, path)
    chain: list[_Layer] = []
    if pack.extends:
        try:
            parent = find_pack(pack.extends, [path.parent, *pack_folders])
        except ConfigError as error:
            raise ConfigError(f"extends: {error}", str(path), line_at(document, ("extends",))
                              ) from None
        chain = _load_pack_chain(parent, pack_folders, (*seen, path))
    defaults = pack.defaults if pack.defaults is not None else not pack.extends
    return [*chain, _Layer(path, pack.policies, defaults, document)]


def _option_type_ok(default: Any, value: Any) -> bool:
    """YAML's types against the default's: an int is a float, a bool is not a number."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def _merge_options(policy: Policy, current: dict[str, Any], overrides: Mapping[str, Any],
                   layer: _Layer) -> dict[str, Any]:
    merged = dict(current)
    for name, value in overrides.items():
        line = layer.line(policy.id, "options", name)
        if name not in policy.definition.options:
            known = ", ".join(sorted(policy.definition.options)) or "none"
            raise ConfigError(
                f"policy {policy.id!r} has no option {name!r} (options: {known})",
                str(layer.where), line,
            )
        default = policy.definition.options[name]
        if not _option_type_ok(default, value):
            raise ConfigError(
                f"option {policy.id}.{name} expects {_type_name(default)}, "
                f"got {_type_name(value)}",
                str(layer.where), line,
            )
        merged[name] = value
    return merged


def _type_name(value: Any) -> str:
    for kind, name in ((bool, "a boolean"), (int, "a number"), (float, "a number"),
                       (str, "a string"), (list, "a list"), (dict, "a mapping")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def _unknown_policy(policy_id: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(policy_id, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "`governance policies list` shows them"
    return f"unknown policy {policy_id!r}; {hint}"


def resolve(
    policies: Mapping[str, Policy],
    pack_path: Path,
    overrides: Mapping[str, PackEntry] | None = None,
    overrides_path: Path | None = None,
    overrides_document: Any = None,
    pack_folders: Iterable[Path] = (),
) -> list[EnabledPolicy]:
    """Apply a pack (and its `extends` chain) then config overrides: the enabled policies.

    `overrides_document` (the loaded governance.yml) lets errors point at a line;
    `pack_folders` are where `extends:` looks besides the pack's own folder and the
    bundled packs (the packs/ of extra policy folders).
    """
    pack_folders = [pack_path.parent, resources.packs_folder(), *pack_folders]
    layers = _load_pack_chain(pack_path, pack_folders)
    if overrides:
        layers.append(_Layer(overrides_path or Path("governance.yml"), overrides, False,
                             overrides_document))

    enabled: dict[str, bool] = {}
    severity: dict[str, Severity] = {}
    options: dict[str, dict[str, Any]] = {}
    for policy in policies.values():
        enabled[policy.id] = False
        severity[policy.id] = policy.definition.severity
        options[policy.id] = dict(policy.definition.options)
    for layer in layers:
        if layer.defaults:
            for policy in policies.values():
                enabled[policy.id] = enabled[policy.id] or policy.definition.enabled
        for policy_id, entry in layer.entries.items():
            if policy_id not in policies:
                raise ConfigError(_unknown_policy(policy_id, policies), str(layer.where),
                                  layer.line(policy_id))
            policy = policies[policy_id]
            enabled[policy_id] = True if entry.enabled is None else entry.enabled
            if entry.severity is not None:
                severity[policy_id] = entry.severity
            options[policy_id] = _merge_options(policy, options[policy_id], entry.options, layer)
    return [
        EnabledPolicy(policies[pid], severity[pid], options[pid])
        for pid in sorted(policies)
        if enabled[pid]
    ]


def needed_files(enabled: Iterable[EnabledPolicy]) -> tuple[str, ...]:
    """Union of the file globs the enabled policies read: what a provider must fetch."""
    return tuple(sorted({glob for e in enabled for glob in e.definition.reads.files}))


def needed_settings(enabled: Iterable[EnabledPolicy]) -> frozenset[str]:
    return frozenset(s for e in enabled for s in e.definition.reads.settings)
