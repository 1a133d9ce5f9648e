"""Scans on a real Dask cluster (governance.distributed) against the fake forges.

One LocalCluster of three worker processes serves the module. Its workers reach the fake
GitHub / GitLab of each test over HTTP on 127.0.0.1 and take their credentials from their
own environment (a GitHub App's id and key file, a GitLab token), set when the cluster
starts; the scans only ever send the forge's URL and options. Request budgets and
concurrency are asserted with the fakes' accounting, never with times.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed")
pytest.importorskip("github")
pytest.importorskip("graphql")
pytest.importorskip("werkzeug")

from distributed import Client, LocalCluster

from governance.distributed.budget import BudgetPlugin, ClusterGate, GateSettings, _Window
from governance.distributed.executor import ExecutorChoice
from governance.errors import ConfigError, ProviderError
from governance.models import Finding, RepoRef
from governance.scan import ScanInterrupted, ScanOutcome, ScanRequest, run_scan
from tests.fakes import gitlab as fake_gitlab
from tests.fakes.github import SECONDARY_MESSAGE, FakeGitHub, generate_app_key
from tests.fakes.gitlab import gitlab_forge

__all__ = ["gitlab_forge"]  # the fixture, imported explicitly

APP_ID = 4242
WORKERS = 3
_FORGE_ENVIRONMENT = ("GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_APP_ID",
                      "GITHUB_APP_PRIVATE_KEY_FILE", "GITLAB_TOKEN", "GITLAB_URL", "GH_TOKEN")
CI = ("on: [push, pull_request]\npermissions: {contents: read}\njobs:\n  test:\n"
      "    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n"
      "      - run: make test\n")


# --------------------------------------------------------------------------- the cluster


@pytest.fixture(scope="module")
def app_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    private, public = generate_app_key()
    path = tmp_path_factory.mktemp("app") / "app.pem"
    path.write_text(private)
    return path, public


def _worker_environment(app_key: tuple[Path, bytes]) -> dict[str, str]:
    return {"GITHUB_APP_ID": str(APP_ID), "GITHUB_APP_PRIVATE_KEY_FILE": str(app_key[0]),
            "GITLAB_TOKEN": fake_gitlab.DEFAULT_TOKEN}


@pytest.fixture(scope="module")
def cluster(app_key: tuple[Path, bytes]) -> Iterator[LocalCluster]:
    """Worker processes inherit the credentials of the environment they start in."""
    with pytest.MonkeyPatch.context() as env:
        for name in _FORGE_ENVIRONMENT:
            env.delenv(name, raising=False)
        for name, value in _worker_environment(app_key).items():
            env.setenv(name, value)
        started = LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
    try:
        yield started
    finally:
        started.close()


@pytest.fixture(scope="module")
def module_client(cluster: LocalCluster) -> Iterator[Client]:
    client = Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def client(module_client: Client, app_key: tuple[Path, bytes],
           monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Client:
    """The test's view of the cluster, all workers up; the driver (this process) has the
    workers' credentials, as a worker restarted by its nanny inherits them from it."""
    for name, value in _worker_environment(app_key).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    module_client.wait_for_workers(WORKERS, timeout=120)
    return module_client


@pytest.fixture
def forge(github_forge_with_app: FakeGitHub) -> FakeGitHub:
    return github_forge_with_app


@pytest.fixture
def github_forge_with_app(app_key: tuple[Path, bytes]) -> Iterator[FakeGitHub]:
    forge = FakeGitHub()
    forge.add_app(APP_ID, public_key_pem=app_key[1])
    with forge.running():
        yield forge
    assert not forge.server_errors, forge.server_errors[0]


