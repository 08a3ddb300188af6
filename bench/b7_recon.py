"""B7 recon: match 1 M payout-ledger rows against a 1 M-row WeChat fund-flow bill with 0.1 %
injected differences (missing on either side, amount, status, duplicate).

All three sides start from the same inputs, the bill file on disk and the payout rows in memory
(as ``payouts.service.reconciliation_rows`` hands them over: one plain tuple per payout, made
before timing), and must report exactly the injected (number, class) pairs. What each does:

- **Subject**, Jinli's engine in the sequence ``service.reconcile_file`` runs it, minus the
  database: ``BillStore`` (DuckDB, one thread per core) reads the bill with the native CSV
  reader (explicit VARCHAR columns, no sniffing) into one row table, checking in the same
  pass every field of every row (backquote on all 11 fields, amount and balance exactly
  ``-?d.dd``, 收入/支出, booked on the bill day) and the summary row against the rows; then it
  totals per number. Meanwhile our payout rows (number, amount, state, creation day, close)
  are written out on the calling thread. One FULL OUTER JOIN with the payouts and the carried
  rows clears in SQL every number that is consistent by construction; the rest (≈ the
  differences) come back and ``domain.classify`` judges them in Python, with the full records
  of those payouts looked up by number (a dict stands in for that indexed query). Not timed,
  because it is not matching: the file's SHA1 for the run record (the service hashes on a
  thread of its own during the scan) and the database reads and writes.
- **DuckDB reference**, what a competent engineer writes by hand: the payout rows written as
  CSV (number, amount, state) and read back; the bill read with the same reader, keeping the
  4 columns it needs (backquotes stripped, yuan cast to fen: a malformed amount aborts the
  query); totals per number, FULL OUTER JOIN, a CASE for the classes. It checks no other
  field, no amount format, no day and no summary, and knows nothing of closes, creation days
  or carried rows (all payouts here close on the bill day, so it needs none).
- **pandas reference**: the same logic as most Python marketing stacks write it (``read_csv``
  of 3 columns, ``groupby``, an outer ``merge``, ``np.select``).

Ratio = reference time / subject time (medians over interleaved rounds). The CPU seconds of
each side (user + system, all threads) are reported too: on a 2-core machine shared with other
work, wall time tends to CPU time, and only the subject overlaps its Python and DuckDB work.
"""

from __future__ import annotations

import os
import random
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from jinli.payouts.domain import PayoutMode, PayoutRecord, PayoutState
from jinli.reconciliation import service
from jinli.reconciliation.repository import BillStore, PayoutRow, payout_rows

BENCH_ID = "B7"
DAY = date(2026, 11, 23)
START = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)  # 00:00 Beijing
HEADER = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),"
    "账户结余(元),资金变更提交申请人,备注,业务凭证号"
)
CLASSES = ("missing_on_our_side", "missing_on_wechat", "amount_mismatch", "status_mismatch",
           "duplicate")  # fmt: skip

Found = set[tuple[str, str]]


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), 100)
    return f"{sign}{whole}.{part:02d}"


