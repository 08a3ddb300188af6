"""R5 at CI size: the WeChat fault matrix (reliability.md §7) in one process.

Jinli's dispatcher, reconciler and notification receiver against the simulator through the real
protocol clients (signed, encrypted, verified), with every fault the simulator knows rolled on
every call: SYSTEMERROR with and without the payout applied, timeouts before and after applying,
dropped connections, bare HTTP 500, FREQUENCY_LIMITED, NOT_ENOUGH, malformed bodies, unknown
error codes, NOT_FOUND while processing, and on the callback channel duplicates, out-of-order
deliveries, forged signatures and amount mismatches. Most consumers confirm their transfer or
open their red packet; some never do (24 h → FAIL / refund). Driven until quiescent, then:

- 0 double payouts in the simulator's own book;
- 0 forged or amount-mismatched callbacks accepted;
- every unknown error code Jinli received sent its payout to the human queue (review), and
  Jinli received exactly as many as the simulator injected;
- Σ ledger paid == Σ what the simulator paid, fen exact (INV-RECON); INV-BUDGET.

A timeout here is the simulator's ``hang_seconds=0``: over ASGI the client sees a read timeout at
once (``SimulatedTimeout`` is an ``httpx.ReadTimeout``), so hangs cost nothing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from jinli.app.web import create_app
from jinli.app.wechat import close, simulator_base_url, simulator_dir, wechatpay
from jinli.integrations.simulator.app import create_simulator_app
from jinli.integrations.simulator.config import SimulatorConfig
from jinli.integrations.simulator.faults import Fault, FaultKind, Operation
from jinli.integrations.simulator.simulator import Simulator
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen
from jinli.ledger import service as ledger
from jinli.payouts import service, tasks
from jinli.payouts.domain import TERMINAL, PayoutMode, PayoutState
from jinli.payouts.models import PayoutOrder
from jinli.payouts.ports import GatewayResult, PayoutGateway, PayoutRequest
from jinli.platform.db.outbox import OutboxMessage
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import create_brand, create_campaign

pytestmark = [pytest.mark.parametrize("backend", BACKENDS, indirect=True), pytest.mark.slow]

PAYOUTS = 150
P = 0.03
"""Chance of each fault kind on each call (≈ 30 % of calls get some fault)."""
NEVER_ACTS = 0.1
"""Share of consumers who never confirm / open (their payout fails or is refunded at 24 h)."""

K = FaultKind
SEND_FAULTS = [
    Fault(K.SYSTEM_ERROR, applied=True),
    Fault(K.SYSTEM_ERROR),
    Fault(K.TIMEOUT, applied=True),
    Fault(K.TIMEOUT),
    Fault(K.DROP, applied=True),
    Fault(K.HTTP_500),
    Fault(K.FREQUENCY_LIMITED),
    Fault(K.NOT_ENOUGH),
    Fault(K.MALFORMED, applied=True),
    Fault(K.MALFORMED),
    Fault(K.UNKNOWN_CODE),
]
QUERY_FAULTS = [
    Fault(K.SYSTEM_ERROR),
    Fault(K.TIMEOUT),
    Fault(K.DROP),
    Fault(K.HTTP_500),
    Fault(K.FREQUENCY_LIMITED),
    Fault(K.MALFORMED),
    Fault(K.UNKNOWN_CODE),
    Fault(K.NOT_FOUND),
]
CALLBACK_FAULTS = [
    Fault(K.DUPLICATE, copies=3),
    Fault(K.OUT_OF_ORDER),
    Fault(K.FORGED_SIGNATURE),
    Fault(K.AMOUNT_MISMATCH),
]
MATRIX = {
    Operation.TRANSFER_CREATE: SEND_FAULTS,
    Operation.REDPACK_SEND: [*SEND_FAULTS, Fault(K.PROCESSING, applied=True)],
    Operation.TRANSFER_QUERY: QUERY_FAULTS,
    Operation.REDPACK_QUERY: QUERY_FAULTS,
    Operation.CALLBACK: CALLBACK_FAULTS,
}


@dataclass
class Spy:
    """The real gateway, recording every answer Jinli received."""

    gateway: PayoutGateway
    answers: list[tuple[str, GatewayResult]] = field(default_factory=list)

    async def send(self, request: PayoutRequest) -> GatewayResult:
        result = await self.gateway.send(request)
        self.answers.append((request.bill_number, result))
        return result

    async def query(self, request: PayoutRequest) -> GatewayResult:
        result = await self.gateway.query(request)
        self.answers.append((request.bill_number, result))
        return result


@dataclass
class Matrix:
    runtime: Runtime
    sim: Simulator
    spy: Spy
    clock: FrozenClock


@pytest.fixture(params=[1, 2, 3], ids=lambda s: f"seed{s}")
async def matrix(
    request: pytest.FixtureRequest, runtime: Runtime, clock: FrozenClock, tmp_path: Path
) -> AsyncIterator[Matrix]:
    seed: int = request.param
    settings = runtime.settings
    sim = Simulator.from_directory(
        simulator_dir(settings),
        base_url=simulator_base_url(settings),
        clock=clock,
        config=SimulatorConfig(seed=seed, hang_seconds=0.0, background=False),
    )
    sim.callback_transport = httpx.ASGITransport(app=create_app(runtime))
    sim_app = create_simulator_app(sim)
    pay = wechatpay(runtime, transport=httpx.ASGITransport(app=sim_app, root_path="/wechat-sim"))
    for operation, faults in MATRIX.items():
        for fault in faults:
            sim.faults.set_probability(operation, fault, P)
    yield Matrix(runtime, sim, Spy(pay.gateway), clock)
    await close(runtime)


async def _orders(runtime: Runtime) -> list[PayoutOrder]:
    async with runtime.uow(system=True) as uow:
        rows = list(await uow.session.scalars(select(PayoutOrder)))
        uow.session.expunge_all()
        return rows


async def test_fault_matrix(matrix: Matrix) -> None:
    runtime, sim, spy = matrix.runtime, matrix.sim, matrix.spy
    rng = random.Random(sim.config.seed)
    brand = await create_brand(runtime)
    amounts = [rng.randint(100, 5_000) for _ in range(PAYOUTS)]
    campaign_id = await create_campaign(runtime, brand, funding_fen=sum(amounts))
    acts: dict[str, bool] = {}
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        for i, amount in enumerate(amounts):
            order = await service.create_payout(
                uow,
                campaign_id=campaign_id,
                amount_fen=Fen(amount),
                openid=f"o-r5-{uuid.uuid4().hex[:16]}",
                mode=PayoutMode.red_packet if i % 3 == 2 else PayoutMode.transfer,
                cause=f"r5:{uuid.uuid4()}",
                remark="R5 奖励",
                activity="R5 fault matrix",
            )
            acts[order.bill_number] = rng.random() >= NEVER_ACTS
        await uow.commit()

    # Drive: fine steps while retries back off, coarse ones through the 24 h windows.
    steps = [timedelta(minutes=1)] * 90 + [timedelta(minutes=30)] * 60
    elapsed = timedelta(0)
    orders: list[PayoutOrder] = []
    for step in steps:
        await tasks.dispatch_once(runtime, spy, limit=1_000)
        await tasks.reconcile_once(runtime, spy, limit=1_000)
        orders = await _orders(runtime)
        for order in orders:
            if order.state == PayoutState.awaiting_user and acts[order.bill_number]:
                if order.mode == PayoutMode.transfer:
                    sim.confirm_transfer(order.bill_number)
                else:
                    sim.open_redpack(order.bill_number)
        await sim.advance_and_deliver(step)
        elapsed += step
        quiet = all(o.state in TERMINAL or o.state == PayoutState.review for o in orders)
        if quiet and elapsed > timedelta(hours=25) and sim.outbox.pending() == 0:
            break
    orders = await _orders(runtime)
    by_number = {o.bill_number: o for o in orders}

    # -- figures ------------------------------------------------------------------------------
    drawn = sim.faults.drawn
    injected_unknown = sum(1 for op, f in drawn if f.kind == K.UNKNOWN_CODE)
    unknown_answers = [number for number, result in spy.answers if result.review]
    log = sim.callback_log
    forged = [a for a in log if a.variant in ("forged", "mismatch")]
    forged_accepted = [a for a in log if a.variant in ("forged", "mismatch") and a.acknowledged]
    async with runtime.uow(system=True) as uow:
        review_events = {
            str(key)
            for key in await uow.session.scalars(
                select(OutboxMessage.key).where(OutboxMessage.topic == "payout.review")
            )
        }
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        balances = await ledger.verify_book(uow, campaign_id)  # INV-BUDGET, or raises
    with sim.lock:
        entries = [e for e in sim.book.entries() if e.number in by_number]
        double = [e.number for e in sim.book.double_paid()]
        book_paid = sum(e.net_paid_fen for e in entries)
        book_success = sum(e.amount_fen for e in entries if e.paid)
    states: dict[str, int] = {}
    for order in orders:
        states[order.state] = states.get(order.state, 0) + 1
    in_review = [o for o in orders if o.state == PayoutState.review]
    print(  # noqa: T201 - the published figures
        f"R5 seed {sim.config.seed}: payouts {len(orders)}, simulated {elapsed}, "
        f"faults drawn {len(drawn)} ({_kinds(drawn)}), calls {len(spy.answers)}, "
        f"states {states}, double {len(double)}, forged/mismatch sent {len(forged)} "
        f"accepted {len(forged_accepted)}, unknown codes injected {injected_unknown} "
        f"received {len(unknown_answers)}, human queue now {len(in_review)}, "
        f"ledger paid {balances.paid} fen, book paid {book_paid} fen "
        f"(successes {book_success} fen), recon diff {int(balances.paid) - book_paid} fen"
    )

    assert double == []
    assert max((e.successes for e in entries), default=0) <= 1
    assert forged, "the matrix must really send forged and mismatched callbacks"
    assert forged_accepted == []
    assert injected_unknown > 0
    assert len(unknown_answers) == injected_unknown
    # Every unknown code sent its payout to the human queue (an outbox event per entry).
    assert {str(by_number[n].id) for n in unknown_answers} <= review_events
    # Nothing lost: every payout is settled or with a person.
    assert all(o.state in TERMINAL or o.state == PayoutState.review for o in orders)
    # INV-RECON, fen exact, and nothing paid is missing from the ledger.
    assert int(balances.paid) == book_paid == book_success
    assert balances.reserved == sum(o.amount_fen for o in in_review)


def _kinds(drawn: list[tuple[Operation, Fault]]) -> str:
    counts: dict[str, int] = {}
    for _, fault in drawn:
        name = f"{fault.kind.value}{'+applied' if fault.applied else ''}"
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
