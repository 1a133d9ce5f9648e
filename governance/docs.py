"""Policy documentation generated from the policy.yml files.

`governance policies docs` prints `policy_table_markdown(...)`; with `--write README.md` it
replaces what lies between the two markers of that file with the table:

    <!-- policies:start -->

    | Policy | Title | ... |

    <!-- policies:end -->

so the README's list of policies cannot drift from the policy folders.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from governance.errors import ConfigError
from governance.policy import Policy

START_MARKER = "<!-- policies:start -->"
END_MARKER = "<!-- policies:end -->"
SUMMARY_LIMIT = 200
COLUMNS = ("Policy", "Title", "Severity", "Default", "Autofix", "Summary")

# The end of the first sentence: . ! or ? followed by the next sentence or the end of the
# text, but not the dot of "e.g." / "i.e." / "etc." / "vs.".
_SENTENCE_END = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\betc)(?<!\bvs)[.!?](?=\s+[A-Z0-9\"'(\[`*_]|\s*$)"
)


def one_line_summary(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """The first sentence of `text` on one line, cut at a word to at most `limit` chars."""
    flat = " ".join(text.split())
    match = _SENTENCE_END.search(flat)
    sentence = flat[: match.end()] if match else flat
    if len(sentence) > limit:
        cut = sentence[: limit - 1]
        if " " in cut:
            cut = cut.rsplit(" ", 1)[0]
        sentence = cut.rstrip(" ,;:-") + "\u2026"
    return sentence


def markdown_cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, `|` escaped, no raw HTML.

    Code spans (`...`) are kept as code; outside them `<`, `>` and `&` become entities so
    that a policy title such as "no <b> tags" shows as written rather than as markup.
    """
    flat = " ".join(text.split())
    parts = flat.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: the whole text is prose
        return _prose(flat).replace("`", "\\`").replace("|", "\\|")
    out = [part if index % 2 else _prose(part) for index, part in enumerate(parts)]
    return "`".join(out).replace("|", "\\|")


def _prose(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def policy_table_markdown(policies: Iterable[Policy], link_prefix: str | None = "policies/"
                          ) -> str:
    """A Markdown table of every policy, sorted by id, ending with a newline.

    With `link_prefix`, each id links to `<prefix><id>/policy.yml` (the README sits at the
    repository root, next to `policies/`).
    """
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for policy in sorted(policies, key=lambda p: p.id):
        d = policy.definition
        ident = f"`{d.id}`"
        if link_prefix is not None:
            ident = f"[{ident}]({link_prefix}{d.id}/policy.yml)"
        cells = [
            ident,
            markdown_cell(d.title),
            str(d.severity),
            "on" if d.enabled else "off",
            "\u2014" if d.autofix == "none" else d.autofix,
            markdown_cell(one_line_summary(d.rationale)),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def readme_with_policy_table(readme_text: str, table: str) -> str:
    """`readme_text` with the text between the policy markers replaced by `table`.

    Everything outside the markers is kept byte for byte, the markers too; applying it
    twice gives the same text. Missing, repeated or misordered markers are a ConfigError.
    """
    starts, ends = readme_text.count(START_MARKER), readme_text.count(END_MARKER)
    if starts != 1 or ends != 1:
        raise ConfigError(
            f"expected the markers {START_MARKER} and {END_MARKER} once each, "
            f"found {starts} and {ends}: add them where the policy table belongs"
        )
    start = readme_text.index(START_MARKER) + len(START_MARKER)
    end = readme_text.index(END_MARKER)
    if end < start:
        raise ConfigError(f"{END_MARKER} comes before {START_MARKER}")
    body = table.strip("\n")
    inner = f"\n\n{body}\n\n" if body else "\n"  # blank lines: a table after HTML renders
    return readme_text[:start] + inner + readme_text[end:]
