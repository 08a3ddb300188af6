"""The whole payout loop in one process: Jinli's worker and notification endpoint against the
WeChat Pay simulator, through the real protocol clients (signed, encrypted, verified)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from jinli.app.web import create_app
from jinli.app.wechat import simulator_base_url, simulator_dir, wechatpay
from jinli.integrations.simulator.simulator import Simulator
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen
from jinli.ledger import service as ledger
from jinli.ledger.domain import Balances
from jinli.payouts import service, tasks
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.platform.runtime import Runtime
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
    settings = runtime.settings
    app = create_app(runtime)
    sim = Simulator.from_directory(
        simulator_dir(settings), base_url=simulator_base_url(settings), clock=clock
    )
    # WeChat's callbacks reach Jinli's real endpoint; Jinli's calls reach the simulator app.
    sim.callback_transport = httpx.ASGITransport(app=app)
    from jinli.integrations.simulator.app import create_simulator_app

    sim_app = create_simulator_app(sim)
    wechatpay(runtime, transport=httpx.ASGITransport(app=sim_app, root_path="/wechat-sim"))
    brand = await create_brand(runtime)
    campaign_id = await create_campaign(runtime, brand, funding_fen=100_000)
    yield Loop(runtime, sim, brand, campaign_id)
    from jinli.app.wechat import close

    await close(runtime)


async def _pay(loop: Loop, mode: PayoutMode, amount: int = 188) -> tuple[uuid.UUID, str]:
    async with loop.runtime.uow(brand_id=loop.brand.brand_id) as uow:
        order = await service.create_payout(
            uow,
            campaign_id=loop.campaign_id,
            amount_fen=Fen(amount),
            openid="o-demo-user",
            mode=mode,
            cause=f"test:{uuid.uuid4()}",
            remark="扫码红包",
            activity="瓶盖扫码",
        )
        await uow.commit()
    return order.id, order.bill_number


async def _state(loop: Loop, payout_id: uuid.UUID) -> PayoutState:
    async with loop.runtime.uow(brand_id=loop.brand.brand_id) as uow:
        return (await service.get(uow, loop.brand.actor(), payout_id)).state


async def _budget(loop: Loop) -> Balances:
    async with loop.runtime.uow(brand_id=loop.brand.brand_id) as uow:
        return await ledger.verify_book(uow, loop.campaign_id)


async def test_transfer_confirmed_by_the_consumer_is_paid_once(loop: Loop) -> None:
    """Send → WAIT_USER_CONFIRM → the consumer confirms → signed, encrypted callback → paid."""
    gateway = wechatpay(loop.runtime).gateway
    payout_id, number = await _pay(loop, PayoutMode.transfer)
    assert await tasks.dispatch_once(loop.runtime, gateway) == 1
    assert await _state(loop, payout_id) == PayoutState.awaiting_user
    assert loop.sim.confirm_transfer(number)
    await loop.sim.advance_and_deliver(timedelta(minutes=1))
    assert await _state(loop, payout_id) == PayoutState.succeeded
    budget = await _budget(loop)
    assert (budget.paid, budget.reserved) == (188, 0)
    assert loop.sim.book.double_paid() == []
    assert loop.sim.successes().get(number) == 1


async def test_unconfirmed_transfer_fails_after_24h_and_is_reissued(loop: Loop) -> None:
    gateway = wechatpay(loop.runtime).gateway
    payout_id, number = await _pay(loop, PayoutMode.transfer)
    await tasks.dispatch_once(loop.runtime, gateway)
    await loop.sim.advance_and_deliver(timedelta(hours=25))
    assert await _state(loop, payout_id) == PayoutState.failed
    assert (await _budget(loop)).reserved == 0
    async with loop.runtime.uow(brand_id=loop.brand.brand_id) as uow:
        from jinli.accounts.domain import Role

        new = await service.reissue(uow, loop.brand.actor(Role.finance), payout_id)
        await uow.commit()
    assert new.bill_number == number + "R1"
    await tasks.dispatch_once(loop.runtime, gateway)
    assert loop.sim.confirm_transfer(new.bill_number)
    await loop.sim.advance_and_deliver(timedelta(minutes=1))
    assert await _state(loop, new.id) == PayoutState.succeeded
    assert (await _budget(loop)).paid == 188


async def test_unopened_red_packet_is_refunded_to_the_budget(
    loop: Loop, clock: FrozenClock
) -> None:
    """v2 red packet: SENT, not opened in 24 h → REFUND, found by the reconciler's query."""
    gateway = wechatpay(loop.runtime).gateway
    payout_id, _ = await _pay(loop, PayoutMode.red_packet, amount=300)
    await tasks.dispatch_once(loop.runtime, gateway)
    assert await _state(loop, payout_id) == PayoutState.awaiting_user
    await loop.sim.advance_and_deliver(timedelta(hours=25))
    assert await tasks.reconcile_once(loop.runtime, gateway) == 1
    assert await _state(loop, payout_id) == PayoutState.failed
    budget = await _budget(loop)
    assert (budget.reserved, budget.paid, budget.available) == (0, 0, 100_000)


async def test_forged_notification_is_refused(loop: Loop) -> None:
    """A callback signed with the wrong key gets a 4xx and changes nothing."""
    payout_id, _ = await _pay(loop, PayoutMode.transfer)
    gateway = wechatpay(loop.runtime).gateway
    await tasks.dispatch_once(loop.runtime, gateway)
    transport = httpx.ASGITransport(app=create_app(loop.runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://jinli") as http:
        forged = await http.post(
            "/wechatpay/notify",
            content=b'{"id":"x","resource":{}}',
            headers={
                "Wechatpay-Signature": "AAAA",
                "Wechatpay-Serial": "X",
                "Wechatpay-Timestamp": "1",
                "Wechatpay-Nonce": "n",
            },
        )
    assert forged.status_code == 401
    assert forged.json() == {"code": "FAIL", "message": "verification failed"}
    assert await _state(loop, payout_id) == PayoutState.awaiting_user
