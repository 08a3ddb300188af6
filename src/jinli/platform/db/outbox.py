"""The transactional outbox (C6): events are rows written with the change that caused them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jinli.platform.db.base import Base, BigIntPK


class OutboxMessage(Base):
    """One committed domain event, waiting to be consumed by every interested consumer."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100), index=True)
    key: Mapped[str] = mapped_column(String(100))
    """Aggregate key (e.g. the campaign id): consumers see one key's events in id order."""
    brand_id: Mapped[uuid.UUID | None] = mapped_column()
    """The brand the event belongs to; not a foreign key so events survive brand deletion."""
    payload: Mapped[str] = mapped_column(Text)
    """JSON text of the event payload."""
    created_at: Mapped[datetime] = mapped_column()


class OutboxDelivery(Base):
    """Progress of one consumer on one message; the primary key makes consumption exactly-once.

    The consumer's own effect and this row commit in one transaction, so a crash before the
    commit undoes both and the message is simply consumed again after restart.
    """

    __tablename__ = "outbox_deliveries"
    __table_args__ = (Index("ix_outbox_deliveries_due", "consumer", "status", "next_attempt_at"),)

    consumer: Mapped[str] = mapped_column(String(60), primary_key=True)
    message_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    status: Mapped[str] = mapped_column(String(10))
    """``done``, ``retry`` (failed, will be tried again at ``next_attempt_at``) or ``dead``
    (failed too often; listed for a human)."""
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column()
