"""What a repository's CI runs, across CI systems: the evidence `iac-linted` looks for.

Each Invocation is one thing a pipeline executes or pulls in: a shell command line, an
action or orb it uses, a container image it runs in, a pre-commit hook or make target
reached from CI. Located, so findings can point at the line that lints (or should).

`ci_invocations(files)` reads every CI system `systems.detect_ci` finds, then follows the
indirections a pipeline takes inside the repository, to a bounded depth:

- `pre-commit run [hook] ...` (or the `pre-commit/action` action): the hooks of
  `.pre-commit-config.yaml` that would run, as `hook` invocations (`id` or `id: entry`);
- `make [target ...]` / `$(MAKE) target`: the recipe lines of those targets and of their
  prerequisites, as `make` invocations;
- `npm run X`, `npm test`, `yarn X`, `pnpm X`, `bun run X`: package.json scripts;
- `tox -e X` / `tox`: the `commands` of tox.ini environments;
- `./scripts/lint.sh`, `bash x.sh`, `bash -c "..."`: the lines of the script.

`uses` invocations carry the action reference followed by the step's `with:` and `env:`
scalars as shell-quoted `KEY=VALUE` words (`aquasecurity/trivy-action@v1 scan-type=config`),
since what an action does often depends on them; `uses_hints` takes them apart.

What the scanner cannot see (reusable workflows of other repositories, GitLab includes of
other projects or templates, Jenkins shared libraries, Azure templates in other
repositories) is listed in `external`; unreadable files in `problems`. Neither stops the
rest from being read.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import posixpath
import re
import shlex
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from governance.ci import systems
from governance.errors import FileProblem
from governance.snapshot import RepoFiles
from governance.yamlsafe import line_of

InvocationKind = Literal["run", "uses", "image", "hook", "make", "include"]


@dataclass(frozen=True)
class Invocation:
    system: str  # "GitHub Actions", "GitLab CI", "Jenkins", ...
    kind: InvocationKind
    text: str  # the command line, action reference, image name, hook id or target name
    path: str
    line: int | None = None


@dataclass(frozen=True)
class External:
    """Something CI pulls in that lives outside the repository, so it cannot be read."""

    system: str
    text: str
    path: str
    line: int | None = None
    reason: str = ""


@dataclass
class CiInvocations:
    """Everything found: the invocations, what could not be seen, what could not be read."""

    systems: list[systems.CiConfig] = field(default_factory=list)
    invocations: list[Invocation] = field(default_factory=list)
    external: list[External] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    truncated: bool = False  # the bound on invocations was reached


MAX_INVOCATIONS = 20_000
MAX_DEPTH = 8  # make -> npm -> script -> ... chains deeper than this are not followed
MAX_MAKE_TARGETS = 200  # per make invocation, prerequisites included
MAX_TEMPLATE_DEPTH = 10
_MAX_NODES = 100_000  # per YAML document walked generically

# --------------------------------------------------------------------------- shell helpers

_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", "|&", ";;", "(", ")", "\n"})
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SHELL_KEYWORDS = frozenset({"do", "then", "else", "elif", "if", "while", "until", "{", "}",
                             "!", "time", "exec", "command", "builtin", "nohup", "nice"})
# Wrappers that run the command given after them: (words to drop, options taking a value).
_RUNNERS: dict[tuple[str, ...], frozenset[str]] = {
    ("sudo",): frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-U"}),
    ("env",): frozenset({"-u", "-C", "-S", "--unset", "--chdir"}),
    ("timeout",): frozenset({"-s", "-k", "--signal", "--kill-after"}),
    ("npx",): frozenset({"-p", "--package", "-c", "--call"}),
    ("pnpx",): frozenset(), ("bunx",): frozenset(), ("uvx",): frozenset({"--from", "--with"}),
    ("pnpm", "dlx"): frozenset(), ("yarn", "dlx"): frozenset(), ("pnpm", "exec"): frozenset(),
    ("npm", "exec"): frozenset({"-p", "--package"}),
    ("pipx", "run"): frozenset({"--spec"}), ("uv", "run"): frozenset({"--with", "--from"}),
    ("poetry", "run"): frozenset(), ("pdm", "run"): frozenset(), ("pipenv", "run"): frozenset(),
    ("hatch", "run"): frozenset(), ("rye", "run"): frozenset(),
    ("bundle", "exec"): frozenset(), ("mise", "exec"): frozenset(), ("mise", "x"): frozenset(),
    ("asdf", "exec"): frozenset(), ("xargs",): frozenset({"-n", "-I", "-P", "-L", "-d", "-s"}),
}
_PYTHON_MODULES = {"pre_commit": "pre-commit", "cfnlint": "cfn-lint",
                   "ansiblelint": "ansible-lint", "checkov.main": "checkov", "checkov": "checkov",
                   "yamllint": "yamllint", "tox": "tox", "nox": "nox"}


def shell_segments(line: str) -> list[list[str]]:
    """The simple commands of a shell line, as word lists (split on && || ; | and so on)."""
    text = line.replace("$(MAKE)", "make").replace("${MAKE}", "make")
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: fall back to plain words
        tokens = text.split()
    segments: list[list[str]] = [[]]
    for token in tokens:
        if token in _SEPARATORS or (token and set(token) <= set("&|;()")):
            if segments[-1]:
                segments.append([])
            continue
        segments[-1].append(token)
    return [segment for segment in segments if segment]


def command_words(words: list[str]) -> list[str]:
    """A simple command without the wrappers that run it: `sudo env X=1 npx tflint` -> tflint.

    Also unwraps `find ... -exec CMD`, `python -m MODULE` and takes the base name of a path
    to a program (`./bin/tflint` -> `tflint`).
    """
    current = list(words)
    for _ in range(8):
        while current and (_ASSIGNMENT.match(current[0]) or current[0] in _SHELL_KEYWORDS):
            current = current[1:]
        if not current:
            return []
        head = posixpath.basename(current[0])
        if head == "find" and "-exec" in current:
            current = current[current.index("-exec") + 1:]
            continue
        if re.fullmatch(r"python[0-9.]*|py", head) and len(current) > 2 and current[1] == "-m":
            module = current[2]
            current = [_PYTHON_MODULES.get(module, module), *current[3:]]
            continue
        stripped = _strip_runner(current)
        if stripped is None:
            return [head, *current[1:]]
        current = stripped
    return current


def _strip_runner(words: list[str]) -> list[str] | None:
    head = posixpath.basename(words[0])
    for runner, valued in _RUNNERS.items():
        if head != runner[0] or tuple(words[1:len(runner)]) != runner[1:]:
            continue
        rest = words[len(runner):]
        while rest and rest[0].startswith("-"):
            option = rest.pop(0)
            if option == "--":
                break
            if option in valued and rest:
                rest.pop(0)
        if runner == ("env",):
            while rest and _ASSIGNMENT.match(rest[0]):
                rest.pop(0)
        return rest if rest else None
    return None


def split_script(text: str, first_line: int | None, literal: bool = True
                 ) -> list[tuple[str, int | None]]:
    """A script block as command lines with their line numbers (continuations joined).

    `first_line` is the file line of the script's first line; `literal` says whether the
    script's lines map one to one to file lines (a `|` block does, a folded one does not).
    """
    lines: list[tuple[str, int | None]] = []
    pending: list[str] = []
    pending_line: int | None = None
    for offset, raw in enumerate(text.splitlines()):
        stripped = raw.strip()
        line = first_line + offset if first_line is not None and literal else first_line
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if not pending:
            pending_line = line
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        lines.append((" ".join(part for part in pending if part), pending_line))
        pending = []
    if pending:
        lines.append((" ".join(part for part in pending if part), pending_line))
    return lines


def uses_hints(text: str) -> tuple[str, dict[str, str]]:
    """(action reference, {with/env key: value}) of a `uses` invocation's text."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    if not words:
        return "", {}
    hints: dict[str, str] = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        if sep:
            hints[key] = value
    return words[0], hints


