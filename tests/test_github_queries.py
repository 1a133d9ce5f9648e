"""Every GraphQL query the GitHub provider can send validates against GitHub's schema.

The schema is the vendored tests/contracts/github-schema.graphql (from @octokit/graphql-schema),
built with `assume_valid=True` as the fake forge does (GitHub deprecates some interface
fields in ways graphql-core >= 3.3 reports as type-system errors).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

graphql: Any = pytest.importorskip("graphql")

from governance.providers import github_queries as q  # noqa: E402

SCHEMA_PATH = Path(__file__).resolve().parent / "contracts" / "github-schema.graphql"
SHA_A = "a" * 40
SHA_B = "0123456789abcdef0123456789abcdef01234567"
SHA256 = "b" * 64


@lru_cache(maxsize=1)
def schema() -> Any:
    return graphql.build_schema(SCHEMA_PATH.read_text(encoding="utf-8"), assume_valid=True)


def errors_of(text: str) -> list[str]:
    document = graphql.parse(text)
    return [error.message for error in graphql.validate(schema(), document)]


def variable_names(text: str) -> set[str]:
    document = graphql.parse(text)
    (operation,) = [d for d in document.definitions
                    if isinstance(d, graphql.OperationDefinitionNode)]
    return {v.variable.name.value for v in operation.variable_definitions}


@pytest.mark.parametrize("count", [1, 2, 25, 50, 100])
@pytest.mark.parametrize("settings", [True, False])
def test_repositories_query_is_valid(count: int, settings: bool) -> None:
    text = q.repositories_query(count, settings)
    assert errors_of(text) == []
    names = q.name_variables("acme", [f"repo-{i}" for i in range(count)])
    assert variable_names(text) == set(names)
    assert text.count("repository(owner: $owner") == count
    assert ("rulesets(" in text) is settings
    assert ("branchProtectionRule" in text) is settings


def test_rulesets_page_query_is_valid() -> None:
    text = q.rulesets_page_query()
    assert errors_of(text) == []
    assert variable_names(text) == {"owner", "name", "after"}


@pytest.mark.parametrize(
    "oids",
    [
        [[SHA_A]],
        [[SHA_A, SHA_B], [SHA_B]],
        [[SHA256]],
        [[f"{i:040x}" for i in range(300)]],
        [[f"{i:040x}"] for i in range(50)],
    ],
    ids=["one", "two-repos", "sha256", "300-objects", "50-repos"],
)
def test_blobs_query_is_valid(oids: list[list[str]]) -> None:
    text = q.blobs_query(oids)
    assert errors_of(text) == []
    assert variable_names(text) == set(q.name_variables("acme", ["x"] * len(oids)))
    assert text.count("object(oid:") == sum(len(group) for group in oids)


@pytest.mark.parametrize(
    "oids",
    [[], [[]], [['a" } evil: viewer { login } x: object(oid: "a']], [["A" * 40]], [["abc"]]],
    ids=["none", "empty-group", "injection", "uppercase", "short"],
)
def test_blobs_query_refuses_what_is_not_an_object_id(oids: list[list[str]]) -> None:
    with pytest.raises(ValueError):
        q.blobs_query(oids)


def test_repositories_query_needs_a_repository() -> None:
    with pytest.raises(ValueError):
        q.repositories_query(0, True)


def test_queries_respect_githubs_pagination_limits() -> None:
    """Every connection asks for at most 100 nodes, and a batch of 50 repositories stays
    far below GitHub's 500,000-node limit."""
    text = q.repositories_query(50, True)
    document = graphql.parse(text)
    firsts: list[int] = []

    class Visitor(graphql.Visitor):
        def enter_argument(self, node: Any, *_: Any) -> None:
            if node.name.value == "first" and isinstance(node.value, graphql.IntValueNode):
                firsts.append(int(node.value.value))

    graphql.visit(document, Visitor())
    assert firsts and max(firsts) <= 100
    per_repository = q.RULESETS_PAGE * (q.RULES_PAGE + q.BYPASS_PAGE) + q.RULESETS_PAGE
    assert 50 * per_repository < 500_000
