"""Jenkins pipelines as policies need them: where Jenkinsfiles are, what they wait for.

A Jenkinsfile is Groovy. This module does not parse Groovy; it lexes just enough of it
(comments and string literals) to look at code only, so an `input` in a comment or in
an `echo 'waiting for input'` does not count. `mask_groovy` is the building block for
other searches over a Jenkinsfile (shell commands, tools it calls).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from governance.snapshot import RepoFiles

# The job's "Script Path" can point anywhere; these are the names people use.
JENKINSFILE_GLOBS = ("**/Jenkinsfile", "**/Jenkinsfile.*", "**/*.jenkinsfile")
# `Jenkinsfile.md` documents a pipeline, it is not one.
_NOT_PIPELINES = frozenset({
    ".md", ".txt", ".rst", ".adoc", ".html", ".png", ".svg", ".jpg", ".orig", ".bak", ".swp",
})
# Someone else's code: a Jenkinsfile of a vendored dependency is not this repository's.
_VENDORED_FOLDERS = frozenset({
    "node_modules", "vendor", "third_party", "third-party", "bower_components", ".terraform",
    ".venv", "venv", "site-packages", ".git",
})


@dataclass(frozen=True)
class InputStep:
    """An `input` step: the pipeline stops until a person answers."""

    path: str
    line: int
    text: str  # the source line, stripped
    stage: str | None  # name of the innermost enclosing stage('...'), when there is one


@dataclass(frozen=True)
class Stage:
    name: str
    start: int  # offset of the `stage` keyword
    end: int  # offset just after the closing brace of its block


def jenkinsfile_paths(files: RepoFiles) -> list[str]:
    """Committed Jenkinsfiles anywhere in the tree (case-insensitive), sorted."""
    found = []
    for path in files.glob(*JENKINSFILE_GLOBS):
        name = posixpath.basename(path).lower()
        suffix = posixpath.splitext(name)[1]
        if name != "jenkinsfile" and suffix in _NOT_PIPELINES:
            continue
        if any(folder in _VENDORED_FOLDERS for folder in path.split("/")[:-1]):
            continue
        found.append(path)
    return found


def mask_groovy(text: str) -> str:
    """`text` with comments blanked and string contents blanked (quotes kept).

    Offsets and line breaks are preserved, so a match in the result is at the same
    offset (and line) in `text`. Handles `//` and `/* */` comments, a `#!` first line,
    '...', "...", '''...''' and \"\"\"...\"\"\" strings with backslash escapes. Slashy strings
    (/.../) are left as code: telling them from division needs a parser.
    """
    out = list(text)
    length = len(text)
    index = 0

    def blank(start: int, end: int) -> None:
        for position in range(start, min(end, length)):
            if out[position] != "\n":
                out[position] = " "

    if text.startswith("#!"):
        end = text.find("\n")
        blank(0, length if end < 0 else end)
        index = length if end < 0 else end
    while index < length:
        char = text[index]
        if text.startswith("//", index):
            end = text.find("\n", index)
            end = length if end < 0 else end
            blank(index, end)
            index = end
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            end = length if end < 0 else end + 2
            blank(index, end)
            index = end
        elif char in "'\"":
            quote = text[index: index + 3] if text.startswith(char * 3, index) else char
            start = index + len(quote)
            content_end, index = _string_end(text, start, quote)
            blank(start, content_end)
        else:
            index += 1
    return "".join(out)


def _string_end(text: str, start: int, quote: str) -> tuple[int, int]:
    """(end of the string's content, offset where code resumes after the string).

    An unclosed one-line string ends at the line break, an unclosed triple-quoted one at
    the end of the text."""
    index = start
    length = len(text)
    while index < length:
        if text[index] == "\\":
            index += 2
            continue
        if text.startswith(quote, index):
            return index, index + len(quote)
        if len(quote) == 1 and text[index] == "\n":
            return index, index
        index += 1
    return length, length


# `input` as a step: input(...), input {...}, input 'text', input message: ..., and
# `steps.input` in shared-library code; not `foo.input`, `input = x`, `input.x`, `inputs`.
_INPUT = re.compile(
    r"(?<![\w$.])(?:steps\s*\.\s*)?input(?![\w$])"
    r"(?=\s*(?:[({'\"]|[A-Za-z_]\w*\s*:(?!:)))"
)
_STAGE = re.compile(r"(?<![\w$.])stage\s*\(\s*(['\"])")


def stages(text: str, masked: str | None = None) -> list[Stage]:
    """Every `stage('name') { ... }` block (declarative or scripted) with its extent."""
    masked = mask_groovy(text) if masked is None else masked
    found = []
    for match in _STAGE.finditer(masked):
        quote = match.group(1)
        name_start = match.end()
        name_end = masked.find(quote, name_start)
        if name_end < 0:
            continue
        after = re.compile(r"\s*\)\s*\{").match(masked, name_end + 1)
        if after is None:
            continue
        end = _block_end(masked, after.end())
        found.append(Stage(text[name_start:name_end], match.start(), end))
    return found


def _block_end(masked: str, start: int) -> int:
    """Offset after the `}` closing a block whose `{` ends just before `start`."""
    depth = 1
    for index in range(start, len(masked)):
        if masked[index] == "{":
            depth += 1
        elif masked[index] == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(masked)


def find_input_steps(text: str, path: str) -> list[InputStep]:
    """Every `input` step in a Jenkinsfile's code, with line and enclosing stage."""
    masked = mask_groovy(text)
    blocks = stages(text, masked)
    lines = text.splitlines()
    hits = []
    for match in _INPUT.finditer(masked):
        offset = match.start()
        line = masked.count("\n", 0, offset) + 1
        enclosing = [stage for stage in blocks if stage.start <= offset < stage.end]
        innermost = min(enclosing, key=lambda stage: stage.end - stage.start, default=None)
        hits.append(InputStep(
            path=path,
            line=line,
            text=lines[line - 1].strip() if line <= len(lines) else "",
            stage=innermost.name if innermost else None,
        ))
    return hits


def input_steps(files: RepoFiles) -> list[InputStep]:
    """`input` steps of every Jenkinsfile; an unreadable file raises FileProblem."""
    return [
        step for path in jenkinsfile_paths(files)
        for step in find_input_steps(files.read_text(path), path)
    ]
