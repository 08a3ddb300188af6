"""Use cases of the budget ledger. Callers pass their unit of work; nothing here commits.

Every movement is one balanced transaction whose debit is a conditional UPDATE: if the source
account cannot cover it, nothing is written and the caller gets ``InsufficientBudget`` or
``CapExceeded``, with the transaction still usable.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from jinli.kernel.money import Fen
from jinli.kernel.pagination import Page, PageRequest
from jinli.ledger.domain import (
    HOLD_TRANSITIONS,
    Account,
    Balances,
    HoldStatus,
    TransactionKind,
    check_amount,
    check_cap,
    legs_for,
)
from jinli.ledger.errors import (
    BookNotFound,
    CapBelowFunded,
    CapExceeded,
    HoldNotFound,
    HoldRefMismatch,
    HoldStateConflict,
    InsufficientBudget,
    LedgerInvariantBroken,
)
from jinli.ledger.models import (
    LedgerBalance,
    LedgerBook,
    LedgerEntry,
    LedgerHold,
    LedgerTransaction,
)
from jinli.ledger.repository import (
    BalanceRepository,
    BookRepository,
    EntryRepository,
    HoldRepository,
    TransactionRepository,
)
from jinli.platform.db.uow import UnitOfWork


def _brand(uow: UnitOfWork) -> uuid.UUID:
    if uow.brand_id is None:
        raise RuntimeError("ledger writes need a brand-scoped unit of work")
    return uow.brand_id


async def open_book(uow: UnitOfWork, book_id: uuid.UUID, *, cap_fen: Fen) -> None:
    """Create the budget book of a campaign with its accounts (``Account``) at zero."""
    cap_fen = check_cap(cap_fen)
    brand_id = _brand(uow)
    BookRepository(uow).add(LedgerBook(id=book_id, brand_id=brand_id, created_at=uow.clock.now()))
    await uow.session.flush()
    balances = BalanceRepository(uow)
    for account in Account:
        balances.add(
            LedgerBalance(
                book_id=book_id,
                brand_id=brand_id,
                account=account,
                balance_fen=0,
                cap_fen=cap_fen if account == Account.funding else None,
            )
        )
    await uow.session.flush()


async def _move(
    uow: UnitOfWork,
    book_id: uuid.UUID,
    kind: TransactionKind,
    amount_fen: Fen,
    *,
    hold_id: uuid.UUID | None = None,
    memo: str = "",
) -> LedgerTransaction:
    debit, credit = legs_for(kind, amount_fen)
    balances = BalanceRepository(uow)
    await uow.session.flush()
    if credit.account < debit.account:  # the debit's UPDATE would lock out of order
        await balances.lock(book_id, (credit.account, debit.account))
    if not await balances.apply(book_id, debit):
        if await BookRepository(uow).get(book_id) is None:
            raise BookNotFound()
        if debit.account == Account.funding:
            raise CapExceeded(f"funding {amount_fen} fen would exceed the cap")
        raise InsufficientBudget(f"{debit.account} cannot cover {amount_fen} fen")
    if not await balances.apply(book_id, credit):  # pragma: no cover - credits have no limit
        raise LedgerInvariantBroken("credit leg refused")
    brand_id = _brand(uow)
    tx = TransactionRepository(uow).add(
        LedgerTransaction(
            brand_id=brand_id,
            book_id=book_id,
            kind=kind,
            amount_fen=amount_fen,
            hold_id=hold_id,
            memo=memo[:200],
            at=uow.clock.now(),
        )
    )
    await uow.session.flush()
    entries = EntryRepository(uow)
    for leg in (debit, credit):
        entries.add(
            LedgerEntry(
                brand_id=brand_id,
                transaction_id=tx.id,
                book_id=book_id,
                account=leg.account,
                amount_fen=leg.amount_fen,
            )
        )
    return tx


async def fund(uow: UnitOfWork, book_id: uuid.UUID, amount_fen: Fen, *, memo: str = "") -> None:
    """Add budget (funding → available); refused beyond the hard cap."""
    await _move(uow, book_id, TransactionKind.fund, amount_fen, memo=memo)


async def withdraw(uow: UnitOfWork, book_id: uuid.UUID, amount_fen: Fen, *, memo: str = "") -> None:
    """Hand unspent budget back to the brand (available → returned)."""
    await _move(uow, book_id, TransactionKind.withdraw, amount_fen, memo=memo)


async def allot(uow: UnitOfWork, book_id: uuid.UUID, amount_fen: Fen, *, memo: str) -> None:
    """Set budget aside for a hot store's allowance, 预拨额度 (available → allotted);
    ``InsufficientBudget`` when available cannot cover it. ``memo`` names the tranche (the
    store's idempotency key), so the tranche can be re-applied after a crash."""
    await _move(uow, book_id, TransactionKind.allot, amount_fen, memo=memo)


async def unallot(uow: UnitOfWork, book_id: uuid.UUID, amount_fen: Fen, *, memo: str) -> bool:
    """Take allotted budget back (allotted → available): a settled grab's fen on its way to
    ``reserved``, or what the hot store released; ``InsufficientBudget`` when allotted
    cannot cover it (a bug: the store never holds more than the ledger allotted).

    Idempotent per ``memo`` (a grab, a release): when an unallot with this memo exists
    already, nothing moves and the answer is ``False``. The check runs *after* the debit's
    conditional UPDATE, which holds the book's allotted row: a concurrent twin waits for
    the first to commit, then sees its transaction (PostgreSQL, READ COMMITTED; SQLite
    serialises writers anyway)."""
    amount_fen = check_amount(amount_fen)
    repo = TransactionRepository(uow)
    if await repo.count(book_id, TransactionKind.unallot, memo=memo):
        return False
    try:
        async with uow.session.begin_nested():
            await _move(uow, book_id, TransactionKind.unallot, amount_fen, memo=memo)
            await uow.session.flush()
            if await repo.count(book_id, TransactionKind.unallot, memo=memo) > 1:
                raise _Twin()
    except _Twin:
        return False
    return True


class _Twin(Exception):
    """Raised inside ``unallot``'s savepoint to undo a movement a concurrent twin made."""


async def allotted_books(uow: UnitOfWork) -> list[tuple[uuid.UUID, uuid.UUID, Fen]]:
    """(brand, book, allotted fen) of every book with budget allotted, over the books the
    unit of work sees (all of them in a system unit of work)."""
    return [(b, k, Fen(f)) for b, k, f in await BalanceRepository(uow).holding(Account.allotted)]


@dataclass(frozen=True, slots=True)
class Allotment:
    """One ``allot`` transaction: the tranche ``memo`` of ``amount_fen`` for a book."""

    brand_id: uuid.UUID
    book_id: uuid.UUID
    memo: str
    amount_fen: Fen


async def allotments(uow: UnitOfWork, *, since: datetime) -> list[Allotment]:
    """Every allotment made from ``since`` on, oldest first, over the books the unit of work
    sees (all books in a system unit of work): what a hot store must hold (restore)."""
    rows = await TransactionRepository(uow).since(TransactionKind.allot, since)
    return [Allotment(b, k, m, Fen(a)) for b, k, m, a in rows]


async def latest_allotments(uow: UnitOfWork, book_id: uuid.UUID, *, limit: int) -> list[Allotment]:
    """The book's ``limit`` latest allotments, newest first."""
    rows = await TransactionRepository(uow).latest(book_id, TransactionKind.allot, limit)
    return [Allotment(b, k, m, Fen(a)) for b, k, m, a in rows]


async def count_transactions(
    uow: UnitOfWork, book_id: uuid.UUID, kind: TransactionKind, *, memo_prefix: str = ""
) -> int:
    """How many ``kind`` transactions of the book have a memo starting with ``memo_prefix``
    (e.g. the releases so far, which name the next one)."""
    return await TransactionRepository(uow).count(book_id, kind, memo_prefix=memo_prefix)


async def set_cap(uow: UnitOfWork, book_id: uuid.UUID, cap_fen: Fen) -> None:
    """Change the hard cap; it can never drop below what is already funded."""
    cap_fen = check_cap(cap_fen)
    if not await BalanceRepository(uow).set_cap(book_id, cap_fen):
        if await BookRepository(uow).get(book_id) is None:
            raise BookNotFound()
        raise CapBelowFunded()


async def reserve(uow: UnitOfWork, book_id: uuid.UUID, amount_fen: Fen, *, ref: str) -> LedgerHold:
    """Reserve budget for one payout (available → reserved). Idempotent per ``ref``: a retry
    returns the first hold instead of reserving twice, even when both run at once."""
    amount_fen = check_amount(amount_fen)
    holds = HoldRepository(uow)
    existing = await holds.by_ref(book_id, ref)
    if existing is not None:
        return _same_hold(existing, amount_fen)
    hold = LedgerHold(
        id=uuid.uuid4(),
        brand_id=_brand(uow),
        book_id=book_id,
        ref=ref,
        amount_fen=amount_fen,
        status=HoldStatus.pending,
        created_at=uow.clock.now(),
    )
    try:
        # A concurrent reservation with the same ref may commit after our look-up (PostgreSQL,
        # READ COMMITTED). UNIQUE(book_id, ref) then refuses our hold row; the savepoint takes
        # our debit back with it, and we answer with the first hold like any retry (I2).
        async with uow.session.begin_nested():
            await _move(
                uow, book_id, TransactionKind.reserve, amount_fen, hold_id=hold.id, memo=ref
            )
            holds.add(hold)
            await uow.session.flush()
    except IntegrityError:
        existing = await holds.by_ref(book_id, ref)
        if existing is None:
            raise
        return _same_hold(existing, amount_fen)
    return hold


def _same_hold(existing: LedgerHold, amount_fen: Fen) -> LedgerHold:
    if existing.amount_fen != amount_fen:
        raise HoldRefMismatch()
    return existing


async def _settle(
    uow: UnitOfWork, hold_id: uuid.UUID, target: HoldStatus, kind: TransactionKind
) -> LedgerHold:
    holds = HoldRepository(uow)
    hold = await holds.get(hold_id)
    if hold is None:
        raise HoldNotFound()
    if hold.status == target:
        return hold  # repeated (e.g. a duplicate callback): already done, nothing moves
    if target not in HOLD_TRANSITIONS[hold.status]:
        raise HoldStateConflict(f"hold is {hold.status}, cannot become {target}")
    # Compare-and-set first: of two concurrent settlements only one moves the money.
    if not await holds.transition(hold.id, hold.status, target, uow.clock.now()):
        await uow.session.refresh(hold)
        if hold.status == target:
            return hold
        raise HoldStateConflict(f"hold changed concurrently to {hold.status}")
    await _move(uow, hold.book_id, kind, Fen(hold.amount_fen), hold_id=hold.id, memo=hold.ref)
    await uow.session.refresh(hold)
    return hold


async def post(uow: UnitOfWork, hold_id: uuid.UUID) -> LedgerHold:
    """The payout succeeded: reserved → paid."""
    return await _settle(uow, hold_id, HoldStatus.posted, TransactionKind.post)


async def void(uow: UnitOfWork, hold_id: uuid.UUID) -> LedgerHold:
    """The payout definitely failed: reserved → available."""
    return await _settle(uow, hold_id, HoldStatus.voided, TransactionKind.void)


async def refund(uow: UnitOfWork, hold_id: uuid.UUID) -> LedgerHold:
    """WeChat returned paid money (e.g. an unopened red packet): paid → available."""
    return await _settle(uow, hold_id, HoldStatus.refunded, TransactionKind.refund)


async def balances(uow: UnitOfWork, book_id: uuid.UUID) -> Balances:
    rows = await BalanceRepository(uow).for_book(book_id)
    if not rows:
        raise BookNotFound()
    cap = rows[Account.funding].cap_fen or 0
    return Balances.from_accounts({a: r.balance_fen for a, r in rows.items()}, cap)


async def brand_totals(uow: UnitOfWork) -> Balances:
    """All books of the acting brand added up (the cap is the sum of the caps)."""
    repo = BalanceRepository(uow)
    totals = await repo.totals()
    caps = await repo.total_caps()
    return Balances.from_accounts(totals, caps)


async def verify_book(uow: UnitOfWork, book_id: uuid.UUID) -> Balances:
    """Recompute every balance from the entries and compare with the cached balances.

    Raises ``LedgerInvariantBroken`` on any difference, unbalanced transaction, broken
    INV-BUDGET, or reserved/paid money that no pending/posted hold accounts for; returns the
    verified balances otherwise.
    """
    cached = await balances(uow, book_id)
    entries = EntryRepository(uow)
    recomputed = Balances.from_accounts(await entries.sums_by_account(book_id), cached.cap)
    if recomputed != cached:
        raise LedgerInvariantBroken(f"cached {cached} != recomputed {recomputed}")
    if await entries.unbalanced_transactions(book_id):
        raise LedgerInvariantBroken("a transaction's entries do not sum to zero")
    cached.check()
    # Every fen reserved or paid belongs to exactly one hold in the matching state.
    held = await HoldRepository(uow).sums_by_status(book_id)
    if cached.reserved != held.get(HoldStatus.pending, 0):
        raise LedgerInvariantBroken(f"reserved {cached.reserved} != pending holds {held}")
    if cached.paid != held.get(HoldStatus.posted, 0):
        raise LedgerInvariantBroken(f"paid {cached.paid} != posted holds {held}")
    return cached


async def transactions(
    uow: UnitOfWork, book_id: uuid.UUID, page: PageRequest
) -> Page[LedgerTransaction]:
    repo = TransactionRepository(uow)
    return await repo.page(repo.for_book(book_id), page)
