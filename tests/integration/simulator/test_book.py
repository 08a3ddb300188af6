"""The simulator's book under a random fault matrix (a small R5): a merchant that retries
every unclear answer with the SAME number is never paid twice, and the book proves it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial

import httpx
import pytest

from jinli.integrations.simulator import Fault, FaultKind, Operation, PayoutKind, Simulator
from jinli.integrations.simulator.credentials import Credentials
from jinli.integrations.wechatpay import WeChatPayCallError, WeChatPayV2Client, WeChatPayV3Client
from jinli.integrations.wechatpay.outcomes import Outcome

from .conftest import HOST, PREFIX, redpack, transfer

CREATE_FAULTS = [
    Fault(FaultKind.SYSTEM_ERROR, applied=True),
    Fault(FaultKind.SYSTEM_ERROR),
    Fault(FaultKind.TIMEOUT, applied=True),
    Fault(FaultKind.TIMEOUT),
    Fault(FaultKind.DROP, applied=True),
    Fault(FaultKind.HTTP_500, applied=True),
    Fault(FaultKind.MALFORMED, applied=True),
    Fault(FaultKind.UNKNOWN_CODE, applied=True),
    Fault(FaultKind.FREQUENCY_LIMITED),
    Fault(FaultKind.NOT_ENOUGH),
]


async def _until_accepted(call: Callable[[], Awaitable[object]]) -> list[Outcome]:
    """Call until WeChat accepts (same number every time); the outcomes of the failures."""
    outcomes: list[Outcome] = []
    for _ in range(30):
        try:
            await call()
        except WeChatPayCallError as error:
            outcomes.append(error.outcome)
            continue
        return outcomes
    raise AssertionError("never accepted")


@pytest.mark.parametrize("seed", [1, 2])
async def test_at_most_one_success_per_number_under_faults(
    v3: WeChatPayV3Client,
    v2: WeChatPayV2Client,
    sim: Simulator,
    credentials: Credentials,
    transport: httpx.ASGITransport,
    seed: int,
) -> None:
    """25 transfers and 25 red packets, each call with a 40 % chance of a fault (half of them
    applied): retried with the same number until accepted, then confirmed/opened. Every
    number is paid exactly once; the admin book agrees."""
    sim.faults.reseed(seed)
    for fault in CREATE_FAULTS:
        sim.faults.set_probability(Operation.TRANSFER_CREATE, fault, 0.04)
        sim.faults.set_probability(Operation.REDPACK_SEND, fault, 0.04)
    faulted = 0
    for n in range(25):
        bill = transfer(credentials, f"BK{n}")
        packet = redpack(credentials, f"BR{n}", re_openid=f"o{n}")
        outcomes = await _until_accepted(partial(v3.create_transfer_bill, bill))
        outcomes += await _until_accepted(partial(v2.send_redpack, packet))
        assert set(outcomes) <= {Outcome.UNKNOWN, Outcome.RETRY_LATER}
        faulted += len(outcomes)
        assert sim.confirm_transfer(f"BK{n}")
    assert faulted > 5
    sim.advance(1)
    for n in range(0, 25, 2):
        assert sim.open_redpack(f"BR{n}")
    sim.advance(timedelta(hours=25))
    assert sim.book.double_paid() == []
    assert len(sim.book.entries(PayoutKind.TRANSFER)) == 25
    assert len(sim.book.entries(PayoutKind.REDPACK)) == 25
    assert set(sim.successes().values()) <= {0, 1}
    assert all(e.state == "SUCCESS" for e in sim.book.entries(PayoutKind.TRANSFER))
    states = [e.state for e in sim.book.entries(PayoutKind.REDPACK)]
    assert (states.count("RECEIVED"), states.count("REFUND")) == (13, 12)
    async with httpx.AsyncClient(transport=transport, base_url=HOST) as client:
        book = (await client.get(PREFIX + "/_sim/book")).json()
    assert book["summary"]["double_paid"] == []
    assert book["summary"]["max_successes_per_number"] == 1
    assert book["summary"]["paid"] == 25 + 13
    assert {e["number"] for e in book["entries"] if e["successes"] > 1} == set()
