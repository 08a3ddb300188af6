"""Tables of analytics."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Enum, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from jinli.analytics.domain import Metric
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


class LiveCounter(BrandOwned, Base):
    """One counter of a campaign's live view, ``(campaign, metric, dim) → count, fen``.

    Only ever changed by one atomic upsert that adds to it (``count = count + n``), so
    concurrent relays cannot lose an increment; never decremented.
    """

    __tablename__ = "live_counters"
    __table_args__ = (
        CheckConstraint("count >= 0", name="count_not_negative"),
        CheckConstraint("amount_fen >= 0", name="amount_not_negative"),
    )

    campaign_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    """Not a foreign key: like the event store, the projection accepts what the outbox says."""
    metric: Mapped[Metric] = mapped_column(
        Enum(Metric, native_enum=False, length=32), primary_key=True
    )
    dim: Mapped[str] = mapped_column(String(100), primary_key=True)
    """The breakdown value: scan outcome, refusal reason, tier label, Beijing hour
    ``YYYYMMDDHH``, region or payout state, depending on ``metric`` (``""``: none/unknown)."""
    count: Mapped[int] = mapped_column()
    amount_fen: Mapped[int] = mapped_column()
    """Sum of the events' fen (prizes won, payout amounts); 0 where the metric has none."""


class LiveAlert(BrandOwned, Base):
    """A recent 串货 alert of a campaign; only the latest ``ALERTS_KEPT`` are kept (the exact
    total is a ``LiveCounter``)."""

    __tablename__ = "live_alerts"
    __table_args__ = (Index("ix_live_alerts_campaign_at", "campaign_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(String(30))
    """``cross_region`` (the one per-campaign alert kind so far)."""
    batch_id: Mapped[uuid.UUID | None] = mapped_column()
    batch_region: Mapped[str] = mapped_column(String(100))
    """Where the batch shipped to."""
    scan_region: Mapped[str] = mapped_column(String(100))
    """Where the code was scanned (``""``: unknown)."""
    occurred_at: Mapped[datetime] = mapped_column()


class LiveGuessAlert(Base):
    """A guessing storm seen by the scan path (system-wide: a forged code names no brand).
    Only the latest ``ALERTS_KEPT`` are kept."""

    __tablename__ = "live_guess_alerts"
    __table_args__ = (
        CheckConstraint("count >= 0", name="count_not_negative"),
        CheckConstraint("window_seconds >= 0", name="window_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    count: Mapped[int] = mapped_column()
    """Invalid codes seen within the window."""
    window_seconds: Mapped[int] = mapped_column()
    occurred_at: Mapped[datetime] = mapped_column(index=True)


class LiveApplied(Base):
    """Events already applied to the live view: a second delivery of the same event is a
    no-op. The relay already delivers once per consumer; this also covers a replay (e.g.
    deliveries reset by hand) and producers that may emit one fact twice (``event_id``)."""

    __tablename__ = "live_applied"

    event_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    """``event:<payload event_id>`` when the producer gives one, else ``outbox:<message id>``."""
    applied_at: Mapped[datetime] = mapped_column()
