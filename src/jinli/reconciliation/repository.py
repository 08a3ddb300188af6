"""Every query of reconciliation: the SQLAlchemy repositories of runs, differences and carries,
and :class:`BillStore`, an embedded DuckDB that reads a fund-flow bill and joins it with our
payouts.

Why DuckDB: a day's bill can hold a million rows. The streaming parser of
``integrations.wechatpay.bills`` costs ≈ 15 µs a row in Python; DuckDB reads the same CSV in
parallel at C speed and aggregates it per number, so only the numbers that need a judgement
(≈ the differences) come back to Python, where :func:`domain.classify` judges them.

The fast path accepts only the canonical file WeChat writes: the documented header, every field
backquoted, amounts as ``-?digits.dd``, 收支类型 收入/支出, the summary header and row last, and
a summary that agrees with the rows. Anything else (a BOM-less older header with extra columns,
``1.8`` amounts, blank lines between rows…) is read by the streaming parser instead, which
either raises its precise typed error or yields the rows; those rows are written back in the
canonical form and loaded by the fast path. Fen stay exact on both paths, and the tests check
that both give the same rows and totals on the same data.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
from sqlalchemy import Select, case, delete, func, insert, select, update

from jinli.integrations.wechatpay.bills import (
    EXPENSE,
    FUND_FLOW_HEADER,
    FUND_FLOW_SUMMARY_HEADER,
    INCOME,
    FundFlowRow,
    FundFlowSummary,
    format_fund_flow_bill,
    read_fund_flow_bill,
)
from jinli.integrations.wechatpay.errors import BillError
from jinli.kernel.clock import SHANGHAI
from jinli.kernel.money import Fen
from jinli.payouts.domain import PayoutRecord, PayoutState
from jinli.platform.db.repository import Repository
from jinli.reconciliation.domain import (
    OUR_NUMBER_PATTERN,
    PAYOUT_BUSINESS_NAMES,
    Closure,
    DifferenceClass,
    Movements,
    day_bounds,
)
from jinli.reconciliation.models import (
    ReconciliationCarry,
    ReconciliationClassTotal,
    ReconciliationDifference,
    ReconciliationRun,
)

# ---------------------------------------------------------------------------------------------
# SQL repositories


class RunRepository(Repository[ReconciliationRun]):
    model = ReconciliationRun

    async def for_day(self, merchant_id: str, day: date, kind: str) -> ReconciliationRun | None:
        stmt = self.select().where(
            ReconciliationRun.merchant_id == merchant_id,
            ReconciliationRun.bill_date == day,
            ReconciliationRun.bill_kind == kind,
        )
        return (await self.session.scalars(stmt.with_for_update())).first()

    async def days_with_runs(
        self, merchant_id: str, kind: str, start: date, end: date
    ) -> set[date]:
        """Bill days in [start, end) that have a run."""
        stmt = select(ReconciliationRun.bill_date).where(
            ReconciliationRun.merchant_id == merchant_id,
            ReconciliationRun.bill_kind == kind,
            ReconciliationRun.bill_date >= start,
            ReconciliationRun.bill_date < end,
        )
        return set(await self.session.scalars(stmt))

    async def staleness(
        self, merchant_id: str | None, kind: str, start: date, end: date
    ) -> dict[date, bool]:
        """Bill days in [start, end) that have a run (of any merchant when ``merchant_id`` is
        None), each with whether one of its runs is stale."""
        stmt = select(ReconciliationRun.bill_date, ReconciliationRun.stale).where(
            ReconciliationRun.bill_kind == kind,
            ReconciliationRun.bill_date >= start,
            ReconciliationRun.bill_date < end,
        )
        if merchant_id is not None:
            stmt = stmt.where(ReconciliationRun.merchant_id == merchant_id)
        found: dict[date, bool] = {}
        for day, stale in await self.session.execute(stmt):
            found[day] = found.get(day, False) or stale
        return found

    async def delete_run(self, run_id: uuid.UUID) -> None:
        """Remove a run and everything it wrote (children first: no reliance on cascades)."""
        for model in (ReconciliationDifference, ReconciliationClassTotal, ReconciliationCarry):
            await self.session.execute(delete(model).where(model.run_id == run_id))
        await self.session.execute(delete(ReconciliationRun).where(ReconciliationRun.id == run_id))

    async def mark_later_stale(self, merchant_id: str, kind: str, day: date) -> int:
        """Runs of later days judged with what this day's run carried: flag them to re-run."""
        result = await self.session.execute(
            update(ReconciliationRun)
            .where(
                ReconciliationRun.merchant_id == merchant_id,
                ReconciliationRun.bill_kind == kind,
                ReconciliationRun.bill_date > day,
            )
            .values(stale=True)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def listing(self, merchant_id: str | None = None) -> Select[ReconciliationRun]:
        stmt = self.select().order_by(
            ReconciliationRun.bill_date.desc(), ReconciliationRun.merchant_id
        )
        if merchant_id is not None:
            stmt = stmt.where(ReconciliationRun.merchant_id == merchant_id)
        return stmt

    async def totals(self, run_id: uuid.UUID) -> list[ReconciliationClassTotal]:
        stmt = select(ReconciliationClassTotal).where(ReconciliationClassTotal.run_id == run_id)
        return list(await self.session.scalars(stmt))

    def add_totals(self, rows: Iterable[ReconciliationClassTotal]) -> None:
        self.session.add_all(list(rows))


class DifferenceRepository(Repository[ReconciliationDifference]):
    model = ReconciliationDifference

    async def resolutions(
        self, run_id: uuid.UUID
    ) -> dict[tuple[str, DifferenceClass], tuple[datetime, str | None, str | None]]:
        """What finance decided on a run's differences, to keep across a re-run."""
        stmt = self.select().where(
            ReconciliationDifference.run_id == run_id,
            ReconciliationDifference.resolved_at.is_not(None),
        )
        found = {}
        for diff in await self.session.scalars(stmt):
            if diff.resolved_at is not None:
                found[(diff.bill_number, diff.difference_class)] = (
                    diff.resolved_at,
                    diff.resolved_by,
                    diff.resolution_note,
                )
        return found

    def add_all(self, rows: Sequence[ReconciliationDifference]) -> None:
        self.session.add_all(list(rows))

    def listing(
        self,
        *,
        run_id: uuid.UUID | None = None,
        campaign_id: uuid.UUID | None = None,
        bill_date: date | None = None,
        cls: DifferenceClass | None = None,
        open_only: bool = False,
        unattributed: bool = False,
    ) -> Select[ReconciliationDifference]:
        stmt = self.select().order_by(
            ReconciliationDifference.bill_date.desc(),
            ReconciliationDifference.difference_class,
            ReconciliationDifference.bill_number,
        )
        if run_id is not None:
            stmt = stmt.where(ReconciliationDifference.run_id == run_id)
        if campaign_id is not None:
            stmt = stmt.where(ReconciliationDifference.campaign_id == campaign_id)
        if bill_date is not None:
            stmt = stmt.where(ReconciliationDifference.bill_date == bill_date)
        if cls is not None:
            stmt = stmt.where(ReconciliationDifference.difference_class == cls)
        if open_only:
            stmt = stmt.where(ReconciliationDifference.resolved_at.is_(None))
        if unattributed:
            stmt = stmt.where(ReconciliationDifference.campaign_id.is_(None))
        return stmt

    async def by_run_and_class(
        self, run_ids: Sequence[uuid.UUID]
    ) -> list[tuple[uuid.UUID, DifferenceClass, int, int, int]]:
        """(run, class, count, Σ fen, open count) of the scope's differences in these runs."""
        if not run_ids:
            return []
        d = ReconciliationDifference
        stmt = (
            select(
                d.run_id,
                d.difference_class,
                func.count(),
                func.coalesce(func.sum(d.amount_fen), 0),
                func.coalesce(func.sum(case((d.resolved_at.is_(None), 1), else_=0)), 0),
            )
            .where(d.run_id.in_(run_ids))
            .group_by(d.run_id, d.difference_class)
        )
        rows = (await self.session.execute(stmt)).all()
        return [(r, c, int(n), int(f), int(o)) for r, c, n, f, o in rows]

    async def for_campaign(self, campaign_id: uuid.UUID) -> list[ReconciliationDifference]:
        return list(await self.session.scalars(self.listing(campaign_id=campaign_id)))

    async def open_count_for_campaign(self, campaign_id: uuid.UUID) -> int:
        stmt = select(func.count()).select_from(
            self.select()
            .where(
                ReconciliationDifference.campaign_id == campaign_id,
                ReconciliationDifference.resolved_at.is_(None),
            )
            .subquery()
        )
        return int(await self.session.scalar(stmt) or 0)


class CarryRepository(Repository[ReconciliationCarry]):
    model = ReconciliationCarry

    async def prior(
        self, merchant_id: str, kind: str, start: date, end: date
    ) -> list[tuple[str, int, int, int, int]]:
        """Σ of the rows carried by runs of days in [start, end), per number: (number, expense
        count, expense fen, income count, income fen)."""
        stmt = (
            select(
                ReconciliationCarry.bill_number,
                func.sum(ReconciliationCarry.expense_count),
                func.sum(ReconciliationCarry.expense_fen),
                func.sum(ReconciliationCarry.income_count),
                func.sum(ReconciliationCarry.income_fen),
            )
            .join(ReconciliationRun, ReconciliationRun.id == ReconciliationCarry.run_id)
            .where(
                ReconciliationRun.merchant_id == merchant_id,
                ReconciliationRun.bill_kind == kind,
                ReconciliationRun.bill_date >= start,
                ReconciliationRun.bill_date < end,
            )
            .group_by(ReconciliationCarry.bill_number)
        )
        rows = (await self.session.execute(stmt)).all()
        return [(n, int(ec), int(ef), int(ic), int(inf)) for n, ec, ef, ic, inf in rows]

    async def for_run(self, run_id: uuid.UUID) -> set[tuple[str, int, int, int, int]]:
        """The rows one run carried, as in :meth:`prior`."""
        stmt = select(
            ReconciliationCarry.bill_number,
            ReconciliationCarry.expense_count,
            ReconciliationCarry.expense_fen,
            ReconciliationCarry.income_count,
            ReconciliationCarry.income_fen,
        ).where(ReconciliationCarry.run_id == run_id)
        rows = (await self.session.execute(stmt)).all()
        return {(n, int(ec), int(ef), int(ic), int(inf)) for n, ec, ef, ic, inf in rows}

    async def add_many(
        self, run_id: uuid.UUID, rows: Sequence[tuple[str, int, int, int, int]]
    ) -> None:
        for start in range(0, len(rows), 5000):
            chunk = rows[start : start + 5000]
            await self.session.execute(
                insert(ReconciliationCarry),
                [
                    {
                        "run_id": run_id,
                        "bill_number": number,
                        "expense_count": ec,
                        "expense_fen": ef,
                        "income_count": ic,
                        "income_fen": inf,
                    }
                    for number, ec, ef, ic, inf in chunk
                ],
            )


# ---------------------------------------------------------------------------------------------
# The DuckDB bill store


class BillRejectedByStore(Exception):
    """The bill is not canonical and the streaming parser could not read it either (wraps the
    parser's typed :class:`BillError`)."""

    def __init__(self, error: BillError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class LoadedBill:
    """A fund-flow bill in the store: its summary (checked against the rows), its row count,
    and the Beijing days of rows booked on another day than the bill's (none, normally)."""

    summary: FundFlowSummary
    row_count: int
    other_days: tuple[str, ...]
    fast_path: bool


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    """One number that needs a judgement: its rows today, carried rows, and whether one of
    the loaded payouts has this number."""

    number: str
    today: Movements
    prior: Movements
    first_booked_at: str | None
    has_payout: bool


@dataclass(frozen=True, slots=True)
class BillTotals:
    payout_rows: int
    expense_count: int
    expense_fen: int
    income_count: int
    income_fen: int
    other_expense_fen: int
    other_income_fen: int
    matched: int
    closed: int


@dataclass(frozen=True, slots=True)
class Matched:
    """The result of one day's join: what Python must judge, what to carry, the totals."""

    to_judge: list[EvidenceRow]
    carries: list[tuple[str, int, int, int, int]]
    totals: BillTotals


_BQ = "`"
"""WeChat's backquote, which starts every bill field. Inside the store, bill numbers keep it and
ours are written with it: stripping a million numbers costs more than prefixing ours, and the
few numbers that come back to Python lose it there."""
_AMOUNT = r"`-?[0-9]{1,15}\.[0-9]{2}"
"""A canonical bill amount: backquote, optional minus, ≤ 15 digits, exactly two decimals."""
_CHUNK = 4096
"""Rows per write when staging payout rows as CSV."""
_PAYOUT_COLUMNS = {
    "number": "VARCHAR",
    "amount": "BIGINT",
    "state": "VARCHAR",
    "created_offset": "INTEGER",
    "closure": "VARCHAR",
}


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _normalise_header(name: str) -> str:
    return name.strip().replace("（", "(").replace("）", ")")


def _head_and_tail(path: Path) -> tuple[str, list[str]] | None:
    """The first line and the last non-blank lines of a file (UTF-8), or None if unreadable."""
    with path.open("rb") as handle:
        first = handle.readline()
        handle.seek(0, 2)
        size = handle.tell()
        start = max(0, size - 8192)
        handle.seek(start)
        tail = handle.read()
    if start > 0:  # the chunk may begin inside a line (and a character): drop that line
        tail = tail[tail.find(b"\n") + 1 :]
    try:
        head = first.decode("utf-8").removeprefix("\ufeff").rstrip("\r\n")
        tail_text = tail.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return None
    lines = [line for line in tail_text.replace("\r\n", "\n").split("\n") if line.strip()]
    return head, lines


def _csv_source(path: Path, columns: dict[str, str], *, skip: int = 0, bill: bool = False) -> str:
    """A ``read_csv`` with no sniffing: commas only, no quoting (WeChat escapes commas in
    fields, so a plain split is right), and for a bill, short lines padded (the summary)."""
    options = f", skip={skip}, null_padding=true, strict_mode=true" if bill else ""
    return (
        f"read_csv({_sql_str(str(path))}, header=false, delim=',', quote='', escape='',"
        f" auto_detect=false{options}, columns={columns!r})"
    )


PayoutRow = tuple[str, int, str, int, str]
"""One candidate payout as the match reads it: (number, amount fen, state, creation day
relative to the bill day (0, -1, …), where its close falls: a ``Closure`` value)."""


def payout_rows(records: Sequence[PayoutRecord], day: date) -> list[PayoutRow]:
    """Records as :data:`PayoutRow` (``payouts.service.reconciliation_rows`` gives the same
    rows straight from the database; a test holds the two to the same answers)."""
    start, end = day_bounds(day)
    before, today, still_open = Closure.before.value, Closure.today.value, Closure.open.value
    rows: list[PayoutRow] = []
    append = rows.append
    for record in records:
        created = record.created_at
        offset = 0 if start <= created < end else (created.astimezone(SHANGHAI).date() - day).days
        finished = record.finished_at
        if finished is None or finished >= end:
            closure = still_open
        else:
            closure = today if finished >= start else before
        # ``_value_``, not the ``value`` property: that alone is a third of this loop.
        append((record.bill_number, record.amount_fen, record.state._value_, offset, closure))
    return rows


class BillScan:
    """A bill being read into a store on a thread of its own (see ``BillStore.start_scan``)."""

    def __init__(self, store: BillStore, path: Path, day: date) -> None:
        self._store, self._path, self._day = store, path, day
        self._outcome: list[LoadedBill | BaseException | None] = []
        self._thread = threading.Thread(target=self._scan, name="jinli-recon-scan")
        self._thread.start()

    def _scan(self) -> None:
        cursor = self._store.db.cursor()
        try:
            self._outcome.append(self._store._fast_load(self._path, self._day, cursor))
        except BaseException as error:  # re-raised by join(), in the caller's thread
            self._outcome.append(error)
        finally:
            cursor.close()

    def wait(self) -> None:
        self._thread.join()

    def join(self) -> LoadedBill:
        """Wait for the scan; the loaded bill (the streaming parser's reading when the file is
        not canonical), or the rejection. Then view ``payouts`` over the staged rows."""
        self._thread.join()
        loaded = self._outcome[0]
        if isinstance(loaded, BaseException):
            raise loaded
        if loaded is None:
            loaded = self._store._fallback(self._path, self._day)
        self._store._payouts_view()
        return loaded


class BillStore:
    """One in-memory DuckDB database for one reconciliation: the bill aggregated per number,
    the candidate payouts, the rows carried from earlier days. Use as a context manager;
    temporary files are removed on exit.
    """

    def __init__(self, workdir: Path | None = None, *, threads: int | None = None) -> None:
        self._tmp = Path(tempfile.mkdtemp(prefix="jinli-recon-", dir=workdir))
        # Row order never matters here: letting DuckDB write in any order parallelises more.
        config: dict[str, Any] = {
            "temp_directory": str(self._tmp / "spill"),
            "preserve_insertion_order": False,
        }
        if threads is not None:
            config["threads"] = threads
        self.db = duckdb.connect(":memory:", config=config)
        self._bill_path: Path | None = None
        self._day: date | None = None
        self._payout_files: list[Path] = []
        self._scan: BillScan | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._scan is not None:
            self._scan.wait()  # never close DuckDB under a running scan
        self.db.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def temp_path(self, name: str) -> Path:
        return self._tmp / name

    # -- loading -------------------------------------------------------------------------------

    def load(self, path: Path, day: date, payouts: Sequence[PayoutRecord]) -> LoadedBill:
        """Read the bill (table ``r``, view ``b``) and the candidate payouts (view ``payouts``)
        at once: DuckDB scans the bill on its threads while this thread writes the payouts
        out. Raises :class:`BillRejectedByStore` for a bill the streaming parser refuses."""
        return self.load_rows(path, day, payout_rows(payouts, day))

    def load_rows(self, path: Path, day: date, rows: Sequence[PayoutRow]) -> LoadedBill:
        """:meth:`load` with the payouts already as rows (see :data:`PayoutRow`)."""
        scan = self.start_scan(path, day)
        self.stage_rows(rows)
        return scan.join()

    def start_scan(self, path: Path, day: date) -> BillScan:
        """Start reading the bill on DuckDB's threads and return at once, so that the caller
        can fetch our side meanwhile and :meth:`stage_rows` it; ``join()`` the scan before any
        other use of the store (closing the store waits for it too)."""
        self._scan = BillScan(self, path, day)
        return self._scan

    def stage_rows(self, rows: Sequence[PayoutRow]) -> None:
        """Write candidate payouts out for view ``payouts`` (made when the scan is joined).
        Touches only a file: safe while the scan runs."""
        self._payout_files = [*self._payout_files, self._write_rows(rows)]

    def load_fund_flow(self, path: Path, day: date) -> LoadedBill:
        """Read a fund-flow bill into table ``r`` (rows) and view ``b`` (per number): fast path,
        or the streaming parser (which raises :class:`BillRejectedByStore` with its typed
        error for a bad file)."""
        loaded = self._fast_load(path, day, self.db)
        return loaded if loaded is not None else self._fallback(path, day)

    def _fallback(self, path: Path, day: date) -> LoadedBill:
        canonical = self.temp_path("canonical.csv")
        try:
            with path.open(encoding="utf-8-sig", newline="") as source:
                reader = read_fund_flow_bill(source)
                with canonical.open("w", encoding="utf-8", newline="") as sink:
                    sink.writelines(format_fund_flow_bill(reader))
        except BillError as error:
            raise BillRejectedByStore(error) from None
        except ValueError as error:  # a field the canonical writer cannot hold
            raise BillRejectedByStore(BillError(str(error))) from None
        reloaded = self._fast_load(canonical, day, self.db)
        if reloaded is None:  # e.g. an amount beyond 15 digits: exact, but not ours to hold
            raise BillRejectedByStore(BillError("an amount is out of range (more than 10¹⁵ yuan)"))
        return LoadedBill(
            reloaded.summary, reloaded.row_count, reloaded.other_days, fast_path=False
        )

    def _fast_load(self, path: Path, day: date, db: duckdb.DuckDBPyConnection) -> LoadedBill | None:
        """The canonical file: one parallel scan into the columns matching needs (with every
        check as a flag), then totals per number; None when the file is not canonical (the
        caller then uses the streaming parser, which names the problem or reads it)."""
        ends = _head_and_tail(path)
        if ends is None:
            return None
        head, tail = ends
        names = [_normalise_header(name) for name in head.split(",")]
        if sorted(names) != sorted(FUND_FLOW_HEADER) or len(tail) < 2:
            return None
        if tuple(_normalise_header(n) for n in tail[-2].split(",")) != FUND_FLOW_SUMMARY_HEADER:
            return None
        try:
            reader = read_fund_flow_bill([head, tail[-2], tail[-1]], check_summary=False)
            for _ in reader:
                pass
            summary = reader.summary
        except BillError:
            return None
        col = {name: f"c{index}" for index, name in enumerate(names)}
        amount, direction = col["收支金额(元)"], col["收支类型"]
        booked = col["记账时间"]
        ok = " AND ".join(
            [f"prefix({c}, '`')" for c in col.values()]
            + [
                f"regexp_full_match({amount}, {_sql_str(_AMOUNT)})",
                f"regexp_full_match({col['账户结余(元)']}, {_sql_str(_AMOUNT)})",
                f"{direction} IN ({_sql_str('`' + INCOME)}, {_sql_str('`' + EXPENSE)})",
            ]
        )
        named = ", ".join(_sql_str("`" + name) for name in sorted(PAYOUT_BUSINESS_NAMES))
        columns = {f"c{index}": "VARCHAR" for index in range(len(names))}
        try:
            # One parallel scan into the few columns matching needs, with the checks as flags
            # (grouping while scanning costs more: most numbers have a single row).
            db.execute("DROP TABLE IF EXISTS r")
            db.execute(
                f"""CREATE TABLE r AS SELECT
                    -- the number keeps its backquote (see ``_BQ``)
                    {col["业务凭证号"]} AS number,
                    -- exact: the decimal is parsed only where ``ok`` holds, i.e. -?d.dd
                    (TRY_CAST(substr({amount}, 2) AS DECIMAL(17, 2)) * 100)::BIGINT AS fen,
                    {direction} = {_sql_str("`" + EXPENSE)} AS expense,
                    -- the time of day only (8 bytes, stored inline): the day is checked below
                    substr({booked}, 13, 8) AS booked_time,
                    {col["业务名称"]} IN ({named}) AS named,
                    -- the summary lines have five fields: a NULL sixth, whatever the order
                    c5 IS NULL AS short,
                    coalesce({ok}, false) AS ok,
                    prefix({booked}, {_sql_str(f"`{day} ")}) AS on_day
                FROM {_csv_source(path, columns, skip=1, bill=True)}"""  # noqa: S608 - only our constants and a quoted file path are interpolated
            )
            check = db.execute(
                """SELECT count(*) FILTER (WHERE short),
                          count(*) FILTER (WHERE NOT short AND NOT ok),
                          count(*) FILTER (WHERE NOT short),
                          count(*) FILTER (WHERE NOT short AND NOT expense),
                          coalesce(sum(fen) FILTER (WHERE NOT short AND NOT expense), 0),
                          count(*) FILTER (WHERE NOT short AND expense),
                          coalesce(sum(fen) FILTER (WHERE NOT short AND expense), 0),
                          count(*) FILTER (WHERE NOT short AND NOT on_day)
                   FROM r"""
            ).fetchone()
        except duckdb.Error:
            return None
        if check is None:  # pragma: no cover - an aggregate always returns one row
            return None
        short_lines, bad, rows, income_count, income, expense_count, expense, off_day = (
            int(v or 0) for v in check
        )
        # Exactly two short lines (the summary header and row, which are the file's last two
        # lines), every other line a full, well-formed row, and a summary that agrees.
        if short_lines != 2 or bad:
            return None
        counted = FundFlowSummary(rows, income_count, Fen(income), expense_count, Fen(expense))
        if counted != summary:
            return None
        # The two summary lines stay in ``r`` (their number is NULL, so no query of a number
        # sees them): deleting them would rewrite the table.
        # A view: the join that reads it groups as it goes, where a table would first write out
        # a million groups (measured: about 0.05 s of 0.8 at 1 M rows). Counts and sums only:
        # the squares (and first booking) that ``classify`` needs are read from ``r`` for the
        # few numbers it judges (see ``_details``).
        db.execute(
            """CREATE OR REPLACE VIEW b AS SELECT number,
                count(*) FILTER (WHERE expense) AS e_cnt,
                coalesce(sum(fen) FILTER (WHERE expense), 0) AS e_sum,
                count(*) FILTER (WHERE NOT expense) AS i_cnt,
                coalesce(sum(fen) FILTER (WHERE NOT expense), 0) AS i_sum,
                bool_or(named) AS named
            FROM r WHERE NOT short GROUP BY number"""
        )
        other_days: tuple[str, ...] = ()
        if off_day:  # an error path: name the days (one more pass over the file)
            other_days = tuple(
                str(d)
                for (d,) in db.execute(
                    f"""SELECT DISTINCT substr({booked}, 2, 10)
                        FROM {_csv_source(path, columns, skip=1, bill=True)}
                        WHERE c5 IS NOT NULL AND substr({booked}, 2, 10) <> {_sql_str(str(day))}
                        ORDER BY 1"""  # noqa: S608 - only our constants and a quoted file path are interpolated
                ).fetchall()
            )
        self._day = day
        self._bill_path = path
        return LoadedBill(summary, rows, other_days, fast_path=True)

    def rows(self) -> list[FundFlowRow]:
        """Every row of the loaded bill with all its fields, read again by DuckDB with the
        fast path's rules (for the equivalence tests and previews; not used to reconcile)."""
        if self._bill_path is None:
            raise RuntimeError("load a bill first")
        ends = _head_and_tail(self._bill_path)
        if ends is None:  # pragma: no cover - it was read once already
            raise RuntimeError("the bill became unreadable")
        names = [_normalise_header(name) for name in ends[0].split(",")]
        columns = {f"c{index}": "VARCHAR" for index in range(len(names))}
        col = {name: f"c{index}" for index, name in enumerate(names)}
        fen = "CAST(replace(substr({}, 2), '.', '') AS BIGINT)"
        amounts = ("收支金额(元)", "账户结余(元)")
        select_list = ", ".join(
            fen.format(col[name]) if name in amounts else f"substr({col[name]}, 2)"
            for name in FUND_FLOW_HEADER
        )
        source = _csv_source(self._bill_path, columns, skip=1, bill=True)
        result = self.db.execute(
            f"SELECT {select_list} FROM {source} WHERE c5 IS NOT NULL"  # noqa: S608 - only our constants and a quoted file path are interpolated
        ).fetchall()
        return [
            FundFlowRow(
                booked_at=r[0],
                wechat_business_no=r[1],
                flow_no=r[2],
                business_name=r[3],
                business_type=r[4],
                direction=r[5],
                amount_fen=Fen(r[6]),
                balance_fen=Fen(r[7]),
                applicant=r[8],
                remark=r[9],
                voucher_no=r[10],
            )
            for r in result
        ]

    def per_number(self) -> dict[str, tuple[int, int, int, int, str]]:
        """(expense count, expense fen, income count, income fen, first 记账时间) per number."""
        rows = self.db.execute(
            """SELECT b.number, e_cnt, e_sum, i_cnt, i_sum, f.first_at FROM b JOIN (
                   SELECT number, min(booked_time) AS first_at FROM r GROUP BY number
               ) f ON f.number = b.number"""
        ).fetchall()
        return {
            n[1:]: (int(ec), int(es), int(ic), int(isum), f"{self._day} {at}")
            for n, ec, es, ic, isum, at in rows
        }

    # -- our side ------------------------------------------------------------------------------

    def _write_rows(self, rows: Sequence[PayoutRow]) -> Path:
        """The payout rows as CSV lines, for DuckDB to read in parallel (reading Python
        objects into DuckDB one value at a time costs several times more). Written a few
        thousand rows at a time: the same small buffers are reused, where one big string
        would cost a page fault per fresh 4 KiB (a third of the time, on a VM)."""
        path = self.temp_path(f"payouts-{uuid.uuid4().hex}.csv")
        with path.open("w", encoding="utf-8", newline="") as sink:
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                sink.write("".join([f"`{n},{a},{s},{o},{c}\n" for n, a, s, o, c in chunk]))
        return path

    def _create(self, table: str, path: Path, columns: dict[str, str]) -> None:
        self.db.execute(f"DROP TABLE IF EXISTS {table}")
        self.db.execute(f"CREATE TABLE {table} AS SELECT * FROM {_csv_source(path, columns)}")  # noqa: S608 - only our constants and a quoted file path are interpolated
        path.unlink()

    def _payouts_view(self) -> None:
        """View ``payouts`` over the payout files written so far: the join reads them in
        parallel once, nothing is copied into a table first. State, close and creation day
        become the flags the match tests, before the join: a million rows then carry one
        byte each instead of two strings and an integer through the hash table (measured:
        about 0.06 CPU-seconds of 0.7 at 1 M payouts)."""
        files = "[" + ", ".join(_sql_str(str(f)) for f in self._payout_files) + "]"
        self.db.execute(
            f"""CREATE OR REPLACE VIEW payouts AS SELECT number, amount,
                state = {_sql_str(PayoutState.succeeded.value)} AS paid,
                state = {_sql_str(PayoutState.failed.value)} AS failed,
                state = {_sql_str(PayoutState.pending.value)} AS never_sent,
                closure = {_sql_str(Closure.today.value)} AS closes_today,
                closure = {_sql_str(Closure.open.value)} AS still_open,
                created_offset = 0 AS created_today
                FROM read_csv({files}, header=false, delim=',', quote='', escape='',
                    auto_detect=false, columns={_PAYOUT_COLUMNS!r})"""  # noqa: S608 - only our constants and quoted file paths are interpolated
        )

    def load_payouts(
        self, records: Sequence[PayoutRecord], day: date, *, append: bool = False
    ) -> None:
        """View ``payouts``: candidate payouts, with the day they were created relative to
        ``day`` and where their close falls; ``append`` adds to the ones loaded before."""
        path = self._write_rows(payout_rows(records, day))
        self._payout_files = [*self._payout_files, path] if append else [path]
        self._payouts_view()

    def load_prior(self, carried: Iterable[tuple[str, int, int, int, int]]) -> None:
        """Table ``prior``: per number, the rows earlier runs carried forward."""
        path = self.temp_path("prior.csv")
        with path.open("w", encoding="utf-8", newline="") as sink:
            sink.write("\n".join(f"`{n},{ec},{ef},{ic},{inf}" for n, ec, ef, ic, inf in carried))
            sink.write("\n")
        self._create(
            "prior",
            path,
            {
                "number": "VARCHAR",
                "expense_count": "BIGINT",
                "expense_fen": "BIGINT",
                "income_count": "BIGINT",
                "income_fen": "BIGINT",
            },
        )

    # -- matching ------------------------------------------------------------------------------

    TRIVIAL = """
        has_payout AND pe_cnt = 0 AND pi_cnt = 0 AND created_today
        -- at most one row each way, each exactly the payout's amount (a number with more rows
        -- goes to Python, which checks every row with the squares of the amounts)
        AND e_cnt <= 1 AND i_cnt <= 1 AND e_sum = e_cnt * amount AND i_sum = i_cnt * amount
        AND (
            (closes_today AND paid AND e_cnt = 1 AND i_cnt = 0)
            OR (closes_today AND failed AND e_cnt = i_cnt)
            OR (still_open AND NOT never_sent)
        )"""
    """Numbers that are consistent by construction (every rule of ``domain.classify`` passes
    without looking): checked in SQL so that only the others come back to Python. The tests
    check that ``classify`` finds nothing for every number this condition lets through."""

    def match(self) -> Matched:
        """One pass of the bill (per number) FULL OUTER JOIN the candidate payouts, LEFT JOIN
        the carried rows, grouped so that the numbers to judge or carry come back one row each
        and every other number folds into a handful of total rows: no per-number value is built
        for the numbers SQL clears."""
        rows = self.db.execute(
            f"""WITH j AS (
                SELECT coalesce(b.number, p.number) AS number,
                    coalesce(b.e_cnt, 0) AS e_cnt, coalesce(b.e_sum, 0) AS e_sum,
                    coalesce(b.i_cnt, 0) AS i_cnt, coalesce(b.i_sum, 0) AS i_sum,
                    coalesce(pr.expense_count, 0) AS pe_cnt, coalesce(pr.expense_fen, 0) AS pe_sum,
                    coalesce(pr.income_count, 0) AS pi_cnt, coalesce(pr.income_fen, 0) AS pi_sum,
                    p.number IS NOT NULL AS has_payout, b.number IS NOT NULL AS in_bill,
                    p.amount, p.paid, p.failed, p.never_sent, p.closes_today, p.still_open,
                    p.created_today,
                    CASE WHEN p.number IS NOT NULL OR b.named THEN true
                         ELSE regexp_full_match(b.number, {_sql_str(_BQ + OUR_NUMBER_PATTERN)})
                    END AS payout_like
                FROM b FULL OUTER JOIN payouts p ON b.number = p.number
                LEFT JOIN prior pr ON pr.number = coalesce(b.number, p.number)
                -- a candidate payout with no row today matters only if it closed today
                WHERE b.number IS NOT NULL OR p.closes_today
            ), k AS (
                SELECT *,
                    payout_like AND NOT coalesce(({self.TRIVIAL}), false) AS judge,
                    has_payout AND still_open AND in_bill AS carry
                FROM j
            )
            SELECT CASE WHEN judge OR carry THEN number END AS key, payout_like, judge, carry,
                sum(e_cnt), sum(e_sum), sum(i_cnt), sum(i_sum),
                count(*) FILTER (WHERE has_payout AND in_bill),
                count(*) FILTER (WHERE closes_today),
                sum(pe_cnt), sum(pe_sum), sum(pi_cnt), sum(pi_sum), bool_or(has_payout)
            FROM k GROUP BY ALL ORDER BY key NULLS FIRST"""  # noqa: S608 - only our constants are interpolated
        ).fetchall()
        sums = [0] * 9
        pending: list[tuple[Any, ...]] = []
        carries: list[tuple[str, int, int, int, int]] = []
        for key, payout_like, judge, carry, ec, es, ic, isum, matched, closed, *prior in rows:
            ec, es, ic, isum = int(ec), int(es), int(ic), int(isum)
            if payout_like:
                sums[0] += ec + ic
                sums[1] += ec
                sums[2] += es
                sums[3] += ic
                sums[4] += isum
            else:
                sums[5] += es
                sums[6] += isum
            sums[7] += matched
            sums[8] += closed
            if judge:
                pending.append((key, ec, es, ic, isum, *prior))
            if carry:
                carries.append((str(key)[1:], ec, es, ic, isum))
        details = self._details([str(r[0]) for r in pending])
        to_judge = []
        for number, ec, es, ic, isum, pe, pes, pi, pis, has_payout in pending:
            e_sq, i_sq, booked = details.get(number, (0, 0, None))
            to_judge.append(
                EvidenceRow(
                    number=number[1:],
                    today=Movements(ec, es, ic, isum, e_sq, i_sq),
                    prior=Movements(int(pe), int(pes), int(pi), int(pis)),
                    first_booked_at=booked,
                    has_payout=has_payout,
                )
            )
        return Matched(to_judge, carries, BillTotals(*sums))

    def _details(self, numbers: Sequence[str]) -> dict[str, tuple[int, int, str | None]]:
        """Per number: Σ of the squared expense and income amounts (fen²) and the earliest
        记账时间 of its rows, read from ``r`` for these numbers only."""
        if not numbers:
            return {}
        rows = self.db.execute(
            """SELECT number,
                   coalesce(sum(fen::HUGEINT * fen) FILTER (WHERE expense), 0),
                   coalesce(sum(fen::HUGEINT * fen) FILTER (WHERE NOT expense), 0),
                   min(booked_time)
               FROM r WHERE NOT short AND number IN (SELECT unnest($numbers)) GROUP BY number""",
            {"numbers": list(numbers)},
        ).fetchall()
        return {str(n): (int(es), int(isq), f"{self._day} {at}") for n, es, isq, at in rows}
