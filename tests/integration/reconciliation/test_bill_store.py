"""The DuckDB bill store: its fast path reads exactly what the streaming parser reads (rows,
fen, summary, per-number totals), refuses what the parser refuses with the parser's own error,
and its SQL prefilter never hides a number that ``domain.classify`` would report."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from jinli.integrations.wechatpay.bills import (
    EXPENSE,
    INCOME,
    FundFlowRow,
    format_fund_flow_bill,
    read_fund_flow_bill,
)
from jinli.integrations.wechatpay.errors import BillError
from jinli.kernel.money import Fen
from jinli.payouts.domain import PayoutMode, PayoutRecord, PayoutState, bill_number
from jinli.reconciliation.domain import (
    Closure,
    Evidence,
    Movements,
    PayoutFacts,
    classify,
    closure,
    day_bounds,
)
from jinli.reconciliation.repository import BillRejectedByStore, BillStore

DAY = date(2026, 11, 23)
NAMES = ["商家转账", "商家转账退回", "现金红包", "现金红包退款", "品牌红包", "充值", "手续费"]


def random_rows(rng: random.Random, count: int, numbers: list[str]) -> list[FundFlowRow]:
    rows = []
    balance = 10**9
    for i in range(count):
        direction = rng.choice([EXPENSE, EXPENSE, EXPENSE, INCOME])
        amount = rng.choice([0, 1, 10, 99, 100, 188, 20_000, rng.randint(1, 10**7)])
        balance += amount if direction == INCOME else -amount
        rows.append(
            FundFlowRow(
                booked_at=f"{DAY} {i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}",
                wechat_business_no=f"1330{i:030d}",
                flow_no=f"1900{rng.randint(0, 10**20):026d}",
                business_name=rng.choice(NAMES),
                business_type=rng.choice(["商家转账", "红包", "退款", "充值"]),
                direction=direction,
                amount_fen=Fen(amount),
                balance_fen=Fen(balance),
                applicant=rng.choice(["system", "张三", 'a"quote']),
                remark=rng.choice(["", "扫码红包", "缺货", "x'y"]),
                voucher_no=rng.choice(numbers),
            )
        )
    return rows


def write(path: Path, rows: list[FundFlowRow], **options: bool | str) -> Path:
    with path.open("w", encoding="utf-8", newline="") as sink:
        sink.writelines(format_fund_flow_bill(rows, **options))  # type: ignore[arg-type]
    return path


def streamed(path: Path) -> tuple[list[FundFlowRow], object]:
    with path.open(encoding="utf-8-sig", newline="") as source:
        reader = read_fund_flow_bill(source)
        rows = list(reader)
    return rows, reader.summary


def key(row: FundFlowRow) -> tuple[object, ...]:
    return (
        row.booked_at,
        row.wechat_business_no,
        row.flow_no,
        row.business_name,
        row.business_type,
        row.direction,
        row.amount_fen,
        row.balance_fen,
        row.applicant,
        row.remark,
        row.voucher_no,
    )


def per_number(rows: list[FundFlowRow]) -> dict[str, tuple[int, int, int, int, str]]:
    acc: dict[str, list[object]] = defaultdict(lambda: [0, 0, 0, 0, "9999"])
    for row in rows:
        item = acc[row.voucher_no]
        if row.direction == EXPENSE:
            item[0] = int(item[0]) + 1  # type: ignore[call-overload]
            item[1] = int(item[1]) + row.amount_fen  # type: ignore[call-overload]
        else:
            item[2] = int(item[2]) + 1  # type: ignore[call-overload]
            item[3] = int(item[3]) + row.amount_fen  # type: ignore[call-overload]
        item[4] = min(str(item[4]), row.booked_at)
    return {n: (int(a), int(b), int(c), int(d), str(e)) for n, (a, b, c, d, e) in acc.items()}  # type: ignore[call-overload]


def _crlf_to_lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def _blank_lines(text: str) -> str:
    lines = text.split("\r\n")
    return "\r\n\r\n".join(lines[:3]) + "\r\n" + "\r\n".join(lines[3:])


def _bom(text: str) -> str:
    return "\ufeff" + text


def _reorder_header(text: str) -> str:
    """Swap two columns everywhere (WeChat orders columns differently across bill types)."""
    out = []
    for line in text.split("\r\n"):
        parts = line.split(",")
        if len(parts) == 11:
            parts[1], parts[9] = parts[9], parts[1]
        out.append(",".join(parts))
    return "\r\n".join(out)


def _short_decimals(text: str) -> str:
    """``1.80`` written ``1.8``: exact, not canonical (the streaming parser takes it)."""
    return text.replace(".80,", ".8,", 3)


def _trailing_zeros(text: str) -> str:
    """Fees style ``1.88000``: exact, not canonical."""
    return text.replace(".88,", ".88000,", 2)


def _whole_counts(text: str) -> str:
    """Summary counts ``20`` rather than ``20.0``."""
    head, _, summary = text.rstrip("\r\n").rpartition("\r\n")
    return head + "\r\n" + summary.replace(".0,", ",") + "\r\n"


VARIANTS: dict[str, Callable[[str], str]] = {
    "canonical": lambda t: t,
    "lf": _crlf_to_lf,
    "mixed line ends": lambda t: t.replace("\r\n", "\n", 5),
    "blank lines": _blank_lines,
    "bom": _bom,
    "reordered columns": _reorder_header,
    "one decimal": _short_decimals,
    "trailing zeros": _trailing_zeros,
    "whole counts": _whole_counts,
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_store_reads_what_the_streaming_parser_reads(
    tmp_path: Path, variant: str, seed: int
) -> None:
    """Same rows (every field, fen exact), same summary, same per-number totals, whatever
    path (fast or fallback) the variant takes."""
    rng = random.Random(seed)
    numbers = [bill_number(uuid.UUID(int=rng.getrandbits(128)), 0) for _ in range(40)]
    numbers += ["", "REF4200000068201801293084726067"]
    rows = random_rows(rng, 300, numbers)
    rows.append(rows[0])  # an identical row twice: both are kept and counted
    for fen in (180, 188):  # amounts the non-canonical variants rewrite (1.80, 1.88)
        rows.append(
            FundFlowRow(f"{DAY} 23:59:59", "W", "F", "商家转账", "商家转账", EXPENSE, Fen(fen),
                        Fen(0), voucher_no=numbers[0])
        )  # fmt: skip
    base = tmp_path / "base.csv"
    write(base, rows, full_width_parentheses=seed == 2)
    path = tmp_path / "bill.csv"
    path.write_bytes(VARIANTS[variant](base.read_bytes().decode()).encode())
    expected_rows, expected_summary = streamed(path)
    with BillStore(tmp_path) as store:
        loaded = store.load_fund_flow(path, DAY)
        assert loaded.summary == expected_summary
        assert loaded.row_count == len(expected_rows)
        assert loaded.other_days == ()
        assert sorted(map(key, store.rows())) == sorted(map(key, expected_rows))
        got = store.per_number()
    assert got == per_number(expected_rows)
    assert loaded.fast_path == (variant not in ("one decimal", "trailing zeros", "mixed line ends"))


BAD: dict[str, Callable[[str], str]] = {
    "not a bill header": lambda t: "a,b,c\r\n" + t.split("\r\n", 1)[1],
    "missing required column": lambda t: t.replace("收支类型", "类型", 1),
    "inexact amount": lambda t: t.replace("`1.88,", "`1.885,", 1),
    "words for an amount": lambda t: t.replace("`1.88,", "`abc,", 1),
    "full-width digits": lambda t: t.replace("`1.88,", "`１.88,", 1),
    "missing backquote": lambda t: t.replace(",`system,", ",system,", 1),
    "extra field": lambda t: t.replace(",`system,", ",`system,`x,", 1),
    "unknown direction": lambda t: t.replace("`支出", "`转出", 1),
    "truncated row": lambda t: t[: t.index("资金流水总笔数") - 40],
    "no summary row": lambda t: t.rstrip("\r\n").rpartition("\r\n")[0] + "\r\n",
    "summary count": lambda t: t.replace("`3.0,", "`4.0,", 1),
    "summary total": lambda t: t[: t.rindex(",`") + 2] + "999.99\r\n",
    "content after summary": lambda t: t + "`x\r\n",
    "empty": lambda t: "",
}


@pytest.mark.parametrize("case", list(BAD))
def test_store_refuses_what_the_parser_refuses_with_its_error(tmp_path: Path, case: str) -> None:
    """A malformed bill raises the streaming parser's typed error, same class and message."""
    rows = [
        FundFlowRow(
            booked_at=f"{DAY} 10:00:0{i}",
            wechat_business_no=f"W{i}",
            flow_no=f"F{i}",
            business_name="商家转账",
            business_type="商家转账",
            direction=EXPENSE,
            amount_fen=Fen(188),
            balance_fen=Fen(10_000 - 188 * (i + 1)),
            applicant="system",
            remark="",
            voucher_no=f"N{i}",
        )
        for i in range(3)
    ]
    base = write(tmp_path / "base.csv", rows).read_bytes().decode()
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD[case](base).encode())
    with pytest.raises(BillError) as parsed:
        streamed(path)
    with BillStore(tmp_path) as store, pytest.raises(BillRejectedByStore) as loaded:
        store.load_fund_flow(path, DAY)
    assert type(loaded.value.error) is type(parsed.value)
    assert str(loaded.value.error) == str(parsed.value)


