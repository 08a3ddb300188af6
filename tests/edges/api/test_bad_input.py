"""Bad input gets problem JSON with a stable code, never a 500, and nothing is half-written."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from jinli.campaigns.models import Campaign
from jinli.ledger.models import LedgerEntry
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.factories import bearer, campaign_payload, create_api_key, create_brand, create_campaign

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def _row_counts(runtime: Runtime) -> tuple[int, int]:
    async with runtime.uow(system=True) as uow:
        campaigns = await uow.session.scalar(select(func.count()).select_from(Campaign))
        entries = await uow.session.scalar(select(func.count()).select_from(LedgerEntry))
    return int(campaigns or 0), int(entries or 0)


def _assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith("/" + code)
    assert body["title"]
    assert "Traceback" not in response.text


BAD_CAMPAIGNS: list[tuple[str, dict[str, Any], int, str]] = [
    ("negative cap", {"budget_cap_fen": -1}, 422, "validation_failed"),
    ("fractional fen", {"budget_cap_fen": 10.5}, 422, "validation_failed"),
    ("float that looks whole", {"budget_cap_fen": 100.0}, 422, "validation_failed"),
    ("fen as a string", {"budget_cap_fen": "100"}, 422, "validation_failed"),
    ("bool as fen", {"budget_cap_fen": True}, 422, "validation_failed"),
    ("absurd amount", {"budget_cap_fen": 10**18}, 422, "validation_failed"),
    ("negative funding", {"initial_funding_fen": -5}, 422, "validation_failed"),
    (
        "funding above cap",
        {"budget_cap_fen": 10, "initial_funding_fen": 11},
        409,
        "budget_cap_exceeded",
    ),
    ("ends before start", {"ends_at": "2020-01-01T00:00:00+08:00"}, 422, "invalid_window"),
    ("not a date", {"starts_at": "tomorrow"}, 422, "validation_failed"),
    ("unknown field", {"bonus": 1}, 422, "validation_failed"),
    ("empty name", {"name": ""}, 422, "validation_failed"),
    ("name too long", {"name": "x" * 101}, 422, "validation_failed"),
    ("unknown rule kind", {"reward_rule": {"kind": "lottery"}}, 422, "validation_failed"),
    (
        "zero fixed amount",
        {"reward_rule": {"kind": "fixed", "amount_fen": 0}},
        422,
        "validation_failed",
    ),
    (
        "tiers above 100 %",
        {
            "reward_rule": {
                "kind": "tiers",
                "tiers": [
                    {"amount_fen": 1, "probability_ppm": 600_000},
                    {"amount_fen": 2, "probability_ppm": 600_000},
                ],
            }
        },
        422,
        "invalid_reward_rule",
    ),
    (
        "tier with a float amount",
        {"reward_rule": {"kind": "tiers", "tiers": [{"amount_fen": 1.5, "probability_ppm": 1}]}},
        422,
        "validation_failed",
    ),
]


@pytest.mark.parametrize(
    ("case", "change", "status", "code"), BAD_CAMPAIGNS, ids=[c[0] for c in BAD_CAMPAIGNS]
)
async def test_bad_campaigns_are_refused_whole(
    client: httpx.AsyncClient,
    runtime: Runtime,
    case: str,
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    """Each bad field is a clear problem; no campaign, no ledger row is left behind."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    before = await _row_counts(runtime)
    response = await client.post(
        "/api/v1/campaigns",
        json=campaign_payload(runtime, **change),
        headers={**key, "Idempotency-Key": str(uuid.uuid4())},
    )
    _assert_problem(response, status, code)
    assert await _row_counts(runtime) == before


async def test_malformed_json_is_a_400(client: httpx.AsyncClient, runtime: Runtime) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    response = await client.post(
        "/api/v1/campaigns",
        content=b'{"name": "x",',
        headers={**key, "Idempotency-Key": "m", "Content-Type": "application/json"},
    )
    _assert_problem(response, 400, "malformed_json")


async def test_oversized_bodies_are_refused_before_parsing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """A body over the limit is a 413, announced or streamed without a length."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    big = b'{"name": "' + b"x" * 2_000_000 + b'"}'
    announced = await client.post(
        "/api/v1/campaigns",
        content=big,
        headers={**key, "Idempotency-Key": "big", "Content-Type": "application/json"},
    )
    _assert_problem(announced, 413, "body_too_large")

    async def chunks() -> Any:
        for _ in range(40):
            yield b"x" * 50_000

    streamed = await client.post(
        "/api/v1/campaigns",
        content=chunks(),
        headers={**key, "Idempotency-Key": "big2", "Content-Type": "application/json"},
    )
    _assert_problem(streamed, 413, "body_too_large")


async def test_unknown_and_malformed_ids(client: httpx.AsyncClient, runtime: Runtime) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    _assert_problem(
        await client.get(f"/api/v1/campaigns/{uuid.uuid4()}", headers=key),
        404,
        "campaign_not_found",
    )
    _assert_problem(
        await client.get("/api/v1/campaigns/not-a-uuid", headers=key), 422, "validation_failed"
    )
    _assert_problem(
        await client.post(f"/api/v1/campaigns/{uuid.uuid4()}/publish", headers=key),
        404,
        "campaign_not_found",
    )
    _assert_problem(await client.get("/api/v1/nowhere", headers=key), 404, "not_found")
    _assert_problem(
        await client.delete("/api/v1/campaigns", headers=key), 405, "method_not_allowed"
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"amount_fen": 0}, "validation_failed"),
        ({"amount_fen": -100}, "validation_failed"),
        ({"amount_fen": 0.5}, "validation_failed"),
        ({"amount_fen": "12.30"}, "validation_failed"),
        ({}, "validation_failed"),
        ([1, 2], "validation_failed"),
    ],
)
async def test_bad_funding_moves_no_money(
    client: httpx.AsyncClient, runtime: Runtime, body: Any, code: str
) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    cid = await create_campaign(runtime, brand)
    before = await _row_counts(runtime)
    response = await client.post(
        f"/api/v1/campaigns/{cid}/fund",
        json=body,
        headers={**key, "Idempotency-Key": str(uuid.uuid4())},
    )
    _assert_problem(response, 422, code)
    assert await _row_counts(runtime) == before


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=100000", "offset=-1", "limit=abc", "status=bogus"]
)
async def test_bad_paging_and_filters(
    client: httpx.AsyncClient, runtime: Runtime, query: str
) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    _assert_problem(
        await client.get(f"/api/v1/campaigns?{query}", headers=key), 422, "validation_failed"
    )


async def test_pagination_pages_through_everything(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand))
    made = {str(await create_campaign(runtime, brand, name=f"c{i}")) for i in range(5)}
    seen: list[str] = []
    for offset in (0, 2, 4):
        page = (await client.get(f"/api/v1/campaigns?limit=2&offset={offset}", headers=key)).json()
        assert page["total"] == 5
        seen += [c["id"] for c in page["items"]]
    assert set(seen) == made
    assert len(seen) == 5
