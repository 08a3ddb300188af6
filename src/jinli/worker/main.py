"""The worker loop. Stateless: run one on SQLite, as many as you like on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from jinli.analytics.tasks import CONSUMERS as ANALYTICS_CONSUMERS
from jinli.campaigns import service as campaigns_service
from jinli.payouts import tasks as payout_tasks
from jinli.payouts.ports import PayoutGateway
from jinli.platform.db.relay import Consumer, relay_all
from jinli.platform.runtime import Runtime

log = structlog.get_logger()

CONSUMERS: tuple[Consumer, ...] = (*ANALYTICS_CONSUMERS,)


async def tick(runtime: Runtime, gateway: PayoutGateway | None = None) -> int:
    """One pass: scheduled campaign transitions, the outbox (so their events go out too), then
    payouts: send what is due and query what WeChat has not settled by callback."""
    async with runtime.uow(system=True) as uow:
        changed = await campaigns_service.apply_schedule(uow, runtime.clock.now())
        await uow.commit()
    if changed:
        log.info("worker.schedule.applied", campaigns=len(changed))
    work = await relay_all(runtime.uow, CONSUMERS)
    if gateway is not None:
        work += await payout_tasks.dispatch_once(runtime, gateway)
        work += await payout_tasks.reconcile_once(runtime, gateway)
    return work


async def run(
    runtime: Runtime,
    *,
    interval: float = 1.0,
    once: bool = False,
    stop: asyncio.Event | None = None,
    gateway: PayoutGateway | None = None,
) -> None:
    stop = stop or asyncio.Event()
    log.info("worker.started", database=runtime.dialect)
    while not stop.is_set():
        try:
            relayed = await tick(runtime, gateway)
        except Exception:  # a bad pass must not kill the worker; the next pass retries
            log.exception("worker.tick.failed")
            relayed = 0
        if once:
            return
        if relayed == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    log.info("worker.stopped")
