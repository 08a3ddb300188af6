"""Transfer callbacks as WeChat sends them: signed, encrypted, re-delivered on WeChat's
schedule until a 200/204, sometimes twice on purpose, and the callback faults."""

from __future__ import annotations

import itertools
from datetime import timedelta

import httpx

from jinli.integrations.simulator import Credentials, Simulator, SimulatorConfig
from jinli.integrations.wechatpay import WeChatPayV3Client
from jinli.kernel.clock import FrozenClock

from .conftest import NOTIFY_URL, Receiver, transfer


async def _succeed(
    v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials, no: str, fen: int = 188
) -> None:
    await v3.create_transfer_bill(transfer(credentials, no, fen))
    assert sim.confirm_transfer(no)


async def test_callback_is_signed_encrypted_and_acknowledged(
    v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials, receiver: Receiver
) -> None:
    """SUCCESS notifies MCHTRANSFER.BILL.FINISHED to the bill's notify_url: the signature
    verifies, the resource decrypts to the bill, a 204 ends the deliveries."""
    await _succeed(v3, sim, credentials, "C1", 520)
    attempts = await sim.advance_and_deliver(timedelta(hours=1))
    assert [(a.variant, a.status, a.url) for a in attempts] == [("genuine", 204, NOTIFY_URL)]
    [notification] = receiver.verified
    assert notification.event_type == "MCHTRANSFER.BILL.FINISHED"
    assert notification.resource.original_type == "mch_payment"
    [resource] = receiver.resources()
    assert resource["out_bill_no"] == "C1"
    assert (resource["state"], resource["transfer_amount"]) == ("SUCCESS", 520)
    assert resource["mch_id"] == credentials.mchid


async def test_unacknowledged_callbacks_follow_wechats_schedule(
    v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials, receiver: Receiver
) -> None:
    """500, 500, then 200: delivered at +0 s, +15 s, +30 s, then never again."""
    receiver.statuses = [500, 500, 200]
    await _succeed(v3, sim, credentials, "C2")
    attempts = await sim.advance_and_deliver(timedelta(hours=2))
    start = attempts[0].at
    assert [(a.at - start).total_seconds() for a in attempts] == [0, 15, 30]
    assert [a.status for a in attempts] == [500, 500, 200]


