"""v2 cash red packets through Jinli's v2 client: MD5 signatures, amount rules, per-user and
rate limits, idempotency on mch_billno (FATAL_ERROR), the return_code=FAIL quirk, and the
state machine with its 24 h refund."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import httpx
import pytest

from jinli.integrations.simulator import Credentials, PayoutKind, Simulator, SimulatorConfig
from jinli.integrations.wechatpay import WeChatPayCallError, WeChatPayV2Client, WeChatPayV2Config
from jinli.integrations.wechatpay.outcomes import Outcome
from jinli.integrations.wechatpay.v2 import parse_xml, sign, to_xml
from jinli.kernel.clock import FrozenClock

from .conftest import BASE_URL, HOST, OPENID, PREFIX, redpack


async def _refused(client: WeChatPayV2Client, request: object) -> WeChatPayCallError:
    with pytest.raises(WeChatPayCallError) as caught:
        await client.send_redpack(request)  # type: ignore[arg-type]
    return caught.value


async def test_sent_then_received(
    v2: WeChatPayV2Client, sim: Simulator, credentials: Credentials
) -> None:
    """SENDING → SENT → the user opens it → RECEIVED with the claim listed."""
    sent = await v2.send_redpack(redpack(credentials, "P1", 288))
    assert sent.send_listid
    assert (await v2.get_redpack_info("P1", credentials.appid)).status == "SENDING"
    sim.advance(1)
    assert (await v2.get_redpack_info("P1", credentials.appid)).status == "SENT"
    assert sim.open_redpack("P1")
    info = await v2.get_redpack_info("P1", credentials.appid)
    assert info.status == "RECEIVED"
    assert info.outcome is Outcome.SUCCEEDED
    [claim] = info.claims
    assert (claim.openid, claim.amount_fen) == (OPENID, 288)


async def test_unopened_for_24_hours_is_refunded(
    v2: WeChatPayV2Client, sim: Simulator, credentials: Credentials
) -> None:
    """Unopened 24 h after sending: RFUND_ING, then REFUND with refund_amount =
    total_amount, back in the balance; it can no longer be opened."""
    balance = sim.book.balance_fen
    await v2.send_redpack(redpack(credentials, "P2", 500))
    sim.advance(timedelta(hours=24))
    assert (await v2.get_redpack_info("P2", credentials.appid)).status == "RFUND_ING"
    assert not sim.open_redpack("P2")
    sim.advance(timedelta(minutes=5))
    info = await v2.get_redpack_info("P2", credentials.appid)
    assert (info.status, info.refund_amount_fen) == ("REFUND", 500)
    assert info.outcome is Outcome.REFUNDED
    assert info.refund_time
    assert sim.book.balance_fen == balance


async def test_same_billno_same_packet_other_parameters_fatal(
    v2: WeChatPayV2Client, sim: Simulator, credentials: Credentials
) -> None:
    """A resend with the same parameters (another client_ip is fine) answers the same packet;
    other parameters are FATAL_ERROR; the book holds one packet charged once."""
    first = await v2.send_redpack(redpack(credentials, "P3"))
    again = await v2.send_redpack(redpack(credentials, "P3", client_ip="10.0.0.9"))
    assert again.send_listid == first.send_listid
    error = await _refused(v2, redpack(credentials, "P3", 999))
    assert error.wechat_code == "FATAL_ERROR"
    entry = sim.book.get(PayoutKind.REDPACK, "P3")
    assert entry is not None
    assert (entry.debits, len(sim.book.entries())) == (1, 1)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"total_amount_fen": 99}, "MONEY_LIMIT"),
        ({"total_amount_fen": 20_001}, "MONEY_LIMIT"),
        ({"total_num": 2}, "PARAM_ERROR"),
        ({"mch_billno": "x" * 29}, "PARAM_ERROR"),
        ({"wxappid": "wx0000000000000000"}, "ILLEGAL_APPID"),
        ({"act_name": "活" * 33}, "PARAM_ERROR"),
        ({"scene_id": "PRODUCT_9"}, "PARAM_ERROR"),
    ],
)
async def test_rules(
    v2: WeChatPayV2Client,
    sim: Simulator,
    credentials: Credentials,
    overrides: dict[str, object],
    code: str,
) -> None:
    """Each documented rule refuses the send; nothing is paid."""
    request = dataclasses.replace(redpack(credentials, "P4"), **overrides)  # type: ignore[arg-type]
    error = await _refused(v2, request)
    assert error.wechat_code == code
    assert sim.book.entries() == []


async def test_scene_id_allows_small_amounts(
    v2: WeChatPayV2Client, credentials: Credentials
) -> None:
    """Below 1 CNY a scene_id makes the amount acceptable."""
    sent = await v2.send_redpack(redpack(credentials, "P5", 50, scene_id="PRODUCT_2"))
    assert sent.total_amount_fen == 50


async def test_ten_per_user_per_day(
    v2: WeChatPayV2Client, sim: Simulator, credentials: Credentials
) -> None:
    """The 11th packet to one user on one Beijing day is SENDNUM_LIMIT; the next day it
    goes through with the same number."""
    for n in range(10):
        await v2.send_redpack(redpack(credentials, f"U{n}"))
    error = await _refused(v2, redpack(credentials, "U10"))
    assert (error.wechat_code, error.outcome) == ("SENDNUM_LIMIT", Outcome.REJECTED)
    sim.advance(timedelta(hours=12))
    assert (await v2.send_redpack(redpack(credentials, "U10"))).send_listid


async def test_rate_limit_per_minute(credentials: Credentials, clock: FrozenClock) -> None:
    """Past the per-minute send limit: FREQ_LIMIT (RETRY_LATER), fine the next minute."""
    from fastapi import FastAPI

    from jinli.integrations.simulator import create_simulator_app

    sim = Simulator(credentials, SimulatorConfig(redpack_rate_per_minute=3), clock=clock)
    app = FastAPI()
    app.mount(PREFIX, create_simulator_app(sim))
    config = WeChatPayV2Config(
        mch_id=credentials.mchid, api_key=credentials.api_key, base_url=BASE_URL
    )
    async with WeChatPayV2Client(config, transport=httpx.ASGITransport(app=app)) as client:
        for n in range(3):
            await client.send_redpack(redpack(credentials, f"F{n}", re_openid=f"o{n}"))
        error = await _refused(client, redpack(credentials, "F3"))
        assert (error.wechat_code, error.outcome) == ("FREQ_LIMIT", Outcome.RETRY_LATER)
        sim.advance(60)
        assert (await client.send_redpack(redpack(credentials, "F3"))).send_listid


async def test_not_enough_then_same_number(
    v2: WeChatPayV2Client, sim: Simulator, credentials: Credentials
) -> None:
    """A short balance: NOTENOUGH (RETRY_LATER, no packet); after a top-up the same
    mch_billno sends."""
    sim.set_balance(100)
    error = await _refused(v2, redpack(credentials, "N1", 188))
    assert (error.wechat_code, error.outcome) == ("NOTENOUGH", Outcome.RETRY_LATER)
    sim.set_balance(10_000)
    assert (await v2.send_redpack(redpack(credentials, "N1", 188))).send_listid


async def test_a_wrong_key_is_sign_error(
    transport: httpx.ASGITransport, credentials: Credentials, sim: Simulator
) -> None:
    """Signed with another API key: SIGN_ERROR (REJECTED), nothing sent."""
    config = WeChatPayV2Config(mch_id=credentials.mchid, api_key="k" * 32, base_url=BASE_URL)
    async with WeChatPayV2Client(config, transport=transport) as client:
        error = await _refused(client, redpack(credentials, "S1"))
    assert (error.wechat_code, error.outcome) == ("SIGN_ERROR", Outcome.REJECTED)
    assert sim.book.entries() == []


async def _post(transport: httpx.ASGITransport, path: str, body: bytes) -> dict[str, str]:
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        response = await client.post(PREFIX + path, content=body)
    assert response.status_code == 200
    return parse_xml(response.content).fields


def _signed(credentials: Credentials, **fields: str | int) -> bytes:
    params: dict[str, str | int] = {"mch_id": credentials.mchid, "nonce_str": "n0nce", **fields}
    params["sign"] = sign(params, credentials.api_key)
    return to_xml(params).encode()


async def test_business_failures_use_return_code_fail(
    transport: httpx.ASGITransport, credentials: Credentials
) -> None:
    """The quirk: MONEY_LIMIT comes with return_code=FAIL and result_code=FAIL, and echoes the
    request's ids; the reply has no sign."""
    fields = redpack(credentials, "Q1", 5).to_params(credentials.mchid)
    reply = await _post(transport, "/mmpaymkttransfers/sendredpack", _signed(credentials, **fields))
    assert reply["return_code"] == "FAIL"
    assert reply["result_code"] == "FAIL"
    assert reply["err_code"] == "MONEY_LIMIT"
    assert (reply["mch_billno"], reply["re_openid"], reply["total_amount"]) == ("Q1", OPENID, "5")
    assert "sign" not in reply


