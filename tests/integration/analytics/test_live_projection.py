"""The live projection from a synthetic event stream, on SQLite and PostgreSQL: every counter
equals what the events say, a second delivery counts nothing, concurrent relays lose nothing
and never deadlock, and a malformed event holds nothing up."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from jinli.analytics import service as analytics_service
from jinli.analytics import tasks
from jinli.analytics.domain import ALERTS_KEPT, Bump, Metric
from jinli.analytics.models import LiveAlert, LiveCounter, LiveGuessAlert
from jinli.analytics.repository import LiveCounterRepository
from jinli.campaigns.errors import CampaignNotFound
from jinli.kernel.money import Fen
from jinli.platform.db.outbox import OutboxDelivery, OutboxMessage
from jinli.platform.db.relay import RelayedEvent
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, create_brand, create_campaign
from tests.integration.analytics._stream import (
    Event,
    Expected,
    drain_live,
    emit,
    random_events,
    relay,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def _rows(runtime: Runtime, campaign_id: uuid.UUID) -> list[tuple[str, str, int, int]]:
    async with runtime.uow(system=True) as uow:
        rows = (
            await uow.session.execute(
                select(
                    LiveCounter.metric, LiveCounter.dim, LiveCounter.count, LiveCounter.amount_fen
                ).where(LiveCounter.campaign_id == campaign_id)
            )
        ).all()
    return [(str(m), d, int(c), int(a)) for m, d, c, a in rows]


async def _counters(runtime: Runtime, campaign_id: uuid.UUID) -> dict[tuple[str, str], int]:
    return {(m, d): c for m, d, c, _ in await _rows(runtime, campaign_id)}


async def _fen(runtime: Runtime, campaign_id: uuid.UUID) -> dict[tuple[str, str], int]:
    return {(m, d): a for m, d, _, a in await _rows(runtime, campaign_id)}


def _assert_matches(
    expected: Expected,
    campaign_id: uuid.UUID,
    got: dict[tuple[str, str], int],
    fen: dict[tuple[str, str], int],
) -> None:
    cid = campaign_id
    assert got.get(("scans", "claimed"), 0) == expected.valid[cid]
    assert got.get(("scans", "repeated"), 0) == expected.repeated[cid]
    refused = sum(n for (c, _), n in expected.refused.items() if c == cid)
    assert got.get(("scans", "refused"), 0) == refused
    for (c, reason), n in expected.refused.items():
        if c == cid:
            assert got[("refused", reason)] == n
    for (c, tier), n in expected.tier_count.items():
        if c == cid:
            assert got[("tier", tier)] == n
            assert fen[("tier", tier)] == expected.tier_fen[(c, tier)]
    for (c, region), n in expected.region_valid.items():
        if c == cid:
            assert got[("region_claimed", region)] == n
    for (c, hour), n in expected.hour_valid.items():
        if c == cid:
            assert got[("hour_claimed", hour)] == n
    assert sum(n for (m, _), n in got.items() if m == "region_cross") == expected.cross[cid]
    for (c, state), n in expected.payout_count.items():
        if c == cid:
            assert got[("payout", state)] == n
            assert fen[("payout", state)] == expected.payout_fen[(c, state)]


async def _setup(runtime: Runtime) -> tuple[BrandFixture, list[uuid.UUID]]:
    brand = await create_brand(runtime)
    campaigns = [
        await create_campaign(runtime, brand, reward_rule={"kind": "none"}) for _ in range(2)
    ]
    return brand, campaigns


async def _deliveries(runtime: Runtime) -> dict[str, int]:
    async with runtime.uow(system=True) as uow:
        rows = (
            await uow.session.execute(
                select(OutboxDelivery.status, func.count())
                .where(OutboxDelivery.consumer == tasks.LIVE_CONSUMER.name)
                .group_by(OutboxDelivery.status)
            )
        ).all()
    return {str(s): int(n) for s, n in rows}


async def _messages(runtime: Runtime) -> int:
    async with runtime.uow(system=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_counters_equal_what_the_events_say(runtime: Runtime) -> None:
    brand, campaigns = await _setup(runtime)
    expected = Expected()
    events = random_events(random.Random(7), brand, campaigns, 240)
    await emit(runtime, events, expected=expected, step=timedelta(minutes=7))
    await relay(runtime)
    for cid in campaigns:
        _assert_matches(expected, cid, await _counters(runtime, cid), await _fen(runtime, cid))
    async with runtime.uow(system=True) as uow:
        guesses = await uow.session.scalar(select(func.count()).select_from(LiveGuessAlert))
    assert guesses == min(expected.guessing, ALERTS_KEPT)
    assert await _deliveries(runtime) == {"done": await _messages(runtime)}


async def test_a_second_delivery_of_an_event_counts_nothing(runtime: Runtime) -> None:
    brand, (cid, _) = await _setup(runtime)
    payload = {
        "campaign_id": str(cid),
        "batch_id": str(uuid.uuid4()),
        "region": "杭州",
        "scan_region": None,
        "tier": "一等奖",
        "amount_fen": 888,
        "payout_id": None,
    }
    event = RelayedEvent(
        9_999, "scan.claimed", str(cid), brand.brand_id, payload, runtime.clock.now()
    )
    for _ in range(2):
        async with runtime.uow(system=True) as uow:
            await tasks.project_live(uow, event)
            await uow.commit()
    # The same fact written to the outbox twice under one event_id (an at-least-once path).
    twice = Event("scan.claimed", {**payload, "event_id": "claim-1"}, brand.brand_id)
    await emit(runtime, [twice, twice])
    await relay(runtime)
    await relay(runtime)  # nothing is due any more: a second pass moves nothing
    counters = await _counters(runtime, cid)
    assert counters[("scans", "claimed")] == 2
    assert (await _fen(runtime, cid))[("tier", "一等奖")] == 2 * 888


async def test_concurrent_relays_count_every_event_once(runtime: Runtime) -> None:
    brand, campaigns = await _setup(runtime)
    expected = Expected()
    events = random_events(random.Random(11), brand, campaigns, 300)
    await emit(runtime, events, expected=expected, step=timedelta(seconds=40))
    moved = await asyncio.gather(drain_live(runtime), drain_live(runtime))
    messages = await _messages(runtime)
    assert sum(moved) == messages
    assert await _deliveries(runtime) == {"done": messages}, "a relay failed (deadlock?)"
    for cid in campaigns:
        _assert_matches(expected, cid, await _counters(runtime, cid), await _fen(runtime, cid))


async def test_concurrent_upserts_of_one_counter_lose_nothing(runtime: Runtime) -> None:
    """Without the writers' lock: each increment is one atomic statement, so N transactions
    racing on the same counter leave it at exactly N (a read-modify-write would lose some)."""
    brand, (cid, _) = await _setup(runtime)

    async def bump() -> None:
        async with runtime.uow(system=True) as uow:
            await LiveCounterRepository(uow).bump(
                brand.brand_id, cid, Bump(Metric.tier, "一等奖", 1, Fen(888))
            )
            await uow.commit()

    await asyncio.gather(*(bump() for _ in range(40)))
    assert (await _counters(runtime, cid))[("tier", "一等奖")] == 40
    assert (await _fen(runtime, cid))[("tier", "一等奖")] == 40 * 888


async def test_a_malformed_event_is_skipped_and_holds_nothing_up(runtime: Runtime) -> None:
    brand, (cid, _) = await _setup(runtime)
    bad = Event("scan.claimed", {"campaign_id": "not-a-campaign", "amount_fen": 1}, brand.brand_id)
    good = Event("scan.refused", {"campaign_id": str(cid), "reason": "throttled"}, brand.brand_id)
    await emit(runtime, [bad, good])
    await relay(runtime)
    assert await _counters(runtime, cid) == {
        ("scans", "refused"): 1,
        ("refused", "throttled"): 1,
        ("hour_refused", "2026112312"): 1,
    }
    assert set(await _deliveries(runtime)) == {"done"}


async def test_only_the_latest_alerts_are_kept_and_the_total_is_exact(runtime: Runtime) -> None:
    brand, (cid, _) = await _setup(runtime)
    alerts = [
        Event(
            "alert.cross_region",
            {
                "campaign_id": str(cid),
                "batch_id": str(uuid.uuid4()),
                "batch_region": "杭州",
                "scan_region": f"城市{i}",
            },
            brand.brand_id,
        )
        for i in range(ALERTS_KEPT + 5)
    ]
    await emit(runtime, alerts)
    await relay(runtime)
    async with runtime.uow(system=True) as uow:
        kept = (await uow.session.scalars(select(LiveAlert.scan_region))).all()
    assert sorted(kept) == sorted(f"城市{i}" for i in range(5, ALERTS_KEPT + 5))
    assert (await _counters(runtime, cid))[("region_cross", "杭州")] == ALERTS_KEPT + 5


async def test_another_brand_cannot_see_the_live_view(runtime: Runtime) -> None:
    brand, (cid, _) = await _setup(runtime)
    other = await create_brand(runtime, "Other")
    async with runtime.uow(brand_id=other.brand_id) as uow:
        with pytest.raises(CampaignNotFound):
            await analytics_service.live_view(uow, other.actor(), cid, runtime.clock.now())
        rows = (await uow.session.scalars(select(LiveCounter.dim))).all()
    assert rows == []
    assert brand.brand_id != other.brand_id
