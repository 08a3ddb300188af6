"""Which failed payouts may be paid again without a person (the automatic reissue policy)."""

from __future__ import annotations

import pytest

from jinli.payouts.domain import (
    AUTO_REISSUE_BLOCK_REASONS,
    MAX_ATTEMPT,
    AutoReissueBlock,
    auto_reissue_block,
    reissuable_failure,
)


@pytest.mark.parametrize(
    ("wechat_state", "fail_reason"),
    [
        ("REFUND", None),  # v2 cash red packet unopened for 24 h, refunded to the merchant
        ("FAIL", "OVERDUE_CLOSE"),  # transfer not confirmed within 24 h
        ("DETAIL_FAIL", "USER_RECEIVE_OVERDUE"),  # brand red packet not received in time
        ("DETAIL_FAIL", "OVERDUE_CLOSE"),
        ("SEND_FAILED", "SEND_FAILED"),  # v2: "send again under a new number"
    ],
)
def test_failures_for_lack_of_collection_are_reissuable(
    wechat_state: str, fail_reason: str | None
) -> None:
    """Nothing in these says the consumer cannot be paid: paying again is what WeChat expects."""
    assert reissuable_failure(wechat_state, fail_reason)


@pytest.mark.parametrize(
    ("wechat_state", "fail_reason"),
    [
        ("FAIL", "ACCOUNT_FROZEN"),
        ("FAIL", "ACCOUNT_NOT_EXIST"),
        ("FAIL", "OPENID_INVALID"),
        ("FAIL", "PAYEE_ACCOUNT_ABNORMAL"),
        ("FAIL", "NAME_NOT_CORRECT"),
        ("FAIL", "REAL_NAME_CHECK_FAIL"),
        ("FAIL", "TRANSFER_RISK"),
        ("FAIL", "DAY_RECEIVED_COUNT_EXCEED"),
        ("FAIL", "DAY_RECEIVED_QUOTA_EXCEED"),
        ("FAIL", "BLOCK_B2C_USERLIMITAMOUNT_MONTH"),
        ("FAIL", "PAYER_ACCOUNT_ABNORMAL"),
        ("FAIL", "TRANSFER_SCENE_INVALID"),
        ("FAIL", "BUDGET_NOT_ENOUGH"),
        ("FAIL", "OTHER_FAIL_REASON_TYPE"),
        ("CANCELLED", "MCH_CANCEL"),
        ("FAILED", "红包发放失败"),  # gethbinfo FAILED with a free-text reason
        ("DETAIL_FAIL", "OPENID_INVALID"),
        ("PARAM_ERROR", "PARAM_ERROR"),  # a request WeChat refused: it would refuse it again
        ("NO_AUTH", "NO_AUTH"),
        ("MONEY_LIMIT", "MONEY_LIMIT"),
        ("SENDNUM_LIMIT", "SENDNUM_LIMIT"),
        ("FAIL", "SOME_NEW_REASON"),
        (None, None),
    ],
)
def test_failures_about_the_consumer_or_the_request_are_left_for_finance(
    wechat_state: str | None, fail_reason: str | None
) -> None:
    """A blocked or invalid account, a real-name mismatch, risk control, per-user limits,
    the merchant's own setup, a cancelled transfer or anything unknown: a person decides."""
    assert not reissuable_failure(wechat_state, fail_reason)
    block = auto_reissue_block(
        wechat_state=wechat_state, fail_reason=fail_reason, auto_reissues_left=5, attempt=0
    )
    assert block == AutoReissueBlock.not_reissuable


def test_the_count_and_the_numbering_limit_stop_automatic_reissue() -> None:
    """No reissues left, or no further number to derive (…R99): left for finance."""
    refund = {"wechat_state": "REFUND", "fail_reason": None}
    assert auto_reissue_block(**refund, auto_reissues_left=1, attempt=0) is None
    assert auto_reissue_block(**refund, auto_reissues_left=1, attempt=MAX_ATTEMPT - 1) is None
    assert (
        auto_reissue_block(**refund, auto_reissues_left=0, attempt=0) == AutoReissueBlock.none_left
    )
    assert (
        auto_reissue_block(**refund, auto_reissues_left=3, attempt=MAX_ATTEMPT)
        == AutoReissueBlock.none_left
    )


def test_every_reason_has_words_for_finance() -> None:
    assert set(AUTO_REISSUE_BLOCK_REASONS) == set(AutoReissueBlock)