def docker_run_image(words: list[str]) -> tuple[str, list[str]] | None:
    """(image, command after it) of `docker run [options] IMAGE [command]`, else None."""
    if len(words) < 3 or posixpath.basename(words[0]) not in ("docker", "podman", "nerdctl"):
        return None
    index = 1
    if words[1] == "container" and len(words) > 2:
        index = 2
    if words[index] != "run":
        return None
    valued = {"-v", "--volume", "-e", "--env", "-w", "--workdir", "--entrypoint", "-u",
              "--user", "--network", "--net", "--name", "--platform", "--mount", "--env-file",
              "-p", "--publish", "--label", "-l", "--cpus", "-m", "--memory", "--pull",
              "--add-host", "--hostname", "-h", "--volumes-from", "--tmpfs"}
    rest = words[index + 1:]
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in valued and "=" not in option and rest:
            rest.pop(0)
    if not rest:
        return None
    return rest[0], rest[1:]


def image_name(reference: str) -> str:
    """An image reference without registry port confusion, tag or digest, lower-cased."""
    name = reference.strip().lower()
    name = name.removeprefix("docker://")
    name = name.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


# --------------------------------------------------------------------------- collection


@dataclass(frozen=True)
class _Pending:
    invocation: Invocation
    cwd: str
    depth: int
    command: str | None  # shell text to look into for indirections


