"""Remediation: turn fixable findings into pull requests, merge requests or local branches."""
