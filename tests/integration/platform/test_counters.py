"""Throttle counters on every backend: atomic increments, windows that expire."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from jinli.kernel.clock import FrozenClock
from jinli.platform.counters import (
    CounterStore,
    DbCounterStore,
    MemoryCounterStore,
    RedisCounterStore,
)
from jinli.platform.db.engine import create_engine
from jinli.platform.db.uow import make_sessionmaker
from tests.conftest import RUN_ID


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
async def store(request: pytest.FixtureRequest, clock: FrozenClock) -> AsyncIterator[CounterStore]:
    kind = request.param
    if kind == "memory":
        yield MemoryCounterStore(clock)
        return
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        redis = Redis.from_url(url)
        yield RedisCounterStore(redis, prefix=f"jinli:test:{RUN_ID}:")
        await redis.aclose()
        return
    db_url: str = request.getfixturevalue("db_url")
    engine = create_engine(db_url)
    yield DbCounterStore(make_sessionmaker(engine), clock)
    await engine.dispose()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    kind = request.node.callspec.params.get("store", "sqlite")
    return "postgresql" if kind == "postgresql" else "sqlite"


async def test_concurrent_hits_are_all_counted(store: CounterStore) -> None:
    """50 simultaneous hits end at exactly 50: no lost update, so no slipping under a limit."""
    counts = await asyncio.gather(*[store.hit("k:race", 60) for _ in range(50)])
    assert sorted(counts) == list(range(1, 51))
    assert await store.peek("k:race") == 50


async def test_peek_many_reads_each_key_in_order(store: CounterStore) -> None:
    """One round trip for a client's throttle keys: counts in the order asked, 0 for a key
    never hit, repeated keys answered each time."""
    await store.hit("k:m1", 60)
    for _ in range(3):
        await store.hit("k:m2", 60)
    assert await store.peek_many(["k:m2", "k:never", "k:m1", "k:m2"]) == [3, 0, 1, 3]
    assert await store.peek_many([]) == []


async def test_reset_and_independent_keys(store: CounterStore) -> None:
    await store.hit("k:a", 60)
    await store.hit("k:a", 60)
    await store.hit("k:b", 60)
    assert await store.peek("k:a") == 2
    await store.reset("k:a")
    assert await store.peek("k:a") == 0
    assert await store.peek("k:b") == 1


async def test_windows_expire(request: pytest.FixtureRequest, clock: FrozenClock) -> None:
    """After the window the count starts again from one (clock-driven stores)."""
    for store in (MemoryCounterStore(clock),):
        assert await store.hit("w", 10) == 1
        assert await store.hit("w", 10) == 2
        clock.advance(timedelta(seconds=11))
        assert await store.peek("w") == 0
        assert await store.hit("w", 10) == 1


@pytest.mark.redis
async def test_redis_windows_expire(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    store = RedisCounterStore(redis, prefix=f"jinli:test:{RUN_ID}:")
    try:
        assert await store.hit("w", 1) == 1
        await asyncio.sleep(1.2)
        assert await store.hit("w", 1) == 1
    finally:
        await redis.aclose()
