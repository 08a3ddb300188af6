"""Pure rules of payouts: modes, the state machine, and the numbering rule INV-NUMBER."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from jinli.payouts.errors import IllegalPayoutTransition, NumberNotReissuable


class PayoutMode(StrEnum):
    transfer = "transfer"
    """v3 merchant transfer (商家转账, transfer-bills): the user confirms receipt; FAIL after
    24 h unconfirmed."""
    brand_red_packet = "brand_red_packet"
    """v3 brand red packet (品牌红包): paid straight to the balance, branded notification."""
    red_packet = "red_packet"
    """v2 cash red packet (现金红包, sendredpack): must be opened within 24 h, else refunded."""


class PayoutState(StrEnum):
    pending = "pending"
    """Created with its budget hold, in the same transaction as its cause; not yet sent."""
    sending = "sending"
    """A worker holds it and is calling WeChat Pay (with a lease: a dead worker's claim
    expires and the payout is treated as unknown)."""
    unknown = "unknown"
    """WeChat gave no definite answer (timeout, SYSTEMERROR, 5xx, unparseable, unknown code,
    NOT_FOUND shortly after sending). Retry or query with the SAME number; never a new one."""
    accepted = "accepted"
    """WeChat accepted it and is processing (ACCEPTED, PROCESSING, SENDING, TRANSFERING)."""
    awaiting_user = "awaiting_user"
    """Waiting for the consumer: a transfer to confirm (WAIT_USER_CONFIRM) or a red packet to
    open (SENT). Ends in success, or in failure/refund after 24 h."""
    succeeded = "succeeded"
    """Money reached the consumer (SUCCESS, RECEIVED, DETAIL_SUCCESS); the hold is posted."""
    failed = "failed"
    """Confirmed not paid (FAIL, FAILED, CANCELLED, SEND_FAILED, definite rejection) or paid
    back (REFUND); the hold is voided and the reward can be reissued under a new number."""
    review = "review"
    """Retries exhausted or an outcome no rule covers: a person decides (the human queue)."""


S = PayoutState
TERMINAL = frozenset({S.succeeded, S.failed})

TRANSITIONS: dict[PayoutState, frozenset[PayoutState]] = {
    S.pending: frozenset({S.sending}),
    S.sending: frozenset(
        {S.accepted, S.awaiting_user, S.succeeded, S.failed, S.unknown, S.pending, S.review}
    ),
    S.unknown: frozenset({S.sending, S.accepted, S.awaiting_user, S.succeeded, S.failed, S.review}),
    S.accepted: frozenset({S.awaiting_user, S.succeeded, S.failed, S.unknown, S.review}),
    S.awaiting_user: frozenset({S.accepted, S.succeeded, S.failed, S.unknown, S.review}),
    S.review: frozenset({S.sending, S.accepted, S.awaiting_user, S.unknown, S.succeeded, S.failed}),
    S.succeeded: frozenset(),
    S.failed: frozenset(),
}
"""Every legal move. ``sending → pending`` is a clean give-back (rate limited, not sent);
terminal states never change (INV-STATE)."""


ACKNOWLEDGED = frozenset({S.accepted, S.awaiting_user, S.review})
"""States in which WeChat has acknowledged the number: only queries are made for them."""


def check_transition(current: PayoutState, target: PayoutState) -> None:
    if target != current and target not in TRANSITIONS[current]:
        raise IllegalPayoutTransition(f"payout cannot go from {current} to {target}")


MAX_ATTEMPT = 99
"""The highest attempt ``bill_number`` can number (``…R99``)."""


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _base36(value: int) -> str:
    digits = []
    while value:
        value, rest = divmod(value, 36)
        digits.append(_ALPHABET[rest])
    return "".join(reversed(digits)) or "0"


def bill_number(payout_id: uuid.UUID, attempt: int) -> str:
    """The WeChat Pay number of a payout attempt, derived from its id and never regenerated.

    25 base-36 characters of the id plus ``R<attempt>`` for reissues: at most 28 characters of
    [0-9A-Z], valid as both ``mch_billno`` (≤ 28) and ``out_bill_no`` (≤ 32). Attempt 0 has no
    suffix. Retries of one attempt always use the same number (I3).
    """
    if not 0 <= attempt <= MAX_ATTEMPT:
        raise ValueError(f"attempt must be between 0 and {MAX_ATTEMPT}")
    base = _base36(payout_id.int).rjust(25, "0")
    return base if attempt == 0 else f"{base}R{attempt}"


def next_attempt(state: PayoutState, attempt: int) -> int:
    """INV-NUMBER: a new number exists only after the current one is confirmed failed."""
    if state != PayoutState.failed:
        raise NumberNotReissuable(f"payout is {state}; only a confirmed failure is reissued")
    return attempt + 1


REISSUABLE_WECHAT_STATES = frozenset({"REFUND"})
"""WeChat states after which paying the same person again is safe and expected: a cash red
packet nobody opened within 24 h was refunded to the merchant (gethbinfo ``REFUND``)."""

REISSUABLE_FAIL_REASONS = frozenset({"OVERDUE_CLOSE", "USER_RECEIVE_OVERDUE", "SEND_FAILED"})
"""Failure reasons that say nothing against the consumer (wechat-pay.md §2.5, §4.1, §5): a
transfer unconfirmed for 24 h (``OVERDUE_CLOSE``), a brand red packet not received in time
(``USER_RECEIVE_OVERDUE``), and v2 ``SEND_FAILED``, the one code WeChat answers with "send again
under a new number".

