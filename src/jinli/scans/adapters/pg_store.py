"""The PostgreSQL ``HotClaimStore``: grabs group-committed, many per transaction (P11).

A grab waits for its transaction's commit (fsync on; ``synchronous_commit`` untouched), so
on a 2-core box one grab per transaction tops out at the WAL flush rate (≈ 2–4 k/s). Here
concurrent ``grab`` calls of one process join a queue, and a flusher writes them together:
ONE transaction per batch of up to ``max_batch`` grabs, collected for at most
``max_wait_ms`` (a batch leaves as soon as a turn of the event loop brings no new grab, so a
lone grab is not held back), with up to ``max_inflight`` batches committing at once. Every
caller is answered after its batch has committed.

One batch, with set-based statements (no round trip per grab; 5 round trips and one WAL flush
per batch when no pool is involved):

1. The codes: ``codes_service.lock_claimable_codes`` (``SELECT … ORDER BY code_hash FOR
   UPDATE``; a code named twice in the batch, by either form, is claimable by the first grab
   only: the others are ``taken``), then ``claim_locked_codes`` claims them all at once
   (``UPDATE codes … FROM unnest(…)``: the conditional claim that also counts the scan and
   sets the first scan's time and region, as ``CodeRepository.claim``). Claiming before the
   money is decided keeps the allowance row — the one row every batch of a campaign writes —
   locked for the shortest time.
2. The pools of the pool grabs: ``SELECT … ORDER BY id FOR UPDATE``, and the stored shares at
   the next positions (a fixed pool stores none: every share is its amount).
3. The campaigns' allowance rows: ``SELECT … ORDER BY campaign_id FOR UPDATE``.
4. In Python, in arrival order: each claimed grab takes the next share of its pool
   (``exhausted`` when there is none) and its prize's fen from the allowance (``short`` when
   it does not fit; a short pool grab leaves its share to the next grab). The codes of the
   grabs that cannot pay are put back exactly as they were locked
   (``unclaim_locked_codes``), so ``taken``, ``exhausted`` and ``short`` change nothing.
5. ``UPDATE scan_pools … FROM unnest`` (positions and fen taken), then ONE statement for the
   allowances and the outbox (``WITH spend AS (UPDATE scan_allowances … FROM unnest …)
   INSERT INTO scan_grabs … SELECT FROM unnest(…)`` of the ``hot.encode`` entries; the
   CHECK ``fen >= 0`` backs the arithmetic), and COMMIT.

Lock order is the SQL path's (``repository.SqlClaimStore``: codes, then pool, then money),
each kind sorted by key, so batches from any number of processes and single claims through
the database cannot deadlock. Tranches and releases lock their move row, then the allowance
row, and nothing else.

A failing batch fails no caller silently. If the transaction raises before its COMMIT was
sent, it rolled back entirely, and every grab of the batch is tried again alone (so one
poisonous grab fails only its own caller, with its own error). If the COMMIT itself raises,
the outcome is unknown (the server may have committed): every caller gets that error, and
whatever committed is in the outbox, where the relay settles it.

Brand scope: the store runs outside any brand's unit of work. Jinli protects brand rows with
the session's tenancy guard (``platform.db.tenancy``, ORM criteria), not with row-level
security, and a batch mixes brands, so each transaction is a *system* unit of work on the
engine with Core statements. Every row it writes carries the brand of the ticket it came from,
and a code row is only claimed by a ticket naming the code's own brand.

A store belongs to the event loop that first grabs through it (its queue and flusher live
there; one per process); ``aclose()`` finishes the batches in flight. PostgreSQL only (``=
ANY(array)``, ``unnest``, ``FOR UPDATE SKIP LOCKED``); the tables exist on SQLite too, where
the database itself is the claim store (``SqlClaimStore``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import (
    BigInteger,
    DateTime,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    column,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from jinli.codes import service as codes_service
from jinli.kernel.clock import Clock, SystemClock
from jinli.platform.db.uow import UnitOfWork, make_sessionmaker
from jinli.scans.domain import Claim, ClaimStatus, ClaimTicket, DrawRecord, PoolRef, share_record
from jinli.scans.hot import Grabbed, Pending, decode, encode
from jinli.scans.models import ScanAllowance, ScanAllowanceMove, ScanGrab, ScanPool, ScanPoolShare

POOLS: Final = cast(Table, ScanPool.__table__)
SHARES: Final = cast(Table, ScanPoolShare.__table__)
ALLOWANCES: Final = cast(Table, ScanAllowance.__table__)
MOVES: Final = cast(Table, ScanAllowanceMove.__table__)
GRABS: Final = cast(Table, ScanGrab.__table__)

_UUIDS: Final = ARRAY(Uuid())
_INTS: Final = ARRAY(BigInteger())
_TAKEN: Final = Claim(ClaimStatus.taken)
_EXHAUSTED: Final = Claim(ClaimStatus.exhausted)
_SHORT: Final = Claim(ClaimStatus.short)


def _statements() -> tuple[Any, Any]:
    """The batch's statements on the scans tables, built once (their cache keys too)."""
    lock = (
        select(ALLOWANCES.c.campaign_id, ALLOWANCES.c.fen)
        .where(ALLOWANCES.c.campaign_id == any_(bindparam("ids", type_=_UUIDS)))
        .order_by(ALLOWANCES.c.campaign_id)
        .with_for_update()
    )
    now = bindparam("now", type_=DateTime(timezone=True))
    spent = (
        func.unnest(bindparam("spent_ids", type_=_UUIDS), bindparam("spent", type_=_INTS))
        .table_valued(column("campaign_id", Uuid()), column("fen", BigInteger()), name="spent")
        .render_derived()
    )
    spend = (
        update(ALLOWANCES)
        .where(ALLOWANCES.c.campaign_id == spent.c.campaign_id)
        .values(
            fen=ALLOWANCES.c.fen - spent.c.fen,
            grabbed_fen=ALLOWANCES.c.grabbed_fen + spent.c.fen,
            updated_at=now,
        )
        .returning(ALLOWANCES.c.campaign_id)
        .cte("spend")
    )
    won = (
        func.unnest(
            bindparam("brand_ids", type_=_UUIDS),
            bindparam("campaign_ids", type_=_UUIDS),
            bindparam("entries", type_=ARRAY(Text())),
        )
        .table_valued(
            column("brand_id", Uuid()),
            column("campaign_id", Uuid()),
            column("entry", Text()),
            name="won",
        )
        .render_derived()
    )
    source = select(won.c.brand_id, won.c.campaign_id, won.c.entry, now)
    append = (
        GRABS.insert()
        .from_select(["brand_id", "campaign_id", "entry", "created_at"], source)
        .add_cte(spend)
    )
    return lock, append


