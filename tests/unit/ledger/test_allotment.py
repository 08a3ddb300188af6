"""The ``allotted`` account in the pure ledger rules: allot/unallot legs, the invariant with
allotted money in it, and a model of guarded moves that can never go negative."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.kernel.money import Fen
from jinli.ledger.domain import MOVES, Account, Balances, TransactionKind, legs_for
from jinli.ledger.errors import LedgerInvariantBroken


def test_allot_and_unallot_are_inverse_moves() -> None:
    assert MOVES[TransactionKind.allot] == (Account.available, Account.allotted)
    assert MOVES[TransactionKind.unallot] == (Account.allotted, Account.available)
    debit, credit = legs_for(TransactionKind.allot, Fen(300))
    assert (debit.account, debit.amount_fen) == (Account.available, -300)
    assert (credit.account, credit.amount_fen) == (Account.allotted, 300)


def test_the_invariant_counts_allotted_money() -> None:
    ok = Balances(
        funded=Fen(1_000),
        available=Fen(300),
        reserved=Fen(100),
        paid=Fen(100),
        returned=Fen(0),
        cap=Fen(1_000),
        allotted=Fen(500),
    )
    ok.check()
    with pytest.raises(LedgerInvariantBroken):
        Balances(Fen(1_000), Fen(300), Fen(100), Fen(100), Fen(0), Fen(1_000), Fen(400)).check()
    with pytest.raises(LedgerInvariantBroken):
        Balances(Fen(1_000), Fen(1_100), Fen(0), Fen(0), Fen(0), Fen(1_000), Fen(-100)).check()
    got = Balances.from_accounts({Account.funding: -1_000, Account.allotted: 1_000}, 1_000)
    assert got.allotted == 1_000
    assert got.available == 0


KINDS = [
    TransactionKind.fund,
    TransactionKind.allot,
    TransactionKind.unallot,
    TransactionKind.reserve,
    TransactionKind.post,
    TransactionKind.void,
]


@given(st.lists(st.tuples(st.sampled_from(KINDS), st.integers(1, 10_000)), max_size=60))
def test_guarded_moves_keep_the_invariant_and_never_go_negative(
    moves: list[tuple[TransactionKind, int]],
) -> None:
    """What the database's conditional UPDATE does, as a model: a move whose source cannot
    cover it is refused; every other one is applied. The book always checks out."""
    accounts = dict.fromkeys(Account, 0)
    for kind, amount in moves:
        debit, credit = legs_for(kind, Fen(amount))
        if debit.account != Account.funding and accounts[debit.account] + debit.amount_fen < 0:
            continue
        accounts[debit.account] += debit.amount_fen
        accounts[credit.account] += credit.amount_fen
        balances = Balances.from_accounts(accounts, cap=10**15)
        balances.check()
        assert min(accounts[a] for a in Account if a != Account.funding) >= 0
