"""Use cases of reconciliation: import or fetch a day's bill, match it against our payouts,
record the run and its differences, let finance resolve them, tell whether a campaign is
reconciled clean, and build the finance pack. Nothing here commits (C4); the WeChat call
(:func:`fetch_fund_flow_bill`) takes no unit of work, so it can never run inside a transaction.

Payouts are read only through ``payouts.service``: ``reconciliation_rows`` (a day's
candidates as plain rows, computed by the database), ``records_by_numbers`` (the few to judge),
``activity_days`` (the settle gate) and ``records_created_between`` (the finance pack); budget
movements through ``campaigns.service``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

import structlog

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Actor, Permission
from jinli.campaigns import service as campaigns_service
from jinli.integrations.wechatpay import errors as wx_errors
from jinli.integrations.wechatpay.bills import (
    format_fund_flow_bill,
    read_trade_bill,
)
from jinli.integrations.wechatpay.models import BillDownloadInfo
from jinli.kernel.clock import SHANGHAI
from jinli.kernel.money import Fen, format_yuan
from jinli.kernel.pagination import Page, PageRequest
from jinli.payouts import service as payouts_service
from jinli.payouts.domain import PayoutMode, PayoutRecord, PayoutState
from jinli.platform.db.uow import UnitOfWork
from jinli.reconciliation import domain
from jinli.reconciliation.domain import (
    BLOCKING_CLASSES,
    DifferenceClass,
    Evidence,
    Finding,
    PayoutFacts,
)
from jinli.reconciliation.errors import (
    BillAmountInvalid,
    BillDateMismatch,
    BillHashMismatch,
    BillHeaderInvalid,
    BillNotReady,
    BillRejected,
    BillSourceUnavailable,
    BillSummaryMismatch,
    BillTruncated,
    DifferenceAlreadyResolved,
    DifferenceNotFound,
    InvalidBillDate,
    InvalidMonth,
    ResolutionNoteRequired,
    RunNotFound,
)
from jinli.reconciliation.models import (
    ReconciliationClassTotal,
    ReconciliationDifference,
    ReconciliationRun,
)
from jinli.reconciliation.repository import (
    BillRejectedByStore,
    BillStore,
    CarryRepository,
    DifferenceRepository,
    EvidenceRow,
    Matched,
    RunRepository,
)
from jinli.reconciliation.schemas import (
    CampaignReconciliation,
    ClassTotalRead,
    RunOverview,
    RunRead,
    RunSummary,
)

log = structlog.get_logger()

FUND_FLOW = "fund_flow"
TRADE = "trade"
LOOKBACK_DAYS = 3
"""How far back a payout closing on the bill day may have been created: a red packet refunds
24 h after it was sent, a transfer fails 24 h after it was offered, plus slack for retries.
Payouts that close later than this after their creation (e.g. after days in the human queue)
are matched by their rows but their lifetime is not judged; ``records_finished_between`` in
payouts would remove the limit."""
SYSTEM = "system"
CROSS_DAY_NOTE = "timing only: booked after midnight, matched across the day boundary"


class BillSource(Protocol):
    """What a fetch needs from the WeChat Pay v3 client (``WeChatPayV3Client`` fits)."""

    async def request_fundflow_bill(
        self, bill_date: date, *, account_type: str = "BASIC", tar_type: str | None = "GZIP"
    ) -> BillDownloadInfo: ...

    async def download_bill_to(self, info: BillDownloadInfo, sink: BinaryIO) -> int: ...


def workdir(data_dir: Path) -> Path:
    """Where bills and DuckDB's temporary files go while a day is reconciled (under the data
    directory, not /tmp, which may be small: a million-row bill is ≈ 200 MB)."""
    path = data_dir / "reconciliation"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------
# Getting the bill


def _bill_error(error: wx_errors.BillError) -> BillRejected:
    """The parser's typed error as reconciliation's stable code (its message names the line)."""
    cls: type[BillRejected]
    match error:
        case wx_errors.BillHeaderError():
            cls = BillHeaderInvalid
        case wx_errors.BillAmountError():
            cls = BillAmountInvalid
        case wx_errors.BillTruncated():
            cls = BillTruncated
        case wx_errors.BillSummaryMismatch():
            cls = BillSummaryMismatch
        case wx_errors.BillHashMismatch():
            cls = BillHashMismatch
        case _:
            cls = BillRejected
    return cls(error.detail, line=error.line)


def _check_bill_date(bill_date: date, now: datetime) -> None:
    if bill_date >= now.astimezone(SHANGHAI).date():
        raise InvalidBillDate(f"{bill_date} is not a past Beijing day")


async def fetch_fund_flow_bill(
    source: BillSource, bill_date: date, sink: BinaryIO, *, now: datetime
) -> None:
    """Download the BASIC fund-flow bill of ``bill_date`` into ``sink`` (decompressed, SHA1
    checked). A day without activity (``NO_STATEMENT_EXIST``) becomes an empty bill, so the
    run still checks that nothing was expected that day. Never call inside a transaction."""
    _check_bill_date(bill_date, now)
    try:
        info = await source.request_fundflow_bill(bill_date)
    except wx_errors.WeChatPayCallError as error:
        if error.wechat_code == "NO_STATEMENT_EXIST":
            sink.writelines(line.encode() for line in format_fund_flow_bill([]))
            return
        if error.wechat_code == "STATEMENT_CREATING":
            raise BillNotReady(f"the bill of {bill_date} is still being generated") from None
        raise
    try:
        await source.download_bill_to(info, sink)
    except wx_errors.BillError as error:
        raise _bill_error(error) from None


# ---------------------------------------------------------------------------------------------
# Reconciling a day


@dataclass(frozen=True, slots=True)
class _Judged:
    number: str
    finding: Finding
    record: PayoutRecord | None
    row: EvidenceRow


def _sha1(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _bill_kind(path: Path) -> str:
    with path.open("rb") as handle:
        first = handle.readline(64 * 1024)
    try:
        names = {
            n.strip().replace("（", "(").replace("）", ")")
            for n in first.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n").split(",")
        }
    except UnicodeDecodeError:
        raise BillHeaderInvalid("line 1: the file is not UTF-8 text", line=1) from None
    if "资金流水单号" in names:
        return FUND_FLOW
    if "微信订单号" in names:
        return TRADE
    if not first.strip():
        raise BillTruncated("the bill is empty")
    raise BillHeaderInvalid("line 1: neither a fund-flow nor a trade bill header", line=1)


def _booked(text: str | None) -> datetime | None:
    """记账时间 (Beijing) as an instant; None when WeChat's text is not a timestamp (the parser
    does not require one, and it is only shown)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)
    except ValueError:
        return None


