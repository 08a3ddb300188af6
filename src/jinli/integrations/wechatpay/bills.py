"""WeChat Pay bills (交易账单 and 资金账单): parse them exactly, and write them (the simulator).

Format (official "交易账单文件格式说明"; wechat-pay.md §7):

- UTF-8, comma-separated, lines end in ``\\r\\n`` or ``\\n``: a header line, detail rows, a
  summary header line, one summary row.
- Every detail and summary field starts with a backquote (`````), which is stripped.
- Columns are taken **by header name**: the order differs between bill types (ALL, SUCCESS,
  REFUND) and years. Fund-flow headers come as ``收支金额(元)`` or ``收支金额（元）``.
- Amounts are yuan strings (``0.01``; fees carry five decimals, ``0.04000``) and become exact
  integer fen through :func:`jinli.kernel.money.parse_yuan`; a sub-fen amount is an error,
  never rounded. Summary counts may be written ``3`` or ``20.0``.
- The summary row is cross-checked against the rows: the count, and every total whose detail
  column the bill has (trade bills), or income/expense counts and sums (fund-flow bills).

Readers stream: they hold one line and a few running totals, so a bill of a million rows needs
no more memory than the rows the caller keeps. A reader can be iterated once; its ``summary``
is available after the iteration ended without error.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, Generic, TypeVar

from jinli.kernel.money import Fen, InvalidAmount, format_yuan, parse_yuan

from .errors import BillAmountError, BillError, BillHeaderError, BillSummaryMismatch, BillTruncated

BACKQUOTE = "`"
INCOME = "收入"
"""``收支类型`` of money coming in (e.g. an unopened red packet refunded)."""
EXPENSE = "支出"
"""``收支类型`` of money going out (e.g. a red packet or transfer paid)."""


# ---------------------------------------------------------------------------------------------
# Rows and summaries


@dataclass(frozen=True, slots=True)
class TradeBillRow:
    """One trade-bill detail row. Text columns a bill type lacks are ``""``; amount columns
    it lacks are ``None``. ``line`` is where the row was read (not compared)."""

    trade_time: str
    appid: str = ""
    mch_id: str = ""
    sub_mch_id: str = ""
    device_info: str = ""
    transaction_id: str = ""
    out_trade_no: str = ""
    openid: str = ""
    trade_type: str = ""
    trade_state: str = ""
    bank_type: str = ""
    currency: str = ""
    settlement_total_fen: Fen | None = None
    """应结订单金额."""
    coupon_fen: Fen | None = None
    refund_apply_time: str = ""
    refund_success_time: str = ""
    refund_id: str = ""
    out_refund_no: str = ""
    refund_fen: Fen | None = None
    recharge_coupon_refund_fen: Fen | None = None
    refund_type: str = ""
    refund_state: str = ""
    body: str = ""
    attach: str = ""
    fee_fen: Fen | None = None
    """手续费 (negative on refund rows)."""
    rate: str = ""
    total_fen: Fen | None = None
    """订单金额: what to reconcile against orders (not 应结订单金额)."""
    applied_refund_fen: Fen | None = None
    rate_remark: str = ""
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class TradeBillSummary:
    """The trade-bill summary row (totals a bill type lacks are ``None``)."""

    total_count: int
    settlement_total_fen: Fen
    refund_total_fen: Fen | None = None
    recharge_coupon_refund_total_fen: Fen | None = None
    fee_total_fen: Fen | None = None
    order_total_fen: Fen | None = None
    applied_refund_total_fen: Fen | None = None


@dataclass(frozen=True, slots=True)
class FundFlowRow:
    """One fund-flow row: where red packets and transfers show up (one expense row per
    payout, one income row per refund). ``amount_fen`` is unsigned; ``direction`` says which
    way it went."""

    booked_at: str
    """记账时间, Beijing time ``YYYY-MM-DD HH:MM:SS``."""
    wechat_business_no: str
    """微信支付业务单号."""
    flow_no: str
    """资金流水单号."""
    business_name: str
    business_type: str
    direction: str
    """收支类型: ``收入`` or ``支出``."""
    amount_fen: Fen
    balance_fen: Fen
    applicant: str = ""
    remark: str = ""
    voucher_no: str = ""
    """业务凭证号: matched against ``mch_billno``/``out_bill_no``."""
    line: int = field(default=0, compare=False)

    @property
    def signed_amount_fen(self) -> Fen:
        """The amount with a sign: positive for income, negative for expense."""
        return Fen(self.amount_fen if self.direction == INCOME else -self.amount_fen)


@dataclass(frozen=True, slots=True)
class FundFlowSummary:
    """The fund-flow summary row."""

    total_count: int
    income_count: int
    income_fen: Fen
    expense_count: int
    expense_fen: Fen


# ---------------------------------------------------------------------------------------------
# Column specifications


@dataclass(frozen=True, slots=True)
class _Column:
    header: str
    attr: str
    amount: bool = False
    required: bool = False
    decimals: int = 2


def _trade(header: str, attr: str, *, amount: bool = False, required: bool = False) -> _Column:
    return _Column(header, attr, amount, required, 5 if attr == "fee_fen" else 2)


TRADE_COLUMNS: tuple[_Column, ...] = (
    _trade("交易时间", "trade_time", required=True),
    _trade("公众账号ID", "appid"),
    _trade("商户号", "mch_id", required=True),
    _trade("特约商户号", "sub_mch_id"),
    _trade("子商户号", "sub_mch_id"),
    _trade("设备号", "device_info"),
    _trade("微信订单号", "transaction_id", required=True),
    _trade("商户订单号", "out_trade_no", required=True),
    _trade("用户标识", "openid"),
    _trade("交易类型", "trade_type"),
    _trade("交易状态", "trade_state", required=True),
    _trade("付款银行", "bank_type"),
    _trade("货币种类", "currency"),
    _trade("应结订单金额", "settlement_total_fen", amount=True),
    _trade("代金券金额", "coupon_fen", amount=True),
    _trade("退款申请时间", "refund_apply_time"),
    _trade("退款成功时间", "refund_success_time"),
    _trade("微信退款单号", "refund_id"),
    _trade("商户退款单号", "out_refund_no"),
    _trade("退款金额", "refund_fen", amount=True),
    _trade("充值券退款金额", "recharge_coupon_refund_fen", amount=True),
    _trade("退款类型", "refund_type"),
    _trade("退款状态", "refund_state"),
    _trade("商品名称", "body"),
    _trade("商户数据包", "attach"),
    _trade("手续费", "fee_fen", amount=True),
    _trade("费率", "rate"),
    _trade("订单金额", "total_fen", amount=True),
    _trade("申请退款金额", "applied_refund_fen", amount=True),
    _trade("费率备注", "rate_remark"),
)

TRADE_ALL_HEADER: tuple[str, ...] = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
"""Header of an ``bill_type=ALL`` trade bill, in WeChat's order."""

