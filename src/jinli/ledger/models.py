"""Tables of the budget ledger. Entries and transactions are append-only (DB triggers)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    DDL,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from jinli.kernel.ids import new_id
from jinli.ledger.domain import Account, HoldStatus, TransactionKind
from jinli.platform.db.base import Base, BigIntPK, BrandOwned


class LedgerBook(BrandOwned, Base):
    """The budget of one campaign (the book id *is* the campaign id)."""

    __tablename__ = "ledger_books"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column()


class LedgerBalance(BrandOwned, Base):
    """Cached balance of one account of one book, kept by the same statements that append
    entries. CHECKs make a negative balance, or funding beyond the cap, impossible."""

    __tablename__ = "ledger_balances"
    __table_args__ = (
        CheckConstraint(
            "(account = 'funding' AND balance_fen <= 0 AND cap_fen IS NOT NULL"
            " AND -balance_fen <= cap_fen)"
            " OR (account <> 'funding' AND balance_fen >= 0)",
            name="balance_in_range",
        ),
    )

    book_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("ledger_books.id", ondelete="RESTRICT"), primary_key=True
    )
    account: Mapped[Account] = mapped_column(
        Enum(Account, native_enum=False, length=20, create_constraint=True), primary_key=True
    )
    balance_fen: Mapped[int] = mapped_column()
    cap_fen: Mapped[int | None] = mapped_column()
    """Only on the funding row: the hard cap of the campaign budget, in fen."""


class LedgerTransaction(BrandOwned, Base):
    """One balanced money movement. Immutable."""

    __tablename__ = "ledger_transactions"
    __table_args__ = (Index("ix_ledger_transactions_book_kind_memo", "book_id", "kind", "memo"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    book_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_books.id"), index=True)
    kind: Mapped[TransactionKind] = mapped_column(
        Enum(TransactionKind, native_enum=False, length=20)
    )
    amount_fen: Mapped[int] = mapped_column(CheckConstraint("amount_fen > 0", name="positive"))
    hold_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    memo: Mapped[str] = mapped_column(String(200), default="")
    """Why the money moved; for ``allot``/``unallot`` a unique name (the tranche, the grab,
    the release) that makes the movement idempotent (indexed with the book)."""
    at: Mapped[datetime] = mapped_column()


class LedgerEntry(BrandOwned, Base):
    """One leg of a transaction: a signed amount on one account. Immutable."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_book_account", "book_id", "account"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    book_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_books.id"))
    account: Mapped[Account] = mapped_column(Enum(Account, native_enum=False, length=20))
    amount_fen: Mapped[int] = mapped_column(CheckConstraint("amount_fen <> 0", name="nonzero"))


class LedgerHold(BrandOwned, Base):
    """A reservation of budget for one payout: pending → posted/voided, posted → refunded."""

    __tablename__ = "ledger_holds"
    __table_args__ = (UniqueConstraint("book_id", "ref", name="uq_ledger_holds_book_ref"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    book_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_books.id"))
    ref: Mapped[str] = mapped_column(String(100))
    """What the money is reserved for (a payout id, a grab id); unique per book, so a retried
    reservation finds the first one instead of reserving twice (I2)."""
    amount_fen: Mapped[int] = mapped_column(CheckConstraint("amount_fen > 0", name="positive"))
    status: Mapped[HoldStatus] = mapped_column(Enum(HoldStatus, native_enum=False, length=20))
    created_at: Mapped[datetime] = mapped_column()
    settled_at: Mapped[datetime | None] = mapped_column()


APPEND_ONLY_TABLES = ("ledger_entries", "ledger_transactions")


def append_only_ddl(dialect: str, table: str) -> list[str]:
    """Triggers that make ``table`` append-only: UPDATE and DELETE raise (INV-LEDGER)."""
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END",
        ]
    if dialect == "postgresql":
        return [
            "CREATE OR REPLACE FUNCTION jinli_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$",
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION jinli_append_only()",
        ]
    return []


def _attach_triggers() -> None:
    for model in (LedgerEntry, LedgerTransaction):
        table = model.__table__
        for dialect in ("sqlite", "postgresql"):
            for statement in append_only_ddl(dialect, model.__tablename__):
                ddl = DDL(statement)  # type: ignore[no-untyped-call]  # untyped in SQLAlchemy
                event.listen(table, "after_create", ddl.execute_if(dialect=dialect))


_attach_triggers()