async def reconcile_file(
    uow: UnitOfWork,
    path: Path,
    *,
    bill_date: date,
    merchant_id: str,
    source: Literal["fetch", "file", "upload"],
    created_by: str = SYSTEM,
    lookback_days: int = LOOKBACK_DAYS,
    workdir: Path | None = None,
) -> ReconciliationRun:
    """Reconcile the bill in ``path`` for one merchant and Beijing day, and record the run.

    Runs in a system unit of work (a merchant's bill covers every brand). Re-running a day
    replaces its run; finance's resolutions of the same (number, class) are kept. A bill that
    is malformed, of another day, or inconsistent with its own summary raises a typed
    ``BillRejected`` before anything is written.
    """
    if not uow.system:
        raise RuntimeError("a reconciliation run is system-scoped: use uow(system=True)")
    _check_bill_date(bill_date, uow.clock.now())
    kind = _bill_kind(path)
    if kind == TRADE:
        return await _record_trade_run(
            uow, path, bill_date=bill_date, merchant_id=merchant_id, source=source, by=created_by
        )
    # The file's SHA1 (for the run record) on a thread of its own: hashlib releases the GIL,
    # so it overlaps the scan and the database reads instead of following them.
    with ThreadPoolExecutor(1, thread_name_prefix="jinli-recon-sha1") as hasher:
        digest = hasher.submit(_sha1, path)
        run = await _reconcile_fund_flow(
            uow,
            path,
            bill_date=bill_date,
            merchant_id=merchant_id,
            source=source,
            created_by=created_by,
            lookback_days=lookback_days,
            workdir=workdir,
            file_sha1=digest.result,
        )
    return run


async def _reconcile_fund_flow(
    uow: UnitOfWork,
    path: Path,
    *,
    bill_date: date,
    merchant_id: str,
    source: str,
    created_by: str,
    lookback_days: int,
    workdir: Path | None,
    file_sha1: Callable[[], str],
) -> ReconciliationRun:
    start, end = domain.day_bounds(bill_date)
    with BillStore(workdir) as store:
        # DuckDB reads the bill on its threads while the database reads our side: every
        # payout created in the look-back window, as plain rows (those closing today are
        # judged even without a row: "missing on WeChat's side"); then older payouts named
        # by the bill's rows, looked up by number.
        scan = store.start_scan(path, bill_date)
        store.stage_rows(
            await payouts_service.reconciliation_rows(uow, start, end, lookback_days=lookback_days)
        )
        try:
            loaded = scan.join()
        except BillRejectedByStore as rejected:
            raise _bill_error(rejected.error) from None
        if loaded.other_days:
            raise BillDateMismatch(
                f"the bill of {bill_date} holds rows booked on {', '.join(loaded.other_days[:3])}"
            )
        earliest = bill_date - timedelta(days=lookback_days)
        matched, run_days = await _match(uow, store, merchant_id, earliest, bill_date)
        # Payout rows with no candidate: an older payout (looked up by number, then matched
        # again with its history), or a row that is not ours at all.
        unknown = [row.number for row in matched.to_judge if not row.has_payout]
        older = await payouts_service.records_by_numbers(uow, unknown) if unknown else []
        if older:
            store.load_payouts(older, bill_date, append=True)
            earliest = min(earliest, *(domain.beijing_day(r.created_at) for r in older))
            matched, run_days = await _match(uow, store, merchant_id, earliest, bill_date)
    # The full records of the few payouts to judge (≈ the differences), read by number in
    # this same transaction.
    seen = {r.bill_number for r in older}
    wanted = [row.number for row in matched.to_judge if row.has_payout and row.number not in seen]
    records = [*older, *await payouts_service.records_by_numbers(uow, wanted)] if wanted else older
    judged, unverified = judge(matched.to_judge, records, bill_date, run_days)
    carries, totals = matched.carries, matched.totals
    run = await _replace_run(
        uow,
        ReconciliationRun(
            id=uuid.uuid4(),
            merchant_id=merchant_id,
            bill_date=bill_date,
            bill_kind=FUND_FLOW,
            source=source,
            file_sha1=file_sha1(),
            row_count=loaded.row_count,
            payout_row_count=totals.payout_rows,
            expense_count=totals.expense_count,
            expense_fen=totals.expense_fen,
            income_count=totals.income_count,
            income_fen=totals.income_fen,
            other_expense_fen=totals.other_expense_fen,
            other_income_fen=totals.other_income_fen,
            matched_count=totals.matched,
            closed_count=totals.closed,
            carried_count=len(carries),
            unverified_count=unverified,
            difference_count=len(judged),
            stale=False,
            created_at=uow.clock.now(),
            created_by=created_by[:200],
        ),
        judged,
        carries,
    )
    log.info(
        "reconciliation.run.recorded",
        merchant_id=merchant_id,
        bill_date=str(bill_date),
        rows=loaded.row_count,
        fast_path=loaded.fast_path,
        differences=len(judged),
        unverified=unverified,
    )
    return run