TRADE_SUCCESS_HEADER: tuple[str, ...] = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "费率备注",
)
"""Header of an ``bill_type=SUCCESS`` trade bill."""

TRADE_REFUND_HEADER: tuple[str, ...] = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "退款申请时间",
    "退款成功时间",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
)
"""Header of an ``bill_type=REFUND`` trade bill."""

# Summary column → (attribute of the summary, detail attribute it totals).
TRADE_SUMMARY_COLUMNS: tuple[tuple[str, str, str | None], ...] = (
    ("总交易单数", "total_count", None),
    ("应结订单总金额", "settlement_total_fen", "settlement_total_fen"),
    ("退款总金额", "refund_total_fen", "refund_fen"),
    ("充值券退款总金额", "recharge_coupon_refund_total_fen", "recharge_coupon_refund_fen"),
    ("手续费总金额", "fee_total_fen", "fee_fen"),
    ("订单总金额", "order_total_fen", "total_fen"),
    ("申请退款总金额", "applied_refund_total_fen", "applied_refund_fen"),
)
TRADE_SUMMARY_REQUIRED = ("总交易单数", "应结订单总金额")

FUND_FLOW_COLUMNS: tuple[_Column, ...] = (
    _Column("记账时间", "booked_at", required=True),
    _Column("微信支付业务单号", "wechat_business_no", required=True),
    _Column("资金流水单号", "flow_no", required=True),
    _Column("业务名称", "business_name", required=True),
    _Column("业务类型", "business_type", required=True),
    _Column("收支类型", "direction", required=True),
    _Column("收支金额(元)", "amount_fen", amount=True, required=True),
    _Column("账户结余(元)", "balance_fen", amount=True, required=True),
    _Column("资金变更提交申请人", "applicant"),
    _Column("备注", "remark"),
    _Column("业务凭证号", "voucher_no"),
)
FUND_FLOW_HEADER: tuple[str, ...] = tuple(column.header for column in FUND_FLOW_COLUMNS)
"""The fund-flow header with ASCII parentheses (current files)."""
FUND_FLOW_SUMMARY_HEADER = ("资金流水总笔数", "收入笔数", "收入金额", "支出笔数", "支出金额")


