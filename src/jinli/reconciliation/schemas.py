"""I/O shapes of reconciliation (API, console, CLI output). Amounts are integer fen."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from jinli.reconciliation.domain import DifferenceClass


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ClassTotalRead(Schema):
    difference_class: DifferenceClass
    count: int
    amount_fen: int
    """Signed Σ fen of the class (see ``DifferenceClass``)."""


class RunRead(Schema):
    id: uuid.UUID
    merchant_id: str
    bill_date: date
    bill_kind: str
    source: str
    file_sha1: str
    row_count: int
    payout_row_count: int
    expense_count: int
    expense_fen: int
    income_count: int
    income_fen: int
    other_expense_fen: int
    other_income_fen: int
    matched_count: int
    closed_count: int
    carried_count: int
    unverified_count: int
    difference_count: int
    stale: bool
    created_at: datetime
    created_by: str


class RunSummary(Schema):
    """A run with its per-class totals (every class listed, zeros included)."""

    run: RunRead
    classes: list[ClassTotalRead]


class RunOverview(Schema):
    """A run as one brand sees it: which bill, when and how it was reconciled, and the
    brand's own differences in it by class. The merchant-wide totals (every brand's money)
    and the rows that belong to no brand are left out: they are not the brand's to see."""

    id: uuid.UUID
    merchant_id: str
    bill_date: date
    bill_kind: str
    source: str
    stale: bool
    """An earlier day was reconciled after this run: run the day again."""
    created_at: datetime
    created_by: str
    classes: list[ClassTotalRead]
    """The brand's differences of each class (open and resolved), zeros included."""
    open_count: int
    resolved_count: int


class RunOverviewPage(Schema):
    items: list[RunOverview]
    total: int
    limit: int
    offset: int


class DifferenceRead(Schema):
    id: uuid.UUID
    run_id: uuid.UUID
    bill_date: date
    difference_class: DifferenceClass
    bill_number: str
    brand_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    payout_id: uuid.UUID | None
    payout_state: str | None
    payout_mode: str | None
    expected_fen: int | None
    amount_fen: int
    expense_count: int
    expense_fen: int
    income_count: int
    income_fen: int
    booked_at: datetime | None
    detail: str
    resolved_at: datetime | None
    resolved_by: str | None
    resolution_note: str | None


class DifferencePage(Schema):
    items: list[DifferenceRead]
    total: int
    limit: int
    offset: int


class DifferenceResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=2000)
    """How finance settled it (e.g. "WeChat confirmed the duplicate was reversed on 11-25")."""


class DifferencesResolve(DifferenceResolve):
    ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    """Resolved together with the same note, all or none."""


class CampaignReconciliation(Schema):
    """Where a campaign stands: clean when no difference touching it is open."""

    campaign_id: uuid.UUID
    clean: bool
    open_count: int
    resolved_count: int
    open_by_class: dict[DifferenceClass, int]
