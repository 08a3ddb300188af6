"""The PostgreSQL hot store (``scans.adapters.pg_store.PgHotStore``) against the
``HotClaimStore`` contract, one test per line of the Protocol's docstring, plus the group
commit itself (far fewer transactions than grabs) and a Hypothesis property that no fen is
created or lost. PostgreSQL only (skipped, with the reason, when the server is absent)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from jinli.app.bootstrap import bootstrap
from jinli.campaigns import service as campaigns_service
from jinli.codes import service as codes_service
from jinli.codes.models import Code
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen
from jinli.platform.db.engine import create_engine
from jinli.platform.runtime import Runtime
from jinli.rewards.domain import DrawOutcome
from jinli.scans import domain, service
from jinli.scans.adapters.pg_store import PgHotStore
from jinli.scans.domain import ClaimStatus, ClaimTicket, DrawRecord, PoolRef
from jinli.scans.hot import Grabbed, decode, encode, tranche_id
from jinli.scans.models import ScanAllowance, ScanGrab, ScanPool
from jinli.scans.repository import SqlClaimStore
from tests.conftest import T0, make_settings
from tests.integration.scans._world import REGION, World, make_world

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
]

PRIZE = Fen(188)
RULE_HASH = "0" * 64
LUCKY = {"kind": "lucky_split", "total_fen": 1_007, "shares": 30, "algorithm": "double_mean"}
FIXED_POOL = {"kind": "fixed", "amount_fen": 50, "max_winners": 7}


def prize(amount: int = PRIZE) -> DrawRecord:
    return domain.fixed_record(Fen(amount), RULE_HASH, REGION)


@dataclass
class Hot:
    """A world (brand, live campaign, activated batch) with its codes' hashes and a store."""

    world: World
    store: PgHotStore
    hashes: list[bytes]

    def ticket(
        self, code: int, openid: str, *, amount: int = PRIZE, pool: PoolRef | None = None
    ) -> ClaimTicket:
        return ClaimTicket(
            code_hash=self.hashes[code],
            short=False,
            brand_id=self.world.brand.brand_id,
            campaign_id=self.world.campaign_id,
            batch_id=self.world.batch_id,
            openid=openid,
            at=T0,
            batch_region=REGION,
            scan_region="浙江/宁波",
            draw=None if pool is not None else prize(amount),
            pool=pool,
        )

    async def grab(self, ticket: ClaimTicket) -> tuple[ClaimStatus, DrawRecord | None]:
        claim = await self.store.grab(ticket, uuid.uuid4())
        return claim.status, claim.draw

    async def fund(self, fen: int) -> None:
        assert await self.store.add_allowance(
            self.world.campaign_id, tranche_id(self.world.campaign_id), fen
        )

    async def code_rows(self) -> dict[bytes, Code]:
        async with self.world.runtime.uow(system=True) as uow:
            rows = list(
                await uow.session.scalars(select(Code).where(Code.code_hash.in_(self.hashes)))
            )
            uow.session.expunge_all()
        return {c.code_hash: c for c in rows}

    async def outbox(self) -> int:
        async with self.world.runtime.uow(system=True) as uow:
            return int(await uow.session.scalar(select(func.count()).select_from(ScanGrab)) or 0)

    async def allowance_row(self) -> ScanAllowance | None:
        async with self.world.runtime.uow(system=True) as uow:
            row = await uow.session.get(ScanAllowance, self.world.campaign_id)
            uow.session.expunge_all()
            return row

    async def pool(self, rule: dict[str, Any]) -> PoolRef:
        """The campaign's pool as the service prepares it (shares stored, for lucky splits)."""
        async with self.world.runtime.uow(brand_id=self.world.brand.brand_id) as uow:
            actor = self.world.brand.actor()
            campaign = await campaigns_service.get(uow, actor, self.world.campaign_id)
            ref = await service.prepare_pool(uow, campaign, domain.reward_plan(rule))
            await uow.commit()
        assert ref is not None
        await self.store.load_pool(ref, [])
        return ref


async def _hashes(runtime: Runtime, batch_id: uuid.UUID) -> list[bytes]:
    async with runtime.uow(system=True) as uow:
        stmt = select(Code.code_hash).where(Code.batch_id == batch_id).order_by(Code.serial)
        return list(await uow.session.scalars(stmt))


