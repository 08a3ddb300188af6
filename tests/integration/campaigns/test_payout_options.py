"""A campaign's payout options through the REST API and the console: the payout mode, the
automatic reissue policy and how many automatic reissues a payout may have."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog

from jinli.app.web import create_app
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action, PayoutMode, ReissuePolicy
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.edges.web._console import CLIENT_IP, Browser, csrf_of
from tests.factories import BrandFixture, bearer, campaign_payload, create_api_key, create_brand

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def _api(runtime: Runtime) -> tuple[BrandFixture, dict[str, str]]:
    brand = await create_brand(runtime)
    return brand, bearer(await create_api_key(runtime, brand))


async def _create(
    client: httpx.AsyncClient, key: dict[str, str], payload: dict[str, Any]
) -> httpx.Response:
    headers = {**key, "Idempotency-Key": str(uuid.uuid4())}
    return await client.post("/api/v1/campaigns", json=payload, headers=headers)


async def test_defaults_are_a_transfer_without_automatic_reissue(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    _, key = await _api(runtime)
    answer = await _create(client, key, campaign_payload(runtime))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["payout_mode"], body["reissue_policy"], body["max_auto_reissues"]) == (
        "transfer",
        "off",
        1,
    )


async def test_options_are_stored_and_read_back(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    brand, key = await _api(runtime)
    payload = campaign_payload(
        runtime, payout_mode="red_packet", reissue_policy="as_transfer", max_auto_reissues=2
    )
    created = await _create(client, key, payload)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    body = (await client.get(f"/api/v1/campaigns/{cid}", headers=key)).json()
    assert (body["payout_mode"], body["reissue_policy"], body["max_auto_reissues"]) == (
        "red_packet",
        "as_transfer",
        2,
    )
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.get(uow, brand.actor(), uuid.UUID(cid))
        terms = campaigns_service.payout_terms(campaign)
    assert (terms.mode, terms.reissue_as, terms.auto_reissues) == ("red_packet", "transfer", 2)


@pytest.mark.parametrize(
    ("options", "status", "code"),
    [
        ({"reissue_policy": "same_mode", "max_auto_reissues": 0}, 422, "invalid_payout_policy"),
        ({"max_auto_reissues": 6}, 422, "validation_failed"),
        ({"max_auto_reissues": -1}, 422, "validation_failed"),
        ({"max_auto_reissues": "2"}, 422, "validation_failed"),
        ({"payout_mode": "cash"}, 422, "validation_failed"),
        ({"reissue_policy": "always"}, 422, "validation_failed"),
    ],
)
async def test_bad_options_are_problems_and_create_nothing(
    runtime: Runtime, client: httpx.AsyncClient, options: dict[str, Any], status: int, code: str
) -> None:
    _, key = await _api(runtime)
    answer = await _create(client, key, campaign_payload(runtime, **options))
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
    listing = (await client.get("/api/v1/campaigns", headers=key)).json()
    assert listing["total"] == 0


async def test_options_change_while_live_and_freeze_once_ended(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """Payouts keep the options they were created with, so a live campaign may change them;
    an ended one may not. A policy switched on with no reissues left is refused."""
    brand, key = await _api(runtime)
    payload = campaign_payload(runtime, reward_rule={"kind": "none"})
    cid = (await _create(client, key, payload)).json()["id"]
    published = await client.post(f"/api/v1/campaigns/{cid}/publish", headers=key)
    assert published.json()["status"] == "live", published.text
    changed = await client.patch(
        f"/api/v1/campaigns/{cid}",
        json={"reissue_policy": "as_brand_red_packet", "max_auto_reissues": 3},
        headers=key,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["reissue_policy"], changed.json()["max_auto_reissues"]) == (
        "as_brand_red_packet",
        3,
    )
    contradictory = await client.patch(
        f"/api/v1/campaigns/{cid}", json={"max_auto_reissues": 0}, headers=key
    )
    assert contradictory.status_code == 422
    assert contradictory.json()["code"] == "invalid_payout_policy"
    assert (await client.post(f"/api/v1/campaigns/{cid}/end", headers=key)).status_code == 200
    locked = await client.patch(
        f"/api/v1/campaigns/{cid}", json={"payout_mode": "red_packet"}, headers=key
    )
    assert locked.status_code == 409
    assert locked.json()["code"] == "campaign_field_locked"
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.get(uow, brand.actor(), uuid.UUID(cid))
        assert (campaign.payout_mode, campaign.reissue_policy, campaign.max_auto_reissues) == (
            PayoutMode.transfer,
            ReissuePolicy.as_brand_red_packet,
            3,
        )


@pytest.fixture
async def browser(runtime: Runtime) -> AsyncIterator[tuple[Browser, BrandFixture]]:
    with structlog.testing.capture_logs():
        transport = httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))
        brand = await create_brand(runtime)
        one = Browser(transport)
        assert (await one.login(brand.owner_email)).status_code == 303
        yield one, brand
        await one.aclose()


def _form(token: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "name": "瓶盖活动",
        "description": "扫码赢红包",
        "budget_cap": "1000",
        "starts_at": "2026-11-23T10:00",
        "ends_at": "2026-11-30T10:00",
        "reward_kind": "none",
        **fields,
    }


async def test_the_console_form_sets_and_shows_the_options(
    runtime: Runtime, browser: tuple[Browser, BrandFixture]
) -> None:
    """Created from the console form with a cash red packet reissued as a transfer at most
    twice; the campaign page shows it in Chinese; the edit form refuses a policy with zero
    reissues and keeps what was there."""
    one, brand = browser
    form_page = await one.http.get("/console/campaigns/new")
    assert 'name="reissue_policy"' in form_page.text
    token = csrf_of(form_page)
    created = await one.http.post(
        "/console/campaigns/new",
        data=_form(
            token, payout_mode="red_packet", reissue_policy="as_transfer", max_auto_reissues="2"
        ),
    )
    assert created.status_code == 303, created.text
    location = created.headers["location"].split("?")[0]
    cid = uuid.UUID(location.rsplit("/", 1)[1])
    page = await one.http.get(location)
    assert "发放方式：现金红包" in page.text.replace(": ", "：")
    assert "改为商家转账" in page.text
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.get(uow, brand.actor(), cid)
        assert (campaign.payout_mode, campaign.reissue_policy, campaign.max_auto_reissues) == (
            PayoutMode.red_packet,
            ReissuePolicy.as_transfer,
            2,
        )
        version = campaign.version

    refused = await one.http.post(
        f"/console/campaigns/{cid}/edit",
        data=_form(
            token,
            version=str(version),
            payout_mode="transfer",
            reissue_policy="same_mode",
            max_auto_reissues="0",
        ),
    )
    assert refused.status_code == 422
    assert "活动的发放设置无效" in refused.text
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.get(uow, brand.actor(), cid)
        assert campaign.max_auto_reissues == 2
        await campaigns_service.transition(uow, brand.actor(), cid, Action.publish)
        await uow.commit()
    edit = await one.http.get(f"/console/campaigns/{cid}/edit")
    assert 'value="red_packet" selected' in edit.text