def seed(forge: FakeGitHub, org: str, count: int, **install: Any) -> int:
    """An org of `count` repositories with distinct trees and some settings; the App
    installed on it. Returns the installation id."""
    forge.add_org(org)
    for i in range(count):
        name = f"svc-{i:02d}"
        files = {"README.md": f"# {org} {name}\n", "src/app.py": f"print({i})\n"}
        if i % 3:
            files[".github/workflows/ci.yml"] = CI
        if i % 4 == 0:
            files["LICENSE"] = "MIT\n"
        forge.add_repo(org, name, files=files, private=i % 5 == 0)
        if i % 4 == 1:
            forge.protect_branch(org, name, "main", required_approving_review_count=1)
        elif i % 4 == 2:
            forge.add_ruleset(org, name, required_approving_review_count=2)
    return forge.install_app(APP_ID, org, **install).id


def dask(cluster: LocalCluster, **options: Any) -> ExecutorChoice:
    return ExecutorChoice("dask", scheduler=cluster.scheduler_address, **options)


def scan(source: str, url: str, folder: Path, executor: ExecutorChoice | None = None,
         on_repository: Callable[[RepoRef, list[Finding]], None] | None = None,
         store: Path | None = None, resume: bool = False, forge_kind: str = "github",
         **options: Any) -> tuple[ScanOutcome, list[dict[str, Any]]]:
    """run_scan as `governance scan` does; the findings read back from the spool."""
    forge_options = {"api_url": url, "cache_dir": folder / "cache", "backoff": 0.01,
                     **options}
    request = ScanRequest(source, store=store, resume=resume,
                          executor=executor or ExecutorChoice(),
                          **{forge_kind: forge_options})  # type: ignore[arg-type]
    outcome = run_scan(request, folder / "out", on_repository)
    lines = outcome.spool.read_text(encoding="utf-8").splitlines()
    return outcome, sorted((json.loads(line) for line in lines),
                           key=lambda f: (f["repository"], f["policy"]))


