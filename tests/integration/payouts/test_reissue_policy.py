"""Automatic reissue by the campaign's policy: the ``payout.failed`` consumer pays a refunded or
unconfirmed payout again under its next number, exactly once, and leaves everything else for
finance with the reason on the payout."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from jinli.accounts.domain import Role
from jinli.accounts.models import AuditEntry
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen
from jinli.kernel.pagination import PageRequest
from jinli.ledger import service as ledger
from jinli.ledger.domain import Balances
from jinli.payouts import service, tasks
from jinli.payouts.consumers import auto_reissue_consumer
from jinli.payouts.domain import AutoReissueBlock, PayoutMode, PayoutState, Verdict
from jinli.payouts.models import PayoutOrder
from jinli.payouts.ports import GatewayResult, PayoutRequest
from jinli.platform.db.outbox import OutboxMessage
from jinli.platform.db.relay import Consumer, RelayedEvent, relay_all
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, bearer, create_api_key, create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

FUNDING = 10_000
AMOUNT = 188
CONSUMER = auto_reissue_consumer(campaigns_service.is_settled)


class Gateway:
    """Answers each number's calls from a script (then: no answer)."""

    def __init__(self) -> None:
        self.script: dict[str, list[GatewayResult]] = defaultdict(list)

    def answer(self, number: str, *results: GatewayResult) -> None:
        self.script[number].extend(results)

    async def _next(self, request: PayoutRequest) -> GatewayResult:
        queue = self.script[request.bill_number]
        return queue.pop(0) if queue else GatewayResult(Verdict.unknown, error="timeout")

    async def send(self, request: PayoutRequest) -> GatewayResult:
        return await self._next(request)

    async def query(self, request: PayoutRequest) -> GatewayResult:
        return await self._next(request)


SENT = GatewayResult(Verdict.awaiting_user, "SENT", "1000041701")
REFUNDED = GatewayResult(Verdict.failed, "REFUND", "1000041701")
WAITING = GatewayResult(Verdict.awaiting_user, "WAIT_USER_CONFIRM", "1330001", "pkg")


def failed_transfer(reason: str) -> GatewayResult:
    return GatewayResult(Verdict.failed, "FAIL", "1330001", fail_reason=reason)


async def _campaign(runtime: Runtime, brand: BrandFixture, **options: Any) -> uuid.UUID:
    return await create_campaign(
        runtime, brand, funding_fen=options.pop("funding", FUNDING), **options
    )


async def _payout(
    runtime: Runtime, brand: BrandFixture, campaign_id: uuid.UUID, *, cause: str = "scan:1"
) -> PayoutOrder:
    """A payout created as a cause would: with the campaign's payout terms."""
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.get(uow, brand.actor(), campaign_id)
        terms = campaigns_service.payout_terms(campaign)
        order = await service.create_payout(
            uow,
            campaign_id=campaign_id,
            amount_fen=Fen(AMOUNT),
            openid="o-consumer-1",
            mode=PayoutMode(terms.mode),
            cause=cause,
            remark="扫码红包",
            activity="瓶盖活动",
            reissue_as=PayoutMode(terms.reissue_as) if terms.reissue_as else None,
            auto_reissues=terms.auto_reissues,
        )
        await uow.commit()
    return order


async def _fail(
    runtime: Runtime, clock: FrozenClock, gateway: Gateway, number: str, *answers: GatewayResult
) -> None:
    """Send the payout and query it until the scripted answers are used up."""
    gateway.answer(number, *answers)
    await tasks.dispatch_once(runtime, gateway)
    while gateway.script[number]:
        clock.advance(service.QUERY_EVERY)
        await tasks.reconcile_once(runtime, gateway)


async def _unconfirmed(
    runtime: Runtime,
    clock: FrozenClock,
    gateway: Gateway,
    number: str,
    reason: str = "OVERDUE_CLOSE",
) -> None:
    """A transfer waits for the consumer, then WeChat closes it with ``reason``."""
    await _fail(runtime, clock, gateway, number, WAITING, failed_transfer(reason))


async def _orders(runtime: Runtime, brand: BrandFixture) -> list[PayoutOrder]:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        page = await service.list_(uow, brand.actor(), PageRequest(limit=100))
        uow.session.expunge_all()  # read after the unit of work, as they were
        return sorted(page.items, key=lambda o: o.attempt)


async def _budget(runtime: Runtime, brand: BrandFixture, campaign_id: uuid.UUID) -> Balances:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        return await ledger.verify_book(uow, campaign_id)


async def _relay(runtime: Runtime, consumer: Consumer = CONSUMER) -> int:
    return await relay_all(runtime.uow, [consumer])


