"""Thin command-line entry points; the only place (with the estimator) that knows Hydra and Lightning both."""
from __future__ import annotations

import re


def plain(doc: str | None) -> str:
    """A module docstring as ``--help`` prints it: reStructuredText's double backticks and roles
    (``:func:`x```) dropped, the text otherwise as written."""
    return re.sub(r":[a-z]+:`([^`]*)`", r"\1", (doc or "").replace("``", ""))
