"""The hot paths in the scan races (``scans.hot``): the settings every runtime of a race gets
(the test's and each worker's), the relay the test runs beside the scanning processes and then
until the store has drained, and what the store still holds afterwards.

Plain values only cross into the spawned workers (``HotSetup``); the rest runs in the test's
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select

from jinli.platform.runtime import Runtime
from jinli.scans import service, tasks
from jinli.scans.models import ScanGrab
from jinli.scans.ports import HotClaimStore

DRAIN_SECONDS = 120.0
"""How long the relay may take to drain the store once the scanning is over (it takes a few
seconds at CI size); beyond it the race fails, naming what is left."""


@dataclass(frozen=True)
class HotSetup:
    """The hot path of a race, as settings: ``path`` is ``scans.hot_path`` (``postgres`` or
    ``redis``); Redis runs under a key prefix of its own (the run id and a random part)."""

    path: str
    tranche_fen: int
    redis_url: str | None = None
    redis_prefix: str | None = None

    def settings(self) -> dict[str, Any]:
        """Overrides for ``tests.conftest.make_settings``."""
        values: dict[str, Any] = {
            "scans": {"hot_path": self.path, "allowance_tranche_fen": self.tranche_fen}
        }
        if self.redis_url is not None:
            values["redis_url"] = self.redis_url
            values["redis_key_prefix"] = self.redis_prefix
        return values


def settings_for(hot: HotSetup | None) -> dict[str, Any]:
    return {} if hot is None else hot.settings()


def store_of(runtime: Runtime) -> HotClaimStore:
    store = tasks.hot_store(runtime)
    assert store is not None, "the runtime was built without its hot store"
    return store


@dataclass
class RelayLog:
    """What the relay did in a race: passes and grabs settled while the processes scanned,
    then while it drained the store."""

    passes: int = 0
    during: int = 0
    after: int = 0
    drain_seconds: float = 0.0

    def __str__(self) -> str:
        return (
            f"relay: {self.during} settled beside the scans, {self.after} after them "
            f"({self.passes} passes, drained in {self.drain_seconds:.1f} s)"
        )


async def relay_beside(runtime: Runtime, stop: asyncio.Event, log: RelayLog) -> None:
    """The worker's relay pass (``tasks.relay_once``) back to back while the processes scan
    (a short pause when a pass finds nothing), until ``stop``."""
    while not stop.is_set():
        settled = await tasks.relay_once(runtime)
        log.passes += 1
        log.during += settled
        if not settled:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=0.05)


async def drain(runtime: Runtime, log: RelayLog) -> None:
    """Relay until a pass settles nothing and the store has nothing pending, within
    ``DRAIN_SECONDS``. Nothing else relays by now, so an entry handed out and not settled
    is due again at once (``stale_seconds=0``): one the relay failed on is retried, and stays
    pending (the race fails) if it keeps failing."""
    store = store_of(runtime)
    batch = runtime.settings.scans.relay_batch
    started = time.perf_counter()
    while True:
        settled = await service.relay_grabs(runtime, store, limit=batch, stale_seconds=0)
        log.passes += 1
        log.after += settled
        if settled == 0:
            left = await store.pending(limit=batch, stale_seconds=0)
            if not left:
                break
            if time.perf_counter() - started > DRAIN_SECONDS:
                draws = ", ".join(str(p.grabbed.draw_id) for p in left[:5])
                pytest.fail(
                    f"the relay did not drain the store in {DRAIN_SECONDS:.0f} s: "
                    f"{len(left)}+ grabs stay pending (draws {draws}; see the relay's log)"
                )
    log.drain_seconds = time.perf_counter() - started


async def outbox_left(runtime: Runtime, campaign_id: uuid.UUID) -> int:
    """The campaign's grabs the store still keeps (unsettled, or settled and not yet
    removed): rows of ``scan_grabs`` (PostgreSQL), entries of its stream (Redis)."""
    store: Any = store_of(runtime)
    if runtime.settings.scans.hot_path == "redis":
        assert runtime.redis is not None
        return int(await runtime.redis.xlen(store.keys(campaign_id)["grabs"]))
    async with runtime.uow(system=True) as uow:
        stmt = select(func.count()).select_from(ScanGrab).where(ScanGrab.campaign_id == campaign_id)
        return int(await uow.session.scalar(stmt) or 0)


async def redis_pool(
    runtime: Runtime, campaign_id: uuid.UUID, pool_id: uuid.UUID
) -> tuple[int, int, int]:
    """The Redis store's own pool (its counter, not the database row): (shares, taken,
    shares still listed)."""
    store: Any = store_of(runtime)
    assert runtime.redis is not None
    keys = store.keys(campaign_id, pool_id)
    shares, taken = await runtime.redis.hmget(keys["pool"], ["n", "taken"])
    listed = await runtime.redis.llen(keys["shares"])
    return int(shares or 0), int(taken or 0), int(listed)


async def delete_keys(url: str, prefix: str) -> None:
    """Every key under a race's prefix (the session's clean-up by run id is the backstop)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.delete(*keys[start : start + 1000])
    finally:
        await redis.aclose()
