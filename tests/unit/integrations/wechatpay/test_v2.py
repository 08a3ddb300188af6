"""API v2: the official signing sample, XML safety and round trips, and the red-packet client
against a mock WeChat that checks our signatures."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.integrations.wechatpay import crypto
from jinli.integrations.wechatpay.crypto import KeyPair
from jinli.integrations.wechatpay.errors import (
    KeyMaterialError,
    MalformedMessage,
    UnsafeXml,
    WeChatPayCallError,
)
from jinli.integrations.wechatpay.outcomes import Outcome
from jinli.integrations.wechatpay.v2 import (
    SendRedpackRequest,
    SignType,
    V2Message,
    WeChatPayV2Client,
    WeChatPayV2Config,
    parse_xml,
    sign,
    string_to_sign,
    to_xml,
    verify_signature,
)
from jinli.kernel.money import Fen

from . import vectors as v

KEY = v.V1_KEY


class TestSigning:
    def test_string_a_of_the_official_sample(self) -> None:
        """V1: parameters sorted by name and joined as k=v&k=v."""
        assert string_to_sign(v.V1_PARAMS) == v.V1_STRING_A

    def test_md5_of_the_official_sample(self) -> None:
        """V1: MD5(stringA&key=KEY) upper-case is 9A0A8659F005D6984697E2CA0A9CF3B7."""
        assert sign(v.V1_PARAMS, KEY, SignType.MD5) == v.V1_MD5

    def test_hmac_sha256_of_the_official_sample(self) -> None:
        """V1: HMAC-SHA256 keyed with KEY over stringA INCLUDING &key=KEY."""
        assert sign(v.V1_PARAMS, KEY, SignType.HMAC_SHA256) == v.V1_HMAC_SHA256

    def test_sign_empty_values_and_none_are_excluded(self) -> None:
        """``sign`` itself, empty strings and None never enter the signed string."""
        params = {**v.V1_PARAMS, "sign": "X", "attach": "", "detail": None}
        assert sign(params, KEY) == v.V1_MD5

    def test_unknown_fields_are_signed(self) -> None:
        """A field we do not know still changes the signature (it is in the signed set)."""
        assert sign({**v.V1_PARAMS, "new_field": "1"}, KEY) != v.V1_MD5

    def test_integers_sign_as_their_decimal_text(self) -> None:
        """An int value signs exactly like its string form."""
        assert sign({**v.V1_PARAMS, "device_info": 1000}, KEY) == v.V1_MD5

    @pytest.mark.parametrize(
        ("extra", "ok"),
        [
            ({"sign": v.V1_MD5}, True),
            ({"sign": v.V1_MD5.lower()}, False),
            ({"sign": v.V1_HMAC_SHA256, "sign_type": "HMAC-SHA256"}, False),
            ({"sign": v.V1_MD5, "unknown": "x"}, False),
            ({}, False),
            ({"sign": v.V1_MD5, "sign_type": "SM3"}, False),
        ],
        ids=["md5", "lower-case", "sign-type-is-signed-too", "extra-field", "no-sign", "bad-type"],
    )
    def test_verify_signature(self, extra: dict[str, str], ok: bool) -> None:
        """Verification recomputes over every field but sign, with the declared algorithm."""
        assert verify_signature({**v.V1_PARAMS, **extra}, KEY) is ok

    def test_verify_hmac_declared_by_sign_type(self) -> None:
        """With sign_type=HMAC-SHA256 declared, the HMAC over all fields (sign_type too)."""
        params = {**v.V1_PARAMS, "sign_type": "HMAC-SHA256"}
        params["sign"] = sign(params, KEY, SignType.HMAC_SHA256)
        assert verify_signature(params, KEY)


class TestXml:
    def test_digits_bare_and_text_in_cdata(self) -> None:
        """As wechatpy writes it: digits bare, other values in CDATA."""
        assert to_xml({"total_amount": 100, "mch_billno": "0010", "wishing": "恭喜 & <发财>"}) == (
            "<xml><total_amount>100</total_amount><mch_billno>0010</mch_billno>"
            "<wishing><![CDATA[恭喜 & <发财>]]></wishing></xml>"
        )

    def test_parse_the_official_example(self) -> None:
        """The signed sample in XML form parses to its fields, sign verifying."""
        xml = (
            "<xml><appid>wxd930ea5d5a258f4f</appid><mch_id>10000100</mch_id>"
            "<device_info>1000</device_info><body>test</body>"
            "<nonce_str>ibuaiVcKdpRxkhJA</nonce_str>"
            "<sign>9A0A8659F005D6984697E2CA0A9CF3B7</sign></xml>"
        )
        message = parse_xml(xml)
        assert message.fields == {**v.V1_PARAMS, "sign": v.V1_MD5}
        assert verify_signature(message.fields, KEY)

    def test_groups_parse_into_lists(self) -> None:
        """gethbinfo's hblist/hbinfo becomes a list of leaf dicts."""
        xml = to_xml(
            {"status": "RECEIVED"},
            {
                "hblist": (
                    "hbinfo",
                    [{"openid": "o1", "amount": 100, "rcv_time": "2026-11-23 12:00:01"}],
                )
            },
        )
        assert parse_xml(xml) == V2Message(
            fields={"status": "RECEIVED"},
            groups={
                "hblist": [{"openid": "o1", "amount": "100", "rcv_time": "2026-11-23 12:00:01"}]
            },
        )

    xml_text = st.text(
        alphabet=st.characters(
            codec="utf-8",  # no lone surrogates
            exclude_characters="".join(map(chr, [*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]))
            + "\ufffe\uffff",
        ),
        max_size=40,
    )

    @given(
        fields=st.dictionaries(
            st.from_regex(r"[a-z_][a-z0-9_]{0,15}", fullmatch=True), xml_text, max_size=8
        )
    )
    def test_round_trip(self, fields: dict[str, str]) -> None:
        """Any XML-representable text survives to_xml → parse_xml unchanged (incl. ]]> and \\r)."""
        assert parse_xml(to_xml(fields)).fields == fields

    def test_cdata_terminator_inside_a_value_survives(self) -> None:
        """A value containing ]]> cannot close the CDATA early."""
        assert parse_xml(to_xml({"remark": "a]]><evil/>b"})).fields == {"remark": "a]]><evil/>b"}

    @pytest.mark.parametrize(
        "document",
        [
            '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            "<xml><a>&xxe;</a></xml>",
            '<!DOCTYPE xml [<!ENTITY x "y">]><xml><a>&x;</a></xml>',
            '<!DOCTYPE xml SYSTEM "http://evil.example/x.dtd"><xml><a>1</a></xml>',
            '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
            "<xml><a>&b;</a></xml>",
        ],
        ids=["xxe-file", "internal-entity", "external-dtd", "billion-laughs"],
    )
    def test_dtds_and_entities_are_refused(self, document: str) -> None:
        """XXE and entity expansion attempts are refused before anything is resolved."""
        with pytest.raises(UnsafeXml):
            parse_xml(document)

    @pytest.mark.parametrize(
        "document",
        [
            "",
            "not xml",
            "<xml><a>1</a>",
            "<root><a>1</a></root>",
            "<xml><a>1</a><a>2</a></xml>",
            "<xml><g><i><deep><x>1</x></deep></i></g></xml>",
        ],
        ids=["empty", "text", "unclosed", "wrong-root", "repeated", "too-deep"],
    )
    def test_malformed_xml_is_refused(self, document: str) -> None:
        """Broken, mis-rooted, repeated or over-nested XML is MalformedMessage."""
        with pytest.raises(MalformedMessage):
            parse_xml(document)

    def test_unrepresentable_values_are_refused_when_writing(self) -> None:
        """Control characters cannot be carried by XML 1.0: refuse rather than corrupt."""
        with pytest.raises(ValueError, match="cannot carry"):
            to_xml({"remark": "a\x01b"})


