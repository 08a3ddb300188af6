"""Runs on real databases: malformed bills leave nothing behind, re-runs replace runs and keep
resolutions, finance resolves differences (audited, brand-scoped), ``is_clean`` gates a
campaign, later days go stale when an earlier day changes, trade bills are checked."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Role
from jinli.accounts.errors import PermissionDenied
from jinli.integrations.wechatpay.bills import (
    EXPENSE,
    TRADE_ALL_HEADER,
    FundFlowRow,
    TradeBillRow,
    format_trade_bill,
)
from jinli.kernel.clock import SHANGHAI
from jinli.kernel.money import Fen
from jinli.kernel.pagination import PageRequest
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.platform.runtime import Runtime
from jinli.reconciliation import errors, service
from jinli.reconciliation.domain import DifferenceClass, day_bounds
from jinli.reconciliation.models import ReconciliationRun
from jinli.reconciliation.schemas import DifferenceRead, RunSummary
from tests.conftest import BACKENDS
from tests.factories import BrandFixture, create_brand, create_campaign
from tests.integration.reconciliation import scenario
from tests.integration.reconciliation.scenario import Payout

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
DAY = date(2026, 11, 20)
MCHID = "1900000109"
C = DifferenceClass


class Day:
    """Two brands with a campaign each, and a few payouts paid on DAY."""

    def __init__(self, runtime: Runtime, a: BrandFixture, b: BrandFixture, ca: uuid.UUID,
                 cb: uuid.UUID) -> None:  # fmt: skip
        self.runtime, self.a, self.b, self.ca, self.cb = runtime, a, b, ca, cb
        self.payouts: list[Payout] = []
        self.rows: list[FundFlowRow] = []
        self.writer = scenario._Writer()

    def paid(self, campaign: uuid.UUID, amount: int, *, bill: bool = True) -> Payout:
        brand = self.a.brand_id if campaign == self.ca else self.b.brand_id
        start, _ = day_bounds(DAY)
        at = start + timedelta(hours=10, minutes=len(self.payouts))
        payout = Payout(
            uuid.uuid4(), brand, campaign, PayoutMode.transfer, PayoutState.succeeded, amount,
            at, at + timedelta(minutes=1),
        )  # fmt: skip
        self.payouts.append(payout)
        if bill:
            self.rows.append(self.writer.row(at, payout.mode, EXPENSE, amount, payout.number))
        return payout

    def foreign(self, amount: int) -> str:
        number = f"X{len(self.rows):08d}"
        at = day_bounds(DAY)[0] + timedelta(hours=11)
        self.rows.append(self.writer.row(at, PayoutMode.red_packet, EXPENSE, amount, number))
        return number

    async def save(self) -> None:
        await scenario.insert_payouts(self.runtime, self.payouts)


@pytest.fixture
async def day(runtime: Runtime) -> Day:
    a, b = await create_brand(runtime, "A"), await create_brand(runtime, "B")
    return Day(runtime, a, b, await create_campaign(runtime, a), await create_campaign(runtime, b))


async def reconcile(
    runtime: Runtime, data: bytes, bill_date: date = DAY, tmp: Path | None = None
) -> RunSummary:
    async with runtime.uow(system=True) as uow:
        run = await service.reconcile_bytes(
            uow, data, bill_date=bill_date, merchant_id=MCHID, source="upload", workdir=tmp
        )
        summary = await service.summarise(uow, run)
        await uow.commit()
    return summary


def bill_bytes(rows: list[FundFlowRow], tmp_path: Path) -> bytes:
    return scenario.write(tmp_path / f"{uuid.uuid4().hex}.csv", rows).read_bytes()


async def run_count(runtime: Runtime) -> int:
    async with runtime.uow(system=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(ReconciliationRun)))


async def differences(runtime: Runtime, run_id: uuid.UUID) -> list[DifferenceRead]:
    async with runtime.uow(system=True) as uow:
        page = await service.list_run_differences(uow, run_id, PageRequest(limit=200))
        return [DifferenceRead.model_validate(d) for d in page.items]


def _cut_summary(text: str) -> str:
    return text[: text.index("资金流水总笔数")]


def _bump_count(text: str) -> str:
    """The summary claims one row more than the bill has."""
    head, _, summary = text.rstrip("\r\n").rpartition("\r\n")
    count, rest = summary.split(",", 1)
    return f"{head}\r\n`{int(float(count[1:])) + 1}.0,{rest}\r\n"


BAD: dict[str, tuple[type[errors.BillRejected], object]] = {
    "wrong header": (errors.BillHeaderInvalid, lambda t: "交易时间,商户号,金额\r\n`x,`y,`1.00\r\n"),
    "bad amount": (errors.BillAmountInvalid, lambda t: t.replace("`1.88,", "`1.8x,", 1)),
    "truncated": (errors.BillTruncated, _cut_summary),
    "summary mismatch": (errors.BillSummaryMismatch, _bump_count),
    "not a bill": (errors.BillHeaderInvalid, lambda t: "\x00\x01binary"),
    "empty": (errors.BillTruncated, lambda t: ""),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_malformed_bills_raise_typed_errors_and_change_nothing(
    day: Day, tmp_path: Path, case: str
) -> None:
    """Each bad bill raises its stable error; no run is written, and an earlier good run of
    the day is left exactly as it was."""
    day.paid(day.ca, 188)
    day.paid(day.ca, 500, bill=False)  # one difference, so the good run has something to lose
    await day.save()
    good = bill_bytes(day.rows, tmp_path)
    first = await reconcile(day.runtime, good, tmp=tmp_path)
    before = await differences(day.runtime, first.run.id)
    expected, mutate = BAD[case]
    bad = mutate(good.decode())  # type: ignore[operator]
    with pytest.raises(expected) as raised:
        await reconcile(day.runtime, bad.encode(), tmp=tmp_path)
    assert raised.value.code == expected.code
    assert await run_count(day.runtime) == 1
    async with day.runtime.uow(system=True) as uow:
        assert (await service.get_run(uow, MCHID, DAY)).run.id == first.run.id
    assert await differences(day.runtime, first.run.id) == before


async def test_a_bill_of_another_day_is_refused(day: Day, tmp_path: Path) -> None:
    """Rows booked on the 20th cannot be reconciled as the bill of the 21st."""
    day.paid(day.ca, 188)
    await day.save()
    with pytest.raises(errors.BillDateMismatch):
        await reconcile(day.runtime, bill_bytes(day.rows, tmp_path), DAY + timedelta(days=1))
    assert await run_count(day.runtime) == 0


async def test_today_has_no_bill_yet(day: Day, tmp_path: Path) -> None:
    """Bills exist for past Beijing days only."""
    today = day.runtime.clock.now().astimezone(SHANGHAI).date()
    with pytest.raises(errors.InvalidBillDate):
        await reconcile(day.runtime, bill_bytes([], tmp_path), today)


async def test_finance_resolves_differences_and_the_campaign_becomes_clean(
    day: Day, tmp_path: Path
) -> None:
    """A difference blocks its campaign until finance resolves it with a note (audited);
    other brands neither see nor touch it; the bill row with no payout is no brand's."""
    missing = day.paid(day.ca, 500, bill=False)
    day.paid(day.ca, 188)
    day.paid(day.cb, 300)
    stranger = day.foreign(999)
    await day.save()
    summary = await reconcile(day.runtime, bill_bytes(day.rows, tmp_path), tmp=tmp_path)
    counts = {t.difference_class: (t.count, t.amount_fen) for t in summary.classes}
    assert counts[C.missing_on_wechat] == (1, -500)
    assert counts[C.missing_on_our_side] == (1, 999)
    assert sum(c for c, _ in counts.values()) == 2
    rt = day.runtime

    async with rt.uow(brand_id=day.a.brand_id) as uow:
        assert not await service.is_clean(uow, day.ca)
        status = await service.campaign_reconciliation(uow, day.ca)
        assert (status.open_count, status.open_by_class[C.missing_on_wechat]) == (1, 1)
        page = await service.list_differences(uow, day.a.actor(Role.finance), PageRequest())
        assert [d.bill_number for d in page.items] == [missing.number]
        diff_id = page.items[0].id
        with pytest.raises(PermissionDenied):
            await service.resolve(uow, day.a.actor(Role.operator), diff_id, "looked at it")
        with pytest.raises(errors.ResolutionNoteRequired):
            await service.resolve(uow, day.a.actor(Role.finance), diff_id, "   ")
    async with rt.uow(brand_id=day.b.brand_id) as uow:
        assert await service.is_clean(uow, day.cb)
        page = await service.list_differences(uow, day.b.actor(Role.finance), PageRequest())
        assert page.items == []
        with pytest.raises(errors.DifferenceNotFound):
            await service.resolve(uow, day.b.actor(Role.finance), diff_id, "not mine")

    async with rt.uow(brand_id=day.a.brand_id) as uow:
        await service.resolve(
            uow, day.a.actor(Role.finance), diff_id, "WeChat support: sent on the 21st"
        )
        await uow.commit()
    async with rt.uow(brand_id=day.a.brand_id) as uow:
        assert await service.is_clean(uow, day.ca)
        with pytest.raises(errors.DifferenceAlreadyResolved):
            await service.resolve(uow, day.a.actor(Role.finance), diff_id, "again")
        audit = await accounts_service.list_audit(
            uow,
            day.a.actor(Role.finance),
            PageRequest(),
            action="reconciliation.difference_resolved",
        )
        assert [e.object_id for e in audit.items] == [str(diff_id)]

    async with rt.uow(system=True) as uow:
        page = await service.list_run_differences(
            uow, summary.run.id, PageRequest(), unattributed=True
        )
        assert [d.bill_number for d in page.items] == [stranger]
        await service.resolve_unattributed(uow, page.items[0].id, "a test payout", by="ops")
        await uow.commit()
    async with rt.uow(system=True) as uow:
        open_left = await service.list_run_differences(
            uow, summary.run.id, PageRequest(), open_only=True
        )
        assert open_left.total == 0


