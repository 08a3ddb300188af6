"""API v3 request signing (Authorization header) and reply/callback verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jinli.integrations.wechatpay import crypto
from jinli.integrations.wechatpay.crypto import KeyPair
from jinli.integrations.wechatpay.errors import (
    KeyMaterialError,
    MalformedSignature,
    ProbeSignature,
    SignatureError,
    StaleTimestamp,
    UnknownSerial,
)
from jinli.integrations.wechatpay.signing import (
    SCHEMA,
    Authorization,
    MerchantSigner,
    PlatformKeys,
    PlatformSigner,
    SignatureVerifier,
    request_message,
    response_message,
    sign_response,
    verify_request,
)
from jinli.kernel.clock import FrozenClock

from . import vectors as v
from .conftest import MCHID, T0


class TestMessages:
    def test_request_message_has_five_lines_each_ending_in_newline(self) -> None:
        """METHOD, URL, TIMESTAMP, NONCE, BODY, each terminated by \\n, the last too."""
        message = request_message("post", "/v3/x?a=1", 1624523846, "N", b'{"a":1}')
        assert message == b'POST\n/v3/x?a=1\n1624523846\nN\n{"a":1}\n'

    def test_get_has_an_empty_body_line(self) -> None:
        """A GET signs an empty body, so the message ends NONCE\\n\\n (official SDK format)."""
        message = request_message("GET", "/v3/certificates", 1624523846, "A1B2C3D4E5F6G7", b"")
        assert message == b"GET\n/v3/certificates\n1624523846\nA1B2C3D4E5F6G7\n\n"

    def test_response_message_has_three_lines(self) -> None:
        """Replies sign TIMESTAMP\\nNONCE\\nBODY\\n; an empty body leaves a bare final \\n."""
        assert response_message(1, "N", "BODY") == b"1\nN\nBODY\n"
        assert response_message(1, "N", b"") == b"1\nN\n\n"


class TestAuthorization:
    def test_header_is_deterministic_with_fixed_inputs(self) -> None:
        """With the Go SDK key, a fixed timestamp and nonce, the header is a golden value."""
        key = crypto.load_private_key(v.go_sdk_private_key_pem())
        signer = MerchantSigner("1234567890", "F5765756002FDD77", key)
        auth = signer.sign("GET", "/v3/certificates", b"", timestamp=1624523846, nonce="N0")
        expected = crypto.rsa_sign(key, b"GET\n/v3/certificates\n1624523846\nN0\n\n")
        assert auth.to_header() == (
            f'{SCHEMA} mchid="1234567890",nonce_str="N0",signature="{expected}",'
            'timestamp="1624523846",serial_no="F5765756002FDD77"'
        )

    def test_parse_reads_back_what_to_header_wrote(self, merchant: KeyPair) -> None:
        """Parsing a header we built gives back the same fields."""
        auth = MerchantSigner(MCHID, merchant.serial, merchant.private_key).sign(
            "POST", "/v3/x", b"{}"
        )
        assert Authorization.parse(auth.to_header()) == auth

    @pytest.mark.parametrize(
        "header",
        [
            None,
            "",
            'Bearer mchid="1"',
            'WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",signature="s",timestamp="1"',
            'WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="n",signature="s",'
            'timestamp="1",serial_no="A"',
            "WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str=n",
        ],
        ids=["none", "empty", "other-scheme", "missing-serial", "repeated", "unquoted"],
    )
    def test_malformed_headers_are_refused(self, header: str | None) -> None:
        """Anything but the exact documented shape is MalformedSignature."""
        with pytest.raises(MalformedSignature):
            Authorization.parse(header)


class TestVerifyRequest:
    """The simulator's side: verifying a merchant request like WeChat does."""

    def _signed(self, merchant: KeyPair, clock: FrozenClock, body: bytes = b'{"a":1}') -> str:
        signer = MerchantSigner(MCHID, merchant.serial, merchant.private_key, clock=clock)
        return signer.sign("POST", "/v3/fund-app/mch-transfer/transfer-bills", body).to_header()

    def test_valid_request_verifies(self, merchant: KeyPair, clock: FrozenClock) -> None:
        """A request signed with the merchant key verifies and yields its fields."""
        auth = verify_request(
            self._signed(merchant, clock),
            "POST",
            "/v3/fund-app/mch-transfer/transfer-bills",
            b'{"a":1}',
            merchant_keys={merchant.serial: merchant.public_key},
            clock=clock,
            mchid=MCHID,
        )
        assert auth.mchid == MCHID

    def test_tampered_body_is_refused(self, merchant: KeyPair, clock: FrozenClock) -> None:
        """Changing one byte of the body breaks the signature."""
        with pytest.raises(SignatureError):
            verify_request(
                self._signed(merchant, clock),
                "POST",
                "/v3/fund-app/mch-transfer/transfer-bills",
                b'{"a":2}',
                merchant_keys={merchant.serial: merchant.public_key},
                clock=clock,
            )

    def test_other_url_is_refused(self, merchant: KeyPair, clock: FrozenClock) -> None:
        """The signature covers the canonical URL: another path does not verify."""
        with pytest.raises(SignatureError):
            verify_request(
                self._signed(merchant, clock),
                "POST",
                "/v3/fund-app/mch-transfer/transfer-bills/x",
                b'{"a":1}',
                merchant_keys={merchant.serial: merchant.public_key},
                clock=clock,
            )

    def test_unknown_merchant_serial_is_refused(
        self, merchant: KeyPair, platform: KeyPair, clock: FrozenClock
    ) -> None:
        """A serial we hold no certificate for is UnknownSerial."""
        with pytest.raises(UnknownSerial):
            verify_request(
                self._signed(merchant, clock),
                "POST",
                "/v3/fund-app/mch-transfer/transfer-bills",
                b'{"a":1}',
                merchant_keys={platform.serial: platform.public_key},
                clock=clock,
            )

    def test_stale_request_is_refused(self, merchant: KeyPair, clock: FrozenClock) -> None:
        """A request signed more than 5 minutes ago is refused (replay)."""
        header = self._signed(merchant, clock)
        clock.advance(timedelta(minutes=5, seconds=1))
        with pytest.raises(StaleTimestamp):
            verify_request(
                header,
                "POST",
                "/v3/fund-app/mch-transfer/transfer-bills",
                b'{"a":1}',
                merchant_keys={merchant.serial: merchant.public_key},
                clock=clock,
            )

    def test_wrong_mchid_is_refused(self, merchant: KeyPair, clock: FrozenClock) -> None:
        """A request signed for another mchid is refused."""
        with pytest.raises(SignatureError):
            verify_request(
                self._signed(merchant, clock),
                "POST",
                "/v3/fund-app/mch-transfer/transfer-bills",
                b'{"a":1}',
                merchant_keys={merchant.serial: merchant.public_key},
                clock=clock,
                mchid="1900000999",
            )