def test_store_refuses_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    """GBK bytes: the parser's 'not UTF-8' error, never silently replaced characters."""
    path = tmp_path / "gbk.csv"
    rows = [
        FundFlowRow(
            f"{DAY} 10:00:00", "W", "F", "商家转账", "商家转账", EXPENSE, Fen(1), Fen(9), "张三"
        )
    ]
    text = write(tmp_path / "u.csv", rows).read_bytes().decode()
    path.write_bytes(text.encode("gbk"))
    with BillStore(tmp_path) as store, pytest.raises(BillRejectedByStore) as loaded:
        store.load_fund_flow(path, DAY)
    assert "UTF-8" in str(loaded.value.error)


def test_rows_of_other_days_are_named(tmp_path: Path) -> None:
    """A bill must hold its own day only; the store names the days that do not belong."""
    rows = [
        FundFlowRow(f"{day} 10:00:00", "W", "F", "商家转账", "商家转账", EXPENSE, Fen(1), Fen(9))
        for day in (DAY, DAY + timedelta(days=1), DAY - timedelta(days=2))
    ]
    with BillStore(tmp_path) as store:
        loaded = store.load_fund_flow(write(tmp_path / "bill.csv", rows), DAY)
    assert loaded.other_days == (str(DAY - timedelta(days=2)), str(DAY + timedelta(days=1)))


