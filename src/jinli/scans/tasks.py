"""Background jobs of the scan hot path (``scans.hot``), for the worker: the relay that settles
grabs into the database, and the allowance upkeep. Each opens its own units of work.

Only a runtime with a hot store (``service.HOT_STORE_KEY``) has anything to do here; without
one every function returns at once.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from jinli.platform.runtime import Runtime
from jinli.scans import service
from jinli.scans.ports import HotClaimStore

log = structlog.get_logger()


def hot_store(runtime: Runtime) -> HotClaimStore | None:
    """The runtime's hot store, or ``None`` (claims take the SQL path: nothing to relay)."""
    store: HotClaimStore | None = runtime.extras.get(service.HOT_STORE_KEY)
    return store


async def relay_once(runtime: Runtime) -> int:
    """One relay pass (up to ``scans.relay_batch`` grabs); the number settled."""
    store = hot_store(runtime)
    if store is None:
        return 0
    settings = runtime.settings.scans
    return await service.relay_grabs(
        runtime,
        store,
        limit=settings.relay_batch,
        stale_seconds=settings.relay_stale_seconds,
    )


async def allowances_once(runtime: Runtime) -> int:
    """Re-apply recent tranches the store may have missed, then take back the allowance of
    campaigns no longer open for claims. Returns the tranches restored plus the fen
    released (a number of things done, for the loop's pacing only)."""
    store = hot_store(runtime)
    if store is None:
        return 0
    days = runtime.settings.scans.allowance_restore_days
    restored = await service.restore_allowances(runtime, store, days=days)
    released = await service.release_allowances(runtime, store)
    return restored + released


async def run_hot(runtime: Runtime, stop: asyncio.Event) -> None:
    """The worker's hot-path loop until ``stop``: the relay back to back while a pass comes
    back full, every ``relay_busy_seconds`` while there is work, backing off (doubling) to
    ``relay_idle_seconds`` when idle; the allowance upkeep every
    ``allowance_task_seconds``. A failing pass is logged and retried on the next."""
    if hot_store(runtime) is None:
        return
    settings = runtime.settings.scans
    loop = asyncio.get_running_loop()
    next_upkeep = loop.time()
    pause = settings.relay_busy_seconds
    log.info("scans.relay.started")
    while not stop.is_set():
        settled = 0
        try:
            settled = await relay_once(runtime)
            if loop.time() >= next_upkeep:
                next_upkeep = loop.time() + settings.allowance_task_seconds
                await allowances_once(runtime)
        except Exception:
            log.exception("scans.relay.failed")
        if settled >= settings.relay_batch:
            pause = 0.0
        elif settled:
            pause = settings.relay_busy_seconds
        else:
            pause = min(max(pause * 2, settings.relay_busy_seconds), settings.relay_idle_seconds)
        if pause:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
        else:
            await asyncio.sleep(0)
    log.info("scans.relay.stopped")
