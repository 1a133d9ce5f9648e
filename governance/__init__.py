"""governance: organization-wide repository governance scanner."""

__version__ = "0.1.0"
