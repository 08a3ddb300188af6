"""Use cases of risk control."""

from __future__ import annotations

from jinli.risk.domain import CopyFinding, find_banned_wording


def check_copy(*texts: str) -> list[CopyFinding]:
    """Compliance check of campaign copy before publishing; empty means compliant."""
    return [finding for text in texts for finding in find_banned_wording(text)]
