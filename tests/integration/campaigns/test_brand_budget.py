"""Dashboard totals cover every campaign of the brand, and only that brand."""

from __future__ import annotations

import pytest

from jinli.campaigns import service as campaigns_service
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def test_totals_add_up_all_campaigns_of_the_brand(runtime: Runtime) -> None:
    brand, other = await create_brand(runtime), await create_brand(runtime)
    for funding in (100, 2_000, 30_000):
        await create_campaign(runtime, brand, funding_fen=funding)
    for _ in range(12):  # more than any dashboard page shows
        await create_campaign(runtime, brand, funding_fen=1)
    await create_campaign(runtime, other, funding_fen=999_999)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        totals = await campaigns_service.brand_budget(uow, brand.actor())
    assert totals.funded == totals.available == 32_112
    assert totals.cap == 15 * 1_000_000
    totals.check()
