"""The pure rules of the budget ledger: balanced legs and the INV-BUDGET check."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.kernel.money import Fen
from jinli.ledger.domain import (
    MAX_AMOUNT_FEN,
    MOVES,
    Account,
    Balances,
    TransactionKind,
    check_cap,
    legs_for,
)
from jinli.ledger.errors import LedgerInvariantBroken, NonPositiveAmount

AMOUNTS = st.integers(min_value=1, max_value=MAX_AMOUNT_FEN)


@given(kind=st.sampled_from(TransactionKind), amount=AMOUNTS)
def test_legs_balance_to_zero_for_every_kind(kind: TransactionKind, amount: int) -> None:
    """Each transaction has two legs on two accounts that sum to exactly zero (INV-LEDGER)."""
    debit, credit = legs_for(kind, Fen(amount))
    assert debit.amount_fen + credit.amount_fen == 0
    assert debit.amount_fen == -amount
    assert credit.amount_fen == amount
    assert (debit.account, credit.account) == MOVES[kind]
    assert debit.account != credit.account


@given(
    moves=st.lists(st.tuples(st.sampled_from(TransactionKind), AMOUNTS), max_size=50),
)
def test_any_sequence_of_legs_conserves_money(moves: list[tuple[TransactionKind, int]]) -> None:
    """Summing the legs of any sequence of transactions leaves the accounts summing to 0."""
    totals: Counter[Account] = Counter()
    for kind, amount in moves:
        for leg in legs_for(kind, Fen(amount)):
            totals[leg.account] += leg.amount_fen
    assert sum(totals.values()) == 0
    balances = Balances.from_accounts(dict(totals), cap=0)
    assert (
        balances.available
        + balances.allotted
        + balances.reserved
        + balances.paid
        + balances.returned
        == balances.funded
    )


def test_every_kind_has_a_move() -> None:
    """Every transaction kind moves money between two distinct accounts, and only funding is
    ever debited from the contra account."""
    assert set(MOVES) == set(TransactionKind)
    for kind, (source, target) in MOVES.items():
        assert source != target
        assert target != Account.funding
        assert (source == Account.funding) == (kind == TransactionKind.fund)


@pytest.mark.parametrize("kind", list(TransactionKind))
@pytest.mark.parametrize("amount", [0, -1, -188, MAX_AMOUNT_FEN + 1, 2**63])
def test_legs_refuse_amounts_out_of_range(kind: TransactionKind, amount: int) -> None:
    """Zero, negative and absurdly large amounts never become legs (code invalid_amount)."""
    with pytest.raises(NonPositiveAmount) as caught:
        legs_for(kind, Fen(amount))
    assert caught.value.code == "invalid_amount"


@pytest.mark.parametrize("amount", [1.5, 1.0, True, Decimal(1), "1"])
def test_legs_refuse_non_integer_amounts(amount: object) -> None:
    """A float, bool, Decimal or text amount is refused rather than written as a REAL."""
    with pytest.raises(NonPositiveAmount):
        legs_for(TransactionKind.fund, amount)  # type: ignore[arg-type]  # deliberately wrong


@pytest.mark.parametrize("cap", [-1, MAX_AMOUNT_FEN + 1, 1.5, True])
def test_caps_out_of_range_are_refused(cap: object) -> None:
    """A cap is a whole number of fen between 0 and MAX_AMOUNT_FEN."""
    with pytest.raises(NonPositiveAmount):
        check_cap(cap)  # type: ignore[arg-type]  # deliberately wrong


@pytest.mark.parametrize("cap", [0, 1, MAX_AMOUNT_FEN])
def test_caps_in_range_are_accepted(cap: int) -> None:
    """0 and MAX_AMOUNT_FEN are valid caps."""
    assert check_cap(Fen(cap)) == cap


def _balances(**overrides: int) -> Balances:
    values = {"funded": 1000, "available": 400, "reserved": 300, "paid": 200, "returned": 100}
    values["cap"] = 1000
    values.update(overrides)
    return Balances(**{k: Fen(v) for k, v in values.items()})


def test_a_consistent_book_passes_the_check() -> None:
    """Balances that add up, are non-negative and stay under the cap pass."""
    _balances().check()
    _balances(funded=0, available=0, reserved=0, paid=0, returned=0, cap=0).check()


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"available": -1, "returned": 101}, "negative"),
        ({"reserved": -1, "returned": 401}, "negative"),
        ({"paid": -1, "returned": 301}, "negative"),
        ({"returned": -1, "available": 501}, "negative"),
        (
            {"funded": -1, "available": 0, "reserved": 0, "paid": 0, "returned": -1, "cap": 10},
            "negative",
        ),
        ({"available": 401}, "do not add up"),
        ({"reserved": 299}, "do not add up"),
        ({"paid": 201}, "do not add up"),
        ({"returned": 0}, "do not add up"),
        ({"funded": 1001}, "do not add up"),
        ({"cap": 999}, "beyond the cap"),
        ({"funded": 1001, "available": 401, "cap": 1000}, "beyond the cap"),
    ],
)
def test_each_broken_invariant_is_caught(overrides: dict[str, int], reason: str) -> None:
    """Balances.check names a negative balance, a sum that is off, or funding beyond the cap."""
    with pytest.raises(LedgerInvariantBroken, match=reason) as caught:
        _balances(**overrides).check()
    assert caught.value.code == "ledger_invariant_broken"


@given(
    available=st.integers(0, 10**9),
    reserved=st.integers(0, 10**9),
    paid=st.integers(0, 10**9),
    returned=st.integers(0, 10**9),
    headroom=st.integers(0, 10**9),
    error=st.integers(-(10**6), 10**6).filter(bool),
)
def test_check_accepts_exactly_the_conserving_books(
    available: int, reserved: int, paid: int, returned: int, headroom: int, error: int
) -> None:
    """A book passes iff its parts sum to funded; any error of even one fen is caught."""
    funded = available + reserved + paid + returned
    cap = funded + headroom
    good = Balances(
        Fen(funded), Fen(available), Fen(reserved), Fen(paid), Fen(returned), Fen(cap + abs(error))
    )
    good.check()
    bad = Balances(
        Fen(funded + error),
        Fen(available),
        Fen(reserved),
        Fen(paid),
        Fen(returned),
        Fen(cap + abs(error)),
    )
    with pytest.raises(LedgerInvariantBroken):
        bad.check()


def test_from_accounts_turns_the_contra_account_into_funded() -> None:
    """The funding account holds −funded; missing accounts count as zero."""
    balances = Balances.from_accounts(
        {Account.funding: -500, Account.available: 300, Account.paid: 200}, cap=800
    )
    assert balances == Balances(Fen(500), Fen(300), Fen(0), Fen(200), Fen(0), Fen(800))