@contextlib.asynccontextmanager
async def _hot(runtime: Runtime, *, codes: int = 20, **store: Any) -> AsyncIterator[Hot]:
    world = await make_world(runtime, codes=codes)
    hot = Hot(world, PgHotStore(runtime.engine, clock=runtime.clock, **store), [])
    hot.hashes = await _hashes(runtime, world.batch_id)
    try:
        yield hot
    finally:
        await hot.store.aclose()


@pytest.fixture
async def hot(runtime: Runtime) -> AsyncIterator[Hot]:
    async with _hot(runtime) as h:
        yield h


# --- grab is atomic: at most one `claimed` per code ------------------------------------------


async def test_one_code_grabbed_by_200_openids_over_two_engines_is_claimed_once(
    hot: Hot, db_url: str
) -> None:
    await hot.fund(10_000)
    other_engine = create_engine(db_url)
    other = PgHotStore(other_engine, clock=hot.world.runtime.clock)
    try:
        grabs = [
            (hot.store if i % 2 else other).grab(hot.ticket(0, f"o_{i:03d}"), uuid.uuid4())
            for i in range(200)
        ]
        claims = await asyncio.gather(*grabs)
    finally:
        await other.aclose()
        await other_engine.dispose()
    statuses = Counter(c.status for c in claims)
    assert statuses == {ClaimStatus.claimed: 1, ClaimStatus.taken: 199}
    winner = next(i for i, c in enumerate(claims) if c.status == ClaimStatus.claimed)
    row = (await hot.code_rows())[hot.hashes[0]]
    assert row.claimed_by == f"o_{winner:03d}"
    assert row.scans == 1  # the claim counted its scan (the losers' scans are the service's)
    assert row.first_scanned_at == T0
    assert row.first_scan_region == "浙江/宁波"
    assert await hot.store.allowance(hot.world.campaign_id) == 10_000 - PRIZE
    assert await hot.outbox() == 1


async def test_a_code_twice_in_one_batch_is_won_by_the_first_grab_only(hot: Hot) -> None:
    await hot.fund(10_000)
    tickets = [hot.ticket(1, "o_first"), hot.ticket(1, "o_second"), hot.ticket(2, "o_third")]
    claims = await asyncio.gather(*(hot.grab(t) for t in tickets))
    assert hot.store.batches == 1
    assert [c[0] for c in claims] == [ClaimStatus.claimed, ClaimStatus.taken, ClaimStatus.claimed]
    assert (await hot.code_rows())[hot.hashes[1]].claimed_by == "o_first"


async def test_a_code_claimed_before_is_taken_and_nothing_changes(hot: Hot) -> None:
    await hot.fund(1_000)
    assert (await hot.grab(hot.ticket(3, "o_a")))[0] == ClaimStatus.claimed
    assert (await hot.grab(hot.ticket(3, "o_b")))[0] == ClaimStatus.taken
    assert await hot.store.allowance(hot.world.campaign_id) == 1_000 - PRIZE
    assert (await hot.code_rows())[hot.hashes[3]].scans == 1
    assert await hot.outbox() == 1


async def test_a_code_of_another_brand_is_not_claimed(hot: Hot) -> None:
    await hot.fund(1_000)
    foreign = replace(hot.ticket(4, "o_x"), brand_id=uuid.uuid4())
    assert (await hot.grab(foreign))[0] == ClaimStatus.taken
    assert (await hot.code_rows())[hot.hashes[4]].claimed_at is None


async def test_a_code_claimed_through_the_database_is_taken(hot: Hot) -> None:
    """``taken`` also when the claim came through the SQL path (``codes_service``)."""
    await hot.fund(1_000)
    async with hot.world.runtime.uow(brand_id=hot.world.brand.brand_id) as uow:
        assert await codes_service.claim_code(
            uow, hot.hashes[5], short=False, openid="o_sql", region=None
        )
        await uow.commit()
    assert (await hot.grab(hot.ticket(5, "o_hot")))[0] == ClaimStatus.taken
    assert await hot.store.allowance(hot.world.campaign_id) == 1_000


