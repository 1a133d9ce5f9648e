"""Passes when NOTICE.md is committed."""

from __future__ import annotations

from governance.checks import CheckContext, Result, failed, passed


def check(ctx: CheckContext) -> Result:
    if ctx.files.exists("NOTICE.md"):
        return passed("NOTICE.md found")
    return failed("no NOTICE.md")
