"""The policy table generated from policy.yml files, and its place in a README."""

from __future__ import annotations

from pathlib import Path

import pytest

from governance import resources
from governance.docs import (
    END_MARKER,
    START_MARKER,
    markdown_cell,
    one_line_summary,
    policy_table_markdown,
    readme_with_policy_table,
)
from governance.errors import ConfigError
from governance.policy import Policy, discover


def _policy(root: Path, policy_id: str, **fields: str) -> None:
    folder = root / policy_id
    folder.mkdir(parents=True)
    lines = [f"id: {policy_id}"]
    lines += [f"{key}: {value}" for key, value in fields.items()]
    lines += ["expect:", "  any_file: [README.md]"]
    (folder / "policy.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture()
def policies(tmp_path: Path) -> list[Policy]:
    _policy(tmp_path, "zeta-check", title="Zeta", severity="high", autofix="safe",
            rationale='"First sentence, e.g. with an abbreviation. Second sentence."',
            remediation="fix it")
    _policy(tmp_path, "alpha-check", title='"Pipes | and <b>tags</b>"', severity="low",
            enabled="false",
            rationale=">\n  Folded over\n  two lines | with a pipe and `code|span`.\n  Then more.",
            remediation="fix it")
    return list(discover([tmp_path]).values())


def _rows(table: str) -> list[str]:
    return table.splitlines()


def test_table_has_one_row_per_policy_sorted_by_id(policies: list[Policy]) -> None:
    lines = _rows(policy_table_markdown(policies))
    assert lines[0] == "| Policy | Title | Severity | Default | Autofix | Summary |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert len(lines) == 4
    assert lines[2].startswith("| [`alpha-check`](policies/alpha-check/policy.yml) |")
    assert lines[3] == (
        "| [`zeta-check`](policies/zeta-check/policy.yml) | Zeta | high | on | safe | "
        "First sentence, e.g. with an abbreviation. |"
    )


def test_table_cells_escape_pipes_and_html_and_show_defaults(policies: list[Policy]) -> None:
    alpha = _rows(policy_table_markdown(policies, link_prefix=None))[2]
    assert alpha.startswith("| `alpha-check` | Pipes \\| and &lt;b&gt;tags&lt;/b&gt; | low | off |")
    assert "| \u2014 |" in alpha  # no autofix
    # a pipe inside a code span is escaped too (GFM tables), the span itself is kept
    assert alpha.endswith("| Folded over two lines \\| with a pipe and `code\\|span`. |")
    # every row has exactly the six cells once escaped pipes are discounted
    assert alpha.replace("\\|", "").count("|") == 7


def test_every_bundled_policy_is_in_the_table() -> None:
    bundled = discover([resources.policies_folder()])
    table = policy_table_markdown(bundled.values())
    assert len(_rows(table)) == 2 + len(bundled)
    for policy_id in bundled:
        assert f"[`{policy_id}`](policies/{policy_id}/policy.yml)" in table


@pytest.mark.parametrize(("text", "expected"), [
    ("One. Two.", "One."),
    ("Ends without a dot", "Ends without a dot"),
    ("Tools (e.g. tflint) and i.e. more, etc. run. Next.",
     "Tools (e.g. tflint) and i.e. more, etc. run."),
    ("Version 1.2 is old. Next.", "Version 1.2 is old."),
    ("Wrapped\n  over   lines! Next.", "Wrapped over lines!"),
    ("Is it `a.b`? Yes.", "Is it `a.b`?"),
])
def test_summary_is_the_first_sentence_on_one_line(text: str, expected: str) -> None:
    assert one_line_summary(text) == expected


def test_summary_is_cut_at_a_word_with_an_ellipsis() -> None:
    summary = one_line_summary("word " * 100, limit=40)
    assert len(summary) <= 40 and summary.endswith("word\u2026")


def test_markdown_cell_with_an_unpaired_backtick_is_all_prose() -> None:
    assert markdown_cell("a ` b <c>") == "a \\` b &lt;c&gt;"


README = f"""# project

Intro text.

## Policies

{START_MARKER}
| old | table |
|---|---|
| stale | row |
{END_MARKER}

## After

Kept as is.
"""


def test_readme_table_is_replaced_between_the_markers_only() -> None:
    table = "| Policy |\n|---|\n| `new` |\n"
    updated = readme_with_policy_table(README, table)
    before, rest = updated.split(START_MARKER)
    inside, after = rest.split(END_MARKER)
    assert before == README.split(START_MARKER)[0]
    assert after == README.split(END_MARKER)[1]
    assert inside == "\n\n" + table + "\n"
    assert "stale" not in updated
    assert readme_with_policy_table(updated, table) == updated  # idempotent


def test_readme_with_the_generated_table_round_trips(policies: list[Policy]) -> None:
    table = policy_table_markdown(policies)
    updated = readme_with_policy_table(README, table)
    assert table in updated
    assert readme_with_policy_table(updated, table) == updated


def test_empty_markers_get_the_table() -> None:
    text = f"a\n{START_MARKER}{END_MARKER}\nb\n"
    expected = f"a\n{START_MARKER}\n\n| x |\n\n{END_MARKER}\nb\n"
    assert readme_with_policy_table(text, "| x |\n") == expected


@pytest.mark.parametrize("text", [
    "no markers at all\n",
    f"{START_MARKER}\nonly the start\n",
    f"{START_MARKER}\n{END_MARKER}\n{START_MARKER}\n{END_MARKER}\n",
    f"{END_MARKER}\nreversed\n{START_MARKER}\n",
])
def test_missing_repeated_or_misordered_markers_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="policies:"):
        readme_with_policy_table(text, "| x |\n")
