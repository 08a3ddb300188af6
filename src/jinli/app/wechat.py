"""WeChat Pay for a runtime: the simulator's merchant by default, the real one by configuration.

Built lazily (generating the simulator's keys costs a few hundred milliseconds) and cached on
the runtime; the same protocol clients serve both, only credentials and base URL differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from jinli.integrations.simulator.credentials import load_or_create_credentials
from jinli.integrations.wechatpay.client import WeChatPayV3Client, WeChatPayV3Config
from jinli.integrations.wechatpay.crypto import load_certificate, load_private_key
from jinli.integrations.wechatpay.signing import PlatformKeys
from jinli.integrations.wechatpay.v2 import WeChatPayV2Client, WeChatPayV2Config
from jinli.kernel.clock import Clock
from jinli.payouts.domain import PayoutMode
from jinli.payouts.gateway import GatewaySettings, WeChatPayGateway, WeChatPayNotifications
from jinli.platform.runtime import Runtime
from jinli.platform.settings import Settings

LIVE_BASE_URL = "https://api.mch.weixin.qq.com"
SIMULATOR_MOUNT = "/wechat-sim"
NOTIFY_PATH = "/wechatpay/notify"


@dataclass
class WeChatPay:
    v3: WeChatPayV3Client
    v2: WeChatPayV2Client
    gateway: WeChatPayGateway
    notifications: WeChatPayNotifications
    default_mode: PayoutMode

    async def aclose(self) -> None:
        await self.v3.aclose()
        await self.v2.aclose()


def simulator_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "simulator"


def simulator_base_url(settings: Settings) -> str:
    return settings.public_base_url.rstrip("/") + SIMULATOR_MOUNT


def _clients(
    settings: Settings, transport: httpx.AsyncBaseTransport | None, clock: Clock | None
) -> tuple[WeChatPayV3Client, WeChatPayV2Client, str]:
    """The v3 and v2 clients and the appid payouts are made for."""
    pay = settings.wechatpay
    if pay.mode == "simulator":
        # An explicit JINLI_WECHATPAY__BASE_URL reaches a simulator served alone
        # (``jinli simulator serve``); otherwise the one mounted in Jinli's own app.
        explicit = "base_url" in pay.model_fields_set
        creds = load_or_create_credentials(
            simulator_dir(settings),
            base_url=pay.base_url if explicit else simulator_base_url(settings),
        )
        keys = PlatformKeys(
            [creds.platform_certificate],
            public_keys={creds.public_key_id: creds.platform_public_key},
        )
        v3_config = WeChatPayV3Config(
            mchid=creds.mchid,
            merchant_serial_no=creds.merchant_serial_no,
            merchant_private_key=creds.merchant_key,
            api_v3_key=creds.api_v3_key,
            base_url=creds.base_url,
        )
        v2_config = WeChatPayV2Config(
            mch_id=creds.mchid, api_key=creds.api_key, base_url=creds.base_url
        )
        return (
            WeChatPayV3Client(v3_config, keys, transport=transport, clock=clock),
            WeChatPayV2Client(v2_config, transport=transport),
            creds.appid,
        )
    if pay.merchant_key_path is None:
        raise ValueError("JINLI_WECHATPAY__MERCHANT_KEY_PATH is required in live mode")
    certificates = [load_certificate(p.read_bytes()) for p in pay.platform_cert_paths]
    public_keys: dict[str, rsa.RSAPublicKey] = {}
    if pay.platform_public_key_id and pay.platform_public_key_path:
        key = load_pem_public_key(pay.platform_public_key_path.read_bytes())
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("the WeChat Pay public key must be an RSA key")
        public_keys[pay.platform_public_key_id] = key
    base = pay.base_url if pay.base_url and "wechat-sim" not in pay.base_url else LIVE_BASE_URL
    v3_config = WeChatPayV3Config(
        mchid=pay.mch_id,
        merchant_serial_no=pay.merchant_serial_no,
        merchant_private_key=load_private_key(pay.merchant_key_path.read_bytes()),
        api_v3_key=pay.api_v3_key.get_secret_value(),
        base_url=base,
    )
    v2_config = WeChatPayV2Config(
        mch_id=pay.mch_id,
        api_key=pay.v2_api_key.get_secret_value(),
        base_url=base,
        cert_path=str(pay.v2_cert_path) if pay.v2_cert_path else None,
        key_path=str(pay.v2_key_path) if pay.v2_key_path else None,
    )
    keys = PlatformKeys(certificates, public_keys=public_keys)
    return (
        WeChatPayV3Client(v3_config, keys, transport=transport, clock=clock),
        WeChatPayV2Client(v2_config, transport=transport),
        pay.appid,
    )


def wechatpay(runtime: Runtime, *, transport: httpx.AsyncBaseTransport | None = None) -> WeChatPay:
    """The runtime's WeChat Pay clients and payout gateway, built on first use.

    ``transport`` replaces the network (tests plug the simulator's ASGI app in directly).
    """
    cached = runtime.extras.get("wechatpay")
    if isinstance(cached, WeChatPay):
        return cached
    settings = runtime.settings
    v3, v2, appid = _clients(settings, transport, runtime.clock if transport else None)
    notify = settings.wechatpay.notify_url or settings.public_base_url.rstrip("/") + NOTIFY_PATH
    gateway = WeChatPayGateway(
        v3,
        v2,
        GatewaySettings(
            appid=appid,
            send_name=settings.wechatpay.send_name,
            notify_url=notify,
        ),
    )
    pay = WeChatPay(
        v3, v2, gateway, WeChatPayNotifications(v3), PayoutMode(settings.wechatpay.payout_mode)
    )
    runtime.extras["wechatpay"] = pay
    return pay


async def close(runtime: Runtime) -> None:
    pay = runtime.extras.pop("wechatpay", None)
    if isinstance(pay, WeChatPay):
        await pay.aclose()