async def _match(
    uow: UnitOfWork, store: BillStore, merchant_id: str, earliest: date, bill_date: date
) -> tuple[Matched, frozenset[date]]:
    """Join with the rows carried by runs since ``earliest``; also which of those days ran."""
    carries = CarryRepository(uow)
    store.load_prior(await carries.prior(merchant_id, FUND_FLOW, earliest, bill_date))
    run_days = await RunRepository(uow).days_with_runs(merchant_id, FUND_FLOW, earliest, bill_date)
    return store.match(), frozenset(run_days)


def judge(
    rows: Sequence[EvidenceRow],
    payouts: Sequence[PayoutRecord],
    bill_date: date,
    run_days: frozenset[date],
) -> tuple[list[_Judged], int]:
    """Apply ``domain.classify`` to every number the store could not clear in SQL; returns
    the findings and how many payouts could not be judged for lack of history."""
    wanted = {row.number for row in rows if row.has_payout}
    by_number = {p.bill_number: p for p in payouts if p.bill_number in wanted}
    judged: list[_Judged] = []
    unverified = 0
    for row in rows:
        record = by_number.get(row.number) if row.has_payout else None
        verdict = domain.classify(_evidence(row, record, bill_date, run_days))
        unverified += verdict.unverified
        judged.extend(_Judged(row.number, f, record, row) for f in verdict.findings)
    return judged, unverified


def _evidence(
    row: EvidenceRow, record: PayoutRecord | None, day: date, run_days: frozenset[date]
) -> Evidence:
    facts = None
    if record is not None:
        created = domain.beijing_day(record.created_at)
        facts = PayoutFacts(
            amount_fen=record.amount_fen,
            state=record.state,
            created_offset_days=(created - day).days,
            closure=domain.closure(record.finished_at, day),
            history_complete=domain.history_complete(created, day, run_days),
        )
    return Evidence(row.number, row.today, row.prior, facts)


async def _replace_run(
    uow: UnitOfWork,
    run: ReconciliationRun,
    judged: Sequence[_Judged],
    carries: Sequence[tuple[str, int, int, int, int]],
) -> ReconciliationRun:
    runs = RunRepository(uow)
    differences = DifferenceRepository(uow)
    kept: dict[tuple[str, DifferenceClass], tuple[datetime, str | None, str | None]] = {}
    # Serialises two imports of the same day: the second waits for the first's row lock.
    existing = await runs.for_day(run.merchant_id, run.bill_date, run.bill_kind)
    # Later days were judged with what this day carried (or without this day at all): they
    # go stale unless this is a re-run that carries exactly the same rows.
    later_affected = True
    if existing is not None:
        kept = await differences.resolutions(existing.id)
        later_affected = await CarryRepository(uow).for_run(existing.id) != set(carries)
        await runs.delete_run(existing.id)
    runs.add(run)
    await uow.session.flush()
    now = uow.clock.now()
    rows = []
    for item in judged:
        record, finding = item.record, item.finding
        resolved: tuple[datetime, str | None, str | None] | None = kept.get(
            (item.number, finding.cls)
        )
        if resolved is None and finding.cls == DifferenceClass.cross_day:
            resolved = (now, SYSTEM, CROSS_DAY_NOTE)
        rows.append(
            ReconciliationDifference(
                id=uuid.uuid4(),
                brand_id=record.brand_id if record else None,
                run_id=run.id,
                bill_date=run.bill_date,
                difference_class=finding.cls,
                bill_number=item.number[:64],
                payout_id=record.payout_id if record else None,
                campaign_id=record.campaign_id if record else None,
                payout_state=str(record.state) if record else None,
                payout_mode=str(record.mode) if record else None,
                expected_fen=record.amount_fen if record else None,
                amount_fen=finding.amount_fen,
                expense_count=item.row.today.expense_count,
                expense_fen=item.row.today.expense_fen,
                income_count=item.row.today.income_count,
                income_fen=item.row.today.income_fen,
                booked_at=_booked(item.row.first_booked_at),
                detail=finding.detail[:300],
                resolved_at=resolved[0] if resolved else None,
                resolved_by=resolved[1] if resolved else None,
                resolution_note=resolved[2] if resolved else None,
                created_at=now,
            )
        )
    differences.add_all(rows)
    found = domain.totals([(item.number, item.finding) for item in judged])
    runs.add_totals(
        ReconciliationClassTotal(
            run_id=run.id, difference_class=cls, count=total.count, amount_fen=total.amount_fen
        )
        for cls, total in found.items()
    )
    await uow.session.flush()
    await CarryRepository(uow).add_many(run.id, list(carries))
    if later_affected:
        await runs.mark_later_stale(run.merchant_id, run.bill_kind, run.bill_date)
    await uow.session.flush()
    return run


