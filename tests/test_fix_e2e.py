"""`governance fix` from the CLI against the fake GitHub and GitLab, the way issue 5 is
accepted: a plan, an apply that opens the requests, a second apply that creates nothing,
a person's push and a person's close left alone and reported, and a repository fixed by
hand whose request is closed. The bundled security-policy-present fixer does the fixing;
the real PyGithub / python-gitlab clients do the writing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

POLICY = "security-policy-present"
BRANCH = f"governance/{POLICY}"
REPOS = ("api", "web", "jobs")
WRITES = {"POST", "PATCH", "PUT", "DELETE"}


@dataclass
class Forge:
    """One fake forge behind the few questions the scenario asks of it."""

    kind: str
    fake: Any
    env: dict[str, str]
    url_option: tuple[str, str]

    @property
    def source(self) -> str:
        return f"{self.kind}:acme"


    def writes(self) -> int:
        return sum(1 for r in self.fake.requests
                   if r.method in WRITES and "graphql" not in r.path)


class GitHub(Forge):
    def states(self, name: str) -> list[str]:
        return [p.state for p in self.fake.pulls("acme", name)]

    def branch_head(self, name: str) -> str | None:
        return self.fake.repo("acme", name).branches.get(BRANCH)

    def default_head(self, name: str) -> str:
        repo = self.fake.repo("acme", name)
        return str(repo.branches[repo.default_branch])

    def comments(self, name: str) -> int:
        return sum(len(p.comments) for p in self.fake.pulls("acme", name))

    def person_pushes(self, name: str) -> str:
        return str(self.fake.push("acme", name, {"SECURITY.md": "Mail Pat.\n"}, branch=BRANCH))

    def person_closes(self, name: str) -> None:
        (pull,) = self.fake.pulls("acme", name)
        self.fake.close_pull("acme", name, pull.number)

    def fixed_by_hand(self, name: str) -> None:
        self.fake.push("acme", name, {"SECURITY.md": "# Security\n\nMail sec@acme.example\n"})


class GitLab(Forge):
    def states(self, name: str) -> list[str]:
        return [{"opened": "open"}.get(m.state, m.state)
                for m in self.fake.merge_requests(f"acme/{name}")]

    def branch_head(self, name: str) -> str | None:
        return self.fake.project(f"acme/{name}").branches.get(BRANCH)

    def default_head(self, name: str) -> str:
        project = self.fake.project(f"acme/{name}")
        return str(project.branches[project.default_branch])

    def comments(self, name: str) -> int:
        return sum(1 for m in self.fake.merge_requests(f"acme/{name}")
                   for n in m.notes if not n.system)

    def person_pushes(self, name: str) -> str:
        return str(self.fake.push(f"acme/{name}", {"SECURITY.md": "Mail Pat.\n"},
                                  branch=BRANCH))

    def person_closes(self, name: str) -> None:
        (mr,) = self.fake.merge_requests(f"acme/{name}")
        self.fake.close_merge_request(f"acme/{name}", mr.iid)

    def fixed_by_hand(self, name: str) -> None:
        self.fake.push(f"acme/{name}", {"SECURITY.md": "# Security\n\nMail sec@acme.example\n"})


@pytest.fixture(params=["github", "gitlab"])
def forge(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    if request.param == "github":
        from tests.fakes.github import DEFAULT_TOKEN, FakeGitHub

        fake = FakeGitHub().start()
        fake.add_org("acme")
        for name in REPOS:
            fake.add_repo("acme", name, files={"README.md": f"# {name}\n"})
        env["GITHUB_TOKEN"] = DEFAULT_TOKEN
        made: Forge = GitHub("github", fake, env, ("--github-url", fake.url))
    else:
        from tests.fakes.gitlab import FakeGitLab

        fake = FakeGitLab().start()
        fake.add_group("acme")
        token = "glpat-e2e-write-token-000000"
        fake.add_token(token, scopes=("api",), access_level=30)
        for name in REPOS:
            fake.add_project("acme", name, files={"README.md": f"# {name}\n"})
        env["GITLAB_TOKEN"] = token
        made = GitLab("gitlab", fake, env, ("--gitlab-url", fake.url))
    try:
        yield made
    finally:
        fake.stop()


def fix(cli: Callable[..., Any], forge: Any, *extra: str) -> dict[str, dict[str, Any]]:
    result = cli("fix", forge.source, "--policy", POLICY, "--format", "json",
                 "--write-gap", "0", *forge.url_option, *extra, env=forge.env)
    assert result.code == 0, result.out + result.err
    for secret in (forge.env.get("GITHUB_TOKEN"), forge.env.get("GITLAB_TOKEN")):
        assert not secret or secret not in result.out + result.err
    return {a["repository"].split("/")[-1]: a for a in json.loads(result.out)["actions"]}


def test_plan_apply_idempotence_people_and_hand_fixes(cli: Any, forge: Any) -> None:
    heads = {name: forge.default_head(name) for name in REPOS}

    planned = fix(cli, forge)
    assert {n: a["action"] for n, a in planned.items()} == dict.fromkeys(REPOS, "create")
    assert all(not a["applied"] and "+++ b/SECURITY.md" in a["diff"] for a in planned.values())
    assert forge.writes() == 0 and all(forge.branch_head(n) is None for n in REPOS)

    opened = fix(cli, forge, "--apply")
    assert {n: (a["action"], a["applied"]) for n, a in opened.items()} == dict.fromkeys(
        REPOS, ("create", True))
    for name in REPOS:
        assert forge.states(name) == ["open"]
        assert forge.branch_head(name) is not None
        assert forge.default_head(name) == heads[name]  # the default branch is untouched

    writes = forge.writes()
    again = fix(cli, forge, "--apply")
    assert {n: a["action"] for n, a in again.items()} == dict.fromkeys(REPOS, "unchanged")
    assert forge.writes() == writes  # nothing written, nothing new
    assert all(forge.states(n) == ["open"] for n in REPOS)

    theirs = forge.person_pushes("api")
    forge.person_closes("web")
    third = fix(cli, forge, "--apply")
    assert third["api"]["action"] == "blocked" and "not overwritten" in third["api"]["reason"]
    assert third["web"]["action"] == "declined"
    assert third["jobs"]["action"] == "unchanged"
    assert forge.branch_head("api") == theirs  # the person's commit is still the head
    assert forge.states("web") == ["closed"]  # not reopened, nothing new opened
    assert forge.comments("api") == 1  # told once
    fourth = fix(cli, forge, "--apply")
    assert (fourth["api"]["action"], fourth["web"]["action"]) == ("blocked", "declined")
    assert forge.comments("api") == 1 and forge.states("web") == ["closed"]

    forge.fixed_by_hand("jobs")
    closed = fix(cli, forge, "--apply")
    assert (closed["jobs"]["action"], closed["jobs"]["applied"]) == ("close", True)
    assert forge.states("jobs") == ["closed"] and forge.branch_head("jobs") is None
    assert fix(cli, forge, "--apply")["jobs"]["action"] == "skip"  # passes: nothing to do


def test_actions_are_pinned_through_the_github_api_in_one_commit(cli: Any, tmp_path: Path
                                                                 ) -> None:
    from tests.fakes.github import DEFAULT_TOKEN, FakeGitHub

    workflow = ("name: ci\non: [push]\npermissions:\n  contents: read\njobs:\n  test:\n"
                "    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@v4  # clone\n"
                "      - uses: 'actions/setup-python@v5'\n      - run: make test\n")
    with FakeGitHub().running() as hub:
        hub.add_repo("actions", "checkout", files={"action.yml": "name: checkout\n"})
        hub.add_repo("actions", "setup-python", files={"action.yml": "name: setup\n"})
        checkout = hub.add_tag("actions", "checkout", "v4")
        setup = hub.add_tag("actions", "setup-python", "v5")
        hub.add_repo("acme", "api", files={".github/workflows/ci.yml": workflow})
        head = hub.repo("acme", "api").branches["main"]
        env = {"GITHUB_TOKEN": DEFAULT_TOKEN, "XDG_CACHE_HOME": str(tmp_path / "xdg")}
        result = cli("fix", "github:acme", "--policy", "actions-pinned", "--apply",
                     "--write-gap", "0", "--github-url", hub.url, "--format", "json", env=env)
        assert result.code == 0, result.out + result.err
        (action,) = json.loads(result.out)["actions"]
        assert (action["action"], action["applied"]) == ("create", True)
        (pull,) = hub.pulls("acme", "api")
        repo = hub.repo("acme", "api")
        commit = repo.commits[repo.branches[pull.head]]
        assert commit.parents == [head] and repo.branches["main"] == head
        pinned = commit.files[".github/workflows/ci.yml"].decode()
        assert pinned == workflow.replace(
            "actions/checkout@v4  # clone", f"actions/checkout@{checkout} # v4  # clone"
        ).replace("'actions/setup-python@v5'", f"'actions/setup-python@{setup}' # v5")
