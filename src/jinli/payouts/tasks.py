"""Payout workers: the dispatcher (send) and the reconciler (query), each in three steps —
claim and commit, call WeChat outside any transaction, record the answer in a new one (C5).

The dispatcher sends its claimed payouts concurrently, each after waiting for a slot of the
merchant's rate limit for its kind of payout (docs/payouts-rate-limit.md): the limiter is
shared by every worker process, so WeChat never sees more than its limit in any window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from jinli.payouts import service
from jinli.payouts.domain import PayoutMode, Verdict
from jinli.payouts.ports import GatewayResult, PayoutGateway
from jinli.platform.faults import crash_point
from jinli.platform.ratelimit import Rate, RateLimiter, rate_limiter
from jinli.platform.runtime import Runtime
from jinli.platform.settings import PayoutDispatchSettings, RateLimitSettings

log = structlog.get_logger()

PASS_SECONDS = 10.0
"""How long one dispatcher pass keeps claiming while batches come back full; then it returns,
so the worker's other duties (queries, the outbox) are not starved by a long queue."""

RATE_LIMITED_CODES = frozenset({"FREQUENCY_LIMITED", "FREQ_LIMIT"})
"""WeChat's "too fast" answers (v3 HTTP 429, v2 ``err_code``). The gateway maps both to
``Verdict.retry_later``: the payout goes back to pending under the SAME number and is sent
again after its back-off; here they also pause the limiter."""


@dataclass(frozen=True)
class SendPacer:
    """The merchant's send rate limits, one per kind of payout (WeChat counts transfers, cash
    red packets and brand red packets separately)."""

    limiter: RateLimiter
    merchant: str
    settings: PayoutDispatchSettings

    def _limit(self, mode: PayoutMode) -> RateLimitSettings:
        match mode:
            case PayoutMode.transfer:
                return self.settings.transfer
            case PayoutMode.red_packet:
                return self.settings.red_packet
            case _:
                return self.settings.brand_red_packet

    def key(self, mode: PayoutMode) -> str:
        return f"wechatpay:{self.merchant}:{mode}"

    def rate(self, mode: PayoutMode) -> Rate:
        limit = self._limit(mode)
        return Rate(limit.calls, limit.per_seconds, self.settings.jitter_allowance_seconds)

    async def wait(self, mode: PayoutMode, max_wait: float | None = None) -> bool:
        """Wait for a send slot; False if none comes within ``max_wait`` seconds (default:
        ``dispatch.max_wait_seconds``)."""
        if max_wait is None:
            max_wait = self.settings.max_wait_seconds
        return await self.limiter.acquire(self.key(mode), self.rate(mode), max_wait=max_wait)

    async def rate_limited(self, mode: PayoutMode) -> None:
        """WeChat said FREQUENCY_LIMITED: pause this kind of payout for every worker."""
        log.warning("payout.rate_limited", mode=str(mode), merchant=self.merchant)
        await self.limiter.back_off(self.key(mode), self.settings.backoff_seconds)


def send_pacer(runtime: Runtime) -> SendPacer:
    """The pacer of the runtime's merchant, on the runtime's shared limiter."""
    pay = runtime.settings.wechatpay
    return SendPacer(rate_limiter(runtime), pay.mch_id, pay.dispatch)


async def _record(runtime: Runtime, item: service.Claimed, result: GatewayResult) -> None:
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


async def _call_and_record(
    runtime: Runtime,
    item: service.Claimed,
    call: Callable[[service.Claimed], Awaitable[GatewayResult | None]],
) -> bool:
    """Steps 2 and 3 for one payout; False when ``call`` gave it back uncalled."""
    result = await call(item)
    if result is None:
        return False
    crash_point("payout.after_call")
    await _record(runtime, item, result)
    return True


def _count_sent(outcomes: list[bool | BaseException]) -> int:
    # Every other payout is called and recorded before a failure is raised: a payout left in
    # `sending` would only be retried after its lease expires (as "may have landed").
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return sum(1 for outcome in outcomes if outcome is True)


async def _claim(runtime: Runtime, limit: int) -> list[service.Claimed]:
    async with runtime.uow(system=True) as uow:
        claimed = await service.claim_due(uow, limit=limit)
        await uow.commit()
    crash_point("payout.after_claim_commit")
    return claimed


