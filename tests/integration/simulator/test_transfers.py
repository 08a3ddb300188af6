"""transfer-bills through Jinli's client: WeChat's validations, idempotency on out_bill_no,
the state machine on the simulator clock, cancel, rate limit and query window."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import httpx
import pytest

from jinli.integrations.simulator import Credentials, PayoutKind, Simulator, SimulatorConfig
from jinli.integrations.wechatpay import SceneReportInfo, WeChatPayCallError, WeChatPayV3Client
from jinli.integrations.wechatpay.outcomes import Outcome
from jinli.kernel.clock import FrozenClock

from .conftest import OPENID, certificate_keys, transfer, v3_config


async def _refused(client: WeChatPayV3Client, request: object) -> WeChatPayCallError:
    with pytest.raises(WeChatPayCallError) as caught:
        await client.create_transfer_bill(request)  # type: ignore[arg-type]
    return caught.value


class TestStateMachine:
    async def test_confirmed_transfer_succeeds(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """WAIT_USER_CONFIRM with package_info → the user confirms → TRANSFERING → SUCCESS;
        the book shows one success and one debit."""
        created = await v3.create_transfer_bill(transfer(credentials, "T1"))
        assert created.state == "WAIT_USER_CONFIRM"
        assert created.package_info
        assert sim.confirm_transfer(package_info=created.package_info)
        assert (await v3.get_transfer_bill("T1")).state == "TRANSFERING"
        sim.advance(1)
        detail = await v3.get_transfer_bill("T1")
        assert detail.state == "SUCCESS"
        assert detail.outcome is Outcome.SUCCEEDED
        entry = sim.book.get(PayoutKind.TRANSFER, "T1")
        assert entry is not None
        assert (entry.successes, entry.debits, entry.returned_fen) == (1, 1, 0)

    async def test_unconfirmed_for_24_hours_fails_and_returns_the_money(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """Still waiting one second before 24 h; FAIL (OVERDUE_CLOSE) at 24 h, the money goes
        back to the balance, and the user can no longer confirm."""
        balance = sim.book.balance_fen
        await v3.create_transfer_bill(transfer(credentials, "T2", 500))
        assert sim.book.balance_fen == balance - 500
        sim.advance(timedelta(hours=24) - timedelta(seconds=1))
        assert (await v3.get_transfer_bill("T2")).state == "WAIT_USER_CONFIRM"
        sim.advance(1)
        detail = await v3.get_transfer_bill("T2")
        assert (detail.state, detail.fail_reason) == ("FAIL", "OVERDUE_CLOSE")
        assert detail.outcome is Outcome.FAILED
        assert sim.book.balance_fen == balance
        assert not sim.confirm_transfer("T2")

    async def test_accepted_processing_then_waiting(
        self, credentials: Credentials, clock: FrozenClock
    ) -> None:
        """With a processing delay: ACCEPTED at create, PROCESSING half-way, then
        WAIT_USER_CONFIRM with its package_info."""
        sim = Simulator(
            credentials,
            SimulatorConfig(transfer_confirm_ready_delay=timedelta(seconds=10)),
            clock=clock,
        )
        from fastapi import FastAPI

        from jinli.integrations.simulator import create_simulator_app

        app = FastAPI()
        app.mount("/wechat-sim", create_simulator_app(sim))
        async with WeChatPayV3Client(
            v3_config(credentials),
            certificate_keys(credentials),
            transport=httpx.ASGITransport(app=app),
            clock=clock,
        ) as client:
            created = await client.create_transfer_bill(transfer(credentials, "T3"))
            assert (created.state, created.package_info) == ("ACCEPTED", None)
            sim.advance(5)
            assert (await client.get_transfer_bill("T3")).state == "PROCESSING"
            sim.advance(5)
            again = await client.create_transfer_bill(transfer(credentials, "T3"))
        assert again.state == "WAIT_USER_CONFIRM"
        assert again.package_info
        assert again.transfer_bill_no == created.transfer_bill_no

    async def test_cancel_before_confirmation(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """Cancel → CANCELING (repeatable) → CANCELLED with the money back; a terminal bill
        and an unknown one cannot be cancelled."""
        await v3.create_transfer_bill(transfer(credentials, "T4"))
        assert (await v3.cancel_transfer_bill("T4")).state == "CANCELING"
        assert (await v3.cancel_transfer_bill("T4")).state == "CANCELING"
        sim.advance(1)
        detail = await v3.get_transfer_bill("T4")
        assert detail.state == "CANCELLED"
        assert detail.outcome is Outcome.FAILED
        entry = sim.book.get(PayoutKind.TRANSFER, "T4")
        assert entry is not None
        assert entry.net_paid_fen == 0
        for number in ("T4", "NOPE"):
            with pytest.raises(WeChatPayCallError) as caught:
                await v3.cancel_transfer_bill(number)
            assert caught.value.wechat_code == "INVALID_REQUEST"

    async def test_no_cancel_once_the_user_confirmed(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """After the user confirmed (TRANSFERING) a cancel is refused and the bill pays."""
        await v3.create_transfer_bill(transfer(credentials, "T5"))
        assert sim.confirm_transfer("T5")
        with pytest.raises(WeChatPayCallError) as caught:
            await v3.cancel_transfer_bill("T5")
        assert caught.value.wechat_code == "INVALID_REQUEST"
        sim.advance(1)
        assert (await v3.get_transfer_bill("T5")).state == "SUCCESS"

    async def test_wechat_may_fail_a_bill_on_its_own(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """Risk control fails a waiting bill; the reason comes back in the query."""
        await v3.create_transfer_bill(transfer(credentials, "T6"))
        assert sim.fail_transfer("T6", "TRANSFER_RISK")
        detail = await v3.get_transfer_bill("T6")
        assert (detail.state, detail.fail_reason) == ("FAIL", "TRANSFER_RISK")


class TestIdempotency:
    async def test_same_parameters_same_bill_one_payment(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """Retrying with the same out_bill_no and parameters returns the same bill, charges
        once; a confirmed bill answers its current state to a late retry."""
        first = await v3.create_transfer_bill(transfer(credentials, "I1"))
        second = await v3.create_transfer_bill(transfer(credentials, "I1"))
        assert second.transfer_bill_no == first.transfer_bill_no
        sim.confirm_transfer("I1")
        sim.advance(1)
        late = await v3.create_transfer_bill(transfer(credentials, "I1"))
        assert late.state == "SUCCESS"
        assert late.package_info is None
        assert sim.successes() == {"I1": 1}
        entry = sim.book.get(PayoutKind.TRANSFER, "I1")
        assert entry is not None
        assert entry.debits == 1

    async def test_different_parameters_are_refused(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """The same out_bill_no with another amount: 400 INVALID_REQUEST, nothing paid."""
        await v3.create_transfer_bill(transfer(credentials, "I2", 188))
        error = await _refused(v3, transfer(credentials, "I2", 288))
        assert (error.http_status, error.wechat_code) == (400, "INVALID_REQUEST")
        assert error.outcome is Outcome.REJECTED
        assert len(sim.book.entries()) == 1


class TestValidation:
    @pytest.mark.parametrize(
        ("overrides", "code"),
        [
            ({"scene_report_infos": [SceneReportInfo("活动名称", "x")]}, "PARAM_ERROR"),
            (
                {
                    "scene_report_infos": [
                        SceneReportInfo("活动名称", "x"),
                        SceneReportInfo("活动名称", "y"),
                    ]
                },
                "PARAM_ERROR",
            ),
            (
                {
                    "scene_report_infos": [
                        SceneReportInfo("活动名称", "x" * 33),
                        SceneReportInfo("奖励说明", "y"),
                    ]
                },
                "PARAM_ERROR",
            ),
            ({"transfer_amount_fen": 9}, "INVALID_REQUEST"),
            ({"transfer_amount_fen": 20_001}, "INVALID_REQUEST"),
            ({"transfer_remark": "备" * 33}, "PARAM_ERROR"),
            ({"transfer_scene_id": "1999"}, "INVALID_REQUEST"),
            ({"appid": "wx0000000000000000"}, "INVALID_REQUEST"),
            ({"user_recv_perception": "随便给点"}, "PARAM_ERROR"),
            ({"user_recv_style": "CASH"}, "PARAM_ERROR"),
            ({"out_bill_no": "has-dash"}, "PARAM_ERROR"),
            ({"transfer_amount_fen": 20, "user_name": "张三"}, "PARAM_ERROR"),
        ],
    )
    async def test_wechat_refuses(
        self,
        v3: WeChatPayV3Client,
        sim: Simulator,
        credentials: Credentials,
        overrides: dict[str, object],
        code: str,
    ) -> None:
        """Each documented rule refuses the request as REJECTED and pays nothing."""
        base = transfer(credentials, "V1")
        error = await _refused(v3, dataclasses.replace(base, **overrides))  # type: ignore[arg-type]
        assert error.wechat_code == code
        assert error.outcome is Outcome.REJECTED
        assert sim.book.entries() == []

    async def test_large_transfers_need_a_name(
        self, credentials: Credentials, clock: FrozenClock
    ) -> None:
        """From 2000 CNY a user_name is required (with the per-transfer limit raised)."""
        sim = Simulator(credentials, SimulatorConfig(transfer_max_fen=500_000), clock=clock)
        from fastapi import FastAPI

        from jinli.integrations.simulator import create_simulator_app

        app = FastAPI()
        app.mount("/wechat-sim", create_simulator_app(sim))
        async with WeChatPayV3Client(
            v3_config(credentials),
            certificate_keys(credentials),
            transport=httpx.ASGITransport(app=app),
            clock=clock,
        ) as client:
            error = await _refused(client, transfer(credentials, "V2", 200_000))
            named = await client.create_transfer_bill(
                transfer(credentials, "V3", 200_000, user_name="王五")
            )
            detail = await client.get_transfer_bill("V3")
            assert client.decrypt_sensitive(detail.user_name or "") == "王五"
        assert error.wechat_code == "PARAM_ERROR"
        assert named.state == "WAIT_USER_CONFIRM"


class TestLimits:
    async def test_100_per_second_then_frequency_limited(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """100 creates in one second pass; the 101st is 429 FREQUENCY_LIMITED (RETRY_LATER,
        not applied); a second later the same number goes through."""
        for n in range(100):
            await v3.create_transfer_bill(transfer(credentials, f"R{n}"))
        error = await _refused(v3, transfer(credentials, "R100"))
        assert (error.http_status, error.wechat_code) == (429, "FREQUENCY_LIMITED")
        assert error.outcome is Outcome.RETRY_LATER
        assert sim.book.get(PayoutKind.TRANSFER, "R100") is None
        sim.advance(1)
        assert (await v3.create_transfer_bill(transfer(credentials, "R100"))).state

    async def test_balance_short_is_not_enough_then_same_number_after_top_up(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """A short balance: 403 NOT_ENOUGH (RETRY_LATER); after a top-up the same number
        succeeds."""
        sim.set_balance(100)
        error = await _refused(v3, transfer(credentials, "B1", 188))
        assert (error.http_status, error.wechat_code) == (403, "NOT_ENOUGH")
        assert error.outcome is Outcome.RETRY_LATER
        sim.set_balance(10_000)
        assert (await v3.create_transfer_bill(transfer(credentials, "B1", 188))).state

    async def test_queries_see_30_days_and_both_numbers(
        self, v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
    ) -> None:
        """Query by transfer_bill_no works; an unknown number and a bill older than 30 days
        are 404 NOT_FOUND (UNKNOWN: never read as failed)."""
        created = await v3.create_transfer_bill(transfer(credentials, "Q1"))
        by_no = await v3.get_transfer_bill_by_transfer_bill_no(created.transfer_bill_no)
        assert (by_no.out_bill_no, by_no.openid) == ("Q1", OPENID)
        sim.advance(timedelta(days=30, seconds=1))
        for number in ("Q1", "NEVER"):
            with pytest.raises(WeChatPayCallError) as caught:
                await v3.get_transfer_bill(number)
            assert (caught.value.http_status, caught.value.outcome) == (404, Outcome.UNKNOWN)
