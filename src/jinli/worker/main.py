"""The worker loop. Stateless: run one on SQLite, as many as you like on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from jinli.analytics.tasks import CONSUMERS as ANALYTICS_CONSUMERS
from jinli.campaigns import service as campaigns_service
from jinli.platform.db.relay import Consumer, relay_all
from jinli.platform.runtime import Runtime

log = structlog.get_logger()

CONSUMERS: tuple[Consumer, ...] = (*ANALYTICS_CONSUMERS,)


async def tick(runtime: Runtime) -> int:
    """One pass: scheduled campaign transitions, then the outbox (so their events go out too)."""
    async with runtime.uow(system=True) as uow:
        changed = await campaigns_service.apply_schedule(uow, runtime.clock.now())
        await uow.commit()
    if changed:
        log.info("worker.schedule.applied", campaigns=len(changed))
    return await relay_all(runtime.uow, CONSUMERS)


async def run(
    runtime: Runtime,
    *,
    interval: float = 1.0,
    once: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    stop = stop or asyncio.Event()
    log.info("worker.started", database=runtime.dialect)
    while not stop.is_set():
        try:
            relayed = await tick(runtime)
        except Exception:  # a bad pass must not kill the worker; the next pass retries
            log.exception("worker.tick.failed")
            relayed = 0
        if once:
            return
        if relayed == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    log.info("worker.stopped")
