"""Render benchmark: every report format for a synthetic scan of N repositories x P policies,
then report.html opened in headless Chromium.

    python bench/render_large.py                         # 1,000 and 10,000 repositories x 20
    python bench/render_large.py --repos 500 --policies 13
    python bench/render_large.py --no-browser            # render only

No git and no scan: the findings are written straight into a spool (findings.jsonl), with
the mix of outcomes, messages, locations and waivers a real estate has, and rendered by
governance.render.write_reports in a fresh process per size (so ru_maxrss is that render's
peak). For each size it prints the render time per format, the file sizes, and, when
Debian's chromium and chromium-driver and Selenium are installed, the page's timings in
headless Chromium: first contentful paint, DOMContentLoaded, load, and the moment the
report's script has rendered the matrix (the status line says "Showing 1-100").
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit import FIGURE, TEXT, markdown_table, run_child, titled_table

FORMATS = ("html", "csv", "json", "sarif", "markdown")
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Outcome mix of a typical estate: mostly passes, a fifth failing, a few of the rest.
_MIX = [("pass", 62), ("fail", 20), ("not_applicable", 10), ("not_available", 4),
        ("waived", 3), ("error", 1)]
_SEVERITIES = ["critical", "high", "medium", "medium", "low", "low", "info"]
_FILES = [".github/workflows/ci.yml", ".github/workflows/deploy.yml", ".gitlab-ci.yml",
          "terraform/main.tf", "Dockerfile", "serverless.yml", "k8s/deployment.yaml",
          "Jenkinsfile", ".github/dependabot.yml", "CODEOWNERS"]


def _meta(repositories: int, policies: int) -> dict[str, Any]:
    return {
        "source": "github:acme", "pack": "bench", "tool_version": "bench",
        "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:30:00+00:00",
        "repositories": repositories, "partial": True,
        "policies": [
            {"id": f"policy-{p:02d}", "title": f"Policy number {p}: a codified standard",
             "severity": _SEVERITIES[p % len(_SEVERITIES)],
             "rationale": "Why it matters: changes made outside Git are invisible in review, "
                          "cannot be reproduced and drift silently. " * 2,
             "remediation": f"Fix it in `{_FILES[p % len(_FILES)]}` and see "
                            "https://docs.example.com/governance/policies for details.",
             "references": ["https://docs.example.com/governance/policies"],
             "tags": ["security"] if p % 4 == 0 else []}
            for p in range(policies)
        ],
    }


def write_spool(path: Path, repositories: int, policies: int, seed: int = 7) -> None:
    """A spool of repositories x policies findings (Finding.as_dict lines)."""
    rng = random.Random(seed)
    outcomes = [o for o, weight in _MIX for _ in range(weight)]
    meta = _meta(repositories, policies)
    with path.open("w", encoding="utf-8") as out:
        for r in range(repositories):
            name = f"acme/{rng.choice(['svc', 'api', 'web', 'infra', 'lib'])}-{r:05d}"
            for policy in meta["policies"]:
                outcome = rng.choice(outcomes)
                locations = []
                if outcome in ("fail", "pass", "waived") and rng.random() < 0.7:
                    for _ in range(rng.choice([1, 1, 1, 2, 3])):
                        locations.append({"path": rng.choice(_FILES),
                                          "line": rng.randint(1, 400),
                                          "note": rng.choice(["", "", "actions/checkout@v4",
                                                              "when: manual"])})
                message = {
                    "pass": f"{policy['title']} holds",
                    "fail": f"{rng.randint(1, 9)} of {rng.randint(9, 20)} references are "
                            f"not pinned (in {rng.randint(1, 4)} files)",
                    "not_applicable": "nothing here that this policy applies to",
                    "not_available": "the token cannot read branch protection",
                    "waived": "failing, waived",
                    "error": f"check crashed: ValueError: bad input in {name}",
                }[outcome]
                out.write(json.dumps({
                    "repository": name, "policy": policy["id"], "title": policy["title"],
                    "outcome": outcome, "severity": policy["severity"],
                    "confidence": "high" if rng.random() < 0.9 else "medium",
                    "message": message,
                    "path": locations[0]["path"] if locations else None,
                    "line": locations[0]["line"] if locations else None,
                    "locations": locations,
                    "remediation": policy["remediation"] if outcome in ("fail", "waived")
                    else "",
                    "details": {},
                    "waiver": {"repository": "acme/legacy-*", "policy": policy["id"],
                               "reason": "decommissioned in Q3", "owner": "platform@acme",
                               "expires": "2027-03-31"} if outcome == "waived" else None,
                }) + "\n")


def render(spool: Path, meta_file: Path, out: Path) -> dict[str, Any]:
    """Render every format once, in this process; times and sizes per format."""
    from governance.render import write_reports

    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    seconds: dict[str, float] = {}
    sizes: dict[str, int] = {}
    for name in FORMATS:
        started = time.perf_counter()
        (path,) = write_reports(spool, meta, out, [name])
        seconds[name] = round(time.perf_counter() - started, 2)
        sizes[name] = path.stat().st_size
    return {"seconds": seconds, "bytes": sizes,
            "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def browser_timings(report: Path, runs: int = 3) -> dict[str, Any] | None:
    """Median page timings (ms) of `runs` fresh loads in headless Chromium, or None."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return None
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.support.wait import WebDriverWait
    except ImportError:
        return None
    samples: list[dict[str, float]] = []
    for _ in range(runs):
        profile = tempfile.mkdtemp(prefix="governance-bench-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                     "--enable-precise-memory-info", f"--user-data-dir={profile}",
                     "--window-size=1400,1000"):
            options.add_argument(flag)
        browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            browser.set_page_load_timeout(300)
            browser.get(report.as_uri())
            # Paint entries are recorded a frame after the load: wait for them too.
            WebDriverWait(browser, 300).until(lambda b: b.execute_script(
                "return performance.getEntriesByName('report-rendered').length > 0 && "
                "performance.getEntriesByName('first-contentful-paint').length > 0"))
            timing = browser.execute_script("""
                const nav = performance.getEntriesByType('navigation')[0];
                const at = name => performance.getEntriesByName(name)[0].startTime;
                return {fcp: at('first-contentful-paint'), rendered: at('report-rendered'),
                        dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
                        heap: performance.memory ? performance.memory.usedJSHeapSize : null,
                        nodes: document.getElementsByTagName('*').length};
            """)
            # Interactions at this size (synchronous: the handlers render before returning).
            timing.update(browser.execute_script("""
                const form = document.getElementById('filters');
                const time = action => { const t = performance.now(); action();
                                         return performance.now() - t; };
                const filter = time(() => { form.elements.q.value = 'references';
                    form.dispatchEvent(new Event('change')); });
                const sort = time(() => document.querySelector(
                    'button[data-sort="name"]').click());
                const page = time(() => document.querySelector(
                    'nav.pager button[aria-label="Next page"]').click());
                const panel = time(() => { location.hash = document.querySelector(
                    '#grid tbody th a').getAttribute('href');
                    window.dispatchEvent(new HashChangeEvent('hashchange')); });
                return {filter, sort, page, panel};
            """))
            samples.append(timing)
        finally:
            browser.quit()
            shutil.rmtree(profile, ignore_errors=True)

    def median(key: str) -> float | None:
        values = sorted(s[key] for s in samples if s.get(key) is not None)
        return round(values[len(values) // 2], 0) if values else None

    return {key: median(key) for key in ("fcp", "rendered", "dcl", "load", "heap", "nodes",
                                         "filter", "sort", "page", "panel")}


def _child(spool: Path, meta: Path, out: Path) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "render", str(spool), str(meta),
               str(out)]
    return run_child(command, "render failed")


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f}"


