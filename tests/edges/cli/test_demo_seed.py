"""The demo seeder gives the demo something to show on the payouts page and the simulator."""

from __future__ import annotations

import pytest

from jinli.accounts import service as accounts_service
from jinli.cli.demo import DEMO_EMAIL, seed
from jinli.integrations.simulator.config import SimulatorConfig
from jinli.kernel.pagination import PageRequest
from jinli.payouts import service as payouts_service
from jinli.platform.runtime import Runtime


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_seed_queues_a_transfer_and_a_red_packet_for_the_demo_consumer_once(
    runtime: Runtime,
) -> None:
    """Two pending payouts to the simulator's demo consumer; seeding again adds none."""
    await seed(runtime)
    await seed(runtime)
    async with runtime.uow(system=True) as uow:
        owner = await accounts_service.operator_by_email(uow, DEMO_EMAIL)
        assert owner is not None
        brand_id = owner.brand_id
    actor = accounts_service.system_actor(brand_id, "test")
    async with runtime.uow(brand_id=brand_id) as uow:
        page = await payouts_service.list_(uow, actor, PageRequest(limit=10))
        seen = sorted((str(p.mode), p.amount_fen, p.openid, str(p.state)) for p in page.items)
    demo = SimulatorConfig().demo_openid
    assert seen == [
        ("red_packet", 188, demo, "pending"),
        ("transfer", 888, demo, "pending"),
    ]