class _Collector:
    def __init__(self, files: RepoFiles) -> None:
        self.files = files
        self.result = CiInvocations()
        self._seen: set[Invocation] = set()
        self._queue: deque[_Pending] = deque()
        self._followed: set[tuple[str, ...]] = set()
        self._makefiles: dict[str, _Makefile | None] = {}

    # ---- adding

    def add(self, invocation: Invocation, cwd: str = ".", depth: int = 0,
            command: str | None = None) -> None:
        if invocation in self._seen:
            return
        if len(self.result.invocations) >= MAX_INVOCATIONS:
            self.result.truncated = True
            return
        self._seen.add(invocation)
        self.result.invocations.append(invocation)
        if command is None and invocation.kind in ("run", "make"):
            command = invocation.text
        if command is not None or invocation.kind == "uses":
            self._queue.append(_Pending(invocation, cwd, depth, command))

    def add_script(self, system: str, text: str, path: str, first_line: int | None,
                   literal: bool = True, cwd: str = ".", depth: int = 0,
                   kind: InvocationKind = "run") -> None:
        """Each command line of a script, tracking `cd` from one line to the next."""
        for line_text, line in split_script(text, first_line, literal):
            self.add(Invocation(system, kind, line_text, path, line), cwd, depth)
            cwd = _after_cd(line_text, cwd)

    def add_lines(self, system: str, value: Any, path: str, line: int | None,
                  cwd: str = ".", depth: int = 0) -> None:
        """A YAML script value: a string (maybe a `|` block) or a list of strings."""
        if isinstance(value, str):
            first, literal = _block_start(value, line)
            self.add_script(system, value, path, first, literal, cwd, depth)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, str):
                    item_line = line_of(value, index) or line
                    first, literal = _block_start(item, item_line)
                    self.add_script(system, item, path, first, literal, cwd, depth)

    def external(self, system: str, text: str, path: str, line: int | None,
                 reason: str) -> None:
        self.result.external.append(External(system, text, path, line, reason))

    def problem(self, problem: FileProblem) -> None:
        if all((p.path, p.reason) != (problem.path, problem.reason)
               for p in self.result.problems):
            self.result.problems.append(problem)

    # ---- following indirections

    def follow_all(self) -> None:
        while self._queue:
            pending = self._queue.popleft()
            if pending.depth >= MAX_DEPTH:
                continue
            if pending.invocation.kind == "uses":
                self._follow_uses(pending)
            if pending.command is not None:
                self._follow_command(pending)

    def _follow_uses(self, pending: _Pending) -> None:
        reference, hints = uses_hints(pending.invocation.text)
        if reference.lower().split("@", 1)[0] == "pre-commit/action":
            arguments = shlex.split(hints.get("extra_args", "--all-files"))
            self._pre_commit(pending, ["pre-commit", "run", *arguments])

    def _follow_command(self, pending: _Pending) -> None:
        assert pending.command is not None
        cwd = pending.cwd
        for segment in shell_segments(pending.command):
            words = command_words(segment)
            if not words:
                continue
            if words[0] == "cd":
                cwd = _change_dir(cwd, words[1] if len(words) > 1 else "")
                continue
            head = words[0]
            if head in ("make", "gmake"):
                self._make(pending, words, cwd)
            elif head in ("pre-commit", "prek") and "run" in words[1:3]:
                self._pre_commit(pending, words, cwd)
            elif head in ("npm", "yarn", "pnpm", "bun"):
                self._package_script(pending, words, cwd)
            elif head == "tox":
                self._tox(pending, words, cwd)
            elif head in ("bash", "sh", "zsh", "dash", "source", "."):
                self._shell(pending, segment, words, cwd)
            else:
                raw = next((w for w in segment if not _ASSIGNMENT.match(w)
                            and w not in _SHELL_KEYWORDS), head)
                self._script_file(pending, raw, cwd)

    def _derived(self, pending: _Pending, kind: InvocationKind, text: str, path: str,
                 line: int | None, cwd: str, command: str | None = None) -> None:
        self.add(Invocation(pending.invocation.system, kind, text, path, line), cwd,
                 pending.depth + 1, command)

    # make

    def _make(self, pending: _Pending, words: list[str], cwd: str) -> None:
        directory, makefile_name, targets = _make_arguments(words[1:])
        folder = _join(cwd, directory) if directory else cwd
        if folder is None:
            return
        candidates = [makefile_name] if makefile_name else ["GNUmakefile", "makefile", "Makefile"]
        path = None
        for name in candidates:
            joined = _join(folder, name)
            path = self.files.find(joined) if joined else None
            if path:
                break
        if path is None:
            return
        makefile = self._makefile(path)
        if makefile is None:
            return
        goals = targets or ([makefile.default] if makefile.default else [])
        make_dir = systems.folder_of(path)
        visited: set[str] = set()
        order = list(goals)
        while order and len(visited) < MAX_MAKE_TARGETS:
            target = order.pop(0)
            if target in visited:
                continue
            visited.add(target)
            key = ("make", path, target)
            rule = makefile.rules.get(target)
            if rule is None or key in self._followed:
                continue
            self._followed.add(key)
            order.extend(rule.prerequisites)
            for text, line in rule.recipe:
                self._derived(pending, "make", text, path, line, make_dir)

    def _makefile(self, path: str) -> _Makefile | None:
        if path not in self._makefiles:
            try:
                self._makefiles[path] = _parse_makefile(self.files, path)
            except FileProblem as problem:
                self.problem(problem)
                self._makefiles[path] = None
        return self._makefiles[path]

    # pre-commit

    def _pre_commit(self, pending: _Pending, words: list[str], cwd: str = ".") -> None:
        options = _pre_commit_arguments(words[words.index("run") + 1:])
        config_name = options.get("config") or ".pre-commit-config.yaml"
        joined = _join(cwd, config_name)
        path = (self.files.find(joined) if joined else None) or self.files.find(config_name)
        if path is None:
            return
        key = ("pre-commit", path, options.get("hook") or "", options.get("stage") or "")
        if key in self._followed:
            return
        self._followed.add(key)
        try:
            hooks = _pre_commit_hooks(self.files, path)
        except FileProblem as problem:
            self.problem(problem)
            return
        stage = _normal_stage(options.get("stage") or "pre-commit")
        wanted = options.get("hook")
        for hook in hooks:
            if wanted and wanted not in (hook.id, hook.alias):
                continue
            if hook.stages and stage not in hook.stages:
                continue
            text = f"{hook.id}: {hook.entry}" if hook.entry else hook.id
            command = hook.entry if hook.entry and hook.local else None
            self._derived(pending, "hook", text, path, hook.line, ".", command)

    # package.json scripts

    def _package_script(self, pending: _Pending, words: list[str], cwd: str) -> None:
        folder, script = _package_arguments(words)
        if script is None:
            return
        base = _join(cwd, folder) if folder else cwd
        joined = _join(base, "package.json") if base is not None else None
        path = self.files.find(joined) if joined else None
        if path is None:
            return
        key = ("npm", path, script)
        if key in self._followed:
            return
        self._followed.add(key)
        try:
            text = self.files.read_text(path)
            document = json.loads(text)
        except FileProblem as problem:
            self.problem(problem)
            return
        except ValueError as error:
            self.problem(FileProblem(path, f"invalid JSON: {error}"))
            return
        scripts = document.get("scripts") if isinstance(document, dict) else None
        if not isinstance(scripts, dict):
            return
        for name in (f"pre{script}", script, f"post{script}"):
            command = scripts.get(name)
            if isinstance(command, str):
                line = _line_containing(text, json.dumps(name) + ":", json.dumps(name))
                self._derived(pending, "run", command, path, line, systems.folder_of(path))

    # tox

    def _tox(self, pending: _Pending, words: list[str], cwd: str) -> None:
        joined = _join(cwd, "tox.ini")
        path = (self.files.find(joined) if joined else None) or self.files.find("tox.ini")
        if path is None:
            return
        try:
            text = self.files.read_text(path)
        except FileProblem as problem:
            self.problem(problem)
            return
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(text, path)
        except configparser.Error as error:
            self.problem(FileProblem(path, f"invalid INI: {error.message}"))
            return
        environments = _tox_environments(words[1:], parser)
        for environment in environments:
            key = ("tox", path, environment)
            if key in self._followed:
                continue
            self._followed.add(key)
            section = f"testenv:{environment}"
            commands = None
            for name in (section, "testenv"):
                if parser.has_option(name, "commands"):
                    commands = parser.get(name, "commands")
                    break
            if not commands:
                continue
            for command in commands.splitlines():
                command = command.strip()
                if command and not command.startswith("#"):
                    line = _line_containing(text, command)
                    self._derived(pending, "run", command, path, line, systems.folder_of(path))

    # shell scripts

    def _shell(self, pending: _Pending, segment: list[str], words: list[str], cwd: str) -> None:
        arguments = words[1:]
        if "-c" in arguments:
            index = arguments.index("-c")
            if index + 1 < len(arguments):
                inline = arguments[index + 1]
                inv = pending.invocation
                kind: InvocationKind = "make" if inv.kind == "make" else "run"
                self.add(Invocation(inv.system, kind, inline, inv.path, inv.line), cwd,
                         pending.depth + 1)
            return
        script = next((a for a in arguments if not a.startswith("-")), None)
        if script is not None:
            self._script_file(pending, script, cwd)

    def _script_file(self, pending: _Pending, word: str, cwd: str) -> None:
        if "/" not in word and not word.endswith((".sh", ".bash")):
            return
        if "$" in word or word.startswith("/"):
            return
        if word.lower().endswith((".py", ".js", ".ts", ".rb", ".go", ".pl", ".ps1")):
            return
        joined = _join(cwd, word)
        path = self.files.find(joined) if joined else None
        if path is None and cwd != ".":
            root = _join(".", word)
            path = self.files.find(root) if root else None
        if path is None:
            return
        key = ("script", path)
        if key in self._followed:
            return
        self._followed.add(key)
        try:
            text = self.files.read_text(path)
        except FileProblem as problem:
            self.problem(problem)
            return
        first = text.splitlines()[0] if text else ""
        if first.startswith("#!") and not re.search(r"\b(ba|z|da)?sh\b", first):
            return  # a script in another language
        system = pending.invocation.system
        for line_text, line in split_script(text, 1):
            self.add(Invocation(system, "run", line_text, path, line), ".", pending.depth + 1)


# --------------------------------------------------------------------------- make


