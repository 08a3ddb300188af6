"""Cryptographic primitives of WeChat Pay, exactly as the protocol uses them.

- Signatures (API v3 requests, replies, callbacks): SHA256withRSA, i.e. RSASSA-PKCS1-v1_5 over
  SHA-256, base64-encoded. Deterministic, so fixed vectors make golden tests.
- Encrypted resources (callbacks, ``/v3/certificates``): AEAD_AES_256_GCM keyed with the APIv3
  key as UTF-8 bytes, the 12-character ``nonce`` encoded as UTF-8, ``associated_data`` as the
  AAD (may be empty), and ``ciphertext`` = base64(ciphertext ‖ 16-byte tag).
- Sensitive fields (``user_name``): RSA-OAEP with SHA-1 and MGF1-SHA1, no label, base64;
  randomised, so only round trips can be tested.
- Certificate serials: upper-case hex of the serial number's big-endian bytes (leading zero
  byte kept, as the official Go SDK prints them: ``0C4AEF…``).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

from .errors import DecryptionError, KeyMaterialError

API_V3_KEY_BYTES = 32
"""WeChat issues 32-byte APIv3 keys (AES-256)."""

_NONCE_ALPHABET = string.ascii_letters + string.digits


def random_nonce(length: int = 32) -> str:
    """A random ``[A-Za-z0-9]`` string from the CSPRNG (32 for request nonces, 12 for GCM)."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


# ---------------------------------------------------------------------------------------------
# Keys and certificates


