"""``GET /v3/certificates``: WeChat Pay's platform certificates, each AES-GCM encrypted with
the APIv3 key (``associated_data`` is ``"certificate"``)::

    {"data": [{"serial_no": "…", "effective_time": "…", "expire_time": "…",
               "encrypt_certificate": {"algorithm": "AEAD_AES_256_GCM",
                                       "associated_data": "certificate",
                                       "nonce": "…", "ciphertext": "…"}}]}

Only WeChat and the merchant know the APIv3 key, so a certificate that decrypts is WeChat's;
its serial must also equal ``serial_no``. The reply is signed by one of the certificates it
carries, which the client checks after decrypting (first download, or rotation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from jinli.kernel.clock import SHANGHAI

from .callbacks import EncryptedResource, encrypt_resource
from .crypto import certificate_pem, certificate_serial, load_certificate
from .errors import KeyMaterialError, MalformedMessage
from .wire import JsonObject, dumps, opt_list, req_object, req_str

CERTIFICATES_PATH = "/v3/certificates"
CERTIFICATE_ASSOCIATED_DATA = "certificate"


@dataclass(frozen=True)
class PlatformCertificate:
    """One decrypted platform certificate."""

    serial_no: str
    effective_time: str
    expire_time: str
    certificate: x509.Certificate


def decrypt_certificates(reply: JsonObject, api_v3_key: str | bytes) -> list[PlatformCertificate]:
    """Decrypt every certificate of a ``/v3/certificates`` reply and check its serial."""
    items = opt_list(reply, "data")
    if not items:
        raise MalformedMessage("the certificates reply has no data")
    result: list[PlatformCertificate] = []
    for item in items:
        serial_no = req_str(item, "serial_no")
        resource = EncryptedResource.from_json(req_object(item, "encrypt_certificate"))
        try:
            cert = load_certificate(resource.decrypt(api_v3_key))
        except KeyMaterialError as exc:
            raise MalformedMessage(f"certificate {serial_no} does not decode: {exc}") from exc
        if certificate_serial(cert) != serial_no.upper():
            raise MalformedMessage(f"certificate {serial_no} carries another serial")
        result.append(
            PlatformCertificate(
                serial_no=serial_no,
                effective_time=req_str(item, "effective_time"),
                expire_time=req_str(item, "expire_time"),
                certificate=cert,
            )
        )
    return result


def build_certificates_reply(
    certificates: Sequence[x509.Certificate], api_v3_key: str | bytes
) -> bytes:
    """The ``/v3/certificates`` reply body WeChat sends (the simulator's side)."""
    data = []
    for cert in certificates:
        resource = encrypt_resource(
            certificate_pem(cert), api_v3_key, associated_data=CERTIFICATE_ASSOCIATED_DATA
        )
        data.append(
            {
                "serial_no": certificate_serial(cert),
                "effective_time": cert.not_valid_before_utc.astimezone(SHANGHAI).isoformat(),
                "expire_time": cert.not_valid_after_utc.astimezone(SHANGHAI).isoformat(),
                "encrypt_certificate": resource.to_json(),
            }
        )
    return dumps({"data": data})
