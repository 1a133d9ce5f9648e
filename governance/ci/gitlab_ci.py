"""GitLab CI configuration understood the way GitLab builds a pipeline from it.

GitLab composes the configuration in this order, and so does `load_pipeline`:

1. YAML: anchors, aliases and merge keys (the loader resolves them; they never cross files).
2. `include:` - included files are deep-merged in order, then the including file on top
   (hashes merge key by key, everything else is replaced). Local includes are read from
   the repository (wildcards `*` and `**` as GitLab expands them); `project:`, `remote:`,
   `template:` and `component:` includes live elsewhere and are reported as unresolved.
3. `extends:` - each job is deep-merged over its parents (later parents win, the job
   wins over all), to any depth up to GitLab's limit; a cycle is an error.
4. `!reference [job, key, ...]` - replaced by the value it names (after `extends`);
   nested arrays in `script:` and `rules:` are flattened.
5. `default:` (and the deprecated global `image:`, `before_script:`...) fills keys a job
   does not set, unless `inherit: default:` says otherwise.

Every value remembers the file and line it was written at, so a `when: manual` that
reaches a job through an anchor, `extends` or an included file is reported where it is.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from governance.errors import FileProblem
from governance.snapshot import RepoFiles
from governance.yamlsafe import tag_of

DEFAULT_PATH = ".gitlab-ci.yml"

# Top-level keys that configure the pipeline rather than define a job. (`pages` is a job.)
GLOBAL_KEYWORDS = frozenset({
    "default", "include", "stages", "variables", "workflow",
    # deprecated global forms of `default:` keys, and the old name of `stages`
    "image", "services", "cache", "before_script", "after_script", "types",
})
# Keys a job takes from `default:` when it does not set them itself.
DEFAULT_KEYWORDS = (
    "after_script", "artifacts", "before_script", "cache", "hooks", "id_tokens", "identity",
    "image", "interruptible", "retry", "services", "tags", "timeout",
)
# Deprecated top-level keys that act like their `default:` counterparts.
GLOBAL_DEFAULT_KEYWORDS = ("image", "services", "cache", "before_script", "after_script")
SCRIPT_SECTIONS = ("before_script", "script", "after_script")
RULE_CONDITIONS = ("if", "changes", "exists")

MAX_INCLUDE_DEPTH = 100  # GitLab's limit on nested includes
MAX_INCLUDED_FILES = 150  # GitLab's default limit on includes per pipeline
MAX_EXTENDS_DEPTH = 11  # GitLab allows 11 levels of inheritance
MAX_REFERENCE_DEPTH = 10  # GitLab's limit on nested !reference tags
MAX_FLATTEN_DEPTH = 10  # nested arrays in script / rules


# --------------------------------------------------------------------------- public model


@dataclass(frozen=True)
class ManualGate:
    """Why a job waits for a person, and where that is written."""

    path: str
    line: int | None
    reason: str  # "when: manual", "rules[1]: when: manual", ...


@dataclass(frozen=True)
class ScriptLine:
    """One command line of a job's script, with the file it was written in."""

    section: str  # before_script, script or after_script
    text: str
    path: str
    line: int | None


@dataclass(frozen=True)
class GitLabJob:
    name: str
    path: str  # file where the job is defined (the last file that sets it, when overridden)
    line: int | None
    hidden: bool  # name starts with "."
    manual: ManualGate | None  # set when `when: manual` can take effect
    # (command line, line) from before_script, script, after_script after `default:`
    # inheritance. The line is in `path`; it is None for commands written in another file
    # (an included default or template): `commands` says where those are.
    scripts: tuple[tuple[str, int | None], ...]
    image: str | None  # effective image name (the job's or the default's)
    raw: Mapping[str, Any]  # the job mapping after extends / !reference / default merge
    commands: tuple[ScriptLine, ...] = ()
    stage: str | None = None
    extends: tuple[str, ...] = ()


@dataclass(frozen=True)
class GitLabPipeline:
    path: str  # root config path
    jobs: tuple[GitLabJob, ...]  # visible (non-hidden) jobs only
    files: tuple[str, ...]  # every config file read (root + local includes)
    unresolved: tuple[str, ...]  # what could not be resolved here, for humans

    def job(self, name: str) -> GitLabJob | None:
        return next((job for job in self.jobs if job.name == name), None)