@dataclass
class _Rule:
    prerequisites: list[str] = field(default_factory=list)
    recipe: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class _Makefile:
    rules: dict[str, _Rule] = field(default_factory=dict)
    default: str | None = None
    variables: dict[str, str] = field(default_factory=lambda: {"MAKE": "make"})


_MAKE_ASSIGN = re.compile(
    r"^(?:export\s+|override\s+)*([A-Za-z_.][\w.-]*)\s*(::?=|\?=|\+=|!=|=)(.*)$")
_MAKE_RULE = re.compile(r"^([^:=#\t][^:=#]*?)\s*::?(?!=)(.*)$")
_MAKE_VARIABLE = re.compile(r"\$[({]([A-Za-z_][\w.-]*)[)}]")


def _parse_makefile(files: RepoFiles, path: str, depth: int = 0,
                    into: _Makefile | None = None) -> _Makefile:
    makefile = into or _Makefile()
    text = files.read_text(path)
    current: list[str] = []
    in_define = False
    logical: list[tuple[str, int]] = []
    pending = ""
    pending_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            pending_line = number
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        logical.append((pending + raw, pending_line))
        pending = ""
    for raw, number in logical:
        if in_define:
            if raw.strip().startswith("endef"):
                in_define = False
            continue
        if raw.startswith("\t"):
            command = raw[1:].strip()
            if current and command and not command.startswith("#"):
                command = _expand(command.lstrip("@-+ "), makefile.variables)
                for target in current:
                    makefile.rules[target].recipe.append((command, number))
            continue
        line = raw.split("#", 1)[0].rstrip() if "#" in raw else raw.rstrip()
        stripped = line.strip()
        if not stripped:
            continue
        word = stripped.split()[0]
        if word == "define":
            in_define = True
            continue
        if word in ("ifeq", "ifneq", "ifdef", "ifndef", "else", "endif", "export", "unexport",
                    "vpath", "override") and not _MAKE_ASSIGN.match(stripped):
            continue
        if word in ("include", "-include", "sinclude"):
            if depth < 3:
                for name in stripped.split()[1:]:
                    joined = _join(systems.folder_of(path), _expand(name, makefile.variables))
                    found = files.find(joined) if joined else None
                    if found and found != path:
                        with contextlib.suppress(FileProblem):
                            _parse_makefile(files, found, depth + 1, makefile)
            continue
        assignment = _MAKE_ASSIGN.match(stripped)
        if assignment:
            name, operator, value = assignment.groups()
            value = value.strip()
            if name == ".DEFAULT_GOAL":
                makefile.default = _expand(value, makefile.variables)
            elif operator == "+=":
                makefile.variables[name] = (makefile.variables.get(name, "") + " " + value).strip()
            elif operator == "?=":
                makefile.variables.setdefault(name, value)
            elif operator != "!=":
                makefile.variables[name] = value
            current = []
            continue
        rule = _MAKE_RULE.match(stripped)
        if rule is None:
            current = []
            continue
        targets = _expand(rule.group(1), makefile.variables).split()
        rest = rule.group(2)
        if re.match(r"^\s*[A-Za-z_][\w.-]*\s*(::?=|\?=|\+=|=)", rest):
            continue  # a target-specific variable
        prerequisites, _, inline = rest.partition(";")
        prerequisites = prerequisites.split("|", 1)[0]
        current = [t for t in targets if "%" not in t]
        for target in current:
            rule_entry = makefile.rules.setdefault(target, _Rule())
            rule_entry.prerequisites.extend(
                p for p in _expand(prerequisites, makefile.variables).split() if "%" not in p)
            if inline.strip():
                rule_entry.recipe.append((_expand(inline.strip(), makefile.variables), number))
            if makefile.default is None and not target.startswith("."):
                makefile.default = target
    return makefile


def _expand(text: str, variables: Mapping[str, str], depth: int = 0) -> str:
    if depth > 5 or "$" not in text:
        return text.replace("$$", "$")

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return variables[name] if name in variables else match.group(0)

    expanded = _MAKE_VARIABLE.sub(replace, text)
    if expanded == text:
        return text.replace("$$", "$")
    return _expand(expanded, variables, depth + 1)


def _make_arguments(arguments: list[str]) -> tuple[str | None, str | None, list[str]]:
    """(-C directory, -f makefile, targets) of a make command line."""
    directory: str | None = None
    makefile: str | None = None
    targets: list[str] = []
    rest = list(arguments)
    while rest:
        word = rest.pop(0)
        if word in ("-C", "--directory") and rest:
            directory = rest.pop(0)
        elif word.startswith("--directory="):
            directory = word.split("=", 1)[1]
        elif word.startswith("-C") and len(word) > 2:
            directory = word[2:]
        elif word in ("-f", "--file", "--makefile") and rest:
            makefile = rest.pop(0)
        elif word.startswith(("--file=", "--makefile=")):
            makefile = word.split("=", 1)[1]
        elif word in ("-j", "--jobs", "-l", "-o", "-W", "-I") and rest and rest[0][:1] != "-":
            rest.pop(0)
        elif word.startswith("-") or "=" in word:
            continue
        else:
            targets.append(word)
    return directory, makefile, targets


# --------------------------------------------------------------------------- pre-commit


@dataclass(frozen=True)
class _Hook:
    id: str
    alias: str | None
    entry: str | None
    local: bool
    stages: frozenset[str]
    line: int | None


_STAGE_NAMES = {"commit": "pre-commit", "push": "pre-push", "merge-commit": "pre-merge-commit"}


def _normal_stage(stage: str) -> str:
    return _STAGE_NAMES.get(stage, stage)


def _pre_commit_hooks(files: RepoFiles, path: str) -> list[_Hook]:
    document = files.yaml(path)
    if not isinstance(document, dict):
        raise FileProblem(path, "a pre-commit config must be a mapping", line_of(document))
    defaults = document.get("default_stages")
    default_stages = frozenset(_normal_stage(str(s)) for s in defaults) if isinstance(
        defaults, list) else frozenset()
    hooks: list[_Hook] = []
    repos = document.get("repos")
    if not isinstance(repos, list):
        return hooks
    for repo in repos:
        if not isinstance(repo, dict) or not isinstance(repo.get("hooks"), list):
            continue
        local = str(repo.get("repo", "")) in ("local", "meta")
        for hook in repo["hooks"]:
            if not isinstance(hook, dict) or hook.get("id") is None:
                continue
            stages = hook.get("stages")
            hook_stages = frozenset(_normal_stage(str(s)) for s in stages) if isinstance(
                stages, list) else default_stages
            entry = hook.get("entry")
            alias = hook.get("alias")
            hooks.append(_Hook(
                id=str(hook["id"]),
                alias=str(alias) if alias is not None else None,
                entry=str(entry).strip() if entry is not None else None,
                local=local,
                stages=hook_stages,
                line=line_of(hook, "id"),
            ))
    return hooks