async def _record_trade_run(
    uow: UnitOfWork,
    path: Path,
    *,
    bill_date: date,
    merchant_id: str,
    source: str,
    by: str,
) -> ReconciliationRun:
    """A trade bill holds pay-in orders, which Jinli does not create (payouts appear only in
    the fund-flow bill): it is checked in full (header, amounts, summary, day) and its totals
    are recorded, with nothing to match."""
    rows = 0
    orders = refunds = 0
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = read_trade_bill(handle)
            for row in reader:
                rows += 1
                if not row.trade_time.startswith(bill_date.isoformat()):
                    raise BillDateMismatch(
                        f"line {row.line}: a trade of {row.trade_time[:10]} in the bill of "
                        f"{bill_date}"
                    )
                orders += row.settlement_total_fen or 0
                refunds += row.refund_fen or 0
    except wx_errors.BillError as error:
        raise _bill_error(error) from None
    except UnicodeDecodeError:
        raise BillRejected("the file is not UTF-8 text") from None
    run = ReconciliationRun(
        id=uuid.uuid4(),
        merchant_id=merchant_id,
        bill_date=bill_date,
        bill_kind=TRADE,
        source=source,
        file_sha1=_sha1(path),
        row_count=rows,
        payout_row_count=0,
        expense_count=0,
        expense_fen=0,
        income_count=0,
        income_fen=0,
        other_expense_fen=refunds,
        other_income_fen=orders,
        matched_count=0,
        closed_count=0,
        carried_count=0,
        unverified_count=0,
        difference_count=0,
        stale=False,
        created_at=uow.clock.now(),
        created_by=by[:200],
    )
    return await _replace_run(uow, run, [], [])


async def reconcile_bytes(
    uow: UnitOfWork,
    data: bytes,
    *,
    bill_date: date,
    merchant_id: str,
    source: Literal["fetch", "file", "upload"] = "upload",
    created_by: str = SYSTEM,
    workdir: Path | None = None,
) -> ReconciliationRun:
    """:func:`reconcile_file` for a bill held in memory (the console upload). A gzip file, as
    WeChat serves it with ``tar_type=GZIP``, is accepted too."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "bill.csv"
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                raise BillTruncated("the gzip file is damaged or cut off") from None
        path.write_bytes(data)
        return await reconcile_file(
            uow,
            path,
            bill_date=bill_date,
            merchant_id=merchant_id,
            source=source,
            created_by=created_by,
            workdir=workdir,
        )


async def due_days(uow: UnitOfWork, merchant_id: str, *, lookback_days: int = 7) -> list[date]:
    """Days of the look-back window whose fund-flow bill is published and that have no run,
    or only a stale one (an earlier day changed after it ran), oldest first."""
    days = domain.fetchable_days(uow.clock.now(), lookback_days)
    if not days:
        return []
    runs = await RunRepository(uow).staleness(
        merchant_id, FUND_FLOW, days[0], days[-1] + timedelta(days=1)
    )
    return [d for d in days if runs.get(d, True)]


BILL_SOURCE = "reconciliation.bill_source"
"""Key in ``Runtime.extras`` of a zero-argument callable returning the WeChat Pay v3 client
(a :class:`BillSource`) and its mchid; the app layer puts it there. Edges (the console's
"fetch from WeChat Pay") use it through :func:`bill_source`."""


def bill_source(extras: Mapping[str, Any]) -> tuple[BillSource, str]:
    """The merchant's bill source and mchid wired by the app layer."""
    factory = extras.get(BILL_SOURCE)
    if factory is None:
        raise BillSourceUnavailable()
    source, merchant_id = factory()
    return source, str(merchant_id)


async def import_bill(
    uow: UnitOfWork,
    actor: Actor,
    bill: bytes | Path,
    *,
    bill_date: date,
    merchant_id: str,
    source: Literal["fetch", "upload"],
    workdir: Path | None = None,
) -> RunSummary:
    """A finance operator reconciles a merchant's day with an uploaded bill (bytes, plain or
    gzip) or one just fetched from WeChat Pay (a file). Needs a system unit of work (the bill
    covers every brand); the audit entry goes to the operator's brand in the same
    transaction. A rejected bill raises before anything is written."""
    actor.require(Permission.budget_fund)
    by = _by(actor)
    if isinstance(bill, Path):
        run = await reconcile_file(
            uow,
            bill,
            bill_date=bill_date,
            merchant_id=merchant_id,
            source=source,
            created_by=by,
            workdir=workdir,
        )
    else:
        run = await reconcile_bytes(
            uow,
            bill,
            bill_date=bill_date,
            merchant_id=merchant_id,
            source=source,
            created_by=by,
            workdir=workdir,
        )
    accounts_service.record_audit(
        uow,
        actor,
        "reconciliation.bill_imported",
        "reconciliation_run",
        run.id,
        merchant_id=merchant_id,
        bill_date=str(bill_date),
        source=source,
        sha1=run.file_sha1,
        rows=run.row_count,
        differences=run.difference_count,
    )
    await uow.session.flush()
    return await summarise(uow, run)


# ---------------------------------------------------------------------------------------------
# Reading runs and differences


async def get_run(uow: UnitOfWork, merchant_id: str, bill_date: date) -> RunSummary:
    """The fund-flow run of a merchant's day with its per-class totals (system scope)."""
    run = await RunRepository(uow).for_day(merchant_id, bill_date, FUND_FLOW)
    if run is None:
        raise RunNotFound()
    return await summarise(uow, run)


async def summarise(uow: UnitOfWork, run: ReconciliationRun) -> RunSummary:
    totals = {t.difference_class: t for t in await RunRepository(uow).totals(run.id)}
    return RunSummary(
        run=RunRead.model_validate(run),
        classes=[
            ClassTotalRead(
                difference_class=cls,
                count=totals[cls].count if cls in totals else 0,
                amount_fen=totals[cls].amount_fen if cls in totals else 0,
            )
            for cls in DifferenceClass
        ],
    )