async def _audits(runtime: Runtime, brand: BrandFixture, action: str) -> list[AuditEntry]:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        rows = list(
            await uow.session.scalars(select(AuditEntry).where(AuditEntry.action == action))
        )
        uow.session.expunge_all()
        return rows


async def test_a_refunded_red_packet_is_reissued_once_as_a_transfer(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """A red packet nobody opened is refunded after 24 h; under "as transfer, at most 1" the
    consumer creates one transfer with the next number (…R1), reserves the budget again and
    audits it as the system. Relaying again, or handing the same event over again, changes
    nothing; when that transfer also goes unconfirmed, no reissue is left: finance decides."""
    brand = await create_brand(runtime)
    cid = await _campaign(
        runtime, brand, payout_mode="red_packet", reissue_policy="as_transfer", max_auto_reissues=1
    )
    first = await _payout(runtime, brand, cid)
    assert (first.mode, first.reissue_as, first.auto_reissues_left) == (
        PayoutMode.red_packet,
        PayoutMode.transfer,
        1,
    )
    gateway = Gateway()
    await _fail(runtime, clock, gateway, first.bill_number, SENT, REFUNDED)
    assert (await _budget(runtime, brand, cid)).reserved == 0

    await _relay(runtime)
    await _relay(runtime)
    old, new = await _orders(runtime, brand)
    assert old.id == first.id
    assert old.state == PayoutState.failed
    assert old.reissued_by == new.id
    assert old.auto_reissue_blocked is None
    assert new.bill_number == f"{first.bill_number}R1"
    assert (new.mode, new.state, new.attempt, new.reissue_of, new.cause) == (
        PayoutMode.transfer,
        PayoutState.pending,
        1,
        first.id,
        first.cause,
    )
    assert (new.reissue_as, new.auto_reissues_left) == (PayoutMode.transfer, 0)
    budget = await _budget(runtime, brand, cid)
    assert (budget.reserved, budget.available, budget.paid) == (AMOUNT, FUNDING - AMOUNT, 0)
    [audit] = await _audits(runtime, brand, "payout.auto_reissued")
    assert (audit.actor_kind, audit.actor_name) == ("system", service.AUTO_REISSUER)
    assert audit.object_id == str(first.id)

    # The same event delivered once more (a lost delivery record) is recognised and ignored.
    async with runtime.uow(system=True) as uow:
        message = (
            await uow.session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.topic == "payout.failed", OutboxMessage.key == str(first.id)
                )
            )
        ).one()
        event = RelayedEvent(
            message.id,
            message.topic,
            message.key,
            message.brand_id,
            json.loads(message.payload),
            message.created_at,
        )
        await CONSUMER.handle(uow, event)
        await uow.commit()
    assert len(await _orders(runtime, brand)) == 2
    assert (await _budget(runtime, brand, cid)).reserved == AMOUNT

    # The reissued transfer is not confirmed in 24 h either: no automatic reissue is left.
    await _unconfirmed(runtime, clock, gateway, new.bill_number)
    await _relay(runtime)
    orders = await _orders(runtime, brand)
    assert len(orders) == 2
    assert orders[1].state == PayoutState.failed
    assert orders[1].reissued_by is None
    assert orders[1].auto_reissue_blocked == AutoReissueBlock.none_left
    budget = await _budget(runtime, brand, cid)
    assert (budget.reserved, budget.available) == (0, FUNDING)

    # Finance can still pay it by hand: the one-click reissue is untouched by the policy.
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        by_hand = await service.reissue(uow, brand.actor(Role.finance), orders[1].id)
        await uow.commit()
    assert by_hand.bill_number == f"{first.bill_number}R2"
    assert (by_hand.reissue_as, by_hand.auto_reissues_left) == (PayoutMode.transfer, 0)


