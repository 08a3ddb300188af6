"""The worker loop. Stateless: run one on SQLite, as many as you like on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from jinli.analytics.tasks import CONSUMERS as ANALYTICS_CONSUMERS
from jinli.campaigns import service as campaigns_service
from jinli.payouts import tasks as payout_tasks
from jinli.payouts.consumers import auto_reissue_consumer
from jinli.payouts.ports import PayoutGateway
from jinli.platform.db.relay import Consumer, relay_all
from jinli.platform.runtime import Runtime
from jinli.reconciliation import service as reconciliation_service
from jinli.reconciliation import tasks as reconciliation_tasks
from jinli.reconciliation.errors import BillSourceUnavailable
from jinli.scans import tasks as scan_tasks

log = structlog.get_logger()

RECONCILE_EVERY = 60.0
"""Seconds between looks for a WeChat Pay bill to reconcile (bills are daily, from 10:00
Beijing; a look costs one indexed query when nothing is due)."""

CONSUMERS: tuple[Consumer, ...] = (
    *ANALYTICS_CONSUMERS,
    auto_reissue_consumer(campaigns_service.is_settled),
)


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


async def reconcile_bills(runtime: Runtime) -> int:
    """The daily reconciliation: fetch and match every due bill day of the merchant."""
    try:
        source, merchant_id = reconciliation_service.bill_source(runtime.extras)
    except BillSourceUnavailable:
        return 0
    return await reconciliation_tasks.reconcile_due(runtime, source, merchant_id=merchant_id)


async def run(
    runtime: Runtime,
    *,
    interval: float = 1.0,
    once: bool = False,
    stop: asyncio.Event | None = None,
    gateway: PayoutGateway | None = None,
    reconcile: bool = False,
) -> None:
    """Loop over :func:`tick` until ``stop``; with ``reconcile`` also run the daily bill
    reconciliation (at most every ``RECONCILE_EVERY`` seconds). With a scan hot store, its
    relay and allowance upkeep run beside it in a faster loop (``scans.tasks.run_hot``)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    next_reconcile = loop.time()
    log.info("worker.started", database=runtime.dialect)
    hot: asyncio.Task[None] | None = None
    if once:
        await _hot_once(runtime)
    elif scan_tasks.hot_store(runtime) is not None:
        hot = loop.create_task(scan_tasks.run_hot(runtime, stop))
    try:
        await _loop(runtime, stop, interval, once, gateway, reconcile, next_reconcile)
    finally:
        if hot is not None:
            stop.set()
            await hot
    log.info("worker.stopped")


async def _hot_once(runtime: Runtime) -> None:
    try:
        await scan_tasks.relay_once(runtime)
        await scan_tasks.allowances_once(runtime)
    except Exception:
        log.exception("worker.hot.failed")


async def _loop(
    runtime: Runtime,
    stop: asyncio.Event,
    interval: float,
    once: bool,
    gateway: PayoutGateway | None,
    reconcile: bool,
    next_reconcile: float,
) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            relayed = await tick(runtime, gateway)
            if reconcile and loop.time() >= next_reconcile:
                next_reconcile = loop.time() + RECONCILE_EVERY
                relayed += await reconcile_bills(runtime)
        except Exception:  # a bad pass must not kill the worker; the next pass retries
            log.exception("worker.tick.failed")
            relayed = 0
        if once:
            return
        if relayed == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
