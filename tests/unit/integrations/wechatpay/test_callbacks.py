"""Callbacks (verify → parse → decrypt) and the /v3/certificates reply, both directions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from jinli.integrations.wechatpay import crypto
from jinli.integrations.wechatpay.callbacks import (
    build_notification_body,
    encrypt_resource,
    failure_ack_body,
    parse_notification,
)
from jinli.integrations.wechatpay.certificates import (
    build_certificates_reply,
    decrypt_certificates,
)
from jinli.integrations.wechatpay.crypto import KeyPair
from jinli.integrations.wechatpay.errors import (
    DecryptionError,
    MalformedMessage,
    ProbeSignature,
    SignatureError,
    StaleTimestamp,
    UnknownSerial,
)
from jinli.integrations.wechatpay.signing import PlatformKeys, PlatformSigner, SignatureVerifier
from jinli.kernel.clock import FrozenClock

from . import vectors as v
from .conftest import API_V3_KEY


def _sdk_headers(**overrides: str) -> dict[str, str]:
    headers = {
        "Wechatpay-Nonce": v.NOTIFY_NONCE,
        "Wechatpay-Timestamp": str(v.NOTIFY_TIMESTAMP),
        "Wechatpay-Serial": v.NOTIFY_CERT_SERIAL,
        "Wechatpay-Signature": v.NOTIFY_SIGNATURE,
    }
    headers.update(overrides)
    return headers


@pytest.fixture
def sdk_verifier() -> SignatureVerifier:
    """A verifier trusting the Go SDK's callback certificate, at the callback's time."""
    keys = PlatformKeys([crypto.load_certificate(v.NOTIFY_CERT_PEM)])
    return SignatureVerifier(
        keys, clock=FrozenClock(datetime.fromtimestamp(v.NOTIFY_TIMESTAMP, UTC))
    )


class TestGoldenCallback:
    def test_sdk_callback_verifies_and_decrypts(self, sdk_verifier: SignatureVerifier) -> None:
        """The official SDK's signed callback verifies and its resource decrypts exactly."""
        notification = parse_notification(
            _sdk_headers(), v.NOTIFY_BODY, verifier=sdk_verifier, api_v3_key=v.NOTIFY_API_V3_KEY
        )
        assert notification.id == "3119dfba-e649-5eec-ab1e-3412bc4d2e17"
        assert notification.event_type == "PAYSCORE.USER_OPEN_SERVICE"
        assert notification.summary == "签约成功"
        assert notification.resource.associated_data == "payscore"
        assert notification.plaintext == v.NOTIFY_PLAINTEXT
        assert notification.data()["out_contract_code"] == "21640bdbd08e473e828f3206a2741c6e"

    def test_tampered_callback_body_is_refused(self, sdk_verifier: SignatureVerifier) -> None:
        """A forged callback (body changed after signing) is refused before decryption."""
        forged = v.NOTIFY_BODY.replace("签约成功", "签约失败")
        with pytest.raises(SignatureError):
            parse_notification(
                _sdk_headers(), forged, verifier=sdk_verifier, api_v3_key=v.NOTIFY_API_V3_KEY
            )

    def test_replayed_callback_is_refused(self) -> None:
        """The same callback replayed an hour later is refused as stale."""
        keys = PlatformKeys([crypto.load_certificate(v.NOTIFY_CERT_PEM)])
        later = datetime.fromtimestamp(v.NOTIFY_TIMESTAMP, UTC) + timedelta(hours=1)
        verifier = SignatureVerifier(keys, clock=FrozenClock(later))
        with pytest.raises(StaleTimestamp):
            parse_notification(
                _sdk_headers(), v.NOTIFY_BODY, verifier=verifier, api_v3_key=v.NOTIFY_API_V3_KEY
            )

    def test_wrong_serial_is_refused(self, sdk_verifier: SignatureVerifier) -> None:
        """The right signature under an unknown serial is refused."""
        with pytest.raises(UnknownSerial):
            parse_notification(
                _sdk_headers(**{"Wechatpay-Serial": "ABCDEF0123456789"}),
                v.NOTIFY_BODY,
                verifier=sdk_verifier,
                api_v3_key=v.NOTIFY_API_V3_KEY,
            )

    def test_signtest_probe_is_refused(self, sdk_verifier: SignatureVerifier) -> None:
        """The probe prefix in front of a valid signature still fails."""
        probe = "WECHATPAY/SIGNTEST/" + v.NOTIFY_SIGNATURE
        with pytest.raises(ProbeSignature):
            parse_notification(
                _sdk_headers(**{"Wechatpay-Signature": probe}),
                v.NOTIFY_BODY,
                verifier=sdk_verifier,
                api_v3_key=v.NOTIFY_API_V3_KEY,
            )

    def test_wrong_api_v3_key_cannot_decrypt(self, sdk_verifier: SignatureVerifier) -> None:
        """A genuine callback with the wrong APIv3 key fails decryption, not silently."""
        with pytest.raises(DecryptionError):
            parse_notification(
                _sdk_headers(), v.NOTIFY_BODY, verifier=sdk_verifier, api_v3_key="testMchAPIv3Key1"
            )


