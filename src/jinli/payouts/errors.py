"""Errors of the payouts capability, with stable codes."""

from __future__ import annotations

from jinli.kernel.errors import ErrorKind, JinliError


class IllegalPayoutTransition(JinliError):
    code = "illegal_payout_transition"
    kind = ErrorKind.CONFLICT
    title = "The payout's state does not allow this"


class NumberNotReissuable(JinliError):
    code = "payout_number_not_reissuable"
    kind = ErrorKind.CONFLICT
    title = "A new WeChat Pay number needs a confirmed failure of the previous one"


class PayoutNotFound(JinliError):
    code = "payout_not_found"
    kind = ErrorKind.NOT_FOUND
    title = "No such payout"


class ReissueNotAllowed(JinliError):
    code = "payout_reissue_not_allowed"
    kind = ErrorKind.CONFLICT
    title = "Only a failed or refunded payout that was not reissued yet can be reissued"


class CallbackRejected(JinliError):
    code = "payout_callback_rejected"
    kind = ErrorKind.INVALID
    title = "The WeChat Pay notification does not match any payout or its amount"
