"""The shared decision table: every code and state in the reference, and the defaults.

Expected values are written out here independently of the tables in ``outcomes.py``, from
reliability.md §1.2 and wechat-pay.md §2.4, §2.5, §3.5, §4.1, §5 and §7.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from jinli.integrations.wechatpay.outcomes import (
    BRAND_DETAIL_STATES,
    REDPACK_STATUSES,
    TRANSFER_BILL_STATES,
    V2_REDPACK_ERR_CODES,
    V3_ERROR_CODES,
    Outcome,
    classify_brand_detail_state,
    classify_redpack_status,
    classify_transfer_state,
    classify_v2_redpack,
    classify_v3,
    needs_alert,
)

A, S, U, R, X, F, RF = (
    Outcome.ACCEPTED,
    Outcome.SUCCEEDED,
    Outcome.UNKNOWN,
    Outcome.RETRY_LATER,
    Outcome.REJECTED,
    Outcome.FAILED,
    Outcome.REFUNDED,
)

V3_CASES = [
    (400, "PARAM_ERROR", X),
    (400, "INVALID_REQUEST", X),
    (401, "SIGN_ERROR", X),
    (403, "NO_AUTH", X),
    (403, "NOT_ENOUGH", R),
    (404, "NOT_FOUND", U),
    (404, "RESOURCE_NOT_EXISTS", U),
    (429, "FREQUENCY_LIMITED", R),
    (500, "SYSTEM_ERROR", U),
    (400, "NO_STATEMENT_EXIST", X),
    (400, "STATEMENT_CREATING", R),
]


@pytest.mark.parametrize(("status", "code", "expected"), V3_CASES)
def test_v3_error_codes(status: int, code: str, expected: Outcome) -> None:
    """Each documented v3 error code maps to its outcome at its documented HTTP status."""
    assert classify_v3(status, code) is expected
    assert V3_ERROR_CODES[code].http_status == status


def test_v3_table_has_no_code_the_reference_lacks() -> None:
    """The table and this test list the same codes, so neither can drift silently."""
    assert set(V3_ERROR_CODES) == {code for _, code, _ in V3_CASES}


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (None, None, U),  # timeout / connection error: no reply at all
        (200, None, A),
        (204, None, A),
        (500, None, U),
        (502, None, U),
        (503, "PARAM_ERROR", U),  # 5xx is unknown whatever the body claims
        (400, None, U),  # unparseable error body
        (400, "SOMETHING_NEW", U),  # unknown code: never a failure
        (403, "SOMETHING_NEW", U),
        (429, None, R),
        (429, "SOMETHING_NEW", R),
    ],
)
def test_v3_defaults(status: int | None, code: str | None, expected: Outcome) -> None:
    """No reply, 5xx and unknown codes are UNKNOWN; 2xx is ACCEPTED; a bare 429 waits."""
    assert classify_v3(status, code) is expected


V2_CASES = [
    ("SYSTEMERROR", U),
    ("PROCESSING", U),
    ("NOT_FOUND", U),
    ("FATAL_ERROR", U),
    ("FREQ_LIMIT", R),
    ("NOTENOUGH", R),
    ("SENDAMOUNT_LIMIT", R),
    ("SENDNUM_LIMIT", X),
    ("RCVDAMOUNT_LIMIT", X),
    ("MONEY_LIMIT", X),
    ("PARAM_ERROR", X),
    ("XML_ERROR", X),
    ("SIGN_ERROR", X),
    ("CA_ERROR", X),
    ("ILLEGAL_APPID", X),
    ("OPENID_ERROR", X),
    ("MSGAPPID_ERROR", X),
    ("ACCEPTMODE_ERROR", X),
    ("API_METHOD_CLOSED", X),
    ("NO_AUTH", X),
    ("PAYER_ACCOUNT_ABNORMAL", X),
    ("SEND_FAILED", F),
]


@pytest.mark.parametrize(("err_code", "expected"), V2_CASES)
@pytest.mark.parametrize("return_code", ["SUCCESS", "FAIL"])
def test_v2_err_code_decides_whatever_return_code_says(
    err_code: str, expected: Outcome, return_code: str
) -> None:
    """The red-packet quirk: err_code decides even when return_code is FAIL."""
    assert classify_v2_redpack(return_code, "FAIL", err_code) is expected


def test_v2_table_has_no_code_the_reference_lacks() -> None:
    """The table and this test list the same err_codes."""
    assert set(V2_REDPACK_ERR_CODES) == {code for code, _ in V2_CASES}


def test_only_send_failed_allows_a_new_red_packet_number() -> None:
    """SEND_FAILED is the only v2 err_code that confirms failure (wechat-pay.md §2.5)."""
    assert [code for code, rule in V2_REDPACK_ERR_CODES.items() if rule.outcome is F] == [
        "SEND_FAILED"
    ]


@pytest.mark.parametrize(
    ("return_code", "result_code", "err_code", "expected"),
    [
        ("SUCCESS", "SUCCESS", None, A),
        ("SUCCESS", "SUCCESS", "SUCCESS", A),
        ("SUCCESS", "SUCCESS", "", A),
        ("SUCCESS", "FAIL", None, U),  # business failure without a code: not automatable
        ("FAIL", None, None, U),  # communication failure: return_msg is for humans
        (None, None, None, U),
        ("SUCCESS", "FAIL", "A_BRAND_NEW_CODE", U),
    ],
)
def test_v2_defaults(
    return_code: str | None, result_code: str | None, err_code: str | None, expected: Outcome
) -> None:
    """Only SUCCESS/SUCCESS is accepted; anything without a known err_code is UNKNOWN."""
    assert classify_v2_redpack(return_code, result_code, err_code) is expected


TRANSFER_CASES = [
    ("ACCEPTED", A),
    ("PROCESSING", A),
    ("WAIT_USER_CONFIRM", A),
    ("TRANSFERING", A),
    ("CANCELING", A),
    ("SUCCESS", S),
    ("FAIL", F),
    ("CANCELLED", F),
]


@pytest.mark.parametrize(("state", "expected"), TRANSFER_CASES)
def test_transfer_bill_states(state: str, expected: Outcome) -> None:
    """Transfer states: in flight is ACCEPTED, SUCCESS succeeded, FAIL/CANCELLED failed."""
    assert classify_transfer_state(state) is expected


REDPACK_CASES = [
    ("SENDING", A),
    ("SENT", A),
    ("RFUND_ING", A),
    ("RECEIVED", S),
    ("FAILED", F),
    ("REFUND", RF),
]


@pytest.mark.parametrize(("status", "expected"), REDPACK_CASES)
def test_red_packet_statuses(status: str, expected: Outcome) -> None:
    """gethbinfo statuses: RECEIVED paid, REFUND refunded, FAILED failed, others pending."""
    assert classify_redpack_status(status) is expected


BRAND_CASES = [
    ("DETAIL_INIT", A),
    ("DETAIL_WAIT_PAY", A),
    ("DETAIL_PROCESSING", A),
    ("DETAIL_SUCCESS", S),
    ("DETAIL_FAIL", F),
]


@pytest.mark.parametrize(("state", "expected"), BRAND_CASES)
def test_brand_detail_states(state: str, expected: Outcome) -> None:
    """Brand red packet detail states."""
    assert classify_brand_detail_state(state) is expected


def test_state_tables_match_the_test_lists() -> None:
    """The state tables contain exactly the states listed here."""
    assert set(TRANSFER_BILL_STATES) == {s for s, _ in TRANSFER_CASES}
    assert set(REDPACK_STATUSES) == {s for s, _ in REDPACK_CASES}
    assert set(BRAND_DETAIL_STATES) == {s for s, _ in BRAND_CASES}


@pytest.mark.parametrize(
    "classify", [classify_transfer_state, classify_redpack_status, classify_brand_detail_state]
)
@pytest.mark.parametrize("state", [None, "", "SOMETHING_NEW", "success"])
def test_unknown_states_are_unknown(
    classify: Callable[[str | None], Outcome], state: str | None
) -> None:
    """A state nobody documented (or a differently cased one) is UNKNOWN, never failed."""
    assert classify(state) is U


def test_terminal_and_retry_properties() -> None:
    """Terminal outcomes settle the number; UNKNOWN and RETRY_LATER reuse it."""
    assert {o for o in Outcome if o.is_terminal} == {S, X, F, RF}
    assert {o for o in Outcome if o.retry_same_number} == {U, R}


@pytest.mark.parametrize(
    ("code", "alert"),
    [
        ("NOT_ENOUGH", True),
        ("NOTENOUGH", True),
        ("FATAL_ERROR", True),
        ("CA_ERROR", True),
        ("SOMETHING_NEW", True),
        ("FREQUENCY_LIMITED", False),
        ("SYSTEM_ERROR", False),
        ("PARAM_ERROR", False),
        (None, False),
    ],
)
def test_alerts(code: str | None, alert: bool) -> None:
    """Balance, configuration, bugs and unknown codes call for a human."""
    assert needs_alert(code) is alert
