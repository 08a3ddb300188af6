"""Pure rules of the budget ledger: accounts, legs, balanced transactions, the invariant."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jinli.kernel.money import Fen
from jinli.ledger.errors import LedgerInvariantBroken, NonPositiveAmount


class Account(StrEnum):
    funding = "funding"
    """Contra account: its balance is minus everything ever funded (never positive)."""
    available = "available"
    """Budget not yet promised to anyone."""
    reserved = "reserved"
    """Promised to a winner, payout not yet confirmed (a *hold*)."""
    paid = "paid"
    """Confirmed paid out through WeChat Pay."""
    returned = "returned"
    """Unspent budget handed back to the brand (e.g. at settlement)."""
    allotted = "allotted"
    """预拨额度: budget set aside for a hot store's allowance (``scans.hot``). The store
    spends it grab by grab; the relay moves each settled grab's fen back through
    ``available`` into ``reserved`` (``unallot`` + ``reserve`` in one transaction), and what
    the store did not spend is returned with ``unallot`` when the campaign stops."""


class TransactionKind(StrEnum):
    fund = "fund"
    reserve = "reserve"
    post = "post"
    void = "void"
    refund = "refund"
    withdraw = "withdraw"
    allot = "allot"
    """available → allotted: a tranche of allowance handed to the hot store."""
    unallot = "unallot"
    """allotted → available: a settled grab's fen (reserved next) or a released allowance."""


class HoldStatus(StrEnum):
    pending = "pending"
    """Money moved available → reserved; waiting for the payout's outcome."""
    posted = "posted"
    """reserved → paid: WeChat confirmed the payout."""
    voided = "voided"
    """reserved → available: the payout definitely failed; the budget is whole again."""
    refunded = "refunded"
    """paid → available: WeChat refunded the money (e.g. red packet unopened in 24 h)."""


HOLD_TRANSITIONS: dict[HoldStatus, frozenset[HoldStatus]] = {
    HoldStatus.pending: frozenset({HoldStatus.posted, HoldStatus.voided}),
    HoldStatus.posted: frozenset({HoldStatus.refunded}),
    HoldStatus.voided: frozenset(),
    HoldStatus.refunded: frozenset(),
}

MOVES: dict[TransactionKind, tuple[Account, Account]] = {
    TransactionKind.fund: (Account.funding, Account.available),
    TransactionKind.reserve: (Account.available, Account.reserved),
    TransactionKind.post: (Account.reserved, Account.paid),
    TransactionKind.void: (Account.reserved, Account.available),
    TransactionKind.refund: (Account.paid, Account.available),
    TransactionKind.withdraw: (Account.available, Account.returned),
    TransactionKind.allot: (Account.available, Account.allotted),
    TransactionKind.unallot: (Account.allotted, Account.available),
}
"""Each kind of transaction moves money from one account (debited) to another (credited)."""


MAX_AMOUNT_FEN = Fen(10**15)
"""The largest amount, and the largest cap, the ledger accepts: ten trillion yuan.

Far above any campaign (the API allows 10¹² fen) and far below BIGINT (≈ 9.2·10¹⁸): every
balance is at most the cap, so no balance or sum can overflow. Without the bound, PostgreSQL
would fail with a driver error and SQLite would silently turn an overflowing sum into an
inexact REAL."""


def check_amount(amount_fen: Fen) -> Fen:
    """A ledger amount is a whole number of fen, ``1 ≤ amount ≤ MAX_AMOUNT_FEN``.

    Floats and bools are refused, not coerced: SQLite would store ``1.5`` as a REAL and the
    half fen would vanish from the books without any constraint noticing.
    """
    if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
        raise NonPositiveAmount(f"a ledger amount is a whole number of fen, got {amount_fen!r}")
    if amount_fen <= 0:
        raise NonPositiveAmount(
            f"a ledger amount must be a positive number of fen, got {amount_fen}"
        )
    if amount_fen > MAX_AMOUNT_FEN:
        raise NonPositiveAmount(f"a ledger amount is at most {MAX_AMOUNT_FEN} fen")
    return amount_fen


def check_cap(cap_fen: Fen) -> Fen:
    """A budget cap is a whole number of fen, ``0 ≤ cap ≤ MAX_AMOUNT_FEN``."""
    if isinstance(cap_fen, bool) or not isinstance(cap_fen, int):
        raise NonPositiveAmount(f"a budget cap is a whole number of fen, got {cap_fen!r}")
    if cap_fen < 0:
        raise NonPositiveAmount("the budget cap cannot be negative")
    if cap_fen > MAX_AMOUNT_FEN:
        raise NonPositiveAmount(f"a budget cap is at most {MAX_AMOUNT_FEN} fen")
    return cap_fen


@dataclass(frozen=True, slots=True)
class Leg:
    account: Account
    amount_fen: Fen
    """Signed: negative leaves the account, positive enters it."""


def legs_for(kind: TransactionKind, amount_fen: Fen) -> tuple[Leg, Leg]:
    """The two legs of a transaction; they sum to zero by construction (INV-LEDGER)."""
    amount_fen = check_amount(amount_fen)
    source, target = MOVES[kind]
    return Leg(source, Fen(-amount_fen)), Leg(target, amount_fen)


NO_FEN = Fen(0)


@dataclass(frozen=True, slots=True)
class Balances:
    """The balances of a book, as positive amounts (``funded`` = −funding)."""

    funded: Fen
    available: Fen
    reserved: Fen
    paid: Fen
    returned: Fen
    cap: Fen
    allotted: Fen = NO_FEN
    """预拨额度: set aside for the hot store's allowance (not promised to anyone yet, but
    not available to other spending either)."""

    def check(self) -> None:
        """INV-BUDGET: conservation, no negative balance, nothing funded beyond the cap."""
        parts = (self.available, self.allotted, self.reserved, self.paid, self.returned)
        if any(p < 0 for p in parts) or self.funded < 0:
            raise LedgerInvariantBroken(f"negative balance in {self}")
        if sum(parts) != self.funded:
            raise LedgerInvariantBroken(f"balances do not add up to funded: {self}")
        if self.funded > self.cap or self.paid > self.cap:
            raise LedgerInvariantBroken(f"funded beyond the cap: {self}")

    @classmethod
    def from_accounts(cls, accounts: dict[Account, int], cap: int) -> Balances:
        return cls(
            funded=Fen(-accounts.get(Account.funding, 0)),
            available=Fen(accounts.get(Account.available, 0)),
            reserved=Fen(accounts.get(Account.reserved, 0)),
            paid=Fen(accounts.get(Account.paid, 0)),
            returned=Fen(accounts.get(Account.returned, 0)),
            cap=Fen(cap),
            allotted=Fen(accounts.get(Account.allotted, 0)),
        )
