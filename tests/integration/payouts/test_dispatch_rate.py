"""The dispatcher against the WeChat Pay simulator's rate limits, on the real clock.

The simulator counts transfer creates in calendar-second windows (lowered here to 20/s) and
answers FREQUENCY_LIMITED past the limit. Two dispatchers drain the queue concurrently (two
runtimes, i.e. two worker processes, on PostgreSQL; two loops of one process on SQLite) through
the real, signed protocol clients: the simulator refuses nothing, every payout is sent once
under its own number, nothing is paid twice. Configured faster than the simulator allows, the
refused payouts keep their number and the limiter pauses.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from jinli.app.bootstrap import bootstrap
from jinli.app.wechat import close, simulator_base_url, simulator_dir, wechatpay
from jinli.integrations.simulator.app import create_simulator_app
from jinli.integrations.simulator.book import PayoutKind
from jinli.integrations.simulator.config import SimulatorConfig
from jinli.integrations.simulator.simulator import Simulator
from jinli.kernel.clock import SystemClock
from jinli.kernel.money import Fen
from jinli.payouts import service, tasks
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.payouts.models import PayoutOrder
from jinli.platform.ratelimit import MemoryRateStore, Rate, RateLimiter
from jinli.platform.runtime import Runtime
from tests.conftest import RUN_ID, make_settings
from tests.factories import create_brand, create_campaign

SIM_LIMIT = 20
"""Transfers per calendar second the simulator accepts in these tests."""

pytestmark = pytest.mark.slow


@dataclass
class Rig:
    runtimes: list[Runtime]
    """One per worker process (all share the database, and Redis when configured)."""
    sim: Simulator
    campaign_id: uuid.UUID
    brand_id: uuid.UUID


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("postgresql+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def setup(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(setup: str) -> str:
    return "postgresql" if setup.startswith("postgresql") else "sqlite"


async def _rig(
    setup: str, db_url: str, tmp_path: Path, request: pytest.FixtureRequest, **dispatch: Any
) -> Rig:
    limits = {
        "transfer": {"calls": SIM_LIMIT, "per_seconds": 1},
        # A generous margin: these tests share two cores with whatever else runs.
        "jitter_allowance_seconds": 0.1,
    }
    overrides: dict[str, Any] = {"wechatpay": {"dispatch": {**limits, **dispatch}}}
    if setup.endswith("+redis"):
        overrides["redis_url"] = request.getfixturevalue("redis_url")
        overrides["redis_key_prefix"] = f"jinli:test:{RUN_ID}:{uuid.uuid4().hex[:8]}:"
    settings = make_settings(db_url, tmp_path, **overrides)
    processes = 1 if setup == "sqlite" else 2  # SQLite runs one worker process
    runtimes = [bootstrap(settings, clock=SystemClock()) for _ in range(processes)]
    sim = Simulator.from_directory(
        simulator_dir(settings),
        base_url=simulator_base_url(settings),
        config=SimulatorConfig(transfer_rate_per_second=SIM_LIMIT, background=False),
    )
    for runtime in runtimes:
        transport = httpx.ASGITransport(app=create_simulator_app(sim), root_path="/wechat-sim")
        wechatpay(runtime, transport=transport)
    brand = await create_brand(runtimes[0])
    campaign_id = await create_campaign(runtimes[0], brand, funding_fen=1_000_000)
    return Rig(runtimes, sim, campaign_id, brand.brand_id)


@pytest.fixture
async def rigs(
    setup: str, db_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[list[Rig]]:
    made: list[Rig] = []
    yield made
    for rig in made:
        for runtime in rig.runtimes:
            await close(runtime)
            await runtime.aclose()


async def _queue(rig: Rig, count: int) -> list[str]:
    numbers = []
    async with rig.runtimes[0].uow(brand_id=rig.brand_id) as uow:
        for i in range(count):
            order = await service.create_payout(
                uow,
                campaign_id=rig.campaign_id,
                amount_fen=Fen(100 + i),
                openid=f"o-rate-{i:04d}",
                mode=PayoutMode.transfer,
                cause=f"rate:{uuid.uuid4()}",
                remark="限速测试",
                activity="rate limit",
            )
            numbers.append(order.bill_number)
        await uow.commit()
    return numbers


async def _orders(runtime: Runtime) -> list[PayoutOrder]:
    async with runtime.uow(system=True) as uow:
        rows = list(await uow.session.scalars(select(PayoutOrder)))
        uow.session.expunge_all()
        return rows


async def _drain(runtime: Runtime) -> int:
    """One worker loop: claim small batches until nothing is due."""
    sent = 0
    while (batch := await tasks.dispatch_once(runtime, wechatpay(runtime).gateway, limit=10)) > 0:
        sent += batch
    return sent


async def test_two_dispatchers_stay_within_the_limit_and_pay_each_number_once(
    setup: str, db_url: str, tmp_path: Path, request: pytest.FixtureRequest, rigs: list[Rig]
) -> None:
    rig = await _rig(setup, db_url, tmp_path, request)
    rigs.append(rig)
    numbers = await _queue(rig, 70)
    workers = [rig.runtimes[0], rig.runtimes[-1]]  # two processes, or two loops of one
    sent = await asyncio.gather(*(_drain(runtime) for runtime in workers))

    limiter = rig.sim.transfers.limiter
    assert limiter.refused == 0  # not one FREQUENCY_LIMITED
    assert max(limiter.per_window().values()) <= SIM_LIMIT
    assert sum(sent) == 70
    assert all(s > 0 for s in sent)  # both dispatchers did work
    book = rig.sim.book
    assert sorted(e.number for e in book.entries(PayoutKind.TRANSFER)) == sorted(numbers)
    assert book.double_paid() == []
    orders = await _orders(rig.runtimes[0])
    assert {o.state for o in orders} == {PayoutState.awaiting_user}
    assert {o.tries for o in orders} == {1}  # each sent exactly once


async def test_too_fast_a_setting_is_refused_and_retried_under_the_same_number(
    setup: str, db_url: str, tmp_path: Path, request: pytest.FixtureRequest, rigs: list[Rig]
) -> None:
    """Configured at 3× what the merchant may do, WeChat refuses some calls: those payouts go
    back to pending with their number unchanged, and every worker's limiter pauses."""
    rig = await _rig(
        setup,
        db_url,
        tmp_path,
        request,
        transfer={"calls": 3 * SIM_LIMIT, "per_seconds": 1},
        backoff_seconds=30,
    )
    rigs.append(rig)
    numbers = await _queue(rig, 4 * SIM_LIMIT)
    runtime = rig.runtimes[0]
    await tasks.dispatch_once(runtime, wechatpay(runtime).gateway, limit=4 * SIM_LIMIT)

    refused = rig.sim.transfers.limiter.refused
    assert refused > 0
    orders = await _orders(runtime)
    assert sorted(o.bill_number for o in orders) == sorted(numbers)
    limited = [o for o in orders if o.wechat_state == "FREQUENCY_LIMITED"]
    assert len(limited) == refused
    assert {o.state for o in limited} == {PayoutState.pending}
    assert all(o.attempt == 0 and not o.may_have_landed for o in limited)
    assert rig.sim.book.double_paid() == []
    # The pause is in the shared store: another worker's next slot is ~30 s away.
    other = tasks.send_pacer(rig.runtimes[-1])
    grant = await other.limiter.store.reserve(other.key(PayoutMode.transfer), 1)
    if setup != "sqlite":  # SQLite's limiter lives in each process; the pause is this one's
        assert grant.wait > 20
    pacer = tasks.send_pacer(runtime)
    assert not await pacer.wait(PayoutMode.transfer)  # beyond max_wait: given back


