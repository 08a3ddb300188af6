"""The community SDKs work against the simulator unchanged except for the base URL, and accept
its signed replies and callbacks (issue 3 acceptance). Both are synchronous (requests), so the
simulator runs as a real uvicorn server on a free loopback port, in real-time mode (the SDKs
sign with ``time.time()``; advancing the simulator moves business time only), with callbacks
delivered by the test rather than the background task."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from typing import Any

import httpx
import pytest
from wechatpayv3 import WeChatPay, WeChatPayType  # type: ignore[import-untyped]
from wechatpy.exceptions import WeChatPayException  # type: ignore[import-untyped]
from wechatpy.pay import WeChatPay as WeChatPayV2  # type: ignore[import-untyped]

from jinli.integrations.simulator import Credentials, Simulator, SimulatorConfig
from jinli.integrations.simulator.server import SimulatorServer
from jinli.integrations.wechatpay.crypto import private_key_pem, public_key_pem
from jinli.kernel.clock import SHANGHAI

from .conftest import OPENID

pytestmark = pytest.mark.filterwarnings(
    "ignore:Properties that return a na"  # wechatpayv3 reads naive certificate dates
)
NOTIFY = "http://merchant.test/notify"
REPORT = [
    {"info_type": "活动名称", "info_content": "瓶盖扫码赢红包"},
    {"info_type": "奖励说明", "info_content": "扫码抽中现金奖励"},
]


@pytest.fixture
def served(credentials: Credentials) -> Iterator[tuple[Simulator, str]]:
    """A real-time simulator behind a real socket."""
    config = SimulatorConfig(duplicate_probability=0.0, background=False)
    sim = Simulator(credentials, config)
    server = SimulatorServer(sim)
    url = server.start()
    try:
        yield sim, url
    finally:
        server.stop()


def _wxpay(credentials: Credentials, url: str, *, public_key: bool) -> Any:
    """wechatpayv3 exactly as a merchant configures it, then pointed at the simulator."""
    extra: dict[str, Any] = (
        {
            "public_key": public_key_pem(credentials.platform_public_key),
            "public_key_id": credentials.public_key_id,
        }
        if public_key
        else {"cert_dir": credentials.as_dict()["platform_certificate_dir"]}
    )
    wxpay = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=credentials.mchid,
        private_key=private_key_pem(credentials.merchant_key),
        cert_serial_no=credentials.merchant_serial_no,
        appid=credentials.appid,
        apiv3_key=credentials.api_v3_key,
        notify_url=NOTIFY,
        timeout=(5, 10),
        **extra,
    )
    wxpay._core._gate_way = url  # the one difference from real use
    return wxpay


@pytest.mark.parametrize("public_key", [False, True], ids=["certificate", "public_key"])
def test_wechatpayv3_transfer_bill_round_trip(
    served: tuple[Simulator, str], credentials: Credentials, public_key: bool
) -> None:
    """wechatpayv3 creates (with an encrypted user_name), queries and cancels a transfer;
    every reply passes its signature check, and the simulator's book has the bill."""
    sim, url = served
    wxpay = _wxpay(credentials, url, public_key=public_key)
    code, text = wxpay.mch_transfer_bills(
        out_bill_no="SDK0001",
        transfer_scene_id="1000",
        openid=OPENID,
        transfer_amount=188,
        transfer_remark="锦鲤活动奖励",
        user_name="张三",
        transfer_scene_report_infos=REPORT,
    )
    assert code == 200, text
    created = json.loads(text)
    assert created["state"] == "WAIT_USER_CONFIRM"
    assert created["package_info"]
    code, text = wxpay.mch_transfer_bills_query(out_bill_no="SDK0001")
    assert code == 200, text
    detail = json.loads(text)
    assert detail["transfer_amount"] == 188
    assert wxpay.decrypt(detail["user_name"]) == "张三"
    code, text = wxpay.mch_transfer_bills_query(transfer_bill_no=created["transfer_bill_no"])
    assert code == 200
    code, text = wxpay.mch_transfer_bills_cancel(out_bill_no="SDK0001")
    assert code == 200, text
    assert json.loads(text)["state"] == "CANCELING"
    sim.advance(2)
    code, text = wxpay.mch_transfer_bills_query(out_bill_no="SDK0001")
    assert json.loads(text)["state"] == "CANCELLED"


