"""What a WeChat Pay answer means for Jinli: the one decision table shared by the client, the
payout worker and the simulator (reliability.md §1.2, wechat-pay.md §2.5 and §3.5).

Pure: no I/O, no clock, no httpx. Every function maps WeChat's wire values (HTTP status, v3
``code``, v2 ``err_code``, order states) to an :class:`Outcome`. Anything not in a table is
``UNKNOWN``: a new code or state must never be read as a failure, because a payout whose result
is unknown is retried with the **same** number and settled by query (invariant I3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Outcome(StrEnum):
    """The meaning of one WeChat answer for the order (or request) it is about."""

    ACCEPTED = "accepted"
    """WeChat has the order and it is not final yet (ACCEPTED, WAIT_USER_CONFIRM, SENT…).
    Record it and wait for a terminal state by callback or query."""
    SUCCEEDED = "succeeded"
    """Terminal: the money reached the user (transfer SUCCESS, red packet RECEIVED…)."""
    UNKNOWN = "unknown"
    """Nobody knows whether the money moved: timeout, connection error, HTTP 5xx,
    SYSTEM_ERROR/SYSTEMERROR, NOT_FOUND on query, an unparseable or badly signed reply, an
    unknown code or state. Retry with the SAME number (with back-off) or query; never issue a
    new number."""
    RETRY_LATER = "retry_later"
    """Definitely not done now, and safe to retry with the SAME number later: rate limited
    (FREQUENCY_LIMITED/FREQ_LIMIT, 429) or the merchant balance is short (NOT_ENOUGH/NOTENOUGH,
    alert finance)."""
    REJECTED = "rejected"
    """The request was refused and nothing was sent (PARAM_ERROR, INVALID_REQUEST, per-user
    limits…): terminal for this request, reason recorded. Only definite for the FIRST attempt
    of a number: after an earlier UNKNOWN attempt of the same number, settle by query, because
    that earlier attempt may have landed."""
    FAILED = "failed"
    """Terminal and confirmed by WeChat: this number will never pay (transfer FAIL/CANCELLED,
    red packet FAILED, v2 SEND_FAILED). Only now may a reissue use a new, derived number."""
    REFUNDED = "refunded"
    """Terminal: a red packet was sent but not opened in time and its money went back to the
    merchant balance (gethbinfo REFUND). Reissuable with a new number, like FAILED; the
    fund-flow bill shows both the expense and the refund."""

    @property
    def is_terminal(self) -> bool:
        """True when this number's fate is settled (no further query can change it)."""
        return self in _TERMINAL

    @property
    def retry_same_number(self) -> bool:
        """True when the right next step is to call again with the same number (or query)."""
        return self in (Outcome.UNKNOWN, Outcome.RETRY_LATER)


_TERMINAL = frozenset({Outcome.SUCCEEDED, Outcome.REJECTED, Outcome.FAILED, Outcome.REFUNDED})


@dataclass(frozen=True, slots=True)
class CodeRule:
    """How one WeChat error code is handled."""

    outcome: Outcome
    http_status: int | None
    """The HTTP status WeChat answers with (v3); ``None`` for v2, which always answers 200."""
    meaning: str
    alert: bool = False
    """A human should look: configuration, balance, or a bug on our side."""


def _table(rules: dict[str, CodeRule]) -> Mapping[str, CodeRule]:
    return MappingProxyType(rules)


V3_ERROR_CODES: Mapping[str, CodeRule] = _table(
    {
        "PARAM_ERROR": CodeRule(Outcome.REJECTED, 400, "request parameters are invalid"),
        "INVALID_REQUEST": CodeRule(
            Outcome.REJECTED, 400, "request refused by a business rule (limits, scene, IP…)"
        ),
        "SIGN_ERROR": CodeRule(
            Outcome.REJECTED, 401, "WeChat could not verify our signature", True
        ),
        "NO_AUTH": CodeRule(Outcome.REJECTED, 403, "no permission for this API", True),
        "NOT_ENOUGH": CodeRule(
            Outcome.RETRY_LATER, 403, "merchant balance too low; same number after top-up", True
        ),
        "NOT_FOUND": CodeRule(Outcome.UNKNOWN, 404, "no such order (yet): query again later"),
        "RESOURCE_NOT_EXISTS": CodeRule(Outcome.UNKNOWN, 404, "no such resource (yet)"),
        "FREQUENCY_LIMITED": CodeRule(Outcome.RETRY_LATER, 429, "rate limited; same number later"),
        "SYSTEM_ERROR": CodeRule(Outcome.UNKNOWN, 500, "WeChat system error; same number again"),
        "NO_STATEMENT_EXIST": CodeRule(Outcome.REJECTED, 400, "no bill for that day; do not retry"),
        "STATEMENT_CREATING": CodeRule(
            Outcome.RETRY_LATER, 400, "the bill is being generated; retry in 30 min"
        ),
    }
)
"""API v3 error codes (wechat-pay.md §3.5 and §7) with their HTTP status and outcome."""