async def test_a_code_by_its_short_and_long_form_in_one_batch_is_won_once(hot: Hot) -> None:
    await hot.fund(1_000)
    short_hash = b"\x5a" * 16
    async with hot.world.runtime.uow(system=True) as uow:
        await uow.session.execute(
            update(Code).where(Code.code_hash == hot.hashes[6]).values(short_hash=short_hash)
        )
        await uow.commit()
    typed = replace(hot.ticket(6, "o_typed"), code_hash=short_hash, short=True)
    claims = await asyncio.gather(hot.grab(typed), hot.grab(hot.ticket(6, "o_scanned")))
    assert hot.store.batches == 1
    assert [c[0] for c in claims] == [ClaimStatus.claimed, ClaimStatus.taken]
    row = (await hot.code_rows())[hot.hashes[6]]
    assert (row.claimed_by, row.scans) == ("o_typed", 1)
    assert await hot.store.allowance(hot.world.campaign_id) == 1_000 - PRIZE


# --- pool shares: each taken once, Σ == total when exhausted -------------------------------


async def test_lucky_pool_shares_are_each_taken_once_and_sum_to_the_total(runtime: Runtime) -> None:
    async with _hot(runtime, codes=45) as h:
        await h.fund(100_000)
        ref = await h.pool(LUCKY)
        claims = await asyncio.gather(*(h.grab(h.ticket(i, f"o_{i}", pool=ref)) for i in range(45)))
        won = [d for s, d in claims if s == ClaimStatus.claimed]
        assert Counter(s for s, _ in claims) == {
            ClaimStatus.claimed: 30,
            ClaimStatus.exhausted: 15,
        }
        assert sorted(d.share_no or 0 for d in won if d is not None) == list(range(1, 31))
        assert sum(d.amount_fen for d in won if d is not None) == LUCKY["total_fen"]
        assert all(d is not None and d.rule_hash == ref.rule_hash for d in won)
        async with runtime.uow(system=True) as uow:
            pool = await uow.session.get(ScanPool, ref.id)
            assert pool is not None
            assert (pool.taken, pool.taken_fen) == (30, LUCKY["total_fen"])
        rows = await h.code_rows()
        exhausted = [h.hashes[i] for i, (s, _) in enumerate(claims) if s == ClaimStatus.exhausted]
        assert all(rows[x].claimed_at is None and rows[x].scans == 0 for x in exhausted)
        assert await h.store.allowance(h.world.campaign_id) == 100_000 - LUCKY["total_fen"]


async def test_fixed_pool_pays_its_amount_to_max_winners(runtime: Runtime) -> None:
    async with _hot(runtime, codes=10) as h:
        await h.fund(10_000)
        ref = await h.pool(FIXED_POOL)
        claims = await asyncio.gather(*(h.grab(h.ticket(i, f"o_{i}", pool=ref)) for i in range(10)))
        won = [d for s, d in claims if s == ClaimStatus.claimed and d is not None]
        assert len(won) == 7
        assert {d.amount_fen for d in won} == {50}
        assert sorted(d.share_no or 0 for d in won) == list(range(1, 8))


async def test_batches_and_database_claims_racing_on_one_pool_never_deadlock(
    runtime: Runtime,
) -> None:
    """The SQL path (code row, then pool row, in one transaction per claim) and batches
    (codes sorted, then pool, then allowance) race on the same codes and the same pool:
    no deadlock, every code claimed once, every share taken once."""
    async with _hot(runtime, codes=40) as h:
        await h.fund(100_000)
        ref = await h.pool(LUCKY)

        async def through_sql(i: int) -> str:
            async with runtime.uow(brand_id=h.world.brand.brand_id) as uow:
                claim = await SqlClaimStore().claim(uow, h.ticket(i, f"o_sql_{i}", pool=ref))
                if claim.status == ClaimStatus.claimed:  # else the service rolls the claim back
                    await uow.commit()
            return str(claim.status)

        async def through_store(i: int) -> str:
            return str((await h.grab(h.ticket(i, f"o_hot_{i}", pool=ref)))[0])

        order = list(range(40))
        results = await asyncio.gather(
            *(through_sql(i) for i in order), *(through_store(i) for i in reversed(order))
        )
        assert Counter(results)["claimed"] == 30
        async with runtime.uow(system=True) as uow:
            pool = await uow.session.get(ScanPool, ref.id)
            assert pool is not None
            assert (pool.taken, pool.taken_fen) == (30, LUCKY["total_fen"])
        rows = await h.code_rows()
        assert sum(1 for r in rows.values() if r.claimed_at is not None) == 30


# --- short: the allowance cannot cover the prize; nothing changes --------------------------


