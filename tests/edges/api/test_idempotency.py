"""The Idempotency-Key contract (R3 at small size) on money-moving POSTs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest

from jinli.kernel.clock import FrozenClock
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import bearer, campaign_payload, create_api_key, create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def _setup(runtime: Runtime) -> tuple[dict[str, str], uuid.UUID]:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    campaign_id = await create_campaign(runtime, brand)
    return key, campaign_id


async def _ledger_kinds(
    client: httpx.AsyncClient, key: dict[str, str], cid: uuid.UUID
) -> list[str]:
    page = (await client.get(f"/api/v1/campaigns/{cid}/ledger", headers=key)).json()
    return [tx["kind"] for tx in page["items"]]


async def test_replays_return_the_first_response_byte_for_byte_with_one_effect(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Five sequential replays of a funding: one ledger movement, identical bodies."""
    key, cid = await _setup(runtime)
    headers = {**key, "Idempotency-Key": "fund-1"}
    responses = [
        await client.post(
            f"/api/v1/campaigns/{cid}/fund", json={"amount_fen": 500}, headers=headers
        )
        for _ in range(5)
    ]
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert [r.headers["Idempotent-Replayed"] for r in responses] == ["false"] + ["true"] * 4
    assert await _ledger_kinds(client, key, cid) == ["fund"]


async def test_concurrent_duplicates_never_double_the_effect(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Ten simultaneous requests with one key: one effect; the rest replay it or get 409."""
    key, cid = await _setup(runtime)
    headers = {**key, "Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *[
            client.post(f"/api/v1/campaigns/{cid}/fund", json={"amount_fen": 700}, headers=headers)
            for _ in range(10)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 409}
    assert 200 in statuses
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["code"] == "idempotency_key_in_flight"
        assert conflict.headers["Retry-After"] == "1"
    budget = (await client.get(f"/api/v1/campaigns/{cid}/budget", headers=key)).json()
    assert budget["funded_fen"] == 700


async def test_a_request_in_flight_gets_409(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """While the first request holds the key (not yet done), a twin is told to retry."""
    from jinli.platform.db.idempotency import IdempotencyRecord

    key, cid = await _setup(runtime)
    brand = await client.get("/api/v1/brand", headers=key)
    now = runtime.clock.now()
    body = {"amount_fen": 100}
    # Record a first request exactly as the API does when it starts one, with the same body.
    from tests.edges.api._idem import fingerprint_for

    async with runtime.uow(system=True) as uow:
        uow.session.add(
            IdempotencyRecord(
                brand_id=uuid.UUID(brand.json()["id"]),
                key="slow",
                fingerprint=fingerprint_for("POST", f"/api/v1/campaigns/{cid}/fund", body),
                status="in_flight",
                locked_at=now,
                created_at=now,
                expires_at=now + timedelta(hours=48),
            )
        )
        await uow.commit()
    twin = await client.post(
        f"/api/v1/campaigns/{cid}/fund", json=body, headers={**key, "Idempotency-Key": "slow"}
    )
    assert twin.status_code == 409
    assert twin.json()["code"] == "idempotency_key_in_flight"
    assert await _ledger_kinds(client, key, cid) == []


async def test_same_key_with_another_body_is_422_and_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    key, cid = await _setup(runtime)
    headers = {**key, "Idempotency-Key": "k"}
    first = await client.post(
        f"/api/v1/campaigns/{cid}/fund", json={"amount_fen": 1}, headers=headers
    )
    other = await client.post(
        f"/api/v1/campaigns/{cid}/fund", json={"amount_fen": 2}, headers=headers
    )
    assert first.status_code == 200
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert await _ledger_kinds(client, key, cid) == ["fund"]


async def test_keys_are_honoured_for_at_least_24_hours(
    client: httpx.AsyncClient, runtime: Runtime, clock: FrozenClock
) -> None:
    """A replay 24 h (and 47 h) later still returns the first response and moves nothing."""
    key, cid = await _setup(runtime)
    headers = {**key, "Idempotency-Key": "day"}
    first = await client.post(
        f"/api/v1/campaigns/{cid}/fund", json={"amount_fen": 9}, headers=headers
    )
    for hours in (24, 23):
        clock.advance(timedelta(hours=hours))
        again = await client.post(
            f"/api/v1/campaigns/{cid}/fund", json={"amount_fen": 9}, headers=headers
        )
        assert again.content == first.content
        assert again.headers["Idempotent-Replayed"] == "true"
    assert await _ledger_kinds(client, key, cid) == ["fund"]


async def test_a_failed_request_releases_its_key(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Nothing committed → the key is free: after raising the cap the same key succeeds."""
    key, cid = await _setup(runtime)
    headers = {**key, "Idempotency-Key": "retry-me"}
    refused = await client.post(
        f"/api/v1/campaigns/{cid}/fund", json={"amount_fen": 2_000_000}, headers=headers
    )
    assert refused.json()["code"] == "budget_cap_exceeded"
    raised = await client.post(
        f"/api/v1/campaigns/{cid}/cap",
        json={"budget_cap_fen": 3_000_000},
        headers={**key, "Idempotency-Key": "cap"},
    )
    assert raised.status_code == 200
    retried = await client.post(
        f"/api/v1/campaigns/{cid}/fund", json={"amount_fen": 2_000_000}, headers=headers
    )
    assert retried.status_code == 200
    assert retried.json()["funded_fen"] == 2_000_000


async def test_money_posts_require_a_key(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Without Idempotency-Key a money-moving POST is refused (428) and nothing happens."""
    key, cid = await _setup(runtime)
    refused = await client.post(
        f"/api/v1/campaigns/{cid}/fund", json={"amount_fen": 5}, headers=key
    )
    assert refused.status_code == 428
    assert refused.json()["code"] == "idempotency_key_required"
    created = await client.post("/api/v1/campaigns", json=campaign_payload(runtime), headers=key)
    assert created.status_code == 428
    assert await _ledger_kinds(client, key, cid) == []


async def test_keys_are_per_brand(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """Two brands using the same key string do not see each other's responses."""
    key_a, cid_a = await _setup(runtime)
    key_b, cid_b = await _setup(runtime)
    a = await client.post(
        f"/api/v1/campaigns/{cid_a}/fund",
        json={"amount_fen": 3},
        headers={**key_a, "Idempotency-Key": "same"},
    )
    b = await client.post(
        f"/api/v1/campaigns/{cid_b}/fund",
        json={"amount_fen": 3},
        headers={**key_b, "Idempotency-Key": "same"},
    )
    assert a.status_code == b.status_code == 200
    assert b.headers["Idempotent-Replayed"] == "false"
