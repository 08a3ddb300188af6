"""Outbox consumers of analytics."""

from __future__ import annotations

from jinli.analytics import service
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


CONSUMERS = (Consumer(name="analytics.events", handle=store_event),)
