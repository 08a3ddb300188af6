"""Queries of analytics."""

from __future__ import annotations

from sqlalchemy import func

from jinli.analytics.models import AnalyticsEvent
from jinli.platform.db.repository import Repository


class EventRepository(Repository[AnalyticsEvent]):
    model = AnalyticsEvent

    async def count_by_topic(self) -> dict[str, int]:
        stmt = (
            self.select()
            .with_only_columns(AnalyticsEvent.topic, func.count())
            .group_by(AnalyticsEvent.topic)
        )
        return {topic: int(n) for topic, n in (await self.session.execute(stmt)).all()}
