"""The publish hook: publishing a rule that pays checks the reward budget against the planned
draws and pre-splits a lucky-split pool, in the publish's own transaction. A refusal leaves
the campaign a draft with nothing written; a process that wired no hook refuses to publish a
paying rule (fail closed) but still publishes one that pays nothing."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import func, select

from jinli.accounts.models import AuditEntry
from jinli.app.web import create_app
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action, CampaignStatus
from jinli.campaigns.ports import PUBLISH_PREPARATION, publish_preparation
from jinli.platform.db.outbox import OutboxMessage
from jinli.platform.runtime import Runtime
from jinli.rewards.errors import BudgetTooSmall
from jinli.scans.models import ScanPool, ScanPoolShare
from tests.conftest import BACKENDS
from tests.edges.web._console import CLIENT_IP, Browser, csrf_of, db_state
from tests.factories import BrandFixture, bearer, create_api_key, create_brand, create_campaign
from tests.integration.scans._world import TIERS, add_batch

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

S = CampaignStatus
SPLIT = {"kind": "lucky_split", "total_fen": 5_000, "shares": 40, "min_fen": 10}
SHORT_FUNDING = 3_000
"""Covers TIERS' expected cost for 20 codes, not for 520 (≈ 42 fen a code, plus margin)."""


async def _underfunded_tiers(runtime: Runtime, brand: BrandFixture) -> uuid.UUID:
    cid = await create_campaign(runtime, brand, funding_fen=SHORT_FUNDING, reward_rule=TIERS)
    await add_batch(runtime, brand, cid, 520)
    return cid


async def _campaign(runtime: Runtime, brand: BrandFixture, cid: uuid.UUID) -> Any:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.get(uow, brand.actor(), cid)
        uow.session.expunge(campaign)
        return campaign


async def _published_traces(runtime: Runtime, cid: uuid.UUID) -> list[str]:
    """What a publish leaves behind besides the status: audit entries, events, a pool."""
    async with runtime.uow(system=True) as uow:
        audits = await uow.session.scalars(
            select(AuditEntry.action).where(AuditEntry.object_id == str(cid))
        )
        topics = await uow.session.scalars(
            select(OutboxMessage.topic).where(OutboxMessage.key == str(cid))
        )
        pools = await uow.session.scalar(
            select(func.count()).select_from(ScanPool).where(ScanPool.campaign_id == cid)
        )
        found = [a for a in audits if a != "campaign.created"]
        found += [t for t in topics if t != "campaign.created"]
        return found + ["pool"] * int(pools or 0)


async def _pool(runtime: Runtime, cid: uuid.UUID) -> tuple[ScanPool, list[int]]:
    async with runtime.uow(system=True) as uow:
        pool = await uow.session.scalar(select(ScanPool).where(ScanPool.campaign_id == cid))
        assert pool is not None, "no pool was split at publish"
        shares = await uow.session.scalars(
            select(ScanPoolShare.amount_fen)
            .where(ScanPoolShare.pool_id == pool.id)
            .order_by(ScanPoolShare.position)
        )
        uow.session.expunge(pool)
        return pool, [int(s) for s in shares]


async def _publish(client: httpx.AsyncClient, key: dict[str, str], cid: uuid.UUID) -> Any:
    return await client.post(f"/api/v1/campaigns/{cid}/publish", headers=key)


@pytest.fixture
async def key(runtime: Runtime) -> tuple[dict[str, str], BrandFixture]:
    brand = await create_brand(runtime)
    return bearer(await create_api_key(runtime, brand)), brand


async def test_an_underfunded_prize_table_is_refused_and_stays_a_draft(
    runtime: Runtime, client: httpx.AsyncClient, key: tuple[dict[str, str], BrandFixture]
) -> None:
    """520 printed codes of TIERS cost more than the 30 yuan funded: publishing answers 409
    ``reward_budget_too_small`` with the figures, and the campaign is untouched."""
    headers, brand = key
    cid = await _underfunded_tiers(runtime, brand)
    before = await db_state(runtime)

    answer = await _publish(client, headers, cid)

    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "reward_budget_too_small"
    assert "520 planned draws" in problem["detail"]
    campaign = await _campaign(runtime, brand, cid)
    assert (campaign.status, campaign.published_at) == (S.draft, None)
    assert await _published_traces(runtime, cid) == []
    assert await db_state(runtime) == before


async def test_a_funded_prize_table_publishes_without_a_pool(
    runtime: Runtime, client: httpx.AsyncClient, key: tuple[dict[str, str], BrandFixture]
) -> None:
    """The same table with 20 codes fits the budget: it publishes (live, its window began);
    a prize table draws per scan, so no pool is split."""
    headers, brand = key
    cid = await create_campaign(runtime, brand, funding_fen=SHORT_FUNDING, reward_rule=TIERS)
    await add_batch(runtime, brand, cid, 20)

    answer = await _publish(client, headers, cid)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "live"
    assert "pool" not in await _published_traces(runtime, cid)