def _pre_commit_arguments(arguments: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    valued = {"--hook-stage": "stage", "-c": "config", "--config": "config",
              "--from-ref": "", "--source": "", "-s": "", "--to-ref": "", "--origin": "",
              "-o": "", "--remote-branch": "", "--local-branch": "", "--remote-name": "",
              "--remote-url": "", "--commit-msg-filename": "", "--commit-object-name": ""}
    rest = list(arguments)
    while rest:
        word = rest.pop(0)
        if word == "--files":
            break
        name, sep, value = word.partition("=")
        if name in valued:
            if not sep:
                value = rest.pop(0) if rest else ""
            if valued[name]:
                options[valued[name]] = value
        elif not word.startswith("-") and "hook" not in options:
            options["hook"] = word
    return options


# --------------------------------------------------------------------------- npm, tox


def _package_arguments(words: list[str]) -> tuple[str | None, str | None]:
    """(package folder, script name) of an npm / yarn / pnpm / bun command."""
    tool = words[0]
    folder: str | None = None
    rest: list[str] = []
    arguments = list(words[1:])
    while arguments:
        word = arguments.pop(0)
        if word in ("--prefix", "--cwd", "-C", "--dir") and arguments:
            folder = arguments.pop(0)
        elif word in ("-w", "--workspace", "--filter", "-F") and arguments:
            arguments.pop(0)
        elif word.startswith(("--prefix=", "--cwd=", "--dir=")):
            folder = word.split("=", 1)[1]
        elif word == "--":
            break
        elif word.startswith("-"):
            continue
        else:
            rest.append(word)
    if not rest:
        return folder, None
    command = rest[0]
    if command in ("run", "run-script", "rum", "urn"):
        return folder, rest[1] if len(rest) > 1 else None
    if command in ("test", "t", "tst", "start", "stop", "restart"):
        return folder, "test" if command in ("t", "tst") else command
    builtins = {"install", "i", "ci", "add", "remove", "exec", "dlx", "x", "publish", "pack",
                "audit", "outdated", "update", "upgrade", "link", "init", "create", "set",
                "config", "info", "view", "version", "why", "list", "ls", "cache", "global",
                "workspace", "workspaces", "rebuild", "prune", "login", "logout", "whoami",
                "node", "install-test", "it", "cit", "fund", "help", "bin", "build"}
    if tool in ("yarn", "pnpm") and command not in builtins:
        return folder, command
    return folder, None


def _tox_environments(arguments: list[str], parser: configparser.ConfigParser) -> list[str]:
    environments: list[str] = []
    rest = list(arguments)
    while rest:
        word = rest.pop(0)
        if word in ("-e", "--env") and rest:
            environments.extend(e.strip() for e in rest.pop(0).split(",") if e.strip())
        elif word.startswith("-e") and len(word) > 2:
            environments.extend(e.strip() for e in word[2:].lstrip("=").split(",") if e.strip())
    if environments:
        return environments
    if parser.has_option("tox", "envlist"):
        listed = re.split(r"[,\s]+", parser.get("tox", "envlist"))
        return [e for e in listed if e and "{" not in e]
    return ["py"]


# --------------------------------------------------------------------------- paths


def _join(cwd: str, relative: str) -> str | None:
    """A repository path from a working folder and a relative path; None when outside."""
    if not relative:
        return None
    if relative.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(cwd, relative))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


_WORKSPACE = re.compile(
    r"^(\$\{\{\s*github\.workspace\s*\}\}|\$\{?(GITHUB_WORKSPACE|CI_PROJECT_DIR|"
    r"BUILD_SOURCESDIRECTORY|CODEBUILD_SRC_DIR|BITBUCKET_CLONE_DIR|WORKSPACE|"
    r"TRAVIS_BUILD_DIR|CIRCLE_WORKING_DIRECTORY|DRONE_WORKSPACE|PWD)\}?)/?")


def _change_dir(cwd: str, target: str) -> str:
    if not target or target in ("~", "-"):
        return "."
    match = _WORKSPACE.match(target)
    if match:
        target = target[match.end():] or "."
        cwd = "."
    if "$" in target or target.startswith("/"):
        return "."
    return _join(cwd, target) or "."


def _after_cd(line: str, cwd: str) -> str:
    """The working folder after a command line (only `cd` changes it)."""
    for segment in shell_segments(line):
        if segment and segment[0] == "cd":
            cwd = _change_dir(cwd, segment[1] if len(segment) > 1 else "")
    return cwd


def _block_start(value: Any, line: int | None) -> tuple[int | None, bool]:
    """(first line of a script value, whether its lines map 1:1 to file lines)."""
    kind = type(value).__name__
    if kind == "LiteralScalarString":
        return (line + 1 if line is not None else None), True
    if kind == "FoldedScalarString":
        return (line + 1 if line is not None else None), False
    return line, "\n" not in str(value)


def _line_containing(text: str, *needles: str) -> int | None:
    for needle in needles:
        offset = text.find(needle)
        if offset >= 0:
            return text.count("\n", 0, offset) + 1
    return None


def _value_line(mapping: Any, key: Any) -> int | None:
    lc = getattr(mapping, "lc", None)
    if lc is not None:
        try:
            return int(lc.value(key)[0]) + 1
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
    return line_of(mapping, key)


def _scalar_hints(*mappings: Any) -> str:
    words: list[str] = []
    for mapping in mappings:
        if not isinstance(mapping, dict):
            continue
        for key, value in mapping.items():
            if isinstance(value, (str, int, float, bool)):
                rendered = str(value).lower() if isinstance(value, bool) else str(value)
                words.append(shlex.quote(f"{key}={' '.join(rendered.split())}"))
    return " ".join(words)


# --------------------------------------------------------------------------- CI systems