async def test_short_leaves_code_pool_allowance_and_outbox_unchanged(runtime: Runtime) -> None:
    async with _hot(runtime, codes=10) as h:
        await h.fund(400)
        claims = await asyncio.gather(*(h.grab(h.ticket(i, f"o_{i}")) for i in range(3)))
        assert [s for s, _ in claims] == [
            ClaimStatus.claimed,
            ClaimStatus.claimed,
            ClaimStatus.short,
        ]
        assert h.store.batches == 1
        assert await h.store.allowance(h.world.campaign_id) == 400 - 2 * PRIZE
        assert (await h.code_rows())[h.hashes[2]].claimed_at is None
        assert (await h.code_rows())[h.hashes[2]].scans == 0
        assert await h.outbox() == 2
        # a pool grab that is short leaves its share in the pool
        ref = await h.pool(FIXED_POOL)
        allowance = await h.store.allowance(h.world.campaign_id)  # 24 fen < 50
        assert (await h.grab(h.ticket(5, "o_p", pool=ref)))[0] == ClaimStatus.short
        async with runtime.uow(system=True) as uow:
            pool = await uow.session.get(ScanPool, ref.id)
            assert pool is not None
            assert pool.taken == 0
        assert await h.store.allowance(h.world.campaign_id) == allowance
        await h.fund(50)
        assert (await h.grab(h.ticket(5, "o_p", pool=ref)))[1] == domain.share_record(
            ref.plan, ref.rule_hash, 1, 50, REGION
        )


async def test_without_any_allowance_a_paying_grab_is_short_and_a_free_one_claims(hot: Hot) -> None:
    assert await hot.store.allowance(hot.world.campaign_id) == 0
    assert (await hot.grab(hot.ticket(6, "o_a")))[0] == ClaimStatus.short
    free = domain.none_record(RULE_HASH, REGION)
    ticket = replace(hot.ticket(6, "o_a"), draw=free)
    assert await hot.grab(ticket) == (ClaimStatus.claimed, free)


# --- the allowance: never below 0; tranche and release idempotent ---------------------------


async def test_a_tranche_is_added_at_most_once_even_concurrently(hot: Hot) -> None:
    campaign = hot.world.campaign_id
    tranche = tranche_id(campaign)
    added = await asyncio.gather(
        *(hot.store.add_allowance(campaign, tranche, 500) for _ in range(8))
    )
    assert sorted(added) == [False] * 7 + [True]
    assert not await hot.store.add_allowance(campaign, tranche, 500)
    assert await hot.store.add_allowance(campaign, tranche_id(campaign), 300)
    assert await hot.store.allowance(campaign) == 800
    row = await hot.allowance_row()
    assert row is not None
    assert row.granted_fen == 800


async def test_a_release_takes_what_is_left_once_and_repeats_its_figure(hot: Hot) -> None:
    campaign = hot.world.campaign_id
    await hot.fund(1_000)
    assert (await hot.grab(hot.ticket(7, "o_a")))[0] == ClaimStatus.claimed
    releases = await asyncio.gather(
        *(hot.store.release_allowance(campaign, "release-1") for _ in range(4))
    )
    assert releases == [1_000 - PRIZE] * 4
    assert await hot.store.allowance(campaign) == 0
    await hot.fund(70)
    assert await hot.store.release_allowance(campaign, "release-1") == 1_000 - PRIZE
    assert await hot.store.allowance(campaign) == 70  # the repeat took nothing new
    assert await hot.store.release_allowance(campaign, "release-2") == 70
    row = await hot.allowance_row()
    assert row is not None
    assert (row.fen, row.granted_fen, row.grabbed_fen, row.released_fen) == (
        0,
        1_070,
        PRIZE,
        1_070 - PRIZE,
    )


# --- pending / settled, at least once ------------------------------------------------------


