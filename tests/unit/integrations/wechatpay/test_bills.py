"""Bills: golden parses, exact fen, header variants, round trips, malformed files, streaming."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jinli.integrations.wechatpay.bills import (
    EXPENSE,
    INCOME,
    TRADE_REFUND_HEADER,
    TRADE_SUCCESS_HEADER,
    FundFlowBillReader,
    FundFlowRow,
    TradeBillReader,
    TradeBillRow,
    format_fund_flow_bill,
    format_trade_bill,
    lines_from_bytes,
    parse_fund_flow_bill,
    parse_trade_bill,
    read_bill,
    read_fund_flow_bill,
    read_trade_bill,
)
from jinli.integrations.wechatpay.errors import (
    BillAmountError,
    BillError,
    BillHeaderError,
    BillSummaryMismatch,
    BillTruncated,
)
from jinli.kernel.money import Fen

# The example of wechat-pay.md §7 (official format description), verbatim. Its summary speaks
# of 20 rows while only one is shown, so it only parses without the cross-check.
FUND_FLOW_EXAMPLE = "\n".join(
    [
        "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额（元）,"
        "账户结余（元）,资金变更提交申请人,备注,业务凭证号",
        "`2018-02-01 04:21:23,`50000305742018020103387128253,`1900009231201802015884652186,"
        "`退款,`退款,`支出,`0.02,`0.17,`system,`缺货,`REF4200000068201801293084726067",
        "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额",
        "`20.0,`17.0,`0.35,`3.0,`0.18",
        "",
    ]
)

TRADE_ALL = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
    "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
    "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n"
    "`2024-07-09 10:06:33,`wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002360202407091150650780,"
    "`5622334254839656448,`oVgfJ5TrnzDOSuaxbFc33mw-5LUY,`JSAPI,`SUCCESS,`OTHERS,`CNY,`60.00,"
    "`0.00,`0,`0,`0.00,`0.00,`,`,`客户付款,`attach,`0.32000,`0.54%,`60.00,`0.00,`\r\n"
    "`2024-07-09 11:00:00,`wxe1696e7c7db8e7f4,`1579507281,`0,`,`4200002166202406250324636876,"
    "`5617363390111199232,`oVgfJ5d35c6iAXrRCnfhOGF9aHT8,`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,"
    "`0.00,`50302709992024070991956632208,`5622435300878286848,`50.00,`0.00,`ORIGINAL,"
    "`SUCCESS,`客户付款,`attach,`-0.27000,`0.54%,`0.00,`50.00,`\r\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n"
    "`2,`60.00,`50.00,`0.00,`0.05000,`60.00,`50.00\r\n"
)


class TestGolden:
    def test_fund_flow_example_parses_to_exact_fen(self) -> None:
        """§7's example: backquotes stripped, full-width (元) headers, yuan → exact fen."""
        bill = parse_fund_flow_bill(FUND_FLOW_EXAMPLE, check_summary=False)
        assert bill.rows == [
            FundFlowRow(
                booked_at="2018-02-01 04:21:23",
                wechat_business_no="50000305742018020103387128253",
                flow_no="1900009231201802015884652186",
                business_name="退款",
                business_type="退款",
                direction=EXPENSE,
                amount_fen=Fen(2),
                balance_fen=Fen(17),
                applicant="system",
                remark="缺货",
                voucher_no="REF4200000068201801293084726067",
            )
        ]
        assert bill.rows[0].line == 2
        assert bill.rows[0].signed_amount_fen == -2
        summary = bill.summary
        assert (summary.total_count, summary.income_count, summary.expense_count) == (20, 17, 3)
        assert (summary.income_fen, summary.expense_fen) == (35, 18)

    def test_fund_flow_example_fails_the_cross_check(self) -> None:
        """The example's summary (20 rows) disagrees with its single row, on line 4."""
        with pytest.raises(BillSummaryMismatch, match="line 4") as caught:
            parse_fund_flow_bill(FUND_FLOW_EXAMPLE)
        assert caught.value.line == 4

    def test_trade_bill_all_with_a_refund_row(self) -> None:
        """An ALL bill: amounts exact, five-decimal fees (negative on refunds), summary checked."""
        bill = parse_trade_bill(TRADE_ALL)
        paid, refund = bill.rows
        assert (paid.trade_state, paid.total_fen, paid.settlement_total_fen) == (
            "SUCCESS",
            6000,
            6000,
        )
        assert paid.fee_fen == 32
        assert paid.out_trade_no == "5622334254839656448"
        assert (refund.trade_state, refund.refund_fen, refund.fee_fen) == ("REFUND", 5000, -27)
        assert refund.refund_type == "ORIGINAL"
        assert bill.summary.total_count == 2
        assert bill.summary.fee_total_fen == 5
        assert bill.summary.refund_total_fen == 5000

    def test_read_bill_detects_the_kind(self) -> None:
        """read_bill picks the reader from the header line."""
        assert isinstance(read_bill(TRADE_ALL.splitlines()), TradeBillReader)
        assert isinstance(read_bill(FUND_FLOW_EXAMPLE.splitlines()), FundFlowBillReader)
        with pytest.raises(BillHeaderError):
            read_bill(["a,b,c", "`1,`2,`3"])