def _normalise_header(name: str) -> str:
    """Header names compare with ASCII parentheses: ``（元）`` and ``(元)`` are the same."""
    return name.strip().replace("（", "(").replace("）", ")")


# ---------------------------------------------------------------------------------------------
# Field parsing

_SUB_FEN_ZEROS = re.compile(r"(-?[0-9]+\.[0-9]{2})0+\Z")
_COUNT = re.compile(r"([0-9]+)(?:\.0+)?\Z")


@lru_cache(maxsize=1024)
def _fen_of(text: str) -> Fen:
    """Exact fen from a yuan string; trailing zeros past the fen (``0.04000``) are allowed,
    anything else past the fen raises InvalidAmount, never rounds. Cached: a bill repeats
    the same few amounts (``0.00``) millions of times."""
    dot = text.rfind(".")
    if dot != -1 and len(text) - dot > 3:  # more than two decimals: only zeros may follow
        match = _SUB_FEN_ZEROS.match(text)
        if match is not None:
            text = match.group(1)
    return parse_yuan(text)


def _amount(text: str, *, line: int, column: str) -> Fen:
    """:func:`_fen_of`, with the line and column in the error."""
    try:
        return _fen_of(text)
    except InvalidAmount:
        raise BillAmountError(
            f"column {column}: {text!r} is not an exact amount in yuan", line=line
        ) from None


def _count(text: str, *, line: int, column: str) -> int:
    match = _COUNT.match(text)
    if match is None:
        raise BillAmountError(f"column {column}: {text!r} is not a whole count", line=line)
    return int(match.group(1))


def _fields(text: str, *, line: int, expected: int) -> list[str]:
    """Split a detail or summary line and strip each field's backquote."""
    parts = text.split(",")
    if len(parts) != expected:
        raise BillError(f"{len(parts)} fields where the header has {expected}", line=line)
    if text.startswith(BACKQUOTE) and text.count("," + BACKQUOTE) == expected - 1:
        return [part[1:] for part in parts]  # the common case, checked at C speed
    for index, part in enumerate(parts, start=1):
        if not part.startswith(BACKQUOTE):
            raise BillError(f"field {index} lacks the backquote prefix: {part!r}", line=line)
    raise AssertionError("unreachable: a field without backquote was not found")  # pragma: no cover


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str, bool]]:
    """(line number, text without line ending, is the last non-blank line). Blank lines are
    skipped but counted; a BOM on the first line is dropped."""
    pending: tuple[int, str] | None = None
    number = 0
    iterator = iter(lines)
    while True:
        try:
            raw = next(iterator)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            raise BillError("the file is not UTF-8", line=number + 1) from exc
        number += 1
        text = raw.rstrip("\r\n")
        if number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        if pending is not None:
            yield pending[0], pending[1], False
        pending = (number, text)
    if pending is not None:
        yield pending[0], pending[1], True


