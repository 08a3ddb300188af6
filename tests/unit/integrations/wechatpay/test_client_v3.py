"""The API v3 client against an httpx.MockTransport that plays WeChat Pay: it verifies our
Authorization header with the merchant public key (401 SIGN_ERROR otherwise) and signs its
replies with the platform key, unless a test says otherwise."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from jinli.integrations.wechatpay import crypto
from jinli.integrations.wechatpay.certificates import build_certificates_reply
from jinli.integrations.wechatpay.client import WeChatPayV3Client, WeChatPayV3Config
from jinli.integrations.wechatpay.crypto import KeyPair
from jinli.integrations.wechatpay.errors import (
    BillHashMismatch,
    BillTruncated,
    KeyMaterialError,
    MalformedMessage,
    SignatureError,
    WeChatPayCallError,
)
from jinli.integrations.wechatpay.models import (
    REPORT_ACTIVITY_NAME,
    REPORT_REWARD_DESCRIPTION,
    BillDownloadInfo,
    BrandRedpacketBatchCreate,
    BrandRedpacketDetailCreate,
    SceneReportInfo,
    TransferBillCreate,
)
from jinli.integrations.wechatpay.outcomes import Outcome
from jinli.integrations.wechatpay.signing import (
    PlatformKeys,
    PlatformSigner,
    sign_response,
    verify_request,
)
from jinli.integrations.wechatpay.wire import dumps
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen

from .conftest import API_V3_KEY, MCHID

BASE = "https://api.mch.weixin.qq.com"
APPID = "wxd678efh567hg6787"


@dataclass
class Seen:
    """One request as the fake WeChat received it."""

    method: str
    canonical_url: str
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeWeChat:
    """Plays WeChat Pay: verifies the merchant signature, then asks ``handler`` for a reply."""

    merchant: KeyPair
    platform: KeyPair
    clock: FrozenClock
    prefix: str = ""
    serial: str | None = None
    handler: Callable[[Seen], httpx.Response] | None = None
    seen: list[Seen] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        raw_path = request.url.raw_path.decode()
        assert raw_path.startswith(self.prefix)
        canonical = raw_path[len(self.prefix) :]
        try:
            verify_request(
                request.headers.get("Authorization"),
                request.method,
                canonical,
                request.content,
                merchant_keys={self.merchant.serial: self.merchant.public_key},
                clock=self.clock,
                mchid=MCHID,
            )
        except SignatureError:
            return self.reply(
                401, {"code": "SIGN_ERROR", "message": "错误的签名，验签失败"}, signed=False
            )
        seen = Seen(request.method, canonical, request.headers, request.content)
        self.seen.append(seen)
        assert self.handler is not None, "the test did not say how WeChat answers"
        return self.handler(seen)

    def reply(
        self,
        status: int,
        data: Any = None,
        *,
        signed: bool = True,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        body = raw if raw is not None else (b"" if data is None else dumps(data))
        out = {"Request-ID": "08F0D8C9B20610"}
        if signed:
            signer = PlatformSigner(
                self.serial or self.platform.serial, self.platform.private_key, clock=self.clock
            )
            out.update(signer.headers(body))
        out.update(headers or {})
        return httpx.Response(status, content=body, headers=out)


@pytest.fixture
def fake(merchant: KeyPair, platform: KeyPair, clock: FrozenClock) -> FakeWeChat:
    """A fake WeChat for this test."""
    return FakeWeChat(merchant, platform, clock)


def _config(merchant: KeyPair, base_url: str = BASE) -> WeChatPayV3Config:
    return WeChatPayV3Config(
        mchid=MCHID,
        merchant_serial_no=merchant.serial,
        merchant_private_key=merchant.private_key,
        api_v3_key=API_V3_KEY,
        base_url=base_url,
    )


@pytest.fixture
async def client(
    fake: FakeWeChat, merchant: KeyPair, platform: KeyPair, clock: FrozenClock
) -> AsyncIterator[WeChatPayV3Client]:
    """A client trusting the platform certificate, talking to the fake WeChat."""
    async with WeChatPayV3Client(
        _config(merchant),
        PlatformKeys([platform.certificate]),
        transport=httpx.MockTransport(fake),
        clock=clock,
    ) as c:
        yield c


def _transfer(**overrides: Any) -> TransferBillCreate:
    values: dict[str, Any] = {
        "appid": APPID,
        "out_bill_no": "plfk2020042013",
        "transfer_scene_id": "1000",
        "openid": "o-MYE42l80oelYMDE34nYD456Xoy",
        "transfer_amount_fen": Fen(188),
        "transfer_remark": "双十一红包",
        "scene_report_infos": [
            SceneReportInfo(REPORT_ACTIVITY_NAME, "双十一锦鲤"),
            SceneReportInfo(REPORT_REWARD_DESCRIPTION, "抽中现金红包"),
        ],
        "user_recv_perception": "现金奖励",
        "user_recv_style": "RED_PACKET",
    }
    values.update(overrides)
    return TransferBillCreate(**values)


CREATED = {
    "out_bill_no": "plfk2020042013",
    "transfer_bill_no": "1330000071100999991182020050700019480001",
    "create_time": "2026-11-23T12:00:00+08:00",
    "state": "WAIT_USER_CONFIRM",
    "package_info": "affffddafdfafddffda==",
}


class TestTransferBills:
    async def test_create_sends_the_documented_body_and_returns_the_bill(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """Create: signed POST with the scene reports, recv style and perception; typed reply."""
        fake.handler = lambda seen: fake.reply(200, CREATED)
        bill = await client.create_transfer_bill(_transfer())
        assert bill.state == "WAIT_USER_CONFIRM"
        assert bill.outcome is Outcome.ACCEPTED
        assert bill.package_info == "affffddafdfafddffda=="
        [seen] = fake.seen
        assert (seen.method, seen.canonical_url) == (
            "POST",
            "/v3/fund-app/mch-transfer/transfer-bills",
        )
        body = seen.json()
        assert body["transfer_amount"] == 188
        assert body["transfer_scene_report_infos"] == [
            {"info_type": "活动名称", "info_content": "双十一锦鲤"},
            {"info_type": "奖励说明", "info_content": "抽中现金红包"},
        ]
        assert body["user_recv_style"] == {"type": "RED_PACKET"}
        assert body["user_recv_perception"] == "现金奖励"
        assert "user_name" not in body
        assert "Wechatpay-Serial" not in seen.headers
        assert seen.headers["Accept"] == "application/json"
        assert seen.headers["Content-Type"] == "application/json"
        assert seen.headers["User-Agent"].startswith("Jinli/")

    async def test_user_name_is_encrypted_to_the_platform_key(
        self, client: WeChatPayV3Client, fake: FakeWeChat, platform: KeyPair
    ) -> None:
        """user_name travels OAEP-encrypted, with Wechatpay-Serial naming the key used."""
        fake.handler = lambda seen: fake.reply(200, CREATED)
        await client.create_transfer_bill(_transfer(user_name="张三"))
        [seen] = fake.seen
        assert seen.headers["Wechatpay-Serial"] == platform.serial
        encrypted = seen.json()["user_name"]
        assert encrypted != "张三"
        assert crypto.oaep_decrypt(platform.private_key, encrypted) == "张三"

    async def test_query_decodes_amount_and_user_name(
        self, client: WeChatPayV3Client, fake: FakeWeChat, merchant: KeyPair
    ) -> None:
        """Query by out_bill_no: typed detail; the name comes encrypted to the merchant key."""
        detail = {
            **CREATED,
            "mch_id": MCHID,
            "appid": APPID,
            "state": "SUCCESS",
            "transfer_amount": 188,
            "transfer_remark": "双十一红包",
            "openid": "o-MYE42l80oelYMDE34nYD456Xoy",
            "user_name": crypto.oaep_encrypt(merchant.public_key, "张三"),
            "update_time": "2026-11-23T12:01:00+08:00",
        }
        fake.handler = lambda seen: fake.reply(200, detail)
        result = await client.get_transfer_bill("plfk2020042013")
        assert fake.seen[0].method == "GET"
        assert fake.seen[0].canonical_url.endswith("/transfer-bills/out-bill-no/plfk2020042013")
        assert fake.seen[0].body == b""
        assert result.outcome is Outcome.SUCCEEDED
        assert result.transfer_amount_fen == 188
        assert result.user_name is not None
        assert client.decrypt_sensitive(result.user_name) == "张三"

    async def test_query_by_transfer_bill_no_uses_its_path(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """Query by WeChat's number hits /transfer-bill-no/{no}."""
        fake.handler = lambda seen: fake.reply(404, {"code": "NOT_FOUND", "message": "记录不存在"})
        with pytest.raises(WeChatPayCallError) as caught:
            await client.get_transfer_bill_by_transfer_bill_no(
                "1330000071100999991182020050700019480001"
            )
        assert fake.seen[0].canonical_url == (
            "/v3/fund-app/mch-transfer/transfer-bills/transfer-bill-no/"
            "1330000071100999991182020050700019480001"
        )
        assert caught.value.outcome is Outcome.UNKNOWN  # not found is never "failed"

    async def test_cancel_posts_an_empty_body(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """Cancel is a signed POST with an empty body; CANCELING is not final."""
        fake.handler = lambda seen: fake.reply(
            200,
            {
                "out_bill_no": "plfk2020042013",
                "transfer_bill_no": CREATED["transfer_bill_no"],
                "state": "CANCELING",
                "update_time": "2026-11-23T12:02:00+08:00",
            },
        )
        result = await client.cancel_transfer_bill("plfk2020042013")
        assert fake.seen[0].canonical_url.endswith("/out-bill-no/plfk2020042013/cancel")
        assert fake.seen[0].body == b""
        assert result.outcome is Outcome.ACCEPTED
        assert not result.outcome.is_terminal

    async def test_path_parameters_cannot_escape_their_segment(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """A number containing / or ? is percent-encoded, never a new path or query."""
        fake.handler = lambda seen: fake.reply(404, {"code": "NOT_FOUND", "message": "x"})
        with pytest.raises(WeChatPayCallError):
            await client.get_transfer_bill("../cancel?x=1")
        assert fake.seen[0].canonical_url.endswith("/out-bill-no/..%2Fcancel%3Fx%3D1")


class TestOutcomes:
    """Every way a call can go wrong, and what the payout worker is told."""

    @pytest.mark.parametrize(
        ("status", "code", "expected"),
        [
            (500, "SYSTEM_ERROR", Outcome.UNKNOWN),
            (429, "FREQUENCY_LIMITED", Outcome.RETRY_LATER),
            (403, "NOT_ENOUGH", Outcome.RETRY_LATER),
            (400, "PARAM_ERROR", Outcome.REJECTED),
            (400, "INVALID_REQUEST", Outcome.REJECTED),
            (403, "NO_AUTH", Outcome.REJECTED),
            (400, "A_CODE_FROM_THE_FUTURE", Outcome.UNKNOWN),
        ],
    )
    async def test_signed_error_replies(
        self,
        client: WeChatPayV3Client,
        fake: FakeWeChat,
        status: int,
        code: str,
        expected: Outcome,
    ) -> None:
        """A signed error reply keeps status, code, message and detail and is classified."""
        detail = {"field": "transfer_amount", "location": "body"}
        fake.handler = lambda seen: fake.reply(
            status, {"code": code, "message": "人类可读", "detail": detail}
        )
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(_transfer())
        error = caught.value
        assert error.outcome is expected
        assert (error.http_status, error.wechat_code) == (status, code)
        assert error.wechat_message == "人类可读"
        assert error.wechat_detail == detail
        assert error.request_id == "08F0D8C9B20610"
        assert error.signed is True
        assert error.api == "transfer_bills.create"

    @pytest.mark.parametrize(
        "failure",
        [
            httpx.ReadTimeout("read timed out"),
            httpx.ConnectTimeout("connect timed out"),
            httpx.ConnectError("connection refused"),
            httpx.RemoteProtocolError("peer closed connection"),
        ],
        ids=["read-timeout", "connect-timeout", "connect-error", "reset"],
    )
    async def test_no_reply_is_unknown(
        self, client: WeChatPayV3Client, fake: FakeWeChat, failure: httpx.HTTPError
    ) -> None:
        """Timeouts and connection errors are UNKNOWN: the transfer may have been created."""

        def boom(seen: Seen) -> httpx.Response:
            raise failure

        fake.handler = boom
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(_transfer())
        assert caught.value.outcome is Outcome.UNKNOWN
        assert caught.value.http_status is None

    @pytest.mark.parametrize(
        ("status", "body"),
        [
            (200, b"<html>gateway</html>"),
            (200, b'{"out_bill_no":"plfk2020042013"}'),
            (200, b"[]"),
            (502, b"<html>Bad Gateway</html>"),
            (400, b"not json"),
        ],
        ids=["200-html", "200-missing-fields", "200-array", "502-html", "400-unparseable"],
    )
    async def test_unparseable_replies_are_unknown(
        self, client: WeChatPayV3Client, fake: FakeWeChat, status: int, body: bytes
    ) -> None:
        """A reply we cannot read is UNKNOWN, whatever its status."""
        fake.handler = lambda seen: fake.reply(status, raw=body)
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(_transfer())
        assert caught.value.outcome is Outcome.UNKNOWN

    async def test_success_with_a_bad_signature_is_unknown_never_success(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """A 200 whose body was changed after signing is UNKNOWN, not a created bill."""

        def forged(seen: Seen) -> httpx.Response:
            genuine = fake.reply(200, CREATED)
            tampered = dumps({**CREATED, "state": "SUCCESS"})
            return httpx.Response(200, content=tampered, headers=dict(genuine.headers))

        fake.handler = forged
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(_transfer())
        assert caught.value.outcome is Outcome.UNKNOWN
        assert caught.value.signed is False

    @pytest.mark.parametrize(
        "headers",
        [
            {"Wechatpay-Serial": "0123456789ABCDEF"},
            {"Wechatpay-Timestamp": "1000000000"},
            {"Wechatpay-Signature": "WECHATPAY/SIGNTEST/abc"},
        ],
        ids=["unknown-serial", "stale-timestamp", "probe"],
    )
    async def test_success_with_untrusted_signature_headers_is_unknown(
        self, client: WeChatPayV3Client, fake: FakeWeChat, headers: dict[str, str]
    ) -> None:
        """Unknown serial, stale timestamp or probe signature on a 200: UNKNOWN."""
        fake.handler = lambda seen: fake.reply(200, CREATED, headers=headers)
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(_transfer())
        assert caught.value.outcome is Outcome.UNKNOWN

    async def test_unsigned_success_is_unknown(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """A 200 without any signature is not WeChat's word: UNKNOWN."""
        fake.handler = lambda seen: fake.reply(200, CREATED, signed=False)
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(_transfer())
        assert caught.value.outcome is Outcome.UNKNOWN

    async def test_badly_signed_error_is_unknown(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """An error reply whose signature fails is UNKNOWN, not REJECTED."""
        fake.handler = lambda seen: fake.reply(
            400,
            {"code": "PARAM_ERROR", "message": "x"},
            headers={"Wechatpay-Signature": "AAAA"},
        )
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(_transfer())
        assert caught.value.outcome is Outcome.UNKNOWN

    async def test_unsigned_rejection_is_unknown(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """An unsigned 400 PARAM_ERROR could come from anyone: UNKNOWN, settle by query."""
        fake.handler = lambda seen: fake.reply(
            400, {"code": "PARAM_ERROR", "message": "x"}, signed=False
        )
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(_transfer())
        assert caught.value.outcome is Outcome.UNKNOWN
        assert caught.value.signed is False

    async def test_unsigned_rate_limit_still_waits(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """A gateway's unsigned 429 is still RETRY_LATER (same number either way)."""
        fake.handler = lambda seen: fake.reply(
            429, {"code": "FREQUENCY_LIMITED", "message": "频率超限"}, signed=False
        )
        with pytest.raises(WeChatPayCallError) as caught:
            await client.create_transfer_bill(_transfer())
        assert caught.value.outcome is Outcome.RETRY_LATER

    async def test_wrong_merchant_key_gets_sign_error(
        self, fake: FakeWeChat, merchant: KeyPair, platform: KeyPair, clock: FrozenClock
    ) -> None:
        """Signing with another key gets an (unsignable) 401 SIGN_ERROR: REJECTED."""
        config = WeChatPayV3Config(
            mchid=MCHID,
            merchant_serial_no=merchant.serial,
            merchant_private_key=platform.private_key,
            api_v3_key=API_V3_KEY,
        )
        async with WeChatPayV3Client(
            config,
            PlatformKeys([platform.certificate]),
            transport=httpx.MockTransport(fake),
            clock=clock,
        ) as wrong:
            with pytest.raises(WeChatPayCallError) as caught:
                await wrong.create_transfer_bill(_transfer())
        assert caught.value.wechat_code == "SIGN_ERROR"
        assert caught.value.outcome is Outcome.REJECTED
        assert fake.seen == []


class TestConfiguration:
    async def test_base_url_prefix_is_not_part_of_the_signed_url(
        self, fake: FakeWeChat, merchant: KeyPair, platform: KeyPair, clock: FrozenClock
    ) -> None:
        """Against a simulator mounted under a prefix, the signed URL is still /v3/…"""
        fake.prefix = "/wechat-sim"
        fake.handler = lambda seen: fake.reply(200, CREATED)
        async with WeChatPayV3Client(
            _config(merchant, "http://127.0.0.1:8000/wechat-sim/"),
            PlatformKeys([platform.certificate]),
            transport=httpx.MockTransport(fake),
            clock=clock,
        ) as client:
            await client.create_transfer_bill(_transfer())
        assert fake.seen[0].canonical_url == "/v3/fund-app/mch-transfer/transfer-bills"

    async def test_public_key_mode(
        self, fake: FakeWeChat, merchant: KeyPair, platform: KeyPair, clock: FrozenClock
    ) -> None:
        """Public-key mode: PUB_KEY_ID_… replies verify and names are encrypted to it."""
        key_id = "PUB_KEY_ID_0114232134912410000000000000"
        fake.serial = key_id
        fake.handler = lambda seen: fake.reply(200, CREATED)
        async with WeChatPayV3Client(
            _config(merchant),
            PlatformKeys(public_keys={key_id: platform.public_key}),
            transport=httpx.MockTransport(fake),
            clock=clock,
        ) as client:
            bill = await client.create_transfer_bill(_transfer(user_name="李四"))
        assert bill.transfer_bill_no == CREATED["transfer_bill_no"]
        assert fake.seen[0].headers["Wechatpay-Serial"] == key_id

    def test_api_v3_key_must_be_32_bytes(self, merchant: KeyPair) -> None:
        """A wrong-length APIv3 key is refused when the client is configured."""
        with pytest.raises(KeyMaterialError):
            WeChatPayV3Config(
                mchid=MCHID,
                merchant_serial_no=merchant.serial,
                merchant_private_key=merchant.private_key,
                api_v3_key="too short",
            )

    def test_private_key_is_not_in_the_repr(self, merchant: KeyPair) -> None:
        """Secrets stay out of logs: the config repr omits the key and the APIv3 key."""
        text = repr(_config(merchant))
        assert API_V3_KEY not in text
        assert "private_key" not in text


class TestBrandRedpacket:
    async def test_create_batch_derives_totals_and_sends_the_serial(
        self, client: WeChatPayV3Client, fake: FakeWeChat, platform: KeyPair
    ) -> None:
        """Batch create: totals from the details, Wechatpay-Serial always, names encrypted."""
        fake.handler = lambda seen: fake.reply(
            200,
            {
                "out_batch_no": "plfk2020042013",
                "batch_no": "1030000071100999991182020050700019480001",
                "create_time": "2026-11-23T12:00:00+08:00",
                "batch_state": "ACCEPTED",
            },
        )
        request = BrandRedpacketBatchCreate(
            brand_id=1234,
            brand_appid=APPID,
            template_id="123400001",
            out_batch_no="plfk2020042013",
            batch_name="双十一营销用品牌红包",
            batch_remark="双十一营销用品牌红包",
            details=[
                BrandRedpacketDetailCreate("d1", Fen(100), "o1", "来自锦鲤的红包"),
                BrandRedpacketDetailCreate(
                    "d2", Fen(250), "o2", "来自锦鲤的红包", user_name="王五"
                ),
            ],
        )
        batch = await client.create_brand_redpacket_batch(request)
        assert batch.batch_state == "ACCEPTED"
        [seen] = fake.seen
        assert seen.canonical_url == "/v3/fund-app/brand-redpacket/brand-merchant-batches"
        assert seen.headers["Wechatpay-Serial"] == platform.serial
        body = seen.json()
        assert (body["total_amount"], body["total_num"], body["scene"]) == (350, 2, "CUSTOM_SEND")
        assert "user_name" not in body["detail_list"][0]
        name = body["detail_list"][1]["user_name"]
        assert crypto.oaep_decrypt(platform.private_key, name) == "王五"

    async def test_batch_query_lists_detail_outcomes(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """Batch query with details: the query string is signed and details are typed."""
        fake.handler = lambda seen: fake.reply(
            200,
            {
                "brand_mchid": MCHID,
                "batch_no": "1030000071100999991182020050700019480001",
                "out_batch_no": "plfk2020042013",
                "batch_state": "FINISHED",
                "batch_name": "n",
                "batch_remark": "r",
                "total_amount": 350,
                "total_num": 2,
                "create_time": "2026-11-23T12:00:00+08:00",
                "success_amount": 100,
                "success_num": 1,
                "fail_amount": 250,
                "fail_num": 1,
                "detail_list": [
                    {
                        "transfer_detail_no": "t1",
                        "out_detail_no": "d1",
                        "detail_state": "DETAIL_SUCCESS",
                    },
                    {
                        "transfer_detail_no": "t2",
                        "out_detail_no": "d2",
                        "detail_state": "DETAIL_FAIL",
                    },
                ],
            },
        )
        batch = await client.get_brand_batch(
            "plfk2020042013", need_query_detail=True, detail_state="DETAIL_VIEW_ALL"
        )
        assert fake.seen[0].canonical_url == (
            "/v3/fund-app/brand-redpacket/brand-merchant-out-batches/plfk2020042013"
            "?need_query_detail=true&detail_state=DETAIL_VIEW_ALL"
        )
        assert [d.outcome for d in batch.details] == [Outcome.SUCCEEDED, Outcome.FAILED]
        assert batch.success_amount_fen == 100

    async def test_detail_query(self, client: WeChatPayV3Client, fake: FakeWeChat) -> None:
        """Detail query: USER_RECEIVE_OVERDUE is a failed (unopened) packet."""
        fake.handler = lambda seen: fake.reply(
            200,
            {
                "brand_mchid": MCHID,
                "out_batch_no": "plfk2020042013",
                "batch_no": "b1",
                "out_detail_no": "d2",
                "detail_no": "t2",
                "detail_state": "DETAIL_FAIL",
                "amount": 250,
                "remark": "r",
                "fail_reason": "USER_RECEIVE_OVERDUE",
                "openid": "o2",
                "update_time": "2026-11-24T12:00:00+08:00",
                "brand_id": 1234,
                "template_id": "123400001",
            },
        )
        detail = await client.get_brand_detail("plfk2020042013", "d2")
        assert fake.seen[0].canonical_url.endswith(
            "/brand-merchant-out-batches/plfk2020042013/out-details/d2"
        )
        assert detail.outcome is Outcome.FAILED
        assert detail.fail_reason == "USER_RECEIVE_OVERDUE"
        assert detail.amount_fen == 250


BILL = (
    "记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),"
    "资金变更提交申请人,备注,业务凭证号\r\n"
    "`2026-11-22 10:00:00,`1000,`1900,`红包,`红包,`支出,`1.88,`98.12,`system,`,`P1\r\n"
    "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n"
    "`1.0,`0.0,`0.00,`1.0,`1.88\r\n"
).encode()


def _sha1(data: bytes) -> str:
    """The hex SHA1 WeChat announces for a bill (an integrity check, not security)."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


class TestBills:
    def _info(
        self, digest: str, url: str = f"{BASE}/v3/billdownload/file?token=T0K3N"
    ) -> BillDownloadInfo:
        return BillDownloadInfo(hash_type="SHA1", hash_value=digest, download_url=url)

    async def test_request_signs_the_query_string(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """tradebill: GET with bill_date/bill_type/tar_type in the signed URL."""
        info = self._info("abc")
        fake.handler = lambda seen: fake.reply(200, info.to_json())
        result = await client.request_trade_bill(date(2026, 11, 22))
        assert fake.seen[0].canonical_url == (
            "/v3/bill/tradebill?bill_date=2026-11-22&bill_type=ALL&tar_type=GZIP"
        )
        assert result == info

    async def test_statement_creating_is_retry_later(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """A bill still being generated: RETRY_LATER."""
        fake.handler = lambda seen: fake.reply(
            400, {"code": "STATEMENT_CREATING", "message": "账单生成中"}
        )
        with pytest.raises(WeChatPayCallError) as caught:
            await client.request_fundflow_bill(date(2026, 11, 22))
        assert fake.seen[0].canonical_url == (
            "/v3/bill/fundflowbill?bill_date=2026-11-22&account_type=BASIC&tar_type=GZIP"
        )
        assert caught.value.outcome is Outcome.RETRY_LATER

    async def test_gzip_download_is_unsigned_decompressed_and_sha1_checked(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """The download reply carries no signature; it is gunzipped and checked by SHA1."""
        fake.handler = lambda seen: fake.reply(200, raw=gzip.compress(BILL), signed=False)
        data = await client.download_bill(self._info(_sha1(BILL)))
        assert data == BILL
        assert fake.seen[0].canonical_url == "/v3/billdownload/file?token=T0K3N"
        assert fake.seen[0].method == "GET"

    async def test_plain_download_and_hash_over_transferred_bytes(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """An uncompressed bill is returned as is; a hash of the gzip bytes is accepted too."""
        fake.handler = lambda seen: fake.reply(200, raw=BILL, signed=False)
        assert await client.download_bill(self._info(_sha1(BILL))) == BILL
        compressed = gzip.compress(BILL)
        fake.handler = lambda seen: fake.reply(200, raw=compressed, signed=False)
        digest = _sha1(compressed).upper()
        assert await client.download_bill(self._info(digest)) == BILL

    async def test_hash_mismatch_is_refused(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """A bill whose SHA1 differs from hash_value is refused."""
        fake.handler = lambda seen: fake.reply(200, raw=gzip.compress(BILL), signed=False)
        with pytest.raises(BillHashMismatch):
            await client.download_bill(self._info(_sha1(b"other")))

    async def test_truncated_gzip_is_refused(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """A gzip stream cut short is refused even if the hash were to match."""
        cut = gzip.compress(BILL)[:-12]
        fake.handler = lambda seen: fake.reply(200, raw=cut, signed=False)
        with pytest.raises(BillTruncated, match="gzip"):
            await client.download_bill(self._info(_sha1(cut)))

    async def test_download_url_on_another_host_is_refused(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """The signed GET only goes to the configured gateway."""
        with pytest.raises(MalformedMessage):
            await client.download_bill(
                self._info("x", url="https://evil.example/v3/billdownload/file")
            )
        assert fake.seen == []

    async def test_download_error_is_classified(
        self, client: WeChatPayV3Client, fake: FakeWeChat
    ) -> None:
        """An expired download URL answers an error that is classified like any other."""
        fake.handler = lambda seen: fake.reply(
            400, {"code": "INVALID_REQUEST", "message": "token过期"}, signed=False
        )
        with pytest.raises(WeChatPayCallError) as caught:
            await client.download_bill(self._info("x"))
        assert caught.value.wechat_code == "INVALID_REQUEST"


class TestCertificates:
    async def test_download_trusts_certificates_signed_by_themselves(
        self, fake: FakeWeChat, merchant: KeyPair, platform: KeyPair, clock: FrozenClock
    ) -> None:
        """First download: the reply verifies with the certificates it carries, then trusts them."""
        body = build_certificates_reply([platform.certificate], API_V3_KEY)
        fake.handler = lambda seen: fake.reply(200, raw=body)
        keys = PlatformKeys()
        async with WeChatPayV3Client(
            _config(merchant), keys, transport=httpx.MockTransport(fake), clock=clock
        ) as client:
            [certificate] = await client.download_certificates()
            assert fake.seen[0].canonical_url == "/v3/certificates"
            assert certificate.serial_no == platform.serial
            assert keys.serials == [platform.serial]
            fake.handler = lambda seen: fake.reply(200, CREATED)
            await client.create_transfer_bill(_transfer())

    async def test_reply_signed_by_a_stranger_is_not_trusted(
        self, fake: FakeWeChat, merchant: KeyPair, platform: KeyPair, clock: FrozenClock
    ) -> None:
        """Certificates whose reply is signed by an unknown key are refused and not trusted."""
        body = build_certificates_reply([platform.certificate], API_V3_KEY)

        def stranger(seen: Seen) -> httpx.Response:
            headers = sign_response(
                merchant.private_key,
                platform.serial,
                body,
                timestamp=int(clock.now().timestamp()),
                nonce="n",
            )
            return httpx.Response(200, content=body, headers=headers)

        fake.handler = stranger
        keys = PlatformKeys()
        async with WeChatPayV3Client(
            _config(merchant), keys, transport=httpx.MockTransport(fake), clock=clock
        ) as client:
            with pytest.raises(WeChatPayCallError) as caught:
                await client.download_certificates()
        assert caught.value.outcome is Outcome.UNKNOWN
        assert keys.serials == []

    async def test_reply_encrypted_with_another_key_is_refused(
        self, fake: FakeWeChat, merchant: KeyPair, platform: KeyPair, clock: FrozenClock
    ) -> None:
        """Certificates encrypted under another APIv3 key do not decrypt: refused."""
        body = build_certificates_reply([platform.certificate], "X" * 32)
        fake.handler = lambda seen: fake.reply(200, raw=body)
        async with WeChatPayV3Client(
            _config(merchant), PlatformKeys(), transport=httpx.MockTransport(fake), clock=clock
        ) as client:
            with pytest.raises(WeChatPayCallError):
                await client.download_certificates()


async def test_shared_http_client_is_not_closed(
    fake: FakeWeChat, merchant: KeyPair, platform: KeyPair, clock: FrozenClock
) -> None:
    """An injected httpx.AsyncClient belongs to the caller and stays open."""
    fake.handler = lambda seen: fake.reply(200, CREATED)
    shared = httpx.AsyncClient(
        transport=httpx.MockTransport(fake), timeout=timedelta(seconds=3).total_seconds()
    )
    async with WeChatPayV3Client(
        _config(merchant), PlatformKeys([platform.certificate]), http_client=shared, clock=clock
    ) as client:
        await client.create_transfer_bill(_transfer())
    assert not shared.is_closed
    await shared.aclose()
