"""Queries of scan-to-win: draws, pools and their shares, and the SQL ``ClaimStore``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from jinli.codes import service as codes_service
from jinli.platform.db.repository import Repository
from jinli.platform.db.uow import UnitOfWork
from jinli.rewards.domain import DrawOutcome
from jinli.scans.domain import Claim, ClaimStatus, ClaimTicket, share_record
from jinli.scans.models import ScanDraw, ScanPool, ScanPoolShare

SHARE_INSERT_CHUNK = 5_000
"""Shares inserted per statement when a pool is split (memory and statement size stay flat)."""


class DrawRepository(Repository[ScanDraw]):
    model = ScanDraw

    async def won_total(self, campaign_id: uuid.UUID) -> tuple[int, int]:
        """(draws that won money, Σ their amounts) of a campaign."""
        stmt = self.select().with_only_columns(
            func.count(), func.coalesce(func.sum(ScanDraw.amount_fen), 0)
        )
        row = (
            await self.session.execute(
                stmt.where(ScanDraw.campaign_id == campaign_id, ScanDraw.outcome == DrawOutcome.won)
            )
        ).one()
        return int(row[0]), int(row[1])


class PoolRepository(Repository[ScanPool]):
    model = ScanPool

    async def for_campaign(self, campaign_id: uuid.UUID) -> ScanPool | None:
        stmt = self.select().where(ScanPool.campaign_id == campaign_id)
        return (await self.session.scalars(stmt)).first()

    async def insert(self, pool: ScanPool) -> bool:
        """Insert the pool unless the campaign has one already (a concurrent first claim or a
        second publish): one statement, so two writers cannot both create one. On PostgreSQL
        the loser waits for the winner's commit, then finds its row."""
        table = cast(Table, ScanPool.__table__)
        values = {c.key: getattr(pool, c.key) for c in table.columns}
        dialect_insert = postgresql.insert if self.uow.is_postgres else sqlite.insert
        stmt = (
            dialect_insert(table)
            .values(values)
            .on_conflict_do_nothing(index_elements=[table.c.campaign_id])
            .returning(table.c.id)
        )
        return (await self.session.execute(stmt)).first() is not None

    async def insert_shares(
        self, brand_id: uuid.UUID, pool_id: uuid.UUID, shares: Sequence[int]
    ) -> None:
        """The shares in position order 1…N, in bulk (no ORM objects)."""
        table = cast(Table, ScanPoolShare.__table__)
        for start in range(0, len(shares), SHARE_INSERT_CHUNK):
            rows = [
                {
                    "brand_id": brand_id,
                    "pool_id": pool_id,
                    "position": start + i + 1,
                    "amount_fen": a,
                }
                for i, a in enumerate(shares[start : start + SHARE_INSERT_CHUNK])
            ]
            await self.session.execute(table.insert(), rows)

    async def take(self, pool_id: uuid.UUID) -> int | None:
        """Take the next share: ``taken = taken + 1 … WHERE taken < shares``, one conditional
        UPDATE on the pool row, so every position is taken at most once however many claims
        race (the row lock serialises them; a rolled-back claim gives its position back).
        Returns the position taken, or ``None`` when the pool is empty."""
        stmt = (
            update(ScanPool)
            .where(ScanPool.id == pool_id, ScanPool.taken < ScanPool.shares)
            .values(taken=ScanPool.taken + 1)
            .returning(ScanPool.taken)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def add_taken_fen(self, pool_id: uuid.UUID, amount_fen: int) -> None:
        stmt = (
            update(ScanPool)
            .where(ScanPool.id == pool_id)
            .values(taken_fen=ScanPool.taken_fen + amount_fen)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)

    async def share_amount(self, pool_id: uuid.UUID, position: int) -> int:
        stmt = select(ScanPoolShare.amount_fen).where(
            ScanPoolShare.pool_id == pool_id, ScanPoolShare.position == position
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def shares(self, pool_id: uuid.UUID) -> list[int]:
        """Every share in position order (audit)."""
        stmt = (
            select(ScanPoolShare.amount_fen)
            .where(ScanPoolShare.pool_id == pool_id)
            .order_by(ScanPoolShare.position)
        )
        return [int(a) for a in (await self.session.execute(stmt)).scalars()]


class SqlClaimStore:
    """The ``ClaimStore`` on SQLite and PostgreSQL: the claim is one conditional UPDATE of the
    code row, then (for a pool) one conditional UPDATE of the pool row, in the caller's
    transaction. Locks are always taken in that order (code, then pool, then the ledger's
    balance row when the payout reserves), so concurrent claims cannot deadlock."""

    async def claim(self, uow: UnitOfWork, ticket: ClaimTicket) -> Claim:
        won = await codes_service.claim_code(
            uow,
            ticket.code_hash,
            short=ticket.short,
            openid=ticket.openid,
            region=ticket.scan_region,
        )
        if not won:
            return Claim(ClaimStatus.taken)
        if ticket.pool is None:
            return Claim(ClaimStatus.claimed, ticket.draw)
        pools = PoolRepository(uow)
        position = await pools.take(ticket.pool.id)
        if position is None:
            return Claim(ClaimStatus.exhausted)
        plan = ticket.pool.plan
        if plan.stores_shares:
            amount = await pools.share_amount(ticket.pool.id, position)
        else:
            amount = int(plan.pool.min_fen)  # a fixed pool: every share is the amount
        await pools.add_taken_fen(ticket.pool.id, amount)
        draw = share_record(plan, ticket.pool.rule_hash, position, amount, ticket.batch_region)
        return Claim(ClaimStatus.claimed, draw)
