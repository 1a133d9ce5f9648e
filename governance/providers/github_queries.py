"""Every GraphQL document the GitHub provider sends, built here so tests can validate each
one against GitHub's schema (tests/test_github_queries.py).

Three kinds of query, all batched over the repositories of one owner:

- `repositories_query(n, settings)`: per repository the default branch, its head commit
  and root tree (and, when a policy reads settings, the classic protection rule GitHub
  applies to the default branch and the rulesets of the repository and its parents);
- `rulesets_page_query()`: the next page of one repository's rulesets (rarely needed:
  the first page holds `RULESETS_PAGE` of them);
- `blobs_query(oids_per_repository)`: the text of blobs by object id.

Repository names travel as variables; blob object ids are written into the query as
literals (checked hex strings), since one query asks for hundreds of them.

Costs, in GitHub's terms (a connection costs the product of the `first` of its parents,
the sum over the query divided by 100): a repository with settings costs 1 + RULESETS_PAGE
x 2 connection requests (rulesets, then the rules and bypass actors of each), so 50
repositories cost about 11 points; node counts stay far below the 500,000 limit
(50 x (RULESETS_PAGE x (RULES_PAGE + BYPASS_PAGE)) = 30,000).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

RULESETS_PAGE = 10  # rulesets per repository in the batched query
RULESETS_FOLLOW_PAGE = 50  # rulesets per page when one repository has more
RULES_PAGE = 50  # rules per ruleset (GitHub has fewer rule types than that)
BYPASS_PAGE = 10  # bypass actors listed per ruleset (their total is always counted)

_OID = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")

RATE_LIMIT_SELECTION = "rateLimit { cost limit remaining resetAt }"

PROTECTION_FRAGMENT = """\
fragment GovernanceProtection on BranchProtectionRule {
  pattern
  requiresApprovingReviews
  requiredApprovingReviewCount
  requiresCodeOwnerReviews
  dismissesStaleReviews
  requireLastPushApproval
  isAdminEnforced
  allowsForcePushes
  allowsDeletions
}"""

RULESET_FRAGMENT = f"""\
fragment GovernanceRuleset on RepositoryRuleset {{
  name
  enforcement
  target
  source {{
    __typename
    ... on Organization {{ login }}
    ... on Repository {{ nameWithOwner }}
    ... on Enterprise {{ slug }}
  }}
  conditions {{ refName {{ include exclude }} }}
  bypassActors(first: {BYPASS_PAGE}) {{
    totalCount
    nodes {{
      organizationAdmin
      repositoryRoleName
      deployKey
      actor {{
        __typename
        ... on App {{ slug }}
        ... on Team {{ combinedSlug }}
      }}
    }}
  }}
  rules(first: {RULES_PAGE}) {{
    nodes {{
      type
      parameters {{
        __typename
        ... on PullRequestParameters {{
          requiredApprovingReviewCount
          requireCodeOwnerReview
          dismissStaleReviewsOnPush
          requireLastPushApproval
        }}
      }}
    }}
  }}
}}"""

_HEAD_SELECTION = """\
  nameWithOwner
  isEmpty
  defaultBranchRef {
    name
    target {
      oid
      ... on Commit { tree { oid } }
    }%s
  }"""

REPOSITORY_FRAGMENT = (
    "fragment GovernanceRepository on Repository {\n"
    + _HEAD_SELECTION % "\n    branchProtectionRule { ...GovernanceProtection }"
    + f"""
  viewerCanAdminister
  rulesets(first: {RULESETS_PAGE}, includeParents: true) {{
    pageInfo {{ hasNextPage endCursor }}
    nodes {{ ...GovernanceRuleset }}
  }}
}}"""
)

HEAD_FRAGMENT = "fragment GovernanceHead on Repository {\n" + _HEAD_SELECTION % "" + "\n}"

BLOB_FRAGMENT = """\
fragment GovernanceBlob on Blob {
  oid
  byteSize
  isBinary
  isTruncated
  text
}"""


def repository_alias(index: int) -> str:
    return f"r{index}"


def name_variable(index: int) -> str:
    return f"n{index}"


def object_alias(index: int) -> str:
    return f"o{index}"


def _variables(count: int) -> str:
    return ", ".join(["$owner: String!", *(f"${name_variable(i)}: String!" for i in range(count))])


@lru_cache(maxsize=16)
def repositories_query(count: int, settings: bool) -> str:
    """Head commit and root tree of `count` repositories of one owner; with `settings`,
    also what protects the default branch (classic rule and rulesets).

    Variables: `owner`, and `n0`..`n{count-1}` the repository names (see `name_variables`).
    """
    if count < 1:
        raise ValueError("a query needs at least one repository")
    fragment = "GovernanceRepository" if settings else "GovernanceHead"
    lines = [f"query GovernanceRepositories({_variables(count)}) {{", f"  {RATE_LIMIT_SELECTION}"]
    lines += [
        f"  {repository_alias(i)}: repository(owner: $owner, name: ${name_variable(i)}) "
        f"{{ ...{fragment} }}"
        for i in range(count)
    ]
    lines.append("}")
    fragments = (
        [REPOSITORY_FRAGMENT, PROTECTION_FRAGMENT, RULESET_FRAGMENT] if settings
        else [HEAD_FRAGMENT]
    )
    return "\n".join([*lines, *fragments]) + "\n"


def name_variables(owner: str, names: Sequence[str]) -> dict[str, str]:
    """The variables of `repositories_query` / `blobs_query` for these repositories."""
    variables = {"owner": owner}
    variables.update({name_variable(i): name for i, name in enumerate(names)})
    return variables


@lru_cache(maxsize=1)
def rulesets_page_query() -> str:
    """The next page of one repository's rulesets. Variables: owner, name, after."""
    return (
        "query GovernanceRulesetsPage($owner: String!, $name: String!, $after: String) {\n"
        f"  {RATE_LIMIT_SELECTION}\n"
        "  repository(owner: $owner, name: $name) {\n"
        f"    rulesets(first: {RULESETS_FOLLOW_PAGE}, after: $after, includeParents: true) {{\n"
        "      pageInfo { hasNextPage endCursor }\n"
        "      nodes { ...GovernanceRuleset }\n"
        "    }\n"
        "  }\n"
        "}\n" + RULESET_FRAGMENT + "\n"
    )


def blobs_query(oids: Sequence[Sequence[str]]) -> str:
    """The text of blobs: `oids[i]` are object ids in repository `n{i}` of `$owner`.

    In the answer, repository `i` is under `repository_alias(i)` and its `j`-th blob under
    `object_alias(j)`. Object ids must be lowercase hex (SHA-1 or SHA-256).
    """
    if not oids or not any(oids):
        raise ValueError("a blob query needs at least one object id")
    lines = [f"query GovernanceBlobs({_variables(len(oids))}) {{", f"  {RATE_LIMIT_SELECTION}"]
    for i, group in enumerate(oids):
        objects = []
        for j, oid in enumerate(group):
            if not _OID.fullmatch(oid):
                raise ValueError(f"not a git object id: {oid!r}")
            objects.append(f'{object_alias(j)}: object(oid: "{oid}") {{ ...GovernanceBlob }}')
        if not objects:
            raise ValueError(f"repository {i} of the blob query has no object id")
        lines.append(
            f"  {repository_alias(i)}: repository(owner: $owner, name: ${name_variable(i)}) {{ "
            + " ".join(objects) + " }"
        )
    lines.append("}")
    return "\n".join([*lines, BLOB_FRAGMENT]) + "\n"