async def test_a_payout_without_a_slot_in_time_is_given_back_unsent(
    setup: str, db_url: str, tmp_path: Path, request: pytest.FixtureRequest, rigs: list[Rig]
) -> None:
    rig = await _rig(
        setup,
        db_url,
        tmp_path,
        request,
        transfer={"calls": 1, "per_seconds": 30},
        max_wait_seconds=1.0,
    )
    rigs.append(rig)
    numbers = await _queue(rig, 3)
    runtime = rig.runtimes[0]
    assert await tasks.dispatch_once(runtime, wechatpay(runtime).gateway) == 1
    orders = await _orders(runtime)
    assert sorted(o.state for o in orders) == [
        PayoutState.awaiting_user,
        PayoutState.pending,
        PayoutState.pending,
    ]
    assert sorted(o.bill_number for o in orders) == sorted(numbers)
    assert len(rig.sim.book.entries()) == 1
    assert rig.sim.transfers.limiter.refused == 0
    waiting = [o for o in orders if o.state == PayoutState.pending]
    assert all(o.next_attempt_at > o.updated_at for o in waiting)  # retried after back-off


def test_each_payout_mode_has_its_own_limit_and_key(tmp_path: Path) -> None:
    """WeChat counts transfers, cash red packets and brand red packets separately, per
    merchant: three keys, three rates from the settings."""
    settings = make_settings("sqlite+aiosqlite:///unused.db", tmp_path)
    dispatch = settings.wechatpay.dispatch
    pacer = tasks.SendPacer(RateLimiter(MemoryRateStore()), "1900000001", dispatch)
    keys = {pacer.key(mode) for mode in PayoutMode}
    assert keys == {
        "wechatpay:1900000001:transfer",
        "wechatpay:1900000001:red_packet",
        "wechatpay:1900000001:brand_red_packet",
    }
    assert pacer.rate(PayoutMode.transfer) == Rate(100, 1, 0.05)
    assert pacer.rate(PayoutMode.red_packet) == Rate(1800, 60, 0.05)
    assert pacer.rate(PayoutMode.brand_red_packet) == Rate(100, 1, 0.05)
