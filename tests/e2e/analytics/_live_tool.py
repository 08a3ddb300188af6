"""What the live-page journey needs besides the browser, run as its own process against the
e2e server's database (``python -m tests.e2e.analytics._live_tool …``, JINLI_* set).

- ``setup --owner-email E``: a funded live bottle-cap campaign with two real payouts (their
  budget is reserved in the ledger) and a morning of synthetic scan events spread over the
  last hours; relays them; prints ``{"campaign_id": …, "valid": n}``.
- ``more --owner-email E --campaign-id C``: more claims and a guessing storm, relayed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import uuid
from datetime import timedelta
from typing import Any

from jinli.accounts import service as accounts_service
from jinli.analytics.tasks import CONSUMERS
from jinli.app.bootstrap import bootstrap
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.campaigns.schemas import CampaignCreate
from jinli.kernel.events import DomainEvent
from jinli.kernel.money import Fen
from jinli.payouts import service as payouts_service
from jinli.payouts.domain import PayoutMode
from jinli.platform.db.relay import relay_all
from jinli.platform.runtime import Runtime

CAMPAIGN_NAME = "锦鲤瓶盖扫码赢红包"
TIERS = (("一等奖 ¥8.88", 888, 1), ("二等奖 ¥1.88", 188, 10), ("谢谢参与", 0, 40))
REGIONS = ("浙江省杭州市", "江苏省南京市", "上海市", "广东省广州市")


async def _relay(runtime: Runtime) -> None:
    while await relay_all(runtime.uow, CONSUMERS):
        pass


def _claim(rng: random.Random, cid: uuid.UUID, at: str) -> dict[str, Any]:
    label, amount, _ = rng.choices(TIERS, weights=[w for _, _, w in TIERS])[0]
    region = rng.choice(REGIONS)
    return {
        "campaign_id": str(cid),
        "batch_id": str(uuid.uuid4()),
        "region": region,
        "scan_region": region if rng.random() < 0.8 else None,
        "tier": label,
        "amount_fen": amount,
        "payout_id": str(uuid.uuid4()) if amount else None,
        "occurred_at": at,
    }


async def setup(owner_email: str) -> dict[str, Any]:
    runtime = bootstrap()
    rng = random.Random(2026)
    try:
        brand_id = await _brand_of(runtime, owner_email)
        actor = accounts_service.system_actor(brand_id, "e2e")
        now = runtime.clock.now()
        valid = 0
        async with runtime.uow(brand_id=brand_id) as uow:
            campaign = await campaigns_service.create(
                uow,
                actor,
                CampaignCreate(
                    name=CAMPAIGN_NAME,
                    description="扫描瓶盖内的二维码，赢取现金红包",
                    budget_cap_fen=50_000,
                    initial_funding_fen=20_000,
                    starts_at=now - timedelta(hours=6),
                    ends_at=now + timedelta(hours=18),
                    reward_rule={"kind": "none"},
                ),
            )
            await campaigns_service.transition(uow, actor, campaign.id, Action.publish)
            for amount in (888, 188):
                await payouts_service.create_payout(
                    uow,
                    campaign_id=campaign.id,
                    amount_fen=Fen(amount),
                    openid=f"o-live-e2e-{uuid.uuid4().hex[:8]}",
                    mode=PayoutMode.transfer,
                    cause=f"e2e-live:{uuid.uuid4()}",
                    remark="锦鲤扫码红包",
                    activity=CAMPAIGN_NAME,
                )
            for minutes in range(6 * 60, 0, -9):  # a scan every 9 minutes for six hours
                at = (now - timedelta(minutes=minutes)).isoformat()
                topic = rng.choices(["claimed", "repeated", "refused"], weights=[8, 2, 1])[0]
                if topic == "claimed":
                    payload = _claim(rng, campaign.id, at)
                    valid += 1
                elif topic == "repeated":
                    payload = {
                        "campaign_id": str(campaign.id),
                        "batch_id": str(uuid.uuid4()),
                        "scans": rng.randint(2, 5),
                        "scan_region": rng.choice(REGIONS),
                        "occurred_at": at,
                    }
                else:
                    payload = {
                        "campaign_id": str(campaign.id),
                        "batch_id": str(uuid.uuid4()),
                        "reason": rng.choice(["inactive", "throttled"]),
                        "occurred_at": at,
                    }
                uow.emit(DomainEvent(f"scan.{topic}", str(campaign.id), payload, brand_id=brand_id))
            uow.emit(
                DomainEvent(
                    "alert.cross_region",
                    str(campaign.id),
                    {
                        "campaign_id": str(campaign.id),
                        "batch_id": str(uuid.uuid4()),
                        "batch_region": "浙江省杭州市",
                        "scan_region": "广东省广州市",
                    },
                    brand_id=brand_id,
                )
            )
            await uow.commit()
        await _relay(runtime)
        return {"campaign_id": str(campaign.id), "valid": valid}
    finally:
        await runtime.aclose()


async def _brand_of(runtime: Runtime, owner_email: str) -> uuid.UUID:
    async with runtime.uow(system=True) as uow:
        owner = await accounts_service.operator_by_email(uow, owner_email)
        assert owner is not None, f"no operator {owner_email}"
        return owner.brand_id


async def more(owner_email: str, campaign_id: str, claims: int) -> dict[str, Any]:
    runtime = bootstrap()
    rng = random.Random(7)
    cid = uuid.UUID(campaign_id)
    try:
        brand_id = await _brand_of(runtime, owner_email)
        now = runtime.clock.now().isoformat()
        async with runtime.uow(brand_id=brand_id) as uow:
            for _ in range(claims):
                payload = _claim(rng, cid, now)
                uow.emit(DomainEvent("scan.claimed", campaign_id, payload, brand_id=brand_id))
            uow.emit(DomainEvent("alert.guessing", "system", {"count": 1200, "window_seconds": 60}))
            await uow.commit()
        await _relay(runtime)
        return {"claims": claims}
    finally:
        await runtime.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("setup")
    made.add_argument("--owner-email", required=True)
    extra = commands.add_parser("more")
    extra.add_argument("--owner-email", required=True)
    extra.add_argument("--campaign-id", required=True)
    extra.add_argument("--claims", type=int, default=5)
    args = parser.parse_args()
    if args.command == "setup":
        print(json.dumps(asyncio.run(setup(args.owner_email))))  # noqa: T201
    else:
        print(json.dumps(asyncio.run(more(args.owner_email, args.campaign_id, args.claims))))  # noqa: T201


if __name__ == "__main__":
    main()