def lines_from_bytes(data: bytes) -> Iterator[str]:
    """Iterate the lines of a bill held in memory without decoding it all at once."""
    return iter(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""))


# ---------------------------------------------------------------------------------------------
# Readers

RowT = TypeVar("RowT")
SummaryT = TypeVar("SummaryT")


class _Reader(Generic[RowT, SummaryT]):
    """Shared streaming logic: header, rows, summary header, summary row, nothing else."""

    kind = "bill"

    def __init__(
        self, lines: Iterator[tuple[int, str, bool]], *, check_summary: bool = True
    ) -> None:
        self._lines = lines
        self._check = check_summary
        self._started = False
        self._summary: SummaryT | None = None
        self.header: tuple[str, ...] = ()
        self.rows_read = 0

    # Hooks for the concrete readers.
    def _setup(self, header: list[str], line: int) -> None:
        raise NotImplementedError

    def _row(self, values: list[str], line: int) -> RowT:
        raise NotImplementedError

    def _is_summary_header(self, names: list[str]) -> bool:
        raise NotImplementedError

    def _setup_summary(self, names: list[str], line: int) -> None:
        raise NotImplementedError

    def _summary_row(self, values: list[str], line: int) -> SummaryT:
        raise NotImplementedError

    def _cross_check(self, summary: SummaryT, line: int) -> None:
        raise NotImplementedError

    @property
    def summary(self) -> SummaryT:
        """The summary row; available once iteration has finished without error."""
        if self._summary is None:
            raise RuntimeError("read every row of the bill before asking for its summary")
        return self._summary

    def __iter__(self) -> Iterator[RowT]:
        if self._started:
            raise RuntimeError("a bill reader can be iterated once")
        self._started = True
        return self._iterate()

    def _iterate(self) -> Iterator[RowT]:
        first = next(self._lines, None)
        if first is None:
            raise BillTruncated(f"the {self.kind} is empty")
        line, text, _ = first
        names = [_normalise_header(name) for name in text.split(",")]
        self._setup(names, line)
        self.header = tuple(names)
        width = len(names)
        summary_names: list[str] | None = None
        summary: SummaryT | None = None
        summary_line = 0
        last_line = line
        for line, text, is_last in self._lines:
            last_line = line
            if summary_names is None:
                if text.startswith(BACKQUOTE):
                    if is_last and len(text.split(",")) < width:
                        raise BillTruncated("the last row is cut off", line=line)
                    row = self._row(_fields(text, line=line, expected=width), line)
                    self.rows_read += 1
                    yield row
                    continue
                candidate = [_normalise_header(name) for name in text.split(",")]
                if not self._is_summary_header(candidate):
                    raise BillError("neither a detail row nor the summary header", line=line)
                self._setup_summary(candidate, line)
                summary_names = candidate
                continue
            if summary is None:
                summary = self._summary_row(
                    _fields(text, line=line, expected=len(summary_names)), line
                )
                summary_line = line
                continue
            raise BillError("unexpected content after the summary row", line=line)
        if summary_names is None:
            raise BillTruncated(f"no summary: the file ends after line {last_line}")
        if summary is None:
            raise BillTruncated(
                f"the summary row is missing after the summary header (line {last_line})"
            )
        if self._check:
            self._cross_check(summary, summary_line)
        self._summary = summary


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each known column sits in this file's header (unknown columns are ignored)."""

    texts: tuple[tuple[int, str], ...]
    amounts: tuple[tuple[int, _Column], ...]

    @property
    def attrs(self) -> set[str]:
        return {attr for _, attr in self.texts} | {column.attr for _, column in self.amounts}

    def build(self, values: list[str], line: int) -> dict[str, Any]:
        """Constructor arguments for one row (amounts as exact fen)."""
        kwargs: dict[str, Any] = {attr: values[index] for index, attr in self.texts}
        kwargs["line"] = line
        for index, column in self.amounts:
            text = values[index]
            if text == "" and not column.required:
                kwargs[column.attr] = None
            else:
                kwargs[column.attr] = _amount(text, line=line, column=column.header)
        return kwargs


