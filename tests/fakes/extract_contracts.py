"""Regenerate tests/contracts/ from GitHub's published descriptions.

Usage (from the repository root)::

    python tests/fakes/extract_contracts.py [SOURCE_DIR]

SOURCE_DIR defaults to ``../shared/contracts/github`` and must hold ``api.github.com.json``
(``@octokit/openapi``), ``schema.graphql`` (``@octokit/graphql-schema``) and their licence
files.  The script writes:

* ``tests/contracts/github-rest-subset.json``: the OpenAPI 3.0 document reduced to the
  operations the fake GitHub serves (``OPERATIONS`` below), keeping for each operation only
  its ``operationId``, summary, documentation link and responses, without examples, plus the
  ``components`` (schemas, responses, headers) those responses reference, transitively;
* ``tests/contracts/github-schema.graphql``: the GraphQL schema, whole, except for field
  definitions repeated inside one type (the published file defines two fields of
  ``EnterpriseOwnerInfo`` twice, which graphql-core rejects); the first definition is kept;
* the two licence files, unchanged.

The output is deterministic (sorted keys), so a re-run on the same input gives no diff.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "contracts" / "github"
TARGET = HERE.parent / "contracts"

REST_OUT = "github-rest-subset.json"
GRAPHQL_OUT = "github-schema.graphql"
LICENCES = {
    "LICENSE-openapi": "LICENSE-openapi",
    "LICENSE-graphql-schema.md": "LICENSE-graphql-schema.md",
}

# (method, path template) of every operation the fake serves.
OPERATIONS: list[tuple[str, str]] = [
    ("get", "/orgs/{org}"),
    ("get", "/orgs/{org}/repos"),
    ("get", "/orgs/{org}/rulesets"),
    ("get", "/orgs/{org}/rulesets/{ruleset_id}"),
    ("get", "/orgs/{org}/installation"),
    ("get", "/repos/{owner}/{repo}"),
    ("get", "/repos/{owner}/{repo}/git/trees/{tree_sha}"),
    ("get", "/repos/{owner}/{repo}/git/blobs/{file_sha}"),
    ("get", "/repos/{owner}/{repo}/contents/{path}"),
    ("get", "/repos/{owner}/{repo}/branches/{branch}"),
    ("get", "/repos/{owner}/{repo}/branches/{branch}/protection"),
    ("get", "/repos/{owner}/{repo}/rules/branches/{branch}"),
    ("get", "/repos/{owner}/{repo}/rulesets"),
    ("get", "/repos/{owner}/{repo}/rulesets/{ruleset_id}"),
    ("get", "/repos/{owner}/{repo}/topics"),
    ("get", "/rate_limit"),
    ("get", "/user"),
    ("get", "/app"),
    ("get", "/app/installations"),
    ("post", "/app/installations/{installation_id}/access_tokens"),
    ("get", "/installation/repositories"),
    # the write side (remediation): Git Data, compare, commits, pull requests
    ("post", "/repos/{owner}/{repo}/git/blobs"),
    ("post", "/repos/{owner}/{repo}/git/trees"),
    ("post", "/repos/{owner}/{repo}/git/commits"),
    ("get", "/repos/{owner}/{repo}/git/commits/{commit_sha}"),
    ("post", "/repos/{owner}/{repo}/git/refs"),
    ("get", "/repos/{owner}/{repo}/git/ref/{ref}"),
    ("patch", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("delete", "/repos/{owner}/{repo}/git/refs/{ref}"),
    ("get", "/repos/{owner}/{repo}/compare/{basehead}"),
    ("get", "/repos/{owner}/{repo}/commits/{ref}"),
    ("get", "/repos/{owner}/{repo}/pulls"),
    ("post", "/repos/{owner}/{repo}/pulls"),
    ("get", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("patch", "/repos/{owner}/{repo}/pulls/{pull_number}"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"),
    ("get", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
    ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"),
]

_DROP_KEYS = {"example", "examples"}


def _strip(node: Any) -> Any:
    """Drop examples (they are most of the size) from a JSON value, recursively."""
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in _DROP_KEYS}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def extract_rest(spec: dict[str, Any]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for method, template in OPERATIONS:
        operation = spec["paths"][template][method]
        kept = {
            "operationId": operation["operationId"],
            "summary": operation.get("summary", ""),
            "externalDocs": operation.get("externalDocs", {}),
            "responses": _strip(operation["responses"]),
        }
        paths.setdefault(template, {})[method] = kept

    components: dict[str, dict[str, Any]] = {}
    pending: set[str] = set()
    _refs(paths, pending)
    done: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        _, section, kind, name = ref.split("/", 3)
        assert section == "components", ref
        value = _strip(spec["components"][kind][name])
        components.setdefault(kind, {})[name] = value
        _refs(value, pending)

    return {
        "openapi": spec["openapi"],
        "info": {
            "title": spec["info"]["title"] + " (subset served by tests/fakes/github.py)",
            "version": spec["info"]["version"],
            "license": spec["info"].get("license", {}),
            "x-extracted-by": "tests/fakes/extract_contracts.py",
        },
        "paths": paths,
        "components": components,
    }


def dedupe_graphql(source: str) -> tuple[str, list[str]]:
    """Remove field definitions that repeat an earlier one in the same type."""
    from graphql import parse
    from graphql.language import (
        InterfaceTypeDefinitionNode,
        InterfaceTypeExtensionNode,
        ObjectTypeDefinitionNode,
        ObjectTypeExtensionNode,
    )

    document = parse(source)
    cuts: list[tuple[int, int]] = []
    removed: list[str] = []
    kinds = (
        ObjectTypeDefinitionNode,
        ObjectTypeExtensionNode,
        InterfaceTypeDefinitionNode,
        InterfaceTypeExtensionNode,
    )
    for definition in document.definitions:
        if not isinstance(definition, kinds):
            continue
        seen: set[str] = set()
        for field in definition.fields or ():
            name = field.name.value
            if name in seen:
                assert field.loc is not None
                start = field.loc.start
                if field.description is not None and field.description.loc is not None:
                    start = min(start, field.description.loc.start)
                cuts.append((start, field.loc.end))
                removed.append(f"{definition.name.value}.{name}")
            seen.add(name)
    text = source
    for start, end in sorted(cuts, reverse=True):
        # Also swallow the indentation before the cut and the newline after it.
        line_start = text.rfind("\n", 0, start) + 1
        if text[line_start:start].strip() == "":
            start = line_start
        if text[end : end + 1] == "\n":
            end += 1
        text = text[:start] + text[end:]
    return text, removed


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCE
    TARGET.mkdir(parents=True, exist_ok=True)

    spec = json.loads((source / "api.github.com.json").read_text(encoding="utf-8"))
    subset = extract_rest(spec)
    (TARGET / REST_OUT).write_text(
        json.dumps(subset, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )

    graphql_source = (source / "schema.graphql").read_text(encoding="utf-8")
    graphql_text, removed = dedupe_graphql(graphql_source)
    header = (
        "# GitHub GraphQL schema from @octokit/graphql-schema (MIT licence: see\n"
        "# LICENSE-graphql-schema.md),\n"
        "# written by tests/fakes/extract_contracts.py. Removed repeated field definitions: "
        + (", ".join(removed) or "none")
        + "\n"
    )
    (TARGET / GRAPHQL_OUT).write_text(header + graphql_text, encoding="utf-8")

    for src, dst in LICENCES.items():
        shutil.copyfile(source / src, TARGET / dst)

    rest_size = (TARGET / REST_OUT).stat().st_size
    gql_size = (TARGET / GRAPHQL_OUT).stat().st_size
    print(f"{REST_OUT}: {len(OPERATIONS)} operations, {rest_size} bytes")
    print(f"{GRAPHQL_OUT}: {gql_size} bytes; removed {removed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
