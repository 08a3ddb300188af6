"""Tables of the campaigns capability."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jinli.campaigns.domain import (
    MAX_AUTO_REISSUES,
    CampaignStatus,
    ChannelKind,
    PayoutMode,
    ReissuePolicy,
)
from jinli.kernel.ids import new_id
from jinli.platform.db.base import Base, BrandOwned


class Campaign(BrandOwned, Base):
    """A marketing campaign. Its budget lives in the ledger book with the same id."""

    __tablename__ = "campaigns"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    """The consumer-facing copy; checked for banned induced-share wording before publishing."""
    status: Mapped[CampaignStatus] = mapped_column(
        Enum(CampaignStatus, native_enum=False, length=20), index=True
    )
    budget_cap_fen: Mapped[int] = mapped_column(CheckConstraint("budget_cap_fen >= 0", name="cap"))
    """Hard cap of the budget in fen; mirrored on the ledger book, which enforces it."""
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    reward_rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The typed reward rule in its stored form (``kind`` + fields); see ``domain.RULE_KINDS``."""
    kpi: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Funnel KPI targets (seed 001): exposure, click-rate, conversion, D3 retention, share rate."""
    payout_mode: Mapped[PayoutMode] = mapped_column(
        Enum(PayoutMode, native_enum=False, length=20),
        default=PayoutMode.transfer,
        server_default=PayoutMode.transfer.value,
    )
    """How rewards are paid (商家转账 by default: cash red packets are closed to new merchants)."""
    reissue_policy: Mapped[ReissuePolicy] = mapped_column(
        Enum(ReissuePolicy, native_enum=False, length=20),
        default=ReissuePolicy.off,
        server_default=ReissuePolicy.off.value,
    )
    """Automatic reissue of payouts that failed for a retryable reason; ``off``: finance decides."""
    max_auto_reissues: Mapped[int] = mapped_column(
        CheckConstraint(
            f"max_auto_reissues >= 0 AND max_auto_reissues <= {MAX_AUTO_REISSUES}",
            name="max_auto_reissues",
        ),
        default=1,
        server_default="1",
    )
    """How many times one payout may be reissued automatically (each a new WeChat Pay number)."""
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
    published_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    """Optimistic concurrency: an edit based on an older version is refused (StaleEdit)."""

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's documented form


class Channel(BrandOwned, Base):
    """A distribution channel of a campaign with its own attribution code (渠道)."""

    __tablename__ = "campaign_channels"
    __table_args__ = (UniqueConstraint("campaign_id", "code", name="uq_campaign_channels_code"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ChannelKind] = mapped_column(Enum(ChannelKind, native_enum=False, length=20))
    code: Mapped[str] = mapped_column(String(32))
    """Short attribution code carried in the link (``?ch=<code>``)."""
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column()
