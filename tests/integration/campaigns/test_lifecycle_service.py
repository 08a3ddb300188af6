"""The campaign lifecycle on a real database: publish, the scheduler, settlement, the copy
check, and every illegal transition through the REST API."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from jinli.accounts.models import AuditEntry
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import TRANSITIONS, Action, CampaignStatus
from jinli.campaigns.errors import NotPublishable, NotSettleable
from jinli.campaigns.ports import settlement_gate
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen
from jinli.ledger import service as ledger
from jinli.ledger.domain import Balances
from jinli.ledger.models import LedgerTransaction
from jinli.platform.db.outbox import OutboxMessage
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, bearer, create_api_key, create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

S = CampaignStatus
FUNDING_FEN = 10_000


async def _campaign(
    runtime: Runtime,
    brand: BrandFixture,
    *,
    start_in: timedelta = timedelta(hours=-1),
    end_in: timedelta = timedelta(days=7),
    funding_fen: int = FUNDING_FEN,
    **overrides: Any,
) -> uuid.UUID:
    now = runtime.clock.now()
    return await create_campaign(
        runtime,
        brand,
        funding_fen=funding_fen,
        starts_at=(now + start_in).isoformat(),
        ends_at=(now + end_in).isoformat(),
        **overrides,
    )


async def _act(runtime: Runtime, brand: BrandFixture, cid: uuid.UUID, action: Action) -> S:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.transition(
            uow, brand.actor(), cid, action, settlement_gate=settlement_gate(runtime.extras)
        )
        await uow.commit()
        return campaign.status


async def _status(runtime: Runtime, brand: BrandFixture, cid: uuid.UUID) -> S:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        return (await campaigns_service.get(uow, brand.actor(), cid)).status


async def _balances(runtime: Runtime, brand: BrandFixture, cid: uuid.UUID) -> Balances:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        return await ledger.verify_book(uow, cid)


async def _topics(runtime: Runtime, cid: uuid.UUID) -> list[str]:
    async with runtime.uow(system=True) as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage.topic)
            .where(OutboxMessage.key == str(cid))
            .order_by(OutboxMessage.id)
        )
        return list(rows)


async def _kinds(runtime: Runtime, brand: BrandFixture, cid: uuid.UUID) -> list[tuple[str, int]]:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        rows = await uow.session.execute(
            select(LedgerTransaction.kind, LedgerTransaction.amount_fen)
            .where(LedgerTransaction.book_id == cid)
            .order_by(LedgerTransaction.id)
        )
        return [(str(kind), amount) for kind, amount in rows.all()]


async def test_publishing_a_running_window_goes_live(runtime: Runtime) -> None:
    """Publishing a campaign whose start has passed lands in *live* at once (publish, then
    start), with both events in the outbox."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, start_in=timedelta(hours=-1))
    assert await _act(runtime, brand, cid, Action.publish) == S.live
    assert await _status(runtime, brand, cid) == S.live
    assert await _topics(runtime, cid) == [
        "campaign.created",
        "campaign.published",
        "campaign.started",
    ]


