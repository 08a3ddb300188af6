"""The demo seeder gives the demo something to show: payouts for the simulator's consumer and a
live bottle-cap campaign with a printed, shipped batch."""

from __future__ import annotations

import pytest

from jinli.accounts import service as accounts_service
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import CampaignStatus
from jinli.cli.demo import DEMO_EMAIL, DEMO_REGION, SCAN_CAMPAIGN, seed
from jinli.codes import service as codes_service
from jinli.codes.domain import BatchStatus
from jinli.integrations.simulator.config import SimulatorConfig
from jinli.kernel.pagination import PageRequest
from jinli.payouts import service as payouts_service
from jinli.platform.runtime import Runtime
from jinli.web.demo import SAMPLE_COUNT, locate, read_codes, samples


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_seed_queues_a_transfer_and_a_red_packet_for_the_demo_consumer_once(
    runtime: Runtime,
) -> None:
    """Two pending payouts to the simulator's demo consumer; seeding again adds none."""
    await seed(runtime, batch_size=40)
    await seed(runtime, batch_size=40)
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


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_seed_prints_and_ships_a_batch_for_a_live_bottle_cap_campaign(
    runtime: Runtime,
) -> None:
    """The scan-to-win campaign is live and funded, pays by transfer with an automatic reissue
    as a transfer, has a table for the batch's region, and its batch is active (杭州, 杭州经销商)
    with every code in the export zip (and nowhere else in plaintext)."""
    await seed(runtime, batch_size=60)
    await seed(runtime, batch_size=60)  # a second run prints no second batch
    batch = await locate(runtime)
    assert batch is not None
    actor = accounts_service.system_actor(batch.brand_id, "test")
    async with runtime.uow(brand_id=batch.brand_id) as uow:
        campaign = await campaigns_service.get(uow, actor, batch.campaign_id)
        budget = await campaigns_service.budget(uow, actor, campaign.id)
        shipped = await codes_service.get(uow, actor, batch.batch_id)
        batches = await codes_service.list_(uow, actor, PageRequest(limit=10))
        assert campaign.name == SCAN_CAMPAIGN
        assert campaign.status == CampaignStatus.live
        assert budget.available > 0
        rule = campaign.reward_rule
        assert rule["kind"] == "tiers"
        assert [t["amount_fen"] for t in rule["tiers"]] == [888, 188]
        assert list(rule["regions"]) == [DEMO_REGION]
        terms = campaigns_service.payout_terms(campaign)
        assert (str(terms.mode), str(terms.reissue_as)) == ("transfer", "transfer")
        assert [b.id for b in batches.items] == [batch.batch_id]
        assert shipped.status == BatchStatus.active
        assert (shipped.region, shipped.distributor) == ("浙江/杭州", "杭州经销商")
    codes = list(read_codes(batch.export))
    assert [serial for serial, _ in codes] == list(range(1, 61))
    assert len({code for _, code in codes}) == 60
    assert samples(batch.export) == [code for _, code in codes[:SAMPLE_COUNT]]