Everything else is left for a person: the account is frozen, missing, abnormal or its openid
invalid (``ACCOUNT_FROZEN``, ``ACCOUNT_NOT_EXIST``, ``PAYEE_ACCOUNT_ABNORMAL``,
``OPENID_INVALID``), the real name does not match (``NAME_NOT_CORRECT``,
``REAL_NAME_CHECK_FAIL``), risk control refused (``TRANSFER_RISK``), a per-user daily or monthly
limit was hit (``DAY_RECEIVED_*``, ``BLOCK_B2C_USERLIMITAMOUNT_MONTH``: an immediate retry fails
again), the merchant's own setup or balance is at fault (``PAYER_ACCOUNT_ABNORMAL``,
``TRANSFER_SCENE_*``, ``BUDGET_NOT_ENOUGH``, ``TRANSFER_QUOTA_EXCEED``), the merchant cancelled
it (``MCH_CANCEL``: someone decided), a request WeChat refused (``PARAM_ERROR``, ``NO_AUTH``,
``MONEY_LIMIT``…: the same request would be refused again), and any reason we do not know."""


def reissuable_failure(wechat_state: str | None, fail_reason: str | None) -> bool:
    """True when a failed payout may be paid again to the same person without a human look:
    WeChat confirmed it failed for lack of collection, not because of who the consumer is."""
    return wechat_state in REISSUABLE_WECHAT_STATES or fail_reason in REISSUABLE_FAIL_REASONS


class AutoReissueBlock(StrEnum):
    """Why a failed payout under an automatic reissue policy was left for finance."""

    not_reissuable = "not_reissuable"
    """WeChat's reason is not one that is safe to retry to the same person (see
    ``REISSUABLE_FAIL_REASONS``): finance decides."""
    none_left = "none_left"
    """The payout has used up its automatic reissues."""
    budget_exhausted = "budget_exhausted"
    """The campaign's budget no longer has the amount available."""
    campaign_settled = "campaign_settled"
    """The campaign's books are closed: nothing more is paid from it."""


AUTO_REISSUE_BLOCK_REASONS: dict[AutoReissueBlock, str] = {
    AutoReissueBlock.not_reissuable: "WeChat's failure reason is not safe to retry automatically",
    AutoReissueBlock.none_left: "no automatic reissues left for this payout",
    AutoReissueBlock.budget_exhausted: "the campaign budget no longer has this amount available",
    AutoReissueBlock.campaign_settled: "the campaign is settled",
}
"""The reasons as finance reads them (the console translates them)."""


def auto_reissue_block(
    *,
    wechat_state: str | None,
    fail_reason: str | None,
    auto_reissues_left: int,
    attempt: int,
) -> AutoReissueBlock | None:
    """Whether a failed payout under an automatic policy may be reissued now, judged on the
    payout alone (the budget and the campaign are checked by the service)."""
    if not reissuable_failure(wechat_state, fail_reason):
        return AutoReissueBlock.not_reissuable
    if auto_reissues_left <= 0 or attempt >= MAX_ATTEMPT:
        return AutoReissueBlock.none_left
    return None


class Verdict(StrEnum):
    """What one WeChat answer means for a payout (the gateway maps WeChat's words to these)."""

    accepted = "accepted"
    awaiting_user = "awaiting_user"
    succeeded = "succeeded"
    unknown = "unknown"
    retry_later = "retry_later"
    rejected = "rejected"
    failed = "failed"


def state_after(
    current: PayoutState, verdict: Verdict, *, may_have_landed: bool, review: bool = False
) -> PayoutState:
    """The payout's next state after a WeChat answer.

    ``may_have_landed`` is true once any earlier call with this number went unanswered: then a
    "rejected" or "rate limited" reply to a later call proves nothing about the first one, and
    only a query may settle the payout (I3). ``review`` sends it to the human queue (an error
    code no rule covers, or retries exhausted).
    """
    if current in TERMINAL:
        return current  # INV-STATE: a duplicate or late answer never reopens a payout
    if review and verdict not in (Verdict.succeeded, Verdict.failed):
        return PayoutState.review
    if current in ACKNOWLEDGED and verdict in (Verdict.rejected, Verdict.retry_later):
        # WeChat already holds this number: a rate-limited or refused *query* says nothing
        # about the payout (never "not sent", never "failed"); ask again later.
        return current
    match verdict:
        case Verdict.succeeded:
            return PayoutState.succeeded
        case Verdict.failed:
            return PayoutState.failed
        case Verdict.accepted:
            return PayoutState.accepted
        case Verdict.awaiting_user:
            return PayoutState.awaiting_user
        case Verdict.rejected:
            return PayoutState.unknown if may_have_landed else PayoutState.failed
        case Verdict.retry_later:
            return PayoutState.unknown if may_have_landed else PayoutState.pending
        case _:
            return PayoutState.unknown


def retry_delay_seconds(tries: int) -> int:
    """Back-off between calls with the same number: 5 s, 10 s, 20 s … capped at 10 minutes."""
    return int(min(600, 5 * 2 ** max(0, tries - 1)))


MAX_UNKNOWN_TRIES = 12
"""After this many unanswered calls (≈ 1 hour of back-off) a person looks at the payout."""


@dataclass(frozen=True, slots=True)
class PayoutRecord:
    """A read-only view of one payout, for reconciliation and reports."""

    payout_id: uuid.UUID
    brand_id: uuid.UUID
    campaign_id: uuid.UUID
    bill_number: str
    mode: PayoutMode
    state: PayoutState
    amount_fen: int
    openid: str
    attempt: int
    created_at: datetime
    finished_at: datetime | None
    wechat_no: str | None
    fail_reason: str | None
