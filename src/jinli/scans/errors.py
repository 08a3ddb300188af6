"""Errors of scan-to-win (M3), with stable codes. The H5 page picks a friendly page by code."""

from __future__ import annotations

from jinli.kernel.errors import ErrorKind, JinliError


class GuessThrottled(JinliError):
    code = "scan_throttled"
    kind = ErrorKind.TOO_MANY
    title = "Too many invalid codes from this client; try again later"


class ScanRefused(JinliError):
    """A genuine code that cannot pay now; ``reason`` says why (the ``scan.refused`` event)."""

    code = "scan_refused"
    kind = ErrorKind.CONFLICT
    title = "This code cannot be claimed now"
    reason = ""


class CodeInactive(ScanRefused):
    code = "scan_code_inactive"
    title = "This code's batch has not shipped yet, or was withdrawn"
    reason = "inactive"


class CampaignNotLive(ScanRefused):
    code = "scan_campaign_not_live"
    title = "The campaign is not running (not started yet, paused or ended)"
    reason = "not_live"


class PrizesExhausted(ScanRefused):
    code = "scan_prizes_exhausted"
    title = "The campaign's prize money has run out"
    reason = "budget_exhausted"


class ClaimsThrottled(ScanRefused):
    code = "scan_claims_throttled"
    kind = ErrorKind.TOO_MANY
    title = "This WeChat account claimed too many codes today"
    reason = "throttled"


class ScanRuleUnusable(JinliError):
    code = "scan_rule_unusable"
    kind = ErrorKind.UNAVAILABLE
    title = "The campaign's reward rule cannot be used for a scan"


class PrizeNotFound(JinliError):
    code = "scan_prize_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such prize for this WeChat account"