# ---------------------------------------------------------------------------------------------
# The client against a mock WeChat

MCH_ID = "10000100"
APPID = "wx8888888888888888"

Handler = Callable[[V2Message], tuple[int, str]]


def _mock(handler: Handler, seen: list[V2Message]) -> httpx.MockTransport:
    def respond(request: httpx.Request) -> httpx.Response:
        message = parse_xml(request.content)
        # WeChat's own check: MD5 over every field but sign, with the merchant's key.
        assert verify_signature(message.fields, KEY, SignType.MD5)
        assert "sign_type" not in message.fields
        seen.append(message)
        status, body = handler(message)
        return httpx.Response(status, content=body.encode())

    return httpx.MockTransport(respond)


def _client(handler: Handler, seen: list[V2Message]) -> WeChatPayV2Client:
    config = WeChatPayV2Config(mch_id=MCH_ID, api_key=KEY, base_url="http://wechat.test")
    return WeChatPayV2Client(config, transport=_mock(handler, seen))


def _send_request(billno: str = "10000100202611230000000001") -> SendRedpackRequest:
    return SendRedpackRequest(
        mch_billno=billno,
        wxappid=APPID,
        send_name="锦鲤品牌",
        re_openid="oUser",
        total_amount_fen=Fen(188),
        wishing="恭喜发财",
        client_ip="127.0.0.1",
        act_name="双十一",
        remark="好运",
    )