def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """Load an RSA private key from PEM (PKCS#8 ``apiclient_key.pem`` or PKCS#1)."""
    try:
        key = serialization.load_pem_private_key(_as_bytes(pem), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(f"not a PEM private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyMaterialError("WeChat Pay keys are RSA; this private key is not")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """Load an RSA public key from PEM (the WeChat Pay public key, ``pub_key.pem``)."""
    try:
        key = serialization.load_pem_public_key(_as_bytes(pem))
    except (ValueError, TypeError) as exc:
        raise KeyMaterialError(f"not a PEM public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyMaterialError("WeChat Pay keys are RSA; this public key is not")
    return key


def load_certificate(pem: str | bytes) -> x509.Certificate:
    """Load an X.509 certificate from PEM (merchant API cert or a platform certificate)."""
    try:
        return x509.load_pem_x509_certificate(_as_bytes(pem))
    except ValueError as exc:
        raise KeyMaterialError(f"not a PEM certificate: {exc}") from exc


def certificate_public_key(cert: x509.Certificate) -> rsa.RSAPublicKey:
    """The certificate's RSA public key."""
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyMaterialError("WeChat Pay certificates carry RSA keys; this one does not")
    return key


def certificate_serial(cert: x509.Certificate) -> str:
    """The serial as WeChat writes it: upper-case hex of the big-endian bytes."""
    number = cert.serial_number
    raw = number.to_bytes(max(1, (number.bit_length() + 7) // 8), "big")
    return raw.hex().upper()


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    """PKCS#8 PEM, the format of ``apiclient_key.pem``."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    """SubjectPublicKeyInfo PEM, the format of the WeChat Pay public key file."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def certificate_pem(cert: x509.Certificate) -> str:
    """PEM text of a certificate."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class KeyPair:
    """An RSA key with its self-signed certificate: a test merchant or a simulated platform."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def serial(self) -> str:
        """The certificate serial, WeChat-style upper-case hex."""
        return certificate_serial(self.certificate)

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        """The public half of ``private_key``."""
        return self.private_key.public_key()


def generate_private_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """A fresh RSA key (WeChat Pay uses 2048-bit keys; e = 65537)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def self_signed_certificate(
    private_key: rsa.RSAPrivateKey,
    *,
    common_name: str,
    not_before: datetime,
    valid_for: timedelta = timedelta(days=5 * 365),
    serial_number: int | None = None,
) -> x509.Certificate:
    """A self-signed certificate for ``private_key``; WeChat's own are CA-issued, but only the
    key and the serial matter to the protocol."""
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Jinli WeChat Pay simulator"),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(serial_number if serial_number is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + valid_for)
        .sign(private_key, hashes.SHA256())
    )


def generate_key_pair(
    *, common_name: str, not_before: datetime, valid_for: timedelta = timedelta(days=5 * 365)
) -> KeyPair:
    """A new RSA-2048 key and self-signed certificate (merchant API cert or platform cert)."""
    key = generate_private_key()
    cert = self_signed_certificate(
        key, common_name=common_name, not_before=not_before, valid_for=valid_for
    )
    return KeyPair(private_key=key, certificate=cert)


# ---------------------------------------------------------------------------------------------
# SHA256withRSA


def rsa_sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    """Base64 of RSASSA-PKCS1-v1_5(SHA-256) over ``message`` (deterministic)."""
    signature = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode("ascii")


def rsa_verify(public_key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> bool:
    """True iff ``signature_b64`` is a valid SHA256withRSA signature of ``message``.

    A signature that is not strict base64 is simply invalid (never an exception).
    """
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# AEAD_AES_256_GCM


def api_v3_key_bytes(key: str | bytes) -> bytes:
    """The APIv3 key as the 32 bytes AES-256 needs; anything else is a configuration error."""
    raw = _as_bytes(key)
    if len(raw) != API_V3_KEY_BYTES:
        raise KeyMaterialError(f"the APIv3 key must be {API_V3_KEY_BYTES} bytes, got {len(raw)}")
    return raw


def _aesgcm(key: str | bytes) -> AESGCM:
    raw = _as_bytes(key)
    # WeChat's keys are 32 bytes (AES-256). The primitive is plain AES-GCM, and the official
    # Go SDK's test vectors use 16-byte keys, so every AES key size is accepted here; the
    # clients' configuration insists on 32 (api_v3_key_bytes).
    if len(raw) not in (16, 24, 32):
        raise KeyMaterialError(f"an AES key is 16, 24 or 32 bytes, got {len(raw)}")
    return AESGCM(raw)


def aead_decrypt(
    key: str | bytes, nonce: str, ciphertext_b64: str, associated_data: str = ""
) -> bytes:
    """Decrypt a WeChat ``resource``/``encrypt_certificate``: base64(ct ‖ tag) under AES-GCM
    with the UTF-8 ``nonce`` and ``associated_data``. Raises :class:`DecryptionError` on any
    tampering (tag mismatch) or malformed input."""
    aes = _aesgcm(key)
    try:
        data = base64.b64decode(ciphertext_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("the ciphertext is not base64") from exc
    try:
        return aes.decrypt(nonce.encode("utf-8"), data, associated_data.encode("utf-8") or None)
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("AES-GCM authentication failed (tampered or wrong key)") from exc


def aead_encrypt(
    key: str | bytes, nonce: str, plaintext: str | bytes, associated_data: str = ""
) -> str:
    """The reverse of :func:`aead_decrypt` (the simulator encrypts callbacks and certificates).

    The nonce must never repeat under one key: use ``random_nonce(12)``.
    """
    aes = _aesgcm(key)
    data = aes.encrypt(
        nonce.encode("utf-8"), _as_bytes(plaintext), associated_data.encode("utf-8") or None
    )
    return base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------------------------------
# RSA-OAEP (SHA-1, MGF1-SHA1) for sensitive fields

# SHA-1 here is WeChat's choice, not ours: OAEP-SHA1 is what its servers decrypt.
_SHA1 = hashes.SHA1()  # noqa: S303 - mandated by the WeChat Pay protocol for OAEP
_OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=_SHA1), algorithm=_SHA1, label=None)


def oaep_encrypt(public_key: rsa.RSAPublicKey, plaintext: str) -> str:
    """Encrypt a sensitive field (e.g. ``user_name``) to WeChat's key; base64 output."""
    return base64.b64encode(public_key.encrypt(plaintext.encode("utf-8"), _OAEP)).decode("ascii")


def oaep_decrypt(private_key: rsa.RSAPrivateKey, ciphertext_b64: str) -> str:
    """Decrypt a sensitive field WeChat encrypted to our merchant key (query replies)."""
    try:
        data = base64.b64decode(ciphertext_b64, validate=True)
        return private_key.decrypt(data, _OAEP).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise DecryptionError("RSA-OAEP decryption failed") from exc
