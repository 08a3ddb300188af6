"""``RedisHotStore`` against a real Redis: one test per line of the ``HotClaimStore`` contract
(``scans.ports``), the coalescing driver's error paths, and the money property (Hypothesis).

Every test uses its own key prefix (the run id + a random part) and deletes its keys."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.crc import key_slot
from redis.exceptions import ResponseError

from jinli.kernel.money import Fen
from jinli.rewards.domain import FixedPool, LuckySplit
from jinli.scans.adapters.redis_store import (
    GRAB_SHA,
    PoolNotLoaded,
    RedisHotStore,
    entry_text,
    pack_grab,
)
from jinli.scans.domain import (
    ClaimStatus,
    ClaimTicket,
    PoolPlan,
    PoolRef,
    fixed_record,
    none_record,
    share_record,
)
from jinli.scans.hot import Grabbed, decode, encode
from tests.conftest import RUN_ID

pytestmark = pytest.mark.redis

AT = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
BRAND = uuid.UUID(int=1)
BATCH = uuid.UUID(int=2)


def code(n: int | str) -> bytes:
    return hashlib.blake2b(str(n).encode(), digest_size=16).digest()


def ticket(
    campaign: uuid.UUID,
    n: int | str,
    openid: str = "o-1",
    *,
    fen: int | None = 100,
    pool: PoolRef | None = None,
) -> ClaimTicket:
    draw = None
    if pool is None:
        draw = none_record("r", "浙江") if fen is None else fixed_record(Fen(fen), "r", "浙江")
    return ClaimTicket(
        code_hash=code(n),
        short=False,
        brand_id=BRAND,
        campaign_id=campaign,
        batch_id=BATCH,
        openid=openid,
        at=AT,
        batch_region="浙江",
        scan_region="浙江/杭州",
        draw=draw,
        pool=pool,
    )


def lucky(shares: list[int]) -> PoolRef:
    plan = PoolPlan(LuckySplit(total_fen=Fen(sum(shares)), shares=len(shares)))
    return PoolRef(id=uuid.uuid4(), plan=plan, rule_hash="h" * 64)


def fixed_pool(amount: int, shares: int) -> PoolRef:
    return PoolRef(id=uuid.uuid4(), plan=PoolPlan(FixedPool(Fen(amount), shares)), rule_hash="f")


async def _drop(redis: Redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"jinli-test-{RUN_ID}-{uuid.uuid4().hex[:8]}:"


@pytest.fixture
async def store(redis: Redis, prefix: str) -> AsyncIterator[RedisHotStore]:
    s = RedisHotStore(redis, prefix=prefix)
    yield s
    await s.aclose()
    await _drop(redis, prefix)


@pytest.fixture
def campaign() -> uuid.UUID:
    return uuid.uuid4()


async def _stream_len(store: RedisHotStore, redis: Redis, campaign: uuid.UUID) -> int:
    return int(await redis.xlen(store.keys(campaign)["grabs"]))


# --- grab: the claim ---------------------------------------------------------------------------


async def test_one_claimed_among_200_concurrent_grabs_of_one_code(
    store: RedisHotStore, redis: Redis, redis_url: str, prefix: str, campaign: uuid.UUID
) -> None:
    await store.add_allowance(campaign, "t1", 1_000_000)
    # four "processes": each its own client, its own driver, its own pipelines
    clients = [Redis.from_url(redis_url) for _ in range(3)]
    stores = [store, *(RedisHotStore(c, prefix=prefix) for c in clients)]
    results = await asyncio.gather(
        *(stores[i % 4].grab(ticket(campaign, "same", f"o-{i}"), uuid.uuid4()) for i in range(200))
    )
    for c in clients:
        await c.aclose()
    statuses = [r.status for r in results]
    assert statuses.count(ClaimStatus.claimed) == 1
    assert statuses.count(ClaimStatus.taken) == 199
    assert await store.allowance(campaign) == 1_000_000 - 100
    assert await _stream_len(store, redis, campaign) == 1
    # and again later, alone: still taken, nothing changes
    again = await store.grab(ticket(campaign, "same", "o-late"), uuid.uuid4())
    assert again.status == ClaimStatus.taken
    assert await store.allowance(campaign) == 1_000_000 - 100


async def test_claimed_returns_the_predrawn_draw(store: RedisHotStore, campaign: uuid.UUID) -> None:
    await store.add_allowance(campaign, "t1", 500)
    t = ticket(campaign, 1, fen=None)
    result = await store.grab(t, uuid.uuid4())
    assert result.status == ClaimStatus.claimed
    assert result.draw == t.draw
    assert await store.allowance(campaign) == 500  # a 0-fen draw takes nothing


# --- grab: pools ---------------------------------------------------------------------------------


async def test_lucky_pool_each_share_taken_once_and_sum_exact(
    store: RedisHotStore, redis: Redis, campaign: uuid.UUID
) -> None:
    shares = [37, 1, 250, 12, 99, 5, 61, 3, 44, 88] * 5
    pool = lucky(shares)
    await store.load_pool(pool, shares)
    await store.add_allowance(campaign, "t1", 10**9)
    results = await asyncio.gather(
        *(store.grab(ticket(campaign, i, f"o-{i}", pool=pool), uuid.uuid4()) for i in range(80))
    )
    won = [r for r in results if r.status == ClaimStatus.claimed]
    assert len(won) == len(shares)
    assert await redis.ttl(store.keys(campaign, pool.id)["shares"]) == -2  # all taken: gone
    assert [r.status for r in results].count(ClaimStatus.exhausted) == 80 - len(shares)
    draws = sorted((r.draw for r in won if r.draw), key=lambda d: d.share_no or 0)
    assert [d.share_no for d in draws] == list(range(1, len(shares) + 1))
    assert [d.amount_fen for d in draws] == shares  # position i holds share i
    assert sum(d.amount_fen for d in draws) == sum(shares)
    assert draws[0] == share_record(pool.plan, pool.rule_hash, 1, shares[0], "浙江")
    assert await store.allowance(campaign) == 10**9 - sum(shares)
    late = await store.grab(ticket(campaign, "late", pool=pool), uuid.uuid4())
    assert late.status == ClaimStatus.exhausted
    # exhausted changed nothing: the code is still claimable
    assert not await redis.hexists(store.keys(campaign)["claimed"], code("late"))
    assert await _stream_len(store, redis, campaign) == len(shares)


async def test_fixed_pool_counts_shares_without_storing_them(
    store: RedisHotStore, redis: Redis, campaign: uuid.UUID
) -> None:
    pool = fixed_pool(188, 7)
    await store.load_pool(pool, [188] * 7)
    await store.add_allowance(campaign, "t1", 10**6)
    results = await asyncio.gather(
        *(store.grab(ticket(campaign, i, pool=pool), uuid.uuid4()) for i in range(12))
    )
    won = [r.draw for r in results if r.status == ClaimStatus.claimed and r.draw]
    assert sorted(d.share_no or 0 for d in won) == list(range(1, 8))
    assert {d.amount_fen for d in won} == {188}
    assert await store.allowance(campaign) == 10**6 - 7 * 188
    keys = store.keys(campaign, pool.id)
    assert not await redis.exists(keys["shares"])


async def test_pool_loaded_by_another_process_and_unknown_pool(
    store: RedisHotStore, redis: Redis, prefix: str, campaign: uuid.UUID
) -> None:
    pool = lucky([5, 6, 7])
    await store.load_pool(pool, [5, 6, 7])
    await store.load_pool(pool, [5, 6, 7])  # idempotent
    await store.add_allowance(campaign, "t1", 100)
    assert (await store.grab(ticket(campaign, 1, pool=pool), uuid.uuid4())).status == "claimed"
    shares_key = store.keys(campaign, pool.id)["shares"]
    assert await redis.ttl(shares_key) == -1  # installed for good (no staging expiry)
    staging = [k async for k in redis.scan_iter(match=f"{prefix}*:load:*")]
    assert staging == []
    other = RedisHotStore(redis, prefix=prefix)  # a second process that was never given it
    result = await other.grab(ticket(campaign, 2, pool=pool), uuid.uuid4())
    assert result.draw is not None
    assert result.draw.share_no == 2
    loader = RedisHotStore(redis, prefix=prefix)  # a late load_pool loads nothing twice
    await loader.load_pool(pool, [5, 6, 7])
    result = await loader.grab(ticket(campaign, 3, pool=pool), uuid.uuid4())
    assert result.draw is not None
    assert (result.draw.share_no, result.draw.amount_fen) == (3, 7)
    stranger = lucky([1])
    with pytest.raises(PoolNotLoaded):
        await other.grab(ticket(campaign, 4, pool=stranger), uuid.uuid4())


# --- grab: short -----------------------------------------------------------------------------


async def test_short_changes_nothing(
    store: RedisHotStore, redis: Redis, campaign: uuid.UUID
) -> None:
    pool = lucky([300, 20])
    await store.load_pool(pool, [300, 20])
    await store.add_allowance(campaign, "t1", 250)
    short = await store.grab(ticket(campaign, "p1", pool=pool), uuid.uuid4())
    assert short == short.__class__(ClaimStatus.short)
    short = await store.grab(ticket(campaign, "d1", fen=251), uuid.uuid4())
    assert short.status == ClaimStatus.short
    keys = store.keys(campaign, pool.id)
    assert await redis.hlen(keys["claimed"]) == 0
    assert await redis.lrange(keys["shares"], 0, -1) == [b"300", b"20"]
    assert await redis.hget(keys["pool"], "taken") == b"0"
    assert await _stream_len(store, redis, campaign) == 0
    assert await store.allowance(campaign) == 250
    # after a top-up the same codes are claimable and the first share is the one taken
    await store.add_allowance(campaign, "t2", 100)
    won = await store.grab(ticket(campaign, "p1", pool=pool), uuid.uuid4())
    assert won.draw is not None
    assert (won.draw.share_no, won.draw.amount_fen) == (1, 300)
    assert (await store.grab(ticket(campaign, "d1", fen=50), uuid.uuid4())).status == "claimed"
    assert await store.allowance(campaign) == 0


# --- the allowance ---------------------------------------------------------------------------


async def test_tranche_added_once(store: RedisHotStore, campaign: uuid.UUID) -> None:
    assert await store.allowance(campaign) == 0
    added = await asyncio.gather(*(store.add_allowance(campaign, "t-1", 700) for _ in range(20)))
    assert added.count(True) == 1
    assert await store.add_allowance(campaign, "t-2", 300) is True
    assert await store.add_allowance(campaign, "t-1", 700) is False
    assert await store.allowance(campaign) == 1_000
    with pytest.raises(ValueError, match="never takes"):
        await store.add_allowance(campaign, "t-3", -1)


async def test_release_takes_the_rest_once(store: RedisHotStore, campaign: uuid.UUID) -> None:
    await store.add_allowance(campaign, "t-1", 1_000)
    assert (await store.grab(ticket(campaign, 1, fen=300), uuid.uuid4())).status == "claimed"
    assert await store.release_allowance(campaign, "rel-1") == 700
    assert await store.allowance(campaign) == 0
    await store.add_allowance(campaign, "t-2", 50)  # topped up after the release
    assert await store.release_allowance(campaign, "rel-1") == 700  # same figure, nothing taken
    assert await store.allowance(campaign) == 50
    assert await store.release_allowance(campaign, "rel-2") == 50
    assert await store.release_allowance(uuid.uuid4(), "rel-3") == 0


# --- the outbox ------------------------------------------------------------------------------


async def test_entries_decode_to_the_grab(
    store: RedisHotStore, redis: Redis, campaign: uuid.UUID
) -> None:
    pool = lucky([42, 58])
    await store.load_pool(pool, [42, 58])
    await store.add_allowance(campaign, "t", 1_000)
    draw_ids = [uuid.uuid4() for _ in range(3)]
    tickets = [
        ticket(campaign, "a", "人-1", fen=123),
        ticket(campaign, "b", "o-2", pool=pool),
        replace(ticket(campaign, "c", "o-3", pool=pool), short=True, scan_region=None),
    ]
    claims = [await store.grab(t, d) for t, d in zip(tickets, draw_ids, strict=True)]
    pending = await store.pending(limit=10, stale_seconds=30)
    by_draw = {p.grabbed.draw_id: p.grabbed for p in pending}
    assert len(by_draw) == 3
    for t, d, c in zip(tickets, draw_ids, claims, strict=True):
        g = by_draw[d]
        assert c.draw is not None
        assert g.draw == c.draw
        assert g.ticket() == replace(t, draw=c.draw, pool=None)
        assert g.pool_id == (None if t.pool is None else t.pool.id)
    raw: Any = await redis.xrange(store.keys(campaign)["grabs"])
    assert [decode(fields[b"e"]).draw_id for _, fields in raw] == draw_ids
    for t, d, c in zip(tickets, draw_ids, claims, strict=True):
        assert c.draw is not None
        assert entry_text(t, d, c.draw) == encode(Grabbed.of(t, d, c.draw))


async def test_pending_settled_and_stale_redelivery(
    store: RedisHotStore, redis: Redis, prefix: str
) -> None:
    c1, c2 = uuid.uuid4(), uuid.uuid4()
    for c in (c1, c2):
        await store.add_allowance(c, "t", 10_000)
        for i in range(5):
            await store.grab(ticket(c, i), uuid.uuid4())
    first = await store.pending(limit=7, stale_seconds=30)
    assert len(first) == 7
    rest = await store.pending(limit=7, stale_seconds=30)
    assert len(rest) == 3  # the ones not handed out yet, and no others (not stale)
    assert {p.entry_id for p in first}.isdisjoint({p.entry_id for p in rest})
    # this relay "crashes" with all 10 handed out; another relay sees nothing until stale
    relay2 = RedisHotStore(redis, prefix=prefix, consumer="relay-2")
    assert await relay2.pending(limit=100, stale_seconds=30) == []
    await asyncio.sleep(0.12)
    again = await relay2.pending(limit=100, stale_seconds=0.1)
    assert {p.entry_id for p in again} == {p.entry_id for p in first + rest}
    assert {p.grabbed.draw_id for p in again} == {p.grabbed.draw_id for p in first + rest}
    await relay2.settled([p.entry_id for p in again[:6]])
    await relay2.settled([p.entry_id for p in again[:6]])  # settling twice is harmless
    await asyncio.sleep(0.12)
    left = await store.pending(limit=100, stale_seconds=0.1)
    assert {p.entry_id for p in left} == {p.entry_id for p in again[6:]}
    await store.settled([p.entry_id for p in left])
    await asyncio.sleep(0.12)
    assert await store.pending(limit=100, stale_seconds=0.1) == []
    assert await _stream_len(store, redis, c1) + await _stream_len(store, redis, c2) == 0


async def test_pending_survives_a_deleted_stream(
    store: RedisHotStore, redis: Redis, campaign: uuid.UUID
) -> None:
    await store.add_allowance(campaign, "t", 1_000)
    await store.grab(ticket(campaign, 1), uuid.uuid4())
    assert len(await store.pending(limit=5, stale_seconds=30)) == 1
    await redis.delete(store.keys(campaign)["grabs"])  # group gone with it
    await store.grab(ticket(campaign, 2), uuid.uuid4())
    again = await store.pending(limit=5, stale_seconds=30)
    assert [p.grabbed.code_hash for p in again] == [code(2)]


async def test_pending_takes_turns_between_campaigns(store: RedisHotStore) -> None:
    campaigns = [uuid.uuid4() for _ in range(3)]
    for c in campaigns:
        await store.add_allowance(c, "t", 10_000)
        for i in range(4):
            await store.grab(ticket(c, i), uuid.uuid4())
    seen = set()
    for _ in range(3):
        seen |= {p.grabbed.campaign_id for p in await store.pending(limit=2, stale_seconds=30)}
    assert seen == set(campaigns)


# --- cluster-ready keys ----------------------------------------------------------------------


async def test_every_key_of_a_campaign_is_in_its_slot(
    store: RedisHotStore, redis: Redis, prefix: str, campaign: uuid.UUID
) -> None:
    pool = lucky([3, 4])
    await store.load_pool(pool, [3, 4])
    await store.add_allowance(campaign, "t", 100)
    await store.release_allowance(campaign, "r")
    await store.add_allowance(campaign, "t2", 100)
    t = ticket(campaign, 1, pool=pool)
    await store.grab(t, uuid.uuid4())
    await store.pending(limit=5, stale_seconds=30)
    slot = key_slot(f"{{scan:{campaign}}}".encode())
    args = store._grab_args(t, uuid.uuid4())
    script_keys = list(args[1 : 1 + args[0]])
    assert len(script_keys) == 5
    written = [k async for k in redis.scan_iter(match=f"{prefix}*")]
    campaign_keys = [k for k in written if k != store.registry_key.encode()]
    assert len(campaign_keys) >= 6  # claimed, allowance, grabs, tranches, releases, pool, shares
    for key in [*script_keys, *store.keys(campaign, pool.id).values(), *campaign_keys]:
        raw = key if isinstance(key, bytes) else key.encode()
        assert key_slot(raw) == slot, key


# --- the driver ------------------------------------------------------------------------------


def test_packed_command_is_the_plain_one(store: RedisHotStore, campaign: uuid.UUID) -> None:
    for t in (
        ticket(campaign, 1),
        ticket(campaign, 2, pool=lucky([3])),
        ticket(campaign, 3, pool=fixed_pool(5, 2)),
    ):
        for _ in range(2):  # packed fresh, then from the cached head
            d = uuid.uuid4()
            assert store._packed(t, d) == pack_grab(store._grab_args(t, d))


async def test_noscript_is_reloaded(
    store: RedisHotStore, redis: Redis, campaign: uuid.UUID
) -> None:
    await store.add_allowance(campaign, "t", 10_000)
    await redis.script_flush()
    results = await asyncio.gather(
        *(store.grab(ticket(campaign, i), uuid.uuid4()) for i in range(50))
    )
    assert all(r.status == ClaimStatus.claimed for r in results)
    assert await redis.script_exists(GRAB_SHA) == [True]
    await redis.script_flush()
    assert await store.release_allowance(campaign, "r") == 10_000 - 50 * 100


async def test_an_error_fails_its_own_caller_only(
    store: RedisHotStore, redis: Redis, campaign: uuid.UUID
) -> None:
    await store.add_allowance(campaign, "t", 10_000)
    await redis.set(store.keys(campaign)["claimed"], "not a hash")  # WRONGTYPE for this grab
    other = uuid.uuid4()
    await store.add_allowance(other, "t", 10_000)
    outcome = await asyncio.gather(
        store.grab(ticket(campaign, 1), uuid.uuid4()),
        *(store.grab(ticket(other, i), uuid.uuid4()) for i in range(10)),
        return_exceptions=True,
    )
    assert isinstance(outcome[0], ResponseError)
    assert all(getattr(r, "status", None) == ClaimStatus.claimed for r in outcome[1:])


async def test_a_failing_grab_changes_nothing(
    store: RedisHotStore, redis: Redis, campaign: uuid.UUID
) -> None:
    pool = lucky([10, 20])
    await store.load_pool(pool, [10, 20])
    await store.add_allowance(campaign, "t", 1_000)
    keys = store.keys(campaign, pool.id)
    await redis.set(keys["grabs"], "not a stream")  # the script's last line of defence
    for t in (ticket(campaign, 1), ticket(campaign, 2, pool=pool)):
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await store.grab(t, uuid.uuid4())
    assert await redis.hlen(keys["claimed"]) == 0
    assert await store.allowance(campaign) == 1_000
    assert await redis.hget(keys["pool"], "taken") == b"0"
    assert await redis.llen(keys["shares"]) == 2


async def test_a_grab_cancelled_before_sending_is_never_sent(
    store: RedisHotStore, redis: Redis, campaign: uuid.UUID
) -> None:
    await store.add_allowance(campaign, "t", 10_000)
    await store.grab(ticket(campaign, 0), uuid.uuid4())  # registered: the next grab queues at once
    doomed = asyncio.ensure_future(store.grab(ticket(campaign, 1), uuid.uuid4()))
    kept = asyncio.ensure_future(store.grab(ticket(campaign, 2), uuid.uuid4()))
    await asyncio.sleep(0)  # both queued, the flush is due on the next turn
    doomed.cancel()
    assert (await kept).status == ClaimStatus.claimed
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert not await redis.hexists(store.keys(campaign)["claimed"], code(1))
    assert await store.allowance(campaign) == 10_000 - 200


async def test_a_connection_error_fails_the_whole_pipeline(campaign: uuid.UUID) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    s = RedisHotStore(dead, prefix="x:")
    s._registered.add(campaign)  # skip the registry's SADD: the grab itself must fail
    outcome = await asyncio.gather(
        *(s.grab(ticket(campaign, i), uuid.uuid4()) for i in range(3)), return_exceptions=True
    )
    assert all(
        isinstance(r, ConnectionError | OSError) or "Connect" in type(r).__name__ for r in outcome
    )
    await s.aclose()
    await dead.aclose()


# --- money is conserved (Hypothesis) ---------------------------------------------------------

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 400)),
        st.tuples(st.just("grab"), st.integers(0, 15), st.integers(0, 300)),
        st.tuples(st.just("pool"), st.integers(0, 15)),
        st.tuples(st.just("release"), st.integers(0, 2)),
    ),
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, shares=st.lists(st.integers(1, 200), min_size=1, max_size=8))
def test_money_is_conserved(redis_url: str, ops: list[tuple[Any, ...]], shares: list[int]) -> None:
    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        prefix = f"jinli-test-{RUN_ID}-{uuid.uuid4().hex[:8]}:"
        store = RedisHotStore(client, prefix=prefix)
        campaign = uuid.uuid4()
        pool = lucky(shares)
        await store.load_pool(pool, shares)
        added = released = paid = 0
        tranches: list[str] = []
        claimed_codes: set[bytes] = set()
        try:
            batch: list[Callable[[], Any]] = []
            for op in ops:
                if op[0] == "add":
                    tranche = f"t{len(tranches) % 3}-{op[1]}"  # repeats are ignored
                    if await store.add_allowance(campaign, tranche, op[1]):
                        added += op[1]
                    tranches.append(tranche)
                elif op[0] == "release":
                    before = await store.allowance(campaign)
                    got = await store.release_allowance(campaign, f"r{op[1]}")
                    after = await store.allowance(campaign)
                    released += before - after
                    assert got >= 0
                else:
                    t = (
                        ticket(campaign, op[1], fen=op[2])
                        if op[0] == "grab"
                        else ticket(campaign, op[1], pool=pool)
                    )
                    batch.append(functools.partial(store.grab, t, uuid.uuid4()))
                    if len(batch) < 3:
                        continue
                    results = await asyncio.gather(*(f() for f in batch))
                    batch = []
                    for r in results:
                        if r.status == ClaimStatus.claimed:
                            assert r.draw is not None
                            paid += int(r.draw.amount_fen)
                assert await store.allowance(campaign) >= 0
            results = await asyncio.gather(*(f() for f in batch))
            paid += sum(int(r.draw.amount_fen) for r in results if r.status == "claimed" and r.draw)
            left = await store.allowance(campaign)
            assert left >= 0
            assert paid + left + released == added
            entries: Any = await client.xrange(store.keys(campaign)["grabs"])
            assert sum(int(decode(f[b"e"]).draw.amount_fen) for _, f in entries) == paid
            codes = [decode(f[b"e"]).code_hash for _, f in entries]
            assert len(codes) == len(set(codes))
            claimed_codes.update(codes)
            assert await client.hlen(store.keys(campaign)["claimed"]) == len(claimed_codes)
        finally:
            await store.aclose()
            await _drop(client, prefix)
            await client.aclose()

    asyncio.run(scenario())


# --- the entry text is hot.encode's ------------------------------------------------------------

TEXT = st.text(max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    openid=TEXT,
    regions=st.tuples(st.none() | TEXT, st.none() | TEXT, st.none() | TEXT),
    short=st.booleans(),
    label=TEXT,
    figures=st.tuples(st.integers(0, 10**9), st.none() | st.integers(0, 10**6)),
    pooled=st.booleans(),
)
def test_entry_text_is_hot_encode(
    openid: str,
    regions: tuple[str | None, str | None, str | None],
    short: bool,
    label: str,
    figures: tuple[int, int | None],
    pooled: bool,
) -> None:
    batch_region, scan_region, table_region = regions
    amount, extra = figures
    draw = replace(
        fixed_record(Fen(amount), "rule-\"'\\", batch_region),
        tier_label=label,
        table_region=table_region,
        random_value=extra,
        share_no=extra,
        tier_index=None if extra is None else extra % 7,
    )
    t = replace(
        ticket(uuid.uuid4(), label, openid, pool=lucky([1]) if pooled else None),
        short=short,
        batch_region=batch_region,
        scan_region=scan_region,
        draw=None if pooled else draw,
    )
    draw_id = uuid.uuid4()
    assert entry_text(t, draw_id, draw) == encode(Grabbed.of(t, draw_id, draw))
