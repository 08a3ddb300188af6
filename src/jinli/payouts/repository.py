"""Queries of payouts. Workers claim rows with FOR UPDATE SKIP LOCKED on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, Select, String, case, cast, func, or_, select, type_coerce

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

    def _beijing_day(self, column: Any) -> Any:
        """The Beijing calendar day of a UTC instant, computed by the database (Beijing has
        kept UTC+8 without daylight saving since 1991)."""
        if self.uow.is_postgres:
            return cast(func.timezone("Asia/Shanghai", column), Date)
        # SQLite holds the UTC instant as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
        return func.date(column, "+8 hours")

    async def activity_days(self, campaign_id: uuid.UUID) -> set[date]:
        """Beijing days on which a payout of the campaign was created or finished (two
        grouped scans of the campaign's rows; no order is loaded)."""
        days: set[date] = set()
        for column in (PayoutOrder.created_at, PayoutOrder.finished_at):
            day = self._beijing_day(column)
            stmt = (
                select(day)
                .where(PayoutOrder.campaign_id == campaign_id, column.is_not(None))
                .group_by(day)
            )
            for value in await self.session.scalars(stmt):
                days.add(date.fromisoformat(value) if isinstance(value, str) else value)
        return days

    async def day_rows(
        self, start: datetime, end: datetime, lookback_days: int
    ) -> list[tuple[str, int, str, int, str]]:
        """Payouts created in [start − lookback_days days, end) as plain tuples (number,
        amount, state, creation day offset, close), computed by the database from the
        columns alone: no ORM object, no datetime conversion in Python. [start, end) is one
        Beijing day (24 h: Beijing keeps no daylight saving), so the offset is ``-k`` for a
        creation in [start − k days, start − (k−1) days); the close is ``open`` (not
        finished by ``end``), ``today`` or ``before``."""
        created, finished = PayoutOrder.created_at, PayoutOrder.finished_at
        offset = case(
            *((created >= start - timedelta(days=k), -k) for k in range(lookback_days + 1)),
            else_=-lookback_days - 1,
        )
        close = case(
            (or_(finished.is_(None), finished >= end), "open"),
            (finished >= start, "today"),
            else_="before",
        )
        stmt = select(
            PayoutOrder.bill_number,
            PayoutOrder.amount_fen,
            type_coerce(PayoutOrder.state, String),
            offset,
            close,
        ).where(created >= start - timedelta(days=lookback_days), created < end)
        result = await self.session.execute(stmt)
        return [(n, a, s, o, c) for n, a, s, o, c in result]

    def listing(
        self, *, state: PayoutState | None = None, campaign_id: uuid.UUID | None = None
    ) -> Select[PayoutOrder]:
        stmt = self.select().order_by(PayoutOrder.created_at.desc(), PayoutOrder.id)
        if state is not None:
            stmt = stmt.where(PayoutOrder.state == state)
        if campaign_id is not None:
            stmt = stmt.where(PayoutOrder.campaign_id == campaign_id)
        return stmt
