"""The daily job the worker calls every tick (``tasks.reconcile_due``): against the simulator
on a frozen clock it reconciles yesterday once the bill is published and every missed day of
the window, does nothing when nothing is due, backs off after a failure instead of calling
WeChat on every tick, and lets two workers share the work without fetching a day twice."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest
from sqlalchemy import select

from jinli.app.bootstrap import bootstrap
from jinli.app.wechat import close, simulator_base_url, simulator_dir, wechatpay
from jinli.integrations.simulator.app import create_simulator_app
from jinli.integrations.simulator.simulator import Simulator
from jinli.integrations.wechatpay.client import WeChatPayV3Client
from jinli.integrations.wechatpay.errors import WeChatPayCallError
from jinli.integrations.wechatpay.models import BillDownloadInfo
from jinli.integrations.wechatpay.outcomes import Outcome
from jinli.kernel.clock import SHANGHAI, FrozenClock
from jinli.kernel.money import Fen
from jinli.payouts import service as payouts_service
from jinli.payouts import tasks as payout_tasks
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.platform.runtime import Runtime
from jinli.reconciliation import service, tasks
from jinli.reconciliation.models import ReconciliationRun
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


@dataclass
class Source:
    """The v3 client as the job sees it, counting calls per day and failing on demand."""

    v3: WeChatPayV3Client
    failures: list[WeChatPayCallError] = field(default_factory=list)
    calls: Counter[date] = field(default_factory=Counter)

    async def request_fundflow_bill(
        self, bill_date: date, *, account_type: str = "BASIC", tar_type: str | None = "GZIP"
    ) -> BillDownloadInfo:
        self.calls[bill_date] += 1
        await asyncio.sleep(0)  # let a concurrent worker interleave here
        if self.failures:
            raise self.failures.pop(0)
        return await self.v3.request_fundflow_bill(
            bill_date, account_type=account_type, tar_type=tar_type
        )

    async def download_bill_to(self, info: BillDownloadInfo, sink: BinaryIO) -> int:
        return await self.v3.download_bill_to(info, sink)


def _error(code: str | None) -> WeChatPayCallError:
    return WeChatPayCallError(
        "no answer" if code is None else code,
        outcome=Outcome.UNKNOWN,
        api="bills.fundflowbill",
        http_status=None if code is None else 400,
        wechat_code=code,
    )


@dataclass
class World:
    runtime: Runtime
    clock: FrozenClock
    sim: Simulator
    brand: BrandFixture
    campaign_id: uuid.UUID
    source: Source

    @property
    def mchid(self) -> str:
        return self.source.v3.config.mchid

    def at(self, day: date, hour: int, minute: int = 0) -> None:
        """Move both sides' clock to ``day`` ``hour:minute`` Beijing time."""
        target = datetime.combine(day, datetime.min.time(), SHANGHAI) + timedelta(
            hours=hour, minutes=minute
        )
        self.clock.set(target)

    async def due(self, runtime: Runtime | None = None) -> int:
        return await tasks.reconcile_due(
            runtime or self.runtime, self.source, merchant_id=self.mchid
        )

    async def run_days(self) -> list[date]:
        async with self.runtime.uow(system=True) as uow:
            return sorted(await uow.session.scalars(select(ReconciliationRun.bill_date)))


@pytest.fixture
async def world(runtime: Runtime, clock: FrozenClock) -> AsyncIterator[World]:
    from jinli.app.web import create_app

    settings = runtime.settings
    sim = Simulator.from_directory(
        simulator_dir(settings), base_url=simulator_base_url(settings), clock=clock
    )
    sim.callback_transport = httpx.ASGITransport(app=create_app(runtime))
    transport = httpx.ASGITransport(app=create_simulator_app(sim), root_path="/wechat-sim")
    pay = wechatpay(runtime, transport=transport)
    brand = await create_brand(runtime)
    campaign_id = await create_campaign(runtime, brand, funding_fen=100_000)
    yield World(runtime, clock, sim, brand, campaign_id, Source(pay.v3))
    await close(runtime)


async def _pay_and_confirm(world: World, amount: int) -> uuid.UUID:
    rt = world.runtime
    async with rt.uow(brand_id=world.brand.brand_id) as uow:
        order = await payouts_service.create_payout(
            uow,
            campaign_id=world.campaign_id,
            amount_fen=Fen(amount),
            openid="o-daily",
            mode=PayoutMode.transfer,
            cause=f"daily:{uuid.uuid4()}",
            remark="扫码红包",
            activity="对账测试",
        )
        await uow.commit()
    gateway = wechatpay(rt).gateway
    assert await payout_tasks.dispatch_once(rt, gateway) == 1
    assert world.sim.confirm_transfer(order.bill_number)
    await world.sim.advance_and_deliver(timedelta(seconds=5))
    await payout_tasks.reconcile_once(rt, gateway)
    async with rt.uow(brand_id=world.brand.brand_id) as uow:
        assert (await payouts_service.get(uow, world.brand.actor(), order.id)).state == (
            PayoutState.succeeded
        )
    return order.id


