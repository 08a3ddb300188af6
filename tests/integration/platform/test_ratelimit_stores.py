"""The send limiter on every store, under real concurrency: several worker "processes" (each
its own store client and limiter) with several tasks each never get two slots closer than the
interval, so no window of the remote side can hold more than the limit."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from jinli.platform.db.engine import create_engine
from jinli.platform.ratelimit import (
    MICROS,
    DbRateStore,
    Grant,
    MemoryRateStore,
    Rate,
    RateLimiter,
    RateStore,
    RedisRateStore,
)
from tests.conftest import RUN_ID

PREFIX = f"jinli:test:{RUN_ID}:"


@dataclass
class Recording:
    """A store that remembers every slot it granted (on the store's own clock)."""

    store: RateStore
    grants: list[Grant] = field(default_factory=list)

    async def reserve(self, key: str, interval_us: int, lead_us: int = 0) -> Grant:
        grant = await self.store.reserve(key, interval_us, lead_us)
        self.grants.append(grant)
        return grant

    async def push_back(self, key: str, pause_us: int) -> None:
        await self.store.push_back(key, pause_us)

    async def now_us(self) -> int:
        return await self.store.now_us()


@dataclass
class Backend:
    kind: str
    new_store: Callable[[], RateStore]
    """A store as a new worker process would build it (its own connections)."""


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
async def backend_stores(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    kind: str = request.param
    if kind == "memory":
        shared = MemoryRateStore()  # one process: every task shares it
        yield Backend(kind, lambda: shared)
        return
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        clients: list[Redis] = []

        def redis_store() -> RateStore:
            clients.append(Redis.from_url(url))
            return RedisRateStore(clients[-1], PREFIX)

        yield Backend(kind, redis_store)
        for client in clients:
            await client.aclose()
        return
    db_url: str = request.getfixturevalue("db_url")
    engines: list[AsyncEngine] = []

    def db_store() -> RateStore:
        engines.append(create_engine(db_url))
        return DbRateStore(engines[-1])

    yield Backend(kind, db_store)
    for engine in engines:
        await engine.dispose()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    kind = request.node.callspec.params.get("backend_stores", "sqlite")
    return "postgresql" if kind == "postgresql" else "sqlite"


def worst_sliding_window(slots_us: list[int], window_us: int) -> int:
    """The most slots in any half-open window of this length, wherever it starts (a stronger
    check than the remote side's fixed windows)."""
    slots = sorted(slots_us)
    best, start = 0, 0
    for end, slot in enumerate(slots):
        while slot - slots[start] >= window_us:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_processes_and_tasks_never_share_a_window_beyond_the_limit(
    backend_stores: Backend,
) -> None:
    """3 processes × 4 tasks take 90 slots of a 40/s limit: every two slots are at least one
    interval apart, so no second holds more than 40, and every slot was handed out once."""
    rate = Rate(40, 1.0, 0.05)
    key = f"merchant-{RUN_ID}:transfer"
    processes = [Recording(backend_stores.new_store()) for _ in range(3)]
    limiters = [RateLimiter(p) for p in processes]

    async def worker(limiter: RateLimiter, count: int) -> int:
        taken = 0
        for _ in range(count):
            taken += await limiter.acquire(key, rate, max_wait=30)
        return taken

    taken = await asyncio.gather(*(worker(lim, 8) for lim in limiters for _ in range(4)))
    slots = sorted(g.slot_us for p in processes for g in p.grants)
    assert sum(taken) == 96
    assert len(slots) == len(set(slots)) >= 96  # dropped (late) slots are still spaced
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= rate.interval_us
    assert worst_sliding_window(slots, MICROS) <= 40


async def test_back_off_is_seen_by_every_process(backend_stores: Backend) -> None:
    """A pause set by one process holds for another: no slot before it ends."""
    key = f"merchant-{RUN_ID}:red_packet"
    first, second = backend_stores.new_store(), backend_stores.new_store()
    before = await first.reserve(key, 1_000)
    await first.push_back(key, 300_000)
    after = await second.reserve(key, 1_000)
    assert after.slot_us >= before.now_us + 300_000
    assert after.wait > 0


async def test_a_lead_puts_an_idle_keys_slot_ahead_but_keeps_the_spacing(
    backend_stores: Backend,
) -> None:
    store = backend_stores.new_store()
    key = f"m-{RUN_ID}:lead"
    first = await store.reserve(key, 1_000, 100_000)
    second = await store.reserve(key, 1_000, 100_000)
    # Idle: a lead from the store's now (read once more at the end of the statement on PG).
    assert 50_000 < first.slot_us - first.now_us <= 100_000
    assert second.slot_us >= first.slot_us + 1_000
    assert second.slot_us - second.now_us > 50_000


async def test_the_store_clock_is_the_one_slots_are_on(backend_stores: Backend) -> None:
    """The limiter places slots by the store's clock (``now_us``): same unit, same clock."""
    store = backend_stores.new_store()
    before = await store.now_us()
    grant = await store.reserve(f"m-{RUN_ID}:clock", 1_000)
    after = await store.now_us()
    assert before <= grant.now_us <= after
    assert after - before < 5 * MICROS


async def test_independent_keys_do_not_wait_for_each_other(backend_stores: Backend) -> None:
    store = backend_stores.new_store()
    a = await store.reserve(f"m-{RUN_ID}:a", 10 * MICROS)
    b = await store.reserve(f"m-{RUN_ID}:b", 10 * MICROS)
    again = await store.reserve(f"m-{RUN_ID}:a", 10 * MICROS)
    assert a.wait == b.wait == 0
    assert again.slot_us - a.slot_us == 10 * MICROS


@pytest.mark.redis
async def test_redis_keys_carry_the_prefix_and_a_hash_tag(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        store = RedisRateStore(redis, PREFIX)
        await store.reserve("wechatpay:1900000001:transfer", 10_000)
        key = f"{PREFIX}ratelimit:{{wechatpay:1900000001:transfer}}"
        assert store.key("wechatpay:1900000001:transfer") == key
        assert await redis.exists(key) == 1
        assert 0 < await redis.pttl(key) <= 3_600_000 + 10
    finally:
        await redis.aclose()
