"""Ledger: the ``allotted`` account (budget set aside for the scan hot path's allowance) and
the ``allot``/``unallot`` transaction kinds.

The account enum is stored as a string (``native_enum=False``); on ``ledger_balances`` it has
a CHECK constraint (``ck_ledger_balances_account``) listing the accounts, which must accept
the new value. PostgreSQL drops and re-creates the constraint; SQLite cannot alter a
constraint, so its table is rebuilt (``batch_alter_table``). The kinds column has no CHECK.
Every existing book gets its ``allotted`` balance row at 0 (``open_book`` creates it for new
books). Transactions get an index on ``(book_id, kind, memo)``: allot/unallot memos name tranches,
grabs and releases, and the relay and the release look them up to stay idempotent.

Revision ID: 0008_ledger_allotted
Revises: 0007_live_stats
Create Date: 2026-11-23 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_ledger_allotted"
down_revision = "0007_live_stats"
branch_labels = None
depends_on = None

OLD_ACCOUNTS = ("funding", "available", "reserved", "paid", "returned")
NEW_ACCOUNTS = (*OLD_ACCOUNTS, "allotted")
CONSTRAINT = "ck_ledger_balances_account"


def _account(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(*values, name="account", native_enum=False, create_constraint=True, length=20)


def _values(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _allow(values: tuple[str, ...], previous: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Rebuild the table with the account column's new type (and so its new CHECK); the
        # batch copies the other constraints, indexes and rows as they are.
        with op.batch_alter_table("ledger_balances", recreate="always") as batch_op:
            batch_op.alter_column(
                "account",
                existing_type=_account(previous),
                type_=_account(values),
                existing_nullable=False,
            )
        return
    op.drop_constraint(op.f(CONSTRAINT), "ledger_balances", type_="check")
    op.create_check_constraint(
        op.f(CONSTRAINT), "ledger_balances", f"account IN ({_values(values)})"
    )


def upgrade() -> None:
    _allow(NEW_ACCOUNTS, OLD_ACCOUNTS)
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ledger_transactions_book_kind_memo", ["book_id", "kind", "memo"], unique=False
        )
    op.execute(
        "INSERT INTO ledger_balances (book_id, account, balance_fen, cap_fen, brand_id) "
        "SELECT id, 'allotted', 0, NULL, brand_id FROM ledger_books b WHERE NOT EXISTS ("
        "SELECT 1 FROM ledger_balances x WHERE x.book_id = b.id AND x.account = 'allotted')"
    )


def downgrade() -> None:
    # Only a book that never allotted can go back: its allotted row is 0 and no entry or
    # transaction names the account (entries are append-only, so they are never deleted).
    with op.batch_alter_table("ledger_transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_transactions_book_kind_memo")
    op.execute("DELETE FROM ledger_balances WHERE account = 'allotted' AND balance_fen = 0")
    _allow(OLD_ACCOUNTS, NEW_ACCOUNTS)
