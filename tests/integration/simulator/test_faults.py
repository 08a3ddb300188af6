"""Every injected fault reaches Jinli's client as the outcome the shared decision table
gives it, and "applied" faults really moved the money (the case that pays twice if a merchant
re-numbers)."""

from __future__ import annotations

import httpx
import pytest

from jinli.integrations.simulator import (
    Credentials,
    Fault,
    FaultKind,
    Operation,
    PayoutKind,
    Simulator,
    SimulatorConfig,
)
from jinli.integrations.simulator.server import SimulatorServer
from jinli.integrations.wechatpay import (
    BrandRedpacketBatchCreate,
    BrandRedpacketDetailCreate,
    WeChatPayCallError,
    WeChatPayV2Client,
    WeChatPayV3Client,
)
from jinli.integrations.wechatpay.outcomes import Outcome
from jinli.kernel.clock import FrozenClock
from jinli.kernel.money import Fen

from .conftest import certificate_keys, redpack, transfer, v3_config

UNKNOWN, RETRY = Outcome.UNKNOWN, Outcome.RETRY_LATER

V3_CREATE_CASES = [
    (FaultKind.SYSTEM_ERROR, False, UNKNOWN, 500),
    (FaultKind.SYSTEM_ERROR, True, UNKNOWN, 500),
    (FaultKind.TIMEOUT, False, UNKNOWN, None),
    (FaultKind.TIMEOUT, True, UNKNOWN, None),
    (FaultKind.DROP, False, UNKNOWN, None),
    (FaultKind.DROP, True, UNKNOWN, None),
    (FaultKind.HTTP_500, True, UNKNOWN, 500),
    (FaultKind.MALFORMED, True, UNKNOWN, 200),
    (FaultKind.UNKNOWN_CODE, False, UNKNOWN, 400),
    (FaultKind.FREQUENCY_LIMITED, False, RETRY, 429),
    (FaultKind.NOT_ENOUGH, False, RETRY, 403),
]


@pytest.mark.parametrize(("kind", "applied", "outcome", "status"), V3_CREATE_CASES)
async def test_transfer_create_faults(
    v3: WeChatPayV3Client,
    sim: Simulator,
    credentials: Credentials,
    kind: FaultKind,
    applied: bool,
    outcome: Outcome,
    status: int | None,
) -> None:
    """The client sees the fault's outcome; the bill exists iff the fault was applied; a
    retry with the SAME number then settles it with exactly one payment."""
    sim.inject(Operation.TRANSFER_CREATE, kind, applied=applied)
    with pytest.raises(WeChatPayCallError) as caught:
        await v3.create_transfer_bill(transfer(credentials, "F1"))
    assert (caught.value.outcome, caught.value.http_status) == (outcome, status)
    assert (sim.book.get(PayoutKind.TRANSFER, "F1") is not None) is applied
    bill = await v3.create_transfer_bill(transfer(credentials, "F1"))
    assert bill.state == "WAIT_USER_CONFIRM"
    sim.confirm_transfer("F1")
    sim.advance(1)
    assert sim.successes() == {"F1": 1}
    entry = sim.book.get(PayoutKind.TRANSFER, "F1")
    assert entry is not None
    assert entry.debits == 1


async def test_not_found_while_processing_and_query_faults(
    v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
) -> None:
    """A query NOT_FOUND (and a query SYSTEM_ERROR) although the bill exists: UNKNOWN, never
    failed; the next query sees it."""
    await v3.create_transfer_bill(transfer(credentials, "F2"))
    sim.inject("transfer_query", "not_found")
    sim.inject("transfer_query", "system_error")
    for _ in range(2):
        with pytest.raises(WeChatPayCallError) as caught:
            await v3.get_transfer_bill("F2")
        assert caught.value.outcome is UNKNOWN
    assert (await v3.get_transfer_bill("F2")).state == "WAIT_USER_CONFIRM"


async def test_cancel_and_brand_faults(
    v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials
) -> None:
    """An applied SYSTEM_ERROR on cancel still cancels; an applied timeout on a brand batch
    still creates it (a retry answers the same batch)."""
    await v3.create_transfer_bill(transfer(credentials, "F3"))
    sim.inject("transfer_cancel", "system_error", applied=True)
    with pytest.raises(WeChatPayCallError):
        await v3.cancel_transfer_bill("F3")
    sim.advance(1)
    assert (await v3.get_transfer_bill("F3")).state == "CANCELLED"
    batch = BrandRedpacketBatchCreate(
        brand_id=1,
        brand_appid=credentials.appid,
        template_id="T",
        out_batch_no="FB1",
        batch_name="n",
        batch_remark="r",
        details=[BrandRedpacketDetailCreate("D1", Fen(100), "o1", "x")],
    )
    sim.inject("brand_create", "timeout", applied=True)
    with pytest.raises(WeChatPayCallError) as caught:
        await v3.create_brand_redpacket_batch(batch)
    assert caught.value.outcome is UNKNOWN
    first_batch_no = sim.brand.batches["FB1"].batch_no
    assert (await v3.create_brand_redpacket_batch(batch)).batch_no == first_batch_no


