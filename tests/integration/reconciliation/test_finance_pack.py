"""The finance pack of a campaign and month: an xlsx workbook openpyxl can read and a zip of
CSVs, in yuan and fen, with Chinese and English headers, whose totals equal the ledger."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from jinli.accounts.domain import Role
from jinli.accounts.errors import PermissionDenied
from jinli.campaigns.errors import CampaignNotFound
from jinli.integrations.wechatpay.bills import EXPENSE, INCOME
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen
from jinli.kernel.pagination import PageRequest
from jinli.ledger import service as ledger
from jinli.payouts import service as payouts_service
from jinli.payouts import tasks as payout_tasks
from jinli.payouts.domain import PayoutMode, Verdict
from jinli.payouts.ports import GatewayResult, PayoutRequest
from jinli.platform.runtime import Runtime
from jinli.reconciliation import errors, service
from jinli.reconciliation.domain import beijing_day
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, create_brand, create_campaign
from tests.integration.reconciliation import scenario

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
SHEETS = [
    "汇总 Summary",
    "发放 Payouts",
    "退款退回 Refunds",
    "补发 Reissues",
    "差异 Differences",
    "预算流水 Budget movements",
]


class Gateway:
    """Answers each number from a script (the first call of every number)."""

    def __init__(self, answers: dict[str, GatewayResult]) -> None:
        self.answers = answers

    async def send(self, request: PayoutRequest) -> GatewayResult:
        return self.answers[request.bill_number]

    async def query(self, request: PayoutRequest) -> GatewayResult:
        return self.answers[request.bill_number]


async def _pay(runtime: Runtime, brand: BrandFixture, campaign: uuid.UUID, amount: int) -> Any:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        order = await payouts_service.create_payout(
            uow, campaign_id=campaign, amount_fen=Fen(amount), openid="o-pack",
            mode=PayoutMode.transfer, cause=f"pack:{uuid.uuid4()}", remark="扫码红包",
            activity="瓶盖",
        )  # fmt: skip
        await uow.commit()
    return order


@pytest.fixture
async def month(runtime: Runtime, clock: FrozenClock, tmp_path: Path) -> dict[str, Any]:
    """A campaign's month: three paid, one refused then reissued and paid, one returned by
    WeChat; the day's bill reconciled with one amount off by a fen."""
    brand = await create_brand(runtime)
    campaign = await create_campaign(runtime, brand, funding_fen=10_000)
    paid = [await _pay(runtime, brand, campaign, a) for a in (188, 300, 666)]
    refused = await _pay(runtime, brand, campaign, 200)
    returned = await _pay(runtime, brand, campaign, 500)
    ok = GatewayResult(Verdict.succeeded, "SUCCESS", "W1")
    answers = {p.bill_number: ok for p in paid}
    answers[refused.bill_number] = GatewayResult(Verdict.rejected, fail_reason="PARAM_ERROR")
    answers[returned.bill_number] = GatewayResult(Verdict.failed, "FAIL", "W2", None, "MCH_CANCEL")
    await payout_tasks.dispatch_once(runtime, Gateway(answers))
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        again = await payouts_service.reissue(uow, brand.actor(Role.finance), refused.id)
        await uow.commit()
    answers[again.bill_number] = ok
    await payout_tasks.dispatch_once(runtime, Gateway(answers))
    day = beijing_day(clock.now())
    writer = scenario._Writer()
    at = clock.now()
    rows = [
        writer.row(at, PayoutMode.transfer, EXPENSE, p.amount_fen + (p is paid[1]), p.bill_number)
        for p in [*paid, again, returned]
    ]
    rows.append(writer.row(at, PayoutMode.transfer, INCOME, 500, returned.bill_number))
    clock.advance(timedelta(days=1))
    async with runtime.uow(system=True) as uow:
        await service.reconcile_file(
            uow, scenario.write(tmp_path / "bill.csv", rows), bill_date=day,
            merchant_id="1900000109", source="file",
        )  # fmt: skip
        await uow.commit()
    return {"brand": brand, "campaign": campaign, "month": day.isoformat()[:7]}


async def _ledger(runtime: Runtime, brand: BrandFixture, campaign: uuid.UUID) -> Any:
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        balances = await ledger.verify_book(uow, campaign)
        page = await ledger.transactions(uow, campaign, PageRequest(limit=200))
        by_kind: dict[str, int] = defaultdict(int)
        for tx in page.items:
            by_kind[str(tx.kind)] += tx.amount_fen
    return balances, dict(by_kind)


async def _pack(runtime: Runtime, month: dict[str, Any], fmt: str) -> service.FinancePack:
    brand = month["brand"]
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        pack = await service.finance_pack(
            uow,
            brand.actor(Role.finance),
            month["campaign"],
            month["month"],
            fmt,  # type: ignore[arg-type]
        )
        await uow.commit()
    return pack


