"""Payout workers: the dispatcher (send) and the reconciler (query), each in three steps —
claim and commit, call WeChat outside any transaction, record the answer in a new one (C5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from jinli.payouts import service
from jinli.payouts.ports import GatewayResult, PayoutGateway, PayoutRequest
from jinli.platform.faults import crash_point
from jinli.platform.runtime import Runtime

log = structlog.get_logger()


async def _run(
    runtime: Runtime,
    claimed: list[service.Claimed],
    call: Callable[[PayoutRequest], Awaitable[GatewayResult]],
    before_call: Callable[[service.Claimed], Awaitable[None]] | None = None,
) -> int:
    for item in claimed:
        if before_call is not None:
            await before_call(item)
        result = await call(item.request)
        crash_point("payout.after_call")
        async with runtime.uow(brand_id=item.brand_id) as uow:
            order = await service.record_result(uow, item.payout_id, result)
            await uow.commit()
        crash_point("payout.after_record_commit")
        log.info(
            "payout.call.recorded",
            payout_id=str(item.payout_id),
            state=str(order.state),
            verdict=str(result.verdict),
            bill_number=item.request.bill_number,
        )
    return len(claimed)


async def dispatch_once(
    runtime: Runtime,
    gateway: PayoutGateway,
    *,
    limit: int = 50,
    before_call: Callable[[service.Claimed], Awaitable[None]] | None = None,
) -> int:
    """Send every due payout once (new, unanswered after back-off, or orphaned by a dead
    worker); returns how many were sent. ``before_call`` is where the rate limiter waits."""
    async with runtime.uow(system=True) as uow:
        claimed = await service.claim_due(uow, limit=limit)
        await uow.commit()
    crash_point("payout.after_claim_commit")
    return await _run(runtime, claimed, gateway.send, before_call)


async def reconcile_once(runtime: Runtime, gateway: PayoutGateway, *, limit: int = 50) -> int:
    """Query accepted payouts whose callback has not settled them (WeChat does not promise
    that a notification ever arrives)."""
    async with runtime.uow(system=True) as uow:
        claimed = await service.claim_queries(uow, limit=limit)
        await uow.commit()
    return await _run(runtime, claimed, gateway.query)
