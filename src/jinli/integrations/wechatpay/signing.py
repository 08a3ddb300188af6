"""API v3 signatures: the merchant's ``Authorization`` header and WeChat's signed replies.

Requests (merchant → WeChat)::

    Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
                   timestamp="…",serial_no="…"          (one line on the wire)

where ``signature`` is SHA256withRSA, with the merchant's ``apiclient_key.pem``, over the five
lines ``METHOD\\nCANONICAL_URL\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (each line ends in ``\\n``, the
last too). ``CANONICAL_URL`` is the API path plus query exactly as sent, relative to the
gateway (``/v3/certificates?algorithm_type=RSA``); ``BODY`` is the exact bytes sent, empty for
a GET.

Replies and callbacks (WeChat → merchant) are signed over ``TIMESTAMP\\nNONCE\\nBODY\\n`` (raw
body; empty for 204) and carry ``Wechatpay-Timestamp``, ``-Nonce``, ``-Signature``, ``-Serial``
and ``-Signature-Type``. ``Wechatpay-Serial`` names the key: a platform certificate serial
(upper-case hex) or a WeChat Pay public-key id (``PUB_KEY_ID_…``). We refuse timestamps more
than 5 minutes from our clock, ``WECHATPAY/SIGNTEST/`` probe signatures, and unknown serials.
Bill-file downloads are the one unsigned reply.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from jinli.kernel.clock import Clock, SystemClock

from .crypto import certificate_public_key, certificate_serial, random_nonce, rsa_sign, rsa_verify
from .errors import (
    KeyMaterialError,
    MalformedSignature,
    ProbeSignature,
    SignatureError,
    StaleTimestamp,
    UnknownSerial,
)

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
"""The authorization scheme, also the value of ``Wechatpay-Signature-Type``."""
MAX_CLOCK_SKEW = timedelta(minutes=5)
"""Signed timestamps further than this from our clock are refused (wechatpay-php's
``MAXIMUM_CLOCK_OFFSET``)."""
PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
"""Signatures starting with this are WeChat's probe traffic and must fail verification."""
PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
"""WeChat Pay public-key ids start with this; platform certificate serials are hex."""

HEADER_TIMESTAMP = "Wechatpay-Timestamp"
HEADER_NONCE = "Wechatpay-Nonce"
HEADER_SIGNATURE = "Wechatpay-Signature"
HEADER_SERIAL = "Wechatpay-Serial"
HEADER_SIGNATURE_TYPE = "Wechatpay-Signature-Type"
HEADER_REQUEST_ID = "Request-ID"


def _text(value: bytes | str) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def request_message(
    method: str, canonical_url: str, timestamp: int | str, nonce: str, body: bytes | str
) -> bytes:
    """The bytes a merchant signs: ``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n``."""
    head = f"{method.upper()}\n{canonical_url}\n{timestamp}\n{nonce}\n".encode()
    return head + _text(body) + b"\n"


