"""Synthetic scan, payout and alert events, written to the outbox as the scan path would, and
the numbers a reader would expect from them, counted here independently of the projection."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from jinli.analytics.tasks import CONSUMERS, LIVE_CONSUMER
from jinli.kernel.clock import SHANGHAI, FrozenClock
from jinli.kernel.events import DomainEvent
from jinli.platform.db.relay import relay_all, relay_batch
from jinli.platform.runtime import Runtime
from tests.factories import BrandFixture

REGIONS = ("浙江省杭州市", "上海市", "广东省广州市")
TIERS = (("一等奖", 888), ("二等奖", 188), ("谢谢参与", 0))
REASONS = ("inactive", "not_live", "budget_exhausted", "throttled")


@dataclass(frozen=True)
class Event:
    topic: str
    payload: dict[str, Any]
    brand_id: uuid.UUID | None


@dataclass
class Expected:
    """What the events say, per campaign."""

    valid: Counter[uuid.UUID] = field(default_factory=Counter)
    repeated: Counter[uuid.UUID] = field(default_factory=Counter)
    refused: Counter[tuple[uuid.UUID, str]] = field(default_factory=Counter)
    tier_count: Counter[tuple[uuid.UUID, str]] = field(default_factory=Counter)
    tier_fen: Counter[tuple[uuid.UUID, str]] = field(default_factory=Counter)
    region_valid: Counter[tuple[uuid.UUID, str]] = field(default_factory=Counter)
    cross: Counter[uuid.UUID] = field(default_factory=Counter)
    payout_count: Counter[tuple[uuid.UUID, str]] = field(default_factory=Counter)
    payout_fen: Counter[tuple[uuid.UUID, str]] = field(default_factory=Counter)
    hour_valid: Counter[tuple[uuid.UUID, str]] = field(default_factory=Counter)
    guessing: int = 0

    def add(self, event: Event, hour: str) -> None:
        p = event.payload
        if event.topic == "alert.guessing":
            self.guessing += 1
            return
        cid = uuid.UUID(p["campaign_id"])
        if event.topic == "scan.claimed":
            self.valid[cid] += 1
            self.tier_count[(cid, p["tier"])] += 1
            self.tier_fen[(cid, p["tier"])] += p["amount_fen"]
            self.region_valid[(cid, p["scan_region"] or p["region"])] += 1
            self.hour_valid[(cid, hour)] += 1
        elif event.topic == "scan.repeated":
            self.repeated[cid] += 1
        elif event.topic == "scan.refused":
            self.refused[(cid, p["reason"])] += 1
        elif event.topic == "alert.cross_region":
            self.cross[cid] += 1
        elif event.topic.startswith("payout."):
            state = event.topic.split(".", 1)[1]
            self.payout_count[(cid, state)] += 1
            self.payout_fen[(cid, state)] += p["amount_fen"]


def random_events(
    rng: random.Random, brand: BrandFixture, campaigns: list[uuid.UUID], n: int
) -> list[Event]:
    """``n`` events of every live topic, mostly claims."""
    events = []
    for _ in range(n):
        cid = rng.choice(campaigns)
        base = {"campaign_id": str(cid), "batch_id": str(uuid.uuid4())}
        kind = rng.choices(
            ["claimed", "repeated", "refused", "cross", "payout", "guess"],
            weights=[50, 15, 10, 5, 15, 2],
        )[0]
        region = rng.choice(REGIONS)
        if kind == "claimed":
            tier, amount = rng.choice(TIERS)
            scan_region = rng.choice([None, *REGIONS])
            payload = {
                **base,
                "region": region,
                "scan_region": scan_region,
                "tier": tier,
                "amount_fen": amount,
                "payout_id": str(uuid.uuid4()) if amount else None,
            }
            events.append(Event("scan.claimed", payload, brand.brand_id))
        elif kind == "repeated":
            payload = {**base, "scans": rng.randint(2, 9), "scan_region": region}
            events.append(Event("scan.repeated", payload, brand.brand_id))
        elif kind == "refused":
            events.append(
                Event("scan.refused", {**base, "reason": rng.choice(REASONS)}, brand.brand_id)
            )
        elif kind == "cross":
            payload = {**base, "batch_region": region, "scan_region": "新疆乌鲁木齐市"}
            events.append(Event("alert.cross_region", payload, brand.brand_id))
        elif kind == "payout":
            state = rng.choice(["created", "succeeded", "failed", "review"])
            payload = {
                "payout_id": str(uuid.uuid4()),
                "campaign_id": str(cid),
                "state": state,
                "amount_fen": rng.choice([188, 888]),
                "mode": "transfer",
                "bill_number": uuid.uuid4().hex[:20],
            }
            events.append(Event(f"payout.{state}", payload, brand.brand_id))
        else:
            events.append(Event("alert.guessing", {"count": 600, "window_seconds": 60}, None))
    return events


async def emit(
    runtime: Runtime,
    events: list[Event],
    *,
    expected: Expected | None = None,
    step: timedelta = timedelta(minutes=1),
) -> None:
    """Write ``events`` to the outbox, one committed transaction each, ``step`` apart."""
    clock = runtime.clock
    assert isinstance(clock, FrozenClock)
    for event in events:
        async with runtime.uow(system=True) as uow:
            uow.emit(
                DomainEvent(
                    event.topic,
                    event.payload.get("campaign_id", "system"),
                    event.payload,
                    brand_id=event.brand_id,
                )
            )
            await uow.commit()
        if expected is not None:
            expected.add(event, clock.now().astimezone(SHANGHAI).strftime("%Y%m%d%H"))
        clock.advance(step)


async def relay(runtime: Runtime) -> int:
    """Relay to the analytics consumers until nothing is left."""
    total = 0
    while moved := await relay_all(runtime.uow, CONSUMERS):
        total += moved
    return total


async def drain_live(runtime: Runtime, *, limit: int = 20) -> int:
    """Relay to the live consumer only, in batches of ``limit``, until nothing is due."""
    total = 0
    while True:
        async with runtime.uow(system=True) as uow:
            moved = await relay_batch(uow, LIVE_CONSUMER, limit=limit)
            await uow.commit()
        if not moved:
            return total
        total += moved
