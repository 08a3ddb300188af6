"""The rows the match reads for our side come straight from the database
(``payouts.service.reconciliation_rows``: offsets and closes computed in SQL, no ORM object);
they must equal what ``repository.payout_rows`` computes from the full records, to the
microsecond at every day boundary, on both databases."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from jinli.payouts import service as payouts_service
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.platform.runtime import Runtime
from jinli.reconciliation.domain import Closure, day_bounds
from jinli.reconciliation.repository import payout_rows
from jinli.reconciliation.service import LOOKBACK_DAYS
from tests.conftest import BACKENDS
from tests.factories import create_brand, create_campaign
from tests.integration.reconciliation import scenario
from tests.integration.reconciliation.scenario import Payout

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
DAY = date(2026, 11, 20)
US = timedelta(microseconds=1)


async def test_rows_from_sql_equal_rows_from_records(runtime: Runtime) -> None:
    """Every creation offset of the window and every close, on both sides of each boundary."""
    brand = await create_brand(runtime)
    campaign = await create_campaign(runtime, brand)
    start, end = day_bounds(DAY)
    day = timedelta(days=1)
    created = [
        start - LOOKBACK_DAYS * day,
        start - 2 * day - US,
        start - 2 * day,
        start - day,
        start - US,
        start,
        start + timedelta(hours=12, microseconds=7),
        end - US,
    ]
    finished = [None, start - US, start, end - US, end, end + day]
    made = []
    for k, at in enumerate(created):
        for close in finished:
            if close is not None and close < at:
                continue
            state = PayoutState.awaiting_user if close is None else PayoutState.succeeded
            payout = Payout(
                uuid.uuid4(), brand.brand_id, campaign, PayoutMode.transfer, state,
                100 + k, at, close,
            )  # fmt: skip
            made.append(payout)
    outside = [
        Payout(uuid.uuid4(), brand.brand_id, campaign, PayoutMode.transfer, PayoutState.succeeded,
               1, at, at)
        for at in (start - LOOKBACK_DAYS * day - US, end)
    ]  # fmt: skip
    await scenario.insert_payouts(runtime, [*made, *outside])

    async with runtime.uow(system=True) as uow:
        rows = await payouts_service.reconciliation_rows(
            uow, start, end, lookback_days=LOOKBACK_DAYS
        )
        records = await payouts_service.records_created_between(
            uow, start - LOOKBACK_DAYS * day, end
        )
    assert len(records) == len(made)
    assert sorted(rows) == sorted(payout_rows(records, DAY))
    assert {r[3] for r in rows} == {0, -1, -2, -3}
    assert {r[4] for r in rows} == {c.value for c in Closure}
