"""Payout orders through a scripted gateway: same number on every retry, money moved once."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta

import pytest

from jinli.accounts.domain import Role
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen
from jinli.ledger import service as ledger
from jinli.ledger.domain import Balances
from jinli.payouts import service, tasks
from jinli.payouts.domain import PayoutMode, PayoutState, Verdict
from jinli.payouts.errors import CallbackRejected, ReissueNotAllowed
from jinli.payouts.ports import GatewayResult, PayoutRequest
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


class ScriptedGateway:
    """Answers each number's calls from a script; records every call."""

    def __init__(self) -> None:
        self.script: dict[str, list[GatewayResult]] = defaultdict(list)
        self.calls: list[tuple[str, str]] = []

    def answer(self, number: str, *verdicts: Verdict, **extra: object) -> None:
        self.script[number].extend(GatewayResult(v, **extra) for v in verdicts)  # type: ignore[arg-type]

    async def _next(self, kind: str, request: PayoutRequest) -> GatewayResult:
        self.calls.append((kind, request.bill_number))
        queue = self.script[request.bill_number]
        return queue.pop(0) if queue else GatewayResult(Verdict.unknown, error="timeout")

    async def send(self, request: PayoutRequest) -> GatewayResult:
        return await self._next("send", request)

    async def query(self, request: PayoutRequest) -> GatewayResult:
        return await self._next("query", request)


async def _setup(runtime: Runtime) -> tuple[BrandFixture, uuid.UUID, uuid.UUID, str]:
    brand = await create_brand(runtime)
    campaign_id = await create_campaign(runtime, brand, funding_fen=10_000)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        order = await service.create_payout(
            uow,
            campaign_id=campaign_id,
            amount_fen=Fen(188),
            openid="o-user-1",
            mode=PayoutMode.transfer,
            cause="scan:abc",
            remark="扫码红包",
            activity="瓶盖活动",
        )
        await uow.commit()
    return brand, campaign_id, order.id, order.bill_number


async def _state(runtime: Runtime, brand: BrandFixture, payout_id: uuid.UUID) -> PayoutState:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        return (await service.get(uow, brand.actor(), payout_id)).state


async def _budget(runtime: Runtime, brand: BrandFixture, campaign_id: uuid.UUID) -> Balances:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        return await ledger.verify_book(uow, campaign_id)


async def test_accepted_then_confirmed_by_notification(runtime: Runtime) -> None:
    brand, cid, pid, number = await _setup(runtime)
    gateway = ScriptedGateway()
    gateway.answer(
        number, Verdict.awaiting_user, wechat_state="WAIT_USER_CONFIRM", package_info="pkg"
    )
    assert await tasks.dispatch_once(runtime, gateway) == 1
    assert await _state(runtime, brand, pid) == PayoutState.awaiting_user
    assert (await _budget(runtime, brand, cid)).reserved == 188
    for _ in range(3):  # WeChat repeats notifications; only the first moves money
        async with runtime.uow(system=True) as uow:
            await service.apply_notification(
                uow,
                bill_number=number,
                amount_fen=188,
                result=GatewayResult(Verdict.succeeded, "SUCCESS"),
            )
            await uow.commit()
    budget = await _budget(runtime, brand, cid)
    assert (budget.paid, budget.reserved, budget.available) == (188, 0, 10_000 - 188)
    assert await _state(runtime, brand, pid) == PayoutState.succeeded


async def test_unknown_answers_retry_the_same_number_until_settled(
    runtime: Runtime, clock: FrozenClock
) -> None:
    brand, cid, pid, number = await _setup(runtime)
    gateway = ScriptedGateway()
    gateway.answer(number, Verdict.unknown, Verdict.rejected, Verdict.unknown, Verdict.succeeded)
    for _ in range(4):
        await tasks.dispatch_once(runtime, gateway)
        clock.advance(timedelta(minutes=10))
    assert {n for _, n in gateway.calls} == {number}
    assert len(gateway.calls) == 4
    assert await _state(runtime, brand, pid) == PayoutState.succeeded
    assert (await _budget(runtime, brand, cid)).paid == 188


