"""R8: 100,000-row fund-flow bills with differences of every class injected at known numbers
→ recall and precision 100 % per class, fen exact; a clean 100,000-row day → 0 differences."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

from jinli.kernel.pagination import PageRequest
from jinli.platform.runtime import Runtime
from jinli.reconciliation import service
from jinli.reconciliation.domain import DifferenceClass
from jinli.reconciliation.models import ReconciliationRun
from jinli.reconciliation.schemas import DifferenceRead
from tests.conftest import BACKENDS
from tests.factories import create_brand, create_campaign
from tests.integration.reconciliation import scenario

pytestmark = [pytest.mark.parametrize("backend", BACKENDS, indirect=True), pytest.mark.slow]
log = logging.getLogger(__name__)
DAY = date(2026, 11, 20)
MCHID = "1900000109"


async def _owners(runtime: Runtime) -> list[tuple[uuid.UUID, uuid.UUID]]:
    owners = []
    for name in ("Brand A", "Brand B"):
        brand = await create_brand(runtime, name)
        owners.append((brand.brand_id, await create_campaign(runtime, brand)))
    return owners


async def _reconcile(runtime: Runtime, path: Path, day: date) -> ReconciliationRun:
    async with runtime.uow(system=True) as uow:
        run = await service.reconcile_file(
            uow, path, bill_date=day, merchant_id=MCHID, source="file", workdir=path.parent
        )
        await uow.commit()
    return run


async def _differences(runtime: Runtime, run: ReconciliationRun) -> list[DifferenceRead]:
    found: list[DifferenceRead] = []
    async with runtime.uow(system=True) as uow:
        while True:
            page = await service.list_run_differences(
                uow, run.id, PageRequest(limit=200, offset=len(found))
            )
            found += [DifferenceRead.model_validate(d) for d in page.items]
            if len(found) >= page.total:
                return found


async def _prepare(
    runtime: Runtime, tmp_path: Path, *, inject: bool
) -> tuple[scenario.Scenario, Path]:
    owners = await _owners(runtime)
    day = scenario.build(8 if inject else 9, DAY, owners, inject=inject)
    await scenario.insert_payouts(runtime, day.payouts)
    previous = await _reconcile(
        runtime, scenario.write(tmp_path / "previous.csv", day.previous_rows), DAY - timedelta(1)
    )
    assert (previous.difference_count, previous.carried_count) == (0, 400)
    return day, scenario.write(tmp_path / "bill.csv", day.rows)


async def test_every_injected_difference_is_found_and_nothing_else(
    runtime: Runtime, tmp_path: Path
) -> None:
    """Per class: detected == injected (recall and precision 100 %), Σ fen equal; every
    difference of a known payout carries its brand and campaign, the others none."""
    started = time.perf_counter()
    day, bill = await _prepare(runtime, tmp_path, inject=True)
    log.info("R8 set-up: %.1f s", time.perf_counter() - started)
    assert len(day.rows) >= 100_000
    started = time.perf_counter()
    run = await _reconcile(runtime, bill, DAY)
    elapsed = time.perf_counter() - started
    diffs = await _differences(runtime, run)
    owners = {p.number: (p.brand_id, p.campaign_id) for p in day.payouts}
    for cls in DifferenceClass:
        detected = {d.bill_number for d in diffs if d.difference_class == cls}
        injected = day.injected[cls]
        hits = len(detected & injected)
        recall, precision = hits / len(injected), hits / max(len(detected), 1)
        log.info(
            "R8 %s: injected %d, detected %d, recall %.3f, precision %.3f, fen %d/%d",
            cls, len(injected), len(detected), recall, precision,
            sum(d.amount_fen for d in diffs if d.difference_class == cls), day.injected_fen[cls],
        )  # fmt: skip
        assert detected == injected, cls
        assert (
            sum(d.amount_fen for d in diffs if d.difference_class == cls) == (day.injected_fen[cls])
        ), cls
    assert len(diffs) == run.difference_count == sum(len(v) for v in day.injected.values())
    for diff in diffs:
        assert (diff.brand_id, diff.campaign_id) == owners.get(diff.bill_number, (None, None))
        assert (diff.resolved_at is not None) == (
            diff.difference_class == DifferenceClass.cross_day
        )
    assert run.unverified_count == 0
    log.info("R8 dirty day: %d rows reconciled in %.1f s", run.row_count, elapsed)


async def test_a_clean_day_has_no_difference_and_exact_totals(
    runtime: Runtime, tmp_path: Path
) -> None:
    """0 false positives on 100,000 consistent rows; the run's fen totals are the bill's."""
    day, bill = await _prepare(runtime, tmp_path, inject=False)
    assert len(day.rows) >= 100_000
    started = time.perf_counter()
    run = await _reconcile(runtime, bill, DAY)
    elapsed = time.perf_counter() - started
    assert run.difference_count == 0
    assert await _differences(runtime, run) == []
    payout_rows = [r for r in day.rows if r.business_name not in ("充值", "手续费")]
    expense = [r.amount_fen for r in payout_rows if r.direction == "支出"]
    income = [r.amount_fen for r in payout_rows if r.direction == "收入"]
    assert (run.expense_count, run.expense_fen) == (len(expense), sum(expense))
    assert (run.income_count, run.income_fen) == (len(income), sum(income))
    assert run.row_count == len(day.rows)
    assert run.other_income_fen == sum(r.amount_fen for r in day.rows if r.business_name == "充值")
    assert run.unverified_count == 0
    log.info("R8 clean day: %d rows, 0 differences, %.1f s", run.row_count, elapsed)