def _layout(names: Sequence[str], columns: Iterable[_Column], line: int) -> _Layout:
    by_header = {column.header: column for column in columns}
    found = [(index, by_header[name]) for index, name in enumerate(names) if name in by_header]
    present = {column.header for _, column in found}
    missing = [c.header for c in by_header.values() if c.required and c.header not in present]
    if missing:
        raise BillHeaderError(
            f"not a WeChat Pay bill header: missing {', '.join(missing)}", line=line
        )
    return _Layout(
        texts=tuple((index, column.attr) for index, column in found if not column.amount),
        amounts=tuple((index, column) for index, column in found if column.amount),
    )


class TradeBillReader(_Reader[TradeBillRow, TradeBillSummary]):
    """Streams a trade bill (ALL, SUCCESS or REFUND: the header says which columns exist)."""

    kind = "trade bill"

    def _setup(self, header: list[str], line: int) -> None:
        self._layout = _layout(header, TRADE_COLUMNS, line)
        present = self._layout.attrs
        self._totals: dict[str, int] = {
            detail: 0
            for _, _, detail in TRADE_SUMMARY_COLUMNS
            if detail is not None and detail in present
        }

    def _row(self, values: list[str], line: int) -> TradeBillRow:
        kwargs = self._layout.build(values, line)
        for attr in self._totals:
            amount = kwargs.get(attr)
            if amount is not None:
                self._totals[attr] += amount
        return TradeBillRow(**kwargs)

    def _is_summary_header(self, names: list[str]) -> bool:
        return all(name in names for name in TRADE_SUMMARY_REQUIRED)

    def _setup_summary(self, names: list[str], line: int) -> None:
        known = {header for header, _, _ in TRADE_SUMMARY_COLUMNS}
        unknown = [name for name in names if name not in known]
        if unknown:
            raise BillHeaderError(f"unknown summary columns: {', '.join(unknown)}", line=line)
        self._summary_names = names

    def _summary_row(self, values: list[str], line: int) -> TradeBillSummary:
        attrs = {header: attr for header, attr, _ in TRADE_SUMMARY_COLUMNS}
        kwargs: dict[str, Any] = {}
        for name, text in zip(self._summary_names, values, strict=True):
            if attrs[name] == "total_count":
                kwargs["total_count"] = _count(text, line=line, column=name)
            else:
                kwargs[attrs[name]] = _amount(text, line=line, column=name)
        return TradeBillSummary(**kwargs)

    def _cross_check(self, summary: TradeBillSummary, line: int) -> None:
        if summary.total_count != self.rows_read:
            raise BillSummaryMismatch(
                f"总交易单数 says {summary.total_count}, the bill has {self.rows_read} rows",
                line=line,
            )
        for header, attr, detail in TRADE_SUMMARY_COLUMNS:
            stated = getattr(summary, attr)
            if detail is None or stated is None or detail not in self._totals:
                continue
            if stated != self._totals[detail]:
                raise BillSummaryMismatch(
                    f"{header} says {format_yuan(stated)}, "
                    f"the rows add up to {format_yuan(self._totals[detail])}",
                    line=line,
                )