def _trade_row(n: int, amount: int, *, fee: int = 0, refund: int = 0) -> TradeBillRow:
    return TradeBillRow(
        trade_time=f"2026-11-22 12:{n % 60:02d}:00",
        appid="wx8888888888888888",
        mch_id="1900000109",
        sub_mch_id="0",
        transaction_id=f"42000000002026112200{n:010d}",
        out_trade_no=f"J{n}",
        openid=f"o{n}",
        trade_type="JSAPI",
        trade_state="REFUND" if refund else "SUCCESS",
        bank_type="OTHERS",
        currency="CNY",
        settlement_total_fen=Fen(amount),
        coupon_fen=Fen(0),
        refund_id="50300000" if refund else "0",
        out_refund_no="R1" if refund else "0",
        refund_fen=Fen(refund),
        recharge_coupon_refund_fen=Fen(0),
        body="锦鲤红包",
        fee_fen=Fen(fee),
        rate="0.60%",
        total_fen=Fen(amount),
        applied_refund_fen=Fen(refund),
    )


def _flow_row(n: int, amount: int, direction: str = EXPENSE) -> FundFlowRow:
    return FundFlowRow(
        booked_at="2026-11-22 10:00:00",
        wechat_business_no=f"1000{n}",
        flow_no=f"1900{n}",
        business_name="现金红包",
        business_type="红包",
        direction=direction,
        amount_fen=Fen(amount),
        balance_fen=Fen(10_000_000 - amount),
        applicant="system",
        voucher_no=f"P{n}",
    )


class TestRoundTrip:
    def test_trade_bill_written_like_wechat(self) -> None:
        """Written lines follow WeChat's format: backquotes, yuan, 5-decimal fees, summary."""
        lines = list(format_trade_bill([_trade_row(1, 188, fee=1)]))
        assert lines[0].startswith("交易时间,公众账号ID,商户号")
        assert ",`1.88,`0.00," in lines[1]
        assert ",`0.01000,`0.60%,`1.88,`0.00,`\r\n" in lines[1]
        assert lines[-1] == "`1,`1.88,`0.00,`0.00,`0.01000,`1.88,`0.00\r\n"

    @pytest.mark.parametrize(
        "header", [TRADE_SUCCESS_HEADER, TRADE_REFUND_HEADER], ids=["SUCCESS", "REFUND"]
    )
    def test_other_layouts_are_read_by_header_name(self, header: tuple[str, ...]) -> None:
        """SUCCESS and REFUND bills order their columns differently; names decide."""
        rows = [_trade_row(1, 188, fee=1), _trade_row(2, 300)]
        text = "".join(format_trade_bill(rows, header=header))
        parsed = parse_trade_bill(text).rows
        assert [(r.out_trade_no, r.total_fen, r.fee_fen) for r in parsed] == [
            ("J1", 188, 1),
            ("J2", 300, 0),
        ]

    def test_fund_flow_written_like_wechat(self) -> None:
        """The fund-flow summary counts are written 2.0 as in the official example."""
        rows = [_flow_row(1, 188), _flow_row(2, 188, INCOME)]
        lines = list(format_fund_flow_bill(rows, full_width_parentheses=True))
        assert "收支金额（元）" in lines[0]
        assert lines[-1] == "`2.0,`1.0,`1.88,`1.0,`1.88\r\n"
        assert parse_fund_flow_bill("".join(lines)).rows == rows

    @settings(max_examples=60)
    @given(
        amounts=st.lists(
            st.tuples(st.integers(0, 10**11), st.integers(-(10**6), 10**6), st.integers(0, 10**9)),
            max_size=20,
        ),
        newline=st.sampled_from(["\r\n", "\n"]),
    )
    def test_trade_bill_round_trip_is_exact(
        self, amounts: list[tuple[int, int, int]], newline: str
    ) -> None:
        """Any fen amounts (fees of either sign) survive fen → yuan text → fen exactly."""
        rows = [
            _trade_row(n, amount, fee=fee, refund=refund)
            for n, (amount, fee, refund) in enumerate(amounts)
        ]
        bill = parse_trade_bill("".join(format_trade_bill(rows, newline=newline)))
        assert bill.rows == rows
        assert bill.summary.total_count == len(rows)
        assert bill.summary.fee_total_fen == sum(fee for _, fee, _ in amounts)

    @settings(max_examples=60)
    @given(
        flows=st.lists(
            st.tuples(st.integers(0, 10**11), st.sampled_from([INCOME, EXPENSE])), max_size=20
        )
    )
    def test_fund_flow_round_trip_is_exact(self, flows: list[tuple[int, str]]) -> None:
        """Fund-flow rows and their income/expense summary survive a round trip."""
        rows = [_flow_row(n, amount, direction) for n, (amount, direction) in enumerate(flows)]
        bill = parse_fund_flow_bill("".join(format_fund_flow_bill(rows)))
        assert bill.rows == rows
        assert bill.summary.expense_fen == sum(a for a, d in flows if d == EXPENSE)

    def test_writer_refuses_fields_that_would_break_the_file(self) -> None:
        """A comma inside a text field would shift every column after it: refused."""
        with pytest.raises(ValueError, match="comma"):
            list(format_fund_flow_bill([replace(_flow_row(1, 1), remark="a,b")]))


