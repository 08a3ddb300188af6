"""Use cases of analytics."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from jinli.analytics.models import AnalyticsEvent
from jinli.analytics.repository import EventRepository
from jinli.platform.db.uow import UnitOfWork


def record_event(
    uow: UnitOfWork,
    *,
    brand_id: uuid.UUID,
    message_id: int,
    topic: str,
    key: str,
    payload: dict[str, Any],
    occurred_at: datetime,
) -> None:
    campaign = payload.get("campaign_id")
    try:
        campaign_id = uuid.UUID(str(campaign)) if campaign else None
    except ValueError:
        campaign_id = None
    EventRepository(uow).add(
        AnalyticsEvent(
            brand_id=brand_id,
            message_id=message_id,
            topic=topic,
            key=key,
            payload=payload,
            occurred_at=occurred_at,
            campaign_id=campaign_id,
        )
    )


async def count_by_topic(uow: UnitOfWork) -> dict[str, int]:
    """Events per topic for the acting brand."""
    return await EventRepository(uow).count_by_topic()