def load_pipeline(files: RepoFiles, path: str = DEFAULT_PATH) -> GitLabPipeline | None:
    """The pipeline GitLab would build from `path`; None when the file does not exist.

    Raises FileProblem for a configuration GitLab would reject in a way that makes it
    unusable here: invalid YAML, a top level that is not a mapping, an `extends` or
    `!reference` cycle, or a name they refer to that exists nowhere (when nothing is
    unresolved that could define it).
    """
    found = files.find(path)
    if found is None:
        return None
    return _Composer(files, found).compose()


# --------------------------------------------------------------------------- located values


class Src(NamedTuple):
    path: str
    line: int | None


class YMap(dict[str, Any]):
    """A mapping that remembers where it and each of its keys were written."""

    def __init__(self, src: Src, key_src: dict[str, Src] | None = None) -> None:
        super().__init__()
        self.src = src
        self.key_src: dict[str, Src] = dict(key_src or {})

    def where(self, key: str) -> Src:
        return self.key_src.get(key, self.src)

    def copy_map(self) -> YMap:
        result = YMap(self.src, self.key_src)
        result.update(self)
        return result


class YSeq(list[Any]):
    """A sequence that remembers where it and each of its items were written."""

    def __init__(self, items: Iterable[Any], src: Src, item_src: list[Src],
                 tag: str | None = None) -> None:
        super().__init__(items)
        self.src = src
        self.item_src = item_src
        self.tag = tag

    def where(self, index: int) -> Src:
        return self.item_src[index] if 0 <= index < len(self.item_src) else self.src


def _node_line(node: Any) -> int | None:
    lc = getattr(node, "lc", None)
    line = getattr(lc, "line", None)
    return int(line) + 1 if line is not None else None


def _merged_maps(node: Any) -> list[Any]:
    """The maps a `<<:` merge key pulled into `node` (ruamel keeps them apart)."""
    merged = getattr(node, "merge", None)
    if not merged:
        return []
    return [item[-1] if isinstance(item, tuple) else item for item in merged]


def _key_line(node: Any, key: Any, depth: int = 0) -> int | None:
    """Line of a key, following merge keys to the anchor that wrote it."""
    lc = getattr(node, "lc", None)
    data = getattr(lc, "data", None)
    if isinstance(data, dict) and key in data:
        return int(data[key][0]) + 1
    if depth < 20:
        for merged in _merged_maps(node):
            line = _key_line(merged, key, depth + 1)
            if line is not None:
                return line
    return None


def _item_line(node: Any, index: int) -> int | None:
    lc = getattr(node, "lc", None)
    data = getattr(lc, "data", None)
    if isinstance(data, dict) and index in data:
        return int(data[index][0]) + 1
    return _node_line(node)


def _convert(node: Any, path: str) -> Any:
    """ruamel nodes -> YMap / YSeq carrying file and line; scalars stay as they are."""
    if isinstance(node, dict):
        result = YMap(Src(path, _node_line(node)))
        for key, value in node.items():
            name = str(key)
            result[name] = _convert(value, path)
            line = _key_line(node, key)
            result.key_src[name] = Src(path, line if line is not None else result.src.line)
        return result
    if isinstance(node, list):
        items = [_convert(item, path) for item in node]
        sources = [Src(path, _item_line(node, index)) for index in range(len(node))]
        return YSeq(items, Src(path, _node_line(node)), sources, tag_of(node))
    tag = tag_of(node)
    if tag is not None and hasattr(node, "value"):  # a tagged scalar: keep its text
        return node.value
    return node


def deep_merge(base: YMap, over: YMap) -> YMap:
    """GitLab's merge: hashes merge key by key (recursively), anything else is replaced."""
    result = base.copy_map()
    result.src = over.src
    for key, value in over.items():
        current = result.get(key)
        if isinstance(current, YMap) and isinstance(value, YMap):
            result[key] = deep_merge(current, value)
        else:
            result[key] = value
        result.key_src[key] = over.where(key)
    return result


