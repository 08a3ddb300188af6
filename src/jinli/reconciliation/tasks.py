"""The daily reconciliation job: fetch yesterday's fund-flow bill from WeChat Pay, outside any
transaction, then reconcile it in one system unit of work (C5: network, then database)."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path

from jinli.platform.runtime import Runtime
from jinli.reconciliation import domain, service
from jinli.reconciliation.schemas import RunSummary


async def reconcile_day(
    runtime: Runtime,
    source: service.BillSource,
    *,
    merchant_id: str,
    bill_date: date,
    created_by: str = "system:daily",
) -> RunSummary:
    """Fetch and reconcile one day. Re-running a day is safe: the run is replaced."""
    work = service.workdir(Path(runtime.settings.data_dir))
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        path = Path(tmp) / "fundflow.csv"
        with path.open("wb") as sink:
            await service.fetch_fund_flow_bill(source, bill_date, sink, now=runtime.clock.now())
        async with runtime.uow(system=True) as uow:
            run = await service.reconcile_file(
                uow,
                path,
                bill_date=bill_date,
                merchant_id=merchant_id,
                source="fetch",
                created_by=created_by,
                workdir=work,
            )
            summary = await service.summarise(uow, run)
            await uow.commit()
    return summary


async def reconcile_yesterday(
    runtime: Runtime, source: service.BillSource, *, merchant_id: str
) -> RunSummary:
    """The daily job (schedule it after 10:00 Beijing time, when WeChat has the bill ready;
    before that it raises ``BillNotReady``)."""
    return await reconcile_day(
        runtime,
        source,
        merchant_id=merchant_id,
        bill_date=domain.previous_day(runtime.clock.now()),
    )