async def test_pending_hands_entries_out_once_until_stale_and_settled_removes_them(
    hot: Hot,
) -> None:
    clock = hot.world.runtime.clock
    assert isinstance(clock, FrozenClock)
    await hot.fund(10_000)
    tickets = [hot.ticket(i, f"o_{i}") for i in range(5)]
    draw_ids = [uuid.uuid4() for _ in tickets]
    claims = await asyncio.gather(
        *(hot.store.grab(t, d) for t, d in zip(tickets, draw_ids, strict=True))
    )
    first = await hot.store.pending(limit=3, stale_seconds=30)
    rest = await hot.store.pending(limit=10, stale_seconds=30)
    assert len(first) == 3
    assert len(rest) == 2
    assert await hot.store.pending(limit=10, stale_seconds=30) == []
    # entries decode back equal to what was grabbed
    expected = {
        d: Grabbed.of(t, d, c.draw)
        for t, d, c in zip(tickets, draw_ids, claims, strict=True)
        if c.draw
    }
    assert {p.grabbed.draw_id: p.grabbed for p in first + rest} == expected
    assert all(p.grabbed.ticket().draw == c.draw for p, c in zip(first + rest, claims, strict=True))
    # settled ones are gone; the others come back once stale, to any relay
    await hot.store.settled([p.entry_id for p in first])
    await hot.store.settled([p.entry_id for p in first])  # idempotent
    clock.advance(timedelta(seconds=31))
    again = await hot.store.pending(limit=10, stale_seconds=30)
    assert sorted(p.entry_id for p in again) == sorted(p.entry_id for p in rest)
    await hot.store.settled([p.entry_id for p in again])
    clock.advance(timedelta(seconds=31))
    assert await hot.store.pending(limit=10, stale_seconds=30) == []
    assert await hot.store.unsettled() == 0


async def test_two_relays_polling_at_once_share_the_entries(hot: Hot) -> None:
    await hot.fund(10_000)
    await asyncio.gather(*(hot.grab(hot.ticket(i, f"o_{i}")) for i in range(12)))
    a, b = await asyncio.gather(
        hot.store.pending(limit=12, stale_seconds=30), hot.store.pending(limit=12, stale_seconds=30)
    )
    ids = [p.entry_id for p in a + b]
    assert len(ids) == len(set(ids)) == 12


# --- the group commit ----------------------------------------------------------------------


async def test_500_concurrent_grabs_commit_in_far_fewer_transactions(runtime: Runtime) -> None:
    async with _hot(runtime, codes=500) as h:
        await h.fund(1_000_000)
        commits = 0

        def count(_conn: object) -> None:
            nonlocal commits
            commits += 1

        engine: AsyncEngine = runtime.engine
        event.listen(engine.sync_engine, "commit", count)
        try:
            claims = await asyncio.gather(*(h.grab(h.ticket(i, f"o_{i}")) for i in range(500)))
        finally:
            event.remove(engine.sync_engine, "commit", count)
        assert Counter(s for s, _ in claims) == {ClaimStatus.claimed: 500}
        assert commits == h.store.batches
        assert commits <= 500 // 50  # batches of up to 100: 5 when all arrive at once
        assert await h.store.allowance(h.world.campaign_id) == 1_000_000 - 500 * PRIZE
        assert await h.outbox() == 500


async def test_a_failing_batch_answers_every_caller(hot: Hot) -> None:
    """A grab whose entry cannot be stored (an openid longer than the column) makes its
    batch roll back; the others are retried alone and succeed, the bad one gets the error."""
    await hot.fund(10_000)
    bad = hot.ticket(8, "o_" + "x" * 100)
    results = await asyncio.gather(
        *(hot.grab(hot.ticket(i, f"o_{i}")) for i in range(9, 13)),
        hot.grab(bad),
        return_exceptions=True,
    )
    assert [r[0] for r in results[:4] if isinstance(r, tuple)] == [ClaimStatus.claimed] * 4
    assert isinstance(results[4], Exception)
    assert (await hot.code_rows())[hot.hashes[8]].claimed_at is None
    assert await hot.store.allowance(hot.world.campaign_id) == 10_000 - 4 * PRIZE


def test_the_fast_entry_encoder_writes_exactly_hot_encode(backend: str) -> None:
    """(No database: ``backend`` only keeps the module's parametrization.)"""
    tier = domain.DrawRecord(
        kind=domain.DrawKind.tiers,
        algorithm="tiers.v1",
        rule_hash=RULE_HASH,
        region="浙江",
        table_region="浙江",
        random_value=123_456,
        tier_index=1,
        tier_label="二等奖",
        drawn_fen=Fen(188),
        amount_fen=Fen(188),
        outcome=DrawOutcome.won,
    )
    pool = PoolRef(uuid.uuid4(), domain.reward_plan(LUCKY), RULE_HASH)  # type: ignore[arg-type]
    for draw in (tier, prize(), domain.none_record(RULE_HASH, None)):
        for short, region, pool_ref in ((False, None, None), (True, "广东/深圳", pool)):
            entry = Grabbed(
                draw_id=uuid.uuid4(),
                code_hash=b"\x01" * 16,
                short=short,
                brand_id=uuid.uuid4(),
                campaign_id=uuid.uuid4(),
                batch_id=uuid.uuid4(),
                openid="o_“引号”",
                at=T0,
                batch_region=REGION,
                scan_region=region,
                pool_id=None if pool_ref is None else pool_ref.id,
                draw=draw,
            )
            # The store writes ``hot.encode``'s text: the draw in full, the entry round-trips.
            assert json.loads(encode(entry))["draw"] == dataclasses.asdict(draw)
            assert decode(encode(entry)) == entry


