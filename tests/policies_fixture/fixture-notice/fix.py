"""Creates NOTICE.md from its template; a NOTICE.txt needs a person; CRASH crashes."""

from __future__ import annotations

from governance.fixes import FixContext, FixResult, NeedsPerson, create_file, proposal


def fix(ctx: FixContext) -> FixResult:
    if ctx.files.exists("CRASH"):
        raise RuntimeError("boom from the fixture fixer")
    if ctx.files.exists("NOTICE.txt"):
        return NeedsPerson("a NOTICE.txt exists: merge it into NOTICE.md by hand")
    text = ctx.template("NOTICE.md.j2", team=ctx.options["team"])
    return proposal("Add a NOTICE.md", [create_file("NOTICE.md", text)],
                    [f"names {ctx.options['team']} as the owning team"])
