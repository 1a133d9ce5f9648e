"""Propose a SECURITY.md at the root telling people how to report a vulnerability privately.

The reporting channel is the `contact` option (an e-mail address, a URL or a sentence).
Without it the forge's own private channel is named: on GitHub, private vulnerability
reporting (the Security tab's "Report a vulnerability"); on GitLab, a confidential issue.
A local checkout does not say which forge hosts it, so there a person sets `contact`.
"""

from __future__ import annotations

import re

from governance.fixes import FixContext, FixResult, NeedsPerson, create_file, proposal

SECURITY_MD = "SECURITY.md"
_EMAIL = re.compile(r"^[\w.+-]+@[\w-]+(\.[\w-]+)+$")
_URL = re.compile(r"^https?://\S+$")


def contact_markdown(contact: str) -> str:
    """The contact as Markdown: a mailto link, an autolink, or the text as written."""
    if _EMAIL.match(contact):
        return f"[{contact}](mailto:{contact})"
    if _URL.match(contact):
        return f"<{contact}>"
    return contact


def fix(ctx: FixContext) -> FixResult:
    option = ctx.options.get("contact")
    contact = option.strip() if isinstance(option, str) else ""
    if not contact and ctx.forge not in ("github", "gitlab"):
        return NeedsPerson("set the contact option (an e-mail address or URL for private "
                           "vulnerability reports): a local checkout does not say which "
                           "forge's private reporting applies")
    text = ctx.template(f"{SECURITY_MD}.j2", contact=contact_markdown(contact) if contact else "",
                        forge=ctx.forge)
    if contact:
        channel = f"reports go to {contact}"
    elif ctx.forge == "github":
        channel = ("reports go through GitHub's private vulnerability reporting, which must be "
                   "enabled in the repository settings (Security > Private vulnerability "
                   "reporting); set the contact option to name another channel")
    else:
        channel = ("reports go into confidential issues, which only the reporter and project "
                   "members can see; set the contact option to name another channel")
    notes = [f"adds {SECURITY_MD}: {channel}",
             "review the supported-versions section: it says only the latest release is "
             "supported"]
    return proposal(f"Add a security policy ({SECURITY_MD})",
                    [create_file(SECURITY_MD, text)], notes)
