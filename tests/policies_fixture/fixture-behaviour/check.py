"""Does what the repository's MODE file (or the `mode` option) says."""

from __future__ import annotations

import sys

from governance.checks import CheckContext, Result, failed, passed


def check(ctx: CheckContext) -> Result:
    mode = str(ctx.options["mode"])
    if ctx.files.exists("MODE"):
        mode = ctx.files.read_text("MODE").strip()
    if mode == "crash":
        raise RuntimeError("boom from the fixture")
    if mode == "exit":
        sys.exit(4)
    if mode == "unsupported":
        ctx.files.setting("branch_protection")  # raises Unsupported on a local checkout
    if mode == "bad-return":
        return "not a Result"  # type: ignore[return-value]
    if mode == "fail":
        return failed("told to fail", details={"threshold": ctx.options["threshold"]})
    return passed("told to pass", details={"threshold": ctx.options["threshold"]})
