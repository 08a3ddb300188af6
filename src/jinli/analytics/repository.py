"""Queries of analytics."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from jinli.analytics.domain import Bump
from jinli.analytics.models import (
    AnalyticsEvent,
    LiveAlert,
    LiveApplied,
    LiveCounter,
    LiveGuessAlert,
)
from jinli.platform.db.repository import Repository

LIVE_LOCK_KEY = zlib.crc32(b"jinli.analytics.live")
"""PostgreSQL advisory-lock key of the live projection's writers (see ``lock_live_writers``)."""


class EventRepository(Repository[AnalyticsEvent]):
    model = AnalyticsEvent

    async def count_by_topic(self) -> dict[str, int]:
        stmt = (
            self.select()
            .with_only_columns(AnalyticsEvent.topic, func.count())
            .group_by(AnalyticsEvent.topic)
        )
        return {topic: int(n) for topic, n in (await self.session.execute(stmt)).all()}


def _insert(postgres: bool) -> Any:
    """``INSERT … ON CONFLICT`` exists on both databases, with the same spelling."""
    return postgresql.insert if postgres else sqlite.insert


class LiveCounterRepository(Repository[LiveCounter]):
    model = LiveCounter

    async def lock_live_writers(self) -> None:
        """Serialise the live projection's writers across workers (PostgreSQL; SQLite has one
        writer anyway). Each relay batch is one transaction that upserts many counters in
        event order; two batches touching the same counters in different orders would
        deadlock. The upserts stay atomic without it: the lock only removes the deadlocks.
        Transaction-scoped, so it goes with the commit or rollback."""
        if self.uow.is_postgres:
            await self.session.execute(select(func.pg_advisory_xact_lock(LIVE_LOCK_KEY)))

    async def mark_applied(self, event_key: str, at: datetime) -> bool:
        """Record that an event was applied; ``False`` if it already was (one statement, so
        two deliveries racing on it cannot both see it as new)."""
        stmt = (
            _insert(self.uow.is_postgres)(LiveApplied)
            .values(event_key=event_key[:100], applied_at=at)
            .on_conflict_do_nothing(index_elements=[LiveApplied.event_key])
            .returning(LiveApplied.event_key)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def bump(self, brand_id: uuid.UUID, campaign_id: uuid.UUID, bump: Bump) -> None:
        """Add a bump to its counter with one atomic upsert (created at the bump's value)."""
        stmt = _insert(self.uow.is_postgres)(LiveCounter).values(
            brand_id=brand_id,
            campaign_id=campaign_id,
            metric=bump.metric,
            dim=bump.dim,
            count=bump.count,
            amount_fen=bump.amount_fen,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[LiveCounter.campaign_id, LiveCounter.metric, LiveCounter.dim],
            set_={
                "count": LiveCounter.count + stmt.excluded.count,
                "amount_fen": LiveCounter.amount_fen + stmt.excluded.amount_fen,
            },
        )
        await self.session.execute(stmt)

    async def for_campaign(self, campaign_id: uuid.UUID) -> Sequence[LiveCounter]:
        stmt = self.select().where(LiveCounter.campaign_id == campaign_id)
        return (await self.session.scalars(stmt)).all()


class LiveAlertRepository(Repository[LiveAlert]):
    model = LiveAlert

    async def keep_latest(self, campaign_id: uuid.UUID, keep: int) -> None:
        """Drop all but the ``keep`` latest alerts of a campaign."""
        latest = (
            select(LiveAlert.id)
            .where(LiveAlert.campaign_id == campaign_id)
            .order_by(LiveAlert.occurred_at.desc(), LiveAlert.id.desc())
            .limit(keep)
        )
        await self.session.execute(
            delete(LiveAlert)
            .where(LiveAlert.campaign_id == campaign_id, LiveAlert.id.not_in(latest))
            .execution_options(synchronize_session=False)
        )

    async def latest(self, campaign_id: uuid.UUID, limit: int) -> Sequence[LiveAlert]:
        stmt = (
            self.select()
            .where(LiveAlert.campaign_id == campaign_id)
            .order_by(LiveAlert.occurred_at.desc(), LiveAlert.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()


class GuessAlertRepository(Repository[LiveGuessAlert]):
    model = LiveGuessAlert

    async def keep_latest(self, keep: int) -> None:
        latest = (
            select(LiveGuessAlert.id)
            .order_by(LiveGuessAlert.occurred_at.desc(), LiveGuessAlert.id.desc())
            .limit(keep)
        )
        await self.session.execute(
            delete(LiveGuessAlert)
            .where(LiveGuessAlert.id.not_in(latest))
            .execution_options(synchronize_session=False)
        )

    async def latest(
        self, since: datetime, until: datetime, limit: int
    ) -> Sequence[LiveGuessAlert]:
        stmt = (
            self.select()
            .where(LiveGuessAlert.occurred_at >= since, LiveGuessAlert.occurred_at < until)
            .order_by(LiveGuessAlert.occurred_at.desc(), LiveGuessAlert.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()
