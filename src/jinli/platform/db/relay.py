"""The outbox relay: hands every committed event to every consumer, exactly once each.

Each consumer runs its handler and records its ``OutboxDelivery`` row in one transaction, so a
kill -9 anywhere leaves either both or neither. On PostgreSQL, ``FOR UPDATE SKIP LOCKED`` lets
several workers share the load without waiting on each other; the delivery primary key is what
guarantees exactly-once even if two workers raced on the same message.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, exists, or_, select

from jinli.platform.db.outbox import OutboxDelivery, OutboxMessage
from jinli.platform.db.uow import UnitOfWork
from jinli.platform.faults import crash_point

log = structlog.get_logger()

MAX_ATTEMPTS = 8


@dataclass(frozen=True, slots=True)
class RelayedEvent:
    id: int
    topic: str
    key: str
    brand_id: Any
    payload: dict[str, Any]
    created_at: datetime


Handler = Callable[[UnitOfWork, RelayedEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Consumer:
    name: str
    handle: Handler
    topics: frozenset[str] | None = None
    """Topic names (or prefixes ending in ``.``) this consumer wants; ``None`` means all."""

    def wants(self, topic: str) -> bool:
        if self.topics is None:
            return True
        return any(topic == t or (t.endswith(".") and topic.startswith(t)) for t in self.topics)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


async def relay_batch(uow: UnitOfWork, consumer: Consumer, *, limit: int = 100) -> int:
    """Deliver up to ``limit`` due messages to ``consumer`` inside ``uow``; returns how many."""
    now = uow.clock.now()
    done_or_waiting = exists().where(
        OutboxDelivery.consumer == consumer.name,
        OutboxDelivery.message_id == OutboxMessage.id,
        or_(OutboxDelivery.status != "retry", OutboxDelivery.next_attempt_at > now),
    )
    stmt = select(OutboxMessage).where(~done_or_waiting).order_by(OutboxMessage.id).limit(limit)
    if uow.is_postgres:
        stmt = stmt.with_for_update(skip_locked=True, of=OutboxMessage)
    messages = (await uow.session.scalars(stmt)).all()
    for message in messages:
        await _deliver(uow, consumer, message)
    crash_point("outbox.before_commit")
    return len(messages)


async def _deliver(uow: UnitOfWork, consumer: Consumer, message: OutboxMessage) -> None:
    now = uow.clock.now()
    prior = await uow.session.get(OutboxDelivery, (consumer.name, message.id))
    delivery = prior or OutboxDelivery(
        consumer=consumer.name, message_id=message.id, status="done", attempts=0, updated_at=now
    )
    delivery.attempts += 1
    delivery.updated_at = now
    if consumer.wants(message.topic):
        event = RelayedEvent(
            id=message.id,
            topic=message.topic,
            key=message.key,
            brand_id=message.brand_id,
            payload=json.loads(message.payload),
            created_at=message.created_at,
        )
        try:
            async with uow.session.begin_nested():
                await consumer.handle(uow, event)
        except Exception as exc:  # a failing handler must not block the others: retry it later
            delivery.status = "dead" if delivery.attempts >= MAX_ATTEMPTS else "retry"
            delivery.next_attempt_at = now + _backoff(delivery.attempts)
            delivery.last_error = repr(exc)[:2000]
            log.warning(
                "outbox.delivery.failed",
                consumer=consumer.name,
                message_id=message.id,
                attempts=delivery.attempts,
                error=repr(exc),
            )
            uow.session.add(delivery)
            return
    delivery.status = "done"
    delivery.next_attempt_at = None
    delivery.last_error = None
    uow.session.add(delivery)
    crash_point("outbox.after_handle")


async def relay_all(
    uow_factory: Callable[..., UnitOfWork], consumers: Sequence[Consumer], *, limit: int = 100
) -> int:
    """One pass over every consumer, each batch in its own transaction."""
    total = 0
    for consumer in consumers:
        async with uow_factory(system=True) as uow:
            count = await relay_batch(uow, consumer, limit=limit)
            await uow.commit()
        crash_point("outbox.after_commit")
        total += count
    return total


def due_filter(consumer: str) -> Any:
    """SQL condition for 'this consumer has not finished this message' (used by dashboards)."""
    return ~exists().where(
        and_(
            OutboxDelivery.consumer == consumer,
            OutboxDelivery.message_id == OutboxMessage.id,
            OutboxDelivery.status == "done",
        )
    )
