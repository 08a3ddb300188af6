"""API v3 callbacks (notifications): verify, parse the envelope, decrypt the resource.

Envelope::

    {"id": "EV-…", "create_time": "…+08:00", "resource_type": "encrypt-resource",
     "event_type": "MCHTRANSFER.BILL.FINISHED", "summary": "…",
     "resource": {"original_type": "mch_payment", "algorithm": "AEAD_AES_256_GCM",
                  "ciphertext": "<b64>", "associated_data": "<may be empty>", "nonce": "<12>"}}

The signature is verified over the **raw** body before anything is parsed. Acknowledge with
HTTP 200/204 (no body needed); answer 4xx/5xx with ``{"code":"FAIL","message":…}`` to make
WeChat retry. Only the status counts. The same event may arrive several times: dedupe on ``id``
and on business state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .crypto import aead_decrypt, aead_encrypt, random_nonce
from .errors import DecryptionError, MalformedMessage
from .signing import SignatureVerifier, VerifiedSignature
from .wire import JsonObject, dumps, loads_object, opt_str, req_object, req_str

ALGORITHM = "AEAD_AES_256_GCM"
"""The only resource encryption WeChat Pay uses."""


def failure_ack_body(message: str = "失败") -> bytes:
    """A body for a failure acknowledgement; the 4xx/5xx status is what makes WeChat retry."""
    return dumps({"code": "FAIL", "message": message})


@dataclass(frozen=True, slots=True)
class EncryptedResource:
    """The ``resource`` object of a callback (also the shape of ``encrypt_certificate``)."""

    ciphertext: str
    nonce: str
    associated_data: str = ""
    original_type: str | None = None
    algorithm: str = ALGORITHM

    @classmethod
    def from_json(cls, obj: JsonObject) -> EncryptedResource:
        """Read it from JSON; an algorithm other than AEAD_AES_256_GCM is refused."""
        algorithm = req_str(obj, "algorithm")
        if algorithm != ALGORITHM:
            raise MalformedMessage(f"unsupported resource algorithm {algorithm!r}")
        return cls(
            ciphertext=req_str(obj, "ciphertext"),
            nonce=req_str(obj, "nonce"),
            associated_data=opt_str(obj, "associated_data") or "",
            original_type=opt_str(obj, "original_type"),
            algorithm=algorithm,
        )

    def to_json(self) -> dict[str, str]:
        """The JSON object WeChat sends."""
        data = {
            "algorithm": self.algorithm,
            "ciphertext": self.ciphertext,
            "associated_data": self.associated_data,
            "nonce": self.nonce,
        }
        if self.original_type is not None:
            data = {"original_type": self.original_type, **data}
        return data

    def decrypt(self, api_v3_key: str | bytes) -> str:
        """The plaintext (UTF-8 text, usually JSON)."""
        plaintext = aead_decrypt(api_v3_key, self.nonce, self.ciphertext, self.associated_data)
        try:
            return plaintext.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecryptionError("the decrypted resource is not UTF-8") from exc


def encrypt_resource(
    plaintext: str | Mapping[str, Any],
    api_v3_key: str | bytes,
    *,
    associated_data: str = "",
    original_type: str | None = None,
    nonce: str | None = None,
) -> EncryptedResource:
    """Encrypt a resource as WeChat does (the simulator's side). A mapping is sent as JSON."""
    text = plaintext if isinstance(plaintext, str) else dumps(plaintext).decode("utf-8")
    nonce = nonce or random_nonce(12)
    return EncryptedResource(
        ciphertext=aead_encrypt(api_v3_key, nonce, text, associated_data),
        nonce=nonce,
        associated_data=associated_data,
        original_type=original_type,
    )


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified, decrypted callback."""

    id: str
    """Event id: the first dedupe key."""
    create_time: str
    event_type: str
    """E.g. ``MCHTRANSFER.BILL.FINISHED``."""
    resource_type: str
    summary: str | None
    resource: EncryptedResource
    plaintext: str
    """The decrypted resource as sent (JSON text)."""
    signature: VerifiedSignature | None = field(default=None, compare=False)

    def data(self) -> JsonObject:
        """The decrypted resource parsed as a JSON object."""
        return loads_object(self.plaintext, what="callback resource")


def parse_notification_body(body: bytes | str, api_v3_key: str | bytes) -> Notification:
    """Parse and decrypt a callback body WITHOUT checking its signature. Only for bodies whose
    signature was already verified; receivers use :func:`parse_notification`."""
    envelope = loads_object(body, what="callback")
    resource = EncryptedResource.from_json(req_object(envelope, "resource"))
    return Notification(
        id=req_str(envelope, "id"),
        create_time=req_str(envelope, "create_time"),
        event_type=req_str(envelope, "event_type"),
        resource_type=req_str(envelope, "resource_type"),
        summary=opt_str(envelope, "summary"),
        resource=resource,
        plaintext=resource.decrypt(api_v3_key),
    )


def parse_notification(
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    verifier: SignatureVerifier,
    api_v3_key: str | bytes,
) -> Notification:
    """Verify a callback's signature over the raw body, then parse and decrypt it.

    Raises a SignatureError subclass (forged, stale, probe, unknown serial), DecryptionError
    (tampered resource) or MalformedMessage (not a callback envelope). Answer all of them with
    a 4xx; never act on the body.
    """
    verified = verifier.verify(headers, body)
    notification = parse_notification_body(body, api_v3_key)
    return Notification(
        id=notification.id,
        create_time=notification.create_time,
        event_type=notification.event_type,
        resource_type=notification.resource_type,
        summary=notification.summary,
        resource=notification.resource,
        plaintext=notification.plaintext,
        signature=verified,
    )


def build_notification_body(
    *,
    event_id: str,
    create_time: str,
    event_type: str,
    summary: str,
    resource: EncryptedResource,
    resource_type: str = "encrypt-resource",
) -> bytes:
    """The callback body WeChat posts (the simulator signs these exact bytes)."""
    envelope = {
        "id": event_id,
        "create_time": create_time,
        "resource_type": resource_type,
        "event_type": event_type,
        "summary": summary,
        "resource": resource.to_json(),
    }
    return dumps(envelope)
