"""Use cases of the budget ledger. Callers pass their unit of work; nothing here commits.

Every movement is one balanced transaction whose debit is a conditional UPDATE: if the source
account cannot cover it, nothing is written and the caller gets ``InsufficientBudget`` or
``CapExceeded``, with the transaction still usable.
"""

from __future__ import annotations

import uuid

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
    """Create the budget book of a campaign with its five accounts at zero."""
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