_RENDER_COLUMNS = (
    ("repos", FIGURE), ("findings", FIGURE), ("render s: html / csv / json / sarif / md", TEXT),
    ("report.html MB", FIGURE), ("findings.json MB", FIGURE), ("findings.sarif MB", FIGURE),
    ("summary.md kB", FIGURE), ("ru_maxrss MB", FIGURE),
)
_BROWSER_COLUMNS = (
    ("repos", FIGURE), ("first contentful paint ms", FIGURE), ("matrix rendered ms", FIGURE),
    ("DOMContentLoaded ms", FIGURE), ("load ms", FIGURE), ("JS heap MB", FIGURE),
    ("DOM elements", FIGURE), ("filter / sort / next page / panel ms", TEXT),
)


def _render_cells(r: dict[str, Any], policies: int) -> tuple[object, ...]:
    s, b = r["seconds"], r["bytes"]
    return (r["size"], r["size"] * policies,
            f"{s['html']} / {s['csv']} / {s['json']} / {s['sarif']} / {s['markdown']}",
            _mb(b["html"]), _mb(b["json"]), _mb(b["sarif"]), f"{b['markdown'] / 1024:.1f}",
            r["maxrss_mb"])


def _browser_cells(r: dict[str, Any]) -> tuple[object, ...]:
    t = r["browser"] or {}
    heap = f"{t['heap'] / 2**20:.0f}" if t.get("heap") else "n/a"
    return (r["size"], t.get("fcp"), t.get("rendered"), t.get("dcl"), t.get("load"), heap,
            t.get("nodes"),
            f"{t.get('filter')} / {t.get('sort')} / {t.get('page')} / {t.get('panel')}")


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["render"]:
        print(json.dumps(render(Path(args[1]), Path(args[2]), Path(args[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--policies", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3, help="browser loads per size (median)")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the reports in this folder")
    options = parser.parse_args(args)

    rows = []
    for size in options.repos:
        work = Path(tempfile.mkdtemp(prefix="governance-render-bench-"))
        spool, meta = work / "findings.jsonl", work / "meta.json"
        write_spool(spool, size, options.policies)
        meta.write_text(json.dumps(_meta(size, options.policies)), encoding="utf-8")
        result = _child(spool, meta, work / "out")
        print(f"[{size}] {json.dumps(result)}", file=sys.stderr)
        result["browser"] = None if options.no_browser else browser_timings(
            work / "out" / "report.html", options.runs)
        print(f"[{size}] browser {json.dumps(result['browser'])}", file=sys.stderr)
        result["size"] = size
        rows.append(result)
        if options.keep:
            target = options.keep / f"n{size}"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(work / "out", target)
        shutil.rmtree(work)

    print("\n" + titled_table(f"{options.policies} policies", _RENDER_COLUMNS,
                              [_render_cells(r, options.policies) for r in rows]))
    if any(r["browser"] for r in rows):
        print("\n" + markdown_table(_BROWSER_COLUMNS, [_browser_cells(r) for r in rows]))


if __name__ == "__main__":
    main()
