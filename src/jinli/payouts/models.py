"""Tables of the payouts capability."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jinli.kernel.ids import new_id
from jinli.payouts.domain import (
    AUTO_REISSUE_BLOCK_REASONS,
    AutoReissueBlock,
    PayoutMode,
    PayoutState,
)
from jinli.platform.db.base import Base, BrandOwned


class PayoutOrder(BrandOwned, Base):
    """One payout attempt through WeChat Pay. It is its own outbox: created in the same
    transaction as its budget hold and its cause, sent later by a worker, never lost."""

    __tablename__ = "payout_orders"
    __table_args__ = (
        UniqueConstraint("brand_id", "cause", "attempt", name="uq_payout_orders_cause_attempt"),
        Index("ix_payout_orders_due", "state", "next_attempt_at"),
        CheckConstraint("amount_fen > 0", name="positive"),
        CheckConstraint("auto_reissues_left >= 0", name="auto_reissues_left"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id"), index=True)
    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ledger_holds.id"))
    mode: Mapped[PayoutMode] = mapped_column(Enum(PayoutMode, native_enum=False, length=20))
    state: Mapped[PayoutState] = mapped_column(Enum(PayoutState, native_enum=False, length=20))
    amount_fen: Mapped[int] = mapped_column()
    openid: Mapped[str] = mapped_column(String(128))
    remark: Mapped[str] = mapped_column(String(32))
    activity: Mapped[str] = mapped_column(String(32))
    cause: Mapped[str] = mapped_column(String(100))
    """What earned the money (e.g. ``scan:<code id>``): with ``attempt``, unique per brand, so
    one cause can never create two live payouts (I2)."""
    attempt: Mapped[int] = mapped_column(default=0)
    """0 for the first payout of a cause; n for its n-th reissue after a confirmed failure."""
    bill_number: Mapped[str] = mapped_column(String(32), unique=True)
    """``out_bill_no`` / ``mch_billno`` / ``out_detail_no``: derived from the first payout's id
    and the attempt, never regenerated, identical on every retry (I3)."""
    reissue_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payout_orders.id"))
    reissued_by: Mapped[uuid.UUID | None] = mapped_column()
    """The payout that paid this one again (set once: a failed payout is reissued at most once)."""
    reissue_as: Mapped[PayoutMode | None] = mapped_column(
        Enum(PayoutMode, native_enum=False, length=20)
    )
    """The campaign's automatic reissue policy when the payout was created: the mode of an
    automatic reissue after a retryable failure; ``None``: no automatic reissue, finance decides."""
    auto_reissues_left: Mapped[int] = mapped_column(default=0, server_default="0")
    """Automatic reissues still allowed for this reward (each reissue carries one less)."""
    auto_reissue_blocked: Mapped[AutoReissueBlock | None] = mapped_column(
        Enum(AutoReissueBlock, native_enum=False, length=20)
    )
    """Why a failed payout under an automatic policy was left for finance (``None``: it was not
    judged, or it was reissued)."""
    wechat_no: Mapped[str | None] = mapped_column(String(64))
    wechat_state: Mapped[str | None] = mapped_column(String(40))
    package_info: Mapped[str | None] = mapped_column(Text)
    fail_reason: Mapped[str | None] = mapped_column(String(100))
    last_error: Mapped[str | None] = mapped_column(Text)
    tries: Mapped[int] = mapped_column(default=0)
    """Calls made to WeChat with this number (sends and queries)."""
    may_have_landed: Mapped[bool] = mapped_column(default=False)
    """Set once a call went unanswered: from then on only a query may declare it failed."""
    next_attempt_at: Mapped[datetime] = mapped_column()
    lease_until: Mapped[datetime | None] = mapped_column()
    """While ``sending``: after this instant the worker is presumed dead and the payout is
    treated as unknown (re-sent with the same number)."""
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    @property
    def auto_reissue_blocked_reason(self) -> str | None:
        """``auto_reissue_blocked`` in words for finance (API and console)."""
        block = self.auto_reissue_blocked
        return None if block is None else AUTO_REISSUE_BLOCK_REASONS[block]
