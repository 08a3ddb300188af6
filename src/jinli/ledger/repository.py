"""Queries of the ledger. Balance changes are single conditional UPDATEs, never read-then-write."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, Select, func, select, update

from jinli.ledger.domain import Account, HoldStatus, Leg, TransactionKind
from jinli.ledger.models import (
    LedgerBalance,
    LedgerBook,
    LedgerEntry,
    LedgerHold,
    LedgerTransaction,
)
from jinli.platform.db.repository import Repository


class BookRepository(Repository[LedgerBook]):
    model = LedgerBook


class BalanceRepository(Repository[LedgerBalance]):
    model = LedgerBalance

    async def for_book(self, book_id: uuid.UUID) -> dict[Account, LedgerBalance]:
        rows = await self.session.scalars(self.select().where(LedgerBalance.book_id == book_id))
        return {row.account: row for row in rows}

    async def lock(self, book_id: uuid.UUID, accounts: tuple[Account, ...]) -> None:
        """Lock these balance rows of the book in account order (PostgreSQL; SQLite serialises
        writers anyway), so that every transaction takes a book's rows in one order: a move
        whose credit account sorts first must not lock its debit row first, or two opposite
        moves (``allot`` and ``unallot``) deadlock."""
        if self.session.get_bind().dialect.name != "postgresql":
            return
        stmt = (
            self.select()
            .with_only_columns(LedgerBalance.account)
            .where(LedgerBalance.book_id == book_id, LedgerBalance.account.in_(accounts))
            .order_by(LedgerBalance.account)
            .with_for_update()
        )
        await self.session.execute(stmt)

    async def apply(self, book_id: uuid.UUID, leg: Leg) -> bool:
        """Add ``leg`` to its account in one statement; ``False`` if that would break a limit.

        The limit is part of the UPDATE's WHERE clause, so two concurrent reservations cannot
        both see enough money (I6): on PostgreSQL the second waits for the first's row lock and
        re-checks; on SQLite writers are serialised by BEGIN IMMEDIATE.
        """
        new_balance = LedgerBalance.balance_fen + leg.amount_fen
        stmt = update(LedgerBalance).where(
            LedgerBalance.book_id == book_id, LedgerBalance.account == leg.account
        )
        if leg.amount_fen < 0:
            if leg.account == Account.funding:
                stmt = stmt.where(-new_balance <= LedgerBalance.cap_fen)
            else:
                stmt = stmt.where(new_balance >= 0)
        stmt = stmt.values(balance_fen=new_balance).execution_options(synchronize_session=False)
        result = cast(CursorResult[tuple[()]], await self.session.execute(stmt))
        return result.rowcount == 1

    async def holding(self, account: Account) -> list[tuple[uuid.UUID, uuid.UUID, int]]:
        """(brand, book, balance) of every book with a positive balance on ``account``."""
        stmt = (
            self.select()
            .with_only_columns(
                LedgerBalance.brand_id, LedgerBalance.book_id, LedgerBalance.balance_fen
            )
            .where(LedgerBalance.account == account, LedgerBalance.balance_fen > 0)
            .order_by(LedgerBalance.book_id)
        )
        return [(b, k, int(f)) for b, k, f in (await self.session.execute(stmt)).all()]

    async def totals(self) -> dict[Account, int]:
        """Sum of every account over all books the session may see (the acting brand)."""
        stmt = (
            self.select()
            .with_only_columns(LedgerBalance.account, func.sum(LedgerBalance.balance_fen))
            .group_by(LedgerBalance.account)
        )
        return {
            Account(a): int(total or 0) for a, total in (await self.session.execute(stmt)).all()
        }

    async def total_caps(self) -> int:
        stmt = self.select().with_only_columns(func.sum(LedgerBalance.cap_fen))
        return int((await self.session.scalar(stmt)) or 0)

    async def set_cap(self, book_id: uuid.UUID, cap_fen: int) -> bool:
        stmt = (
            update(LedgerBalance)
            .where(
                LedgerBalance.book_id == book_id,
                LedgerBalance.account == Account.funding,
                -LedgerBalance.balance_fen <= cap_fen,
            )
            .values(cap_fen=cap_fen)
            .execution_options(synchronize_session=False)
        )
        result = cast(CursorResult[tuple[()]], await self.session.execute(stmt))
        return result.rowcount == 1


class EntryRepository(Repository[LedgerEntry]):
    model = LedgerEntry

    async def sums_by_account(self, book_id: uuid.UUID) -> dict[Account, int]:
        stmt = (
            select(LedgerEntry.account, func.sum(LedgerEntry.amount_fen))
            .where(LedgerEntry.book_id == book_id)
            .group_by(LedgerEntry.account)
        )
        rows = (await self.session.execute(stmt)).all()
        return {Account(account): int(total) for account, total in rows}

    async def unbalanced_transactions(self, book_id: uuid.UUID) -> list[int]:
        """Ids of transactions whose entries do not sum to zero (must always be empty)."""
        stmt = (
            select(LedgerEntry.transaction_id)
            .where(LedgerEntry.book_id == book_id)
            .group_by(LedgerEntry.transaction_id)
            .having(func.sum(LedgerEntry.amount_fen) != 0)
        )
        return list(await self.session.scalars(stmt))


class TransactionRepository(Repository[LedgerTransaction]):
    model = LedgerTransaction

    def for_book(self, book_id: uuid.UUID) -> Select[LedgerTransaction]:
        return (
            self.select()
            .where(LedgerTransaction.book_id == book_id)
            .order_by(LedgerTransaction.id.desc())
        )

    async def since(
        self, kind: TransactionKind, at: datetime
    ) -> list[tuple[uuid.UUID, uuid.UUID, str, int]]:
        """(brand, book, memo, amount) of every ``kind`` transaction from ``at`` on, oldest
        first, over every book the session may see."""
        stmt = (
            self.select()
            .with_only_columns(
                LedgerTransaction.brand_id,
                LedgerTransaction.book_id,
                LedgerTransaction.memo,
                LedgerTransaction.amount_fen,
            )
            .where(LedgerTransaction.kind == kind, LedgerTransaction.at >= at)
            .order_by(LedgerTransaction.id)
        )
        return [(b, k, m, int(a)) for b, k, m, a in (await self.session.execute(stmt)).all()]

    async def latest(
        self, book_id: uuid.UUID, kind: TransactionKind, limit: int
    ) -> list[tuple[uuid.UUID, uuid.UUID, str, int]]:
        """(brand, book, memo, amount) of the book's latest ``kind`` transactions, newest
        first."""
        stmt = (
            self.select()
            .with_only_columns(
                LedgerTransaction.brand_id,
                LedgerTransaction.book_id,
                LedgerTransaction.memo,
                LedgerTransaction.amount_fen,
            )
            .where(LedgerTransaction.book_id == book_id, LedgerTransaction.kind == kind)
            .order_by(LedgerTransaction.id.desc())
            .limit(limit)
        )
        return [(b, k, m, int(a)) for b, k, m, a in (await self.session.execute(stmt)).all()]

    async def count(
        self,
        book_id: uuid.UUID,
        kind: TransactionKind,
        *,
        memo: str | None = None,
        memo_prefix: str | None = None,
    ) -> int:
        """How many ``kind`` transactions of the book have exactly ``memo``, or a memo
        starting with ``memo_prefix`` (index ``(book_id, kind, memo)``)."""
        stmt = (
            self.select()
            .with_only_columns(func.count())
            .where(LedgerTransaction.book_id == book_id, LedgerTransaction.kind == kind)
        )
        if memo is not None:
            stmt = stmt.where(LedgerTransaction.memo == memo)
        if memo_prefix is not None:
            stmt = stmt.where(LedgerTransaction.memo.startswith(memo_prefix, autoescape=True))
        return int((await self.session.scalar(stmt)) or 0)


class HoldRepository(Repository[LedgerHold]):
    model = LedgerHold

    async def by_ref(self, book_id: uuid.UUID, ref: str) -> LedgerHold | None:
        stmt = self.select().where(LedgerHold.book_id == book_id, LedgerHold.ref == ref)
        return (await self.session.scalars(stmt)).first()

    async def sums_by_status(self, book_id: uuid.UUID) -> dict[HoldStatus, int]:
        """Total fen of the book's holds in each status."""
        stmt = (
            select(LedgerHold.status, func.sum(LedgerHold.amount_fen))
            .where(LedgerHold.book_id == book_id)
            .group_by(LedgerHold.status)
        )
        rows = (await self.session.execute(stmt)).all()
        return {HoldStatus(status): int(total) for status, total in rows}

    async def transition(
        self, hold_id: uuid.UUID, source: HoldStatus, target: HoldStatus, at: datetime
    ) -> bool:
        """Compare-and-set the hold's status; ``False`` if it was not in ``source`` (already
        settled by a concurrent worker or a repeated callback)."""
        stmt = (
            update(LedgerHold)
            .where(LedgerHold.id == hold_id, LedgerHold.status == source)
            .values(status=target, settled_at=at)
            .execution_options(synchronize_session=False)
        )
        result = cast(CursorResult[tuple[()]], await self.session.execute(stmt))
        return result.rowcount == 1