async def test_yesterday_after_ten_and_every_missed_day_once(world: World) -> None:
    """Before 10:00 only the older days of the window are fetched; after 10:00 yesterday's
    too, the campaign's payout matched; later ticks fetch nothing."""
    today = world.clock.now().astimezone(SHANGHAI).date()  # 2026-11-23, 12:00 Beijing
    await _pay_and_confirm(world, 188)
    tomorrow = today + timedelta(days=1)
    world.at(tomorrow, 9, 30)
    window = [today - timedelta(days=k) for k in reversed(range(1, 8))]
    assert await world.due() == 7
    assert await world.run_days() == window
    assert await world.due() == 0
    async with world.runtime.uow(brand_id=world.brand.brand_id) as uow:
        assert await service.settlement_blockers(uow, world.campaign_id) == [
            f"{service.BLOCKER_UNRECONCILED}: {today}"
        ]

    world.at(tomorrow, 10, 0)
    assert await world.due() == 1
    assert await world.due() == 0
    assert await world.run_days() == [*window, today]
    assert set(world.source.calls.values()) == {1}
    async with world.runtime.uow(system=True) as uow:
        summary = await service.get_run(uow, world.mchid, today)
    assert (summary.run.expense_count, summary.run.expense_fen) == (1, 188)
    assert (summary.run.source, summary.run.difference_count) == ("fetch", 0)
    async with world.runtime.uow(brand_id=world.brand.brand_id) as uow:
        assert await service.settlement_blockers(uow, world.campaign_id) == []


async def test_a_failed_fetch_backs_off_instead_of_retrying_every_tick(world: World) -> None:
    """Not ready, then no answer: retried after 10 then 20 minutes, never in between; the
    other days of the window are not held up."""
    today = world.clock.now().astimezone(SHANGHAI).date()
    tomorrow = today + timedelta(days=1)
    world.at(tomorrow, 10, 5)
    world.source.failures = [_error(None)]  # the first day of the window fails once
    assert await world.due() == 6
    first = today - timedelta(days=6)
    assert world.source.calls[first] == 1

    world.source.failures = [_error("STATEMENT_CREATING")]
    world.at(tomorrow, 10, 14)
    for _ in range(3):  # ticks inside the back-off: no call at all
        assert await world.due() == 0
    assert world.source.calls[first] == 1
    world.at(tomorrow, 10, 15)  # 10 minutes after the first attempt
    assert await world.due() == 0  # STATEMENT_CREATING → not ready
    assert world.source.calls[first] == 2
    world.at(tomorrow, 10, 34)
    assert await world.due() == 0
    assert world.source.calls[first] == 2
    world.at(tomorrow, 10, 35)  # 20 minutes after the second attempt
    # The late day makes the later runs stale: this pass redoes them (their hold has lapsed).
    assert await world.due() == 7
    assert world.source.calls[first] == 3
    assert sorted(world.source.calls.values()) == [2] * 6 + [3]
    assert len(await world.run_days()) == 7
    assert await world.due() == 0


async def test_two_workers_share_the_days_and_fetch_each_once(
    world: World, backend: str, tmp_path: Path
) -> None:
    """Two workers tick together: every day of the window gets one run and one fetch.
    (On PostgreSQL the second worker is a second runtime sharing only the database.)"""
    today = world.clock.now().astimezone(SHANGHAI).date()
    world.at(today + timedelta(days=1), 10, 30)
    other = world.runtime
    if backend == "postgresql":
        other = bootstrap(world.runtime.settings, clock=world.clock)
    try:
        done = await asyncio.gather(world.due(), world.due(other))
    finally:
        if other is not world.runtime:
            await other.aclose()
    assert sum(done) == 7
    assert len(await world.run_days()) == 7
    assert sorted(world.source.calls.values()) == [1] * 7


async def test_the_worker_reconciles_through_the_runtime_wiring(world: World) -> None:
    """``jinli worker`` runs the daily job with the bill source the app wires into the runtime
    (no hand-made source): after 10:00 the day with a payout is reconciled and the campaign
    may settle; a worker without ``reconcile`` leaves bills alone."""
    from jinli.worker.main import run

    today = world.clock.now().astimezone(SHANGHAI).date()
    await _pay_and_confirm(world, 233)
    world.at(today + timedelta(days=1), 10, 30)
    await run(world.runtime, once=True)
    assert await world.run_days() == []
    await run(world.runtime, once=True, reconcile=True)
    assert today in await world.run_days()
    async with world.runtime.uow(system=True) as uow:
        summary = await service.get_run(uow, world.mchid, today)
    assert (summary.run.expense_count, summary.run.expense_fen) == (1, 233)
    async with world.runtime.uow(brand_id=world.brand.brand_id) as uow:
        assert await service.settlement_blockers(uow, world.campaign_id) == []
