"""Pure payout rules: numbering (INV-NUMBER), the state machine (INV-STATE), verdicts."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.payouts.domain import (
    TERMINAL,
    TRANSITIONS,
    PayoutState,
    Verdict,
    bill_number,
    check_transition,
    next_attempt,
    state_after,
)
from jinli.payouts.errors import IllegalPayoutTransition, NumberNotReissuable


@given(st.uuids(), st.integers(0, 99))
def test_bill_numbers_fit_both_apis_and_are_stable(payout_id: uuid.UUID, attempt: int) -> None:
    """≤ 28 characters of [0-9A-Z] (mch_billno and out_bill_no), the same on every call."""
    number = bill_number(payout_id, attempt)
    assert re.fullmatch(r"[0-9A-Z]{25}(R[0-9]{1,2})?", number)
    assert len(number) <= 28
    assert number == bill_number(payout_id, attempt)


@given(st.uuids(), st.uuids())
def test_distinct_payouts_never_share_a_number(a: uuid.UUID, b: uuid.UUID) -> None:
    if a != b:
        assert bill_number(a, 0) != bill_number(b, 0)
    assert bill_number(a, 0) != bill_number(a, 1)


@pytest.mark.parametrize("state", [s for s in PayoutState if s != PayoutState.failed])
def test_a_new_number_needs_a_confirmed_failure(state: PayoutState) -> None:
    with pytest.raises(NumberNotReissuable):
        next_attempt(state, 0)
    assert next_attempt(PayoutState.failed, 0) == 1


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("verdict", list(Verdict))
def test_terminal_states_never_change(terminal: PayoutState, verdict: Verdict) -> None:
    assert state_after(terminal, verdict, may_have_landed=True) == terminal
    assert TRANSITIONS[terminal] == frozenset()


def test_every_illegal_move_is_refused() -> None:
    for source in PayoutState:
        for target in PayoutState:
            if target == source or target in TRANSITIONS[source]:
                check_transition(source, target)
            else:
                with pytest.raises(IllegalPayoutTransition):
                    check_transition(source, target)


EXPECTED = {
    # verdict: (first call, after an unanswered call)
    Verdict.accepted: (PayoutState.accepted, PayoutState.accepted),
    Verdict.awaiting_user: (PayoutState.awaiting_user, PayoutState.awaiting_user),
    Verdict.succeeded: (PayoutState.succeeded, PayoutState.succeeded),
    Verdict.unknown: (PayoutState.unknown, PayoutState.unknown),
    Verdict.retry_later: (PayoutState.pending, PayoutState.unknown),
    Verdict.rejected: (PayoutState.failed, PayoutState.unknown),
    Verdict.failed: (PayoutState.failed, PayoutState.failed),
}


@pytest.mark.parametrize("verdict", list(Verdict))
def test_unknown_is_not_failed(verdict: Verdict) -> None:
    """I3: once a call went unanswered, a refusal of a later call settles nothing."""
    fresh, landed = EXPECTED[verdict]
    assert state_after(PayoutState.sending, verdict, may_have_landed=False) == fresh
    assert state_after(PayoutState.sending, verdict, may_have_landed=True) == landed
    check_transition(PayoutState.sending, fresh)


def test_review_is_for_undecided_outcomes_only() -> None:
    assert (
        state_after(PayoutState.sending, Verdict.unknown, may_have_landed=True, review=True)
        == PayoutState.review
    )
    assert (
        state_after(PayoutState.review, Verdict.succeeded, may_have_landed=True, review=True)
        == PayoutState.succeeded
    )