def flatten(value: Any, src: Src, depth: int = 0) -> Iterator[tuple[Any, Src]]:
    """Items of a (possibly nested) sequence with their sources; a scalar is one item."""
    if isinstance(value, YSeq):
        if depth > MAX_FLATTEN_DEPTH:
            return
        for index, item in enumerate(value):
            yield from flatten(item, value.where(index), depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from flatten(item, src, depth + 1)
    elif value is not None:
        yield value, src


# --------------------------------------------------------------------------- composition


class _Composer:
    def __init__(self, files: RepoFiles, root: str) -> None:
        self.files = files
        self.root = root
        self.read: list[str] = []
        self.unresolved: list[str] = []

    # ---- step 1 and 2: files and includes

    def compose(self) -> GitLabPipeline:
        config = self._load_file(self.root, depth=0, seen=set())
        extended = _Extender(config, self.unresolved).all()
        jobs = _JobBuilder(config, extended, self.unresolved).jobs()
        return GitLabPipeline(
            path=self.root,
            jobs=tuple(job for job in jobs if not job.hidden),
            files=tuple(self.read),
            unresolved=tuple(dict.fromkeys(self.unresolved)),
        )

    def _document(self, path: str) -> YMap:
        documents = self.files.yaml_documents(path)
        # A file may start with a `spec:` header document, the configuration follows it.
        if len(documents) >= 2 and isinstance(documents[0], dict) and "spec" in documents[0]:
            document = documents[1]
        else:
            document = documents[0] if documents else None
        if document is None:
            return YMap(Src(path, 1))
        if not isinstance(document, dict):
            raise FileProblem(
                path, "GitLab CI configuration must be a mapping at the top level",
                _node_line(document),
            )
        converted = _convert(document, path)
        assert isinstance(converted, YMap)
        return converted

    def _load_file(self, path: str, depth: int, seen: set[str]) -> YMap:
        """A file with its includes merged in (each included file at most once)."""
        seen.add(path)
        self.read.append(path)
        content = self._document(path)
        if "include" not in content:
            return content
        merged = YMap(content.src)
        for target, where in self._includes(content["include"], content.where("include")):
            if target in seen:
                continue  # GitLab includes a file once, however often it is named
            if depth + 1 > MAX_INCLUDE_DEPTH or len(self.read) >= MAX_INCLUDED_FILES:
                self.unresolved.append(
                    f"local {target}: include limit reached ({_at(where)})"
                )
                continue
            merged = deep_merge(merged, self._load_file(target, depth + 1, seen))
        own = content.copy_map()
        del own["include"]
        return deep_merge(merged, own)

    def _includes(self, value: Any, where: Src) -> Iterator[tuple[str, Src]]:
        """Local files an `include:` names, in order; the rest goes to `unresolved`."""
        for item, src in flatten(value, where):
            if isinstance(item, str):
                if item.startswith(("http://", "https://")):
                    self.unresolved.append(f"remote {item} ({_at(src)})")
                else:
                    yield from self._local(item, src)
            elif isinstance(item, YMap):
                yield from self._include_mapping(item)
            else:
                self.unresolved.append(f"include entry {item!r} not understood ({_at(src)})")

    def _include_mapping(self, item: YMap) -> Iterator[tuple[str, Src]]:
        if "local" in item:
            yield from self._local(str(item["local"]), item.where("local"))
        elif "project" in item:
            targets = [str(f) for f, _ in flatten(item.get("file"), item.src)]
            ref = f"@{item['ref']}" if item.get("ref") is not None else ""
            self.unresolved.append(
                f"project {item['project']}{ref} file {', '.join(targets) or '?'} "
                f"({_at(item.where('project'))})"
            )
        else:
            for kind in ("remote", "template", "component"):
                if kind in item:
                    self.unresolved.append(f"{kind} {item[kind]} ({_at(item.where(kind))})")
                    return
            keys = ", ".join(item) or "nothing"
            self.unresolved.append(f"include with {keys} not understood ({_at(item.src)})")

    def _local(self, raw: str, where: Src) -> Iterator[tuple[str, Src]]:
        name = raw.strip().lstrip("/")
        if name.startswith("./"):
            name = posixpath.normpath(name)
        if "$" in name:
            self.unresolved.append(f"local {raw}: depends on CI/CD variables ({_at(where)})")
            return
        if "*" in name:
            pattern = _wildcard(name)
            for path in sorted(self.files.paths):
                if pattern.match(path) and path.lower().endswith((".yml", ".yaml")):
                    yield path, where
            return
        found = self.files.find(name)
        if found is None:
            self.unresolved.append(f"local {raw}: no such file ({_at(where)})")
        elif not found.lower().endswith((".yml", ".yaml")):
            self.unresolved.append(f"local {raw}: not a YAML file ({_at(where)})")
        else:
            yield found, where


def _wildcard(pattern: str) -> re.Pattern[str]:
    """GitLab's expansion of include wildcards: `**` matches anything, `*` no slash."""
    parts = [re.escape(part) for part in pattern.split("**")]
    regex = ".*?".join(part.replace(r"\*", "[^/]*?") for part in parts)
    return re.compile(f"^{regex}$")


def _at(src: Src) -> str:
    return f"{src.path}:{src.line}" if src.line else src.path


# --------------------------------------------------------------------------- step 3: extends


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value if item is not None]
    return []