def response_message(timestamp: int | str, nonce: str, body: bytes | str) -> bytes:
    """The bytes WeChat signs in a reply or callback: ``TIMESTAMP\\nNONCE\\nBODY\\n``."""
    return f"{timestamp}\n{nonce}\n".encode() + _text(body) + b"\n"


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Case-insensitive view: HTTP header names are case-insensitive (FastAPI lower-cases)."""
    return {key.lower(): value for key, value in headers.items()}


def _serial_key(serial: str) -> str:
    """Serials compare as numbers when hex (``0C4A…`` = ``c4a…``), as wechatpayv3 does with
    ``int(serial, 16)``; public-key ids compare as exact strings."""
    if serial and re.fullmatch(r"[0-9A-Fa-f]+", serial):
        return format(int(serial, 16), "X")
    return serial


def _check_timestamp(timestamp: str, now: datetime, max_skew: timedelta) -> int:
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        raise MalformedSignature(f"the timestamp is not Unix seconds: {timestamp!r}")
    value = int(timestamp)
    skew = abs(now.timestamp() - value)
    if skew > max_skew.total_seconds():
        raise StaleTimestamp(f"the signed timestamp is {int(skew)} s away from now")
    return value


# ---------------------------------------------------------------------------------------------
# Merchant side: Authorization header


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parsed ``Authorization`` header of a merchant request."""

    mchid: str
    nonce_str: str
    signature: str
    timestamp: str
    serial_no: str
    """Serial of the merchant API certificate whose key signed the request (hex)."""

    def to_header(self) -> str:
        """The header value, fields in the documented order."""
        return (
            f'{SCHEMA} mchid="{self.mchid}",nonce_str="{self.nonce_str}",'
            f'signature="{self.signature}",timestamp="{self.timestamp}",'
            f'serial_no="{self.serial_no}"'
        )

    @classmethod
    def parse(cls, header: str | None) -> Authorization:
        """Parse ``WECHATPAY2-SHA256-RSA2048 k="v",…``; any deviation is MalformedSignature."""
        if not header:
            raise MalformedSignature("no Authorization header")
        schema, _, params = header.strip().partition(" ")
        if schema != SCHEMA:
            raise MalformedSignature(f"the Authorization scheme is not {SCHEMA}")
        fields: dict[str, str] = {}
        rest = params.strip()
        pattern = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*(?:,|$)')
        while rest:
            match = pattern.match(rest)
            if match is None:
                raise MalformedSignature("the Authorization parameters are malformed")
            name, value = match.group(1), match.group(2)
            if name in fields:
                raise MalformedSignature(f"the Authorization parameter {name} is repeated")
            fields[name] = value
            rest = rest[match.end() :]
        missing = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} - set(fields)
        if missing:
            raise MalformedSignature(f"the Authorization header lacks {', '.join(sorted(missing))}")
        return cls(
            mchid=fields["mchid"],
            nonce_str=fields["nonce_str"],
            signature=fields["signature"],
            timestamp=fields["timestamp"],
            serial_no=fields["serial_no"],
        )


