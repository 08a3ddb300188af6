"""The settle gate: a campaign reaches *settled* only once WeChat's bills of every day its
payouts touched are reconciled and every difference is resolved. Refusals are 409 problem JSON
listing each blocker (REST) and the campaign page lists them (console); without a gate wired
in, settling fails closed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog

from jinli.accounts.domain import Role
from jinli.app.web import create_app
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action, CampaignStatus
from jinli.campaigns.errors import SettlementCheckUnavailable
from jinli.campaigns.ports import SETTLEMENT_GATE
from jinli.integrations.wechatpay.bills import EXPENSE, FundFlowRow
from jinli.kernel.clock import SHANGHAI, FrozenClock
from jinli.kernel.money import Fen
from jinli.kernel.pagination import PageRequest
from jinli.ledger import service as ledger
from jinli.payouts import service as payouts_service
from jinli.payouts import tasks as payouts_tasks
from jinli.payouts.domain import PayoutMode, Verdict
from jinli.payouts.ports import GatewayResult, PayoutRequest
from jinli.platform.runtime import Runtime
from jinli.reconciliation import service as reconciliation_service
from tests.conftest import BACKENDS
from tests.edges.web._console import CLIENT_IP, Browser, csrf_of
from tests.factories import BrandFixture, bearer, create_api_key, create_brand, create_campaign
from tests.integration.reconciliation import scenario

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

FUNDING = 10_000
AMOUNT = 188
MCHID = "1900000109"


class PaysAtOnce:
    """A gateway whose every payout succeeds on the first call."""

    async def send(self, request: PayoutRequest) -> GatewayResult:
        return GatewayResult(Verdict.succeeded, "SUCCESS", "1330001")

    query = send


async def _ended_campaign_with_a_paid_payout(
    runtime: Runtime, brand: BrandFixture
) -> tuple[uuid.UUID, str]:
    """A live campaign that paid one transfer (created and paid today), then ended."""
    cid = await create_campaign(runtime, brand, funding_fen=FUNDING)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await campaigns_service.transition(uow, brand.actor(), cid, Action.publish)
        order = await payouts_service.create_payout(
            uow,
            campaign_id=cid,
            amount_fen=Fen(AMOUNT),
            openid="o-consumer-1",
            mode=PayoutMode.transfer,
            cause="scan:1",
            remark="扫码红包",
            activity="瓶盖活动",
        )
        await uow.commit()
    assert await payouts_tasks.dispatch_once(runtime, PaysAtOnce()) == 1
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        await campaigns_service.transition(uow, brand.actor(), cid, Action.end)
        await uow.commit()
    return cid, order.bill_number


def _today(runtime: Runtime) -> date:
    return runtime.clock.now().astimezone(SHANGHAI).date()


def _paid_row(runtime: Runtime, number: str) -> FundFlowRow:
    return scenario._Writer().row(runtime.clock.now(), PayoutMode.transfer, EXPENSE, AMOUNT, number)


async def _reconcile(runtime: Runtime, day: date, rows: list[FundFlowRow], tmp: Path) -> None:
    path = scenario.write(tmp / f"{uuid.uuid4().hex}.csv", rows)
    async with runtime.uow(system=True) as uow:
        await reconciliation_service.reconcile_file(
            uow, path, bill_date=day, merchant_id=MCHID, source="upload", workdir=tmp
        )
        await uow.commit()


async def _settle(client: httpx.AsyncClient, key: dict[str, str], cid: uuid.UUID) -> Any:
    return await client.post(f"/api/v1/campaigns/{cid}/settle", headers=key)


def _refusal(answer: httpx.Response) -> list[str]:
    """The blockers of a refused settle, checking the problem's shape on the way."""
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "campaign_not_reconciled"
    assert problem["type"].endswith("/campaign_not_reconciled")
    assert all(e["type"] == "settlement_blocker" for e in problem["errors"])
    return [e["msg"] for e in problem["errors"]]


async def _unchanged(runtime: Runtime, brand: BrandFixture, cid: uuid.UUID) -> None:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        status = (await campaigns_service.get(uow, brand.actor(), cid)).status
        budget = await ledger.verify_book(uow, cid)
    assert status == CampaignStatus.ended
    assert (budget.available, budget.paid, budget.returned) == (FUNDING - AMOUNT, AMOUNT, 0)