def tree_requests(forge: FakeGitHub) -> Counter[str]:
    """Tree requests by repository ("org/name")."""
    with forge.lock:
        return Counter("/".join(r.path.split("/")[2:4]) for r in forge.requests
                       if "/git/trees/" in r.path)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll a condition of the cluster (bounded: a hang fails instead of blocking)."""
    event = threading.Event()
    for _ in range(600):
        if condition():
            return
        event.wait(0.1)
    raise AssertionError(f"never happened: {what}")


# --------------------------------------------------------------------------- same findings


def test_github_app_estate_gives_the_same_findings_and_requests_as_in_process(
    forge: FakeGitHub, client: Client, cluster: LocalCluster, tmp_path: Path
) -> None:
    seed(forge, "acme", 14)
    seed(forge, "beta", 9)
    forge.add_org("nobody")  # not installed: `github:*` does not list it
    forge.add_repo("nobody", "hidden")

    local, expected = scan("github:*", forge.url, tmp_path / "local")
    local_requests = forge.count()
    forge.reset_counts()
    remote, found = scan("github:*", forge.url, tmp_path / "dask", dask(cluster))

    assert found == expected
    assert {f["repository"].split("/")[0] for f in found} == {"acme", "beta"}
    assert remote.stats.repositories == local.stats.repositories == 23
    assert remote.done == local.done == Counter(scanned=23)
    # Batches of one org, as large as the provider's: the same GraphQL queries, trees
    # and blob queries, whichever process sends them.
    assert forge.count() == local_requests
    used = {r.token for r in forge.requests if r.token and r.path.startswith("/repos/")}
    assert used and all(token.startswith("ghs_") for token in used)  # installation tokens


def test_gitlab_groups_give_the_same_findings_as_in_process(
    gitlab_forge: fake_gitlab.FakeGitLab, client: Client, cluster: LocalCluster,
    tmp_path: Path
) -> None:
    for group, count in (("platform", 6), ("data/pipelines", 5)):
        for i in range(count):
            files = {"README.md": f"# {group} {i}\n"}
            if i % 2:
                files[".gitlab-ci.yml"] = "test:\n  script: [make test]\n"
            gitlab_forge.add_project(group, f"proj-{i}", files=files)
    source = "gitlab:platform,data"
    _, expected = scan(source, gitlab_forge.url, tmp_path / "local", forge_kind="gitlab")
    outcome, found = scan(source, gitlab_forge.url, tmp_path / "dask",
                          dask(cluster, batch_size=4), forge_kind="gitlab")
    assert found == expected
    assert outcome.stats.repositories == 11


# --------------------------------------------------------------------------- faults


def test_a_worker_killed_mid_scan_changes_nothing(
    forge: FakeGitHub, client: Client, cluster: LocalCluster, tmp_path: Path
) -> None:
    seed(forge, "acme", 12)
    seed(forge, "beta", 12)
    _, expected = scan("github:acme,beta", forge.url, tmp_path / "local")
    forge.inject_fault("latency", "*", count=None, latency_ms=40)
    killed: dict[str, Any] = {}

    def kill_a_busy_worker(ref: RepoRef, findings: list[Finding]) -> None:
        if killed:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        pids = client.run(os.getpid)
        address = next(a for a in busy if a in pids)
        os.kill(pids[address], signal.SIGKILL)
        killed.update(address=address, pid=pids[address], tasks=len(busy))

    outcome, found = scan("github:acme,beta", forge.url, tmp_path / "dask",
                          dask(cluster, batch_size=3), kill_a_busy_worker)

    assert killed, "no worker was busy when the first results came back"
    assert killed["pid"] not in client.run(os.getpid).values()  # it is gone
    assert found == expected
    assert outcome.done == Counter(scanned=24)


def test_ctrl_c_cancels_the_cluster_work_and_the_scan_resumes(
    forge: FakeGitHub, client: Client, cluster: LocalCluster, tmp_path: Path
) -> None:
    seed(forge, "acme", 24)
    _, expected = scan("github:acme", forge.url, tmp_path / "local")
    forge.inject_fault("latency", "*", count=None, latency_ms=30)
    store = tmp_path / "governance.db"
    seen: list[str] = []

    def interrupt(ref: RepoRef, findings: list[Finding]) -> None:
        seen.append(ref.name)
        if len(seen) == 4:
            raise KeyboardInterrupt

    with pytest.raises(ScanInterrupted) as stopped:
        scan("github:acme", forge.url, tmp_path / "first", dask(cluster, batch_size=2),
             interrupt, store=store)
    assert stopped.value.recorded == 4

    def idle() -> bool:
        queued = client.run_on_scheduler(
            lambda dask_scheduler: [k for k in dask_scheduler.tasks
                                    if str(k).startswith("governance-batch")])
        running = client.run(lambda dask_worker: dask_worker.state.executing_count)
        return not queued and not any(running.values())

    wait_until(idle, "the cancelled batches left the cluster")
    forge.reset_counts()
    # a fresh forge cache: a recorded repository submitted again would cost its tree
    outcome, found = scan("github:acme", forge.url, tmp_path / "second",
                          dask(cluster, batch_size=2), store=store, resume=True)

    assert outcome.resumed and outcome.scan_id == stopped.value.scan_id
    assert outcome.done == Counter(recorded=4, scanned=20)
    assert set(tree_requests(forge)) == {f"acme/svc-{i:02d}" for i in range(24)} - set(seen)
    assert found == expected


# --------------------------------------------------------------------------- budgets


def test_the_request_budget_of_an_installation_holds_across_workers(
    forge: FakeGitHub, client: Client, cluster: LocalCluster, tmp_path: Path
) -> None:
    installation = seed(forge, "acme", 30, core_limit=20)
    forge.inject_fault("latency", "*", count=None, latency_ms=20)  # requests overlap

    with pytest.raises(ProviderError, match="rate limit"):
        scan("github:acme", forge.url, tmp_path / "dask", dask(cluster, batch_size=3),
             concurrency=4, reserve=0, max_wait=1)

    refused = forge.count(counted_only=False, status=403)
    assert refused == 0  # no request went beyond the budget
    assert forge.count(resource="core") == 20  # ...and all of it was used
    assert forge.buckets[(f"installation:{installation}", "core")].remaining == 0


class CrowdedGitHub(FakeGitHub):
    """GitHub's secondary limit on concurrent requests: more than `crowd` requests of one
    token bucket (a token, or every token of an App installation) at once are refused with
    a 403 secondary-limit answer."""

    def __init__(self, crowd: int, **options: Any):
        super().__init__(**options)
        self.crowd = crowd
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.refused = 0
        self._crowd = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        credential = environ.get("HTTP_AUTHORIZATION", "").partition(" ")[2].strip()
        with self.lock:
            token = self.tokens.get(credential)
        if token is None:  # the App's own JWT routes: not a token bucket
            return super().__call__(environ, start_response)
        bucket = token.bucket_key
        with self._crowd:
            self.in_flight[bucket] += 1
            self.peak[bucket] = max(self.peak[bucket], self.in_flight[bucket])
            crowded = self.in_flight[bucket] > self.crowd
            self.refused += crowded
        try:
            if crowded:
                body = json.dumps({"message": SECONDARY_MESSAGE}).encode()
                start_response("403 Forbidden", [("Content-Type", "application/json"),
                                                 ("Retry-After", "1"),
                                                 ("Content-Length", str(len(body)))])
                return [body]
            return super().__call__(environ, start_response)
        finally:
            with self._crowd:
                self.in_flight[bucket] -= 1


def test_requests_in_flight_per_installation_hold_across_workers(
    client: Client, cluster: LocalCluster, tmp_path: Path, app_key: tuple[Path, bytes]
) -> None:
    forge = CrowdedGitHub(crowd=2)
    forge.add_app(APP_ID, public_key_pem=app_key[1])
    seed(forge, "acme", 18)
    with forge.running():
        _, expected = scan("github:acme", forge.url, tmp_path / "local", concurrency=2)
        forge.inject_fault("latency", "*", count=None, latency_ms=30)
        forge.peak.clear()
        # three workers of two requests each would send six at once
        _, found = scan("github:acme", forge.url, tmp_path / "dask",
                        dask(cluster, batch_size=3), concurrency=2)
    assert forge.refused == 0
    assert max(forge.peak.values()) == 2
    assert found == expected


# --------------------------------------------------------------------------- the CLI


def test_cli_scans_on_a_scheduler_and_checks_its_options(
    forge: FakeGitHub, client: Client, cluster: LocalCluster, cli: Callable[..., Any],
    tmp_path: Path
) -> None:
    seed(forge, "acme", 3)
    seed(forge, "beta", 2)
    common = ["--github-url", forge.url, "--cache-dir", str(tmp_path / "cache")]
    local = cli("scan", "github:*", "--out", "local", *common)
    assert local.code == 0, local.text
    remote = cli("scan", "github:*", "--out", "remote", "--executor", "dask",
                 "--scheduler", cluster.scheduler_address, *common)
    assert remote.code == 0, remote.text
    assert "5 repositories scanned" in remote.text
    documents = [json.loads((tmp_path / name / "findings.json").read_text())
                 for name in ("local", "remote")]
    # the same findings; on a cluster in the order the batches came back
    assert sorted(documents[0]["findings"], key=lambda f: (f["repository"], f["policy"])) == (
        sorted(documents[1]["findings"], key=lambda f: (f["repository"], f["policy"])))
    with (tmp_path / "remote" / "findings.csv").open(encoding="utf-8", newline="") as rows:
        orgs = {(row["org"], row["repository"].split("/")[0]) for row in csv.DictReader(rows)}
    assert orgs == {("acme", "acme"), ("beta", "beta")}  # a column to filter orgs by

    for args, message in ((["--workers", "2"], "need --executor dask"),
                          (["--executor", "spark"], "--executor must be one of"),
                          (["--executor", "dask", "--scheduler", "tcp://x:1", "--workers",
                            "2"], "--workers starts a local cluster")):
        bad = cli("scan", "github:acme", "--no-db", *args)
        assert bad.code == 2 and message in bad.text, bad.text


def test_github_star_needs_app_credentials(forge: FakeGitHub, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_fake_admin_token")
    with pytest.raises(ConfigError, match=r"github:\* scans the organizations a GitHub App"):
        scan("github:*", forge.url, tmp_path)


# --------------------------------------------------------------------------- the budget


def test_a_window_grants_above_the_reserve_and_learns_from_answers() -> None:
    window = _Window()
    now = 1000.0
    assert window.verdict(now, 0.05) is True  # unknown: one request learns the window
    window.holders["w1"] += 1
    assert window.verdict(now, 0.05) is False  # ...and only one
    window.holders.clear()
    window.observe(100, 8, now + 60)  # a floor of 5
    for _ in range(3):
        assert window.verdict(now, 0.05) is True
        window.holders["w1"] += 1
    assert window.verdict(now, 0.05) is False  # 8 - 3 in flight = the floor
    window.observe(100, 7, now + 60)
    window.observe(100, 9, now + 60)  # late and larger: the least stays
    assert window.remaining == 7
    window.holders.clear()  # the rest were 304s: free
    assert window.verdict(now, 0.05) is True
    window.observe(100, 5, now + 60)
    assert window.verdict(now, 0.05) == now + 60  # spent down to the reserve
    assert window.verdict(now + 61, 0.05) is True  # a new window: learn it
    window.observe(100, 100, now + 3661)
    assert window.remaining == 100


def test_the_scheduler_plugin_caps_in_flight_and_frees_a_dead_workers_requests() -> None:
    plugin = BudgetPlugin()

    async def scenario() -> list[Any]:
        ask = {"key": "k", "in_flight": 2, "reserve": 0.0}
        probe = await plugin.acquire(holder="w1", resource="core", timeout=0, **ask)
        assert probe == {"granted": True}  # the first request learns the window
        plugin.release("k", "core", "w1", limit=100, remaining=99, reset=time.time() + 60)
        first = await plugin.acquire(holder="w1", resource="core", timeout=0, **ask)
        second = await plugin.acquire(holder="w1", resource="core", timeout=0, **ask)
        # the cap counts every resource of the credential
        third = await plugin.acquire(holder="w2", resource="graphql", timeout=0.05, **ask)
        waiting = asyncio.ensure_future(
            plugin.acquire(holder="w2", resource="core", timeout=30, **ask))
        await asyncio.sleep(0)
        plugin.remove_worker(None, "w1", stimulus_id="test")  # type: ignore[arg-type]
        return [first, second, third, await waiting, plugin.state()]

    first, second, third, woken, state = asyncio.run(scenario())
    assert first == second == {"granted": True}
    assert third == {"granted": False}
    assert woken == {"granted": True}
    assert state["k/core"]["in_flight"] == 1


def test_a_gate_waits_for_the_reset_or_stops_beyond_max_wait() -> None:
    answers = [{"granted": False, "reset": 1030.0}, {"granted": False}, {"granted": True}]
    calls: list[tuple[str, dict[str, Any]]] = []
    sleeps: list[float] = []

    def call(handler: str, **arguments: Any) -> Any:
        calls.append((handler, arguments))
        return answers.pop(0) if handler.endswith("acquire") else None

    gate = ClusterGate(call, "w1", GateSettings(in_flight=3, max_wait=60), sleep=sleeps.append,
                       clock=lambda: 1000.0)
    gate.enter("k", "graphql")
    gate.leave("k", "graphql", {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "12",
                                "X-RateLimit-Reset": "1030"})
    assert sleeps == [31.0]
    assert [h for h, _ in calls].count("governance_budget_acquire") == 3
    assert calls[-1][1] == {"key": "k", "resource": "graphql", "holder": "w1",
                            "limit": 5000, "remaining": 12, "reset": 1030.0}
    impatient = ClusterGate(lambda handler, **_: {"granted": False, "reset": 5000.0}, "w1",
                            GateSettings(max_wait=60), clock=lambda: 1000.0)
    with pytest.raises(ProviderError, match="longer than the maximum wait"):
        impatient.enter("k", "core")