async def test_publishing_a_future_window_stays_scheduled(runtime: Runtime) -> None:
    """Publishing before the start time leaves the campaign *scheduled*, not live."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, start_in=timedelta(minutes=1))
    assert await _act(runtime, brand, cid, Action.publish) == S.scheduled
    assert await _status(runtime, brand, cid) == S.scheduled
    assert "campaign.started" not in await _topics(runtime, cid)


async def _schedule(runtime: Runtime) -> set[uuid.UUID]:
    async with runtime.uow(system=True) as uow:
        changed = await campaigns_service.apply_schedule(uow, runtime.clock.now())
        await uow.commit()
        return {c.id for c in changed}


async def test_the_scheduler_starts_and_ends_campaigns_by_time(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """apply_schedule starts a scheduled campaign exactly at its start, ends live and paused
    ones at their end, ends a scheduled one whose whole window passed, and does nothing early."""
    brand = await create_brand(runtime)
    hour = timedelta(hours=1)
    first = await _campaign(runtime, brand, start_in=hour, end_in=3 * hour)
    paused = await _campaign(runtime, brand, start_in=-hour, end_in=2 * hour)
    missed = await _campaign(runtime, brand, start_in=hour / 2, end_in=hour)
    for cid in (first, missed):
        assert await _act(runtime, brand, cid, Action.publish) == S.scheduled
    assert await _act(runtime, brand, paused, Action.publish) == S.live
    assert await _act(runtime, brand, paused, Action.pause) == S.paused

    clock.advance(hour / 4)  # nothing is due yet
    assert await _schedule(runtime) == set()
    assert [await _status(runtime, brand, c) for c in (first, paused, missed)] == [
        S.scheduled,
        S.paused,
        S.scheduled,
    ]

    clock.advance(hour * 3 / 4)  # T0 + 1 h: first starts; missed's window closed unseen
    assert await _schedule(runtime) == {first, missed}
    assert await _status(runtime, brand, first) == S.live
    assert await _status(runtime, brand, missed) == S.ended
    assert await _schedule(runtime) == set()  # running it again changes nothing

    clock.advance(hour)  # T0 + 2 h: the paused campaign's window closes
    assert await _schedule(runtime) == {paused}
    assert await _status(runtime, brand, paused) == S.ended
    assert await _status(runtime, brand, first) == S.live

    clock.advance(hour)  # T0 + 3 h
    assert await _schedule(runtime) == {first}
    assert await _status(runtime, brand, first) == S.ended
    assert (await _topics(runtime, first))[-2:] == ["campaign.started", "campaign.ended"]


async def test_settle_refuses_while_money_is_reserved_then_hands_back_the_rest(
    runtime: Runtime,
) -> None:
    """An ended campaign with a pending payout cannot settle (campaign_not_settleable) and
    stays ended; once the payout is posted it settles and withdraws exactly what is left."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand)
    assert await _act(runtime, brand, cid, Action.publish) == S.live
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        hold = await ledger.reserve(uow, cid, Fen(1_888), ref="payout-1")
        await uow.commit()
    assert await _act(runtime, brand, cid, Action.end) == S.ended

    with pytest.raises(NotSettleable) as refused:
        await _act(runtime, brand, cid, Action.settle)
    assert refused.value.code == "campaign_not_settleable"
    assert await _status(runtime, brand, cid) == S.ended
    assert await _balances(runtime, brand, cid) == Balances(
        Fen(FUNDING_FEN), Fen(FUNDING_FEN - 1_888), Fen(1_888), Fen(0), Fen(0), Fen(1_000_000)
    )

    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await ledger.post(uow, hold.id)
        await uow.commit()
    assert await _act(runtime, brand, cid, Action.settle) == S.settled
    left = FUNDING_FEN - 1_888
    assert await _balances(runtime, brand, cid) == Balances(
        Fen(FUNDING_FEN), Fen(0), Fen(0), Fen(1_888), Fen(left), Fen(1_000_000)
    )
    assert await _kinds(runtime, brand, cid) == [
        ("fund", FUNDING_FEN),
        ("reserve", 1_888),
        ("post", 1_888),
        ("withdraw", left),
    ]


async def test_settling_a_fully_spent_campaign_withdraws_nothing(runtime: Runtime) -> None:
    """With nothing available, settlement closes the books without an empty withdrawal."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, funding_fen=500)
    assert await _act(runtime, brand, cid, Action.publish) == S.live
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        hold = await ledger.reserve(uow, cid, Fen(500), ref="payout-1")
        await ledger.post(uow, hold.id)
        await uow.commit()
    assert await _act(runtime, brand, cid, Action.end) == S.ended
    assert await _act(runtime, brand, cid, Action.settle) == S.settled
    assert [kind for kind, _ in await _kinds(runtime, brand, cid)] == ["fund", "reserve", "post"]


@pytest.mark.parametrize(
    "copy",
    [
        "转发抽奖",
        "转发本文抽奖赢iPhone",
        "集满30个赞送礼",
        "关注公众号领红包",
        "分享到朋友圈后即可领取",
    ],
)
async def test_publishing_induced_share_wording_is_refused(runtime: Runtime, copy: str) -> None:
    """Copy WeChat treats as induced sharing/following cannot be published
    (campaign_not_publishable); the campaign stays an unpublished draft."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, description=f"扫码赢红包，{copy}！")
    with pytest.raises(NotPublishable) as refused:
        await _act(runtime, brand, cid, Action.publish)
    assert refused.value.code == "campaign_not_publishable"
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.get(uow, brand.actor(), cid)
        assert (campaign.status, campaign.published_at) == (S.draft, None)
    assert await _topics(runtime, cid) == ["campaign.created"]