def _github_actions(collector: _Collector, paths: Iterable[str]) -> None:
    from governance.ci import github_actions

    for path in paths:
        try:
            workflow = github_actions.parse_workflow(collector.files, path)
        except FileProblem as problem:
            collector.problem(problem)
            continue
        document = collector.files.yaml(path)
        workflow_cwd = _working_directory(document, ".")
        for job in workflow.jobs:
            job_line = job.uses_line if job.uses_line is not None else job.line
            if job.uses is not None:
                if job.uses.startswith("./"):
                    continue  # a reusable workflow of this repository: read on its own
                collector.add(Invocation(systems.GITHUB_ACTIONS, "include", job.uses, path,
                                         job_line))
                collector.external(systems.GITHUB_ACTIONS, job.uses, path, job_line,
                                   "reusable workflow of another repository")
                continue
            raw = job.raw if isinstance(job.raw, dict) else {}
            container = raw.get("container")
            image = container.get("image") if isinstance(container, dict) else container
            if isinstance(image, str) and image.strip():
                collector.add(Invocation(systems.GITHUB_ACTIONS, "image", image.strip(), path,
                                         line_of(raw, "container")))
            cwd = _working_directory(raw, workflow_cwd)
            _github_steps(collector, path, job.steps, cwd, depth=0)


def _working_directory(document: Any, cwd: str) -> str:
    if not isinstance(document, dict):
        return cwd
    defaults = document.get("defaults")
    run = defaults.get("run") if isinstance(defaults, dict) else None
    folder = run.get("working-directory") if isinstance(run, dict) else None
    if isinstance(folder, str) and folder.strip():
        return _change_dir(cwd, folder.strip())
    return cwd


def _not_shell(shell: str) -> bool:
    """A `shell:` that runs the script as a program in another language (python...)."""
    program = posixpath.basename(shell.split()[0]) if shell.split() else ""
    return program.startswith(("python", "node", "ruby", "perl"))


def _github_steps(collector: _Collector, path: str, steps: Iterable[Any], cwd: str,
                  depth: int) -> None:
    """Steps of a job (or composite action). A `uses` step's text carries its `with:` and
    its own `env:` (where super-linter and megalinter take their switches); job- and
    workflow-level `env:` is not added, to keep the texts readable."""
    from governance.ci import github_actions

    for step in steps:
        raw = step.raw if isinstance(step.raw, dict) else {}
        if step.uses is not None:
            hints = _scalar_hints(step.with_, raw.get("env"))
            text = f"{step.uses} {hints}".strip()
            collector.add(Invocation(systems.GITHUB_ACTIONS, "uses", text, path, step.line),
                          cwd, depth)
            if step.uses.lower().startswith("docker://"):
                collector.add(Invocation(systems.GITHUB_ACTIONS, "image", step.uses[9:], path,
                                         step.line))
            elif step.uses.startswith("./") and depth < MAX_TEMPLATE_DEPTH:
                for name in ("action.yml", "action.yaml"):
                    joined = _join(".", posixpath.join(step.uses, name))
                    action_path = collector.files.find(joined) if joined else None
                    if action_path is None:
                        continue
                    try:
                        action = github_actions.parse_action(collector.files, action_path)
                    except FileProblem as problem:
                        collector.problem(problem)
                        break
                    if action is None:
                        break
                    if action.image and action.image.lower().startswith("docker://"):
                        collector.add(Invocation(systems.GITHUB_ACTIONS, "image",
                                                 action.image[9:], action_path,
                                                 action.image_line))
                    _github_steps(collector, action_path, action.steps, ".", depth + 1)
                    break
        shell = raw.get("shell")
        if step.run is not None and not (isinstance(shell, str) and _not_shell(shell)):
            folder = raw.get("working-directory")
            step_cwd = _change_dir(cwd, folder.strip()) if isinstance(folder, str) else cwd
            line = step.run_line if step.run_line is not None else step.line
            literal = step.run_literal or "\n" not in step.run
            collector.add_script(systems.GITHUB_ACTIONS, step.run, path, line, literal,
                                 step_cwd, depth)


def _gitlab(collector: _Collector, paths: Iterable[str]) -> None:
    from governance.ci import gitlab_ci

    for path in paths:
        try:
            pipeline = gitlab_ci.load_pipeline(collector.files, path)
        except FileProblem as problem:
            collector.problem(problem)
            continue
        if pipeline is None:
            continue
        for job in pipeline.jobs:
            if job.hidden:
                continue
            if job.image:
                collector.add(Invocation(systems.GITLAB_CI, "image", job.image, job.path,
                                         job.line))
            if job.commands:
                for command in job.commands:
                    collector.add(Invocation(systems.GITLAB_CI, "run", command.text,
                                             command.path, command.line))
            else:
                for text, line in job.scripts:
                    collector.add(Invocation(systems.GITLAB_CI, "run", text, job.path, line))
        for unresolved in pipeline.unresolved:
            collector.add(Invocation(systems.GITLAB_CI, "include", unresolved, pipeline.path))
            collector.external(systems.GITLAB_CI, unresolved, pipeline.path, None,
                               "include the scanner cannot resolve")


_JENKINS_STEP = re.compile(
    r"(?<![\w$.])(sh|bat|powershell|pwsh)\s*(?:\(\s*)?"
    r"(?:[A-Za-z_]\w*\s*:\s*(?:'[^']*'|\"[^\"]*\"|[\w.]+)\s*,\s*)*"
    r"(?:script\s*:\s*)?(?=['\"])"
)
_JENKINS_IMAGES = (
    re.compile(r"(?<![\w$])docker\s*\.\s*image\s*\(\s*(['\"])"),
    re.compile(r"(?<![\w$.])docker\s*\{[^{}]*?(?<![\w$.])image\s*:?\s*(['\"])", re.DOTALL),
    re.compile(r"(?<![\w$.])agent\s*\{\s*docker\s+(['\"])"),
)
_JENKINS_LIBRARY = re.compile(r"@Library\s*\(|(?<![\w$.])library\s*[('\"]")


def _groovy_string(text: str, masked: str, start: int) -> tuple[str, int] | None:
    """(content, offset of content) of the string literal starting at `start`."""
    quote = text[start]
    if text.startswith(quote * 3, start):
        quote *= 3
    content_start = start + len(quote)
    end = masked.find(quote, content_start)
    if end < 0:
        return None
    return text[content_start:end], content_start


def _jenkins(collector: _Collector, paths: Iterable[str]) -> None:
    from governance.ci import jenkins

    for path in paths:
        try:
            text = collector.files.read_text(path)
        except FileProblem as problem:
            collector.problem(problem)
            continue
        masked = jenkins.mask_groovy(text)
        for match in _JENKINS_STEP.finditer(masked):
            found = _groovy_string(text, masked, match.end())
            if found is None:
                continue
            content, offset = found
            first = text.count("\n", 0, offset) + 1
            collector.add_script(systems.JENKINS, content, path, first)
        for pattern in _JENKINS_IMAGES:
            for match in pattern.finditer(masked):
                found = _groovy_string(text, masked, match.end() - 1)
                if found and found[0].strip():
                    collector.add(Invocation(systems.JENKINS, "image", found[0].strip(), path,
                                             text.count("\n", 0, match.start()) + 1))
        for match in _JENKINS_LIBRARY.finditer(masked):
            line = text.count("\n", 0, match.start()) + 1
            source_line = text.splitlines()[line - 1].strip()
            collector.add(Invocation(systems.JENKINS, "include", source_line, path, line))
            collector.external(systems.JENKINS, source_line, path, line,
                               "shared library loaded from outside the repository")