_LOCK_ALLOWANCES, _SPEND_AND_APPEND = _statements()


@dataclass(slots=True)
class _Grab:
    ticket: ClaimTicket
    draw_id: uuid.UUID
    future: asyncio.Future[Claim]


@dataclass(slots=True)
class _Pool:
    """A locked pool row while a batch decides: what is taken, and the next shares stored."""

    taken: int
    shares: int
    amounts: dict[int, int] = field(default_factory=dict)
    took: int = 0
    took_fen: int = 0


class _CommitFailed(Exception):
    """The COMMIT raised: the batch's outcome is unknown (not retried)."""


class PgHotStore:
    """``ports.HotClaimStore`` on PostgreSQL, group-committing concurrent grabs (see module)."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch: int = 100,
        max_wait_ms: float = 2.0,
        max_inflight: int = 2,
        clock: Clock | None = None,
    ) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("PgHotStore needs PostgreSQL (on SQLite use SqlClaimStore)")
        if max_batch < 1 or max_inflight < 1 or max_wait_ms < 0:
            raise ValueError("max_batch and max_inflight must be ≥ 1, max_wait_ms ≥ 0")
        self._sessions = make_sessionmaker(engine)
        self._clock = clock or SystemClock()
        self._max_batch = max_batch
        self._max_wait = max_wait_ms / 1000
        self._slots = asyncio.Semaphore(max_inflight)
        self._queue: list[_Grab] = []
        self._queued = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self.batches = 0
        """Batch transactions committed so far (tests and benchmarks read it)."""

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._sessions, self._clock, system=True, dialect="postgresql")

    # --- the grab ---------------------------------------------------------------------------

    async def grab(self, ticket: ClaimTicket, draw_id: uuid.UUID, /) -> Claim:
        if (ticket.draw is None) == (ticket.pool is None):
            raise ValueError("a ticket carries either a pre-drawn prize or a pool")
        loop = asyncio.get_running_loop()
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop())
        future: asyncio.Future[Claim] = loop.create_future()
        self._queue.append(_Grab(ticket, draw_id, future))
        self._queued.set()
        return await future

    async def aclose(self) -> None:
        """Finish the batches in flight and stop the flusher (grabs still queued fail)."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(RuntimeError("the hot store was closed"))
        self._queue.clear()

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._queued.wait()
            await self._slots.acquire()
            try:
                # Let the grabs made ready in this turn of the loop join, and go as soon as a
                # turn brings nothing new (or the batch is full, or max_wait has passed).
                deadline = loop.time() + self._max_wait
                seen = -1
                while (
                    len(self._queue) != seen
                    and len(self._queue) < self._max_batch
                    and loop.time() < deadline
                ):
                    seen = len(self._queue)
                    await asyncio.sleep(0)
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                if not self._queue:
                    self._queued.clear()
            except BaseException:
                self._slots.release()
                raise
            task = loop.create_task(self._flush(batch))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _flush(self, batch: list[_Grab]) -> None:
        try:
            live = [g for g in batch if not g.future.done()]  # a cancelled caller is not grabbed
            if not live:
                return
            try:
                claims = await self._transact(live)
            except _CommitFailed as exc:
                cause = exc.__cause__ or exc
                for g in live:
                    _fail(g, cause)
                return
            except Exception as exc:
                if len(live) == 1:
                    _fail(live[0], exc)
                    return
                await self._one_by_one(live)
                return
            for g, claim in zip(live, claims, strict=True):
                if not g.future.done():
                    g.future.set_result(claim)
        finally:
            self._slots.release()

    async def _one_by_one(self, grabs: list[_Grab]) -> None:
        """After a batch rolled back: each grab in a transaction of its own."""
        for g in grabs:
            try:
                (claim,) = await self._transact([g])
            except _CommitFailed as exc:
                _fail(g, exc.__cause__ or exc)
            except Exception as exc:
                _fail(g, exc)
            else:
                if not g.future.done():
                    g.future.set_result(claim)

    async def _transact(self, grabs: Sequence[_Grab]) -> list[Claim]:
        """One batch in one transaction (see the module docstring for the steps)."""
        async with self._uow() as uow:
            session = uow.session
            now = self._clock.now()
            tickets = [g.ticket for g in grabs]
            wanted = [
                codes_service.CodeClaim(
                    lookup_hash=t.code_hash,
                    short=t.short,
                    brand_id=t.brand_id,
                    openid=t.openid,
                    at=t.at,
                    region=t.scan_region,
                )
                for t in tickets
            ]
            # 1. the codes: locked in key order, then all claimed at once (the usual case is
            #    that every claimable grab pays; the ones that cannot are put back in step 4)
            locked = await codes_service.lock_claimable_codes(uow, wanted)
            live = [i for i, row in enumerate(locked) if row is not None]
            claims = [_TAKEN] * len(grabs)
            if not live:
                return claims  # nothing to write (the unit of work rolls back)
            rows = [(row, wanted[i]) for i in live if (row := locked[i]) is not None]
            if len(await codes_service.claim_locked_codes(uow, rows)) != len(rows):
                raise RuntimeError("a locked code could not be claimed")
            # 2. the pools, and the shares the pool grabs could take
            pools = await self._lock_pools(
                uow, Counter(p.id for i in live if (p := tickets[i].pool) is not None)
            )
            # 3. the allowances (held from here to the commit: the batch's only hot row)
            campaigns = sorted({tickets[i].campaign_id for i in live})
            left: dict[uuid.UUID, int] = dict.fromkeys(campaigns, 0)
            found = await session.execute(_LOCK_ALLOWANCES, {"ids": campaigns})
            left.update({row[0]: int(row[1]) for row in found})
            # 4. decide, in arrival order; put back the codes of grabs that cannot pay
            winners: list[tuple[int, DrawRecord]] = []
            spent: Counter[uuid.UUID] = Counter()
            unpaid = []
            for i in live:
                ticket = tickets[i]
                draw, pool = _prize(ticket, pools)
                if draw is None:
                    claims[i] = _EXHAUSTED
                elif draw.amount_fen > left[ticket.campaign_id]:
                    claims[i] = _SHORT
                else:
                    amount = int(draw.amount_fen)
                    left[ticket.campaign_id] -= amount
                    spent[ticket.campaign_id] += amount
                    if pool is not None:
                        pool.took += 1
                        pool.took_fen += amount
                    claims[i] = Claim(ClaimStatus.claimed, draw)
                    winners.append((i, draw))
                    continue
                unpaid.append(locked[i])
            if not winners:
                return claims  # the rollback undoes the claims
            await codes_service.unclaim_locked_codes(uow, [r for r in unpaid if r is not None])
            # 5. the pools' counters, the allowances and the outbox
            await self._write_pools(uow, pools)
            await self._spend_and_append(
                uow, spent, [(tickets[i], grabs[i].draw_id, d) for i, d in winners], now
            )
            try:
                await uow.commit()
            except Exception as exc:
                raise _CommitFailed("the batch's commit failed; its outcome is unknown") from exc
            self.batches += 1
            return claims

    async def _lock_pools(
        self, uow: UnitOfWork, wanted: Counter[uuid.UUID]
    ) -> dict[uuid.UUID, _Pool]:
        if not wanted:
            return {}
        ids = sorted(wanted)
        stmt = (
            select(POOLS.c.id, POOLS.c.taken, POOLS.c.shares)
            .where(POOLS.c.id == any_(bindparam("ids", ids, _UUIDS)))
            .order_by(POOLS.c.id)
            .with_for_update()
        )
        pools = {row[0]: _Pool(int(row[1]), int(row[2])) for row in await uow.session.execute(stmt)}
        if not pools:
            return pools
        # The next shares of each pool (a fixed pool stores none): positions taken+1 … +wanted.
        found = list(pools)
        bounds = (
            func.unnest(
                bindparam("pool_ids", found, _UUIDS),
                bindparam("lo", [pools[p].taken for p in found], _INTS),
                bindparam("hi", [pools[p].taken + wanted[p] for p in found], _INTS),
            )
            .table_valued(
                column("pool_id", Uuid()),
                column("lo", BigInteger()),
                column("hi", BigInteger()),
                name="bounds",
            )
            .render_derived()
        )
        shares = select(SHARES.c.pool_id, SHARES.c.position, SHARES.c.amount_fen).where(
            SHARES.c.pool_id == bounds.c.pool_id,
            SHARES.c.position > bounds.c.lo,
            SHARES.c.position <= bounds.c.hi,
        )
        for pool_id, position, amount in await uow.session.execute(shares):
            pools[pool_id].amounts[int(position)] = int(amount)
        return pools

    async def _write_pools(self, uow: UnitOfWork, pools: dict[uuid.UUID, _Pool]) -> None:
        moved = [p for p, state in pools.items() if state.took]
        if not moved:
            return
        rows = (
            func.unnest(
                bindparam("pool_ids", moved, _UUIDS),
                bindparam("took", [pools[p].took for p in moved], _INTS),
                bindparam("took_fen", [pools[p].took_fen for p in moved], _INTS),
            )
            .table_valued(
                column("pool_id", Uuid()),
                column("took", BigInteger()),
                column("took_fen", BigInteger()),
                name="took",
            )
            .render_derived()
        )
        stmt = (
            update(POOLS)
            .where(POOLS.c.id == rows.c.pool_id)
            .values(
                taken=POOLS.c.taken + rows.c.took, taken_fen=POOLS.c.taken_fen + rows.c.took_fen
            )
        )
        await uow.session.execute(stmt)

    async def _spend_and_append(
        self,
        uow: UnitOfWork,
        spent: Counter[uuid.UUID],
        won: Sequence[tuple[ClaimTicket, uuid.UUID, DrawRecord]],
        now: datetime,
    ) -> None:
        """One statement: the allowances' UPDATE (a CTE) and the entries' INSERT."""
        ids = sorted(c for c, fen in spent.items() if fen > 0)
        params = {
            "spent_ids": ids,
            "spent": [spent[c] for c in ids],
            "brand_ids": [t.brand_id for t, _, _ in won],
            "campaign_ids": [t.campaign_id for t, _, _ in won],
            "entries": [encode(Grabbed.of(t, d, draw)) for t, d, draw in won],
            "now": now,
        }
        await uow.session.execute(_SPEND_AND_APPEND, params)

    # --- the allowance ----------------------------------------------------------------------

    async def allowance(self, campaign_id: uuid.UUID, /) -> int:
        async with self._uow() as uow:
            stmt = select(ALLOWANCES.c.fen).where(ALLOWANCES.c.campaign_id == campaign_id)
            fen = (await uow.session.execute(stmt)).scalar_one_or_none()
        return 0 if fen is None else int(fen)

    async def add_allowance(self, campaign_id: uuid.UUID, tranche: str, fen: int, /) -> bool:
        """Add a tranche once per ``tranche`` id: its move row is inserted first (a repeat,
        even a concurrent one, finds it and adds nothing), then the allowance row."""
        if fen < 0:
            raise ValueError("a tranche cannot be negative")
        async with self._uow() as uow:
            session = uow.session
            now = self._clock.now()
            brand_id = await self._brand(uow, campaign_id)
            if not await self._record_move(uow, tranche, campaign_id, brand_id, "tranche", fen):
                await self._check_move(uow, tranche, campaign_id, "tranche")
                return False
            upsert = pg_insert(ALLOWANCES).values(
                campaign_id=campaign_id,
                brand_id=brand_id,
                fen=fen,
                granted_fen=fen,
                grabbed_fen=0,
                released_fen=0,
                updated_at=now,
            )
            upsert = upsert.on_conflict_do_update(
                index_elements=[ALLOWANCES.c.campaign_id],
                set_={
                    "fen": ALLOWANCES.c.fen + upsert.excluded.fen,
                    "granted_fen": ALLOWANCES.c.granted_fen + upsert.excluded.granted_fen,
                    "updated_at": upsert.excluded.updated_at,
                },
            )
            await session.execute(upsert)
            await uow.commit()
        return True

    async def release_allowance(self, campaign_id: uuid.UUID, release: str, /) -> int:
        """Take what is left out of the allowance, once per ``release`` id; a repeat answers
        the figure of the first (stored on its move row)."""
        async with self._uow() as uow:
            session = uow.session
            brand_id = await self._brand(uow, campaign_id)
            if not await self._record_move(uow, release, campaign_id, brand_id, "release", 0):
                return await self._check_move(uow, release, campaign_id, "release")
            stmt = (
                select(ALLOWANCES.c.fen)
                .where(ALLOWANCES.c.campaign_id == campaign_id)
                .with_for_update()
            )
            left = int((await session.execute(stmt)).scalar_one_or_none() or 0)
            if left:
                await session.execute(
                    update(ALLOWANCES)
                    .where(ALLOWANCES.c.campaign_id == campaign_id)
                    .values(
                        fen=0,
                        released_fen=ALLOWANCES.c.released_fen + left,
                        updated_at=self._clock.now(),
                    )
                )
                await session.execute(update(MOVES).where(MOVES.c.id == release).values(fen=left))
            await uow.commit()
        return left

    async def _brand(self, uow: UnitOfWork, campaign_id: uuid.UUID) -> uuid.UUID:
        stmt = select(ALLOWANCES.c.brand_id).where(ALLOWANCES.c.campaign_id == campaign_id)
        brand_id = (await uow.session.execute(stmt)).scalar_one_or_none()
        if brand_id is not None:
            return cast(uuid.UUID, brand_id)
        return await codes_service.campaign_brand(uow, campaign_id)

    async def _record_move(
        self,
        uow: UnitOfWork,
        move_id: str,
        campaign_id: uuid.UUID,
        brand_id: uuid.UUID,
        kind: str,
        fen: int,
    ) -> bool:
        """Insert the move row unless its id exists (a concurrent twin waits for ours)."""
        stmt = (
            pg_insert(MOVES)
            .values(
                id=move_id,
                campaign_id=campaign_id,
                brand_id=brand_id,
                kind=kind,
                fen=fen,
                created_at=self._clock.now(),
            )
            .on_conflict_do_nothing(index_elements=[MOVES.c.id])
            .returning(MOVES.c.id)
        )
        return (await uow.session.execute(stmt)).first() is not None

    async def _check_move(
        self, uow: UnitOfWork, move_id: str, campaign_id: uuid.UUID, kind: str
    ) -> int:
        stmt = select(MOVES.c.campaign_id, MOVES.c.kind, MOVES.c.fen).where(MOVES.c.id == move_id)
        row = (await uow.session.execute(stmt)).one()
        if row[0] != campaign_id or row[1] != kind:
            raise ValueError(f"{move_id!r} names a {row[1]} of another campaign or kind")
        return int(row[2])

    # --- the outbox and pools ---------------------------------------------------------------

    async def pending(self, *, limit: int, stale_seconds: float) -> list[Pending]:
        """Up to ``limit`` entries never handed out, or handed out more than
        ``stale_seconds`` ago and not settled, oldest first; they are marked handed out in a
        committed transaction first. ``SKIP LOCKED``: relays polling at once share the rows."""
        now = self._clock.now()
        due = (
            select(GRABS.c.id)
            .where(
                or_(
                    GRABS.c.handed_out_at.is_(None),
                    GRABS.c.handed_out_at < now - timedelta(seconds=stale_seconds),
                )
            )
            .order_by(GRABS.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(GRABS)
            .where(GRABS.c.id.in_(due.scalar_subquery()))
            .values(handed_out_at=now)
            .returning(GRABS.c.id, GRABS.c.entry)
        )
        async with self._uow() as uow:
            rows = (await uow.session.execute(stmt)).all()
            await uow.commit()
        return [Pending(str(row[0]), decode(row[1])) for row in sorted(rows)]

    async def settled(self, entry_ids: Sequence[str], /) -> None:
        """The relay has the entries in the database: delete them (idempotent)."""
        ids = sorted({int(e) for e in entry_ids})
        if not ids:
            return
        async with self._uow() as uow:
            await uow.session.execute(
                GRABS.delete().where(GRABS.c.id == any_(bindparam("ids", ids, _INTS)))
            )
            await uow.commit()

    async def load_pool(self, pool: PoolRef, shares: Sequence[int], /) -> None:
        """Nothing to load: a grab reads the pool row and its ``scan_pool_shares`` (written
        by ``service.prepare_pool``) in its own transaction; a fixed pool needs only its row."""

    async def unsettled(self) -> int:
        """How many grabbed entries the relay has not settled yet (checks, benchmarks)."""
        async with self._uow() as uow:
            count = (await uow.session.execute(select(func.count()).select_from(GRABS))).scalar()
        return int(count or 0)


def _prize(
    ticket: ClaimTicket, pools: dict[uuid.UUID, _Pool]
) -> tuple[DrawRecord | None, _Pool | None]:
    """The draw a claimable grab would get: its pre-drawn prize, or the next share of its
    pool (``None`` when the pool is empty)."""
    if ticket.pool is None:
        return ticket.draw, None
    state = pools.get(ticket.pool.id)
    if state is None:
        return None, None
    position = state.taken + state.took + 1
    if position > state.shares:
        return None, state
    plan = ticket.pool.plan
    if plan.stores_shares:
        amount = state.amounts.get(position)
        if amount is None:
            raise RuntimeError(f"pool {ticket.pool.id} has no stored share {position}")
    else:
        amount = int(plan.pool.min_fen)  # a fixed pool: every share is the amount
    draw = share_record(plan, ticket.pool.rule_hash, position, amount, ticket.batch_region)
    return draw, state


def _fail(grab: _Grab, exc: BaseException) -> None:
    if not grab.future.done():
        grab.future.set_exception(exc)