class FundFlowBillReader(_Reader[FundFlowRow, FundFlowSummary]):
    """Streams a fund-flow bill (基本账户, 运营账户 or 手续费账户)."""

    kind = "fund-flow bill"

    def _setup(self, header: list[str], line: int) -> None:
        self._layout = _layout(header, FUND_FLOW_COLUMNS, line)
        self._income_count = self._expense_count = 0
        self._income = self._expense = 0

    def _row(self, values: list[str], line: int) -> FundFlowRow:
        row = FundFlowRow(**self._layout.build(values, line))
        if row.direction == INCOME:
            self._income_count += 1
            self._income += row.amount_fen
        elif row.direction == EXPENSE:
            self._expense_count += 1
            self._expense += row.amount_fen
        else:
            raise BillError(f"收支类型 is neither 收入 nor 支出: {row.direction!r}", line=line)
        return row

    def _is_summary_header(self, names: list[str]) -> bool:
        return tuple(names) == FUND_FLOW_SUMMARY_HEADER

    def _setup_summary(self, names: list[str], line: int) -> None:
        pass

    def _summary_row(self, values: list[str], line: int) -> FundFlowSummary:
        total, income_count, income, expense_count, expense = values
        names = FUND_FLOW_SUMMARY_HEADER
        return FundFlowSummary(
            total_count=_count(total, line=line, column=names[0]),
            income_count=_count(income_count, line=line, column=names[1]),
            income_fen=_amount(income, line=line, column=names[2]),
            expense_count=_count(expense_count, line=line, column=names[3]),
            expense_fen=_amount(expense, line=line, column=names[4]),
        )

    def _cross_check(self, summary: FundFlowSummary, line: int) -> None:
        actual = FundFlowSummary(
            total_count=self.rows_read,
            income_count=self._income_count,
            income_fen=Fen(self._income),
            expense_count=self._expense_count,
            expense_fen=Fen(self._expense),
        )
        for item in fields(FundFlowSummary):
            stated, counted = getattr(summary, item.name), getattr(actual, item.name)
            if stated != counted:
                raise BillSummaryMismatch(
                    f"the summary's {item.name} is {stated}, the rows give {counted}", line=line
                )


def read_trade_bill(lines: Iterable[str], *, check_summary: bool = True) -> TradeBillReader:
    """A streaming reader over the lines of a trade bill."""
    return TradeBillReader(_numbered(lines), check_summary=check_summary)


def read_fund_flow_bill(lines: Iterable[str], *, check_summary: bool = True) -> FundFlowBillReader:
    """A streaming reader over the lines of a fund-flow bill."""
    return FundFlowBillReader(_numbered(lines), check_summary=check_summary)


def read_bill(
    lines: Iterable[str], *, check_summary: bool = True
) -> TradeBillReader | FundFlowBillReader:
    """A reader for whichever kind of bill the header names (reads the header line now)."""
    numbered = _numbered(lines)
    first = next(numbered, None)
    if first is None:
        raise BillTruncated("the bill is empty")

    def chained() -> Iterator[tuple[int, str, bool]]:
        yield first
        yield from numbered

    names = {_normalise_header(name) for name in first[1].split(",")}
    if "资金流水单号" in names:
        return FundFlowBillReader(chained(), check_summary=check_summary)
    if "微信订单号" in names:
        return TradeBillReader(chained(), check_summary=check_summary)
    raise BillHeaderError("neither a trade bill nor a fund-flow bill header", line=first[0])


@dataclass(frozen=True)
class TradeBill:
    """A trade bill read entirely into memory (small bills, tests, console previews)."""

    rows: list[TradeBillRow]
    summary: TradeBillSummary


@dataclass(frozen=True)
class FundFlowBill:
    """A fund-flow bill read entirely into memory."""

    rows: list[FundFlowRow]
    summary: FundFlowSummary


def parse_trade_bill(text: str, *, check_summary: bool = True) -> TradeBill:
    """Parse a whole trade bill held as text."""
    reader = read_trade_bill(text.splitlines(), check_summary=check_summary)
    rows = list(reader)
    return TradeBill(rows=rows, summary=reader.summary)


def parse_fund_flow_bill(text: str, *, check_summary: bool = True) -> FundFlowBill:
    """Parse a whole fund-flow bill held as text."""
    reader = read_fund_flow_bill(text.splitlines(), check_summary=check_summary)
    rows = list(reader)
    return FundFlowBill(rows=rows, summary=reader.summary)


