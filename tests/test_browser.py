"""report.html in a real browser: headless Chromium driven by Selenium loads a report made
by a real scan of real git repositories, some of them hostile, then filters, sorts, pages,
opens a repository panel and a policy view, and takes a screenshot. Nothing injected ever
runs: no dialog opens, `window.__xss` (what the payloads would set) stays undefined, no
element is injected, and the browser logs no error and no CSP violation.

Needs Debian's `chromium` and `chromium-driver` (`.ci/browser-deps` installs them); the
test is skipped, saying so, only when those two are missing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from governance.demo import make_repo
from governance.render import write_reports
from governance.scan import ScanRequest, run_scan

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
           "/usr/bin/chromedriver): run .ci/browser-deps",
)

IMG = "<img src=x onerror=window.__xss=1>"
ALERT = "<img src=x onerror=alert(1)>"
SCRIPT = "</script><script>window.__xss=1</script>"
HOSTILE_REPO = f"evil {IMG} {ALERT}"  # a folder name: no "/" (so no </script> here)
HOSTILE_PATH = f"deploy/{SCRIPT} {IMG}.yml"
HOSTILE_MESSAGE = f"{SCRIPT} {IMG} {ALERT} <b>bold</b> &amp;"
PLAIN_REPOSITORIES = 118  # with the two below: 120, more than one page of 100

_CHECK = '''
from governance.checks import CheckContext, Result
from governance.models import Location, Outcome


def check(ctx: CheckContext) -> Result:
    outcome, message, *where = ctx.files.read_text("verdict.txt").split("\\n")
    if outcome == "error":
        raise RuntimeError(message)
    locations = (Location(where[0], int(where[1])),) if where and where[0] else ()
    return Result(Outcome(outcome), message, locations)
'''
_POLICY = """\
id: echo-verdict
title: Echo <i>verdict</i>
severity: high
rationale: Test policy that echoes a repository's verdict.txt.
remediation: Write "pass" in `verdict.txt`.
"""
_PACK = """\
id: browser-test
defaults: false
policies:
  readme-present: {}
  echo-verdict: {}