async def test_a_dead_endpoint_gets_65_attempts_over_a_day(
    credentials: Credentials, clock: FrozenClock
) -> None:
    """An endpoint that never answers: 15 s ×10, 300 s ×10, 1800 s ×44 after the first
    attempt, then WeChat gives up (and only polling will tell the merchant)."""

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sim = Simulator(
        credentials,
        SimulatorConfig(duplicate_probability=0.0),
        clock=clock,
        callback_transport=httpx.MockTransport(down),
    )
    with sim.lock:
        from jinli.integrations.simulator.transfers import TransferRequest

        request = TransferRequest(
            appid=credentials.appid,
            out_bill_no="C3",
            scene_id="1000",
            openid="o",
            amount_fen=100,
            remark="r",
            report_infos=(("活动名称", "a"), ("奖励说明", "b")),
            notify_url=NOTIFY_URL,
        )
        sim.transfers.create(request, sim.now())
    sim.confirm_transfer("C3")
    attempts = await sim.advance_and_deliver(timedelta(hours=26))
    gaps = [(b.at - a.at).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert len(attempts) == 65
    assert gaps == [15.0] * 10 + [300.0] * 10 + [1800.0] * 44
    assert all(a.error == "ConnectError" for a in attempts)
    assert sim.outbox.notifications[0].gave_up


async def test_acknowledged_callbacks_are_sometimes_sent_again(
    credentials: Credentials, clock: FrozenClock, receiver: Receiver
) -> None:
    """With duplicate_probability=1 every acknowledged event comes once more, same id."""
    sim = Simulator(
        credentials,
        SimulatorConfig(duplicate_probability=1.0),
        clock=clock,
        callback_transport=httpx.MockTransport(receiver),
    )
    from jinli.integrations.simulator.transfers import TransferRequest

    request = TransferRequest(
        appid=credentials.appid,
        out_bill_no="C4",
        scene_id="1000",
        openid="o",
        amount_fen=100,
        remark="r",
        report_infos=(("活动名称", "a"), ("奖励说明", "b")),
        notify_url=NOTIFY_URL,
    )
    with sim.lock:
        sim.transfers.create(request, sim.now())
    sim.confirm_transfer("C4")
    attempts = await sim.advance_and_deliver(timedelta(minutes=5))
    assert [a.variant for a in attempts] == ["genuine", "duplicate"]
    assert len({n.id for n in receiver.verified}) == 1
    assert len(receiver.verified) == 2


async def test_duplicate_fault_delivers_n_copies(
    v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials, receiver: Receiver
) -> None:
    """A DUPLICATE fault with 3 copies: the same event three times."""
    sim.inject("callback", "duplicate", copies=3)
    await _succeed(v3, sim, credentials, "C5")
    await sim.advance_and_deliver(60)
    assert [n.id for n in receiver.verified] == [receiver.verified[0].id] * 3


async def test_out_of_order_callback_is_overtaken(
    v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials, receiver: Receiver
) -> None:
    """An OUT_OF_ORDER fault holds the first bill's callback back: the second bill's
    callback, which happened later, arrives first."""
    sim.inject("callback", "out_of_order")
    await _succeed(v3, sim, credentials, "C6")
    await sim.advance_and_deliver(5)
    await _succeed(v3, sim, credentials, "C7")
    await sim.advance_and_deliver(120)
    assert [r["out_bill_no"] for r in receiver.resources()] == ["C7", "C6"]


async def test_forged_and_probe_callbacks_are_refused_then_the_genuine_one_lands(
    v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials, receiver: Receiver
) -> None:
    """A forged signature (another key under WeChat's serial) and a WECHATPAY/SIGNTEST probe
    are refused by a verifying receiver; the genuine callback still arrives."""
    sim.inject("callback", "forged_signature")
    await _succeed(v3, sim, credentials, "C8")
    sim.inject("callback", "probe")
    await _succeed(v3, sim, credentials, "C9")
    attempts = await sim.advance_and_deliver(60)
    assert [(a.variant, a.status) for a in attempts] == [
        ("forged", 401),  # extras go out before the genuine deliveries due at the same time
        ("probe", 401),
        ("genuine", 204),
        ("genuine", 204),
    ]
    assert receiver.refused == 2
    assert [r["out_bill_no"] for r in receiver.resources()] == ["C8", "C9"]


async def test_amount_mismatch_callback_is_genuinely_signed_but_wrong(
    v3: WeChatPayV3Client, sim: Simulator, credentials: Credentials, receiver: Receiver
) -> None:
    """The AMOUNT_MISMATCH extra verifies and decrypts, under its own event id, with an amount
    the order does not have: only an amount check can catch it."""
    sim.inject("callback", "amount_mismatch")
    await _succeed(v3, sim, credentials, "C10", 188)
    await sim.advance_and_deliver(60)
    mismatched, genuine = receiver.resources()
    assert (mismatched["out_bill_no"], mismatched["transfer_amount"]) == ("C10", 288)
    assert genuine["transfer_amount"] == 188
    assert receiver.verified[0].id != receiver.verified[1].id


async def test_duplicates_are_deterministic_for_a_seed(
    credentials: Credentials, receiver: Receiver
) -> None:
    """Two simulators with the same seed duplicate the same callbacks."""
    from datetime import UTC, datetime

    from jinli.integrations.simulator.transfers import TransferRequest

    patterns = []
    for _ in range(2):
        sim = Simulator(
            credentials,
            SimulatorConfig(duplicate_probability=0.3, seed=7),
            clock=FrozenClock(datetime(2026, 11, 23, 4, tzinfo=UTC)),
            callback_transport=httpx.MockTransport(lambda request: httpx.Response(200)),
        )
        for n in range(20):
            request = TransferRequest(
                appid=credentials.appid,
                out_bill_no=f"D{n}",
                scene_id="1000",
                openid="o",
                amount_fen=100,
                remark="r",
                report_infos=(("活动名称", "a"), ("奖励说明", "b")),
                notify_url=NOTIFY_URL,
            )
            with sim.lock:
                sim.transfers.create(request, sim.now())
            sim.confirm_transfer(f"D{n}")
        attempts = await sim.advance_and_deliver(120)
        patterns.append([a.resource["out_bill_no"] for a in attempts if a.variant == "duplicate"])
    assert patterns[0] == patterns[1]
    assert 0 < len(patterns[0]) < 20