async def test_rerunning_a_day_replaces_the_run_and_keeps_resolutions(
    day: Day, tmp_path: Path
) -> None:
    """Same bill twice: one run for the day, the same differences, finance's note kept."""
    missing = day.paid(day.ca, 500, bill=False)
    day.paid(day.ca, 188)
    await day.save()
    data = bill_bytes(day.rows, tmp_path)
    first = await reconcile(day.runtime, data, tmp=tmp_path)
    (diff,) = await differences(day.runtime, first.run.id)
    async with day.runtime.uow(brand_id=day.a.brand_id) as uow:
        await service.resolve(uow, day.a.actor(Role.finance), diff.id, "reissued by hand")
        await uow.commit()
    second = await reconcile(day.runtime, data, tmp=tmp_path)
    assert second.run.id != first.run.id
    assert await run_count(day.runtime) == 1
    (again,) = await differences(day.runtime, second.run.id)
    assert (again.bill_number, again.difference_class) == (missing.number, C.missing_on_wechat)
    assert again.resolution_note == "reissued by hand"
    assert again.resolved_at is not None


async def test_an_earlier_day_imported_later_makes_later_runs_stale(
    day: Day, tmp_path: Path
) -> None:
    """Later runs were judged without that day's carried rows: they are flagged to re-run."""
    day.paid(day.ca, 188)
    await day.save()
    later = await reconcile(day.runtime, bill_bytes(day.rows, tmp_path), tmp=tmp_path)
    assert not later.run.stale
    await reconcile(day.runtime, bill_bytes([], tmp_path), DAY - timedelta(days=1), tmp_path)
    async with day.runtime.uow(system=True) as uow:
        assert (await service.get_run(uow, MCHID, DAY)).run.stale
    again = await reconcile(day.runtime, bill_bytes(day.rows, tmp_path), tmp=tmp_path)
    assert not again.run.stale
    assert again.run.difference_count == 0