V2_REDPACK_ERR_CODES: Mapping[str, CodeRule] = _table(
    {
        "SYSTEMERROR": CodeRule(Outcome.UNKNOWN, None, "system busy; same mch_billno, mandatory"),
        "PROCESSING": CodeRule(Outcome.UNKNOWN, None, "accepted, outcome pending; query"),
        "NOT_FOUND": CodeRule(Outcome.UNKNOWN, None, "query found nothing (yet); never 'failed'"),
        "FATAL_ERROR": CodeRule(
            Outcome.UNKNOWN, None, "mch_billno reused with other parameters: a bug; query", True
        ),
        "FREQ_LIMIT": CodeRule(Outcome.RETRY_LATER, None, "rate limited; same number later"),
        "NOTENOUGH": CodeRule(
            Outcome.RETRY_LATER, None, "balance too low; same number after top-up", True
        ),
        "SENDAMOUNT_LIMIT": CodeRule(
            Outcome.RETRY_LATER, None, "merchant daily amount cap; same number tomorrow", True
        ),
        "SENDNUM_LIMIT": CodeRule(Outcome.REJECTED, None, "user's daily packet count reached"),
        "RCVDAMOUNT_LIMIT": CodeRule(Outcome.REJECTED, None, "user's daily amount reached"),
        "MONEY_LIMIT": CodeRule(Outcome.REJECTED, None, "amount outside the allowed range"),
        "PARAM_ERROR": CodeRule(Outcome.REJECTED, None, "request parameters are invalid"),
        "XML_ERROR": CodeRule(Outcome.REJECTED, None, "request XML is invalid", True),
        "SIGN_ERROR": CodeRule(Outcome.REJECTED, None, "signature does not match", True),
        "CA_ERROR": CodeRule(Outcome.REJECTED, None, "client certificate missing or wrong", True),
        "ILLEGAL_APPID": CodeRule(Outcome.REJECTED, None, "appid not allowed", True),
        "OPENID_ERROR": CodeRule(Outcome.REJECTED, None, "openid does not belong to the appid"),
        "MSGAPPID_ERROR": CodeRule(Outcome.REJECTED, None, "msgappid invalid", True),
        "ACCEPTMODE_ERROR": CodeRule(Outcome.REJECTED, None, "service-provider mode error", True),
        "API_METHOD_CLOSED": CodeRule(Outcome.REJECTED, None, "API closed for this merchant", True),
        "NO_AUTH": CodeRule(Outcome.REJECTED, None, "no permission / blocked by risk control"),
        "PAYER_ACCOUNT_ABNORMAL": CodeRule(
            Outcome.REJECTED, None, "merchant account abnormal", True
        ),
        "SEND_FAILED": CodeRule(
            Outcome.FAILED, None, "this order failed for good: the only code allowing a new number"
        ),
    }
)
"""v2 cash red packet ``err_code`` values (wechat-pay.md §2.5) with their outcome."""

TRANSFER_BILL_STATES: Mapping[str, Outcome] = MappingProxyType(
    {
        "ACCEPTED": Outcome.ACCEPTED,
        "PROCESSING": Outcome.ACCEPTED,
        "WAIT_USER_CONFIRM": Outcome.ACCEPTED,
        "TRANSFERING": Outcome.ACCEPTED,
        "CANCELING": Outcome.ACCEPTED,
        "SUCCESS": Outcome.SUCCEEDED,
        "FAIL": Outcome.FAILED,
        "CANCELLED": Outcome.FAILED,
    }
)
"""v3 transfer-bills ``state`` (wechat-pay.md §4.1)."""

