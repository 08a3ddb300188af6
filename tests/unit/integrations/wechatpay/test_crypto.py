"""Cryptographic primitives against published vectors, plus round trips and tampering."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from jinli.integrations.wechatpay import crypto
from jinli.integrations.wechatpay.crypto import KeyPair
from jinli.integrations.wechatpay.errors import DecryptionError, KeyMaterialError

from . import vectors as v
from .conftest import API_V3_KEY


@pytest.fixture(scope="module")
def go_key() -> rsa.RSAPrivateKey:
    """The official Go SDK's test private key."""
    return crypto.load_private_key(v.go_sdk_private_key_pem())


class TestSha256WithRsa:
    def test_signature_matches_the_go_sdk_vector(self, go_key: rsa.RSAPrivateKey) -> None:
        """V3: PKCS#1 v1.5 is deterministic, so our signature equals the SDK's byte for byte."""
        assert crypto.rsa_sign(go_key, v.V3_MESSAGE.encode()) == v.V3_SIGNATURE

    def test_vector_verifies_with_the_platform_certificate(self) -> None:
        """V4: the SDK's signature verifies against certificate F5765756002FDD77."""
        cert = crypto.load_certificate(v.V4_CERT_PEM)
        key = crypto.certificate_public_key(cert)
        assert crypto.rsa_verify(key, v.V3_MESSAGE.encode(), v.V3_SIGNATURE)

    def test_vector_verifies_with_the_wechat_pay_public_key(self) -> None:
        """V4 in public-key mode: the same signature verifies against the bare public key."""
        key = crypto.load_public_key(v.V4_PUBLIC_KEY_PEM)
        assert crypto.rsa_verify(key, v.V3_MESSAGE.encode(), v.V3_SIGNATURE)

    def test_other_message_does_not_verify(self) -> None:
        """A signature over "source" does not verify "wrong source"."""
        key = crypto.load_public_key(v.V4_PUBLIC_KEY_PEM)
        assert not crypto.rsa_verify(key, b"wrong source", v.V3_SIGNATURE)

    @pytest.mark.parametrize("signature", ["", "invalid base64 signature", "AAAA"])
    def test_garbage_signature_is_invalid_not_an_exception(self, signature: str) -> None:
        """Empty, non-base64 or short signatures are simply invalid."""
        key = crypto.load_public_key(v.V4_PUBLIC_KEY_PEM)
        assert not crypto.rsa_verify(key, b"source", signature)


class TestCertificates:
    def test_serial_is_the_certificate_serial_in_upper_hex(self) -> None:
        """The V4 certificate's serial reads F5765756002FDD77."""
        assert crypto.certificate_serial(crypto.load_certificate(v.V4_CERT_PEM)) == (
            v.V4_CERT_SERIAL
        )

    def test_serial_keeps_a_leading_zero_byte(self) -> None:
        """Serials print their big-endian bytes, so a leading 0x0C byte shows as "0C…"."""
        cert = crypto.load_certificate(v.SERIAL_CERT_PEM)
        assert crypto.certificate_serial(cert) == v.SERIAL_CERT_SERIAL

    def test_generated_pair_round_trips_through_pem(self, merchant: KeyPair) -> None:
        """A generated key pair survives PEM export and import (the simulator prints PEMs)."""
        key = crypto.load_private_key(crypto.private_key_pem(merchant.private_key))
        cert = crypto.load_certificate(crypto.certificate_pem(merchant.certificate))
        public = crypto.load_public_key(crypto.public_key_pem(merchant.public_key))
        signature = crypto.rsa_sign(key, b"x")
        assert crypto.rsa_verify(crypto.certificate_public_key(cert), b"x", signature)
        assert crypto.rsa_verify(public, b"x", signature)
        assert crypto.certificate_serial(cert) == merchant.serial

    @pytest.mark.parametrize(
        "loader", [crypto.load_private_key, crypto.load_public_key, crypto.load_certificate]
    )
    def test_garbage_pem_is_a_key_material_error(self, loader: Callable[[str], object]) -> None:
        """Loading something that is not PEM raises KeyMaterialError, not a library error."""
        with pytest.raises(KeyMaterialError):
            loader("-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n")


