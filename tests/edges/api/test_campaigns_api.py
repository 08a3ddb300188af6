"""The campaign API end to end over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import pytest

from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import bearer, campaign_payload, create_api_key, create_brand

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def test_operator_builds_funds_and_publishes_a_campaign(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Create → fund → publish: a running window goes straight to live, money in the ledger."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    created = await client.post(
        "/api/v1/campaigns",
        json=campaign_payload(runtime),
        headers={**key, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "draft"
    assert campaign["budget"]["cap_fen"] == 1_000_000

    funded = await client.post(
        f"/api/v1/campaigns/{campaign['id']}/fund",
        json={"amount_fen": 300_000},
        headers={**key, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert funded.status_code == 200, funded.text
    assert funded.json()["available_fen"] == 300_000

    published = await client.post(f"/api/v1/campaigns/{campaign['id']}/publish", headers=key)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "live"

    listed = await client.get("/api/v1/campaigns?status=live", headers=key)
    assert [c["id"] for c in listed.json()["items"]] == [campaign["id"]]
    ledger = await client.get(f"/api/v1/campaigns/{campaign['id']}/ledger", headers=key)
    assert [tx["kind"] for tx in ledger.json()["items"]] == ["fund"]


async def test_funding_beyond_the_cap_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    created = await client.post(
        "/api/v1/campaigns",
        json=campaign_payload(runtime, budget_cap_fen=1000),
        headers={**key, "Idempotency-Key": str(uuid.uuid4())},
    )
    cid = created.json()["id"]
    over = await client.post(
        f"/api/v1/campaigns/{cid}/fund",
        json={"amount_fen": 1001},
        headers={**key, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert over.status_code == 409
    assert over.json()["code"] == "budget_cap_exceeded"
    assert over.headers["content-type"] == "application/problem+json"
    budget = (await client.get(f"/api/v1/campaigns/{cid}/budget", headers=key)).json()
    assert budget["funded_fen"] == 0
