"""``live_view`` on a real database: its numbers are exactly what the events and the ledger
say (scans, winners, payouts, money, burn, hours, regions, alerts, invalid scans)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from jinli.analytics import service as analytics_service
from jinli.analytics.domain import LiveSnapshot
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen
from jinli.payouts import service as payouts_service
from jinli.payouts.domain import PayoutMode, Verdict
from jinli.payouts.ports import GatewayResult
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, create_brand, create_campaign
from tests.integration.analytics._stream import Event, emit, relay

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

FUNDING_FEN = 10_000


async def _payout(runtime: Runtime, brand: BrandFixture, cid: uuid.UUID, amount: int) -> uuid.UUID:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        order = await payouts_service.create_payout(
            uow,
            campaign_id=cid,
            amount_fen=Fen(amount),
            openid=f"o-live-{uuid.uuid4().hex[:8]}",
            mode=PayoutMode.transfer,
            cause=f"live-test:{uuid.uuid4()}",
            remark="扫码红包",
            activity="实时看板",
        )
        await uow.commit()
    return order.id


async def _settle(runtime: Runtime, outcomes: dict[uuid.UUID, Verdict]) -> None:
    """Send every due payout; those in ``outcomes`` get that answer, the rest wait."""
    async with runtime.uow(system=True) as uow:
        claimed = await payouts_service.claim_due(uow, limit=100)
        await uow.commit()
    for one in claimed:
        verdict = outcomes.get(one.payout_id, Verdict.retry_later)
        async with runtime.uow(brand_id=one.brand_id) as uow:
            await payouts_service.record_result(
                uow,
                one.payout_id,
                GatewayResult(
                    verdict, fail_reason="TRANSFER_TIMEOUT" if verdict == "failed" else None
                ),
            )
            await uow.commit()


def _claim(
    cid: uuid.UUID,
    brand: BrandFixture,
    tier: str,
    amount: int,
    payout: uuid.UUID | None,
    region: str = "浙江省杭州市",
    scan_region: str | None = None,
) -> Event:
    return Event(
        "scan.claimed",
        {
            "campaign_id": str(cid),
            "batch_id": str(uuid.uuid4()),
            "region": region,
            "scan_region": scan_region,
            "tier": tier,
            "amount_fen": amount,
            "payout_id": str(payout) if payout else None,
        },
        brand.brand_id,
    )


async def _view(runtime: Runtime, brand: BrandFixture, cid: uuid.UUID) -> LiveSnapshot:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        return await analytics_service.live_view(
            uow, brand.actor(), cid, runtime.clock.now(), counters=runtime.counters
        )


async def test_live_view_equals_the_events_and_the_ledger(runtime: Runtime) -> None:
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    brand = await create_brand(runtime)
    cid = await create_campaign(
        runtime, brand, funding_fen=FUNDING_FEN, reward_rule={"kind": "none"}
    )
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await campaigns_service.transition(uow, brand.actor(), cid, Action.publish)
        await uow.commit()
    first, second, third = [await _payout(runtime, brand, cid, a) for a in (888, 300, 188)]
    # Winners and their payouts, as the scan path reports them (12:00–12:10 Beijing).
    await emit(
        runtime,
        [
            _claim(cid, brand, "一等奖", 888, first, scan_region="浙江省杭州市"),
            _claim(cid, brand, "二等奖", 300, second),
            _claim(cid, brand, "三等奖", 188, third, scan_region="上海市"),
            _claim(cid, brand, "谢谢参与", 0, None),
            Event(
                "scan.repeated",
                {
                    "campaign_id": str(cid),
                    "batch_id": str(uuid.uuid4()),
                    "scans": 3,
                    "scan_region": "上海市",
                },
                brand.brand_id,
            ),
            Event(
                "scan.repeated",
                {
                    "campaign_id": str(cid),
                    "batch_id": str(uuid.uuid4()),
                    "scans": 2,
                    "scan_region": None,
                },
                brand.brand_id,
            ),
            Event(
                "scan.refused",
                {"campaign_id": str(cid), "batch_id": str(uuid.uuid4()), "reason": "inactive"},
                brand.brand_id,
            ),
            Event(
                "alert.cross_region",
                {
                    "campaign_id": str(cid),
                    "batch_id": str(uuid.uuid4()),
                    "batch_region": "浙江省杭州市",
                    "scan_region": "广东省广州市",
                },
                brand.brand_id,
            ),
            Event("alert.guessing", {"count": 731, "window_seconds": 60}, None),
        ],
        step=timedelta(minutes=1),
    )
    await _settle(runtime, {first: Verdict.succeeded, second: Verdict.failed})
    for _ in range(4):
        await runtime.counters.hit(f"scans:invalid:{clock.now():%Y%m%d}12", 48 * 3600)
    await relay(runtime)
    clock.advance(timedelta(minutes=20))  # 12:29 Beijing: 89 minutes since 11:00

    live = await _view(runtime, brand, cid)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        ledger = await campaigns_service.budget(uow, brand.actor(), cid)

    assert (live.scans.valid, live.scans.repeated, live.scans.refused) == (4, 2, 1)
    assert live.scans.invalid_48h == 4
    assert live.refused_by_reason["inactive"] == 1
    assert [(w.label, w.count, w.amount_fen) for w in live.winners] == [
        ("一等奖", 1, 888),
        ("二等奖", 1, 300),
        ("三等奖", 1, 188),
        ("谢谢参与", 1, 0),
    ]
    payouts = {state: (t.count, t.amount_fen) for state, t in live.payouts.items()}
    assert payouts == {
        "created": (3, 1376),
        "succeeded": (1, 888),
        "failed": (1, 300),
        "review": (0, 0),
    }
    # Money is the ledger's: 888 paid, 188 still reserved, 300 voided back to available.
    assert (live.money.paid_fen, live.money.reserved_fen, live.money.available_fen) == (
        ledger.paid,
        ledger.reserved,
        ledger.available,
    )
    assert (ledger.paid, ledger.reserved, ledger.available) == (888, 188, FUNDING_FEN - 1076)
    assert live.money.spent_fen == 1076
    assert live.burn.spent_bp == 1076
    assert live.burn.elapsed_bp == (89 * 60 * 10_000) // int(
        (timedelta(days=7, hours=1)).total_seconds()
    )
    assert live.burn.rate_fen_per_hour == 1376 * 3600 // (89 * 60)
    rate = 1376 * 3600 // (89 * 60)  # 927 fen an hour: 8924 fen last about 9.6 hours
    assert live.burn.exhausts_at == clock.now() + timedelta(seconds=8924 * 3600 // rate)
    assert live.burn.exhausts_before_end
    now_hour = live.hours[-1]
    assert (now_hour.hour[-2:], now_hour.valid, now_hour.repeated, now_hour.refused) == (
        "12",
        4,
        2,
        1,
    )
    assert (now_hour.invalid, now_hour.prize_fen) == (4, 1376)
    regions = {r.region: (r.valid, r.prize_fen, r.repeated, r.cross_region) for r in live.regions}
    assert regions == {
        "浙江省杭州市": (3, 1188, 0, 1),
        "上海市": (1, 188, 1, 0),
        "": (0, 0, 1, 0),
    }
    assert live.cross_region_total == 1
    assert [(a.batch_region, a.scan_region) for a in live.cross_region_alerts] == [
        ("浙江省杭州市", "广东省广州市"),
    ]
    assert [(g.count, g.window_seconds) for g in live.guessing_alerts] == [(731, 60)]


async def test_without_counters_the_invalid_scans_are_unknown(runtime: Runtime) -> None:
    brand = await create_brand(runtime)
    cid = await create_campaign(runtime, brand, reward_rule={"kind": "none"})
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        live = await analytics_service.live_view(uow, brand.actor(), cid, runtime.clock.now())
    assert live.scans.invalid_48h is None
    assert all(h.invalid is None for h in live.hours)
    assert live.burn.spent_bp is None  # nothing funded: no budget to burn
    assert (live.scans.valid, live.winners, live.regions) == (0, (), ())
