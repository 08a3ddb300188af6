"""``jinli demo``: a live demo on an embedded SQLite file, seeded and served in one process."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import typer

DEMO_EMAIL = "demo@jinli.local"
DEMO_BRAND = "锦鲤演示品牌 Demo Brand"


async def seed(runtime: object) -> tuple[str, str, str]:
    """Create (or refresh) the demo brand: owner login, a live funded campaign with two payouts
    to the simulator's demo consumer (a transfer to confirm, a red packet to open), an API key.

    Returns (e-mail, password, api key). The password is new on every run and printed once.
    """
    from jinli.accounts import service as accounts_service
    from jinli.accounts.domain import Role
    from jinli.campaigns import service as campaigns_service
    from jinli.campaigns.domain import Action
    from jinli.campaigns.schemas import CampaignCreate
    from jinli.integrations.simulator.config import SimulatorConfig
    from jinli.kernel.money import Fen
    from jinli.payouts import service as payouts_service
    from jinli.payouts.domain import PayoutMode
    from jinli.platform.runtime import Runtime
    from jinli.platform.security import new_token

    if not isinstance(runtime, Runtime):
        raise TypeError("seed needs a Runtime")
    password = "jinli-" + new_token(9)
    async with runtime.uow(system=True) as uow:
        existing = await accounts_service.operator_by_email(uow, DEMO_EMAIL)
        if existing is None:
            brand, _owner = await accounts_service.create_brand(
                uow,
                name=DEMO_BRAND,
                owner_email=DEMO_EMAIL,
                owner_name="演示管理员",
                owner_password=password,
            )
            brand_id = brand.id
            fresh = True
        else:
            brand_id = existing.brand_id
            uow.scope_to(brand_id)
            actor = accounts_service.system_actor(brand_id, "demo")
            accounts_service.set_password(uow, actor, existing, password)
            fresh = False
        actor = accounts_service.system_actor(brand_id, "demo")
        _, api_key = await accounts_service.create_api_key(uow, actor, name="demo", role=Role.owner)
        if fresh:
            now = runtime.clock.now()
            campaign = await campaigns_service.create(
                uow,
                actor,
                CampaignCreate(
                    name="瓶盖扫码赢红包 Bottle-cap scan-to-win",
                    description="扫瓶盖内码，赢现金红包。每个码限领一次。",
                    budget_cap_fen=10_000_000,
                    initial_funding_fen=5_000_000,
                    starts_at=now - timedelta(minutes=1),
                    ends_at=now + timedelta(days=30),
                    reward_rule={
                        "kind": "tiers",
                        "tiers": [
                            {"amount_fen": 888, "probability_ppm": 10_000, "label": "一等奖 ¥8.88"},
                            {
                                "amount_fen": 188,
                                "probability_ppm": 100_000,
                                "label": "二等奖 ¥1.88",
                            },
                        ],
                    },
                ),
            )
            await campaigns_service.transition(uow, actor, campaign.id, Action.publish)
            # The demo worker sends these; the consumer side is /wechat-sim/pages/.
            for mode, amount, cause in (
                (PayoutMode.transfer, 888, "demo:first-prize"),
                (PayoutMode.red_packet, 188, "demo:second-prize"),
            ):
                await payouts_service.create_payout(
                    uow,
                    campaign_id=campaign.id,
                    amount_fen=Fen(amount),
                    openid=SimulatorConfig().demo_openid,
                    mode=mode,
                    cause=cause,
                    remark="瓶盖扫码红包",
                    activity="瓶盖扫码赢红包",
                )
            await campaigns_service.create(
                uow,
                actor,
                CampaignCreate(
                    name="双十二会员红包 Double-12 member packets",
                    description="老会员专享红包。",
                    budget_cap_fen=2_000_000,
                    starts_at=now + timedelta(days=19),
                    ends_at=now + timedelta(days=21),
                    reward_rule={"kind": "fixed", "amount_fen": 500, "max_winners": 2000},
                ),
            )
        await uow.commit()
    return DEMO_EMAIL, password, api_key


def run(*, host: str, port: int) -> None:
    import uvicorn

    from jinli.app.bootstrap import bootstrap
    from jinli.app.web import create_app
    from jinli.migrations.runner import upgrade
    from jinli.worker.main import run as run_worker

    runtime = bootstrap()
    upgrade(runtime.settings.resolved_database_url())

    async def seed_and_close() -> tuple[str, str, str]:
        try:
            return await seed(runtime)
        finally:
            await runtime.aclose()

    email, password, api_key = asyncio.run(seed_and_close())
    base = f"http://{host}:{port}"
    typer.secho("\n🎏 Jinli demo is starting", bold=True)
    typer.echo(f"  console : {base}/console")
    typer.echo(f"  login   : {email}")
    typer.echo(f"  password: {password}")
    typer.echo(f"  API     : {base}/api/v1  (docs: {base}/api/v1/docs)")
    typer.echo(f"  API key : {api_key}")
    typer.echo(f"  WeChat  : {base}/wechat-sim/pages/  (the demo consumer confirms payouts here)")
    typer.echo(f"  database: {runtime.settings.resolved_database_url()}\n")

    async def main() -> None:
        # A fresh runtime inside this event loop: engines and pools belong to one loop.
        live = bootstrap()
        stop = asyncio.Event()
        from jinli.app import wechat

        worker_task = asyncio.create_task(
            run_worker(live, stop=stop, gateway=wechat.wechatpay(live).gateway)
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(live), host=host, port=port, log_level="warning")
        )
        try:
            await server.serve()
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await worker_task
            await wechat.close(live)
            await live.aclose()

    asyncio.run(main())
