"""Pure reconciliation rules: the footprint table, payout rows, days, and the classification of
one number's evidence into differences (table-driven)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.integrations.simulator.book import BUSINESS_NAMES, RETURN_NAMES
from jinli.payouts.domain import PayoutMode, PayoutState, bill_number
from jinli.reconciliation.domain import (
    FOOTPRINTS,
    PAYOUT_BUSINESS_NAMES,
    Closure,
    DifferenceClass,
    Evidence,
    LifetimeRule,
    Movements,
    PayoutFacts,
    beijing_day,
    classify,
    closure,
    day_bounds,
    history_complete,
    is_payout_row,
    month_bounds,
    needs_carry,
    previous_day,
    totals,
)

S = PayoutState
C = DifferenceClass
DAY = date(2026, 11, 23)


def test_every_mode_and_state_has_a_footprint() -> None:
    """The table covers every (mode, state); the rule depends on the state as documented."""
    assert set(FOOTPRINTS) == {(m, s) for m in PayoutMode for s in PayoutState}
    expected = {
        S.pending: LifetimeRule.no_rows,
        S.succeeded: LifetimeRule.paid,
        S.failed: LifetimeRule.net_zero,
    }
    for (_, state), footprint in FOOTPRINTS.items():
        assert footprint.rule == expected.get(state, LifetimeRule.not_judged)
        assert footprint.expense
        assert footprint.income


def test_the_simulators_payout_rows_are_recognised() -> None:
    """Every 业务名称 the simulator writes for a payout or a return is a payout row."""
    for name, _ in [*BUSINESS_NAMES.values(), *RETURN_NAMES.values()]:
        assert name in PAYOUT_BUSINESS_NAMES
        assert is_payout_row(name, "")


@given(st.uuids(), st.integers(0, 99))
def test_our_numbers_are_payout_rows_whatever_the_business_name(
    payout_id: uuid.UUID, attempt: int
) -> None:
    """A row carrying one of our numbers is a payout row even under an unknown 业务名称."""
    assert is_payout_row("未知业务", bill_number(payout_id, attempt))


@pytest.mark.parametrize(
    ("name", "voucher"),
    [
        ("充值", ""),
        ("手续费", "FEE20261123"),
        ("退款", "REF4200000068201801293084726067"),
        ("交易", "0000000000000000000000abc"),  # lower case is not our alphabet
    ],
)
def test_other_rows_are_not_payout_rows(name: str, voucher: str) -> None:
    """Top-ups, fees and trade refunds are never matched against payouts."""
    assert not is_payout_row(name, voucher)


def test_day_bounds_are_beijing_midnights() -> None:
    """A Beijing day starts at 16:00 UTC the day before."""
    start, end = day_bounds(DAY)
    assert start == datetime(2026, 11, 22, 16, tzinfo=UTC)
    assert end - start == timedelta(days=1)
    assert beijing_day(start) == DAY
    assert beijing_day(end - timedelta(microseconds=1)) == DAY
    assert previous_day(end + timedelta(hours=2)) == DAY


@pytest.mark.parametrize(
    ("finished", "expected"),
    [
        (None, Closure.open),
        (datetime(2026, 11, 22, 15, 59, 59, tzinfo=UTC), Closure.before),
        (datetime(2026, 11, 22, 16, 0, tzinfo=UTC), Closure.today),
        (datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC), Closure.today),
        (datetime(2026, 11, 23, 16, 0, tzinfo=UTC), Closure.open),
    ],
)
def test_closure_relative_to_the_bill_day(finished: datetime | None, expected: Closure) -> None:
    """Closed before, during, or after the Beijing day (boundaries are half-open)."""
    assert closure(finished, DAY) == expected


def test_history_needs_a_run_for_every_day_since_creation() -> None:
    """A payout created three days ago needs runs of the three days before the bill day."""
    runs = frozenset({DAY - timedelta(days=3), DAY - timedelta(days=1)})
    assert history_complete(DAY, DAY, frozenset())
    assert history_complete(DAY - timedelta(days=1), DAY, runs)
    assert not history_complete(DAY - timedelta(days=3), DAY, runs)


def test_month_bounds() -> None:
    """A month in Beijing time; December rolls into the next year; nonsense is refused."""
    start, end = month_bounds("2026-12")
    assert (start, end) == (day_bounds(date(2026, 12, 1))[0], day_bounds(date(2027, 1, 1))[0])
    for bad in ("2026-13", "2026-1", "26-01", "2026-00"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            month_bounds(bad)


# ---------------------------------------------------------------------------------------------
# classify


def rows(expenses: tuple[int, ...] = (), incomes: tuple[int, ...] = ()) -> Movements:
    return Movements.of(expenses, incomes)


def payout(
    state: PayoutState,
    closure: Closure = Closure.today,
    *,
    amount: int = 188,
    created: int = 0,
    history: bool = True,
) -> PayoutFacts:
    return PayoutFacts(amount, state, created, closure, history)


NONE = Movements()
CASES: list[tuple[str, Evidence, set[tuple[DifferenceClass, int]]]] = [
    # --- consistent footprints: nothing to report
    ("paid once", Evidence("n", rows((188,)), NONE, payout(S.succeeded)), set()),
    ("failed, never debited", Evidence("n", NONE, NONE, payout(S.failed)), set()),
    ("failed, returned today", Evidence("n", rows((188,), (188,)), NONE, payout(S.failed)), set()),
    (
        "refunded today, sent yesterday (carried)",
        Evidence("n", rows((), (188,)), rows((188,)), payout(S.failed, created=-1)),
        set(),
    ),
    (
        "opened today, sent yesterday (carried)",
        Evidence("n", NONE, rows((188,)), payout(S.succeeded, created=-1)),
        set(),
    ),
    (
        "still open, sent today",
        Evidence("n", rows((188,)), NONE, payout(S.awaiting_user, Closure.open)),
        set(),
    ),
    ("unknown, landed", Evidence("n", rows((188,)), NONE, payout(S.unknown, Closure.open)), set()),
    ("in review, nothing", Evidence("n", NONE, NONE, payout(S.review, Closure.open)), set()),
    (
        "open, returned before we learnt it",
        Evidence("n", rows((188,), (188,)), NONE, payout(S.awaiting_user, Closure.open)),
        set(),
    ),
    ("pending, nothing", Evidence("n", NONE, NONE, payout(S.pending, Closure.open)), set()),
    ("no rows, no payout", Evidence("n", NONE, NONE, None), set()),
    # --- each class
    ("not ours", Evidence("n", rows((500, 300)), NONE, None), {(C.missing_on_our_side, 800)}),
    (
        "not ours, net",
        Evidence("n", rows((500,), (200,)), NONE, None),
        {(C.missing_on_our_side, 300)},
    ),
    (
        "paid, no expense",
        Evidence("n", NONE, NONE, payout(S.succeeded)),
        {(C.missing_on_wechat, -188)},
    ),
    (
        "one fen more",
        Evidence("n", rows((189,)), NONE, payout(S.succeeded)),
        {(C.amount_mismatch, 1)},
    ),
    (
        "one fen less",
        Evidence("n", rows((187,)), NONE, payout(S.succeeded)),
        {(C.amount_mismatch, -1)},
    ),
    (
        "same size, wrong sign",
        Evidence("n", rows((-188,)), NONE, payout(S.succeeded)),
        {(C.amount_mismatch, -376)},
    ),
    (
        "two rows whose sum is right",
        Evidence("n", rows((187, 189)), NONE, payout(S.succeeded, amount=188)),
        {(C.amount_mismatch, 0), (C.duplicate, 188)},
    ),
    (
        "return of the wrong amount",
        Evidence("n", rows((188,), (100,)), NONE, payout(S.failed)),
        {(C.amount_mismatch, 88)},
    ),
    (
        "failed, kept by WeChat",
        Evidence("n", rows((188,)), NONE, payout(S.failed)),
        {(C.status_mismatch, 188)},
    ),
    (
        "failed, returned without a debit",
        Evidence("n", rows((), (188,)), NONE, payout(S.failed)),
        {(C.status_mismatch, -188)},
    ),
    (
        "paid, but returned",
        Evidence("n", rows((188,), (188,)), NONE, payout(S.succeeded)),
        {(C.status_mismatch, -188)},
    ),
    (
        "paid yesterday, returned today",
        Evidence("n", rows((), (188,)), NONE, payout(S.succeeded, Closure.before, created=-1)),
        {(C.status_mismatch, -188)},
    ),
    (
        "failed yesterday, debited today",
        Evidence("n", rows((188,)), NONE, payout(S.failed, Closure.before, created=-1)),
        {(C.status_mismatch, 188)},
    ),
    (
        "never sent, but debited",
        Evidence("n", rows((188,)), NONE, payout(S.pending, Closure.open)),
        {(C.status_mismatch, 188)},
    ),
    (
        "paid twice the same day",
        Evidence("n", rows((188, 188)), NONE, payout(S.succeeded)),
        {(C.duplicate, 188)},
    ),
    (
        "paid again today, first paid while open yesterday",
        Evidence("n", rows((188,)), rows((188,)), payout(S.succeeded, created=-1)),
        {(C.duplicate, 188)},
    ),
    (
        "paid again after we closed it",
        Evidence("n", rows((188,)), NONE, payout(S.succeeded, Closure.before, created=-2)),
        {(C.duplicate, 188)},
    ),
    (
        "created 23:50 yesterday, paid 00:10",
        Evidence("n", rows((188,)), NONE, payout(S.succeeded, created=-1)),
        {(C.cross_day, 188)},
    ),
    (
        "cross-day and still open",
        Evidence("n", rows((188,)), NONE, payout(S.awaiting_user, Closure.open, created=-1)),
        {(C.cross_day, 188)},
    ),
    # --- several facts at once, never one class twice
    (
        "duplicate, and the second has the wrong amount",
        Evidence("n", rows((188, 190)), NONE, payout(S.succeeded)),
        {(C.duplicate, 188), (C.amount_mismatch, 2)},
    ),
    (
        "failed, debited twice, returned once",
        Evidence("n", rows((188, 188), (188,)), NONE, payout(S.failed)),
        {(C.duplicate, 188), (C.status_mismatch, 188)},
    ),
]


@pytest.mark.parametrize(("name", "evidence", "expected"), CASES, ids=[c[0] for c in CASES])
def test_classify(
    name: str, evidence: Evidence, expected: set[tuple[DifferenceClass, int]]
) -> None:
    """Each case yields exactly the expected (class, signed fen) findings."""
    verdict = classify(evidence)
    found = [(f.cls, f.amount_fen) for f in verdict.findings]
    assert len(found) == len(set(found)), name
    assert set(found) == expected, name
    assert not verdict.unverified


def test_a_gap_in_history_leaves_the_lifetime_unjudged() -> None:
    """Closed today, created two days ago, one day without a run: counted unverified, and
    no 'missing' invented from the rows we could not see."""
    evidence = Evidence("n", NONE, NONE, payout(S.succeeded, created=-2, history=False))
    verdict = classify(evidence)
    assert verdict.findings == ()
    assert verdict.unverified


def test_row_checks_still_apply_when_history_has_a_gap() -> None:
    """What today's rows show is certain: a wrong amount is reported even without history."""
    evidence = Evidence("n", rows((190,)), NONE, payout(S.succeeded, created=-2, history=False))
    verdict = classify(evidence)
    assert {f.cls for f in verdict.findings} == {C.amount_mismatch, C.cross_day}
    assert verdict.unverified


def test_rows_of_open_payouts_are_carried() -> None:
    """Only a payout still open at the end of the day, with rows today, is carried."""
    assert needs_carry(Evidence("n", rows((188,)), NONE, payout(S.awaiting_user, Closure.open)))
    assert not needs_carry(Evidence("n", NONE, NONE, payout(S.awaiting_user, Closure.open)))
    assert not needs_carry(Evidence("n", rows((188,)), NONE, payout(S.succeeded)))
    assert not needs_carry(Evidence("n", rows((188,)), NONE, None))


def test_totals_count_and_sum_every_class() -> None:
    """Every class appears in the totals, zeros included; fen are summed signed."""
    findings = [
        (n, f)
        for n, e in (("a", rows((189,))), ("b", rows((187,))), ("c", NONE))
        for f in classify(Evidence(n, e, NONE, payout(S.succeeded))).findings
    ]
    result = totals(findings)
    assert set(result) == set(DifferenceClass)
    assert (result[C.amount_mismatch].count, result[C.amount_mismatch].amount_fen) == (2, 0)
    assert (result[C.missing_on_wechat].count, result[C.missing_on_wechat].amount_fen) == (1, -188)
    assert result[C.duplicate].count == 0