class TestVerifyReplies:
    @pytest.fixture
    def verifier(self, platform: KeyPair, clock: FrozenClock) -> SignatureVerifier:
        """A verifier trusting the platform certificate, at T0."""
        return SignatureVerifier(PlatformKeys([platform.certificate]), clock=clock)

    @pytest.fixture
    def signer(self, platform: KeyPair, clock: FrozenClock) -> PlatformSigner:
        """WeChat's side, signing with the platform key."""
        return PlatformSigner(platform.serial, platform.private_key, clock=clock)

    def test_signed_reply_verifies(
        self, verifier: SignatureVerifier, signer: PlatformSigner
    ) -> None:
        """A reply signed by the platform key verifies, headers in any case."""
        body = b'{"state":"ACCEPTED"}'
        headers = {k.lower(): value for k, value in signer.headers(body).items()}
        result = verifier.verify(headers, body)
        assert result.serial == signer.serial

    def test_empty_body_verifies(self, verifier: SignatureVerifier, signer: PlatformSigner) -> None:
        """A 204 reply (empty body) is signed and verified too."""
        verifier.verify(signer.headers(b""), b"")

    def test_tampered_body_is_refused(
        self, verifier: SignatureVerifier, signer: PlatformSigner
    ) -> None:
        """One changed byte in the body fails verification."""
        headers = signer.headers(b'{"amount":100}')
        with pytest.raises(SignatureError):
            verifier.verify(headers, b'{"amount":900}')

    def test_wrong_serial_is_refused(
        self, verifier: SignatureVerifier, signer: PlatformSigner
    ) -> None:
        """A serial we do not trust is refused, even if the signature is fine."""
        headers = signer.headers(b"{}")
        headers["Wechatpay-Serial"] = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
        with pytest.raises(UnknownSerial):
            verifier.verify(headers, b"{}")

    def test_signature_by_another_key_is_refused(
        self, verifier: SignatureVerifier, platform: KeyPair, merchant: KeyPair
    ) -> None:
        """A signature made with another key under the trusted serial does not verify."""
        headers = sign_response(
            merchant.private_key, platform.serial, b"{}", timestamp=0, nonce="n"
        )
        headers["Wechatpay-Timestamp"] = str(int(T0.timestamp()))
        with pytest.raises(SignatureError):
            verifier.verify(headers, b"{}")

    @pytest.mark.parametrize("skew", [timedelta(minutes=6), -timedelta(minutes=6)])
    def test_stale_timestamp_is_refused(
        self,
        verifier: SignatureVerifier,
        signer: PlatformSigner,
        clock: FrozenClock,
        skew: timedelta,
    ) -> None:
        """A reply timestamped more than 5 minutes away (past or future) is refused."""
        headers = signer.headers(b"{}")
        clock.advance(skew)
        with pytest.raises(StaleTimestamp):
            verifier.verify(headers, b"{}")

    def test_timestamp_within_five_minutes_is_accepted(
        self, verifier: SignatureVerifier, signer: PlatformSigner, clock: FrozenClock
    ) -> None:
        """Clock skew up to 5 minutes is tolerated."""
        headers = signer.headers(b"{}")
        clock.advance(timedelta(minutes=4, seconds=59))
        verifier.verify(headers, b"{}")

    def test_signtest_probe_is_refused(
        self, verifier: SignatureVerifier, signer: PlatformSigner
    ) -> None:
        """WECHATPAY/SIGNTEST/ probe signatures must fail verification."""
        with pytest.raises(ProbeSignature):
            verifier.verify(signer.probe_headers(b"{}"), b"{}")

    @pytest.mark.parametrize(
        "missing",
        ["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial"],
    )
    def test_missing_header_is_refused(
        self, verifier: SignatureVerifier, signer: PlatformSigner, missing: str
    ) -> None:
        """Each of the four signature headers is required."""
        headers = signer.headers(b"{}")
        del headers[missing]
        with pytest.raises(MalformedSignature):
            verifier.verify(headers, b"{}")

    def test_unknown_signature_type_is_refused(
        self, verifier: SignatureVerifier, signer: PlatformSigner
    ) -> None:
        """Only WECHATPAY2-SHA256-RSA2048 is accepted as Wechatpay-Signature-Type."""
        headers = signer.headers(b"{}")
        headers["Wechatpay-Signature-Type"] = "WECHATPAY2-SM2-WITH-SM3"
        with pytest.raises(MalformedSignature):
            verifier.verify(headers, b"{}")

    def test_expired_certificate_is_not_trusted(self, platform: KeyPair) -> None:
        """A platform certificate is only trusted inside its validity period."""
        late = FrozenClock(platform.certificate.not_valid_after_utc + timedelta(minutes=1))
        verifier = SignatureVerifier(PlatformKeys([platform.certificate]), clock=late)
        headers = PlatformSigner(platform.serial, platform.private_key, clock=late).headers(b"{}")
        with pytest.raises(UnknownSerial):
            verifier.verify(headers, b"{}")


