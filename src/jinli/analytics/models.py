"""Tables of analytics."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from jinli.platform.db.base import Base, BigIntPK, BrandOwned


class AnalyticsEvent(BrandOwned, Base):
    """One business event, copied from the outbox. Append-only."""

    __tablename__ = "analytics_events"
    __table_args__ = (
        Index("ix_analytics_events_brand_topic_at", "brand_id", "topic", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    message_id: Mapped[int] = mapped_column(index=True)
    """The outbox message it came from (for tracing; exactly-once comes from the relay)."""
    topic: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column()
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