async def test_a_day_without_activity_still_finds_payouts_missing(day: Day, tmp_path: Path) -> None:
    """An empty bill (NO_STATEMENT_EXIST) against a day we paid: missing on WeChat's side."""
    day.paid(day.cb, 700, bill=False)
    await day.save()
    summary = await reconcile(day.runtime, bill_bytes([], tmp_path), tmp=tmp_path)
    assert summary.run.row_count == 0
    assert {(t.difference_class, t.count, t.amount_fen) for t in summary.classes if t.count} == {
        (C.missing_on_wechat, 1, -700)
    }


async def test_a_trade_bill_is_checked_and_totalled_with_nothing_to_match(
    day: Day, tmp_path: Path
) -> None:
    """Jinli creates no pay-in orders: a trade bill is validated and its totals recorded."""
    rows = [
        TradeBillRow(
            trade_time=f"{DAY} 0{i}:00:00", mch_id=MCHID, transaction_id=f"42{i:026d}",
            out_trade_no=f"T{i}", trade_state="SUCCESS", settlement_total_fen=Fen(100 * (i + 1)),
            total_fen=Fen(100 * (i + 1)), fee_fen=Fen(1),
        )
        for i in range(3)
    ]  # fmt: skip
    data = "".join(format_trade_bill(rows, header=TRADE_ALL_HEADER)).encode()
    summary = await reconcile(day.runtime, data, tmp=tmp_path)
    assert (summary.run.bill_kind, summary.run.row_count) == ("trade", 3)
    assert summary.run.other_income_fen == 600
    assert summary.run.difference_count == 0
    with pytest.raises(errors.BillSummaryMismatch):
        await reconcile(day.runtime, data.replace(b"`3,", b"`4,"), tmp=tmp_path)


async def test_resolving_an_unknown_difference_is_not_found(day: Day) -> None:
    """A made-up id: not found, in a brand scope and in the system scope."""
    async with day.runtime.uow(brand_id=day.a.brand_id) as uow:
        with pytest.raises(errors.DifferenceNotFound):
            await service.resolve(uow, day.a.actor(Role.finance), uuid.uuid4(), "x")
    async with day.runtime.uow(system=True) as uow:
        with pytest.raises(errors.DifferenceNotFound):
            await service.difference_brand(uow, uuid.uuid4())
        with pytest.raises(errors.RunNotFound):
            await service.get_run(uow, MCHID, DAY)


async def test_an_odd_booking_time_is_kept_out_of_the_difference_not_fatal(
    day: Day, tmp_path: Path
) -> None:
    """The parser does not require a well-formed 记账时间: the row is still reconciled and the
    difference simply has no booking instant."""
    stranger = day.foreign(300)
    row = day.rows[-1]
    day.rows[-1] = FundFlowRow(
        f"{DAY} 9:5", row.wechat_business_no, row.flow_no, row.business_name,
        row.business_type, row.direction, row.amount_fen, row.balance_fen, row.applicant,
        row.remark, row.voucher_no,
    )  # fmt: skip
    summary = await reconcile(day.runtime, bill_bytes(day.rows, tmp_path), tmp=tmp_path)
    (diff,) = await differences(day.runtime, summary.run.id)
    assert (diff.bill_number, diff.booked_at) == (stranger, None)
