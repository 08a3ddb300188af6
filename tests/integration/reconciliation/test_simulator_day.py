"""A clean day end to end: payouts paid through the real WeChat Pay clients against the
simulator, the simulator's own fund-flow bills fetched the next morning through the v3 API,
reconciled → 0 differences, fen exact against the simulator's book, payouts still open at
midnight carried into the next day and judged when they close."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from jinli.app.wechat import close, simulator_base_url, simulator_dir, wechatpay
from jinli.integrations.simulator.app import create_simulator_app
from jinli.integrations.simulator.simulator import Simulator
from jinli.integrations.wechatpay.bills import EXPENSE
from jinli.kernel.clock import SHANGHAI, FrozenClock
from jinli.kernel.money import Fen
from jinli.payouts import service as payouts_service
from jinli.payouts import tasks as payout_tasks
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.platform.runtime import Runtime
from jinli.reconciliation import errors, tasks
from jinli.reconciliation.schemas import RunSummary
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


@dataclass
class Loop:
    runtime: Runtime
    sim: Simulator
    brand: BrandFixture
    campaign_id: uuid.UUID


@pytest.fixture
async def loop(runtime: Runtime, clock: FrozenClock, tmp_path: Path) -> AsyncIterator[Loop]:
    from jinli.app.web import create_app

    settings = runtime.settings
    sim = Simulator.from_directory(
        simulator_dir(settings), base_url=simulator_base_url(settings), clock=clock
    )
    sim.callback_transport = httpx.ASGITransport(app=create_app(runtime))
    transport = httpx.ASGITransport(app=create_simulator_app(sim), root_path="/wechat-sim")
    wechatpay(runtime, transport=transport)
    brand = await create_brand(runtime)
    campaign_id = await create_campaign(runtime, brand, funding_fen=100_000)
    yield Loop(runtime, sim, brand, campaign_id)
    await close(runtime)


async def _pay(loop: Loop, mode: PayoutMode, amount: int) -> tuple[uuid.UUID, str]:
    async with loop.runtime.uow(brand_id=loop.brand.brand_id) as uow:
        order = await payouts_service.create_payout(
            uow,
            campaign_id=loop.campaign_id,
            amount_fen=Fen(amount),
            openid="o-recon-user",
            mode=mode,
            cause=f"recon:{uuid.uuid4()}",
            remark="扫码红包",
            activity="对账测试",
        )
        await uow.commit()
    return order.id, order.bill_number


async def _state(loop: Loop, payout_id: uuid.UUID) -> PayoutState:
    async with loop.runtime.uow(brand_id=loop.brand.brand_id) as uow:
        return (await payouts_service.get(uow, loop.brand.actor(), payout_id)).state


async def _until(loop: Loop, beijing: datetime) -> None:
    """Let time pass on both sides: WeChat's transitions and callbacks, our reconciler."""
    gateway = wechatpay(loop.runtime).gateway
    while loop.runtime.clock.now() < beijing:
        step = min(timedelta(minutes=30), beijing - loop.runtime.clock.now())
        await loop.sim.advance_and_deliver(step)
        await payout_tasks.reconcile_once(loop.runtime, gateway)


async def _reconcile(loop: Loop, day: date) -> RunSummary:
    v3 = wechatpay(loop.runtime).v3
    return await tasks.reconcile_day(loop.runtime, v3, merchant_id=v3.config.mchid, bill_date=day)


def _booked(loop: Loop, day: date, direction: str) -> int:
    return sum(
        f.amount_fen
        for f in loop.sim.book.flows
        if f.direction == direction and f.booked_at.astimezone(SHANGHAI).date() == day
    )


async def test_a_simulated_day_reconciles_to_zero_differences(loop: Loop) -> None:
    """Transfers confirmed or left to expire, red packets opened or left to refund, a
    transfer WeChat refuses: both days reconcile with no difference and the same fen as the
    simulator's book; the day before had no activity and still gets a run."""
    rt = loop.runtime
    day = rt.clock.now().astimezone(SHANGHAI).date()  # 12:00 Beijing
    gateway = wechatpay(rt).gateway
    confirmed, confirmed_no = await _pay(loop, PayoutMode.transfer, 188)
    expires, _ = await _pay(loop, PayoutMode.transfer, 200)
    opened, opened_no = await _pay(loop, PayoutMode.red_packet, 300)
    refunded, _ = await _pay(loop, PayoutMode.red_packet, 400)
    refused, _ = await _pay(loop, PayoutMode.transfer, 5)  # below WeChat's 0.10 CNY minimum
    assert await payout_tasks.dispatch_once(rt, gateway) == 5
    assert loop.sim.confirm_transfer(confirmed_no)
    await loop.sim.advance_and_deliver(timedelta(seconds=2))  # SENDING → SENT
    assert loop.sim.open_redpack(opened_no)
    noon = datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI) + timedelta(hours=12)
    await _until(loop, noon + timedelta(hours=22, minutes=30))  # the next day, 10:30
    assert await _state(loop, confirmed) == PayoutState.succeeded
    assert await _state(loop, opened) == PayoutState.succeeded
    assert await _state(loop, refused) == PayoutState.failed
    assert await _state(loop, expires) == PayoutState.awaiting_user

    first = await _reconcile(loop, day)
    assert first.run.difference_count == 0
    assert (first.run.expense_count, first.run.expense_fen) == (4, 188 + 200 + 300 + 400)
    assert first.run.expense_fen == _booked(loop, day, EXPENSE)
    assert (first.run.income_count, first.run.closed_count, first.run.carried_count) == (0, 3, 2)

    await _until(loop, noon + timedelta(days=1, hours=22, minutes=30))
    assert await _state(loop, expires) == PayoutState.failed
    assert await _state(loop, refunded) == PayoutState.failed
    v3 = wechatpay(rt).v3  # the daily job: yesterday's bill, after 10:00
    second = await tasks.reconcile_yesterday(rt, v3, merchant_id=v3.config.mchid)
    assert second.run.bill_date == day + timedelta(days=1)
    assert second.run.difference_count == 0
    assert (second.run.income_count, second.run.income_fen) == (2, 200 + 400)
    assert (second.run.closed_count, second.run.unverified_count) == (2, 0)
    assert loop.sim.book.double_paid() == []

    quiet = await _reconcile(loop, day - timedelta(days=1))  # NO_STATEMENT_EXIST
    assert (quiet.run.row_count, quiet.run.difference_count) == (0, 0)


async def test_the_bill_of_yesterday_is_not_ready_before_ten(loop: Loop) -> None:
    """Before 10:00 Beijing time WeChat answers STATEMENT_CREATING: retry later, no run."""
    rt = loop.runtime
    now = rt.clock.now().astimezone(SHANGHAI)
    await _pay(loop, PayoutMode.transfer, 188)
    await payout_tasks.dispatch_once(rt, wechatpay(rt).gateway)
    next_morning = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), SHANGHAI)
    await loop.sim.advance_and_deliver(next_morning + timedelta(hours=9) - now)
    with pytest.raises(errors.BillNotReady):
        await _reconcile(loop, now.date())
