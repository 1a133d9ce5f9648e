"""summary.md: totals, failures grouped by policy, errors, what changed; and hostile data that
stays text once a Markdown renderer (markdown-it, CommonMark + GFM tables) has read it."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from governance.demo import make_repo
from governance.models import Finding, Location, Outcome, Severity
from governance.render import FORMATS, write_reports
from governance.render.markdown import (
    LIST_LIMIT,
    ZWSP,
    md_code,
    md_text,
    render_markdown,
)
from governance.render.tabular import load_findings
from governance.scan import ScanRequest, run_scan

HOSTILE_NAMES = [
    "acme/a|b`c``d",
    "acme/</script><script>alert(1)</script>",
    "acme/<img src=x onerror=alert(1)>",
    "acme/@octocat",
    "acme/[click](javascript:alert(1))",
]
HOSTILE_MESSAGES = [
    "ping @security-team and @org/admins | cell | break",
    "![pixel](https://evil.example/p.png) and [a link](https://evil.example) www.evil.example",
    "line one\n# heading\n> quote\n| a | b |\n|---|---|",
    "**bold** _em_ ~~strike~~ `code` $x^2$ <b>tag</b> &amp; &#x3C;",
    "right-to-left \u202eevil\u202c and a NUL \x00 and a bell \x07",
]


class Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def rendered(markdown: str) -> Html:
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(markdown)
    parser = Html()
    parser.feed(html)
    parser.close()
    return parser


def _spool(path: Path, findings: list[Finding]) -> Path:
    path.write_text("".join(json.dumps(f.as_dict()) + "\n" for f in findings),
                    encoding="utf-8")
    return path


def _meta(**extra: Any) -> dict[str, Any]:
    return {"source": "github:acme", "pack": "p", "tool_version": "1.0", "repositories": 0,
            "policies": [{"id": "pinned", "title": "Actions pinned", "severity": "high"},
                         {"id": "readme", "title": "README | present", "severity": "low"},
                         {"id": "perms", "title": "Permissions", "severity": "medium"}],
            **extra}


def _render(tmp_path: Path, findings: list[Finding], **meta: Any) -> str:
    spool = _spool(tmp_path / "findings.jsonl", findings)
    return render_markdown(load_findings(spool), _meta(**meta))


def _hostile_findings() -> list[Finding]:
    findings = []
    for n, (name, message) in enumerate(zip(HOSTILE_NAMES, HOSTILE_MESSAGES, strict=True)):
        findings.append(Finding(name, "pinned", Outcome.FAIL, Severity.HIGH, message,
                                (Location(f"{name}/`x`|<b>@y.yml", n + 1),)))
    findings.append(Finding(HOSTILE_NAMES[1], "readme", Outcome.ERROR, Severity.LOW,
                            HOSTILE_MESSAGES[0]))
    return findings


def _visible(text: str) -> str:
    return " ".join(text.replace(ZWSP, "").split())


def test_hostile_names_and_messages_stay_text(tmp_path: Path) -> None:
    changes = {"new_failures": [{"repository": HOSTILE_NAMES[1], "policy": "pinned",
                                 "severity": "high", "message": HOSTILE_MESSAGES[1]}],
               "removed_repositories": [{"repository": HOSTILE_NAMES[3]}]}
    markdown = _render(tmp_path, _hostile_findings(), changes=changes)
    html = rendered(markdown)
    tags = {tag for tag, _ in html.tags}
    # Only the structure the summary itself makes: no link, image, script, raw HTML,
    # emphasis or strike-through from the data.
    assert tags <= {"h2", "h3", "h4", "p", "strong", "code", "ul", "li", "table", "thead",
                    "tbody", "tr", "th", "td", "blockquote"}, tags
    assert all(not attrs or set(attrs) == {"style"} for _, attrs in html.tags)
    text = _visible("".join(html.text))
    for value in HOSTILE_NAMES:
        assert value in text
    for value in HOSTILE_MESSAGES[:2]:
        assert _visible(value) in text
    assert "**bold** _em_ ~~strike~~ `code` $x^2$ <b>tag</b> &amp; &#x3C;" in text
    assert "\u202e" not in markdown and "\x00" not in markdown and "\x07" not in markdown
    # No line starts with data: the "# heading" inside a message is not a heading.
    assert not any(tag == "h1" for tag, _ in html.tags)
    assert "# heading" in text
    # A mention outside a code span never reaches GitHub as one.
    outside_code = re.sub(r"(`+).*?\1", "", markdown)
    assert re.findall(r"@(?!\u200b)", outside_code) == []
    assert "@\u200bsecurity-team" in markdown
    # GitHub's $math$ and autolinks: escaped or broken up.
    assert "\\$x^2\\$" in markdown
    assert "https:/\u200b/evil.example" in markdown and "www\u200b.evil" in markdown


def test_every_table_row_keeps_its_cells(tmp_path: Path) -> None:
    findings = [Finding(name, "readme", Outcome.FAIL, Severity.LOW, "m") for name in
                HOSTILE_NAMES]
    markdown = _render(tmp_path, findings)
    rows = [line for line in markdown.splitlines() if line.startswith("|")]
    assert rows
    for row in rows:  # once escaped pipes are discounted
        cells = row.replace("\\|", "").count("|") - 1
        assert cells in (2, 4), row
    html = rendered(markdown)
    assert [t for t, _ in html.tags].count("td") == 6 * 2 + 1 * 4
    assert "README | present" in "".join(html.text)


@pytest.mark.parametrize("value", [
    "plain", "a`b", "``", "`starts", "ends`", " spaced ", "a|b", "@x", "",
    "</code><script>x</script>",
])
def test_code_spans_hold_their_text(value: str) -> None:
    html = rendered(f"x {md_code(value)} y")
    codes = [tag for tag, _ in html.tags if tag == "code"]
    assert codes == ["code"]
    inner = "".join(html.text).strip().removeprefix("x ").removesuffix(" y")
    assert inner == (" ".join(value.split()) or "\u2205")


@pytest.mark.parametrize("value", HOSTILE_MESSAGES + HOSTILE_NAMES + ["a\\b", "1. x", "- x"])
def test_text_renders_as_itself(value: str) -> None:
    html = rendered(f"x {md_text(value)}")
    assert [tag for tag, _ in html.tags] == ["p"]
    expected = " ".join("".join(c if c.isprintable() and c not in "\u202e\u202c" else "\ufffd"
                                for c in value.replace("\n", " ")).split())
    assert _visible("".join(html.text)) == "x " + expected


def test_failures_are_grouped_by_policy_worst_first_and_capped(tmp_path: Path) -> None:
    findings = [Finding(f"acme/svc-{n:02d}", "readme", Outcome.FAIL, Severity.LOW, "no README")
                for n in range(LIST_LIMIT + 5)]
    findings += [Finding("acme/svc-00", "perms", Outcome.FAIL, Severity.MEDIUM, "write-all"),
                 Finding("acme/svc-01", "perms", Outcome.PASS, Severity.MEDIUM, "ok"),
                 Finding("acme/svc-02", "pinned", Outcome.FAIL, Severity.HIGH, "unpinned",
                         (Location(".github/workflows/ci.yml", 9),)),
                 Finding("acme/svc-03", "pinned", Outcome.ERROR, Severity.HIGH, "crashed")]
    markdown = _render(tmp_path, findings)
    headings = [line for line in markdown.splitlines() if line.startswith("#### ")]
    assert [re.search(r"\(`(\w+)`\)", h).group(1) for h in headings] == [  # type: ignore[union-attr]
        "pinned", "perms", "readme"]
    assert "high, 1 repository" in headings[0]
    assert f"low, {LIST_LIMIT + 5} repositories" in headings[2]
    readme = markdown.split(headings[2])[1].split("### Errors")[0]
    assert readme.count("\n- `acme/svc-") == LIST_LIMIT
    assert "- \u2026 and 5 more" in readme
    assert "- `acme/svc-02`: unpinned (`.github/workflows/ci.yml:9`)" in markdown
    assert "### What failed (17 findings in 3 policies)" in markdown
    assert "### Errors (1)" in markdown
    assert "- `acme/svc-03` \u00b7 `pinned`: crashed" in markdown
    assert "**Partial run:**" in markdown
    # compliance: 1 pass of 18 decided
    assert "**Compliance: 5.6%** (pass + waived of 18 decided)" in markdown
    assert "| \u2717 fail | 17 |" in markdown


def test_what_changed_only_when_the_meta_says(tmp_path: Path) -> None:
    findings = [Finding("acme/a", "readme", Outcome.PASS, Severity.LOW, "ok")]
    assert "What changed" not in _render(tmp_path, findings)
    assert "Nothing failed." in _render(tmp_path, findings)
    nothing = _render(tmp_path, findings, changes={"new_failures": [], "fixed": []})
    assert "### What changed since the previous scan\n\nNothing changed." in nothing
    first = _render(tmp_path, findings, changes={"scan_id": 1, "previous_scan_id": None,
                                                 "new_failures": [], "counts": {}})
    assert "first recorded scan of this source" in first
    # The shape of governance.history.Changes.as_dict(): lists may be cut, counts are not.
    changes = {
        "scan_id": 9, "previous_scan_id": 8, "previous_started": "2026-01-01T00:00:00+00:00",
        "new_failures": [{"repository": f"acme/r{n:02d}", "policy": "readme",
                          "severity": "low", "outcome": "fail", "previous_outcome": "pass",
                          "message": "no README @here"} for n in range(LIST_LIMIT + 2)]
        + [{"repository": "acme/zz", "policy": "pinned", "severity": "critical",
            "outcome": "fail", "previous_outcome": None, "message": ""}],
        "fixed": [{"repository": "acme/b", "policy": "perms", "severity": "medium",
                   "outcome": "pass", "previous_outcome": "fail", "message": "ok"}],
        "new_repositories": ["acme/new"],
        "removed_repositories": ["acme/old"],
        "expired_waivers": [{"repository": "acme/c", "policy": "readme", "severity": "low",
                             "owner": "@team", "reason": "x", "expires": "2026-01-01",
                             "message": "no README"}],
        "counts": {"new_failures": 1500, "fixed": 1, "new_repositories": 1,
                   "removed_repositories": 1, "expired_waivers": 1},
        "truncated": True,
        "unknown_key": [{"repository": "ignored"}],
    }
    markdown = _render(tmp_path, findings, changes=changes)
    section = markdown.split("### What changed since the previous scan")[1]
    assert "**New failures (1500)**" in section
    new = section.split("**New failures")[1].split("**Fixed")[0]
    assert new.index("`acme/zz`") < new.index("`acme/r00`")  # most severe first
    assert "- `acme/zz` \u00b7 `pinned` (critical)\n" in new
    assert "- `acme/r00` \u00b7 `readme` (low, was pass): no README @\u200bhere" in new
    assert "- \u2026 and 1490 more" in new
    assert "**Fixed (1)**\n\n- `acme/b` \u00b7 `perms` (medium, was fail, now pass): ok" in section
    assert "**New repositories (1)**\n\n- `acme/new`" in section
    assert "**Removed repositories (1)**\n\n- `acme/old`" in section
    assert ("- `acme/c` \u00b7 `readme` (low, expired 2026-01-01, owner @\u200bteam): no README"
            in section)
    assert "ignored" not in section


def test_markdown_from_a_real_scan(tmp_path: Path) -> None:
    make_repo(tmp_path / "org" / "with-readme", {"README.md": "# hi\n"})
    make_repo(tmp_path / "org" / "@no readme `x`", {"main.py": "print(1)\n"})
    (tmp_path / "governance.yml").write_text(
        "pack: only-readme\npolicy_paths: [extra]\n", encoding="utf-8")
    (tmp_path / "extra" / "packs").mkdir(parents=True)
    (tmp_path / "extra" / "packs" / "only-readme.yml").write_text(
        "id: only-readme\ndefaults: false\npolicies:\n  readme-present: {}\n", encoding="utf-8")
    outcome = run_scan(ScanRequest(f"local:{tmp_path / 'org'}",
                                   tmp_path / "governance.yml"), tmp_path / "out")
    assert "markdown" in FORMATS
    (path,) = write_reports(outcome.spool, outcome.meta, tmp_path / "out", ["markdown"])
    assert path.name == "summary.md"
    markdown = path.read_text(encoding="utf-8")
    assert markdown.startswith("## Governance report: `local:")
    assert "**Compliance: 50.0%**" in markdown and "2 repositories, 1 with failures" in markdown
    assert "- `` org/@no readme `x` ``: no README" in markdown  # padded: it ends with a tick