def generate(
    n: int, workdir: Path, seed: int = 7
) -> tuple[Path, list[PayoutRecord], Found, int, int]:
    """``n`` payouts of one day (95 % paid, 5 % debited and returned) and their bill, with
    n/1000 differences injected evenly over the five classes; returns the bill, the records,
    the expected (number, class) set, the expected Σ fen of the differences, the bill rows."""
    rng = random.Random(seed)
    brand, campaign = uuid.UUID(int=1), uuid.UUID(int=2)
    per_class = max(1, n // 1000 // len(CLASSES))
    victims = rng.sample(range(n), per_class * 4)
    role: dict[int, str] = {}
    for k, index in enumerate(victims):
        role[index] = CLASSES[1 + k // per_class]
    records: list[PayoutRecord] = []
    lines: list[str] = []
    expected: Found = set()
    expected_fen = 0
    balance = 10**12
    income_count = expense_count = income_fen = expense_fen = 0

    def row(seconds: int, direction: str, fen: int, number: str, name: str) -> None:
        nonlocal balance, income_count, expense_count, income_fen, expense_fen
        balance += fen if direction == "收入" else -fen
        if direction == "收入":
            income_count, income_fen = income_count + 1, income_fen + fen
        else:
            expense_count, expense_fen = expense_count + 1, expense_fen + fen
        at = START + timedelta(seconds=seconds, hours=8)
        lines.append(
            f"`{at:%Y-%m-%d %H:%M:%S},`1330{len(lines):036d},`1900{len(lines):026d},`{name},"
            f"`{name},`{direction},`{_yuan(fen)},`{_yuan(balance)},`system,`扫码红包,`{number}"
        )

    for i in range(n):
        number = f"{i:025d}"
        amount = rng.choice((100, 188, 288, 500, 666, 888, rng.randint(30, 20_000)))
        returned = rng.random() < 0.05
        kind = role.get(i)
        if kind == "status_mismatch":
            returned = i % 2 == 0  # half failed-but-kept, half paid-but-returned
        elif kind is not None:
            returned = False  # the other injections hit paid payouts
        created = START + timedelta(seconds=i * 75_000 // n)
        records.append(
            PayoutRecord(
                uuid.UUID(int=i + 10), brand, campaign, number, PayoutMode.transfer,
                PayoutState.failed if returned else PayoutState.succeeded, amount, "o", 0,
                created, created + timedelta(seconds=60), None, None,
            )
        )  # fmt: skip
        second = i * 75_000 // n + 1
        if kind == "missing_on_wechat":
            expected.add((number, kind))
            expected_fen -= amount
            continue
        off = (1 if i % 2 else -1) if kind == "amount_mismatch" else 0
        row(second, "支出", amount + off, number, "商家转账")
        if kind == "amount_mismatch":
            expected.add((number, kind))
            expected_fen += off
        if kind == "duplicate":
            row(second, "支出", amount, number, "商家转账")
            expected.add((number, kind))
            expected_fen += amount
        if kind == "status_mismatch":
            expected.add((number, kind))
            if returned:  # failed by us, the return never came
                expected_fen += amount
            else:  # paid by us, returned by WeChat
                row(second + 30, "收入", amount, number, "商家转账退回")
                expected_fen -= amount
        elif returned:
            row(second + 30, "收入", amount, number, "商家转账退回")
    for k in range(per_class):
        number = f"9{k:024d}"
        fen = rng.randint(30, 20_000)
        row(80_000 + k, "支出", fen, number, "商家转账")
        expected.add((number, "missing_on_our_side"))
        expected_fen += fen
    path = workdir / "fundflow.csv"
    with path.open("w", encoding="utf-8", newline="") as sink:
        sink.write(HEADER + "\r\n")
        sink.write("\r\n".join(lines) + "\r\n")
        sink.write("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n")
        sink.write(
            f"`{len(lines)}.0,`{income_count}.0,`{_yuan(income_fen)},`{expense_count}.0,"
            f"`{_yuan(expense_fen)}\r\n"
        )
    return path, records, expected, expected_fen, len(lines)


Lookup = Callable[[list[str]], list[PayoutRecord]]


def subject(
    path: Path, rows: list[PayoutRow], lookup: Lookup, workdir: Path
) -> tuple[Found, int, int]:
    """Jinli's engine, the production sequence of ``reconcile_file`` without the database:
    returns the findings, their Σ fen, and how many numbers it would look up by number."""
    with BillStore(workdir) as store:
        store.load_rows(path, DAY, rows)
        store.load_prior([])
        matched = store.match()
    # The service looks these up among older payouts (there are none here) before judging.
    unknown = [row.number for row in matched.to_judge if not row.has_payout]
    records = lookup([row.number for row in matched.to_judge if row.has_payout])
    judged, _ = service.judge(matched.to_judge, records, DAY, frozenset())
    found = {(j.number, str(j.finding.cls)) for j in judged}
    return found, sum(j.finding.amount_fen for j in judged), len(unknown)


def duckdb_reference(path: Path, rows: list[PayoutRow], workdir: Path) -> Found:
    """What a competent engineer writes by hand: strip the backquotes, cast yuan to fen,
    aggregate per number, FULL OUTER JOIN with the ledger, CASE the classes."""
    ledger = workdir / "ledger-ref.csv"
    with ledger.open("w", encoding="utf-8") as sink:
        sink.write("\n".join(f"{r[0]},{r[1]},{r[2]}" for r in rows))
    con = duckdb.connect()
    try:
        columns = {f"c{i}": "VARCHAR" for i in range(11)}
        con.execute(
            f"""CREATE TABLE l AS SELECT * FROM read_csv('{ledger}', header=false,
                auto_detect=false, columns={{'number': 'VARCHAR', 'amount': 'BIGINT',
                'state': 'VARCHAR'}})"""  # noqa: S608 - a benchmark's own temp path
        )
        con.execute(
            f"""CREATE TABLE b AS SELECT substr(c10, 2) AS number, c5 = '`支出' AS expense,
                CAST(replace(substr(c6, 2), '.', '') AS BIGINT) AS fen
                FROM read_csv('{path}', header=false, skip=1, delim=',', quote='', escape='',
                    auto_detect=false, null_padding=true, columns={columns!r})
                WHERE c5 IS NOT NULL AND c0 LIKE '`%'"""  # noqa: S608 - a benchmark's own temp path
        )
        classes = con.execute(
            """WITH g AS (
                SELECT number, count(*) FILTER (WHERE expense) AS e,
                    coalesce(sum(fen) FILTER (WHERE expense), 0) AS es,
                    count(*) FILTER (WHERE NOT expense) AS i,
                    coalesce(sum(fen) FILTER (WHERE NOT expense), 0) AS isum
                FROM b GROUP BY number)
            SELECT * FROM (
                SELECT coalesce(g.number, l.number) AS n, CASE
                    WHEN l.number IS NULL THEN 'missing_on_our_side'
                    WHEN g.number IS NULL THEN
                        CASE WHEN l.state = 'succeeded' THEN 'missing_on_wechat' END
                    WHEN g.e > 1 THEN 'duplicate'
                    WHEN g.es <> g.e * l.amount OR g.isum <> g.i * l.amount
                        THEN 'amount_mismatch'
                    WHEN (l.state = 'succeeded' AND g.i > 0)
                        OR (l.state = 'failed' AND g.e <> g.i) THEN 'status_mismatch'
                END AS cls
                FROM g FULL OUTER JOIN l ON g.number = l.number
            ) WHERE cls IS NOT NULL"""
        ).fetchall()
    finally:
        con.close()
        ledger.unlink()
    return {(n, c) for n, c in classes}


def pandas_reference(path: Path, rows: list[PayoutRow], workdir: Path) -> Found:
    """The same logic as most Python marketing stacks write it: pandas read_csv and merge."""
    import numpy as np
    import pandas as pd  # type: ignore[import-untyped]  # a dev-only reference, no stubs

    raw = pd.read_csv(
        path, skiprows=1, header=None, names=list(range(11)), usecols=[5, 6, 10], dtype=str
    )
    raw = raw[raw[5].notna()]
    bill = pd.DataFrame(
        {
            "number": raw[10].str[1:],
            "expense": raw[5] == "`支出",
            "fen": raw[6].str[1:].str.replace(".", "", regex=False).astype("int64"),
        }
    )
    bill["efen"] = bill["fen"].where(bill["expense"], 0)
    bill["ifen"] = bill["fen"].where(~bill["expense"], 0)
    bill["income"] = ~bill["expense"]
    g = bill.groupby("number", sort=False).agg(
        e=("expense", "sum"), es=("efen", "sum"), i=("income", "sum"), isum=("ifen", "sum")
    )
    ledger = pd.DataFrame.from_records(
        rows, columns=["number", "amount", "state", "offset", "close"]
    )
    m = g.reset_index().merge(ledger, on="number", how="outer", indicator=True)
    succeeded = m["state"] == "succeeded"
    cls = np.select(
        [
            m["_merge"] == "left_only",
            (m["_merge"] == "right_only") & succeeded,
            m["_merge"] == "right_only",
            m["e"] > 1,
            (m["es"] != m["e"] * m["amount"]) | (m["isum"] != m["i"] * m["amount"]),
            (succeeded & (m["i"] > 0)) | ((m["state"] == "failed") & (m["e"] != m["i"])),
        ],
        ["missing_on_our_side", "missing_on_wechat", "", "duplicate", "amount_mismatch",
         "status_mismatch"],
        default="",
    )  # fmt: skip
    found = m.loc[cls != "", "number"]
    return set(zip(found, cls[cls != ""], strict=True))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _rss_mb() -> float:
    """Peak RSS of the process (since the last :func:`_reset_peak_rss`)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")  # pragma: no cover - Linux only


def _reset_peak_rss() -> bool:
    """Reset the peak RSS (Linux: ``clear_refs`` 5), so that the next reading covers what
    runs after, not the generator's own peak. False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run(quick: bool) -> list[dict[str, Any]]:
    n = 20_000 if quick else 1_000_000
    rounds = 5
    with tempfile.TemporaryDirectory(prefix="jinli-b7-") as tmp:
        work = Path(tmp)
        gen_seconds, (path, records, expected, expected_fen, bill_rows) = _timed(
            lambda: generate(n, work)
        )
        # What the database hands over (see the module docstring), made before timing.
        rows = payout_rows(records, DAY)
        by_number = {r.bill_number: r for r in records}
        del records

        def lookup(numbers: list[str]) -> list[PayoutRecord]:
            return [by_number[n] for n in numbers]

        # Warm-up, subject first: the peak RSS read next covers the inputs + the subject.
        data_rss = _current_rss_mb()
        peak_reset = _reset_peak_rss()
        _, (found, found_fen, unknown) = _timed(lambda: subject(path, rows, lookup, work))
        subject_rss = _rss_mb()
        duck_found = duckdb_reference(path, rows, work)
        pandas_found = pandas_reference(path, rows, work)
        times: dict[str, list[float]] = {"subject": [], "duckdb": [], "pandas": []}
        cpu: dict[str, list[float]] = {"subject": [], "duckdb": [], "pandas": []}
        load_before = os.getloadavg()[0]
        for _ in range(rounds):
            before = _cpu()
            elapsed, (found, found_fen, unknown) = _timed(lambda: subject(path, rows, lookup, work))
            times["subject"].append(elapsed)
            cpu["subject"].append(_cpu() - before)
            before = _cpu()
            elapsed, duck_found = _timed(lambda: duckdb_reference(path, rows, work))
            times["duckdb"].append(elapsed)
            cpu["duckdb"].append(_cpu() - before)
            before = _cpu()
            elapsed, pandas_found = _timed(lambda: pandas_reference(path, rows, work))
            times["pandas"].append(elapsed)
            cpu["pandas"].append(_cpu() - before)
        load_after = os.getloadavg()[0]
        bill_mb = path.stat().st_size / 2**20
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    mismatches = len(found ^ expected) + len(duck_found ^ expected) + len(pandas_found ^ expected)
    not_ours = sum(1 for _, cls in expected if cls == "missing_on_our_side")
    return [
        {
            "bench": "B7 recon",
            "subject": round(med["subject"], 3),
            "reference": round(med["duckdb"], 3),
            "unit": "s (median wall time)",
            "ratio": round(med["duckdb"] / med["subject"], 3),
            "target": 0.8,
            "correct": mismatches == 0 and found_fen == expected_fen and unknown == not_ours,
            "rounds": [{k: round(v[i], 3) for k, v in times.items()} for i in range(rounds)],
            "notes": {
                "ledger_rows": n,
                "bill_rows": bill_rows,
                "bill_mb": round(bill_mb, 1),
                "injected": len(expected),
                "found": len(found),
                "mismatched_findings": mismatches,
                "fen_found": found_fen,
                "fen_injected": expected_fen,
                "pandas_seconds": round(med["pandas"], 3),
                "pandas_ratio": round(med["pandas"] / med["subject"], 3),
                "pandas_target": 3.0,
                "cpu_seconds": {k: round(v, 3) for k, v in med_cpu.items()},
                "cpu_ratio_duckdb": round(med_cpu["duckdb"] / med_cpu["subject"], 3),
                "cpu_ratio_pandas": round(med_cpu["pandas"] / med_cpu["subject"], 3),
                "load_average_1min": [round(load_before, 2), round(load_after, 2)],
                "not_timed": "subject: the file SHA1 for the run record (the service hashes on "
                "its own thread during the scan) and database I/O; all: making the payout rows",
                "rss_mb_inputs": round(data_rss, 1),
                "peak_rss_mb_subject": round(subject_rss, 1),
                "peak_rss_mb_process": round(_rss_mb(), 1),
                "peak_rss_excludes_generator": peak_reset,
                "rss_target_mb": 2048,
                "generate_seconds": round(gen_seconds, 1),
                "quick": quick,
            },
        }
    ]