async def list_runs(
    uow: UnitOfWork, page: PageRequest, *, merchant_id: str | None = None
) -> Page[ReconciliationRun]:
    """Runs, newest day first. Merchant-wide totals: system scope (CLI, platform operators)."""
    repo = RunRepository(uow)
    return await repo.page(repo.listing(merchant_id), page)


async def list_differences(
    uow: UnitOfWork,
    actor: Actor,
    page: PageRequest,
    *,
    campaign_id: uuid.UUID | None = None,
    bill_date: date | None = None,
    cls: DifferenceClass | None = None,
    open_only: bool = False,
    run_id: uuid.UUID | None = None,
) -> Page[ReconciliationDifference]:
    """The acting brand's differences (the session guard scopes them), newest day first."""
    actor.require(Permission.ledger_read)
    repo = DifferenceRepository(uow)
    stmt = repo.listing(
        run_id=run_id, campaign_id=campaign_id, bill_date=bill_date, cls=cls, open_only=open_only
    )
    return await repo.page(stmt, page)


async def _overviews(uow: UnitOfWork, runs: Sequence[ReconciliationRun]) -> list[RunOverview]:
    counts = await DifferenceRepository(uow).by_run_and_class([r.id for r in runs])
    by_run: dict[uuid.UUID, dict[DifferenceClass, tuple[int, int, int]]] = {}
    for run_id, cls, count, fen, open_count in counts:
        by_run.setdefault(run_id, {})[cls] = (count, fen, open_count)
    overviews = []
    for run in runs:
        mine = by_run.get(run.id, {})
        open_count = sum(o for _, _, o in mine.values())
        overviews.append(
            RunOverview(
                id=run.id,
                merchant_id=run.merchant_id,
                bill_date=run.bill_date,
                bill_kind=run.bill_kind,
                source=run.source,
                stale=run.stale,
                created_at=run.created_at,
                created_by=run.created_by,
                classes=[
                    ClassTotalRead(
                        difference_class=cls,
                        count=mine.get(cls, (0, 0, 0))[0],
                        amount_fen=mine.get(cls, (0, 0, 0))[1],
                    )
                    for cls in DifferenceClass
                ],
                open_count=open_count,
                resolved_count=sum(n for n, _, _ in mine.values()) - open_count,
            )
        )
    return overviews


async def brand_runs(
    uow: UnitOfWork, actor: Actor, page: PageRequest, *, merchant_id: str | None = None
) -> Page[RunOverview]:
    """Every run (fund-flow and trade), newest day first, each with the acting brand's own
    differences by class (see :class:`RunOverview`)."""
    actor.require(Permission.ledger_read)
    repo = RunRepository(uow)
    runs = await repo.page(repo.listing(merchant_id), page)
    return Page(
        items=await _overviews(uow, runs.items),
        total=runs.total,
        limit=runs.limit,
        offset=runs.offset,
    )


async def brand_run(uow: UnitOfWork, actor: Actor, run_id: uuid.UUID) -> RunOverview:
    """One run with the acting brand's differences by class."""
    actor.require(Permission.ledger_read)
    run = await RunRepository(uow).get(run_id)
    if run is None:
        raise RunNotFound()
    (overview,) = await _overviews(uow, [run])
    return overview


async def list_run_differences(
    uow: UnitOfWork,
    run_id: uuid.UUID,
    page: PageRequest,
    *,
    open_only: bool = False,
    unattributed: bool = False,
) -> Page[ReconciliationDifference]:
    """Every difference of one run, all brands and the unattributed ones (system scope)."""
    repo = DifferenceRepository(uow)
    return await repo.page(
        repo.listing(run_id=run_id, open_only=open_only, unattributed=unattributed), page
    )


def _by(actor: Actor) -> str:
    """Who did it, as stored on runs and resolutions: the name people read, then the
    actor's kind and id (e.g. "李财务 (operator:5873…)")."""
    return (
        f"{actor.name} ({actor.kind}:{actor.id})" if actor.id else f"{actor.kind}:{actor.name}"
    )[:200]


def _check_note(note: str) -> str:
    note = note.strip()
    if not 1 <= len(note) <= 2000:
        raise ResolutionNoteRequired()
    return note


async def resolve(
    uow: UnitOfWork, actor: Actor, difference_id: uuid.UUID, note: str
) -> ReconciliationDifference:
    """Finance settles a difference of its brand, with a note (audited)."""
    actor.require(Permission.budget_fund)
    note = _check_note(note)
    diff = await DifferenceRepository(uow).get(difference_id, for_update=True)
    if diff is None:
        raise DifferenceNotFound()
    if diff.resolved_at is not None:
        raise DifferenceAlreadyResolved()
    diff.resolved_at = uow.clock.now()
    diff.resolved_by = _by(actor)
    diff.resolution_note = note
    accounts_service.record_audit(
        uow,
        actor,
        "reconciliation.difference_resolved",
        "reconciliation_difference",
        diff.id,
        difference_class=str(diff.difference_class),
        bill_number=diff.bill_number,
        bill_date=str(diff.bill_date),
        amount_fen=diff.amount_fen,
        note=note[:200],
    )
    await uow.session.flush()
    return diff


