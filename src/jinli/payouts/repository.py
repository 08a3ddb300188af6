"""Queries of payouts. Workers claim rows with FOR UPDATE SKIP LOCKED on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Select, or_

from jinli.payouts.domain import PayoutState
from jinli.payouts.models import PayoutOrder
from jinli.platform.db.repository import Repository

S = PayoutState


class PayoutRepository(Repository[PayoutOrder]):
    model = PayoutOrder

    async def by_bill_number(
        self, bill_number: str, *, for_update: bool = False
    ) -> PayoutOrder | None:
        stmt = self.select().where(PayoutOrder.bill_number == bill_number)
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).first()

    async def due_to_send(self, now: datetime, limit: int) -> list[PayoutOrder]:
        """Payouts to call WeChat for now: new ones, unanswered ones whose back-off passed, and
        ones whose worker died mid-call (lease expired). Locked rows are skipped."""
        stmt = (
            self.select()
            .where(
                or_(
                    PayoutOrder.state.in_([S.pending, S.unknown]),
                    (PayoutOrder.state == S.sending) & (PayoutOrder.lease_until < now),
                ),
                PayoutOrder.next_attempt_at <= now,
            )
            .order_by(PayoutOrder.next_attempt_at)
            .limit(limit)
        )
        if self.uow.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return list(await self.session.scalars(stmt))

    async def due_to_query(self, now: datetime, limit: int) -> list[PayoutOrder]:
        """Accepted payouts (and those in review) whose next check is due: the reconciler asks
        WeChat for their state, in case no callback ever arrives."""
        stmt = (
            self.select()
            .where(
                PayoutOrder.state.in_([S.accepted, S.awaiting_user, S.review]),
                PayoutOrder.next_attempt_at <= now,
            )
            .order_by(PayoutOrder.next_attempt_at)
            .limit(limit)
        )
        if self.uow.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return list(await self.session.scalars(stmt))

    async def created_between(self, start: datetime, end: datetime) -> list[PayoutOrder]:
        stmt = self.select().where(PayoutOrder.created_at >= start, PayoutOrder.created_at < end)
        return list(await self.session.scalars(stmt.order_by(PayoutOrder.created_at)))

    async def by_bill_numbers(self, numbers: list[str]) -> list[PayoutOrder]:
        stmt = self.select().where(PayoutOrder.bill_number.in_(numbers))
        return list(await self.session.scalars(stmt))

    def listing(
        self, *, state: PayoutState | None = None, campaign_id: uuid.UUID | None = None
    ) -> Select[PayoutOrder]:
        stmt = self.select().order_by(PayoutOrder.created_at.desc(), PayoutOrder.id)
        if state is not None:
            stmt = stmt.where(PayoutOrder.state == state)
        if campaign_id is not None:
            stmt = stmt.where(PayoutOrder.campaign_id == campaign_id)
        return stmt