async def test_publishing_an_unfunded_paying_campaign_is_refused(runtime: Runtime) -> None:
    """A campaign that pays rewards cannot be published with nothing available to pay."""
    brand = await create_brand(runtime)
    cid = await _campaign(runtime, brand, funding_fen=0)
    with pytest.raises(NotPublishable):
        await _act(runtime, brand, cid, Action.publish)
    assert await _status(runtime, brand, cid) == S.draft


# --- through the REST API --------------------------------------------------------------------

PATHS: dict[S, tuple[Action, ...]] = {
    S.draft: (),
    S.scheduled: (Action.publish,),
    S.live: (Action.publish, Action.start),
    S.paused: (Action.publish, Action.start, Action.pause),
    S.ended: (Action.publish, Action.start, Action.end),
    S.settled: (Action.publish, Action.start, Action.end, Action.settle),
}
"""How the tests bring a campaign into each status, from a draft with a future start (a past
start skips the explicit ``start``: publish alone goes live)."""


async def _in_status(
    runtime: Runtime, brand: BrandFixture, status: S, *, future: bool = False
) -> uuid.UUID:
    future = future or status == S.scheduled
    start_in = timedelta(hours=1) if future else timedelta(hours=-1)
    cid = await _campaign(runtime, brand, start_in=start_in)
    for action in PATHS[status]:
        if action == Action.start and not future:
            continue  # publish has already started it
        await _act(runtime, brand, cid, action)
    assert await _status(runtime, brand, cid) == status
    return cid


async def _footprint(runtime: Runtime, cid: uuid.UUID) -> tuple[int, int, int]:
    """Outbox events, audit entries and ledger transactions of a campaign."""
    async with runtime.uow(system=True) as uow:
        events = await uow.session.scalar(select(func.count()).where(OutboxMessage.key == str(cid)))
        audits = await uow.session.scalar(
            select(func.count()).where(AuditEntry.object_id == str(cid))
        )
        txs = await uow.session.scalar(select(func.count()).where(LedgerTransaction.book_id == cid))
    return int(events or 0), int(audits or 0), int(txs or 0)


async def test_every_illegal_transition_through_the_api_is_a_409_that_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """For every status and every action the table forbids, POST /campaigns/{id}/{action}
    answers 409 problem+json with code illegal_transition, and the campaign, its budget, its
    events and its audit trail are exactly as before."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    checked = 0
    for status in S:
        cid = await _in_status(runtime, brand, status)
        before = (await client.get(f"/api/v1/campaigns/{cid}", headers=key)).json()
        footprint = await _footprint(runtime, cid)
        for action in Action:
            if status in TRANSITIONS[action]:
                continue
            answer = await client.post(f"/api/v1/campaigns/{cid}/{action}", headers=key)
            assert answer.status_code == 409, (status, action, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            problem = answer.json()
            assert problem["code"] == "illegal_transition", (status, action, problem)
            assert problem["status"] == 409
            assert problem["type"].endswith("/illegal_transition")
            checked += 1
        after = (await client.get(f"/api/v1/campaigns/{cid}", headers=key)).json()
        assert after == before, status
        assert await _footprint(runtime, cid) == footprint, status
    legal = sum(len(moves) for moves in TRANSITIONS.values())
    assert checked == len(S) * len(Action) - legal == 33


async def test_every_legal_transition_through_the_api_reaches_its_target(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Each legal (status, action) pair answers 200 with the table's target status (publish
    of a future window → scheduled), and settling shows the handed-back budget at once."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    for action, moves in TRANSITIONS.items():
        for status, target in moves.items():
            cid = await _in_status(runtime, brand, status, future=True)
            answer = await client.post(f"/api/v1/campaigns/{cid}/{action}", headers=key)
            assert answer.status_code == 200, (status, action, answer.text)
            assert answer.json()["status"] == target, (status, action)
            if action == Action.settle:
                budget = answer.json()["budget"]
                assert (budget["available_fen"], budget["returned_fen"]) == (0, FUNDING_FEN)