async def resolve_many(
    uow: UnitOfWork, actor: Actor, difference_ids: Sequence[uuid.UUID], note: str
) -> list[ReconciliationDifference]:
    """Resolve several differences of the brand with one note: all of them or none (the
    first that is unknown or already resolved raises, and the edge rolls back)."""
    return [await resolve(uow, actor, d, note) for d in dict.fromkeys(difference_ids)]


async def resolve_unattributed(
    uow: UnitOfWork, difference_id: uuid.UUID, note: str, *, by: str
) -> ReconciliationDifference:
    """Settle a difference that belongs to no brand (a bill row with no payout of ours):
    system scope only, logged (the audit log is per brand)."""
    if not uow.system:
        raise RuntimeError("unattributed differences are resolved in a system scope")
    note = _check_note(note)
    diff = await DifferenceRepository(uow).get(difference_id, for_update=True)
    if diff is None or diff.brand_id is not None:
        raise DifferenceNotFound()
    if diff.resolved_at is not None:
        raise DifferenceAlreadyResolved()
    diff.resolved_at = uow.clock.now()
    diff.resolved_by = by[:200]
    diff.resolution_note = note
    log.info(
        "reconciliation.difference.resolved",
        difference_id=str(diff.id),
        bill_number=diff.bill_number,
        by=by,
    )
    await uow.session.flush()
    return diff


async def difference_brand(uow: UnitOfWork, difference_id: uuid.UUID) -> uuid.UUID | None:
    """The brand a difference belongs to (None: unattributed); system scope."""
    diff = await DifferenceRepository(uow).get(difference_id)
    if diff is None:
        raise DifferenceNotFound()
    return diff.brand_id


async def is_clean(uow: UnitOfWork, campaign_id: uuid.UUID) -> bool:
    """True when no difference touching the campaign is open (none found, or every one
    resolved). The settle gate of a campaign. Works in the campaign's brand scope or a system
    scope. It says nothing about bills not imported yet."""
    return await DifferenceRepository(uow).open_count_for_campaign(campaign_id) == 0


BLOCKER_UNRECONCILED = "WeChat Pay bills not reconciled yet"
BLOCKER_STALE = "Reconciliation runs to redo (an earlier day changed)"
BLOCKER_OPEN = "Open reconciliation differences"
"""The fixed part of each settlement blocker (before ``": "``): the console translates it."""
MAX_DAYS_NAMED = 5


def _days(days: Sequence[date]) -> str:
    named = ", ".join(str(d) for d in days[:MAX_DAYS_NAMED])
    more = len(days) - MAX_DAYS_NAMED
    return f"{named} (+{more})" if more > 0 else named


async def settlement_blockers(
    uow: UnitOfWork, campaign_id: uuid.UUID, *, merchant_id: str | None = None
) -> list[str]:
    """Why the campaign may not be settled yet; an empty list means it may.

    A campaign settles only when (a) every Beijing day on which one of its payouts was
    created or finished has a fund-flow reconciliation run that is not stale (WeChat Pay
    publishes a day's bill at 10:00 the next day, so today's payouts always block until
    then), and (b) no difference touching it is open (:func:`is_clean`). A campaign without
    payouts has no blockers. Runs of any merchant count unless ``merchant_id`` is given.

    Each reason reads ``"<fixed sentence>: <details>"``; the fixed part is one of
    ``BLOCKER_*``. Works in the campaign's brand scope (or a system scope).
    """
    days = await payouts_service.activity_days(uow, campaign_id)
    if not days:
        return []
    runs = await RunRepository(uow).staleness(
        merchant_id, FUND_FLOW, days[0], days[-1] + timedelta(days=1)
    )
    reasons = []
    missing = [d for d in days if d not in runs]
    if missing:
        reasons.append(f"{BLOCKER_UNRECONCILED}: {_days(missing)}")
    stale = [d for d in days if runs.get(d)]
    if stale:
        reasons.append(f"{BLOCKER_STALE}: {_days(stale)}")
    open_count = await DifferenceRepository(uow).open_count_for_campaign(campaign_id)
    if open_count:
        reasons.append(f"{BLOCKER_OPEN}: {open_count}")
    return reasons


async def campaign_reconciliation(
    uow: UnitOfWork, campaign_id: uuid.UUID
) -> CampaignReconciliation:
    """Open and resolved differences of a campaign, for the console and the settle page."""
    diffs = await DifferenceRepository(uow).for_campaign(campaign_id)
    open_diffs = [d for d in diffs if d.resolved_at is None]
    by_class = dict.fromkeys(BLOCKING_CLASSES, 0)
    for diff in open_diffs:
        by_class[diff.difference_class] = by_class.get(diff.difference_class, 0) + 1
    return CampaignReconciliation(
        campaign_id=campaign_id,
        clean=not open_diffs,
        open_count=len(open_diffs),
        resolved_count=len(diffs) - len(open_diffs),
        open_by_class=by_class,
    )


# ---------------------------------------------------------------------------------------------
# The finance pack


@dataclass(frozen=True, slots=True)
class FinancePack:
    filename: str
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class _Money:
    """A display amount: yuan with two decimals, and the exact fen beside it (two cells)."""

    fen: int | None


Cell = str | int | _Money | None


@dataclass(frozen=True, slots=True)
class _Section:
    key: str
    title: str
    """Sheet name: Chinese and English (≤ 31 characters)."""
    headers: tuple[str, ...]
    """One per cell: an amount column has two headers (yuan, fen)."""
    rows: list[tuple[Cell, ...]]


def _h(zh: str, en: str) -> str:
    return f"{zh} {en}"


AMOUNT_HEADERS = (_h("金额(元)", "Amount (CNY)"), _h("金额(分)", "Amount (fen)"))