# ---------------------------------------------------------------------------------------------
# The SQL prefilter against domain.classify, over every shape of evidence


def test_the_sql_prefilter_never_hides_a_difference(tmp_path: Path) -> None:
    """Every combination of rows today, carried rows, payout state, closure and creation day
    goes through the real loaders and SQL: the per-number totals that come back are exact, and
    each number left out by the prefilter is one ``classify`` finds nothing wrong with."""
    start, end = day_bounds(DAY)
    noon = start + timedelta(hours=12)
    rows: list[FundFlowRow] = []
    records: list[PayoutRecord] = []
    prior: list[tuple[str, int, int, int, int]] = []
    expected: dict[str, Evidence] = {}
    brand = campaign = uuid.uuid4()
    closures: list[tuple[Closure, int, datetime | None]] = [
        (Closure.today, 0, noon + timedelta(hours=1)),
        (Closure.today, -1, noon + timedelta(hours=1)),
        (Closure.open, 0, None),
        (Closure.open, -1, None),
        (Closure.open, 0, end + timedelta(hours=1)),
        (Closure.before, -1, start - timedelta(hours=1)),
    ]
    combos = itertools.product(
        range(3), range(3), (False, True), range(2), range(2), list(PayoutState), closures
    )
    seq = 0
    for e_cnt, i_cnt, off, pe, pi, state, (where, offset, finished) in combos:
        terminal = state in (PayoutState.succeeded, PayoutState.failed)
        if terminal != (finished is not None):
            continue
        seq += 1
        number = bill_number(uuid.UUID(int=seq), 0)
        amount = 188
        expenses = [amount + (1 if off and k == 0 else 0) for k in range(e_cnt)]
        incomes = [amount for _ in range(i_cnt)]
        for k, (direction, fen) in enumerate(
            [(EXPENSE, f) for f in expenses] + [(INCOME, f) for f in incomes]
        ):
            rows.append(
                FundFlowRow(
                    f"{DAY} 0{k}:00:00", "W", "F", "商家转账", "商家转账", direction, Fen(fen),
                    Fen(0), voucher_no=number,
                )
            )  # fmt: skip
        created = noon + timedelta(days=offset) - timedelta(hours=1)
        records.append(
            PayoutRecord(
                uuid.UUID(int=seq), brand, campaign, number, PayoutMode.transfer, state, amount,
                "o", 0, created, finished, None, None,
            )
        )  # fmt: skip
        if pe or pi:
            prior.append((number, pe, pe * amount, pi, pi * amount))
        assert closure(finished, DAY) == where
        today = Movements.of(expenses, incomes)
        facts = PayoutFacts(amount, state, offset, where, True)
        expected[number] = Evidence(
            number, today, Movements(pe, pe * amount, pi, pi * amount), facts
        )
    stray = bill_number(uuid.UUID(int=10**9), 0)
    rows.append(
        FundFlowRow(f"{DAY} 01:00:00", "W", "F", "现金红包", "红包", EXPENSE, Fen(5), Fen(0),
                    voucher_no=stray)
    )  # fmt: skip
    expected[stray] = Evidence(stray, Movements.of([5]), Movements(), None)
    bill = write(tmp_path / "bill.csv", rows)
    with BillStore(tmp_path) as store:
        store.load(bill, DAY, records)
        store.load_prior(prior)
        judged = {row.number: row for row in store.match().to_judge}
    assert len(expected) > 1000
    hidden = 0
    for number, evidence in expected.items():
        row = judged.get(number)
        if row is None:
            hidden += 1
            verdict = classify(evidence)
            assert verdict.findings == (), evidence
            assert not verdict.unverified, evidence
            continue
        assert row.today == evidence.today, number
        assert row.prior == evidence.prior, number
        assert row.has_payout == (evidence.payout is not None), number
    assert hidden > 50  # the prefilter does let the consistent ones through


def test_payouts_without_rows_meet_the_bill_in_a_full_outer_join(tmp_path: Path) -> None:
    """A payout paid today with no row at all comes back to be judged (missing on WeChat's)."""
    start, _ = day_bounds(DAY)
    at = start + timedelta(hours=10)
    record = PayoutRecord(
        uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), bill_number(uuid.uuid4(), 0),
        PayoutMode.red_packet, PayoutState.succeeded, 300, "o", 0, at, at, None, None,
    )  # fmt: skip
    with BillStore(tmp_path) as store:
        store.load(write(tmp_path / "empty.csv", []), DAY, [record])
        store.load_prior([])
        matched = store.match()
    judged, totals = matched.to_judge, matched.totals
    assert [(r.number, r.today, r.has_payout) for r in judged] == [
        (record.bill_number, Movements.of(), True)
    ]
    assert (totals.closed, totals.matched, totals.payout_rows) == (1, 0, 0)
