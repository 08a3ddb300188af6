"""The payouts REST routes: list with filters, read, and reissue (once, idempotently)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from jinli.accounts.domain import Role
from jinli.payouts.domain import PayoutState
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.edges._payouts import create_payout
from tests.factories import bearer, create_api_key, create_brand, create_campaign

API = "/api/v1"
pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


async def test_list_filters_by_state_and_campaign(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """``state`` and ``campaign_id`` narrow the list, and ``total`` counts only what matches."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand, Role.operator))
    campaign = await create_campaign(runtime, brand, funding_fen=10_000)
    failed = await create_payout(runtime, brand, campaign_id=campaign)
    waiting = await create_payout(runtime, brand, state=PayoutState.awaiting_user)

    everything = (await client.get(f"{API}/payouts", headers=key)).json()
    assert {p["id"] for p in everything["items"]} == {str(failed), str(waiting)}
    only_failed = (await client.get(f"{API}/payouts?state=failed", headers=key)).json()
    assert (only_failed["total"], only_failed["items"][0]["id"]) == (1, str(failed))
    by_campaign = (await client.get(f"{API}/payouts?campaign_id={campaign}", headers=key)).json()
    assert [p["id"] for p in by_campaign["items"]] == [str(failed)]
    assert by_campaign["total"] == 1
    queue = (await client.get(f"{API}/payouts?state=review", headers=key)).json()
    assert (queue["total"], queue["items"]) == (0, [])
    one = (await client.get(f"{API}/payouts/{waiting}", headers=key)).json()
    assert (one["state"], one["amount_fen"], one["mode"]) == ("awaiting_user", 188, "transfer")
    bad = await client.get(f"{API}/payouts?state=lost", headers=key)
    assert bad.status_code == 422


async def test_reissue_makes_one_r1_payout_and_a_replay_returns_the_same(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """The first reissue creates ``<number>R1``; the same key replays it; a new key is a 409."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand, Role.finance))
    failed = await create_payout(runtime, brand)
    number = (await client.get(f"{API}/payouts/{failed}", headers=key)).json()["bill_number"]
    idem = {**key, "Idempotency-Key": str(uuid.uuid4())}
    url = f"{API}/payouts/{failed}/reissue"

    first = await client.post(url, headers=idem, json={"mode": "brand_red_packet"})
    assert first.status_code == 201, first.text
    new = first.json()
    assert (new["bill_number"], new["state"], new["mode"]) == (
        number + "R1",
        "pending",
        "brand_red_packet",
    )
    assert new["reissue_of"] == str(failed)
    replay = await client.post(url, headers=idem, json={"mode": "brand_red_packet"})
    assert (replay.status_code, replay.json()) == (201, new)
    assert replay.headers.get("idempotent-replayed") == "true"

    again = await client.post(url, headers={**key, "Idempotency-Key": str(uuid.uuid4())})
    assert again.status_code == 409
    assert again.json()["code"] == "payout_reissue_not_allowed"
    old = (await client.get(f"{API}/payouts/{failed}", headers=key)).json()
    assert old["reissued_by"] == new["id"]
    listed = (await client.get(f"{API}/payouts", headers=key)).json()
    assert listed["total"] == 2


async def test_reissue_needs_an_idempotency_key_and_refuses_unknown_modes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """No key is a 428, an unknown mode a 422, a payout that has not failed a 409: none pays."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand, Role.owner))
    failed = await create_payout(runtime, brand)
    url = f"{API}/payouts/{failed}/reissue"
    missing = await client.post(url, headers=key)
    assert (missing.status_code, missing.json()["code"]) == (428, "idempotency_key_required")
    wrong = await client.post(
        url, headers={**key, "Idempotency-Key": str(uuid.uuid4())}, json={"mode": "cash"}
    )
    assert wrong.status_code == 422
    waiting = await create_payout(runtime, brand, state=PayoutState.awaiting_user)
    early = await client.post(
        f"{API}/payouts/{waiting}/reissue", headers={**key, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert (early.status_code, early.json()["code"]) == (409, "payout_reissue_not_allowed")
    listed = (await client.get(f"{API}/payouts", headers=key)).json()
    assert listed["total"] == 2