class _DispatchPass:
    """One pass of the dispatcher: claim, then for each payout slot → call → record."""

    def __init__(
        self,
        runtime: Runtime,
        gateway: PayoutGateway,
        limit: int,
        before_call: Callable[[service.Claimed], Awaitable[None]] | None,
    ) -> None:
        self.runtime = runtime
        self.gateway = gateway
        self.limit = limit
        self.before_call = before_call
        self.pacer = send_pacer(runtime)
        self.settings = self.pacer.settings
        self.calls = asyncio.Semaphore(self.settings.concurrency)
        # SQLite has one writer: this pass's tasks take turns here rather than in SQLite's busy
        # handler, which sleeps in steps of milliseconds to tens of milliseconds.
        self.writes: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if runtime.dialect == "sqlite" else contextlib.nullcontext()
        )
        self.open = 0
        """Claimed payouts whose answer is not recorded yet."""
        self.room = asyncio.Event()

    async def run(self) -> int:
        started = time.monotonic()
        tasks: list[asyncio.Task[bool]] = []
        try:
            while batch := await self._claim():
                claimed_at = time.monotonic()
                self.open += len(batch)
                self.room.clear()
                tasks += [asyncio.create_task(self._one(item, claimed_at)) for item in batch]
                if len(batch) < self.limit or time.monotonic() - started > PASS_SECONDS:
                    break
                # Claim more only once this batch is nearly under way: a claimed payout waits
                # in line for its slot and should not wait longer than it must; and not while
                # answers pile up unrecorded (the database is the bottleneck then).
                await self.room.wait()
                if any(task.done() and task.exception() for task in tasks):
                    break
        finally:
            # However the claiming stopped (nothing more due, a failed claim, the worker being
            # stopped), every payout already claimed is called and recorded first.
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        return _count_sent(outcomes)

    async def _claim(self) -> list[service.Claimed]:
        async with self.writes:
            return await _claim(self.runtime, self.limit)

    async def _one(self, item: service.Claimed, claimed_at: float) -> bool:
        try:
            async with self.calls:
                result = await self._send(item, claimed_at)
            if result is None:
                return False
            crash_point("payout.after_call")
            async with self.writes:
                await _record(self.runtime, item, result)
            return True
        finally:
            self.open -= 1
            if self.open < 2 * self.settings.concurrency:
                self.room.set()

    async def _send(self, item: service.Claimed, claimed_at: float) -> GatewayResult | None:
        """Wait for a slot and call WeChat; None if the payout was given back instead."""
        mode = item.request.mode
        max_wait = claimed_at + self.settings.max_wait_seconds - time.monotonic()
        if not await self.pacer.wait(mode, max_wait):
            async with self.writes:
                await _give_back(self.runtime, item)
            return None
        if self.before_call is not None:
            await self.before_call(item)
        result = await self.gateway.send(item.request)
        if result.wechat_state in RATE_LIMITED_CODES:
            await self.pacer.rate_limited(mode)
        return result


async def dispatch_once(
    runtime: Runtime,
    gateway: PayoutGateway,
    *,
    limit: int = 50,
    before_call: Callable[[service.Claimed], Awaitable[None]] | None = None,
) -> int:
    """Send every due payout once (new, unanswered after back-off, or orphaned by a dead
    worker); returns how many were sent.

    Claims up to ``limit`` payouts; up to ``dispatch.concurrency`` calls are in flight at once,
    each after its rate-limit slot (``before_call`` runs right after the slot, before the call:
    keep it short), and each answer is recorded as it comes. While batches come back full, the
    next one is claimed as the current one runs low, for up to ``PASS_SECONDS``, so the
    limiter does not idle between batches. A payout with no slot within
    ``dispatch.max_wait_seconds`` of its claim is given back unsent (same number, sent later),
    long before its lease could expire.
    """
    return await _DispatchPass(runtime, gateway, limit, before_call).run()


async def _give_back(runtime: Runtime, item: service.Claimed) -> None:
    """No rate-limit slot in time: return the payout as if WeChat had said "too fast" (pending
    again, same number, retried after its back-off) rather than hold it past its lease."""
    log.warning("payout.send.deferred", payout_id=str(item.payout_id))
    result = GatewayResult(Verdict.retry_later, error="rate limiter: no send slot in time")
    await _record(runtime, item, result)


async def reconcile_once(runtime: Runtime, gateway: PayoutGateway, *, limit: int = 50) -> int:
    """Query accepted payouts whose callback has not settled them (WeChat does not promise
    that a notification ever arrives). One query at a time, as before: the query APIs have
    limits of their own, which the send limiter does not count."""
    async with runtime.uow(system=True) as uow:
        claimed = await service.claim_queries(uow, limit=limit)
        await uow.commit()

    async def query(item: service.Claimed) -> GatewayResult:
        return await gateway.query(item.request)

    return sum([await _call_and_record(runtime, item, query) for item in claimed])
