"""The README's policy table is generated from the policy.yml files and must not drift."""

from __future__ import annotations

from pathlib import Path

from governance import resources
from governance.docs import policy_table_markdown, readme_with_policy_table
from governance.policy import discover

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_policy_table_is_in_sync_with_policy_files() -> None:
    text = README.read_text(encoding="utf-8")
    table = policy_table_markdown(discover([resources.policies_folder()]).values())
    assert readme_with_policy_table(text, table) == text, (
        "README.md is out of date: run `governance policies docs --write README.md`"
    )
    for policy_id in discover([resources.policies_folder()]):
        assert f"`{policy_id}`" in text or f"[{policy_id}]" in text