V2_SEND_CASES = [
    (FaultKind.SYSTEM_ERROR, False, UNKNOWN, "SYSTEMERROR"),
    (FaultKind.SYSTEM_ERROR, True, UNKNOWN, "SYSTEMERROR"),
    (FaultKind.PROCESSING, True, UNKNOWN, "PROCESSING"),
    (FaultKind.TIMEOUT, True, UNKNOWN, None),
    (FaultKind.DROP, False, UNKNOWN, None),
    (FaultKind.HTTP_500, False, UNKNOWN, None),
    (FaultKind.MALFORMED, True, UNKNOWN, None),
    (FaultKind.UNKNOWN_CODE, True, UNKNOWN, "SIM_UNDOCUMENTED_ERR"),
    (FaultKind.FREQUENCY_LIMITED, False, RETRY, "FREQ_LIMIT"),
    (FaultKind.NOT_ENOUGH, False, RETRY, "NOTENOUGH"),
]


@pytest.mark.parametrize(("kind", "applied", "outcome", "code"), V2_SEND_CASES)
async def test_redpack_send_faults(
    v2: WeChatPayV2Client,
    sim: Simulator,
    credentials: Credentials,
    kind: FaultKind,
    applied: bool,
    outcome: Outcome,
    code: str | None,
) -> None:
    """Same for v2: outcome, packet created iff applied, one packet after the retry."""
    sim.inject(Operation.REDPACK_SEND, kind, applied=applied)
    with pytest.raises(WeChatPayCallError) as caught:
        await v2.send_redpack(redpack(credentials, "FR1"))
    assert (caught.value.outcome, caught.value.wechat_code) == (outcome, code)
    assert (sim.book.get(PayoutKind.REDPACK, "FR1") is not None) is applied
    sent = await v2.send_redpack(redpack(credentials, "FR1"))
    assert sim.book.get(PayoutKind.REDPACK, "FR1").wechat_no == sent.send_listid  # type: ignore[union-attr]
    assert len(sim.book.entries()) == 1


async def test_redpack_query_not_found_while_processing(
    v2: WeChatPayV2Client, sim: Simulator, credentials: Credentials
) -> None:
    """gethbinfo NOT_FOUND for a packet that exists: UNKNOWN."""
    await v2.send_redpack(redpack(credentials, "FR2"))
    sim.inject(Operation.REDPACK_QUERY, FaultKind.NOT_FOUND)
    with pytest.raises(WeChatPayCallError) as caught:
        await v2.get_redpack_info("FR2", credentials.appid)
    assert (caught.value.wechat_code, caught.value.outcome) == ("NOT_FOUND", UNKNOWN)


def test_meaningless_faults_are_refused(sim: Simulator) -> None:
    """A fault that cannot happen on that call is a test bug: refused at injection."""
    bad = [
        (Operation.TRANSFER_CREATE, Fault(FaultKind.NOT_FOUND)),
        (Operation.TRANSFER_CREATE, Fault(FaultKind.FREQUENCY_LIMITED, applied=True)),
        (Operation.TRANSFER_QUERY, Fault(FaultKind.SYSTEM_ERROR, applied=True)),
        (Operation.CALLBACK, Fault(FaultKind.SYSTEM_ERROR)),
        (Operation.TRANSFER_CREATE, Fault(FaultKind.DUPLICATE)),
        (Operation.TRANSFER_CREATE, Fault(FaultKind.PROCESSING)),
    ]
    for operation, fault in bad:
        with pytest.raises(ValueError, match=r"."):
            sim.faults.inject(operation, fault)


def test_probabilities_replay_for_a_seed(credentials: Credentials, clock: FrozenClock) -> None:
    """Probabilistic faults are drawn from a seeded generator: same seed, same faults."""
    draws = []
    for _ in range(2):
        sim = Simulator(credentials, SimulatorConfig(seed=42), clock=clock)
        sim.faults.set_probability(Operation.REDPACK_SEND, Fault(FaultKind.SYSTEM_ERROR), 0.3)
        draws.append([sim.faults.draw(Operation.REDPACK_SEND) is not None for _ in range(50)])
    assert draws[0] == draws[1]
    assert 5 < sum(draws[0]) < 30


def test_a_timeout_and_a_drop_over_a_socket(credentials: Credentials) -> None:
    """Over a real socket a TIMEOUT hangs past the client's timeout and a DROP closes the
    connection mid-reply: both UNKNOWN with no status; the applied timeout created the bill."""
    import asyncio

    sim = Simulator(credentials, SimulatorConfig(hang_seconds=1.0, background=False))
    with SimulatorServer(sim) as url:
        sim.inject(Operation.TRANSFER_CREATE, FaultKind.TIMEOUT, applied=True)
        config = v3_config(credentials, url)
        short = type(config)(
            mchid=config.mchid,
            merchant_serial_no=config.merchant_serial_no,
            merchant_private_key=config.merchant_private_key,
            api_v3_key=config.api_v3_key,
            base_url=url,
            timeout=httpx.Timeout(0.3),
        )

        async def call() -> tuple[WeChatPayCallError, WeChatPayCallError]:
            async with WeChatPayV3Client(short, certificate_keys(credentials)) as client:
                with pytest.raises(WeChatPayCallError) as timed_out:
                    await client.create_transfer_bill(transfer(credentials, "FS1"))
                sim.inject(Operation.TRANSFER_QUERY, FaultKind.DROP)
                with pytest.raises(WeChatPayCallError) as dropped:
                    await client.get_transfer_bill("FS1")
                return timed_out.value, dropped.value

        timed_out, dropped = asyncio.run(call())
    assert (timed_out.outcome, timed_out.http_status) == (UNKNOWN, None)
    assert "timeout" in timed_out.detail
    assert (dropped.outcome, dropped.http_status) == (UNKNOWN, None)
    assert "transport error" in dropped.detail
    assert sim.book.get(PayoutKind.TRANSFER, "FS1") is not None