STATE_LABELS = {
    PayoutState.pending: "待发放 pending",
    PayoutState.sending: "发放中 sending",
    PayoutState.unknown: "待确认 unknown",
    PayoutState.accepted: "已受理 accepted",
    PayoutState.awaiting_user: "待领取 awaiting user",
    PayoutState.succeeded: "已到账 succeeded",
    PayoutState.failed: "失败/退回 failed or returned",
    PayoutState.review: "人工处理 review",
}
MODE_LABELS = {
    PayoutMode.transfer: "商家转账 transfer",
    PayoutMode.red_packet: "现金红包 cash red packet",
    PayoutMode.brand_red_packet: "品牌红包 brand red packet",
}
CLASS_LABELS = {
    DifferenceClass.missing_on_our_side: "我方缺失 missing on our side",
    DifferenceClass.missing_on_wechat: "微信缺失 missing on WeChat's side",
    DifferenceClass.amount_mismatch: "金额不符 amount mismatch",
    DifferenceClass.status_mismatch: "状态不符 status mismatch",
    DifferenceClass.duplicate: "重复出款 duplicate",
    DifferenceClass.cross_day: "跨日 cross-day",
}
TX_LABELS = {
    "fund": "充值 funding",
    "reserve": "预占 reserve",
    "post": "出款 paid",
    "void": "释放 released",
    "refund": "退回 refunded",
    "withdraw": "退还品牌 returned to brand",
}


def _beijing(at: datetime | None) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S") if at else ""


def _sections(
    campaign_name: str,
    month: str,
    records: list[PayoutRecord],
    diffs: list[ReconciliationDifference],
    movements: list[Any],
    balances: Any,
    generated: datetime,
) -> list[_Section]:
    paid = [r for r in records if r.state == PayoutState.succeeded]
    failed = [r for r in records if r.state == PayoutState.failed]
    reissues = [r for r in records if r.attempt > 0]
    by_kind: dict[str, int] = {}
    for tx in movements:
        by_kind[str(tx.kind)] = by_kind.get(str(tx.kind), 0) + int(tx.amount_fen)
    open_diffs = [d for d in diffs if d.resolved_at is None]
    summary: list[tuple[Cell, ...]] = [
        ("活动 Campaign", campaign_name, _Money(None)),
        ("月份 Month", month, _Money(None)),
        ("生成时间 Generated (Beijing)", _beijing(generated), _Money(None)),
        ("发放 Payouts", len(records), _Money(sum(r.amount_fen for r in records))),
        ("已到账 Paid", len(paid), _Money(sum(r.amount_fen for r in paid))),
        ("失败/退回 Failed or returned", len(failed), _Money(sum(r.amount_fen for r in failed))),
        ("补发 Reissues", len(reissues), _Money(sum(r.amount_fen for r in reissues))),
        (
            "差异(未处理) Open differences",
            len(open_diffs),
            _Money(sum(d.amount_fen for d in open_diffs)),
        ),
        ("差异(已处理) Resolved differences", len(diffs) - len(open_diffs), _Money(None)),
    ]
    for kind, label in TX_LABELS.items():
        count = sum(1 for tx in movements if str(tx.kind) == kind)
        summary.append((f"本月预算流水 {label}", count, _Money(by_kind.get(kind, 0))))
    for name, label in (
        ("funded", "累计充值 funded"),
        ("available", "可用 available"),
        ("reserved", "预占 reserved"),
        ("paid", "已出款 paid"),
        ("returned", "已退还品牌 returned"),
    ):
        summary.append((f"当前预算 {label}", None, _Money(int(getattr(balances, name)))))
    return [
        _Section(
            "summary",
            "汇总 Summary",
            (_h("项目", "Item"), _h("笔数/值", "Count or value"), *AMOUNT_HEADERS),
            summary,
        ),
        _Section(
            "payouts",
            "发放 Payouts",
            (
                _h("单号", "Bill number"),
                _h("方式", "Mode"),
                _h("状态", "State"),
                *AMOUNT_HEADERS,
                _h("用户", "Openid"),
                _h("创建时间", "Created (Beijing)"),
                _h("完成时间", "Finished (Beijing)"),
                _h("微信单号", "WeChat number"),
                _h("补发次数", "Attempt"),
                _h("失败原因", "Fail reason"),
            ),
            [
                (
                    r.bill_number,
                    MODE_LABELS[r.mode],
                    STATE_LABELS[r.state],
                    _Money(r.amount_fen),
                    r.openid,
                    _beijing(r.created_at),
                    _beijing(r.finished_at),
                    r.wechat_no or "",
                    r.attempt,
                    r.fail_reason or "",
                )
                for r in records
            ],
        ),
        _Section(
            "refunds",
            "退款退回 Refunds",
            (
                _h("单号", "Bill number"),
                _h("方式", "Mode"),
                *AMOUNT_HEADERS,
                _h("原因", "Reason"),
                _h("微信已受理", "Accepted by WeChat"),
                _h("完成时间", "Finished (Beijing)"),
            ),
            [
                (
                    r.bill_number,
                    MODE_LABELS[r.mode],
                    _Money(r.amount_fen),
                    r.fail_reason or "",
                    "是 yes" if r.wechat_no else "否 no",
                    _beijing(r.finished_at),
                )
                for r in failed
            ],
        ),
        _Section(
            "reissues",
            "补发 Reissues",
            (
                _h("单号", "Bill number"),
                _h("原单号", "First number"),
                _h("补发次数", "Attempt"),
                _h("方式", "Mode"),
                _h("状态", "State"),
                *AMOUNT_HEADERS,
                _h("创建时间", "Created (Beijing)"),
            ),
            [
                (
                    r.bill_number,
                    r.bill_number.rsplit("R", 1)[0],
                    r.attempt,
                    MODE_LABELS[r.mode],
                    STATE_LABELS[r.state],
                    _Money(r.amount_fen),
                    _beijing(r.created_at),
                )
                for r in reissues
            ],
        ),
        _Section(
            "differences",
            "差异 Differences",
            (
                _h("账单日", "Bill day"),
                _h("类别", "Class"),
                _h("单号", "Bill number"),
                *AMOUNT_HEADERS,
                _h("应付(分)", "Expected (fen)"),
                _h("我方状态", "Our state"),
                _h("说明", "Detail"),
                _h("处理状态", "Status"),
                _h("处理人", "Resolved by"),
                _h("处理说明", "Resolution"),
            ),
            [
                (
                    str(d.bill_date),
                    CLASS_LABELS[d.difference_class],
                    d.bill_number,
                    _Money(d.amount_fen),
                    d.expected_fen,
                    d.payout_state or "",
                    d.detail,
                    "已处理 resolved" if d.resolved_at else "未处理 open",
                    d.resolved_by or "",
                    d.resolution_note or "",
                )
                for d in diffs
            ],
        ),
        _Section(
            "budget",
            "预算流水 Budget movements",
            (_h("时间", "Time (Beijing)"), _h("类型", "Kind"), *AMOUNT_HEADERS, _h("备注", "Memo")),
            [
                (
                    _beijing(tx.at),
                    TX_LABELS.get(str(tx.kind), str(tx.kind)),
                    _Money(int(tx.amount_fen)),
                    tx.memo,
                )
                for tx in movements
            ],
        ),
    ]