def _load(collector: _Collector, path: str) -> list[Any]:
    try:
        if path.lower().endswith(".json"):
            return [json.loads(collector.files.read_text(path))]
        return [d for d in collector.files.yaml_documents(path) if d is not None]
    except FileProblem as problem:
        collector.problem(problem)
    except ValueError as error:
        collector.problem(FileProblem(path, f"invalid JSON: {error}"))
    return []


@dataclass(frozen=True)
class _Shape:
    """Where a YAML-configured CI system keeps commands, images and actions."""

    commands: frozenset[str]
    images: frozenset[str] = frozenset()
    uses: frozenset[str] = frozenset()


_SHAPES: dict[str, _Shape] = {
    systems.BITBUCKET: _Shape(frozenset({"script", "after-script"}), frozenset({"image"}),
                              frozenset({"pipe"})),
    systems.TRAVIS: _Shape(frozenset({"script", "before_script", "before_install", "install",
                                      "after_success", "after_script", "before_deploy",
                                      "after_failure", "after_deploy"})),
    systems.CODEBUILD: _Shape(frozenset({"commands", "finally"})),
    systems.DRONE: _Shape(frozenset({"commands"}), frozenset({"image"})),
    systems.WOODPECKER: _Shape(frozenset({"commands"}), frozenset({"image"})),
    systems.APPVEYOR: _Shape(frozenset({"init", "install", "before_build", "build_script",
                                        "after_build", "before_test", "test_script",
                                        "after_test", "on_success", "on_failure", "on_finish",
                                        "before_deploy", "deploy_script", "after_deploy",
                                        "cmd", "ps", "pwsh", "sh"})),
    systems.BUILDKITE: _Shape(frozenset({"command", "commands"}), frozenset({"image"})),
    systems.SEMAPHORE: _Shape(frozenset({"commands"}), frozenset({"image"})),
    systems.AMPLIFY: _Shape(frozenset({"commands"})),
    systems.BITRISE: _Shape(frozenset({"content"})),
}


def _walk(collector: _Collector, system: str, shape: _Shape, node: Any, path: str) -> None:
    """Collect commands, images and actions wherever the shape's keys appear."""
    stack: list[Any] = [node]
    visited = 0
    while stack and visited < _MAX_NODES:
        current = stack.pop()
        visited += 1
        if isinstance(current, dict):
            for key, value in current.items():
                name = str(key)
                if name in shape.commands and isinstance(value, (str, list)):
                    collector.add_lines(system, value, path, _value_line(current, key))
                    if isinstance(value, list):
                        stack.extend(v for v in value if isinstance(v, dict))
                    continue
                if name in shape.images:
                    image = value.get("name") if isinstance(value, dict) else value
                    if isinstance(image, str) and image.strip():
                        collector.add(Invocation(system, "image", image.strip(), path,
                                                 line_of(current, key)))
                        continue
                if name in shape.uses and isinstance(value, str):
                    hints = _scalar_hints(current.get("variables"))
                    collector.add(Invocation(system, "uses", f"{value} {hints}".strip(), path,
                                             line_of(current, key)))
                    continue
                if isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(current, list):
            stack.extend(item for item in current if isinstance(item, (dict, list)))


def _generic(collector: _Collector, system: str, paths: Iterable[str]) -> None:
    shape = _SHAPES[system]
    for path in paths:
        for document in _load(collector, path):
            _walk(collector, system, shape, document, path)


def _circleci(collector: _Collector, paths: Iterable[str]) -> None:
    for path in paths:
        for document in _load(collector, path):
            if not isinstance(document, dict):
                continue
            orbs = document.get("orbs")
            aliases: dict[str, str] = {}
            if isinstance(orbs, dict):
                for alias, orb in orbs.items():
                    if isinstance(orb, str):
                        aliases[str(alias)] = orb
                        collector.add(Invocation(systems.CIRCLECI, "uses", orb, path,
                                                 line_of(orbs, alias)))

            stack: list[Any] = [document]
            visited = 0
            while stack and visited < _MAX_NODES:
                current = stack.pop()
                visited += 1
                if isinstance(current, list):
                    for index, item in enumerate(current):
                        if isinstance(item, str):
                            _orb_use(collector, aliases, path, item, line_of(current, index))
                        elif isinstance(item, (dict, list)):
                            stack.append(item)
                    continue
                if not isinstance(current, dict):
                    continue
                for key, value in current.items():
                    name = str(key)
                    if name == "run":
                        command = value.get("command") if isinstance(value, dict) else value
                        holder = value if isinstance(value, dict) else current
                        holder_key = "command" if isinstance(value, dict) else key
                        if isinstance(command, str):
                            first, literal = _block_start(command,
                                                          _value_line(holder, holder_key))
                            collector.add_script(systems.CIRCLECI, command, path, first,
                                                 literal)
                        continue
                    if name == "image" and isinstance(value, str):
                        collector.add(Invocation(systems.CIRCLECI, "image", value, path,
                                                 line_of(current, key)))
                        continue
                    if name != "orbs":
                        _orb_use(collector, aliases, path, name, line_of(current, key))
                    if isinstance(value, (dict, list)):
                        stack.append(value)


def _orb_use(collector: _Collector, aliases: Mapping[str, str], path: str, name: str,
             line: int | None) -> None:
    """`alias/job` or `alias/command` of an orb declared under `orbs:`."""
    alias, sep, command = name.partition("/")
    if sep and alias in aliases:
        collector.add(Invocation(systems.CIRCLECI, "uses", f"{aliases[alias]}/{command}", path,
                                 line))


_AZURE_SCRIPT_KEYS = ("script", "bash", "pwsh", "powershell")


def _azure(collector: _Collector, paths: Iterable[str]) -> None:
    seen: set[str] = set()
    for path in paths:
        _azure_file(collector, path, seen, 0)