def test_wechatpayv3_downloads_certificates_and_bills(
    served: tuple[Simulator, str], credentials: Credentials
) -> None:
    """wechatpayv3 decrypts the simulator's /v3/certificates, asks for a fund-flow bill and
    downloads it through the download_url it strips of its gateway."""
    sim, url = served
    wxpay = _wxpay(credentials, url, public_key=False)
    wxpay._core._certificates.clear()
    wxpay._core._update_certificates()
    assert [c.serial_number for c in wxpay._core._certificates] == [
        credentials.platform_certificate.serial_number
    ]
    code, text = wxpay.mch_transfer_bills(
        out_bill_no="SDK0002",
        transfer_scene_id="1000",
        openid=OPENID,
        transfer_amount=300,
        transfer_remark="锦鲤活动奖励",
        transfer_scene_report_infos=REPORT,
    )
    assert code == 200, text
    day = sim.now().astimezone(SHANGHAI).date()
    next_day_11h = datetime.combine(day + timedelta(days=1), time(11), tzinfo=SHANGHAI)
    sim.advance(next_day_11h - sim.now())  # T+1, after 10:00 Beijing
    code, text = wxpay.fundflow_bill(bill_date=day.isoformat(), tar_type="GZIP")
    assert code == 200, text
    info = json.loads(text)
    assert info["download_url"].startswith(url)
    code, content = wxpay.download_bill(info["download_url"])
    assert code == 200
    plain = gzip.decompress(content)
    assert hashlib.sha1(plain).hexdigest() == info["hash_value"]  # noqa: S324 - WeChat's hash
    assert "`SDK0002" in plain.decode("utf-8")


def test_wechatpayv3_accepts_the_simulators_callbacks(
    served: tuple[Simulator, str], credentials: Credentials
) -> None:
    """wechatpayv3's ``callback(headers, body)`` verifies and decrypts a transfer callback, and
    returns None for a forged one."""
    sim, url = served
    wxpay = _wxpay(credentials, url, public_key=False)
    results: list[Any] = []

    def merchant(request: httpx.Request) -> httpx.Response:
        result = wxpay.callback(dict(request.headers), request.content)
        results.append(result)
        return httpx.Response(204 if result else 401)

    sim.callback_transport = httpx.MockTransport(merchant)
    sim.inject("callback", "forged_signature")
    code, text = wxpay.mch_transfer_bills(
        out_bill_no="SDK0003",
        transfer_scene_id="1000",
        openid=OPENID,
        transfer_amount=520,
        transfer_remark="锦鲤活动奖励",
        transfer_scene_report_infos=REPORT,
        notify_url=NOTIFY,
    )
    assert code == 200, text
    assert sim.confirm_transfer("SDK0003")
    attempts = asyncio.run(sim.advance_and_deliver(2))
    assert [a.variant for a in attempts] == ["forged", "genuine"]
    assert results[0] is None
    genuine = results[1]
    assert genuine["event_type"] == "MCHTRANSFER.BILL.FINISHED"
    assert genuine["resource"]["out_bill_no"] == "SDK0003"
    assert genuine["resource"]["state"] == "SUCCESS"
    assert genuine["resource"]["transfer_amount"] == 520
    assert attempts[1].acknowledged


def _wechatpy(credentials: Credentials, url: str) -> Any:
    pay = WeChatPayV2(
        appid=credentials.appid,
        api_key=credentials.api_key,
        mch_id=credentials.mchid,
        timeout=10,
    )
    pay.API_BASE_URL = url + "/"  # the one difference from real use
    return pay


def test_wechatpy_sends_and_queries_a_red_packet(
    served: tuple[Simulator, str], credentials: Credentials
) -> None:
    """wechatpy sends a cash red packet (MD5-signed XML) and queries it; a resend with other
    parameters raises FATAL_ERROR, and the book holds one packet."""
    sim, url = served
    pay = _wechatpy(credentials, url)
    sent = pay.redpack.send(
        user_id=OPENID,
        total_amount=188,
        send_name="锦鲤演示品牌",
        act_name="瓶盖扫码",
        wishing="恭喜发财",
        remark="扫码赢红包",
        client_ip="127.0.0.1",
        out_trade_no="SDKRP0001",
    )
    assert sent["result_code"] == "SUCCESS"
    assert sent["mch_billno"] == "SDKRP0001"
    sim.advance(2)
    info = pay.redpack.query("SDKRP0001")
    assert info["status"] == "SENT"
    assert info["total_amount"] == "188"
    assert sim.open_redpack("SDKRP0001")
    assert pay.redpack.query("SDKRP0001")["status"] == "RECEIVED"
    with pytest.raises(WeChatPayException) as caught:
        pay.redpack.send(
            user_id=OPENID,
            total_amount=288,
            send_name="锦鲤演示品牌",
            act_name="瓶盖扫码",
            wishing="恭喜发财",
            remark="扫码赢红包",
            client_ip="127.0.0.1",
            out_trade_no="SDKRP0001",
        )
    assert caught.value.errcode == "FATAL_ERROR"
    assert sim.successes() == {"SDKRP0001": 1}