def _cells(row: tuple[Cell, ...], yuan: Callable[[int], Any]) -> list[Any]:
    """A row as sheet cells: each amount becomes two cells, yuan then fen."""
    out: list[Any] = []
    for cell in row:
        if isinstance(cell, _Money):
            out.extend((None, None) if cell.fen is None else (yuan(cell.fen), cell.fen))
        else:
            out.append(cell)
    return out


def _xlsx(sections: list[_Section]) -> bytes:
    # openpyxl ships no type information (types-openpyxl is not a dependency).
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    book = Workbook(write_only=True)
    for section in sections:
        sheet = book.create_sheet(section.title[:31])
        header = []
        for name in section.headers:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = Font(bold=True)
            header.append(cell)
        sheet.append(header)
        for row in section.rows:
            cells = []
            # Yuan as an exact Decimal shown with two decimals (no float on the way).
            for value in _cells(row, lambda fen: Decimal(fen).scaleb(-2)):
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, Decimal):
                    cell.number_format = "#,##0.00"
                cells.append(cell)
            sheet.append(cells)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _csv_zip(sections: list[_Section]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for number, section in enumerate(sections, start=1):
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(section.headers)
            for row in section.rows:
                values = _cells(row, lambda fen: format_yuan(Fen(fen)))
                writer.writerow(["" if v is None else v for v in values])
            # A BOM, so that Excel opens the Chinese headers as UTF-8.
            archive.writestr(f"{number:02d}_{section.key}.csv", "\ufeff" + text.getvalue())
    return buffer.getvalue()


async def _all_movements(uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID) -> list[Any]:
    movements: list[Any] = []
    offset = 0
    while True:
        page = await campaigns_service.ledger_transactions(
            uow, actor, campaign_id, PageRequest(limit=200, offset=offset)
        )
        movements.extend(page.items)
        offset += len(page.items)
        if not page.items or offset >= page.total:
            return movements


async def finance_pack(
    uow: UnitOfWork,
    actor: Actor,
    campaign_id: uuid.UUID,
    month: str,
    fmt: Literal["xlsx", "csv"] = "xlsx",
) -> FinancePack:
    """The month's finance pack of a campaign: summary, payouts, refunds, reissues,
    differences and budget movements, as one xlsx workbook (a sheet each) or a zip of CSV
    files. Amounts appear in yuan with two decimals and in fen; headers in Chinese and English.
    Payouts are those created in the month (Beijing time), movements those booked in it."""
    actor.require(Permission.exports)
    campaign = await campaigns_service.get(uow, actor, campaign_id)
    try:
        start, end = domain.month_bounds(month)
    except ValueError as error:
        raise InvalidMonth(str(error)) from None
    records = [
        r
        for r in await payouts_service.records_created_between(uow, start, end)
        if r.campaign_id == campaign_id
    ]
    in_month = {r.payout_id for r in records}
    diffs = [
        d
        for d in await DifferenceRepository(uow).for_campaign(campaign_id)
        if d.payout_id in in_month or month == d.bill_date.isoformat()[:7]
    ]
    movements = [tx for tx in await _all_movements(uow, actor, campaign_id) if start <= tx.at < end]
    movements.sort(key=lambda tx: (tx.at, tx.id))
    balances = await campaigns_service.budget(uow, actor, campaign_id)
    sections = _sections(campaign.name, month, records, diffs, movements, balances, uow.clock.now())
    stem = f"jinli-finance-{str(campaign_id)[:8]}-{month}"
    accounts_service.record_audit(
        uow, actor, "reconciliation.finance_pack", "campaign", campaign_id, month=month, fmt=fmt
    )
    if fmt == "csv":
        return FinancePack(f"{stem}.zip", "application/zip", _csv_zip(sections))
    return FinancePack(
        f"{stem}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _xlsx(sections),
    )