class TestAesGcm:
    def test_decrypts_the_go_sdk_vector(self) -> None:
        """The SDK's AES-GCM vector decrypts to "Hello World"."""
        plaintext = crypto.aead_decrypt(
            v.AES_KEY, v.AES_NONCE, v.AES_CIPHERTEXT, v.AES_ASSOCIATED_DATA
        )
        assert plaintext == v.AES_PLAINTEXT.encode()

    @pytest.mark.parametrize(
        ("key", "nonce", "ciphertext", "aad"),
        [
            ("testAPIv3Key1111", v.AES_NONCE, v.AES_CIPHERTEXT, v.AES_ASSOCIATED_DATA),
            (v.AES_KEY, "wCq51qZv4Yfh", v.AES_CIPHERTEXT, v.AES_ASSOCIATED_DATA),
            (v.AES_KEY, v.AES_NONCE, v.AES_CIPHERTEXT, "other"),
            (v.AES_KEY, v.AES_NONCE, "SGVsbG8gV29ybGQK", v.AES_ASSOCIATED_DATA),
            (v.AES_KEY, v.AES_NONCE, "invalid cipher", v.AES_ASSOCIATED_DATA),
        ],
        ids=["wrong-key", "wrong-nonce", "wrong-aad", "bad-tag", "not-base64"],
    )
    def test_any_mismatch_fails_authentication(
        self, key: str, nonce: str, ciphertext: str, aad: str
    ) -> None:
        """Wrong key, nonce or associated data, a bad tag or non-base64 all raise."""
        with pytest.raises(DecryptionError):
            crypto.aead_decrypt(key, nonce, ciphertext, aad)

    def test_flipped_tag_bit_is_refused(self) -> None:
        """Flipping one bit of the 16-byte tag makes decryption fail."""
        raw = bytearray(base64.b64decode(v.AES_CIPHERTEXT))
        raw[-1] ^= 0x01
        with pytest.raises(DecryptionError):
            crypto.aead_decrypt(
                v.AES_KEY, v.AES_NONCE, base64.b64encode(raw).decode(), v.AES_ASSOCIATED_DATA
            )

    def test_key_of_invalid_length_is_refused(self) -> None:
        """A key that is not an AES key size is a configuration error."""
        with pytest.raises(KeyMaterialError):
            crypto.aead_decrypt("short", v.AES_NONCE, v.AES_CIPHERTEXT)

    def test_api_v3_key_must_be_32_bytes(self) -> None:
        """WeChat's APIv3 keys are 32 bytes; 16 is refused where an APIv3 key is expected."""
        assert crypto.api_v3_key_bytes(API_V3_KEY) == API_V3_KEY.encode()
        with pytest.raises(KeyMaterialError):
            crypto.api_v3_key_bytes(v.AES_KEY)

    @given(
        plaintext=st.text(max_size=200),
        aad=st.text(max_size=15),
        nonce=st.text(alphabet="abcdefXYZ0123456789", min_size=12, max_size=12),
    )
    def test_encrypt_then_decrypt_round_trips(self, plaintext: str, aad: str, nonce: str) -> None:
        """Whatever the text and associated data (empty included), encrypt∘decrypt = id."""
        ciphertext = crypto.aead_encrypt(API_V3_KEY, nonce, plaintext, aad)
        assert crypto.aead_decrypt(API_V3_KEY, nonce, ciphertext, aad) == plaintext.encode()

    def test_ciphertext_carries_the_16_byte_tag(self) -> None:
        """base64(ct ‖ tag): the decoded length is the plaintext length plus 16."""
        ciphertext = crypto.aead_encrypt(API_V3_KEY, crypto.random_nonce(12), "abc")
        assert len(base64.b64decode(ciphertext)) == 3 + 16


class TestOaep:
    def test_decrypts_the_go_sdk_vector(self, go_key: rsa.RSAPrivateKey) -> None:
        """The SDK's OAEP-SHA1 ciphertext decrypts to "hello world" with its key."""
        assert crypto.oaep_decrypt(go_key, v.OAEP_CIPHERTEXT) == v.OAEP_PLAINTEXT

    def test_round_trip_to_a_certificate_key(self, platform: KeyPair) -> None:
        """A name encrypted to the platform certificate decrypts with the platform key."""
        ciphertext = crypto.oaep_encrypt(platform.public_key, "张三")
        assert crypto.oaep_decrypt(platform.private_key, ciphertext) == "张三"

    def test_encryption_is_randomised(self, platform: KeyPair) -> None:
        """OAEP is randomised: two encryptions of the same name differ."""
        first = crypto.oaep_encrypt(platform.public_key, "张三")
        assert first != crypto.oaep_encrypt(platform.public_key, "张三")

    def test_wrong_key_cannot_decrypt(self, platform: KeyPair, merchant: KeyPair) -> None:
        """Decrypting with another key raises DecryptionError."""
        ciphertext = crypto.oaep_encrypt(platform.public_key, "张三")
        with pytest.raises(DecryptionError):
            crypto.oaep_decrypt(merchant.private_key, ciphertext)


def test_random_nonce_uses_the_documented_alphabet() -> None:
    """Nonces are [A-Za-z0-9] of the requested length and do not repeat."""
    nonces = {crypto.random_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 32 and n.isalnum() and n.isascii() for n in nonces)