class MerchantSigner:
    """Signs merchant requests with ``apiclient_key.pem``."""

    def __init__(
        self,
        mchid: str,
        serial_no: str,
        private_key: rsa.RSAPrivateKey,
        *,
        clock: Clock | None = None,
        nonce_factory: Callable[[], str] = random_nonce,
    ) -> None:
        self.mchid = mchid
        self.serial_no = serial_no
        self._private_key = private_key
        self._clock = clock or SystemClock()
        self._nonce_factory = nonce_factory

    def sign(
        self,
        method: str,
        canonical_url: str,
        body: bytes | str = b"",
        *,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> Authorization:
        """Sign one request; ``body`` must be the exact bytes that will be sent."""
        ts = str(timestamp if timestamp is not None else int(self._clock.now().timestamp()))
        nonce_str = nonce if nonce is not None else self._nonce_factory()
        message = request_message(method, canonical_url, ts, nonce_str, body)
        return Authorization(
            mchid=self.mchid,
            nonce_str=nonce_str,
            signature=rsa_sign(self._private_key, message),
            timestamp=ts,
            serial_no=self.serial_no,
        )


def verify_request(
    authorization: str | None,
    method: str,
    canonical_url: str,
    body: bytes | str,
    *,
    merchant_keys: Mapping[str, rsa.RSAPublicKey],
    clock: Clock | None = None,
    max_skew: timedelta = MAX_CLOCK_SKEW,
    mchid: str | None = None,
) -> Authorization:
    """Verify a merchant request as WeChat does (the simulator's SIGN_ERROR check).

    ``merchant_keys`` maps merchant certificate serials to their public keys; ``canonical_url``
    is the path and query relative to the gateway (strip any mount prefix first). Returns the
    parsed header; raises a :class:`SignatureError` subclass otherwise.
    """
    auth = Authorization.parse(authorization)
    if mchid is not None and auth.mchid != mchid:
        raise SignatureError(f"the request is signed for mchid {auth.mchid!r}")
    now = (clock or SystemClock()).now()
    _check_timestamp(auth.timestamp, now, max_skew)
    keys = {_serial_key(serial): key for serial, key in merchant_keys.items()}
    key = keys.get(_serial_key(auth.serial_no))
    if key is None:
        raise UnknownSerial(f"no merchant certificate with serial {auth.serial_no!r}")
    message = request_message(method, canonical_url, auth.timestamp, auth.nonce_str, body)
    if not rsa_verify(key, message, auth.signature):
        raise SignatureError("the request signature does not match")
    return auth


# ---------------------------------------------------------------------------------------------
# WeChat side: the keys it signs with, verification, and (for the simulator) signing


class PlatformKeys:
    """The keys WeChat Pay signs with, by serial: platform certificates (from
    ``/v3/certificates``) and/or WeChat Pay public keys (``PUB_KEY_ID_…``, the current
    recommendation). Also chooses the key that encrypts sensitive fields."""

    def __init__(
        self,
        certificates: Iterable[x509.Certificate] = (),
        public_keys: Mapping[str, rsa.RSAPublicKey] | None = None,
    ) -> None:
        self._certificates: dict[str, tuple[str, x509.Certificate]] = {}
        self._public_keys: dict[str, tuple[str, rsa.RSAPublicKey]] = {}
        for cert in certificates:
            self.add_certificate(cert)
        for key_id, key in (public_keys or {}).items():
            self.add_public_key(key_id, key)

    def add_certificate(self, cert: x509.Certificate) -> str:
        """Trust a platform certificate; returns its serial."""
        certificate_public_key(cert)  # refuse non-RSA certificates now, not at verify time
        serial = certificate_serial(cert)
        self._certificates[_serial_key(serial)] = (serial, cert)
        return serial

    def add_public_key(self, key_id: str, key: rsa.RSAPublicKey) -> None:
        """Trust a WeChat Pay public key under its id (``PUB_KEY_ID_…``)."""
        self._public_keys[_serial_key(key_id)] = (key_id, key)

    @property
    def public_key_ids(self) -> list[str]:
        """The trusted WeChat Pay public-key ids (``PUB_KEY_ID_…``), as WeChat writes them."""
        return [s for s, _ in self._public_keys.values()]

    @property
    def serials(self) -> list[str]:
        """Every trusted serial and public-key id, as WeChat writes them."""
        return [s for s, _ in self._public_keys.values()] + [
            s for s, _ in self._certificates.values()
        ]

    def key_for(self, serial: str, at: datetime) -> rsa.RSAPublicKey:
        """The key named by ``serial``; a certificate must be valid at ``at``."""
        entry = self._public_keys.get(_serial_key(serial))
        if entry is not None:
            return entry[1]
        cert_entry = self._certificates.get(_serial_key(serial))
        if cert_entry is None:
            raise UnknownSerial(f"no trusted WeChat Pay key with serial {serial!r}")
        cert = cert_entry[1]
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise UnknownSerial(f"the platform certificate {serial} is not valid at {at:%F %T}Z")
        return certificate_public_key(cert)

    def encryption_key(self, at: datetime) -> tuple[str, rsa.RSAPublicKey]:
        """The (serial, key) to encrypt sensitive fields to: the public key when configured,
        else the valid platform certificate that expires last. The serial goes in the
        ``Wechatpay-Serial`` request header."""
        if self._public_keys:
            return next(iter(self._public_keys.values()))
        valid = [
            (cert.not_valid_after_utc, serial, cert)
            for serial, cert in self._certificates.values()
            if cert.not_valid_before_utc <= at <= cert.not_valid_after_utc
        ]
        if not valid:
            raise KeyMaterialError("no valid WeChat Pay key to encrypt sensitive fields to")
        _, serial, cert = max(valid, key=lambda item: item[0])
        return serial, certificate_public_key(cert)

    def copy(self) -> PlatformKeys:
        """An independent copy (to try new certificates without trusting them yet)."""
        clone = PlatformKeys()
        clone._certificates = dict(self._certificates)
        clone._public_keys = dict(self._public_keys)
        return clone


@dataclass(frozen=True, slots=True)
class VerifiedSignature:
    """What a successful verification established."""

    serial: str
    timestamp: int
    nonce: str
    request_id: str | None


class SignatureVerifier:
    """Verifies WeChat's replies and callbacks against :class:`PlatformKeys`."""

    def __init__(
        self,
        keys: PlatformKeys,
        *,
        clock: Clock | None = None,
        max_skew: timedelta = MAX_CLOCK_SKEW,
    ) -> None:
        self.keys = keys
        self._clock = clock or SystemClock()
        self._max_skew = max_skew

    def verify(self, headers: Mapping[str, str], body: bytes | str) -> VerifiedSignature:
        """Verify ``body`` against the ``Wechatpay-*`` headers, or raise SignatureError.

        Checks, in order: all headers present, signature type, probe signature, timestamp
        within 5 minutes, known serial, SHA256withRSA over the raw body.
        """
        h = _headers(headers)
        values = {
            name: h.get(name.lower(), "")
            for name in (HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SERIAL)
        }
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise MalformedSignature(f"missing {', '.join(missing)}")
        signature_type = h.get(HEADER_SIGNATURE_TYPE.lower())
        if signature_type is not None and signature_type != SCHEMA:
            raise MalformedSignature(f"unsupported {HEADER_SIGNATURE_TYPE}: {signature_type!r}")
        signature = values[HEADER_SIGNATURE]
        if signature.startswith(PROBE_PREFIX):
            raise ProbeSignature("WECHATPAY/SIGNTEST probe signature")
        now = self._clock.now()
        timestamp = _check_timestamp(values[HEADER_TIMESTAMP], now, self._max_skew)
        key = self.keys.key_for(values[HEADER_SERIAL], now.astimezone(UTC))
        message = response_message(values[HEADER_TIMESTAMP], values[HEADER_NONCE], body)
        if not rsa_verify(key, message, signature):
            raise SignatureError("the WeChat Pay signature does not match the body")
        return VerifiedSignature(
            serial=values[HEADER_SERIAL],
            timestamp=timestamp,
            nonce=values[HEADER_NONCE],
            request_id=h.get(HEADER_REQUEST_ID.lower()),
        )


def sign_response(
    private_key: rsa.RSAPrivateKey,
    serial: str,
    body: bytes | str,
    *,
    timestamp: int,
    nonce: str,
) -> dict[str, str]:
    """The ``Wechatpay-*`` headers WeChat puts on a reply or callback (the simulator's side).
    ``serial`` is the platform certificate serial or the public-key id."""
    return {
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: rsa_sign(private_key, response_message(timestamp, nonce, body)),
        HEADER_SERIAL: serial,
        HEADER_SIGNATURE_TYPE: SCHEMA,
    }


class PlatformSigner:
    """Signs as WeChat Pay does (for the simulator and tests): one platform key, one serial."""

    def __init__(
        self,
        serial: str,
        private_key: rsa.RSAPrivateKey,
        *,
        clock: Clock | None = None,
        nonce_factory: Callable[[], str] = random_nonce,
    ) -> None:
        self.serial = serial
        self._private_key = private_key
        self._clock = clock or SystemClock()
        self._nonce_factory = nonce_factory

    def headers(self, body: bytes | str) -> dict[str, str]:
        """Signed ``Wechatpay-*`` headers for ``body``, timestamped now."""
        return sign_response(
            self._private_key,
            self.serial,
            body,
            timestamp=int(self._clock.now().timestamp()),
            nonce=self._nonce_factory(),
        )

    def probe_headers(self, body: bytes | str) -> dict[str, str]:
        """Headers of a probe: a ``WECHATPAY/SIGNTEST/`` signature receivers must refuse."""
        headers = self.headers(body)
        headers[HEADER_SIGNATURE] = PROBE_PREFIX + headers[HEADER_SIGNATURE]
        return headers