class _Extender:
    def __init__(self, config: YMap, unresolved: list[str]) -> None:
        self.config = config
        self.unresolved = unresolved
        self.done: dict[str, YMap] = {}

    def all(self) -> dict[str, YMap]:
        for name, value in self.config.items():
            if name not in GLOBAL_KEYWORDS and isinstance(value, YMap):
                self.extend(name, ())
        return self.done

    def extend(self, name: str, chain: tuple[str, ...]) -> YMap:
        if name in self.done:
            return self.done[name]
        job = self.config[name]
        assert isinstance(job, YMap)
        where = job.where("extends")
        if name in chain:
            cycle = " → ".join((*chain[chain.index(name):], name))
            raise FileProblem(where.path, f"circular `extends`: {cycle}", where.line)
        if len(chain) >= MAX_EXTENDS_DEPTH:
            raise FileProblem(
                where.path,
                f"`extends` nested deeper than {MAX_EXTENDS_DEPTH} levels: "
                + " → ".join((*chain, name)),
                where.line,
            )
        parents = _names(job.get("extends"))
        if not parents:
            self.done[name] = job
            return job
        merged: YMap | None = None
        for parent in parents:
            base = self.config.get(parent)
            if not isinstance(base, YMap) or parent in GLOBAL_KEYWORDS:
                self._missing(f"`extends: {parent}` of {name}", where)
                continue
            extended = self.extend(parent, (*chain, name))
            merged = extended if merged is None else deep_merge(merged, extended)
        result = job if merged is None else deep_merge(merged, job)
        self.done[name] = result
        return result

    def _missing(self, what: str, where: Src) -> None:
        if self.unresolved:
            self.unresolved.append(f"{what} is defined nowhere here ({_at(where)})")
            return
        raise FileProblem(where.path, f"{what}: no such job or template", where.line)


# --------------------------------------------------------------------------- steps 4, 5: jobs


class _JobBuilder:
    def __init__(self, config: YMap, extended: dict[str, YMap], unresolved: list[str]) -> None:
        self.config = config
        self.extended = extended
        self.unresolved = unresolved
        default = config.get("default")
        defaults = YMap(config.src)
        for key in GLOBAL_DEFAULT_KEYWORDS:
            if key in config:
                defaults[key] = config[key]
                defaults.key_src[key] = config.where(key)
        if isinstance(default, YMap):
            defaults = deep_merge(defaults, self._select(default, DEFAULT_KEYWORDS))
        self.defaults = self.resolve(defaults, 0)
        assert isinstance(self.defaults, YMap)

    @staticmethod
    def _select(mapping: YMap, keys: Iterable[str]) -> YMap:
        result = YMap(mapping.src)
        for key in keys:
            if key in mapping:
                result[key] = mapping[key]
                result.key_src[key] = mapping.where(key)
        return result

    def jobs(self) -> list[GitLabJob]:
        """Jobs in the order the merged configuration lists them."""
        return [self._job(name, self.extended[name]) for name in self.config
                if name in self.extended]

    # ---- !reference

    def resolve(self, value: Any, depth: int) -> Any:
        if isinstance(value, YSeq):
            if value.tag == "!reference":
                return self.resolve(self._reference(value, depth), depth + 1)
            items = [self.resolve(item, depth) for item in value]
            return YSeq(items, value.src, value.item_src, value.tag)
        if isinstance(value, YMap):
            result = YMap(value.src, value.key_src)
            for key, item in value.items():
                result[key] = self.resolve(item, depth)
            return result
        return value

    def _reference(self, tag: YSeq, depth: int) -> Any:
        path = [str(part) for part in tag]
        text = f"!reference [{', '.join(path)}]"
        if depth >= MAX_REFERENCE_DEPTH:
            raise FileProblem(
                tag.src.path,
                f"{text}: !reference nested deeper than {MAX_REFERENCE_DEPTH} levels "
                "(a cycle?)",
                tag.src.line,
            )
        if not path:
            raise FileProblem(tag.src.path, "empty !reference", tag.src.line)
        value: Any = self.extended.get(path[0], self.config.get(path[0]))
        for key in path[1:]:
            if not isinstance(value, YMap) or key not in value:
                value = None
                break
            value = value[key]
        if value is None:
            if self.unresolved:
                self.unresolved.append(f"{text} is defined nowhere here ({_at(tag.src)})")
                return YSeq([], tag.src, [])
            raise FileProblem(tag.src.path, f"{text} refers to nothing", tag.src.line)
        return value

    # ---- default: and the job model

    def _inherited_defaults(self, job: YMap) -> Iterable[str]:
        inherit = job.get("inherit")
        setting = inherit.get("default", True) if isinstance(inherit, YMap) else True
        if setting is False:
            return ()
        if isinstance(setting, list):
            return [str(key) for key in setting]
        return DEFAULT_KEYWORDS

    def _job(self, name: str, extended: YMap) -> GitLabJob:
        job = self.resolve(extended, 0)
        assert isinstance(job, YMap)
        for key in self._inherited_defaults(job):
            if key not in job and key in self.defaults:
                job[key] = self.defaults[key]
                job.key_src[key] = self.defaults.where(key)
        where = self.config.where(name)
        commands = tuple(_commands(job))
        scripts = tuple(
            (command.text, command.line if command.path == where.path else None)
            for command in commands
        )
        stage = job.get("stage")
        return GitLabJob(
            name=name,
            path=where.path,
            line=where.line,
            hidden=name.startswith("."),
            manual=manual_gate(job),
            scripts=scripts,
            image=_image(job.get("image")),
            raw=job,
            commands=commands,
            stage=str(stage) if isinstance(stage, str) else None,
            extends=tuple(_names(job.get("extends"))),
        )


