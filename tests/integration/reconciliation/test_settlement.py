"""The settle gate of a campaign: every Beijing day its payouts touched has a current run, and
no difference of it is open. Runs on both databases (the Beijing day is computed in SQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from jinli.accounts.domain import Role
from jinli.integrations.wechatpay.bills import EXPENSE
from jinli.kernel.pagination import PageRequest
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.platform.runtime import Runtime
from jinli.reconciliation import service
from jinli.reconciliation.service import BLOCKER_OPEN, BLOCKER_STALE, BLOCKER_UNRECONCILED
from tests.conftest import BACKENDS
from tests.factories import create_brand, create_campaign
from tests.integration.reconciliation import scenario
from tests.integration.reconciliation.scenario import Payout

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
DAY = date(2026, 11, 20)
BEFORE = DAY - timedelta(days=1)
MCHID = "1900000109"


def _paid(brand: uuid.UUID, campaign: uuid.UUID, at: datetime, amount: int) -> Payout:
    return Payout(
        uuid.uuid4(), brand, campaign, PayoutMode.transfer, PayoutState.succeeded, amount,
        at, at + timedelta(minutes=1),
    )  # fmt: skip


async def _reconcile(runtime: Runtime, day: date, rows: list[object], tmp: Path) -> None:
    path = scenario.write(tmp / f"{uuid.uuid4().hex}.csv", rows)  # type: ignore[arg-type]
    async with runtime.uow(system=True) as uow:
        await service.reconcile_file(
            uow, path, bill_date=day, merchant_id=MCHID, source="upload", workdir=tmp
        )
        await uow.commit()


async def test_a_campaign_without_payouts_may_settle(runtime: Runtime) -> None:
    """Nothing was paid, so there is nothing to reconcile."""
    brand = await create_brand(runtime)
    campaign = await create_campaign(runtime, brand)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        assert await service.settlement_blockers(uow, campaign) == []


async def test_settling_waits_for_every_day_and_every_difference(
    runtime: Runtime, tmp_path: Path
) -> None:
    """Both payouts happened on the UTC day 11-19 but on two Beijing days (23:00 and 00:30):
    each day needs its run; an earlier day imported later makes the later run stale; an open
    difference blocks until finance resolves it; another merchant's runs do not count."""
    brand = await create_brand(runtime)
    campaign = await create_campaign(runtime, brand)
    late = _paid(brand.brand_id, campaign, datetime(2026, 11, 19, 15, 0, tzinfo=UTC), 188)
    early = _paid(brand.brand_id, campaign, datetime(2026, 11, 19, 16, 30, tzinfo=UTC), 500)
    other_brand = await create_brand(runtime, "Other")
    other_campaign = await create_campaign(runtime, other_brand)
    await scenario.insert_payouts(
        runtime,
        [late, early, _paid(other_brand.brand_id, other_campaign, late.created_at, 300)],
    )
    writer = scenario._Writer()
    late_row = writer.row(late.created_at, late.mode, EXPENSE, 188, late.number)
    early_row = writer.row(early.created_at, early.mode, EXPENSE, 500, early.number)

    async def blockers(merchant_id: str | None = None) -> list[str]:
        async with runtime.uow(brand_id=brand.brand_id) as uow:
            return await service.settlement_blockers(uow, campaign, merchant_id=merchant_id)

    assert await blockers() == [f"{BLOCKER_UNRECONCILED}: {BEFORE}, {DAY}"]
    await _reconcile(runtime, DAY, [early_row], tmp_path)
    assert await blockers() == [f"{BLOCKER_UNRECONCILED}: {BEFORE}"]
    await _reconcile(runtime, BEFORE, [late_row], tmp_path)
    assert await blockers() == [f"{BLOCKER_STALE}: {DAY}"]
    assert await blockers("another-mchid") == [f"{BLOCKER_UNRECONCILED}: {BEFORE}, {DAY}"]
    await _reconcile(runtime, DAY, [early_row], tmp_path)
    assert await blockers() == []
    assert await blockers(MCHID) == []
    # The same bill of the 19th again carries the same rows: the 20th stays current.
    await _reconcile(runtime, BEFORE, [late_row], tmp_path)
    assert await blockers() == []

    await _reconcile(runtime, DAY, [], tmp_path)  # WeChat never paid the 500
    assert await blockers() == [f"{BLOCKER_OPEN}: 1"]
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        page = await service.list_differences(uow, brand.actor(Role.finance), PageRequest())
        await service.resolve(uow, brand.actor(Role.finance), page.items[0].id, "paid by hand")
        await uow.commit()
    assert await blockers() == []

    # The other brand sees its own campaign (its 300 is missing from the bill of the 19th)
    # and nothing of the first brand's.
    async with runtime.uow(brand_id=other_brand.brand_id) as uow:
        assert await service.settlement_blockers(uow, other_campaign) == [f"{BLOCKER_OPEN}: 1"]
        assert await service.settlement_blockers(uow, campaign) == []


async def test_many_missing_days_are_summarised(runtime: Runtime) -> None:
    """A long campaign names its first five unreconciled days and counts the rest."""
    brand = await create_brand(runtime)
    campaign = await create_campaign(runtime, brand)
    start = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    await scenario.insert_payouts(
        runtime,
        [_paid(brand.brand_id, campaign, start + timedelta(days=k), 100) for k in range(8)],
    )
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        assert await service.settlement_blockers(uow, campaign) == [
            f"{BLOCKER_UNRECONCILED}: 2026-11-01, 2026-11-02, 2026-11-03, 2026-11-04,"
            " 2026-11-05 (+3)"
        ]
