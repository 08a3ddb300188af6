"""The daily reconciliation job: fetch a day's fund-flow bill from WeChat Pay, outside any
transaction, then reconcile it in one system unit of work (C5: network, then database).

:func:`reconcile_due` is what the worker calls on every tick: it reconciles the days of the
look-back window that have no run (or a stale one), backs off after a failure and lets only
one worker fetch a given day at a time.
"""

from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import structlog

from jinli.kernel.errors import ErrorKind, JinliError
from jinli.platform.runtime import Runtime
from jinli.reconciliation import domain, service
from jinli.reconciliation.schemas import RunSummary

log = structlog.get_logger()

LOOKBACK_DAYS = 7
"""How many published bills back the job looks for a day without a run."""
FIRST_WAIT = timedelta(minutes=10)
"""How long one attempt holds a day against other workers, and the first back-off."""
MAX_WAIT = timedelta(hours=2)
FAILURES_KEPT = timedelta(days=3)
"""How long a day's failure count is remembered (the back-off restarts after that)."""
Claim = Literal["go", "busy", "backing_off"]


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


def _wait(failures: int) -> int:
    """Seconds an attempt after ``failures`` failures holds its day: 10 min, doubling, ≤ 2 h."""
    return int(min(FIRST_WAIT * 2**failures, MAX_WAIT).total_seconds())


async def _claim(runtime: Runtime, merchant_id: str, day: date) -> Claim:
    """Take the day for one attempt, or say why not.

    The attempt counter after n failures lives for ``_wait(n)``: while the previous attempt's
    counter lives, the day is backing off (no busy loop after a failure); while the current
    one lives, another worker is on the day (no double fetch). The counters are atomic in
    Redis and the database; the in-memory store serves the single SQLite process.
    """
    counters = runtime.counters
    base = f"recon:{merchant_id}:{day}"
    failures = await counters.peek(f"{base}:failures")
    if failures and await counters.peek(f"{base}:attempt:{failures - 1}"):
        return "backing_off"
    if await counters.hit(f"{base}:attempt:{failures}", _wait(failures)) > 1:
        return "busy"
    return "go"


async def reconcile_due(
    runtime: Runtime,
    source: service.BillSource,
    *,
    merchant_id: str,
    lookback_days: int = LOOKBACK_DAYS,
) -> int:
    """Reconcile every due day of the merchant (see ``service.due_days``), oldest first;
    returns how many days got a run. Cheap when nothing is due (one indexed query).

    A bill not ready yet, a failed call or a rejected bill is logged and retried after a
    back-off (10 min, doubling, at most 2 h); the other days still run. Safe with several
    workers: a day is fetched by one of them at a time (the others leave the window to it),
    and a run that raced anyway replaces the other (runs are per day).
    """
    done = 0
    tried: set[date] = set()
    while True:
        async with runtime.uow(system=True) as uow:
            due = await service.due_days(uow, merchant_id, lookback_days=lookback_days)
        # Oldest first: running a day makes later runs stale, which this pass then redoes.
        pending = [d for d in due if d not in tried]
        if not pending:
            return done
        day = pending[0]
        tried.add(day)
        claim = await _claim(runtime, merchant_id, day)
        if claim == "busy":
            # Another worker is on this day and goes on, in order, with the later ones:
            # running them here, before this day is done, would only make them stale.
            return done
        if claim == "backing_off":
            continue  # a failing day does not hold up the later ones
        try:
            summary = await reconcile_day(runtime, source, merchant_id=merchant_id, bill_date=day)
        except JinliError as error:
            failures = await runtime.counters.hit(
                f"recon:{merchant_id}:{day}:failures", int(FAILURES_KEPT.total_seconds())
            )
            level = log.warning if error.kind == ErrorKind.UNAVAILABLE else log.error
            level(
                "reconciliation.daily.failed",
                merchant_id=merchant_id,
                bill_date=str(day),
                code=error.code,
                detail=error.detail,
                failures=failures,
                retry_in_seconds=_wait(failures - 1),
            )
            continue
        await runtime.counters.reset(f"recon:{merchant_id}:{day}:failures")
        done += 1
        log.info(
            "reconciliation.daily.reconciled",
            merchant_id=merchant_id,
            bill_date=str(day),
            differences=summary.run.difference_count,
        )