REDPACK_STATUSES: Mapping[str, Outcome] = MappingProxyType(
    {
        "SENDING": Outcome.ACCEPTED,
        "SENT": Outcome.ACCEPTED,
        "RFUND_ING": Outcome.ACCEPTED,
        "RECEIVED": Outcome.SUCCEEDED,
        "FAILED": Outcome.FAILED,
        "REFUND": Outcome.REFUNDED,
    }
)
"""v2 ``gethbinfo`` ``status`` (wechat-pay.md §2.4). ``RFUND_ING`` is WeChat's spelling."""

BRAND_DETAIL_STATES: Mapping[str, Outcome] = MappingProxyType(
    {
        "DETAIL_INIT": Outcome.ACCEPTED,
        "DETAIL_WAIT_PAY": Outcome.ACCEPTED,
        "DETAIL_PROCESSING": Outcome.ACCEPTED,
        "DETAIL_SUCCESS": Outcome.SUCCEEDED,
        "DETAIL_FAIL": Outcome.FAILED,
    }
)
"""v3 brand red packet ``detail_state`` (wechat-pay.md §5): one payout per detail."""

BRAND_BATCH_FINAL_STATES = frozenset({"FINISHED", "CLOSED"})
"""Batch states after which every detail state is final. A batch state says nothing about an
individual payout (a FINISHED batch may hold failed details), so it has no Outcome."""


def classify_v3(http_status: int | None, code: str | None) -> Outcome:
    """Classify a v3 call from its HTTP status and error ``code``.

    No reply at all (``http_status is None``) and any 5xx are UNKNOWN whatever the code says;
    2xx is ACCEPTED (refine with the state classifiers); otherwise the code decides, a 429 with
    an unknown code is RETRY_LATER, and any other unknown code is UNKNOWN.
    """
    if http_status is None or http_status >= 500:
        return Outcome.UNKNOWN
    if 200 <= http_status < 300:
        return Outcome.ACCEPTED
    rule = V3_ERROR_CODES.get(code) if code else None
    if rule is not None:
        return rule.outcome
    if http_status == 429:
        return Outcome.RETRY_LATER
    return Outcome.UNKNOWN


def classify_v2_redpack(
    return_code: str | None, result_code: str | None, err_code: str | None
) -> Outcome:
    """Classify a v2 red-packet reply (``sendredpack``/``gethbinfo``).

    ``err_code`` decides whenever present, whatever ``return_code`` says: real business-failure
    replies come with ``return_code=FAIL`` too (e.g. NOTENOUGH). An unknown ``err_code`` is
    UNKNOWN. Without an ``err_code``, only ``return_code=SUCCESS`` and ``result_code=SUCCESS``
    is ACCEPTED; anything else is UNKNOWN, because ``return_msg`` is human text and must not be
    automated on.
    """
    if err_code and err_code != "SUCCESS":
        rule = V2_REDPACK_ERR_CODES.get(err_code)
        return rule.outcome if rule is not None else Outcome.UNKNOWN
    if return_code == "SUCCESS" and result_code == "SUCCESS":
        return Outcome.ACCEPTED
    return Outcome.UNKNOWN


def _state(table: Mapping[str, Outcome], state: str | None) -> Outcome:
    if state is None:
        return Outcome.UNKNOWN
    return table.get(state, Outcome.UNKNOWN)


def classify_transfer_state(state: str | None) -> Outcome:
    """Outcome of a transfer bill in ``state``; an unknown state is UNKNOWN."""
    return _state(TRANSFER_BILL_STATES, state)


def classify_redpack_status(status: str | None) -> Outcome:
    """Outcome of a v2 red packet whose ``gethbinfo`` status is ``status``."""
    return _state(REDPACK_STATUSES, status)


def classify_brand_detail_state(state: str | None) -> Outcome:
    """Outcome of one brand red packet detail in ``state``."""
    return _state(BRAND_DETAIL_STATES, state)


def needs_alert(code: str | None) -> bool:
    """True when a v3 ``code`` or v2 ``err_code`` calls for a human (configuration, balance,
    bug). Unknown codes are alerts too: they end in the human queue if retries do not settle."""
    if not code:
        return False
    rule = V3_ERROR_CODES.get(code) or V2_REDPACK_ERR_CODES.get(code)
    return rule.alert if rule is not None else True
