"""Outbox consumers of analytics."""

from __future__ import annotations

from jinli.analytics import service
from jinli.analytics.domain import LIVE_TOPICS
from jinli.platform.db.relay import Consumer, RelayedEvent
from jinli.platform.db.uow import UnitOfWork


async def store_event(uow: UnitOfWork, event: RelayedEvent) -> None:
    if event.brand_id is None:
        return  # system-wide events have no brand dashboard
    service.record_event(
        uow,
        brand_id=event.brand_id,
        message_id=event.id,
        topic=event.topic,
        key=event.key,
        payload=event.payload,
        occurred_at=event.created_at,
    )


async def project_live(uow: UnitOfWork, event: RelayedEvent) -> None:
    """Fold a scan, payout or alert event into the live campaign counters (exactly once)."""
    await service.apply_live_event(
        uow,
        message_id=event.id,
        topic=event.topic,
        brand_id=event.brand_id,
        payload=event.payload,
        occurred_at=event.created_at,
    )


LIVE_CONSUMER = Consumer(name="analytics.live", handle=project_live, topics=LIVE_TOPICS)

CONSUMERS = (Consumer(name="analytics.events", handle=store_event), LIVE_CONSUMER)
