"""WeChat's signature rules, enforced by the simulator and checked by Jinli's client: every
request is verified (401 SIGN_ERROR with WeChat's detail otherwise), every reply is signed,
errors included, under the platform certificate or the public-key id."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from jinli.integrations.simulator import Credentials, Simulator, SimulatorConfig
from jinli.integrations.wechatpay import (
    PlatformKeys,
    SignatureVerifier,
    WeChatPayCallError,
    WeChatPayV3Client,
)
from jinli.integrations.wechatpay.crypto import generate_private_key
from jinli.integrations.wechatpay.outcomes import Outcome
from jinli.integrations.wechatpay.signing import MerchantSigner
from jinli.kernel.clock import FrozenClock

from .conftest import BASE_URL, HOST, PREFIX, certificate_keys, transfer, v3_config

TRANSFERS = "/v3/fund-app/mch-transfer/transfer-bills"


def _verifier(credentials: Credentials, clock: FrozenClock) -> SignatureVerifier:
    return SignatureVerifier(certificate_keys(credentials), clock=clock)


async def _raw(
    transport: httpx.ASGITransport,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        return await client.request(method, PREFIX + path, content=body, headers=headers or {})


async def test_a_request_without_authorization_is_refused_with_a_signed_401(
    transport: httpx.ASGITransport, credentials: Credentials, clock: FrozenClock
) -> None:
    """No Authorization header: 401 SIGN_ERROR naming the header, and the reply is signed."""
    response = await _raw(transport, "GET", TRANSFERS + "/out-bill-no/X1")
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "SIGN_ERROR"
    assert body["detail"]["location"] == "header"
    _verifier(credentials, clock).verify(response.headers, response.content)
    assert response.headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
    assert response.headers["Request-ID"]


async def test_a_body_other_than_the_signed_one_gets_sign_information(
    transport: httpx.ASGITransport, credentials: Credentials, clock: FrozenClock
) -> None:
    """The merchant signed one body and sent another: 401 SIGN_ERROR whose sign_information
    is the message WeChat rebuilt, over the path relative to the mount point."""
    signer = MerchantSigner(
        credentials.mchid, credentials.merchant_serial_no, credentials.merchant_key, clock=clock
    )
    auth = signer.sign("POST", TRANSFERS, b'{"a":1}')
    sent = b'{"a":2}'
    response = await _raw(transport, "POST", TRANSFERS, sent, {"Authorization": auth.to_header()})
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert detail["detail"]["issue"].startswith("sign not match")
    info = detail["sign_information"]
    expected = f"POST\n{TRANSFERS}\n{auth.timestamp}\n{auth.nonce_str}\n" + sent.decode() + "\n"
    assert info == {
        "method": "POST",
        "url": TRANSFERS,
        "sign_message_length": len(expected),
        "truncated_sign_message": expected,
    }
    _verifier(credentials, clock).verify(response.headers, response.content)


async def test_another_merchant_key_is_refused(
    credentials: Credentials, transport: httpx.ASGITransport, clock: FrozenClock, sim: Simulator
) -> None:
    """A request signed with a key that is not the merchant's: SIGN_ERROR, REJECTED, signed;
    nothing reaches the book."""
    config = v3_config(credentials)
    forged = type(config)(
        mchid=config.mchid,
        merchant_serial_no=config.merchant_serial_no,
        merchant_private_key=generate_private_key(),
        api_v3_key=config.api_v3_key,
        base_url=config.base_url,
    )
    async with WeChatPayV3Client(
        forged, certificate_keys(credentials), transport=transport, clock=clock
    ) as client:
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(transfer(credentials, "SIG0001"))
    assert caught.value.wechat_code == "SIGN_ERROR"
    assert caught.value.http_status == 401
    assert caught.value.outcome is Outcome.REJECTED
    assert caught.value.signed is True
    assert sim.book.entries() == []


async def test_a_stale_timestamp_is_refused(
    credentials: Credentials, transport: httpx.ASGITransport, sim: Simulator, clock: FrozenClock
) -> None:
    """A client whose clock is 6 minutes behind WeChat's is refused (5-minute window)."""
    late = FrozenClock(clock.now() - timedelta(minutes=6))
    async with WeChatPayV3Client(
        v3_config(credentials),
        certificate_keys(credentials),
        transport=transport,
        clock=late,
    ) as client:
        with pytest.raises(WeChatPayCallError) as caught:
            await client.get_transfer_bill("X")
    assert caught.value.wechat_code == "SIGN_ERROR"
    assert caught.value.wechat_detail["detail"]["issue"] == "timestamp expired"


