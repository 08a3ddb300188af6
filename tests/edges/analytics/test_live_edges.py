"""The live campaign page over HTTP (console page, its polled panel) and
``GET /api/v1/campaigns/{id}/live``: what an operator and a developer see, and that the
panel shows new events on its next refresh."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog

from jinli.accounts.domain import Role
from jinli.app.web import create_app
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.edges.web._console import CLIENT_IP, Browser
from tests.factories import (
    BrandFixture,
    bearer,
    create_api_key,
    create_brand,
    create_campaign,
    create_operator,
)
from tests.integration.analytics._stream import Event, emit, relay

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

HX = {"HX-Request": "true"}


@pytest.fixture
async def transport(runtime: Runtime) -> AsyncIterator[httpx.ASGITransport]:
    with structlog.testing.capture_logs():
        yield httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))


async def _live_campaign(runtime: Runtime, brand: BrandFixture) -> uuid.UUID:
    cid = await create_campaign(runtime, brand, funding_fen=10_000, reward_rule={"kind": "none"})
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await campaigns_service.transition(uow, brand.actor(), cid, Action.publish)
        await uow.commit()
    return cid


def _claims(brand: BrandFixture, cid: uuid.UUID, n: int, *, tier: str = "一等奖") -> list[Event]:
    return [
        Event(
            "scan.claimed",
            {
                "campaign_id": str(cid),
                "batch_id": str(uuid.uuid4()),
                "region": "浙江省杭州市",
                "scan_region": None,
                "tier": tier,
                "amount_fen": 188,
                "payout_id": None,
            },
            brand.brand_id,
        )
        for _ in range(n)
    ]


def _testid(page: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', page)
    assert found is not None, f"no {testid} on the page"
    return found.group(1).strip()


async def _login(
    transport: httpx.ASGITransport, runtime: Runtime, brand: BrandFixture, role: Role
) -> Browser:
    browser = Browser(transport)
    email = brand.owner_email if role == Role.owner else await create_operator(runtime, brand, role)
    assert (await browser.login(email)).status_code == 303
    return browser


async def test_the_live_page_shows_the_numbers_charts_and_polls_its_panel(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    brand = await create_brand(runtime)
    cid = await _live_campaign(runtime, brand)
    await emit(
        runtime,
        [
            *_claims(brand, cid, 3),
            Event(
                "scan.refused",
                {"campaign_id": str(cid), "reason": "budget_exhausted"},
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
        ],
    )
    await relay(runtime)
    browser = await _login(transport, runtime, brand, Role.developer)  # campaigns:read only

    page = await browser.http.get(f"/console/campaigns/{cid}/live")
    assert page.status_code == 200
    text = page.text
    assert "实时看板" in text
    assert "每小时扫码" in text
    assert "各奖项中奖情况" in text
    assert _testid(text, "live-valid") == "3"
    assert _testid(text, "live-refused") == "1"
    assert _testid(text, "live-reserved") == "¥0.00"
    assert _testid(text, "live-remaining") == "¥100.00"
    assert _testid(text, "live-cross-region-total") == "1"
    assert "广东省广州市" in text
    assert "预算已用完" in text
    for chart in ("live-hours-chart", "live-tiers-chart", "live-burn-chart", "live-payouts-chart"):
        assert f'<canvas data-testid="{chart}"' in text
    assert f'hx-get="/console/campaigns/{cid}/live/panel"' in text
    assert 'hx-trigger="every 5s"' in text
    assert 'hx-swap="outerHTML"' in text
    assert "/static/vendor/htmx.min.js" in text

    detail = await browser.http.get(f"/console/campaigns/{cid}")
    assert f'href="/console/campaigns/{cid}/live"' in detail.text
    dashboard = await browser.http.get("/console")
    assert f'href="/console/campaigns/{cid}/live"' in dashboard.text


async def test_the_panel_shows_new_events_on_its_next_refresh(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    brand = await create_brand(runtime)
    cid = await _live_campaign(runtime, brand)
    await emit(runtime, _claims(brand, cid, 2))
    await relay(runtime)
    browser = await _login(transport, runtime, brand, Role.operator)

    before = await browser.http.get(f"/console/campaigns/{cid}/live/panel", headers=HX)
    assert before.status_code == 200
    assert "<section" in before.text
    assert "<html" not in before.text  # a fragment, not a page
    assert _testid(before.text, "live-valid") == "2"

    await emit(runtime, _claims(brand, cid, 5, tier="二等奖"))
    await relay(runtime)
    after = await browser.http.get(f"/console/campaigns/{cid}/live/panel", headers=HX)
    assert _testid(after.text, "live-valid") == "7"
    assert "二等奖" in after.text
    assert f'hx-get="/console/campaigns/{cid}/live/panel"' in after.text  # keeps polling
    assert _testid(after.text, "live-as-of") != _testid(before.text, "live-as-of")


async def test_a_polled_panel_after_the_session_ended_reloads_the_page(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    brand = await create_brand(runtime)
    cid = await _live_campaign(runtime, brand)
    anonymous = Browser(transport)
    polled = await anonymous.http.get(f"/console/campaigns/{cid}/live/panel", headers=HX)
    assert polled.status_code == 200
    assert polled.headers["HX-Refresh"] == "true"
    assert polled.text == ""
    page = await anonymous.http.get(f"/console/campaigns/{cid}/live")
    assert page.status_code == 303
    assert page.headers["location"] == f"/console/login?next=/console/campaigns/{cid}/live"


async def test_a_draft_campaign_is_shown_but_not_polled_and_other_brands_get_404(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    brand = await create_brand(runtime)
    draft = await create_campaign(runtime, brand, reward_rule={"kind": "none"})
    browser = await _login(transport, runtime, brand, Role.owner)
    page = await browser.http.get(f"/console/campaigns/{draft}/live")
    assert page.status_code == 200
    assert "hx-get" not in page.text
    other = await _login(transport, runtime, await create_brand(runtime, "Other"), Role.owner)
    assert (await other.http.get(f"/console/campaigns/{draft}/live")).status_code == 404
    assert (await other.http.get(f"/console/campaigns/{draft}/live/panel")).status_code == 404
    assert (await browser.http.get("/console/campaigns/not-a-uuid/live")).status_code == 404


async def test_the_api_answers_the_same_numbers_as_json(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    brand = await create_brand(runtime)
    cid = await _live_campaign(runtime, brand)
    await emit(
        runtime,
        [
            *_claims(brand, cid, 4),
            Event(
                "scan.repeated",
                {
                    "campaign_id": str(cid),
                    "batch_id": str(uuid.uuid4()),
                    "scans": 2,
                    "scan_region": "上海市",
                },
                brand.brand_id,
            ),
        ],
    )
    await relay(runtime)
    key = await create_api_key(runtime, brand, Role.developer)
    response = await client.get(f"/api/v1/campaigns/{cid}/live", headers=bearer(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["campaign_id"] == str(cid)
    assert body["scans"] == {"valid": 4, "repeated": 1, "refused": 0, "invalid_48h": 0}
    assert body["winners"] == [{"label": "一等奖", "count": 4, "amount_fen": 752}]
    assert body["money"]["available_fen"] == 10_000
    assert body["money"]["budget_fen"] == 10_000
    assert body["payouts"]["created"] == {"count": 0, "amount_fen": 0}
    assert {r["region"]: r["valid"] for r in body["regions"]} == {"浙江省杭州市": 4, "上海市": 0}
    assert body["hours"][-1]["valid"] == 4
    assert isinstance(body["burn"]["elapsed_bp"], int)

    other = await create_api_key(runtime, await create_brand(runtime, "Other"), Role.owner)
    hidden = await client.get(f"/api/v1/campaigns/{cid}/live", headers=bearer(other))
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "campaign_not_found"