# ---------------------------------------------------------------------------------------------
# Writers (the simulator produces bills)

_FORBIDDEN_IN_FIELD = re.compile(r"[,\r\n]")


def _cell(text: str, column: str) -> str:
    if _FORBIDDEN_IN_FIELD.search(text):
        raise ValueError(f"column {column}: a bill field cannot contain a comma or a newline")
    return BACKQUOTE + text


def _yuan(amount: int | None, decimals: int = 2) -> str:
    text = format_yuan(Fen(amount or 0))
    return text + "0" * (decimals - 2)


def _write(
    header: Sequence[str],
    rows: Iterable[Any],
    columns: Iterable[_Column],
    newline: str,
    on_row: Callable[[Any], None],
) -> Iterator[str]:
    by_header = {column.header: column for column in columns}
    unknown = [name for name in header if _normalise_header(name) not in by_header]
    if unknown:
        raise ValueError(f"unknown bill columns: {', '.join(unknown)}")
    layout = [by_header[_normalise_header(name)] for name in header]
    yield ",".join(header) + newline
    for row in rows:
        cells = []
        for column in layout:
            value = getattr(row, column.attr)
            if column.amount:
                cells.append(BACKQUOTE + _yuan(value, column.decimals))
            else:
                cells.append(_cell(value, column.header))
        on_row(row)
        yield ",".join(cells) + newline


def format_trade_bill(
    rows: Iterable[TradeBillRow],
    *,
    header: Sequence[str] = TRADE_ALL_HEADER,
    newline: str = "\r\n",
) -> Iterator[str]:
    """Write a trade bill line by line in WeChat's format (summary computed from the rows,
    fees with five decimals). An amount that is ``None`` is written ``0.00``, as WeChat does."""
    count = 0
    totals = {detail: 0 for _, _, detail in TRADE_SUMMARY_COLUMNS if detail is not None}

    def tally(row: TradeBillRow) -> None:
        nonlocal count
        count += 1
        for attr in totals:
            totals[attr] += getattr(row, attr) or 0

    yield from _write(header, rows, TRADE_COLUMNS, newline, tally)
    summary_headers = [h for h, _, _ in TRADE_SUMMARY_COLUMNS]
    yield ",".join(summary_headers) + newline
    values = [str(count)] + [
        _yuan(totals[detail], 5 if detail == "fee_fen" else 2)
        for _, _, detail in TRADE_SUMMARY_COLUMNS
        if detail is not None
    ]
    yield ",".join(BACKQUOTE + value for value in values) + newline


def format_fund_flow_bill(
    rows: Iterable[FundFlowRow],
    *,
    full_width_parentheses: bool = False,
    newline: str = "\r\n",
) -> Iterator[str]:
    """Write a fund-flow bill line by line in WeChat's format. Summary counts are written
    ``20.0`` as in the official example; ``full_width_parentheses`` writes the older
    ``收支金额（元）`` header."""
    header = [
        name.replace("(", "（").replace(")", "）") if full_width_parentheses else name
        for name in FUND_FLOW_HEADER
    ]
    tally = {"total": 0, "income_count": 0, "income": 0, "expense_count": 0, "expense": 0}

    def count(row: FundFlowRow) -> None:
        if row.direction not in (INCOME, EXPENSE):
            raise ValueError(f"收支类型 must be 收入 or 支出, got {row.direction!r}")
        tally["total"] += 1
        side = "income" if row.direction == INCOME else "expense"
        tally[f"{side}_count"] += 1
        tally[side] += row.amount_fen

    yield from _write(header, rows, FUND_FLOW_COLUMNS, newline, count)
    yield ",".join(FUND_FLOW_SUMMARY_HEADER) + newline
    values = [
        f"{tally['total']}.0",
        f"{tally['income_count']}.0",
        _yuan(tally["income"]),
        f"{tally['expense_count']}.0",
        _yuan(tally["expense"]),
    ]
    yield ",".join(BACKQUOTE + value for value in values) + newline