def _azure_file(collector: _Collector, path: str, seen: set[str], depth: int) -> None:
    if path in seen or depth > MAX_TEMPLATE_DEPTH:
        return
    seen.add(path)
    system = systems.AZURE_PIPELINES
    for document in _load(collector, path):
        stack: list[Any] = [document]
        visited = 0
        while stack and visited < _MAX_NODES:
            current = stack.pop()
            visited += 1
            if isinstance(current, list):
                stack.extend(item for item in current if isinstance(item, (dict, list)))
                continue
            if not isinstance(current, dict):
                continue
            for key in _AZURE_SCRIPT_KEYS:
                value = current.get(key)
                if isinstance(value, str):
                    first, literal = _block_start(value, _value_line(current, key))
                    folder = current.get("workingDirectory")
                    cwd = _change_dir(".", folder) if isinstance(folder, str) else "."
                    collector.add_script(system, value, path, first, literal, cwd)
            task = current.get("task")
            if isinstance(task, str):
                hints = _scalar_hints(current.get("inputs"))
                collector.add(Invocation(system, "uses", f"{task} {hints}".strip(), path,
                                         line_of(current, "task")))
            template = current.get("template")
            if isinstance(template, str):
                _azure_template(collector, path, template, line_of(current, "template"), seen,
                                depth)
            container = current.get("container")
            image: Any = None
            if isinstance(current.get("image"), str) and "container" in current:
                image = current["image"]  # a resources.containers entry
            elif isinstance(container, dict):
                image = container.get("image")
            elif isinstance(container, str) and ("/" in container or ":" in container):
                image = container  # an image name rather than a container resource alias
            if isinstance(image, str):
                collector.add(Invocation(system, "image", image, path,
                                         line_of(current, "container")))
            for key, value in current.items():
                if str(key) not in _AZURE_SCRIPT_KEYS and isinstance(value, (dict, list)):
                    stack.append(value)


def _azure_template(collector: _Collector, path: str, template: str, line: int | None,
                    seen: set[str], depth: int) -> None:
    if "@" in template and not template.endswith("@self"):
        collector.add(Invocation(systems.AZURE_PIPELINES, "include", template, path, line))
        collector.external(systems.AZURE_PIPELINES, template, path, line,
                           "template in another repository")
        return
    name = template.removesuffix("@self")
    if "$" in name:
        collector.external(systems.AZURE_PIPELINES, template, path, line,
                           "template path depends on parameters")
        return
    joined = (_join(".", name.lstrip("/")) if name.startswith("/")
              else _join(systems.folder_of(path), name))
    found = collector.files.find(joined) if joined else None
    if found is None:
        collector.problem(FileProblem(path, f"template {template} not found", line))
        return
    _azure_file(collector, found, seen, depth + 1)


def _cloud_build(collector: _Collector, paths: Iterable[str]) -> None:
    system = systems.CLOUD_BUILD
    for path in paths:
        for document in _load(collector, path):
            steps = document.get("steps") if isinstance(document, dict) else None
            if not isinstance(steps, list):
                continue
            for index, step in enumerate(steps):
                if not isinstance(step, dict):
                    continue
                line = line_of(steps, index)
                image = step.get("name")
                if isinstance(image, str):
                    collector.add(Invocation(system, "image", image, path, line))
                script = step.get("script")
                if isinstance(script, str):
                    first, literal = _block_start(script, _value_line(step, "script"))
                    collector.add_script(system, script, path, first, literal)
                args = step.get("args")
                arguments = [str(a) for a in args] if isinstance(args, list) else []
                entrypoint = step.get("entrypoint")
                folder = step.get("dir")
                cwd = _change_dir(".", folder) if isinstance(folder, str) else "."
                program = str(entrypoint) if entrypoint else (
                    image_name(image).rsplit("/", 1)[-1] if isinstance(image, str) else "")
                if program in ("bash", "sh") and "-c" in arguments:
                    index_c = arguments.index("-c")
                    if index_c + 1 < len(arguments):
                        collector.add_script(system, arguments[index_c + 1], path, line, False,
                                             cwd)
                elif program and (arguments or entrypoint):
                    collector.add(Invocation(system, "run", shlex.join([program, *arguments]),
                                             path, line), cwd)


_TEAMCITY_SCRIPT = re.compile(r"scriptContent\s*=\s*(\"\"\"|\")")
_TEAMCITY_IMAGE = re.compile(r"dockerImage\s*=\s*\"([^\"]+)\"")


def _teamcity(collector: _Collector, paths: Iterable[str]) -> None:
    for path in paths:
        if not path.lower().endswith(".kts"):
            continue
        try:
            text = collector.files.read_text(path)
        except FileProblem as problem:
            collector.problem(problem)
            continue
        for match in _TEAMCITY_SCRIPT.finditer(text):
            quote = match.group(1)
            end = text.find(quote, match.end())
            if end < 0:
                continue
            first = text.count("\n", 0, match.end()) + 1
            collector.add_script(systems.TEAMCITY, text[match.end():end], path, first)
        for match in _TEAMCITY_IMAGE.finditer(text):
            collector.add(Invocation(systems.TEAMCITY, "image", match.group(1), path,
                                     text.count("\n", 0, match.start()) + 1))


def ci_invocations(files: RepoFiles) -> CiInvocations:
    """Everything the repository's CI runs, followed through make, pre-commit, npm, tox and
    scripts; plus what it pulls in from elsewhere and the files that could not be read."""
    collector = _Collector(files)
    found = systems.detect_ci(files)
    collector.result.systems = found
    by_system: dict[str, list[str]] = {}
    for config in found:
        by_system.setdefault(config.system, []).extend(config.paths)
    for system, paths in by_system.items():
        if system == systems.GITHUB_ACTIONS:
            _github_actions(collector, paths)
        elif system == systems.GITLAB_CI:
            _gitlab(collector, paths)
        elif system == systems.JENKINS:
            _jenkins(collector, paths)
        elif system == systems.CIRCLECI:
            _circleci(collector, paths)
        elif system == systems.AZURE_PIPELINES:
            _azure(collector, paths)
        elif system == systems.CLOUD_BUILD:
            _cloud_build(collector, paths)
        elif system == systems.TEAMCITY:
            _teamcity(collector, paths)
        elif system in _SHAPES:
            _generic(collector, system, (p for p in paths
                                         if p.lower().endswith((".yml", ".yaml", ".json"))))
    collector.follow_all()
    return collector.result


def iter_commands(invocations: Iterable[Invocation]) -> Iterator[tuple[Invocation, list[str]]]:
    """Each simple command of the shell-like invocations (run, make, hook entries),
    unwrapped by `command_words`: the unit linters are recognized by."""
    for invocation in invocations:
        text = invocation.text
        if invocation.kind == "hook":
            _, sep, entry = text.partition(": ")
            if not sep:
                continue
            text = entry
        elif invocation.kind not in ("run", "make"):
            continue
        for segment in shell_segments(text):
            words = command_words(segment)
            if words:
                yield invocation, words
