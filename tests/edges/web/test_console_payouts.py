"""The payouts page of the console: what finance sees, the human queue, and reissue by one click
or by a bulk selection (all or nothing, audited)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import structlog

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Role
from jinli.app.web import create_app
from jinli.kernel.pagination import PageRequest
from jinli.payouts import service as payouts_service
from jinli.payouts.domain import PayoutState
from jinli.platform.runtime import Runtime
from tests.conftest import BACKENDS
from tests.edges._payouts import create_payout
from tests.edges.web._console import CLIENT_IP, Browser, changed_tables, csrf_of, db_state
from tests.factories import BrandFixture, create_brand, create_operator


@pytest.fixture
async def transport(runtime: Runtime) -> AsyncIterator[httpx.ASGITransport]:
    with structlog.testing.capture_logs():
        yield httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))


async def _browser(
    transport: httpx.ASGITransport, runtime: Runtime, brand: BrandFixture, role: Role
) -> Browser:
    one = Browser(transport)
    email = brand.owner_email if role == Role.owner else await create_operator(runtime, brand, role)
    assert (await one.login(email)).status_code == 303
    return one


async def _payouts(runtime: Runtime, brand: BrandFixture) -> dict[uuid.UUID, tuple[str, str]]:
    """Every payout of the brand: id → (state, WeChat Pay number)."""
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        page = await payouts_service.list_(uow, brand.actor(), PageRequest(limit=100))
        return {p.id: (str(p.state), p.bill_number) for p in page.items}


async def _number(runtime: Runtime, brand: BrandFixture, payout_id: uuid.UUID) -> str:
    return (await _payouts(runtime, brand))[payout_id][1]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_the_list_shows_yuan_numbers_and_states_and_filters_the_human_queue(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """Amounts in yuan, the WeChat Pay number, a state badge; ``state=review`` keeps only the
    human queue; an operator sees the page but no reissue control."""
    brand = await create_brand(runtime)
    failed = await create_payout(runtime, brand, amount_fen=1888)
    waiting = await create_payout(runtime, brand, state=PayoutState.awaiting_user)
    owner = await _browser(transport, runtime, brand, Role.owner)

    page = await owner.http.get("/console/payouts")
    assert page.status_code == 200
    assert "¥18.88" in page.text
    assert await _number(runtime, brand, failed) in page.text
    assert await _number(runtime, brand, waiting) in page.text
    assert "失败/已退回" in page.text
    assert "待用户确认/领取" in page.text
    assert f'formaction="/console/payouts/{failed}/reissue"' in page.text
    assert f'formaction="/console/payouts/{waiting}/reissue"' not in page.text

    queue = await owner.http.get("/console/payouts?state=review")
    assert queue.status_code == 200
    assert 'data-testid="payout-row"' not in queue.text
    assert "人工处理队列" in queue.text

    english = await owner.http.get("/console/payouts", headers={"Accept-Language": "en"})
    assert "Failed or refunded" in english.text
    assert "Waiting for the consumer" in english.text

    operator = await _browser(transport, runtime, brand, Role.operator)
    seen = await operator.http.get("/console/payouts")
    assert seen.status_code == 200
    assert await _number(runtime, brand, failed) in seen.text
    assert "/reissue" not in seen.text


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_finance_reissues_a_failed_payout_with_one_click_under_the_r1_number(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """One click: a new pending payout numbered …R1, the old one marked, the action audited."""
    brand = await create_brand(runtime)
    failed = await create_payout(runtime, brand)
    number = await _number(runtime, brand, failed)
    finance = await _browser(transport, runtime, brand, Role.finance)
    listing = await finance.http.get("/console/payouts?state=failed")
    done = await finance.http.post(
        f"/console/payouts/{failed}/reissue",
        data={"csrf_token": csrf_of(listing), "back": "/console/payouts?state=failed"},
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith("/console/payouts?state=failed&notice=")
    after = await _payouts(runtime, brand)
    assert sorted(after.values()) == [("failed", number), ("pending", number + "R1")]
    shown = await finance.http.get("/console/payouts")
    assert number + "R1" in shown.text
    assert f'formaction="/console/payouts/{failed}/reissue"' not in shown.text
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        audit = await accounts_service.list_audit(uow, brand.actor(), PageRequest(limit=20))
        reissues = [e.object_id for e in audit.items if e.action == "payout.reissued"]
    assert reissues == [str(failed)]


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_bulk_reissue_pays_every_selected_payout_or_none(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """Two selected failures are reissued in one POST; a selection with one that cannot be
    reissued (already reissued) changes nothing and says why."""
    brand = await create_brand(runtime)
    first, second, third = [await create_payout(runtime, brand) for _ in range(3)]
    owner = await _browser(transport, runtime, brand, Role.owner)
    token = csrf_of(await owner.http.get("/console/payouts"))
    done = await owner.http.post(
        "/console/payouts/reissue",
        data={"csrf_token": token, "payout_id": [str(first), str(second)]},
    )
    assert done.status_code == 303
    assert "error=" not in done.headers["location"]
    states = await _payouts(runtime, brand)
    reissued = sorted(n for s, n in states.values() if s == "pending")
    assert [n[-2:] for n in reissued] == ["R1", "R1"]

    before = await db_state(runtime)
    refused = await owner.http.post(
        "/console/payouts/reissue",
        data={"csrf_token": token, "payout_id": [str(third), str(first)]},
    )
    assert refused.status_code == 303
    assert "error=payout_reissue_not_allowed" in refused.headers["location"]
    assert changed_tables(before, await db_state(runtime)) == []
    page = await owner.http.get(refused.headers["location"])
    assert re.search(r'data-testid="action-error">[^<]+', page.text)


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_bulk_reissue_of_another_brands_payout_changes_nothing(
    runtime: Runtime, transport: httpx.ASGITransport
) -> None:
    """Brand B's finance cannot reissue brand A's payouts by putting their ids in the form."""
    brand_a = await create_brand(runtime, "A")
    brand_b = await create_brand(runtime, "B")
    theirs = await create_payout(runtime, brand_a)
    own = await create_payout(runtime, brand_b)
    intruder = await _browser(transport, runtime, brand_b, Role.finance)
    token = csrf_of(await intruder.http.get("/console/payouts"))
    before = await db_state(runtime)
    response = await intruder.http.post(
        "/console/payouts/reissue",
        data={"csrf_token": token, "payout_id": [str(own), str(theirs)]},
    )
    assert response.status_code == 303
    assert "error=payout_not_found" in response.headers["location"]
    assert changed_tables(before, await db_state(runtime)) == []
