"""Brand red packet batches, and the T+1 bills that show every payout: format, hash, gzip,
availability rules."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from jinli.integrations.simulator import Credentials, PayoutKind, Simulator
from jinli.integrations.wechatpay import (
    BrandRedpacketBatchCreate,
    BrandRedpacketDetailCreate,
    TradeBillRow,
    WeChatPayCallError,
    WeChatPayV2Client,
    WeChatPayV3Client,
    read_fund_flow_bill,
    read_trade_bill,
)
from jinli.integrations.wechatpay.bills import lines_from_bytes
from jinli.integrations.wechatpay.outcomes import Outcome
from jinli.kernel.clock import SHANGHAI
from jinli.kernel.money import Fen

from .conftest import BASE_URL, OPENID, redpack, transfer


def _batch(credentials: Credentials, out_batch_no: str, *amounts: int) -> BrandRedpacketBatchCreate:
    return BrandRedpacketBatchCreate(
        brand_id=1234,
        brand_appid=credentials.appid,
        template_id="TPL01",
        out_batch_no=out_batch_no,
        batch_name="双十一品牌红包",
        batch_remark="锦鲤活动",
        details=[
            BrandRedpacketDetailCreate(f"D{n}", Fen(amount), f"o_brand_{n}", "恭喜")
            for n, amount in enumerate(amounts)
        ],
    )


class TestBrandRedpackets:
    async def test_batch_is_paid_straight_to_balance(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """ACCEPTED → PROCESSING → FINISHED; each detail DETAIL_SUCCESS (a blocked openid
        DETAIL_FAIL OPENID_INVALID), queried by either number; one book entry per detail."""
        sim.block_openid("o_brand_2")
        created = await v3.create_brand_redpacket_batch(_batch(credentials, "BB1", 100, 200, 300))
        assert created.batch_state == "ACCEPTED"
        again = await v3.create_brand_redpacket_batch(_batch(credentials, "BB1", 100, 200, 300))
        assert again.batch_no == created.batch_no
        sim.advance(1)
        batch = await v3.get_brand_batch(
            "BB1", need_query_detail=True, detail_state="DETAIL_VIEW_ALL"
        )
        assert (batch.batch_state, batch.success_num, batch.fail_num) == ("FINISHED", 2, 1)
        assert (batch.success_amount_fen, batch.fail_amount_fen) == (300, 300)
        assert [d.detail_state for d in batch.details] == [
            "DETAIL_SUCCESS",
            "DETAIL_SUCCESS",
            "DETAIL_FAIL",
        ]
        detail = await v3.get_brand_detail("BB1", "D2")
        assert (detail.detail_state, detail.fail_reason) == ("DETAIL_FAIL", "OPENID_INVALID")
        assert detail.outcome is Outcome.FAILED
        by_no = await v3.get_brand_detail_by_detail_no(
            batch.batch_no or "", batch.details[0].detail_no
        )
        assert by_no.outcome is Outcome.SUCCEEDED
        entry = sim.book.get(PayoutKind.BRAND, "D0", "BB1")
        assert entry is not None
        assert (entry.successes, entry.debits) == (1, 1)
        with pytest.raises(WeChatPayCallError) as caught:
            await v3.create_brand_redpacket_batch(_batch(credentials, "BB1", 100, 200))
        assert caught.value.wechat_code == "INVALID_REQUEST"

    async def test_amount_rules(self, v3: WeChatPayV3Client, credentials: Credentials) -> None:
        """A detail outside the amount range refuses the whole batch."""
        with pytest.raises(WeChatPayCallError) as caught:
            await v3.create_brand_redpacket_batch(_batch(credentials, "BB2", 100, 50))
        assert caught.value.outcome is Outcome.REJECTED


def _next_day_at(sim: Simulator, hour: int, minute: int = 0) -> timedelta:
    today = sim.now().astimezone(SHANGHAI).date()
    target = datetime.combine(today + timedelta(days=1), time(hour, minute), tzinfo=SHANGHAI)
    return target - sim.now()


class TestBills:
    async def test_fund_flow_bill_shows_every_payout_and_return(
        self,
        v3: WeChatPayV3Client,
        v2: WeChatPayV2Client,
        sim: Simulator,
        credentials: Credentials,
    ) -> None:
        """One expense row per payout (transfer, red packet, brand packet), an income row per
        return (a cancelled transfer), 业务凭证号 = the merchant number; the summary and the
        SHA1 match; the download URL is on the configured base URL; T+1 after 10:00."""
        day = sim.now().astimezone(SHANGHAI).date()
        await v3.create_transfer_bill(transfer(credentials, "BT1", 188))
        await v3.create_transfer_bill(transfer(credentials, "BT2", 300))
        await v3.cancel_transfer_bill("BT2")
        await v2.send_redpack(redpack(credentials, "BR1", 666))
        await v3.create_brand_redpacket_batch(_batch(credentials, "BB3", 120))
        sim.advance(_next_day_at(sim, 9, 59))
        with pytest.raises(WeChatPayCallError) as creating:
            await v3.request_fundflow_bill(day)
        assert (creating.value.wechat_code, creating.value.outcome) == (
            "STATEMENT_CREATING",
            Outcome.RETRY_LATER,
        )
        sim.advance(60)
        for tar_type in ("GZIP", None):
            info = await v3.request_fundflow_bill(day, tar_type=tar_type)
            assert info.download_url.startswith(BASE_URL + "/v3/billdownload/file?token=")
            content = await v3.download_bill(info)
            reader = read_fund_flow_bill(lines_from_bytes(content))
            rows = list(reader)
            assert [(r.direction, r.voucher_no, r.amount_fen) for r in rows] == [
                ("支出", "BT1", 188),
                ("支出", "BT2", 300),
                ("支出", "BR1", 666),
                ("收入", "BT2", 300),  # the cancel, one second after the create
                ("支出", "D0", 120),  # the brand packet, paid one second after its batch
            ]
            assert reader.summary.expense_fen == 188 + 300 + 666 + 120
            assert reader.summary.income_count == 1
            assert all(r.booked_at.startswith(day.isoformat()) for r in rows)
            assert rows[-1].balance_fen == sim.book.balance_fen
        assert content.startswith("记账时间".encode())

    async def test_availability_rules(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """Today and later: PARAM_ERROR; more than three months back: PARAM_ERROR; a day
        without activity: NO_STATEMENT_EXIST (REJECTED, do not retry); the trade bill has
        no payouts."""
        today = sim.now().astimezone(SHANGHAI).date()
        await v3.create_transfer_bill(transfer(credentials, "BT3"))
        sim.advance(_next_day_at(sim, 11))
        cases = [
            (today + timedelta(days=1), "PARAM_ERROR"),
            (today - timedelta(days=100), "PARAM_ERROR"),
            (today - timedelta(days=1), "NO_STATEMENT_EXIST"),
        ]
        for day, code in cases:
            with pytest.raises(WeChatPayCallError) as caught:
                await v3.request_fundflow_bill(day)
            assert caught.value.wechat_code == code
        with pytest.raises(WeChatPayCallError) as trade:
            await v3.request_trade_bill(today)
        assert (trade.value.wechat_code, trade.value.outcome) == (
            "NO_STATEMENT_EXIST",
            Outcome.REJECTED,
        )
        with pytest.raises(WeChatPayCallError) as account:
            await v3.request_fundflow_bill(today, account_type="OPERATION")
        assert account.value.wechat_code == "NO_STATEMENT_EXIST"

    async def test_trade_bill_from_added_trades(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """Pay-in trades added through the Python API come back in WeChat's trade-bill
        format, hash-checked; an expired download URL is refused."""
        today = sim.now().astimezone(SHANGHAI).date()
        row = TradeBillRow(
            trade_time=f"{today.isoformat()} 12:30:00",
            appid=credentials.appid,
            mch_id=credentials.mchid,
            transaction_id="4200000000000000000000000001",
            out_trade_no="ORDER1",
            openid=OPENID,
            trade_type="JSAPI",
            trade_state="SUCCESS",
            bank_type="OTHERS",
            currency="CNY",
            settlement_total_fen=Fen(990),
            coupon_fen=Fen(0),
            fee_fen=Fen(6),
            rate="0.60%",
            total_fen=Fen(990),
        )
        sim.bills.add_trade(row)
        sim.advance(_next_day_at(sim, 10))
        info = await v3.request_trade_bill(today)
        [read] = list(read_trade_bill(lines_from_bytes(await v3.download_bill(info))))
        assert (read.out_trade_no, read.total_fen, read.fee_fen) == ("ORDER1", 990, 6)
        sim.advance(timedelta(minutes=6))
        with pytest.raises(WeChatPayCallError):
            await v3.download_bill(info)


def test_bill_dates_are_beijing_days(sim: Simulator) -> None:
    """The frozen test clock starts at 12:00 Beijing time (a sanity check on the fixtures)."""
    assert sim.now().astimezone(SHANGHAI).date() == date(2026, 11, 23)