async def test_a_lucky_split_is_split_at_publish(
    runtime: Runtime, client: httpx.AsyncClient, key: tuple[dict[str, str], BrandFixture]
) -> None:
    """Publishing a 拼手气 campaign splits its pool at once: 40 shares of ≥ 10 fen whose sum
    is the 50 yuan total exactly, none taken yet."""
    headers, brand = key
    cid = await create_campaign(runtime, brand, funding_fen=5_000, reward_rule=SPLIT)

    answer = await _publish(client, headers, cid)

    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "live"
    pool, shares = await _pool(runtime, cid)
    assert (pool.shares, pool.total_fen, pool.taken, pool.taken_fen) == (40, 5_000, 0, 0)
    assert len(shares) == 40
    assert sum(shares) == 5_000
    assert min(shares) >= 10


async def test_a_lucky_split_larger_than_the_budget_is_refused(
    runtime: Runtime, client: httpx.AsyncClient, key: tuple[dict[str, str], BrandFixture]
) -> None:
    """A 50 yuan pool on a 49.99 yuan budget is refused before any share is stored."""
    headers, brand = key
    cid = await create_campaign(runtime, brand, funding_fen=4_999, reward_rule=SPLIT)

    answer = await _publish(client, headers, cid)

    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "reward_budget_too_small"
    assert (await _campaign(runtime, brand, cid)).status == S.draft
    assert await _published_traces(runtime, cid) == []


async def test_the_service_runs_the_hook_it_is_given_and_only_for_a_paying_rule(
    runtime: Runtime,
) -> None:
    """The hook runs inside transition for a paying rule (its refusal propagates, nothing is
    committed) and is never called for a rule that pays nothing."""
    brand = await create_brand(runtime)
    short = await _underfunded_tiers(runtime, brand)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        with pytest.raises(BudgetTooSmall):
            await campaigns_service.transition(
                uow,
                brand.actor(),
                short,
                Action.publish,
                publish_preparation=publish_preparation(runtime.extras),
            )
    assert (await _campaign(runtime, brand, short)).status == S.draft

    called: list[uuid.UUID] = []

    async def spy(uow: Any, actor: Any, campaign_id: uuid.UUID, /) -> None:
        called.append(campaign_id)

    free = await create_campaign(runtime, brand, reward_rule={"kind": "none"})
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.transition(
            uow, brand.actor(), free, Action.publish, publish_preparation=spy
        )
        await uow.commit()
    assert campaign.status == S.live
    assert called == []


async def test_without_the_hook_a_paying_rule_fails_closed_and_a_free_one_publishes(
    runtime: Runtime, client: httpx.AsyncClient, key: tuple[dict[str, str], BrandFixture]
) -> None:
    """A process that wired no publish check refuses to publish a rule that pays (503
    ``unavailable``, still a draft) even one that would pass; a rule that pays nothing
    needs no check and publishes."""
    headers, brand = key
    paying = await create_campaign(runtime, brand, funding_fen=5_000, reward_rule=SPLIT)
    free = await create_campaign(runtime, brand, reward_rule={"kind": "none"})
    hook = runtime.extras.pop(PUBLISH_PREPARATION)
    try:
        refused = await _publish(client, headers, paying)
        free_answer = await _publish(client, headers, free)
    finally:
        runtime.extras[PUBLISH_PREPARATION] = hook

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "unavailable"
    assert (await _campaign(runtime, brand, paying)).status == S.draft
    assert await _published_traces(runtime, paying) == []
    assert free_answer.status_code == 200, free_answer.text
    assert free_answer.json()["status"] == "live"


@pytest.fixture
async def browser(runtime: Runtime) -> AsyncIterator[tuple[Browser, BrandFixture]]:
    with structlog.testing.capture_logs():
        transport = httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))
        brand = await create_brand(runtime)
        one = Browser(transport)
        assert (await one.login(brand.owner_email)).status_code == 303
        yield one, brand
        await one.aclose()


async def test_the_console_publish_button_runs_the_check(
    runtime: Runtime, browser: tuple[Browser, BrandFixture]
) -> None:
    """Pressing Publish on an underfunded prize table shows the refusal and leaves a draft;
    pressing it on a lucky split publishes it with its pool split."""
    one, brand = browser
    short = await _underfunded_tiers(runtime, brand)
    page = await one.http.get(f"/console/campaigns/{short}")
    pressed = await one.http.post(
        f"/console/campaigns/{short}/actions/publish", data={"csrf_token": csrf_of(page)}
    )
    assert pressed.status_code == 303
    assert "error=reward_budget_too_small" in pressed.headers["location"]
    after = await one.http.get(pressed.headers["location"])
    assert 'data-testid="action-error"' in after.text
    assert (await _campaign(runtime, brand, short)).status == S.draft
    assert await _published_traces(runtime, short) == []

    split = await create_campaign(runtime, brand, funding_fen=5_000, reward_rule=SPLIT)
    pressed = await one.http.post(
        f"/console/campaigns/{split}/actions/publish", data={"csrf_token": csrf_of(page)}
    )
    assert pressed.status_code == 303
    assert "error=" not in pressed.headers["location"]
    assert (await _campaign(runtime, brand, split)).status == S.live
    _, shares = await _pool(runtime, split)
    assert sum(shares) == 5_000