def _flow_bill(*rows: str, summary: str = "`1.0,`0.0,`0.00,`1.0,`1.88") -> list[str]:
    header = (
        "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),"
        "资金变更提交申请人,备注,业务凭证号"
    )
    return [header, *rows, "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额", summary]


GOOD_ROW = "`2026-11-22 10:00:00,`1000,`1900,`红包,`红包,`支出,`1.88,`98.12,`system,`,`P1"


class TestMalformed:
    def test_good_bill_parses(self) -> None:
        """The baseline used by the cases below is valid."""
        rows = list(read_fund_flow_bill(_flow_bill(GOOD_ROW)))
        assert rows[0].amount_fen == 188

    def test_wrong_header(self) -> None:
        """A header without the required columns is refused on line 1."""
        lines = _flow_bill(GOOD_ROW)
        lines[0] = lines[0].replace("资金流水单号", "流水号")
        with pytest.raises(BillHeaderError, match=r"line 1.*资金流水单号"):
            list(read_fund_flow_bill(lines))

    @pytest.mark.parametrize("amount", ["1.005", "abc", "1,88", "", "１.88", "1.8.8"])
    def test_bad_amount_names_its_line(self, amount: str) -> None:
        """An amount that is not exact yuan is refused with its line number."""
        row = GOOD_ROW.replace("`1.88", f"`{amount}")
        with pytest.raises((BillAmountError, BillError), match="line 2"):
            list(read_fund_flow_bill(_flow_bill(row)))

    def test_sub_fen_amount_is_never_rounded(self) -> None:
        """1.885 yuan is not a whole number of fen: refused, not rounded to 1.88 or 1.89."""
        with pytest.raises(BillAmountError, match=r"1\.885"):
            list(read_fund_flow_bill(_flow_bill(GOOD_ROW.replace("`1.88", "`1.885"))))

    def test_missing_summary_is_truncated(self) -> None:
        """A file that ends after its rows was cut off."""
        with pytest.raises(BillTruncated, match="ends after line 2"):
            list(read_fund_flow_bill(_flow_bill(GOOD_ROW)[:2]))

    def test_missing_summary_row_is_truncated(self) -> None:
        """A file that ends after the summary header was cut off."""
        with pytest.raises(BillTruncated):
            list(read_fund_flow_bill(_flow_bill(GOOD_ROW)[:3]))

    def test_row_cut_in_the_middle_is_truncated(self) -> None:
        """A last line with too few fields is reported as a truncated file, with its line."""
        with pytest.raises(BillTruncated, match="line 3"):
            list(read_fund_flow_bill([*_flow_bill(GOOD_ROW)[:2], GOOD_ROW[:30]]))

    def test_empty_file_is_truncated(self) -> None:
        """An empty download is not an empty bill."""
        with pytest.raises(BillTruncated):
            list(read_trade_bill(["", "\r\n"]))

    @pytest.mark.parametrize(
        ("summary", "what"),
        [
            ("`2.0,`0.0,`0.00,`1.0,`1.88", "total_count"),
            ("`1.0,`0.0,`0.00,`1.0,`1.87", "expense_fen"),
            ("`1.0,`1.0,`1.88,`0.0,`0.00", "income_count"),
        ],
    )
    def test_summary_mismatch_names_the_total(self, summary: str, what: str) -> None:
        """A summary that disagrees with the rows is refused, naming the total and line 4."""
        with pytest.raises(BillSummaryMismatch, match=rf"line 4.*{what}"):
            list(read_fund_flow_bill(_flow_bill(GOOD_ROW, summary=summary)))

    def test_trade_summary_mismatch(self) -> None:
        """A trade bill whose 订单总金额 disagrees with its rows is refused."""
        text = TRADE_ALL.replace(
            "`2,`60.00,`50.00,`0.00,`0.05000,`60.00", "`2,`60.00,`50.00,`0.00,`0.05000,`60.01"
        )
        with pytest.raises(BillSummaryMismatch, match="订单总金额"):
            parse_trade_bill(text)

    def test_missing_backquote(self) -> None:
        """Every data field carries the backquote prefix; one without is refused."""
        row = GOOD_ROW.replace("`P1", "P1")
        with pytest.raises(BillError, match=r"line 2.*backquote"):
            list(read_fund_flow_bill(_flow_bill(row)))

    def test_extra_column(self) -> None:
        """A row with more fields than the header is refused."""
        with pytest.raises(BillError, match="line 2"):
            list(read_fund_flow_bill(_flow_bill(GOOD_ROW + ",`x")))

    def test_content_after_the_summary(self) -> None:
        """Nothing may follow the summary row."""
        with pytest.raises(BillError, match="line 5"):
            list(read_fund_flow_bill([*_flow_bill(GOOD_ROW), GOOD_ROW]))

    def test_unknown_direction(self) -> None:
        """收支类型 is 收入 or 支出, nothing else."""
        with pytest.raises(BillError, match="收支类型"):
            list(read_fund_flow_bill(_flow_bill(GOOD_ROW.replace("`支出", "`转出"))))

    def test_not_utf8(self) -> None:
        """A GBK-encoded file is refused as not UTF-8."""
        data = "\r\n".join(_flow_bill(GOOD_ROW)).encode("gbk")
        with pytest.raises(BillError, match="UTF-8"):
            list(read_fund_flow_bill(lines_from_bytes(data)))

    def test_summary_only_after_iteration_and_single_pass(self) -> None:
        """The summary exists once every row was read; a reader is iterated once."""
        reader = read_fund_flow_bill(_flow_bill(GOOD_ROW))
        with pytest.raises(RuntimeError):
            _ = reader.summary
        list(reader)
        assert reader.summary.expense_fen == 188
        with pytest.raises(RuntimeError):
            list(reader)


