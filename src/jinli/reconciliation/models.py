"""Tables of reconciliation: one run per (merchant, bill day, bill kind), its per-class totals,
its differences, and the rows it carries forward for payouts still open at the end of the day.

Runs, totals and carries are system tables (a merchant's bill covers every brand paid through
it). Differences are brand-owned when the payout is known, so the tenancy guard scopes the
console's reads; a row of the bill with no payout of ours has no brand and is visible only in a
system scope (CLI, platform operators).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jinli.kernel.ids import new_id
from jinli.platform.db.base import Base, BrandOwned
from jinli.reconciliation.domain import DifferenceClass


class ReconciliationRun(Base):
    """The reconciliation of one merchant's bill of one Beijing day. Re-running the day
    replaces the run (and its differences, keeping finance's resolutions)."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        UniqueConstraint(
            "merchant_id", "bill_date", "bill_kind", name="uq_reconciliation_runs_day"
        ),
        CheckConstraint(
            "expense_fen >= 0 AND income_fen >= 0 AND other_expense_fen >= 0"
            " AND other_income_fen >= 0",
            name="totals_unsigned",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    merchant_id: Mapped[str] = mapped_column(String(32))
    """The WeChat Pay merchant (mchid) whose bill this is."""
    bill_date: Mapped[date] = mapped_column()
    """The Beijing day the bill covers."""
    bill_kind: Mapped[str] = mapped_column(String(20))
    """``fund_flow`` (payouts are matched) or ``trade`` (checked and totalled only)."""
    source: Mapped[str] = mapped_column(String(20))
    """``fetch`` (downloaded from WeChat Pay), ``file`` (CLI) or ``upload`` (console)."""
    file_sha1: Mapped[str] = mapped_column(String(40))
    """SHA1 of the bill text as reconciled (decompressed)."""
    row_count: Mapped[int] = mapped_column()
    payout_row_count: Mapped[int] = mapped_column()
    """Rows that belong to payouts (the others are top-ups, fees, trade refunds…)."""
    expense_count: Mapped[int] = mapped_column()
    expense_fen: Mapped[int] = mapped_column()
    """Σ of the payout expense (支出) rows, in fen."""
    income_count: Mapped[int] = mapped_column()
    income_fen: Mapped[int] = mapped_column()
    """Σ of the payout income (收入) rows: refunds and returns, in fen."""
    other_expense_fen: Mapped[int] = mapped_column()
    other_income_fen: Mapped[int] = mapped_column()
    """Σ of the rows that are not payouts, by direction: shown, never matched."""
    matched_count: Mapped[int] = mapped_column()
    """Numbers of the bill that belong to one of our payouts."""
    closed_count: Mapped[int] = mapped_column()
    """Payouts whose whole life was judged in this run (they closed this day)."""
    carried_count: Mapped[int] = mapped_column()
    """Numbers whose rows were carried forward (their payout was still open at day end)."""
    unverified_count: Mapped[int] = mapped_column()
    """Payouts that closed this day but whose history has a day without a run."""
    difference_count: Mapped[int] = mapped_column()
    stale: Mapped[bool] = mapped_column(default=False)
    """An earlier day was (re)reconciled after this run: run this day again to use it."""
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(200))


class ReconciliationClassTotal(Base):
    """How many differences of one class a run found, and their signed Σ fen."""

    __tablename__ = "reconciliation_class_totals"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reconciliation_runs.id", ondelete="CASCADE"), primary_key=True
    )
    difference_class: Mapped[DifferenceClass] = mapped_column(
        Enum(DifferenceClass, native_enum=False, length=30), primary_key=True
    )
    count: Mapped[int] = mapped_column()
    amount_fen: Mapped[int] = mapped_column()
    """Signed: positive when WeChat moved more money out than we account for."""


class ReconciliationDifference(BrandOwned, Base):
    """One difference between WeChat's bill and our payouts, for one number in one run."""

    __tablename__ = "reconciliation_differences"
    __table_args__ = (
        Index("ix_reconciliation_differences_campaign_open", "campaign_id", "resolved_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # A bill row with no payout of ours has no brand: NULL keeps it out of every brand scope.
    brand_id: Mapped[uuid.UUID | None] = mapped_column(  # type: ignore[assignment]  # nullable: see the comment above
        ForeignKey("brands.id", ondelete="RESTRICT"), index=True
    )
    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reconciliation_runs.id", ondelete="CASCADE"), index=True
    )
    bill_date: Mapped[date] = mapped_column()
    difference_class: Mapped[DifferenceClass] = mapped_column(
        Enum(DifferenceClass, native_enum=False, length=30)
    )
    bill_number: Mapped[str] = mapped_column(String(64), index=True)
    """业务凭证号 of the bill rows, or the payout's number."""
    payout_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payout_orders.id"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("campaigns.id"))
    payout_state: Mapped[str | None] = mapped_column(String(20))
    """Our payout's state when the run was made."""
    payout_mode: Mapped[str | None] = mapped_column(String(20))
    expected_fen: Mapped[int | None] = mapped_column()
    """The payout's amount, in fen."""
    amount_fen: Mapped[int] = mapped_column()
    """Signed fen this difference concerns (see ``DifferenceClass``)."""
    expense_count: Mapped[int] = mapped_column()
    expense_fen: Mapped[int] = mapped_column()
    income_count: Mapped[int] = mapped_column()
    income_fen: Mapped[int] = mapped_column()
    """The number's rows in this day's bill."""
    booked_at: Mapped[datetime | None] = mapped_column()
    """The first of those rows (记账时间)."""
    detail: Mapped[str] = mapped_column(String(300))
    resolved_at: Mapped[datetime | None] = mapped_column()
    """Set when finance resolved it (or the system, for a cross-day item); NULL = open."""
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()


class ReconciliationCarry(Base):
    """A number's rows on the run's day, kept because its payout was still open at the end of
    the day: the run of the day the payout closes judges its whole life with them."""

    __tablename__ = "reconciliation_carries"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("reconciliation_runs.id", ondelete="CASCADE"), primary_key=True
    )
    bill_number: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    expense_count: Mapped[int] = mapped_column()
    expense_fen: Mapped[int] = mapped_column()
    income_count: Mapped[int] = mapped_column()
    income_fen: Mapped[int] = mapped_column()