async def test_concurrent_relays_reissue_exactly_once(runtime: Runtime, clock: FrozenClock) -> None:
    """Two workers relaying the same ``payout.failed`` at the same time, and two direct calls
    racing on the same payout: one new payout, one reservation."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, reissue_policy="same_mode", max_auto_reissues=3)
    gateway = Gateway()
    first = await _payout(runtime, brand, cid, cause="scan:a")
    second = await _payout(runtime, brand, cid, cause="scan:b")
    await _fail(
        runtime, clock, gateway, first.bill_number, WAITING, failed_transfer("OVERDUE_CLOSE")
    )
    await _fail(
        runtime, clock, gateway, second.bill_number, WAITING, failed_transfer("OVERDUE_CLOSE")
    )

    # The first: two relays race (PostgreSQL skips locked messages; SQLite serialises).
    # Both messages go through the race; each must yield exactly one reissue.
    await asyncio.gather(_relay(runtime), _relay(runtime))

    async def direct(payout_id: uuid.UUID) -> PayoutOrder | None:
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            new = await service.auto_reissue(uow, payout_id)
            await uow.commit()
            return new

    made = await asyncio.gather(direct(first.id), direct(second.id), direct(first.id))
    assert all(m is None for m in made)  # the relay already did both

    orders = await _orders(runtime, brand)
    by_cause: dict[str, list[PayoutOrder]] = defaultdict(list)
    for order in orders:
        by_cause[order.cause].append(order)
    for cause, original in (("scan:a", first), ("scan:b", second)):
        attempts = sorted(by_cause[cause], key=lambda o: o.attempt)
        assert [o.attempt for o in attempts] == [0, 1]
        assert attempts[1].bill_number == f"{original.bill_number}R1"
        assert attempts[1].mode == PayoutMode.transfer
        assert attempts[1].auto_reissues_left == 2
    assert (await _budget(runtime, brand, cid)).reserved == 2 * AMOUNT


async def test_racing_direct_calls_pay_once(runtime: Runtime, clock: FrozenClock) -> None:
    """Without the relay's bookkeeping, the row lock alone keeps a payout to one reissue."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, reissue_policy="same_mode", max_auto_reissues=3)
    gateway = Gateway()
    first = await _payout(runtime, brand, cid)
    await _fail(
        runtime, clock, gateway, first.bill_number, WAITING, failed_transfer("OVERDUE_CLOSE")
    )

    async def direct() -> PayoutOrder | None:
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            new = await service.auto_reissue(uow, first.id)
            await uow.commit()
            return new

    made = await asyncio.gather(*(direct() for _ in range(4)))
    assert sum(m is not None for m in made) == 1
    assert len(await _orders(runtime, brand)) == 2
    assert (await _budget(runtime, brand, cid)).reserved == AMOUNT


@pytest.mark.parametrize(
    "reason", ["OPENID_INVALID", "ACCOUNT_FROZEN", "REAL_NAME_CHECK_FAIL", "TRANSFER_RISK"]
)
async def test_a_failure_about_the_consumer_is_left_for_finance(
    runtime: Runtime, clock: FrozenClock, reason: str
) -> None:
    """A blocked or invalid account, a real-name mismatch or risk control: paying the same
    person again would fail again (or should not happen), so a person decides."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, reissue_policy="as_transfer", max_auto_reissues=5)
    first = await _payout(runtime, brand, cid)
    await _unconfirmed(runtime, clock, Gateway(), first.bill_number, reason)
    await _relay(runtime)
    [order] = await _orders(runtime, brand)
    assert (order.state, order.reissued_by) == (PayoutState.failed, None)
    assert order.auto_reissue_blocked == AutoReissueBlock.not_reissuable
    assert (await _budget(runtime, brand, cid)).reserved == 0
    [audit] = await _audits(runtime, brand, "payout.auto_reissue_held")
    assert audit.detail["reason"] == "not_reissuable"
    assert audit.detail["fail_reason"] == reason


async def test_a_request_wechat_refused_is_left_for_finance(runtime: Runtime) -> None:
    """A definite refusal of the first call (PARAM_ERROR): the same request would be refused."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, reissue_policy="same_mode")
    first = await _payout(runtime, brand, cid)
    gateway = Gateway()
    gateway.answer(
        first.bill_number,
        GatewayResult(Verdict.rejected, "PARAM_ERROR", fail_reason="PARAM_ERROR"),
    )
    await tasks.dispatch_once(runtime, gateway)
    await _relay(runtime)
    [order] = await _orders(runtime, brand)
    assert order.state == PayoutState.failed
    assert order.auto_reissue_blocked == AutoReissueBlock.not_reissuable


async def test_without_a_policy_nothing_happens(runtime: Runtime, clock: FrozenClock) -> None:
    """The default policy is off: a refunded payout waits for finance, unjudged."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, payout_mode="red_packet")
    first = await _payout(runtime, brand, cid)
    assert (first.reissue_as, first.auto_reissues_left) == (None, 0)
    await _fail(runtime, clock, Gateway(), first.bill_number, SENT, REFUNDED)
    await _relay(runtime)
    [order] = await _orders(runtime, brand)
    assert (order.reissued_by, order.auto_reissue_blocked) == (None, None)


async def test_no_budget_left_leaves_it_for_finance(runtime: Runtime, clock: FrozenClock) -> None:
    """The budget the refund freed was taken by another reward before the consumer ran: the
    reservation is refused, nothing is written but the reason, and the books still balance."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, funding=AMOUNT, reissue_policy="as_transfer")
    first = await _payout(runtime, brand, cid)
    await _fail(
        runtime, clock, Gateway(), first.bill_number, WAITING, failed_transfer("OVERDUE_CLOSE")
    )
    other = await _payout(runtime, brand, cid, cause="scan:other")
    await _relay(runtime)
    orders = {o.id: o for o in await _orders(runtime, brand)}
    assert set(orders) == {first.id, other.id}
    assert orders[first.id].auto_reissue_blocked == AutoReissueBlock.budget_exhausted
    assert orders[first.id].reissued_by is None
    budget = await _budget(runtime, brand, cid)
    assert (budget.reserved, budget.available) == (AMOUNT, 0)

    # Finance tops up and reissues by hand.
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await campaigns_service.fund(uow, brand.actor(), cid, AMOUNT)
        await service.reissue(uow, brand.actor(Role.finance), first.id)
        await uow.commit()
    assert (await _budget(runtime, brand, cid)).reserved == 2 * AMOUNT


