"""Every GraphQL document the GitLab provider sends, built here so tests can validate each
one against the schema (tests/test_gitlab_provider.py validates them against the fake's SDL).

Two kinds of query, both batched over many projects with one alias per project (so a
project the token cannot see, or an error, is attributed to that project only):

- `projects_query(n, settings)`: per project the default branch (`rootRef`), whether the
  repository is empty and the head commit of the default branch; with `settings`, the
  branch rules (protected branches with their push / merge access levels and force-push
  setting, and the merge request approval rules that apply to each branch);
- `blobs_query(n)`: the text of files by path at a commit, per project.

Project paths, file paths and refs travel as variables, never inside the query text.
"""

from __future__ import annotations

from functools import lru_cache

PROJECT_ALIAS = "p"
BLOBS_PAGE = 100  # files per project in one blob query (GitLab's page size cap)

BRANCH_RULES_SELECTION = """\
branchRules(first: 100) {
      nodes {
        name
        isProtected
        branchProtection {
          allowForcePush
          codeOwnerApprovalRequired
          mergeAccessLevels { nodes { accessLevel } }
          pushAccessLevels { nodes { accessLevel } }
        }
        approvalRules(first: 100) { nodes { id name approvalsRequired } }
      }
    }"""


def project_alias(index: int) -> str:
    return f"{PROJECT_ALIAS}{index}"


@lru_cache(maxsize=64)
def projects_query(count: int, settings: bool) -> str:
    """Default branch, emptiness and head commit of `count` projects ($p0, $p1... are
    their full paths); with `settings`, their branch rules."""
    if count < 1:
        raise ValueError("a query needs at least one project")
    variables = ", ".join(f"${project_alias(i)}: ID!" for i in range(count))
    rules = f"\n    {BRANCH_RULES_SELECTION}" if settings else ""
    fields = "\n".join(
        f"  {project_alias(i)}: project(fullPath: ${project_alias(i)}) "
        "{ ...GovernanceProject }" for i in range(count))
    return (
        f"query GovernanceProjects({variables}) {{\n{fields}\n}}\n\n"
        "fragment GovernanceProject on Project {\n"
        "  fullPath\n"
        "  repository {\n"
        "    rootRef\n"
        "    empty\n"
        "    tree { lastCommit { sha } }\n"
        f"  }}{rules}\n"
        "}\n"
    )


@lru_cache(maxsize=64)
def blobs_query(count: int) -> str:
    """The text of files of `count` projects: $p<i> the project's full path, $paths<i>
    the file paths, $ref<i> the commit."""
    if count < 1:
        raise ValueError("a query needs at least one project")
    variables = ", ".join(
        f"${project_alias(i)}: ID!, $paths{i}: [String!]!, $ref{i}: String!"
        for i in range(count))
    fields = "\n".join(
        f"  {project_alias(i)}: project(fullPath: ${project_alias(i)}) {{\n"
        f"    repository {{\n"
        f"      blobs(paths: $paths{i}, ref: $ref{i}, first: {BLOBS_PAGE}) {{\n"
        "        nodes { path rawTextBlob size }\n"
        "      }\n"
        "    }\n"
        "  }" for i in range(count))
    return f"query GovernanceBlobs({variables}) {{\n{fields}\n}}\n"