def _echo(message: V2Message, **extra: str) -> str:
    fields = {
        "mch_billno": message.fields.get("mch_billno", ""),
        "mch_id": MCH_ID,
        "wxappid": APPID,
        "re_openid": "oUser",
        "total_amount": "188",
        **extra,
    }
    return to_xml(fields)


class TestRedpackClient:
    async def test_success_returns_the_send_listid(self) -> None:
        """A SUCCESS reply returns the WeChat order number; the request was signed and complete."""
        seen: list[V2Message] = []

        def ok(message: V2Message) -> tuple[int, str]:
            return 200, _echo(
                message,
                return_code="SUCCESS",
                return_msg="发放成功",
                result_code="SUCCESS",
                send_listid="1000041701201411111234567890",
            )

        async with _client(ok, seen) as client:
            sent = await client.send_redpack(_send_request())
        assert sent.send_listid == "1000041701201411111234567890"
        assert sent.outcome is Outcome.ACCEPTED
        assert sent.total_amount_fen == 188
        request = seen[0].fields
        assert request["total_amount"] == "188"
        assert request["total_num"] == "1"
        assert request["mch_id"] == MCH_ID
        assert len(request["nonce_str"]) == 32

    @pytest.mark.parametrize(
        ("return_code", "err_code", "expected"),
        [
            ("FAIL", "NOTENOUGH", Outcome.RETRY_LATER),  # the documented quirk
            ("SUCCESS", "NOTENOUGH", Outcome.RETRY_LATER),
            ("SUCCESS", "SYSTEMERROR", Outcome.UNKNOWN),
            ("SUCCESS", "PROCESSING", Outcome.UNKNOWN),
            ("SUCCESS", "FREQ_LIMIT", Outcome.RETRY_LATER),
            ("SUCCESS", "SENDNUM_LIMIT", Outcome.REJECTED),
            ("FAIL", "CA_ERROR", Outcome.REJECTED),
            ("SUCCESS", "SEND_FAILED", Outcome.FAILED),
            ("SUCCESS", "NEVER_SEEN_BEFORE", Outcome.UNKNOWN),
        ],
    )
    async def test_business_failures_follow_err_code(
        self, return_code: str, err_code: str, expected: Outcome
    ) -> None:
        """Outcomes come from err_code whatever return_code says; err_code_des is only kept."""

        def fail(message: V2Message) -> tuple[int, str]:
            return 200, _echo(
                message,
                return_code=return_code,
                return_msg="帐号余额不足，请到商户平台充值后再重试",
                result_code="FAIL",
                err_code=err_code,
                err_code_des="帐号余额不足，请到商户平台充值后再重试",
            )

        async with _client(fail, []) as client:
            with pytest.raises(WeChatPayCallError) as caught:
                await client.send_redpack(_send_request())
        assert caught.value.outcome is expected
        assert caught.value.wechat_code == err_code
        assert caught.value.wechat_message == "帐号余额不足，请到商户平台充值后再重试"

    @pytest.mark.parametrize(
        "reply",
        [
            (500, "<xml></xml>"),
            (200, "<html>502 Bad Gateway</html>"),
            (200, "not xml at all"),
            (200, "<xml><return_code>FAIL</return_code><return_msg>签名错误</return_msg></xml>"),
            (200, "<!DOCTYPE xml [<!ENTITY x 'y'>]><xml><return_code>&x;</return_code></xml>"),
        ],
        ids=["http-500", "html", "garbage", "fail-without-err-code", "xxe-reply"],
    )
    async def test_unusable_replies_are_unknown(self, reply: tuple[int, str]) -> None:
        """5xx, non-XML, unsafe XML and FAIL without err_code are UNKNOWN, never failed."""
        async with _client(lambda _: reply, []) as client:
            with pytest.raises(WeChatPayCallError) as caught:
                await client.send_redpack(_send_request())
        assert caught.value.outcome is Outcome.UNKNOWN

    async def test_timeout_is_unknown(self) -> None:
        """No reply before the timeout: UNKNOWN (the packet may have been sent)."""

        def slow(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("timed out", request=request)

        config = WeChatPayV2Config(mch_id=MCH_ID, api_key=KEY, base_url="http://wechat.test")
        async with WeChatPayV2Client(config, transport=httpx.MockTransport(slow)) as client:
            with pytest.raises(WeChatPayCallError) as caught:
                await client.send_redpack(_send_request())
        assert caught.value.outcome is Outcome.UNKNOWN
        assert caught.value.http_status is None

    async def test_reply_with_a_bad_sign_is_unknown(self) -> None:
        """A reply that carries a sign that does not verify is never taken as success."""

        def forged(message: V2Message) -> tuple[int, str]:
            return 200, _echo(message, return_code="SUCCESS", result_code="SUCCESS", sign="0" * 32)

        async with _client(forged, []) as client:
            with pytest.raises(WeChatPayCallError) as caught:
                await client.send_redpack(_send_request())
        assert caught.value.outcome is Outcome.UNKNOWN

    async def test_reply_with_a_good_sign_is_accepted(self) -> None:
        """A reply whose sign verifies is fine."""

        def signed(message: V2Message) -> tuple[int, str]:
            fields = {
                "return_code": "SUCCESS",
                "result_code": "SUCCESS",
                "mch_billno": message.fields["mch_billno"],
            }
            return 200, to_xml({**fields, "sign": sign(fields, KEY)})

        async with _client(signed, []) as client:
            sent = await client.send_redpack(_send_request())
        assert sent.mch_billno == "10000100202611230000000001"

    async def test_query_returns_status_and_claims(self) -> None:
        """gethbinfo: status, amounts and the claim list come back typed."""
        seen: list[V2Message] = []

        def info(message: V2Message) -> tuple[int, str]:
            fields: dict[str, str | int] = {
                "return_code": "SUCCESS",
                "result_code": "SUCCESS",
                "mch_billno": message.fields["mch_billno"],
                "mch_id": MCH_ID,
                "detail_id": "1000000000201503283103439304",
                "status": "RECEIVED",
                "send_type": "API",
                "hb_type": "NORMAL",
                "total_num": 1,
                "total_amount": 188,
                "send_time": "2026-11-23 12:00:00",
            }
            hbinfo: list[dict[str, str | int]] = [
                {"openid": "oUser", "amount": 188, "rcv_time": "2026-11-23 12:00:09"}
            ]
            return 200, to_xml(fields, {"hblist": ("hbinfo", hbinfo)})

        async with _client(info, seen) as client:
            result = await client.get_redpack_info("10000100202611230000000001", APPID)
        assert result.status == "RECEIVED"
        assert result.outcome is Outcome.SUCCEEDED
        assert result.total_amount_fen == 188
        assert [(c.openid, c.amount_fen) for c in result.claims] == [("oUser", 188)]
        assert seen[0].fields["bill_type"] == "MCHT"
        assert seen[0].fields["appid"] == APPID

    async def test_query_not_found_is_unknown(self) -> None:
        """NOT_FOUND on query means 'maybe still processing': UNKNOWN, never failed."""

        def missing(_: V2Message) -> tuple[int, str]:
            return 200, to_xml(
                {"return_code": "SUCCESS", "result_code": "FAIL", "err_code": "NOT_FOUND"}
            )

        async with _client(missing, []) as client:
            with pytest.raises(WeChatPayCallError) as caught:
                await client.get_redpack_info("10000100202611230000000001", APPID)
        assert caught.value.outcome is Outcome.UNKNOWN

    async def test_query_success_missing_status_is_unknown(self) -> None:
        """A success reply without the documented status field is UNKNOWN."""

        def partial(message: V2Message) -> tuple[int, str]:
            return 200, to_xml(
                {"return_code": "SUCCESS", "result_code": "SUCCESS", "mch_billno": "x"}
            )

        async with _client(partial, []) as client:
            with pytest.raises(WeChatPayCallError) as caught:
                await client.get_redpack_info("x", APPID)
        assert caught.value.outcome is Outcome.UNKNOWN


class TestConfig:
    def test_api_key_must_be_32_characters(self) -> None:
        """The v2 API key is 32 characters; anything else is a configuration error."""
        with pytest.raises(KeyMaterialError):
            WeChatPayV2Config(mch_id=MCH_ID, api_key="short")

    def test_cert_and_key_go_together(self) -> None:
        """mTLS needs both the certificate and the key."""
        with pytest.raises(KeyMaterialError):
            WeChatPayV2Config(mch_id=MCH_ID, api_key=KEY, cert_path="apiclient_cert.pem")

    def test_ssl_context_loads_the_client_certificate(
        self, merchant: KeyPair, tmp_path: Path
    ) -> None:
        """apiclient_cert.pem + apiclient_key.pem load into the TLS context (mTLS)."""
        cert = tmp_path / "apiclient_cert.pem"
        key = tmp_path / "apiclient_key.pem"
        cert.write_text(crypto.certificate_pem(merchant.certificate))
        key.write_text(crypto.private_key_pem(merchant.private_key))
        config = WeChatPayV2Config(
            mch_id=MCH_ID, api_key=KEY, cert_path=str(cert), key_path=str(key)
        )
        assert isinstance(config.ssl_context(), ssl.SSLContext)

    def test_mismatched_key_is_refused(
        self, merchant: KeyPair, platform: KeyPair, tmp_path: Path
    ) -> None:
        """A key that does not belong to the certificate is a configuration error."""
        cert = tmp_path / "apiclient_cert.pem"
        key = tmp_path / "apiclient_key.pem"
        cert.write_text(crypto.certificate_pem(merchant.certificate))
        key.write_text(crypto.private_key_pem(platform.private_key))
        config = WeChatPayV2Config(
            mch_id=MCH_ID, api_key=KEY, cert_path=str(cert), key_path=str(key)
        )
        with pytest.raises(KeyMaterialError):
            config.ssl_context()
