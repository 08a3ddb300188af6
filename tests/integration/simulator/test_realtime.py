"""Real-time mode (the demo and ``jinli simulator serve``): time follows the system clock,
``advance`` moves business time only, and a background task delivers callbacks by itself."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx

from jinli.integrations.simulator import Credentials, Simulator, SimulatorConfig
from jinli.integrations.simulator.server import SimulatorServer
from jinli.integrations.wechatpay import WeChatPayV3Client
from jinli.kernel.clock import FrozenClock

from .conftest import Receiver, certificate_keys, transfer, v3_config


def test_background_task_delivers_callbacks_after_an_advance(credentials: Credentials) -> None:
    """A client on the system clock creates a transfer; the user confirms; advancing the
    simulator moves business time (not the protocol clock), and the background task
    delivers the signed callback without being asked."""
    receiver = Receiver(credentials, FrozenClock(datetime.now(UTC)))
    config = SimulatorConfig(tick_interval_seconds=0.05, duplicate_probability=0.0)
    sim = Simulator(credentials, config, callback_transport=httpx.MockTransport(receiver))
    with SimulatorServer(sim) as url:

        async def create() -> str:
            async with WeChatPayV3Client(
                v3_config(credentials, url), certificate_keys(credentials)
            ) as client:
                bill = await client.create_transfer_bill(transfer(credentials, "RT1"))
                return bill.state

        assert asyncio.run(create()) == "WAIT_USER_CONFIRM"
        assert sim.confirm_transfer("RT1")
        sim.advance(timedelta(hours=2))
        deadline = time.monotonic() + 5
        while not receiver.verified and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sim.clock.offset == timedelta(hours=2)
        assert abs((sim.clock.wall() - datetime.now(UTC)).total_seconds()) < 2
    [resource] = receiver.resources()
    assert (resource["out_bill_no"], resource["state"]) == ("RT1", "SUCCESS")
