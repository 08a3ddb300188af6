"""A simulator per test on a frozen clock, and Jinli's own clients pointed at it in-process
(httpx ASGITransport, the simulator mounted under ``/wechat-sim`` as in the demo).

The merchant's keys are generated once per session (RSA generation is slow) in a temporary
data directory, exactly as ``jinli simulator`` keeps them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from jinli.integrations.simulator import (
    Credentials,
    Simulator,
    SimulatorConfig,
    create_simulator_app,
    load_or_create_credentials,
)
from jinli.integrations.wechatpay import (
    PlatformKeys,
    SceneReportInfo,
    SignatureVerifier,
    TransferBillCreate,
    WeChatPayV2Client,
    WeChatPayV2Config,
    WeChatPayV3Client,
    WeChatPayV3Config,
)
from jinli.integrations.wechatpay.callbacks import Notification, parse_notification
from jinli.integrations.wechatpay.models import REPORT_ACTIVITY_NAME, REPORT_REWARD_DESCRIPTION
from jinli.integrations.wechatpay.v2 import SendRedpackRequest
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen

T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
"""12:00 Beijing time: after the 10:00 bill cut-off."""
HOST = "http://sim.test"
PREFIX = "/wechat-sim"
BASE_URL = HOST + PREFIX
OPENID = "o_user_0001"
NOTIFY_URL = "http://jinli.test/callbacks/wechatpay"


@pytest.fixture(scope="session")
def credentials(tmp_path_factory: pytest.TempPathFactory) -> Credentials:
    """The simulated merchant, generated once in a data directory."""
    directory = tmp_path_factory.mktemp("data") / "simulator"
    return load_or_create_credentials(directory, base_url=BASE_URL)


@pytest.fixture
def clock() -> FrozenClock:
    """The one clock the simulator and the clients share."""
    return FrozenClock(T0)


@pytest.fixture
def config() -> SimulatorConfig:
    """Defaults, without random duplicate callbacks (tests ask for them explicitly)."""
    return SimulatorConfig(duplicate_probability=0.0, hang_seconds=0.0)


@dataclass
class Receiver:
    """Plays Jinli's callback endpoint: verifies, decrypts, answers ``statuses`` in turn."""

    credentials: Credentials
    clock: FrozenClock
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    verified: list[Notification] = field(default_factory=list)
    refused: int = 0

    def keys(self) -> PlatformKeys:
        c = self.credentials
        return PlatformKeys(
            [c.platform_certificate], public_keys={c.public_key_id: c.platform_public_key}
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        headers = dict(request.headers)
        self.received.append((headers, request.content))
        try:
            notification = parse_notification(
                headers,
                request.content,
                verifier=SignatureVerifier(self.keys(), clock=self.clock),
                api_v3_key=self.credentials.api_v3_key,
            )
        except Exception:  # any refusal is a 401, as Jinli answers forged callbacks
            self.refused += 1
            return httpx.Response(401, json={"code": "FAIL", "message": "签名错误"})
        self.verified.append(notification)
        status = self.statuses.pop(0) if self.statuses else 204
        return httpx.Response(status)

    def resources(self) -> list[dict[str, Any]]:
        return [json.loads(n.plaintext) for n in self.verified]


@pytest.fixture
def receiver(credentials: Credentials, clock: FrozenClock) -> Receiver:
    """Jinli's callback endpoint (204 unless told otherwise)."""
    return Receiver(credentials, clock)


@pytest.fixture
def sim(
    credentials: Credentials, config: SimulatorConfig, clock: FrozenClock, receiver: Receiver
) -> Simulator:
    """A fresh simulator; callbacks go to ``receiver``."""
    return Simulator(
        credentials, config, clock=clock, callback_transport=httpx.MockTransport(receiver)
    )


@pytest.fixture
def transport(sim: Simulator) -> httpx.ASGITransport:
    """The simulator mounted under /wechat-sim in a FastAPI app, as the demo mounts it."""
    host = FastAPI()
    host.mount(PREFIX, create_simulator_app(sim))
    return httpx.ASGITransport(app=host)


def v3_config(credentials: Credentials, base_url: str = BASE_URL) -> WeChatPayV3Config:
    """Jinli's v3 configuration for the simulated merchant."""
    return WeChatPayV3Config(
        mchid=credentials.mchid,
        merchant_serial_no=credentials.merchant_serial_no,
        merchant_private_key=credentials.merchant_key,
        api_v3_key=credentials.api_v3_key,
        base_url=base_url,
    )


def certificate_keys(credentials: Credentials) -> PlatformKeys:
    """Trust the platform certificate only."""
    return PlatformKeys([credentials.platform_certificate])


@pytest.fixture
async def v3(
    credentials: Credentials, transport: httpx.ASGITransport, clock: FrozenClock
) -> AsyncIterator[WeChatPayV3Client]:
    """Jinli's v3 client, trusting the platform certificate."""
    async with WeChatPayV3Client(
        v3_config(credentials), certificate_keys(credentials), transport=transport, clock=clock
    ) as client:
        yield client


@pytest.fixture
async def v2(
    credentials: Credentials, transport: httpx.ASGITransport
) -> AsyncIterator[WeChatPayV2Client]:
    """Jinli's v2 client (no mTLS over plain HTTP)."""
    config = WeChatPayV2Config(
        mch_id=credentials.mchid, api_key=credentials.api_key, base_url=BASE_URL
    )
    async with WeChatPayV2Client(config, transport=transport) as client:
        yield client


def transfer(
    credentials: Credentials, out_bill_no: str, amount_fen: int = 188, **overrides: Any
) -> TransferBillCreate:
    """A valid scene-1000 transfer request."""
    fields: dict[str, Any] = {
        "appid": credentials.appid,
        "out_bill_no": out_bill_no,
        "transfer_scene_id": "1000",
        "openid": OPENID,
        "transfer_amount_fen": Fen(amount_fen),
        "transfer_remark": "锦鲤活动奖励",
        "scene_report_infos": [
            SceneReportInfo(REPORT_ACTIVITY_NAME, "瓶盖扫码赢红包"),
            SceneReportInfo(REPORT_REWARD_DESCRIPTION, "扫码抽中现金奖励"),
        ],
        "notify_url": NOTIFY_URL,
    }
    fields.update(overrides)
    return TransferBillCreate(**fields)


def redpack(
    credentials: Credentials, mch_billno: str, amount_fen: int = 188, **overrides: Any
) -> SendRedpackRequest:
    """A valid cash red packet request."""
    fields: dict[str, Any] = {
        "mch_billno": mch_billno,
        "wxappid": credentials.appid,
        "send_name": "锦鲤演示品牌",
        "re_openid": OPENID,
        "total_amount_fen": Fen(amount_fen),
        "wishing": "恭喜发财",
        "client_ip": "127.0.0.1",
        "act_name": "瓶盖扫码",
        "remark": "扫码赢红包",
    }
    fields.update(overrides)
    return SendRedpackRequest(**fields)
