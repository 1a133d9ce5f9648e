"""report.html of recorded scans: "Since the last scan" and compliance over time.

Three real scans of a local org of real git repositories, recorded in a store, with
commits, a new and a removed repository and an expiring waiver between them, so the
compliance moves. The charts are checked against the numbers the store recorded (the
SVG coordinates are turned back into percentages), and the changes section against what
was changed. One repository's name and one workflow's file name are hostile markup.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from governance.demo import make_repo
from governance.history import policy_trend, trend
from governance.render import write_reports
from governance.render.html import CHART, SPARK, Plot
from governance.scan import (
    ScanOutcome,
    ScanRequest,
    canonical_source,
    report_from_store,
    run_scan,
)
from governance.store import Store

HOSTILE = "evil <img src=x onerror=window.__xss=1>"  # a folder name: no "/"
HOSTILE_WORKFLOW = ".github/workflows/<img src=x onerror=window.__xss=2>.yml"
WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
WAIVER = """waivers:
  - {repository: "acme/legacy", policy: fixture-behaviour, reason: "<b>being retired</b>",
     owner: "@team <script>", expires: 2026-06-30}
"""
JUNE, JULY = dt.date(2026, 6, 1), dt.date(2026, 7, 1)
FIXTURE_POLICIES = Path(__file__).resolve().parent / "policies_fixture"
BEHAVIOUR, WORKFLOWS = "fixture-behaviour", "fixture-workflow-yaml"

# What the three scans find (fixture-all pack: fixture-workflow-yaml high, fixture-behaviour
# medium), worked out by hand:
#   1 (June): workflows pass 4 (docs has none: n/a); behaviour pass 3, waived 1 (legacy),
#             fail 1 (docs)                                    -> 8 good of 9: 88.9 %
#   2 (July): the hostile repository fails both, the waiver of legacy expired, docs is
#             fixed, acme/new is added                         -> 8 good of 11: 72.7 %
#   3 (July): legacy and the hostile workflow are fixed, acme/web is removed -> 8 of 9
ORG = [88.9, 72.7, 88.9]
POLICIES = {WORKFLOWS: [100.0, 80.0, 100.0], BEHAVIOUR: [80.0, 66.7, 80.0]}


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=Test",
                    "-c", "user.email=test@example.invalid", *args],
                   check=True, capture_output=True)


def change(folder: Path, files: dict[str, str | None]) -> None:
    for path, text in files.items():
        if text is None:
            git(folder, "rm", "-q", "--", path)
        else:
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text, encoding="utf-8")
            git(folder, "add", "--", path)
    git(folder, "commit", "-qm", "change")


@dataclass
class Recorded:
    outcome: ScanOutcome
    html: str


@dataclass
class History:
    root: Path
    db: Path
    scans: list[Recorded]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    root = tmp_path_factory.mktemp("trends")
    org = root / "acme"
    for name, mode, workflow in (("api", "pass", True), ("web", "pass", True),
                                 ("legacy", "fail", True), (HOSTILE, "pass", True),
                                 ("docs", "fail", False)):
        files = {"MODE": mode + "\n"}
        if workflow:
            files[".github/workflows/ci.yml"] = WORKFLOW
        make_repo(org / name, files)
    config = root / "governance.yml"
    config.write_text(f"pack: fixture-all\npolicy_paths: [{str(FIXTURE_POLICIES)!r}]\n"
                      + WAIVER, encoding="utf-8")
    db = root / "g.db"
    scans: list[Recorded] = []

    def scan(today: dt.date) -> None:
        out = root / f"out-{len(scans) + 1}"
        outcome = run_scan(ScanRequest(f"local:{org}", config, today=today, store=db), out)
        (path,) = write_reports(outcome.spool, outcome.meta, out, ["html"])
        scans.append(Recorded(outcome, path.read_text(encoding="utf-8")))

    scan(JUNE)
    change(org / HOSTILE, {"MODE": "fail\n", HOSTILE_WORKFLOW: "on: push\n"})
    change(org / "docs", {"MODE": "pass\n"})
    make_repo(org / "new", {"MODE": "pass\n", ".github/workflows/ci.yml": WORKFLOW})
    scan(JULY)
    change(org / "legacy", {"MODE": "pass\n"})
    change(org / HOSTILE, {HOSTILE_WORKFLOW: None})
    shutil.rmtree(org / "web")
    scan(JULY)
    return History(root, db, scans)


# --- a small DOM from the stdlib parser ---------------------------------------------------

@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def find(self, tag: str, **attrs: str) -> list[Node]:
        return [n for n in self.walk() if n.tag == tag and all(
            n.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def one(self, tag: str, **attrs: str) -> Node:
        (found,) = self.find(tag, **attrs)
        return found


class _Builder(HTMLParser):
    VOID = {"meta", "link", "br", "img", "input", "hr", "wbr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack = [Node("#document", {})]
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.tags.append((tag, node.attrs))
        self.stack[-1].children.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> tuple[Node, list[tuple[str, dict[str, str]]]]:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.stack[0], builder.tags


def value_at(y: str, plot: Plot) -> float:
    """The compliance a y coordinate of a chart stands for."""
    return 100.0 - (float(y) - plot.top) * 100.0 / plot.plot_height


def points(node: Node) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for pair in node.attrs["points"].split()
            for x, y in [pair.split(",")]]


# --- the numbers ------------------------------------------------------------------------


def test_the_store_recorded_the_compliance_the_charts_must_show(history: History) -> None:
    source = history.scans[0].outcome.meta["source"]
    assert isinstance(source, str)
    with Store(history.db) as store:
        assert [p.compliance for p in trend(store, canonical_source(source))] == ORG
        _, by_policy = policy_trend(store, canonical_source(source))
        assert by_policy == POLICIES
    meta = history.scans[-1].outcome.meta
    assert isinstance(meta["trend"], dict)
    assert [s["compliance"] for s in meta["trend"]["scans"]] == ORG


def test_the_org_chart_draws_the_recorded_compliance(history: History) -> None:
    tree, _ = parse(history.scans[-1].html)
    section = tree.one("section", id="trend")
    svg = section.one("svg", class_="chart")
    assert svg.attrs["role"] == "img"
    assert svg.attrs["aria-labelledby"] == "trend-t trend-d"
    assert svg.attrs["viewbox"] == f"0 0 {CHART.width} {CHART.height}"
    assert svg.one("title", id="trend-t").text == (
        "Overall compliance over the last 3 recorded scans")
    desc = svg.one("desc", id="trend-d").text
    assert "88.9%" in desc and "lowest 72.7%, highest 88.9%" in desc
    (line,) = svg.find("polyline", class_="line")
    drawn = points(line)
    assert [round(value_at(str(y), CHART), 1) for _, y in drawn] == ORG
    xs = [x for x, _ in drawn]
    assert xs == sorted(xs) and xs[0] == CHART.left and xs[-1] == CHART.left + CHART.plot_width
    assert xs[1] - xs[0] == pytest.approx(xs[2] - xs[1])
    dots = svg.find("circle", class_="dot")
    assert [round(value_at(d.attrs["cy"], CHART), 1) for d in dots] == ORG
    ids = [s.outcome.scan_id for s in history.scans]
    assert [d.one("title").text.split(",")[0] for d in dots] == [f"Scan {i}" for i in ids]
    assert [d.one("title").text.split(": ")[-1] for d in dots] == [f"{v}%" for v in ORG]
    # The numbers as text too: a table, one row per scan.
    rows = section.one("table", id="trend-table").one("tbody").find("tr")
    assert [r.one("th").text for r in rows] == [str(i) for i in ids]
    assert [r.find("td")[2].text for r in rows] == [f"{v}%" for v in ORG]
    assert [r.find("td")[1].text for r in rows] == ["5", "6", "5"]  # repositories
    assert "\u25b2 +16.2 pts" in section.text  # 72.7 -> 88.9 since the previous scan


def test_each_policy_has_a_sparkline_of_its_recorded_compliance(history: History) -> None:
    tree, _ = parse(history.scans[-1].html)
    policies = tree.one("section", id="policies")
    headings = [th.text for th in policies.one("thead").find("th")]
    assert headings[:4] == ["Policy", "Severity", "Compliance", "Trend (last 3)"]
    for policy, values in POLICIES.items():
        cell = policies.one("tr", id=f"p-{policy}").one("td", class_="spark")
        svg = cell.one("svg", class_="spark")
        assert svg.attrs["role"] == "img"
        label = svg.attrs["aria-label"]
        assert label.endswith("oldest first: " + ", ".join(f"{v}%" for v in values))
        assert svg.one("title").text == label
        (line,) = svg.find("polyline")
        assert [round(value_at(str(y), SPARK), 1) for _, y in points(line)] == values
        (last,) = svg.find("circle")  # the latest value is marked
        assert round(value_at(last.attrs["cy"], SPARK), 1) == values[-1]
        change = round(values[-1] - values[-2], 1)
        assert f"+{change:.1f} pts since the previous scan" in cell.text


def test_a_gap_in_a_policy_series_breaks_its_line() -> None:
    from governance.render.html import _series

    drawn = _series([50.0, None, 75.0, 100.0], SPARK)
    assert len(drawn["lines"]) == 1  # 75 -> 100; 50 stands alone
    assert [d["lonely"] for d in drawn["dots"]] == [True, False, False]
    assert [round(value_at(d["y"], SPARK), 1) for d in drawn["dots"]] == [50.0, 75.0, 100.0]


# --- what changed -----------------------------------------------------------------------


def _entries(section: Node, kind: str) -> list[Node]:
    heading = section.one("h3", id=f"chg-{kind}")
    lists = section.find("ul", class_="fl chg")
    index = [n for n in section.walk() if n.tag in ("h3", "ul")].index(heading)
    after = [n for n in section.walk() if n.tag in ("h3", "ul")][index + 1]
    assert after in lists
    return [li for li in after.children if isinstance(li, Node) and li.tag == "li"]


def test_the_second_report_lists_new_failures_fixed_new_repositories_and_expired_waivers(
        history: History) -> None:
    html = history.scans[1].html
    tree, tags = parse(html)
    section = tree.one("section", id="changes")
    first_id = history.scans[0].outcome.scan_id
    assert f"compared with scan {first_id} of" in section.one("h2").text
    counts = {li.text.split(":")[0]: li.one("strong").text
              for li in section.one("ul", class_="counts changed").find("li")}
    assert counts == {"New failures": "3", "Fixed": "1", "New repositories": "1",
                      "Removed repositories": "0", "Expired waivers": "1"}

    hostile = f"acme/{HOSTILE}"
    new = _entries(section, "new_failures")
    assert [(li.find("a")[0].text, li.one("code").text) for li in new] == [
        (hostile, WORKFLOWS), (hostile, BEHAVIOUR), ("acme/legacy", BEHAVIOUR)]
    assert [li.find("span")[0].text for li in new] == ["high", "medium", "medium"]
    assert [li.one("i").text for li in new] == ["(was pass)", "(was pass)", "(was waived)"]
    # each links to its repository's panel, at the finding
    assert [li.find("a")[0].attrs["href"] for li in new] == [
        f"#repo={quote(hostile, safe='')}&p={WORKFLOWS}",
        f"#repo={quote(hostile, safe='')}&p={BEHAVIOUR}",
        f"#repo=acme%2Flegacy&p={BEHAVIOUR}"]
    assert new[0].one("span", class_="msg").text == f"{HOSTILE_WORKFLOW} has no jobs"

    (fixed,) = _entries(section, "fixed")
    assert (fixed.find("a")[0].text, fixed.one("code").text, fixed.one("i").text) == (
        "acme/docs", BEHAVIOUR, "(now pass)")
    assert fixed.text.endswith("(now pass) \u2014 it failed with: told to fail")
    (added,) = _entries(section, "new_repositories")
    assert added.one("a").text == "acme/new" and added.one("a").attrs["href"] == "#repo=acme%2Fnew"
    (expired,) = _entries(section, "expired_waivers")
    assert expired.one("a").text == "acme/legacy"
    assert expired.one("i").text == (
        "(waiver by @team <script> expired on 2026-06-30: <b>being retired</b>)")
    assert tree.find("section", id="trend")  # two scans: a trend already

    # Hostile names, paths, owners and reasons are text, never markup.
    assert tree.find("img") == [] and len(tree.find("script")) == 2
    assert not [n for n in section.walk() if n.tag == "b"]
    for raw in ("<img src=x", "@team <script>", "<b>being"):
        assert raw not in html
    for tag, attrs in tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)


def test_the_third_report_lists_fixes_and_the_removed_repository(history: History) -> None:
    tree, _ = parse(history.scans[2].html)
    section = tree.one("section", id="changes")
    counts = {li.text.split(":")[0]: li.one("strong").text
              for li in section.one("ul", class_="counts changed").find("li")}
    assert counts == {"New failures": "0", "Fixed": "2", "New repositories": "0",
                      "Removed repositories": "1", "Expired waivers": "0"}
    assert section.find("h3", id="chg-new_failures") == []
    fixed = _entries(section, "fixed")
    assert [(li.find("a")[0].text, li.one("code").text) for li in fixed] == [
        (f"acme/{HOSTILE}", WORKFLOWS), ("acme/legacy", BEHAVIOUR)]
    (removed,) = _entries(section, "removed_repositories")
    assert removed.find("a") == []  # not in this report: nothing to open
    assert removed.one("span", class_="rn").text == "acme/web"


def test_the_first_report_says_it_is_the_first_recorded_scan(history: History) -> None:
    tree, _ = parse(history.scans[0].html)
    section = tree.one("section", id="changes")
    assert "This is the first recorded scan of this source" in section.text
    assert tree.find("section", id="trend") == []  # one point is not a trend
    assert not tree.one("section", id="policies").find("svg", class_="spark")
    nav = tree.one("nav", class_="toc sticky")
    assert [a.attrs["href"] for a in nav.find("a")][:2] == ["#changes", "#overview"]


def test_a_report_of_an_older_scan_shows_no_later_scans(history: History) -> None:
    second = history.scans[1].outcome.scan_id
    assert second is not None
    out = history.root / "again"
    scan_id, _, written = report_from_store(history.db, str(second), out, ["html"])
    assert scan_id == second
    tree, _ = parse(written[0].read_text(encoding="utf-8"))
    rows = tree.one("table", id="trend-table").one("tbody").find("tr")
    assert [r.find("td")[2].text for r in rows] == ["88.9%", "72.7%"]
    counts = {li.text.split(":")[0]: li.one("strong").text
              for li in tree.one("ul", class_="counts changed").find("li")}
    assert counts["New failures"] == "3" and counts["Expired waivers"] == "1"


# --- in a browser -----------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                    reason="needs Debian's chromium and chromium-driver: run .ci/browser-deps")
def test_in_chromium_the_charts_draw_under_the_csp_and_changes_open_the_panel(
        history: History) -> None:
    pytest.importorskip("selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.wait import WebDriverWait

    path = history.root / "out-2" / "report.html"
    profile = tempfile.mkdtemp(prefix="governance-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1200,900"):
        options.add_argument(flag)
    options.set_capability("unhandledPromptBehavior", "ignore")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)

    def wait(script: str) -> object:
        def condition(b: webdriver.Chrome) -> object:
            return b.execute_script(script)

        return WebDriverWait(browser, 10).until(condition)

    try:
        browser.get(path.as_uri())
        wait("return document.documentElement.className.includes('js')")
        # The SVG is laid out (styled by class from the hashed stylesheet).
        box = browser.execute_script(
            "const b = document.querySelector('#trend svg.chart polyline').getBBox();"
            "return [b.width, b.height]")
        assert box[0] > 100 and box[1] > 1
        stroke = browser.execute_script(
            "return getComputedStyle(document.querySelector('#trend polyline')).stroke")
        assert stroke not in ("", "none")
        assert browser.execute_script(
            "return document.querySelectorAll('#policies svg.spark').length") == 2
        # A new failure's link opens its repository's panel at that finding.
        browser.execute_script("document.querySelector('#changes ul.chg a').click()")
        wait("return document.activeElement.matches('#detail li.target')")
        assert browser.execute_script(
            "return document.querySelector('#detail h2').textContent") == (
            f"Repository acme/{HOSTILE}")
        assert browser.execute_script(
            "return document.activeElement.getAttribute('data-p')") == WORKFLOWS
        assert browser.execute_script("return typeof window.__xss") == "undefined"
        assert browser.execute_script("return document.images.length") == 0
        problems = [e for e in browser.get_log("browser")
                    if e["level"] == "SEVERE" or "Content Security Policy" in e["message"]]
        assert problems == []
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
