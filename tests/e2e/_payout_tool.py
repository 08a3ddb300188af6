"""What the payout journey needs besides the browser, run as its own process against the e2e
server's database and data directory (``python -m tests.e2e._payout_tool …``, JINLI_* set).

- ``setup``: a finance operator, a funded live campaign, and two payouts to the simulator's
  demo consumer (a merchant transfer and a v2 cash red packet); prints them as JSON.
- ``reconcile --ahead-minutes N``: one reconciler pass as if N minutes had passed (the
  reconciler queries an unsettled payout only some minutes after sending it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime, timedelta

from jinli.accounts import service as accounts_service
from jinli.accounts.domain import Role
from jinli.app import wechat
from jinli.app.bootstrap import bootstrap
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.campaigns.schemas import CampaignCreate
from jinli.integrations.simulator.config import SimulatorConfig
from jinli.kernel.clock import SystemClock
from jinli.kernel.money import Fen
from jinli.payouts import service as payouts_service
from jinli.payouts import tasks
from jinli.payouts.domain import PayoutMode

FINANCE_EMAIL = "finance@e2e.jinli.test"
FINANCE_NAME = "李财务"


class AheadClock:
    """The system clock, ``ahead`` in the future."""

    def __init__(self, ahead: timedelta) -> None:
        self.ahead = ahead

    def now(self) -> datetime:
        return SystemClock().now() + self.ahead


async def setup(owner_email: str, password: str) -> dict[str, str]:
    runtime = bootstrap()
    try:
        async with runtime.uow(system=True) as uow:
            owner = await accounts_service.operator_by_email(uow, owner_email)
            assert owner is not None, f"no operator {owner_email}"
            brand_id = owner.brand_id
        actor = accounts_service.system_actor(brand_id, "e2e")
        now = runtime.clock.now()
        async with runtime.uow(brand_id=brand_id) as uow:
            await accounts_service.create_operator(
                uow,
                actor,
                email=FINANCE_EMAIL,
                name=FINANCE_NAME,
                role=Role.finance,
                password=password,
            )
            campaign = await campaigns_service.create(
                uow,
                actor,
                CampaignCreate(
                    name="锦鲤到账测试",
                    description="扫码领红包",
                    budget_cap_fen=100_000,
                    initial_funding_fen=10_000,
                    starts_at=now - timedelta(minutes=5),
                    ends_at=now + timedelta(days=7),
                    reward_rule={"kind": "none"},
                ),
            )
            await campaigns_service.transition(uow, actor, campaign.id, Action.publish)
            openid = SimulatorConfig().demo_openid
            made = {}
            for name, mode, amount in (
                ("transfer", PayoutMode.transfer, 188),
                ("redpack", PayoutMode.red_packet, 300),
            ):
                order = await payouts_service.create_payout(
                    uow,
                    campaign_id=campaign.id,
                    amount_fen=Fen(amount),
                    openid=openid,
                    mode=mode,
                    cause=f"e2e:{name}",
                    remark="锦鲤扫码红包",
                    activity="锦鲤到账测试",
                )
                made[f"{name}_id"] = str(order.id)
                made[f"{name}_number"] = order.bill_number
            await uow.commit()
        return {**made, "campaign_id": str(campaign.id), "openid": openid}
    finally:
        await runtime.aclose()


async def reconcile(ahead_minutes: float) -> int:
    runtime = bootstrap(clock=AheadClock(timedelta(minutes=ahead_minutes)))
    try:
        return await tasks.reconcile_once(runtime, wechat.wechatpay(runtime).gateway)
    finally:
        await wechat.close(runtime)
        await runtime.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("setup")
    made.add_argument("--owner-email", required=True)
    made.add_argument("--password", required=True)
    again = commands.add_parser("reconcile")
    again.add_argument("--ahead-minutes", type=float, default=10.0)
    args = parser.parse_args()
    if args.command == "setup":
        print(json.dumps(asyncio.run(setup(args.owner_email, args.password))))  # noqa: T201
    else:
        print(json.dumps({"queried": asyncio.run(reconcile(args.ahead_minutes))}))  # noqa: T201


if __name__ == "__main__":
    main()