class TestStreaming:
    def test_bytes_with_bom_and_crlf(self) -> None:
        """A UTF-8 file with BOM and CRLF line endings parses from bytes."""
        data = ("\ufeff" + "\r\n".join(_flow_bill(GOOD_ROW)) + "\r\n").encode()
        assert len(list(read_bill(lines_from_bytes(data)))) == 1

    def test_rows_are_yielded_before_the_file_is_read(self) -> None:
        """The reader pulls lines lazily: the first row arrives after ~3 lines, not all."""
        pulled = 0

        def lines() -> Iterator[str]:
            nonlocal pulled
            for line in format_fund_flow_bill(_flow_row(n, 100) for n in range(1000)):
                pulled += 1
                yield line

        first = next(iter(read_fund_flow_bill(lines())))
        assert first.voucher_no == "P0"
        assert pulled <= 3

    @staticmethod
    def _peak_bytes(size: int) -> int:
        """Peak traced memory while streaming a ``size``-row bill through write → read."""
        rows = (_flow_row(n, n) for n in range(size))  # all amounts distinct: worst case
        tracemalloc.start()
        try:
            reader = read_fund_flow_bill(format_fund_flow_bill(rows))
            count = sum(1 for _ in reader)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert count == reader.summary.total_count == size
        return peak

    def test_memory_does_not_grow_with_the_bill(self) -> None:
        """Ten times more rows (megabytes more text) cost no more than a few rows' memory."""
        small, large = self._peak_bytes(1_000), self._peak_bytes(10_000)
        assert large - small < 200_000  # bytes; holding 9,000 more rows would take megabytes