# --- money is conserved (Hypothesis) -------------------------------------------------------

STEP = st.one_of(
    st.tuples(st.just("tranche"), st.integers(0, 2_000)),
    st.tuples(st.just("grab"), st.lists(st.integers(0, 600), min_size=1, max_size=12)),
    st.tuples(st.just("repeat"), st.integers(1, 4)),
    st.tuples(st.just("release"), st.integers(0, 2)),
)


@pytest.fixture
def hypo(db_url: str, tmp_path: Path) -> Iterator[tuple[asyncio.AbstractEventLoop, Hot]]:
    """A world and a store on their own loop (Hypothesis drives the examples synchronously)."""
    loop = asyncio.new_event_loop()
    runtime = bootstrap(make_settings(db_url, tmp_path), clock=FrozenClock(T0))
    world = _hot(runtime, codes=500)
    try:
        yield loop, loop.run_until_complete(world.__aenter__())
    finally:
        loop.run_until_complete(world.__aexit__(None, None, None))
        loop.run_until_complete(runtime.aclose())
        loop.close()


def test_money_is_conserved(hypo: tuple[asyncio.AbstractEventLoop, Hot]) -> None:
    """Σ tranches == allowance left + Σ claimed prizes + Σ released, after any sequence of
    tranches, concurrent grabs (new and already claimed codes), and releases (new and
    repeated); the allowance never goes below 0."""
    loop, h = hypo
    campaign = h.world.campaign_id
    state = {"next_code": 0, "granted": 0, "claimed": 0, "released": 0}
    releases: dict[str, int] = {}

    async def run(steps: list[tuple[str, Any]]) -> None:
        for kind, arg in steps:
            if kind == "tranche":
                if await h.store.add_allowance(campaign, tranche_id(campaign), arg):
                    state["granted"] += arg
            elif kind == "grab":
                first = state["next_code"]
                state["next_code"] += len(arg)
                tickets = [
                    h.ticket(first + i, f"o_{first + i}", amount=a) for i, a in enumerate(arg)
                ]
                claims = await asyncio.gather(*(h.store.grab(t, uuid.uuid4()) for t in tickets))
                for ticket, claim in zip(tickets, claims, strict=True):
                    if claim.status == ClaimStatus.claimed:
                        assert claim.draw == ticket.draw
                        state["claimed"] += claim.draw.amount_fen if claim.draw else 0
                    else:
                        assert claim.status == ClaimStatus.short
            elif kind == "repeat":
                taken = [
                    h.ticket(c, "o_again")
                    for c in range(max(0, state["next_code"] - arg), state["next_code"])
                ]
                for claim in await asyncio.gather(*(h.store.grab(t, uuid.uuid4()) for t in taken)):
                    # a code a short grab left unclaimed may be claimed now
                    if claim.status == ClaimStatus.claimed and claim.draw is not None:
                        state["claimed"] += claim.draw.amount_fen
            else:
                name = f"release-{arg}"
                fen = await h.store.release_allowance(campaign, name)
                if name in releases:
                    assert fen == releases[name]
                else:
                    releases[name] = fen
                    state["released"] += fen
            left = await h.store.allowance(campaign)
            assert left >= 0
            assert state["granted"] == left + state["claimed"] + state["released"]

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(steps=st.lists(STEP, min_size=1, max_size=6))
    def check(steps: list[tuple[str, Any]]) -> None:
        if state["next_code"] + 12 * len(steps) > len(h.hashes):
            return  # codes used up: the remaining examples have nothing new to grab
        loop.run_until_complete(run(steps))

    check()
    row = loop.run_until_complete(h.allowance_row())
    if row is not None:
        assert row.granted_fen == row.fen + row.grabbed_fen + row.released_fen
        assert row.grabbed_fen == state["claimed"]