class TestPlatformKeys:
    def test_public_key_mode_verifies_the_sdk_vector(self) -> None:
        """V4 in public-key mode: PUB_KEY_ID_… names the WeChat Pay public key."""
        keys = PlatformKeys(
            public_keys={"PUB_KEY_ID_0114": crypto.load_public_key(v.V4_PUBLIC_KEY_PEM)}
        )
        key = keys.key_for("PUB_KEY_ID_0114", T0)
        assert crypto.rsa_verify(key, b"source", v.V3_SIGNATURE)

    def test_hex_serials_match_whatever_their_case_or_leading_zeros(self) -> None:
        """Serials compare as numbers, as wechatpayv3 does: case and leading zeros do not count."""
        cert = crypto.load_certificate(v.SERIAL_CERT_PEM)
        keys = PlatformKeys([cert])
        at = cert.not_valid_before_utc + timedelta(days=1)
        lower = v.SERIAL_CERT_SERIAL.lower()
        assert (
            keys.key_for(lower, at).public_numbers()
            == keys.key_for(lower.lstrip("0"), at).public_numbers()
        )

    def test_encryption_prefers_the_public_key(self, platform: KeyPair) -> None:
        """With both modes configured, sensitive fields go to the public key id."""
        keys = PlatformKeys([platform.certificate], {"PUB_KEY_ID_1": platform.public_key})
        assert keys.encryption_key(T0)[0] == "PUB_KEY_ID_1"

    def test_encryption_uses_the_certificate_that_expires_last(self, platform: KeyPair) -> None:
        """Without a public key, the valid certificate that expires last is used."""
        newer = crypto.self_signed_certificate(
            platform.private_key,
            common_name="next",
            not_before=T0 - timedelta(days=1),
            valid_for=timedelta(days=9000),
        )
        keys = PlatformKeys([platform.certificate, newer])
        assert keys.encryption_key(T0)[0] == crypto.certificate_serial(newer)

    def test_no_key_to_encrypt_to_is_a_configuration_error(self) -> None:
        """Without any WeChat key, encrypting a name is impossible: KeyMaterialError."""
        with pytest.raises(KeyMaterialError):
            PlatformKeys().encryption_key(datetime(2026, 1, 1, tzinfo=UTC))