async def test_certificates_are_served_encrypted_and_replies_verify_with_them(
    credentials: Credentials, transport: httpx.ASGITransport, clock: FrozenClock
) -> None:
    """A client that trusts nothing yet downloads /v3/certificates, decrypts it with the
    APIv3 key, and then verifies replies signed under the certificate serial."""
    keys = PlatformKeys()
    async with WeChatPayV3Client(
        v3_config(credentials), keys, transport=transport, clock=clock
    ) as client:
        [certificate] = await client.download_certificates()
        assert certificate.serial_no == credentials.platform_serial_no
        bill = await client.create_transfer_bill(transfer(credentials, "SIG0002"))
    assert bill.state == "WAIT_USER_CONFIRM"


@pytest.mark.parametrize("key_mode", ["both", "public_key"])
async def test_public_key_mode(credentials: Credentials, clock: FrozenClock, key_mode: str) -> None:
    """A client trusting only the WeChat Pay public key names it in Wechatpay-Serial and gets
    replies signed under PUB_KEY_ID_…; a public-key-only merchant has no certificates."""
    sim = Simulator(credentials, SimulatorConfig(key_mode=key_mode), clock=clock)  # type: ignore[arg-type]
    from fastapi import FastAPI

    from jinli.integrations.simulator import create_simulator_app

    host = FastAPI()
    host.mount(PREFIX, create_simulator_app(sim))
    keys = PlatformKeys(public_keys={credentials.public_key_id: credentials.platform_public_key})
    async with WeChatPayV3Client(
        v3_config(credentials, BASE_URL),
        keys,
        transport=httpx.ASGITransport(app=host),
        clock=clock,
    ) as client:
        bill = await client.create_transfer_bill(transfer(credentials, "PK0001", user_name="李四"))
        detail = await client.get_transfer_bill("PK0001")
        assert client.decrypt_sensitive(detail.user_name or "") == "李四"
        if key_mode == "public_key":
            with pytest.raises(WeChatPayCallError) as caught:
                await client.download_certificates()
            assert caught.value.http_status == 404
    assert bill.state == "WAIT_USER_CONFIRM"


async def test_encrypted_fields_need_the_platform_serial(
    credentials: Credentials, transport: httpx.ASGITransport, clock: FrozenClock
) -> None:
    """user_name encrypted to a serial WeChat does not have: 400 PARAM_ERROR."""
    async with WeChatPayV3Client(
        v3_config(credentials), certificate_keys(credentials), transport=transport, clock=clock
    ) as client:
        body = transfer(credentials, "SIG0003", user_name="张三").to_json("not-a-ciphertext")
        with pytest.raises(WeChatPayCallError) as caught:
            await client.request(
                "t", "POST", TRANSFERS, body=body, wechatpay_serial="0123456789ABCDEF"
            )
        assert caught.value.wechat_code == "PARAM_ERROR"
        with pytest.raises(WeChatPayCallError) as bad_cipher:
            await client.request(
                "t",
                "POST",
                TRANSFERS,
                body=body,
                wechatpay_serial=credentials.platform_serial_no,
            )
        assert bad_cipher.value.wechat_message == "敏感信息解密失败"
