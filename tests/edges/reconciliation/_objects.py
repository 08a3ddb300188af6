"""Reconciliation objects the edge tests need: a run of yesterday (an empty bill) and an open
difference of a brand (a payout of yesterday that the bill does not show), made through the
services; and a bill source that answers like WeChat Pay for a day without activity."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import BinaryIO

from jinli.integrations.wechatpay.bills import FundFlowRow, format_fund_flow_bill
from jinli.integrations.wechatpay.errors import WeChatPayCallError
from jinli.integrations.wechatpay.models import BillDownloadInfo
from jinli.integrations.wechatpay.outcomes import Outcome
from jinli.kernel.clock import SHANGHAI
from jinli.kernel.pagination import PageRequest
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.platform.runtime import Runtime
from jinli.reconciliation import service
from jinli.reconciliation.domain import day_bounds
from tests.factories import BrandFixture, create_campaign
from tests.integration.reconciliation import scenario
from tests.integration.reconciliation.scenario import Payout


def bill_text(rows: list[FundFlowRow] | None = None) -> str:
    """A fund-flow bill in WeChat's format (no rows: a day without activity)."""
    return "".join(format_fund_flow_bill(rows or []))


def yesterday(runtime: Runtime) -> date:
    return runtime.clock.now().astimezone(SHANGHAI).date() - timedelta(days=1)


def merchant(runtime: Runtime) -> str:
    return runtime.settings.wechatpay.mch_id


async def reconcile(
    runtime: Runtime, text: str | None = None, day: date | None = None
) -> uuid.UUID:
    """Reconcile ``day`` (yesterday) with ``text`` (an empty bill); the run's id."""
    async with runtime.uow(system=True) as uow:
        run = await service.reconcile_bytes(
            uow,
            (text if text is not None else bill_text()).encode(),
            bill_date=day or yesterday(runtime),
            merchant_id=merchant(runtime),
            source="file",
        )
        await uow.commit()
        return run.id


async def paid_yesterday(
    runtime: Runtime, brand: BrandFixture, amount_fen: int = 188, campaign: uuid.UUID | None = None
) -> Payout:
    """A transfer of ``brand`` paid yesterday at 10:00 Beijing time (in the tables only)."""
    if campaign is None:
        campaign = await create_campaign(runtime, brand, reward_rule={"kind": "none"})
    start, _ = day_bounds(yesterday(runtime))
    at = start + timedelta(hours=10, seconds=uuid.uuid4().int % 3600)
    payout = Payout(
        uuid.uuid4(), brand.brand_id, campaign, PayoutMode.transfer, PayoutState.succeeded,
        amount_fen, at, at + timedelta(minutes=1),
    )  # fmt: skip
    await scenario.insert_payouts(runtime, [payout])
    return payout


async def open_difference(runtime: Runtime, brand: BrandFixture) -> uuid.UUID:
    """An open ``missing_on_wechat`` difference of ``brand`` (yesterday is re-run)."""
    payout = await paid_yesterday(runtime, brand)
    await reconcile(runtime)
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        page = await service.list_differences(
            uow, brand.actor(), PageRequest(), campaign_id=payout.campaign_id
        )
        (found,) = [d.id for d in page.items]
    return found


class EmptyBillSource:
    """WeChat Pay for a day without activity: ``NO_STATEMENT_EXIST``."""

    async def request_fundflow_bill(
        self, bill_date: date, *, account_type: str = "BASIC", tar_type: str | None = "GZIP"
    ) -> BillDownloadInfo:
        raise WeChatPayCallError(
            "no statement",
            outcome=Outcome.FAILED,
            api="bills.fundflowbill",
            http_status=400,
            wechat_code="NO_STATEMENT_EXIST",
        )

    async def download_bill_to(self, info: BillDownloadInfo, sink: BinaryIO) -> int:
        raise AssertionError("nothing to download")


def install_bill_source(runtime: Runtime) -> None:
    """Wire a bill source into the runtime as the app layer does."""
    runtime.extras[service.BILL_SOURCE] = lambda: (EmptyBillSource(), merchant(runtime))