def _records(rows: list[list[Any]]) -> list[dict[str, Any]]:
    header, *body = rows
    # A read-only sheet drops a row's trailing empty cells.
    return [dict(zip(header, row + [None] * (len(header) - len(row)), strict=True)) for row in body]


async def test_the_xlsx_pack_opens_and_its_totals_equal_the_ledger(
    runtime: Runtime, month: dict[str, Any]
) -> None:
    """Six sheets; paid payouts sum to the ledger's paid account; budget movements by kind
    are the ledger's; yuan cells are exactly fen / 100; the fen-off difference is listed."""
    pack = await _pack(runtime, month, "xlsx")
    assert pack.filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(pack.content), read_only=True)
    assert book.sheetnames == SHEETS
    sheets = {name: _records([list(r) for r in book[name].iter_rows(values_only=True)])
              for name in SHEETS}  # fmt: skip
    balances, by_kind = await _ledger(runtime, month["brand"], month["campaign"])

    payouts = sheets["发放 Payouts"]
    assert len(payouts) == 6
    paid = [p for p in payouts if p["状态 State"] == "已到账 succeeded"]
    assert sum(p["金额(分) Amount (fen)"] for p in paid) == balances.paid == 188 + 300 + 666 + 200
    for row in payouts:  # the sheet holds the decimal text: exact, whatever float reads it
        assert Decimal(str(row["金额(元) Amount (CNY)"])) * 100 == row["金额(分) Amount (fen)"]
    movements = sheets["预算流水 Budget movements"]
    got: dict[str, int] = defaultdict(int)
    for row in movements:
        got[row["类型 Kind"].split()[0]] += row["金额(分) Amount (fen)"]
    assert got == {
        {"fund": "充值", "reserve": "预占", "post": "出款", "void": "释放"}[k]: v
        for k, v in by_kind.items()
    }
    assert [r["单号 Bill number"] for r in sheets["补发 Reissues"]] == [
        r["单号 Bill number"] for r in payouts if r["补发次数 Attempt"] == 1
    ]
    assert len(sheets["退款退回 Refunds"]) == 2
    (diff,) = sheets["差异 Differences"]
    assert (diff["类别 Class"], diff["金额(分) Amount (fen)"]) == ("金额不符 amount mismatch", 1)
    assert Decimal(str(diff["金额(元) Amount (CNY)"])) == Decimal("0.01")
    summary = {r["项目 Item"]: r for r in sheets["汇总 Summary"]}
    assert summary["已到账 Paid"]["金额(分) Amount (fen)"] == balances.paid
    assert summary["当前预算 已出款 paid"]["金额(分) Amount (fen)"] == balances.paid
    assert summary["差异(未处理) Open differences"]["笔数/值 Count or value"] == 1
    cell = load_workbook(io.BytesIO(pack.content))["发放 Payouts"]["D2"]
    assert (cell.number_format, cell.offset(column=1).number_format) == ("#,##0.00", "General")


async def test_the_csv_pack_carries_the_same_figures(
    runtime: Runtime, month: dict[str, Any]
) -> None:
    """A zip of six UTF-8 (BOM) CSVs; yuan written with two decimals; the same totals."""
    pack = await _pack(runtime, month, "csv")
    archive = zipfile.ZipFile(io.BytesIO(pack.content))
    names = archive.namelist()
    assert names == [
        "01_summary.csv", "02_payouts.csv", "03_refunds.csv", "04_reissues.csv",
        "05_differences.csv", "06_budget.csv",
    ]  # fmt: skip
    text = archive.read("02_payouts.csv").decode("utf-8")
    assert text.startswith("\ufeff单号 Bill number,")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    balances, _ = await _ledger(runtime, month["brand"], month["campaign"])
    paid = [r for r in rows if r["状态 State"] == "已到账 succeeded"]
    assert sum(int(r["金额(分) Amount (fen)"]) for r in paid) == balances.paid
    assert {r["金额(元) Amount (CNY)"] for r in paid} == {"1.88", "3.00", "6.66", "2.00"}


async def test_the_pack_is_for_finance_of_the_brand_and_a_real_month(
    runtime: Runtime, month: dict[str, Any]
) -> None:
    """No export permission, another brand, or a malformed month: refused."""
    brand, campaign = month["brand"], month["campaign"]
    async with runtime.uow(brand_id=brand.brand_id) as uow:
        with pytest.raises(PermissionDenied):
            await service.finance_pack(uow, brand.actor(Role.operator), campaign, month["month"])
        with pytest.raises(errors.InvalidMonth):
            await service.finance_pack(uow, brand.actor(Role.finance), campaign, "2026-13")
    other = await create_brand(runtime, "Other")
    async with runtime.uow(brand_id=other.brand_id) as uow:
        with pytest.raises(CampaignNotFound):
            await service.finance_pack(uow, other.actor(Role.finance), campaign, month["month"])