def _image(value: Any) -> str | None:
    if isinstance(value, YMap):
        value = value.get("name")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _commands(job: YMap) -> Iterator[ScriptLine]:
    for section in SCRIPT_SECTIONS:
        if section not in job:
            continue
        for item, src in flatten(job[section], job.where(section)):
            if isinstance(item, (YMap, YSeq)):
                continue
            for text, line in split_command_lines(item, src.line):
                yield ScriptLine(section, text, src.path, line)


def split_command_lines(item: Any, line: int | None) -> Iterator[tuple[str, int | None]]:
    """One script entry as command lines: a multi-line entry is split into its lines
    (a `|` block keeps each line's own number; folded text gets the block's first line),
    lines continued with a trailing backslash are joined, blank lines are dropped."""
    text = str(item)
    literal = isinstance(item, LiteralScalarString)  # `|`: one text line per file line
    block = literal or isinstance(item, FoldedScalarString)  # `>`: lines are folded
    first = line + 1 if block and line is not None else line
    pending: list[str] = []
    pending_line: int | None = None
    for offset, raw in enumerate(text.splitlines()):
        current = first + offset if first is not None and literal else first
        stripped = raw.strip()
        if not pending and not stripped:
            continue
        if not pending:
            pending_line = current
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        yield " ".join(part for part in pending if part), pending_line
        pending = []
    if pending:
        yield " ".join(part for part in pending if part), pending_line


def manual_gate(job: Mapping[str, Any]) -> ManualGate | None:
    """Where `when: manual` takes effect for a job, if it can.

    Without `rules:`, the job-level `when` decides. With `rules:`, they are evaluated in
    order and the first match wins: an entry without `if` / `changes` / `exists` always
    matches, so the entries after it never apply. A reachable entry is manual when its
    own `when:` is `manual`, or when it sets no `when:` and the job-level one is `manual`.
    """
    job_when = job.get("when")
    if "rules" not in job or job.get("rules") is None:
        if job_when == "manual":
            src = _where(job, "when")
            return ManualGate(src.path, src.line, "when: manual")
        return None
    rules_src = _where(job, "rules")
    for index, (rule, src) in enumerate(flatten(job["rules"], rules_src)):
        if not isinstance(rule, Mapping):
            continue
        if "when" in rule:
            if rule["when"] == "manual":
                at = _where(rule, "when", src)
                return ManualGate(at.path, at.line, f"rules[{index}]: when: manual")
        elif job_when == "manual":
            at = _where(job, "when")
            return ManualGate(
                at.path, at.line, f"when: manual (applies to rules[{index}], which sets no when)"
            )
        if not any(condition in rule for condition in RULE_CONDITIONS):
            break  # always matches: later entries never apply
    return None


def _where(mapping: Mapping[str, Any], key: str, fallback: Src | None = None) -> Src:
    if isinstance(mapping, YMap):
        return mapping.where(key)
    return fallback or Src("", None)