async def test_definite_rejection_frees_the_budget_and_allows_one_reissue(
    runtime: Runtime,
) -> None:
    brand, cid, pid, number = await _setup(runtime)
    gateway = ScriptedGateway()
    gateway.answer(number, Verdict.rejected, fail_reason="PARAM_ERROR")
    await tasks.dispatch_once(runtime, gateway)
    assert await _state(runtime, brand, pid) == PayoutState.failed
    assert (await _budget(runtime, brand, cid)).reserved == 0
    finance = brand.actor(Role.finance)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        new = await service.reissue(uow, finance, pid)
        await uow.commit()
    assert new.bill_number == f"{number}R1"
    assert (await _budget(runtime, brand, cid)).reserved == 188
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        with pytest.raises(ReissueNotAllowed):
            await service.reissue(uow, finance, pid)
        with pytest.raises(ReissueNotAllowed):
            await service.reissue(uow, finance, new.id)


async def test_a_dead_worker_is_replaced_and_the_number_kept(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """A worker that claimed a payout and died: after its lease the next worker re-sends the
    same number, and a later refusal cannot fail it (the first call may have landed)."""
    brand, _, pid, number = await _setup(runtime)
    async with runtime.uow(system=True) as uow:
        assert len(await service.claim_due(uow)) == 1
        await uow.commit()
    clock.advance(timedelta(minutes=2))
    gateway = ScriptedGateway()
    gateway.answer(number, Verdict.rejected)
    assert await tasks.dispatch_once(runtime, gateway) == 1
    assert gateway.calls == [("send", number)]
    assert await _state(runtime, brand, pid) == PayoutState.unknown


async def test_unrecognised_answers_go_to_the_human_queue(runtime: Runtime) -> None:
    brand, _, pid, number = await _setup(runtime)
    gateway = ScriptedGateway()
    gateway.answer(number, Verdict.unknown, review=True, error="NEW_CODE")
    await tasks.dispatch_once(runtime, gateway)
    assert await _state(runtime, brand, pid) == PayoutState.review


async def test_the_reconciler_queries_accepted_payouts(
    runtime: Runtime, clock: FrozenClock
) -> None:
    brand, cid, pid, number = await _setup(runtime)
    gateway = ScriptedGateway()
    gateway.answer(number, Verdict.accepted, Verdict.failed, fail_reason="OVERDUE_CLOSE")
    await tasks.dispatch_once(runtime, gateway)
    assert await tasks.reconcile_once(runtime, gateway) == 0  # not due yet
    clock.advance(timedelta(minutes=6))
    assert await tasks.reconcile_once(runtime, gateway) == 1
    assert gateway.calls == [("send", number), ("query", number)]
    assert await _state(runtime, brand, pid) == PayoutState.failed
    assert (await _budget(runtime, brand, cid)).available == 10_000


async def test_forged_or_mismatched_notifications_change_nothing(runtime: Runtime) -> None:
    brand, cid, pid, number = await _setup(runtime)
    async with runtime.uow(system=True) as uow:
        with pytest.raises(CallbackRejected):
            await service.apply_notification(
                uow, bill_number=number, amount_fen=18_800, result=GatewayResult(Verdict.succeeded)
            )
        with pytest.raises(CallbackRejected):
            await service.apply_notification(
                uow, bill_number="NOPE", amount_fen=188, result=GatewayResult(Verdict.succeeded)
            )
    assert await _state(runtime, brand, pid) == PayoutState.pending
    assert (await _budget(runtime, brand, cid)).paid == 0


async def test_many_queries_of_an_acknowledged_payout_do_not_send_it_to_review(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """A transfer waiting a day for its consumer is queried often; a timeout then is not a
    reason for the human queue. An unanswered payout WeChat never acknowledged is."""
    brand, _, pid, number = await _setup(runtime)
    gateway = ScriptedGateway()
    gateway.answer(number, Verdict.awaiting_user, wechat_no="1000001")
    await tasks.dispatch_once(runtime, gateway)
    for _ in range(15):
        gateway.answer(number, Verdict.awaiting_user)
        clock.advance(timedelta(minutes=6))
        await tasks.reconcile_once(runtime, gateway)
    gateway.answer(number, Verdict.unknown)
    clock.advance(timedelta(minutes=6))
    await tasks.reconcile_once(runtime, gateway)
    assert await _state(runtime, brand, pid) == PayoutState.unknown

    other_brand, _, other, _ = await _setup(runtime)
    for _ in range(13):  # never answered at all
        await tasks.dispatch_once(runtime, ScriptedGateway())
        clock.advance(timedelta(hours=1))
    assert await _state(runtime, other_brand, other) == PayoutState.review
