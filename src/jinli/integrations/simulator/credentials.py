"""The simulated merchant's credentials: generated once, kept in a directory, printable.

What WeChat Pay hands a merchant, and what ``jinli simulator credentials --json`` prints so any
WeChat Pay SDK can be pointed at the simulator:

- ``mchid`` and ``appid`` (and the official account's ``app_secret``, for OAuth);
- the merchant API key pair: ``apiclient_key.pem`` and ``apiclient_cert.pem``, whose serial is
  the ``serial_no`` of every ``Authorization`` header;
- the platform key, named two ways: a platform certificate (hex serial, served encrypted by
  ``GET /v3/certificates``) and a WeChat Pay public key (``PUB_KEY_ID_…``, ``pub_key.pem``);
- the 32-character APIv3 key (AES-256-GCM of callbacks and certificates) and the
  32-character v2 API key (MD5/HMAC signatures of red packets);
- the base URL that replaces ``https://api.mch.weixin.qq.com``.

The platform **private** key is the simulator's own secret (it signs as WeChat): it lives in
the same directory but is not part of the merchant's credentials.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from jinli.integrations.wechatpay.crypto import (
    certificate_pem,
    certificate_serial,
    generate_private_key,
    load_certificate,
    load_private_key,
    private_key_pem,
    public_key_pem,
    self_signed_certificate,
)
from jinli.platform.settings import WeChatPaySettings

CREDENTIALS_FILE = "credentials.json"
MERCHANT_KEY_FILE = "apiclient_key.pem"
MERCHANT_CERT_FILE = "apiclient_cert.pem"
PLATFORM_PUBLIC_KEY_FILE = "pub_key.pem"
PLATFORM_CERT_DIR = "platform_certificates"
"""Only platform certificates, named ``<serial>.pem``: the ``cert_dir`` SDKs load them from."""
PLATFORM_KEY_FILE = "platform_private_key.pem"
"""The simulator's signing key (WeChat's side); never handed to the merchant."""

_ALPHANUMERIC = string.ascii_letters + string.digits
_DEFAULTS = WeChatPaySettings()


def _secret(length: int = 32) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def platform_certificate_file(serial: str) -> str:
    """File name of the platform certificate, as SDKs cache it (``<serial>.pem``)."""
    return f"wechatpay_{serial}.pem"


@dataclass(frozen=True)
class Credentials:
    """One simulated merchant, loaded from (or generated into) ``directory``."""

    directory: Path
    mchid: str
    appid: str
    app_secret: str
    api_v3_key: str
    api_key: str
    """The v2 API key (32 characters)."""
    base_url: str
    merchant_key: rsa.RSAPrivateKey
    merchant_certificate: x509.Certificate
    platform_key: rsa.RSAPrivateKey
    platform_certificate: x509.Certificate
    public_key_id: str

    @property
    def merchant_serial_no(self) -> str:
        """Serial of ``apiclient_cert.pem`` (upper-case hex, as WeChat writes it)."""
        return certificate_serial(self.merchant_certificate)

    @property
    def platform_serial_no(self) -> str:
        """Serial of the platform certificate."""
        return certificate_serial(self.platform_certificate)

    @property
    def platform_public_key(self) -> rsa.RSAPublicKey:
        """The WeChat Pay public key (the same key as the platform certificate's)."""
        return self.platform_key.public_key()

    def path(self, name: str) -> Path:
        """Absolute path of a file in the credentials directory."""
        return (self.directory / name).resolve()

    def with_base_url(self, base_url: str) -> Credentials:
        """The same merchant reached at another base URL (persisted by :func:`save_base_url`)."""
        return Credentials(**{**self.__dict__, "base_url": base_url.rstrip("/")})

    def as_dict(self) -> dict[str, Any]:
        """What a merchant needs to point any WeChat Pay SDK at the simulator (JSON-ready)."""
        return {
            "mode": "simulator",
            "base_url": self.base_url,
            "mchid": self.mchid,
            "appid": self.appid,
            "app_secret": self.app_secret,
            "merchant_serial_no": self.merchant_serial_no,
            "merchant_private_key": private_key_pem(self.merchant_key),
            "merchant_private_key_path": str(self.path(MERCHANT_KEY_FILE)),
            "merchant_certificate_path": str(self.path(MERCHANT_CERT_FILE)),
            "platform_certificate_serial_no": self.platform_serial_no,
            "platform_certificate": certificate_pem(self.platform_certificate),
            "platform_certificate_path": str(
                self.path(platform_certificate_file(self.platform_serial_no))
            ),
            "platform_certificate_dir": str(self.path(PLATFORM_CERT_DIR)),
            "platform_public_key_id": self.public_key_id,
            "platform_public_key": public_key_pem(self.platform_public_key),
            "platform_public_key_path": str(self.path(PLATFORM_PUBLIC_KEY_FILE)),
            "api_v3_key": self.api_v3_key,
            "api_key": self.api_key,
            "notes": (
                "Simulator credentials: never valid at WeChat. Real WeChat requires the merchant "
                "client certificate (mTLS) for v2 red packets; the simulator over plain HTTP "
                "accepts requests without it."
            ),
        }


def _write(path: Path, text: str, *, private: bool = False) -> None:
    path.write_text(text, encoding="utf-8")
    if private:
        os.chmod(path, 0o600)


def _generate(directory: Path, base_url: str, mchid: str, appid: str) -> None:
    now = datetime.now(UTC)
    # Valid from a year back for twenty years: frozen test clocks and the wall clock both fall
    # inside, and SDKs that check validity against the real time (wechatpayv3) accept it.
    not_before = now - timedelta(days=365)
    merchant_key = generate_private_key()
    merchant_cert = self_signed_certificate(
        merchant_key, common_name=mchid, not_before=not_before, valid_for=timedelta(days=7300)
    )
    platform_key = generate_private_key()
    platform_cert = self_signed_certificate(
        platform_key,
        common_name="Tenpay.com Root CA (simulated)",
        not_before=not_before,
        valid_for=timedelta(days=7300),
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / MERCHANT_KEY_FILE, private_key_pem(merchant_key), private=True)
    _write(directory / MERCHANT_CERT_FILE, certificate_pem(merchant_cert))
    _write(directory / PLATFORM_KEY_FILE, private_key_pem(platform_key), private=True)
    serial = certificate_serial(platform_cert)
    _write(directory / platform_certificate_file(serial), certificate_pem(platform_cert))
    _write(directory / PLATFORM_PUBLIC_KEY_FILE, public_key_pem(platform_key.public_key()))
    (directory / PLATFORM_CERT_DIR).mkdir(exist_ok=True)
    _write(directory / PLATFORM_CERT_DIR / f"{serial}.pem", certificate_pem(platform_cert))
    record = {
        "mchid": mchid,
        "appid": appid,
        "app_secret": _secret(),
        "api_v3_key": _secret(32),
        "api_key": _secret(32),
        "public_key_id": "PUB_KEY_ID_" + "".join(secrets.choice(string.digits) for _ in range(32)),
        "base_url": base_url.rstrip("/"),
        "platform_serial_no": serial,
        "created_at": now.isoformat(),
    }
    _write(directory / CREDENTIALS_FILE, json.dumps(record, indent=2) + "\n", private=True)


def load_credentials(directory: Path) -> Credentials:
    """Load the credentials kept in ``directory`` (see :func:`load_or_create_credentials`)."""
    record = json.loads((directory / CREDENTIALS_FILE).read_text(encoding="utf-8"))
    serial = record["platform_serial_no"]
    return Credentials(
        directory=directory,
        mchid=record["mchid"],
        appid=record["appid"],
        app_secret=record["app_secret"],
        api_v3_key=record["api_v3_key"],
        api_key=record["api_key"],
        base_url=record["base_url"],
        merchant_key=load_private_key((directory / MERCHANT_KEY_FILE).read_bytes()),
        merchant_certificate=load_certificate((directory / MERCHANT_CERT_FILE).read_bytes()),
        platform_key=load_private_key((directory / PLATFORM_KEY_FILE).read_bytes()),
        platform_certificate=load_certificate(
            (directory / platform_certificate_file(serial)).read_bytes()
        ),
        public_key_id=record["public_key_id"],
    )


def load_or_create_credentials(
    directory: Path,
    *,
    base_url: str | None = None,
    mchid: str = _DEFAULTS.mch_id,
    appid: str = _DEFAULTS.appid,
) -> Credentials:
    """The merchant kept in ``directory``, generated there on first use.

    ``base_url`` (when given) replaces the recorded one and is persisted, so ``credentials
    --json`` prints where the simulator was last served. ``mchid``/``appid`` only apply when
    generating.
    """
    if not (directory / CREDENTIALS_FILE).exists():
        _generate(directory, base_url or _DEFAULTS.base_url, mchid, appid)
    credentials = load_credentials(directory)
    if base_url is not None and base_url.rstrip("/") != credentials.base_url:
        save_base_url(directory, base_url)
        credentials = credentials.with_base_url(base_url)
    return credentials


def save_base_url(directory: Path, base_url: str) -> None:
    """Record the base URL the simulator is reachable at."""
    path = directory / CREDENTIALS_FILE
    record = json.loads(path.read_text(encoding="utf-8"))
    record["base_url"] = base_url.rstrip("/")
    _write(path, json.dumps(record, indent=2) + "\n", private=True)


def credentials_dict(directory: Path, *, base_url: str | None = None) -> dict[str, Any]:
    """The merchant credentials as a JSON-ready dict (generated on first use)."""
    return load_or_create_credentials(directory, base_url=base_url).as_dict()