"""


@dataclass
class Report:
    path: Path
    repositories: list[str]
    failing: set[str]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    root = tmp_path_factory.mktemp("browser")
    org = root / "acme"
    repositories = {
        HOSTILE_REPO: {HOSTILE_PATH: "x: 1\n",
                       "verdict.txt": f"fail\n{HOSTILE_MESSAGE}\n{HOSTILE_PATH}\n1"},
        f"crash {IMG}": {"README.md": "# c\n", "verdict.txt": f"error\n{SCRIPT}"},
    }
    for n in range(PLAIN_REPOSITORIES):
        files = {"verdict.txt": "pass\nfine" if n % 3 else f"fail\nsvc {n} is not fine"}
        if n % 4:
            files["README.md"] = f"# svc-{n:03d}\n"
        repositories[f"svc-{n:03d}"] = files
    for name, files in repositories.items():
        make_repo(org / name, files)
    extra = root / "extra"
    (extra / "echo-verdict").mkdir(parents=True)
    (extra / "echo-verdict" / "policy.yml").write_text(_POLICY, encoding="utf-8")
    (extra / "echo-verdict" / "check.py").write_text(_CHECK, encoding="utf-8")
    (extra / "packs").mkdir()
    (extra / "packs" / "browser-test.yml").write_text(_PACK, encoding="utf-8")
    config = root / "governance.yml"
    config.write_text("pack: browser-test\npolicy_paths: [extra]\n", encoding="utf-8")
    out = root / "out"
    outcome = run_scan(ScanRequest(f"local:{org}", config), out)
    (path,) = write_reports(outcome.spool, outcome.meta, out, ["html"])
    findings = [json.loads(line) for line in outcome.spool.read_text().splitlines()]
    return Report(path, sorted({f["repository"] for f in findings}),
                  {f["repository"] for f in findings if f["outcome"] == "fail"})


@pytest.fixture(scope="module")
def driver() -> Iterator[webdriver.Chrome]:
    profile = tempfile.mkdtemp(prefix="governance-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", "--window-size=1400,1000"):
        options.add_argument(flag)
    # Leave any dialog open instead of dismissing it, so the test can see it.
    options.set_capability("unhandledPromptBehavior", "ignore")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _no_dialog(browser: webdriver.Chrome) -> None:
    try:
        text = browser.switch_to.alert.text
    except NoAlertPresentException:
        return
    pytest.fail(f"a dialog opened: {text!r}")


def _wait(browser: webdriver.Chrome, script: str, *args: Any) -> Any:
    """Wait (up to 10 s) until the script returns something truthy; returns it."""
    return WebDriverWait(browser, 10).until(lambda b: b.execute_script(script, *args))


def _status(browser: webdriver.Chrome) -> str:
    return str(browser.find_element(By.ID, "status").text)


def _rows(browser: webdriver.Chrome) -> list[str]:
    names: list[str] = browser.execute_script(
        "return Array.from(document.querySelectorAll('#grid tbody tr th a'))"
        ".map(a => a.textContent)")
    return names


def _column(browser: webdriver.Chrome, index: int) -> list[str]:
    values: list[str] = browser.execute_script(
        "return Array.from(document.querySelectorAll('#grid tbody tr'))"
        ".map(tr => tr.cells[arguments[0]].textContent.trim())", index)
    return values


def _select(browser: webdriver.Chrome, name: str, value: str) -> None:
    Select(browser.find_element(By.NAME, name)).select_by_value(value)


def _sort(browser: webdriver.Chrome, key: str) -> WebElement:
    button: WebElement = browser.find_element(By.CSS_SELECTOR, f'button[data-sort="{key}"]')
    button.click()
    return button


def _safe(browser: webdriver.Chrome) -> None:
    """Nothing that the scan data carried has run or been parsed as markup."""
    _no_dialog(browser)
    assert browser.execute_script("return typeof window.__xss") == "undefined"
    assert browser.execute_script("return document.images.length") == 0
    scripts = browser.execute_script(
        "return Array.from(document.scripts).map(s => s.type || 'classic')")
    assert scripts == ["application/json", "classic"]
    assert browser.execute_script("return document.querySelectorAll('b').length") == \
        browser.execute_script(
            "return Array.from(document.querySelectorAll('b'))"
            ".filter(b => b.closest('#detail, header, #policies, .fl')).length")


def test_the_report_works_and_nothing_injected_runs(
        report: Report, driver: webdriver.Chrome, tmp_path: Path) -> None:
    browser = driver
    browser.get(report.path.as_uri())
    _wait(browser, "return document.getElementById('status').textContent"
                   ".startsWith('Showing 1')")
    _safe(browser)
    total = len(report.repositories)
    assert _status(browser) == f"Showing 1\u2013100 of {total} repositories, page 1 of 2."
    assert len(_rows(browser)) == 100

    # Page through: next, then last (the rest), then back to the first.
    browser.find_element(By.CSS_SELECTOR, 'nav.pager button[aria-label="Next page"]').click()
    assert _status(browser) == f"Showing 101\u2013{total} of {total} repositories, page 2 of 2."
    assert len(_rows(browser)) == total - 100
    assert browser.find_element(
        By.CSS_SELECTOR, 'nav.pager button[aria-label="Next page"]').get_attribute("disabled")
    browser.find_element(By.CSS_SELECTOR, 'nav.pager button[aria-label="First page"]').click()
    assert len(_rows(browser)) == 100
    _select(browser, "size", "50")
    assert _status(browser).endswith("page 1 of 3.")

    # Filter by outcome, then by text.
    _select(browser, "size", "250")
    _select(browser, "outcome", "fail")
    _wait(browser, "return document.getElementById('status').textContent"
                   ".includes('matching')")
    assert sorted(_rows(browser)) == sorted(report.failing)
    search = browser.find_element(By.NAME, "q")
    search.send_keys("onerror=window")
    _wait(browser, "return document.querySelectorAll('#grid tbody tr').length === 1")
    assert _rows(browser) == [f"acme/{HOSTILE_REPO}"]
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=reset]").click()
    _wait(browser, "return document.querySelectorAll('#grid tbody tr').length === 100")
    _select(browser, "outcome", "error")
    assert _rows(browser) == [f"acme/crash {IMG}"]
    _select(browser, "outcome", "")
    _select(browser, "size", "250")

    # Sort: failing (most first, then fewest first), then by name.
    _sort(browser, "failing")
    failing = [int(v) for v in _column(browser, 2)]
    assert failing == sorted(failing, reverse=True) and failing[0] == 2
    header = browser.find_element(By.CSS_SELECTOR, 'button[data-sort="failing"]')
    assert header.find_element(By.XPATH, "..").get_attribute("aria-sort") == "descending"
    _sort(browser, "failing")
    failing = [int(v) for v in _column(browser, 2)]
    assert failing == sorted(failing)
    _sort(browser, "name")
    expected = browser.execute_script(
        "return arguments[0].slice().sort(new Intl.Collator(undefined, {numeric: true})"
        ".compare)", report.repositories)
    assert _rows(browser) == expected
    _safe(browser)

    # Open the hostile repository's panel from its row, with the keyboard.
    link = browser.find_element(By.XPATH, "//table[@id='grid']//th/a[contains(., 'evil')]")
    link.send_keys(Keys.ENTER)
    _wait(browser, "return !document.getElementById('detail').hidden")
    detail = browser.find_element(By.ID, "detail")
    heading = detail.find_element(By.TAG_NAME, "h2")
    assert heading.text == f"Repository acme/{HOSTILE_REPO}"
    assert browser.switch_to.active_element == heading  # focus moved to the panel
    items = detail.find_elements(By.CSS_SELECTOR, "ul.fl > li")
    assert [i.get_attribute("data-o") for i in items] == ["fail", "fail"]
    texts = [i.text for i in items]
    assert any(HOSTILE_MESSAGE in t and f"{HOSTILE_PATH}:1" in t for t in texts)
    assert any("How to fix: Write \"pass\" in verdict.txt." in t for t in texts)
    _safe(browser)

    # The policy view lists the repositories that fail it.
    detail.find_element(By.LINK_TEXT, "Echo <i>verdict</i>").click()
    _wait(browser, "return document.querySelector('#detail h2').textContent"
                   ".startsWith('Policy')")
    listed = browser.execute_script(
        "return Array.from(document.querySelector('#detail ul.fl').querySelectorAll('li > a'))"
        ".map(a => a.textContent)")
    expected_failing = browser.execute_script(
        "const d = JSON.parse(document.getElementById('report-data').textContent);"
        "const c = d.policies.findIndex(p => p.id === 'echo-verdict');"
        "return d.repos.filter((r, i) => d.findings[i].some("
        "f => f[0] === c && d.outcomes[f[1]][0] === 'fail')).map(r => r[0]);")
    assert listed == expected_failing and f"acme/{HOSTILE_REPO}" in listed
    assert "Repositories where it could not run (1)" in browser.find_element(
        By.ID, "detail").text

    # Clicking a matrix cell opens that repository at that finding; Escape closes.
    cell = browser.find_element(
        By.XPATH, "//table[@id='grid']//tr[th/a[starts-with(., 'acme/crash')]]/td[5]")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.click()
    _wait(browser, "return document.activeElement.matches('#detail li.target')")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    _wait(browser, "return document.getElementById('detail').hidden")

    # Screenshots: the top of the report, the matrix, a repository's panel.
    browser.get(report.path.as_uri())
    _wait(browser, "return document.getElementById('status').textContent"
                   ".startsWith('Showing 1')")
    shots = [tmp_path / "report.png", tmp_path / "matrix.png", tmp_path / "panel.png"]
    assert browser.save_screenshot(str(shots[0]))
    browser.execute_script("document.getElementById('matrix').scrollIntoView()")
    assert browser.save_screenshot(str(shots[1]))
    browser.get(report.path.as_uri() + "#repo=" + "acme%2Fevil%20")  # no such repository
    browser.execute_script("window.location.hash = arguments[0]",
                           "repo=" + quote(f"acme/{HOSTILE_REPO}", safe=""))
    _wait(browser, "return !document.getElementById('detail').hidden")
    assert browser.save_screenshot(str(shots[2]))
    for shot in shots:
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 20_000  # a page, not a blank
    _safe(browser)

    problems = [entry for entry in browser.get_log("browser")
                if entry["level"] == "SEVERE" or "Content Security Policy" in entry["message"]]
    assert problems == []


def test_the_org_filter_appears_for_several_orgs_and_narrows_the_matrix(
        report: Report, driver: webdriver.Chrome, tmp_path: Path) -> None:
    browser = driver
    browser.get(report.path.as_uri())
    _wait(browser, "return document.getElementById('status').textContent"
                   ".startsWith('Showing 1')")
    assert not browser.find_elements(By.NAME, "org")  # one org: no choice to offer

    root = tmp_path / "estate"
    for org, names in (("acme", ("api", "web")), ("beta", ("jobs",))):
        for name in names:
            make_repo(root / "orgs" / f"{org}-{name}", {"README.md": f"# {name}\n"})
    outcome = run_scan(ScanRequest(f"local:{root / 'orgs'}"), tmp_path / "out")
    # Several orgs in one scan (as github:org1,org2 gives): the local folder's names,
    # orgs/acme-api..., become acme/api, acme/web and beta/jobs.
    lines = []
    for line in outcome.spool.read_text().splitlines():
        finding = json.loads(line)
        org, _, name = finding["repository"].split("/", 1)[1].partition("-")
        finding["repository"] = f"{org}/{name}"
        lines.append(json.dumps(finding))
    spool = tmp_path / "several.jsonl"
    spool.write_text("\n".join(lines) + "\n")
    (path,) = write_reports(spool, outcome.meta, tmp_path / "several", ["html"])

    browser.get(path.as_uri())
    _wait(browser, "return document.getElementById('status').textContent"
                   ".startsWith('Showing 1')")
    options = [o.get_attribute("value") for o in
               Select(browser.find_element(By.NAME, "org")).options]
    assert options == ["", "acme", "beta"]
    assert sorted(_rows(browser)) == ["acme/api", "acme/web", "beta/jobs"]
    _select(browser, "org", "beta")
    _wait(browser, "return document.querySelectorAll('#grid tbody tr').length === 1")
    assert _rows(browser) == ["beta/jobs"]
    _select(browser, "org", "acme")
    _wait(browser, "return document.querySelectorAll('#grid tbody tr').length === 2")
    assert sorted(_rows(browser)) == ["acme/api", "acme/web"]
    _safe(browser)
