"""Stored results of idempotent API requests (Stripe-style ``Idempotency-Key``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jinli.platform.db.base import Base


class IdempotencyRecord(Base):
    """One key of one brand: the request's fingerprint and, once done, its exact response."""

    __tablename__ = "idempotency_keys"

    brand_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of method, path and canonical JSON body: the same key with another body is a 422."""
    status: Mapped[str] = mapped_column(String(12))
    """``in_flight`` while the first request runs; ``done`` once its response is stored."""
    locked_at: Mapped[datetime] = mapped_column()
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