async def test_legacy_and_malformed_calls(
    transport: httpx.ASGITransport, credentials: Credentials
) -> None:
    """sendgroupredpack is offline (API_METHOD_CLOSED); garbage is XML_ERROR."""
    fields = redpack(credentials, "G1", 300).to_params(credentials.mchid)
    closed = await _post(
        transport,
        "/mmpaymkttransfers/sendgroupredpack",
        _signed(credentials, **fields, amt_type="ALL_RAND"),
    )
    assert closed["err_code"] == "API_METHOD_CLOSED"
    garbage = await _post(transport, "/mmpaymkttransfers/sendredpack", b"<xml><a>")
    assert garbage["err_code"] == "XML_ERROR"


async def test_query_window_and_unknown_numbers(
    v2: WeChatPayV2Client, sim: Simulator, credentials: Credentials
) -> None:
    """gethbinfo: an unknown number is NOT_FOUND (UNKNOWN, never failed), and a packet older
    than 30 days is no longer visible."""
    await v2.send_redpack(redpack(credentials, "W1"))
    with pytest.raises(WeChatPayCallError) as unknown:
        await v2.get_redpack_info("NEVER", credentials.appid)
    assert (unknown.value.wechat_code, unknown.value.outcome) == ("NOT_FOUND", Outcome.UNKNOWN)
    sim.advance(timedelta(days=30, seconds=1))
    with pytest.raises(WeChatPayCallError) as old:
        await v2.get_redpack_info("W1", credentials.appid)
    assert old.value.wechat_code == "NOT_FOUND"
