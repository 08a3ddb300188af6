"""Errors of the campaigns capability, with stable codes."""

from __future__ import annotations

from jinli.kernel.errors import ErrorKind, JinliError


class CampaignNotFound(JinliError):
    code = "campaign_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such campaign"


class IllegalTransition(JinliError):
    code = "illegal_transition"
    kind = ErrorKind.CONFLICT
    title = "The campaign's status does not allow this action"


class InvalidWindow(JinliError):
    code = "invalid_window"
    kind = ErrorKind.INVALID
    title = "The campaign's time window is not valid"


class InvalidRewardRule(JinliError):
    code = "invalid_reward_rule"
    kind = ErrorKind.INVALID
    title = "The reward rule is not valid"


class FieldLocked(JinliError):
    code = "campaign_field_locked"
    kind = ErrorKind.CONFLICT
    title = "This field can no longer be changed in the campaign's current status"


class NotPublishable(JinliError):
    code = "campaign_not_publishable"
    kind = ErrorKind.CONFLICT
    title = "The campaign is not ready to be published"


class NotSettleable(JinliError):
    code = "campaign_not_settleable"
    kind = ErrorKind.CONFLICT
    title = "The campaign still has money in flight and cannot be settled"


class ChannelNotFound(JinliError):
    code = "channel_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such channel"


class ChannelCodeTaken(JinliError):
    code = "channel_code_taken"
    kind = ErrorKind.CONFLICT
    title = "This campaign already has a channel with this code"


class InvalidChannelCode(JinliError):
    code = "invalid_channel_code"
    kind = ErrorKind.INVALID
    title = "Channel codes are 2–32 lower-case letters, digits, '-' or '_'"


class StaleEdit(JinliError):
    code = "stale_edit"
    kind = ErrorKind.CONFLICT
    title = "Someone else changed the campaign meanwhile; reload and try again"


class InvalidPayoutPolicy(JinliError):
    code = "invalid_payout_policy"
    kind = ErrorKind.INVALID
    title = "The campaign's payout options are not valid"


class NotReconciled(JinliError):
    """Settling closes the books for good, so it waits until WeChat's bills agree with ours."""

    code = "campaign_not_reconciled"
    kind = ErrorKind.CONFLICT
    title = "The campaign's payouts are not reconciled yet and it cannot be settled"

    def __init__(self, blockers: list[str]) -> None:
        self.blockers = list(blockers)
        super().__init__(
            "settle after reconciling: " + "; ".join(self.blockers),
            errors=[{"type": "settlement_blocker", "msg": blocker} for blocker in self.blockers],
        )


class SettlementCheckUnavailable(JinliError):
    """No reconciliation check is wired into this process: settling is refused (fail closed)."""

    code = "settlement_check_unavailable"
    kind = ErrorKind.UNAVAILABLE
    title = "The reconciliation check is not available, so the campaign cannot be settled now"