class TestSimulatorSide:
    @pytest.fixture
    def signer(self, platform: KeyPair, clock: FrozenClock) -> PlatformSigner:
        """WeChat's signing side."""
        return PlatformSigner(platform.serial, platform.private_key, clock=clock)

    @pytest.fixture
    def verifier(self, platform: KeyPair, clock: FrozenClock) -> SignatureVerifier:
        """The merchant's verifying side."""
        return SignatureVerifier(PlatformKeys([platform.certificate]), clock=clock)

    def _body(
        self, resource_data: dict[str, object], associated_data: str = "mch_payment"
    ) -> bytes:
        resource = encrypt_resource(
            resource_data, API_V3_KEY, associated_data=associated_data, original_type="mch_payment"
        )
        return build_notification_body(
            event_id="EV-1",
            create_time="2026-11-23T12:00:00+08:00",
            event_type="MCHTRANSFER.BILL.FINISHED",
            summary="商家转账单据终态通知",
            resource=resource,
        )

    def test_built_callback_round_trips(
        self, signer: PlatformSigner, verifier: SignatureVerifier
    ) -> None:
        """A callback built and signed like WeChat's parses back to the same resource."""
        data = {"out_bill_no": "P1", "state": "SUCCESS", "transfer_amount": 100}
        body = self._body(data)
        notification = parse_notification(
            signer.headers(body), body, verifier=verifier, api_v3_key=API_V3_KEY
        )
        assert notification.data() == data
        assert notification.event_type == "MCHTRANSFER.BILL.FINISHED"

    def test_empty_associated_data_round_trips(
        self, signer: PlatformSigner, verifier: SignatureVerifier
    ) -> None:
        """associated_data may be empty."""
        body = self._body({"state": "FAIL"}, associated_data="")
        notification = parse_notification(
            signer.headers(body), body, verifier=verifier, api_v3_key=API_V3_KEY
        )
        assert notification.data() == {"state": "FAIL"}

    def test_tampered_ciphertext_with_valid_signature_fails_decryption(
        self, signer: PlatformSigner, verifier: SignatureVerifier
    ) -> None:
        """Even when re-signed, a ciphertext altered after encryption fails the GCM check."""
        envelope = json.loads(self._body({"state": "SUCCESS"}))
        ciphertext = envelope["resource"]["ciphertext"]
        envelope["resource"]["ciphertext"] = ("B" if ciphertext[0] == "A" else "A") + ciphertext[1:]
        body = json.dumps(envelope).encode()
        with pytest.raises(DecryptionError):
            parse_notification(signer.headers(body), body, verifier=verifier, api_v3_key=API_V3_KEY)

    @pytest.mark.parametrize(
        "body",
        [
            b"not json",
            b"[]",
            b'{"id":"x"}',
            b'{"id":"x","create_time":"t","event_type":"e",'
            b'"resource_type":"r","resource":{"algorithm":"AES_128","ciphertext":"","nonce":""}}',
        ],
        ids=["not-json", "array", "no-resource", "other-algorithm"],
    )
    def test_malformed_envelopes_are_refused(
        self, signer: PlatformSigner, verifier: SignatureVerifier, body: bytes
    ) -> None:
        """Signed but malformed callbacks raise MalformedMessage."""
        with pytest.raises(MalformedMessage):
            parse_notification(signer.headers(body), body, verifier=verifier, api_v3_key=API_V3_KEY)


class TestCertificatesReply:
    def test_sdk_reply_decrypts_to_its_certificate(self) -> None:
        """The SDK's /v3/certificates reply decrypts to certificate D7CE59D1F522D701."""
        [item] = decrypt_certificates(json.loads(v.CERTIFICATES_REPLY), v.CERTIFICATES_API_V3_KEY)
        assert item.serial_no == "D7CE59D1F522D701"
        assert crypto.certificate_serial(item.certificate) == "D7CE59D1F522D701"
        assert item.expire_time == "2031-04-25T16:55:23+08:00"

    def test_reply_with_a_lying_serial_is_refused(self) -> None:
        """serial_no must match the decrypted certificate's own serial."""
        reply = json.loads(v.CERTIFICATES_REPLY)
        reply["data"][0]["serial_no"] = "F5765756002FDD77"
        with pytest.raises(MalformedMessage):
            decrypt_certificates(reply, v.CERTIFICATES_API_V3_KEY)

    def test_simulator_reply_round_trips(self, platform: KeyPair) -> None:
        """A reply built for the simulator decrypts to the same certificate."""
        reply = json.loads(build_certificates_reply([platform.certificate], API_V3_KEY))
        [item] = decrypt_certificates(reply, API_V3_KEY)
        assert item.certificate == platform.certificate
        assert item.serial_no == platform.serial
        assert reply["data"][0]["encrypt_certificate"]["associated_data"] == "certificate"

    def test_empty_reply_is_refused(self) -> None:
        """A reply without certificates is malformed."""
        with pytest.raises(MalformedMessage):
            decrypt_certificates({"data": []}, API_V3_KEY)


def test_failure_acknowledgement_body() -> None:
    """The failure acknowledgement is {"code":"FAIL","message":…} (its 4xx/5xx status counts)."""
    assert json.loads(failure_ack_body()) == {"code": "FAIL", "message": "失败"}