async def _no_blockers(uow: object, campaign_id: uuid.UUID, /) -> list[str]:
    return []


async def test_a_settled_campaign_pays_nothing_more(runtime: Runtime, clock: FrozenClock) -> None:
    """The campaign was ended and settled between the failure and the consumer: its budget was
    handed back, and the payout is left for finance, saying so."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, reissue_policy="same_mode")
    first = await _payout(runtime, brand, cid)
    await _fail(
        runtime, clock, Gateway(), first.bill_number, WAITING, failed_transfer("OVERDUE_CLOSE")
    )
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        for action in (Action.publish, Action.end, Action.settle):
            await campaigns_service.transition(
                uow, brand.actor(), cid, action, settlement_gate=_no_blockers
            )
        await uow.commit()
    await _relay(runtime)
    [order] = await _orders(runtime, brand)
    assert order.auto_reissue_blocked == AutoReissueBlock.campaign_settled
    budget = await _budget(runtime, brand, cid)
    assert (budget.reserved, budget.available, budget.returned) == (0, 0, FUNDING)


async def test_without_the_campaign_check_the_budget_still_refuses(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """Registered without the campaign check, a settled campaign still pays nothing: its
    budget was handed back, so the reservation is refused."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, reissue_policy="same_mode")
    first = await _payout(runtime, brand, cid)
    await _fail(
        runtime, clock, Gateway(), first.bill_number, WAITING, failed_transfer("OVERDUE_CLOSE")
    )
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        for action in (Action.publish, Action.end, Action.settle):
            await campaigns_service.transition(
                uow, brand.actor(), cid, action, settlement_gate=_no_blockers
            )
        await uow.commit()
    await _relay(runtime, auto_reissue_consumer())
    [order] = await _orders(runtime, brand)
    assert order.auto_reissue_blocked == AutoReissueBlock.budget_exhausted
    assert (await _budget(runtime, brand, cid)).available == 0


async def test_brands_are_kept_apart_in_one_relay_batch(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """One relay batch handles failures of two brands: each reissue is made, audited and
    reserved in its own brand."""
    gateway = Gateway()
    made = []
    for name in ("A", "B"):
        brand = await create_brand(runtime, name)
        cid = await _campaign(runtime, brand, reissue_policy="same_mode")
        first = await _payout(runtime, brand, cid)
        await _fail(
            runtime, clock, gateway, first.bill_number, WAITING, failed_transfer("OVERDUE_CLOSE")
        )
        made.append((brand, cid))
    await _relay(runtime)
    for brand, cid in made:
        orders = await _orders(runtime, brand)
        assert [o.attempt for o in orders] == [0, 1]
        assert {o.brand_id for o in orders} == {brand.brand_id}
        assert (await _budget(runtime, brand, cid)).reserved == AMOUNT
        assert len(await _audits(runtime, brand, "payout.auto_reissued")) == 1


async def test_the_api_shows_the_policy_and_why_a_payout_was_left(
    runtime: Runtime, clock: FrozenClock, client: httpx.AsyncClient
) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand, Role.finance))
    cid = await _campaign(runtime, brand, reissue_policy="as_brand_red_packet", max_auto_reissues=2)
    first = await _payout(runtime, brand, cid)
    await _fail(
        runtime, clock, Gateway(), first.bill_number, WAITING, failed_transfer("ACCOUNT_FROZEN")
    )
    await _relay(runtime)
    body = (await client.get(f"/api/v1/payouts/{first.id}", headers=key)).json()
    assert body["reissue_as"] == "brand_red_packet"
    assert body["auto_reissues_left"] == 2
    assert body["auto_reissue_blocked"] == "not_reissuable"
    assert "not safe to retry" in body["auto_reissue_blocked_reason"]
    assert body["fail_reason"] == "ACCOUNT_FROZEN"
