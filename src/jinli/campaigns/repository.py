"""Queries of the campaigns capability."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, func, select

from jinli.campaigns.domain import CampaignStatus
from jinli.campaigns.models import Campaign, Channel
from jinli.platform.db.repository import Repository


class CampaignRepository(Repository[Campaign]):
    model = Campaign

    def listing(
        self, *, status: CampaignStatus | None = None, q: str | None = None
    ) -> Select[Campaign]:
        stmt = self.select().order_by(Campaign.created_at.desc(), Campaign.id)
        if status is not None:
            stmt = stmt.where(Campaign.status == status)
        if q:
            stmt = stmt.where(Campaign.name.contains(q, autoescape=True))
        return stmt

    async def due_to_start(self, now: datetime) -> list[Campaign]:
        stmt = self.select().where(
            Campaign.status == CampaignStatus.scheduled, Campaign.starts_at <= now
        )
        return list(await self.session.scalars(stmt))

    async def due_to_end(self, now: datetime) -> list[Campaign]:
        stmt = self.select().where(
            Campaign.status.in_([CampaignStatus.live, CampaignStatus.paused]),
            Campaign.ends_at <= now,
        )
        return list(await self.session.scalars(stmt))

    async def count_by_status(self) -> dict[CampaignStatus, int]:
        stmt = (
            self.select().with_only_columns(Campaign.status, func.count()).group_by(Campaign.status)
        )
        return {CampaignStatus(s): int(n) for s, n in (await self.session.execute(stmt)).all()}


class ChannelRepository(Repository[Channel]):
    model = Channel

    def for_campaign(self, campaign_id: uuid.UUID) -> Select[Channel]:
        return self.select().where(Channel.campaign_id == campaign_id).order_by(Channel.created_at)

    async def code_taken(self, campaign_id: uuid.UUID, code: str) -> bool:
        stmt = select(func.count()).select_from(
            self.select().where(Channel.campaign_id == campaign_id, Channel.code == code).subquery()
        )
        return bool(await self.session.scalar(stmt))