async def test_an_unreconciled_payout_day_blocks_until_its_bill_is_reconciled(
    runtime: Runtime, clock: FrozenClock, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Today's payouts cannot be checked before WeChat publishes tomorrow's bill: settling is
    refused, naming the day, and nothing moves; once the day's bill matches, it settles and
    hands back exactly what is left."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand, Role.finance))
    cid, number = await _ended_campaign_with_a_paid_payout(runtime, brand)
    today = _today(runtime)

    assert _refusal(await _settle(client, key, cid)) == [
        f"{reconciliation_service.BLOCKER_UNRECONCILED}: {today}"
    ]
    await _unchanged(runtime, brand, cid)

    row = _paid_row(runtime, number)
    clock.advance(timedelta(days=1))
    await _reconcile(runtime, today, [row], tmp_path)
    answer = await _settle(client, key, cid)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "settled"
    assert (body["budget"]["available_fen"], body["budget"]["returned_fen"]) == (
        0,
        FUNDING - AMOUNT,
    )


async def test_an_open_difference_blocks_until_finance_resolves_it(
    runtime: Runtime, clock: FrozenClock, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    """The day's bill does not show our paid transfer: the difference blocks settling until
    finance resolves it with a note; then the campaign settles."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand, Role.finance))
    cid, _ = await _ended_campaign_with_a_paid_payout(runtime, brand)
    today = _today(runtime)
    clock.advance(timedelta(days=1))
    await _reconcile(runtime, today, [], tmp_path)

    assert _refusal(await _settle(client, key, cid)) == [
        f"{reconciliation_service.BLOCKER_OPEN}: 1"
    ]
    await _unchanged(runtime, brand, cid)

    finance = brand.actor(Role.finance)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        [diff] = (await reconciliation_service.list_differences(uow, finance, PageRequest())).items
        await reconciliation_service.resolve(uow, finance, diff.id, "paid by hand, receipt 42")
        await uow.commit()
    answer = await _settle(client, key, cid)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "settled"


async def test_a_campaign_without_payouts_settles(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """Nothing was paid, so there is nothing to reconcile: settling hands the budget back."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand, Role.finance))
    cid = await create_campaign(runtime, brand, funding_fen=FUNDING)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        for action in (Action.publish, Action.end):
            await campaigns_service.transition(uow, brand.actor(), cid, action)
        await uow.commit()
    answer = await _settle(client, key, cid)
    assert answer.status_code == 200, answer.text
    assert answer.json()["budget"]["returned_fen"] == FUNDING


async def test_without_a_gate_settling_fails_closed(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    """A process that did not wire the reconciliation check refuses to settle (503 problem),
    even a campaign that would pass; so does a service call that passes no gate."""
    brand = await create_brand(runtime)
    key = bearer(await create_api_key(runtime, brand, Role.finance))
    cid = await create_campaign(runtime, brand, funding_fen=FUNDING)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        for action in (Action.publish, Action.end):
            await campaigns_service.transition(uow, brand.actor(), cid, action)
        await uow.commit()
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        with pytest.raises(SettlementCheckUnavailable):
            await campaigns_service.transition(uow, brand.actor(), cid, Action.settle)

    gate = runtime.extras.pop(SETTLEMENT_GATE)
    try:
        answer = await _settle(client, key, cid)
    finally:
        runtime.extras[SETTLEMENT_GATE] = gate
    assert answer.status_code == 503
    assert answer.json()["code"] == "settlement_check_unavailable"
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        assert (await campaigns_service.get(uow, brand.actor(), cid)).status == CampaignStatus.ended


@pytest.fixture
async def browser(runtime: Runtime) -> AsyncIterator[tuple[Browser, BrandFixture]]:
    with structlog.testing.capture_logs():
        transport = httpx.ASGITransport(app=create_app(runtime), client=(CLIENT_IP, 50000))
        brand = await create_brand(runtime)
        one = Browser(transport)
        assert (await one.login(brand.owner_email)).status_code == 303
        yield one, brand
        await one.aclose()


async def test_the_campaign_page_lists_the_blockers_and_the_settle_button_is_refused(
    runtime: Runtime,
    clock: FrozenClock,
    browser: tuple[Browser, BrandFixture],
    tmp_path: Path,
) -> None:
    """An ended campaign's page says what stands between it and settlement; pressing Settle
    anyway is refused with the reason, and once reconciled the page says it may settle."""
    one, brand = browser
    cid, number = await _ended_campaign_with_a_paid_payout(runtime, brand)
    today = _today(runtime)
    page = await one.http.get(f"/console/campaigns/{cid}")
    assert page.status_code == 200
    assert 'data-testid="settle-blocker"' in page.text
    assert f"微信支付账单尚未对账：{today}" in page.text

    pressed = await one.http.post(
        f"/console/campaigns/{cid}/actions/settle", data={"csrf_token": csrf_of(page)}
    )
    assert pressed.status_code == 303
    assert "error=campaign_not_reconciled" in pressed.headers["location"]
    after = await one.http.get(pressed.headers["location"])
    assert 'data-testid="action-error"' in after.text
    assert "活动的发放尚未完成对账，暂不能结算" in after.text
    assert f"微信支付账单尚未对账：{today}" in after.text
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        assert (await campaigns_service.get(uow, brand.actor(), cid)).status == CampaignStatus.ended

    row = _paid_row(runtime, number)
    clock.advance(timedelta(days=1))
    await _reconcile(runtime, today, [row], tmp_path)
    assert (await one.login(brand.owner_email)).status_code == 303  # a day later: new session
    page = await one.http.get(f"/console/campaigns/{cid}")
    assert 'data-testid="settle-ready"' in page.text
    assert 'data-testid="settle-blocker"' not in page.text
    pressed = await one.http.post(
        f"/console/campaigns/{cid}/actions/settle", data={"csrf_token": csrf_of(page)}
    )
    assert pressed.status_code == 303
    assert "error=" not in pressed.headers["location"]
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        campaign = await campaigns_service.get(uow, brand.actor(), cid)
        assert campaign.status == CampaignStatus.settled
