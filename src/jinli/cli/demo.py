"""``jinli demo``: a live demo on an embedded SQLite file, seeded and served in one process."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from jinli.web.demo import DEMO_BATCH_LABEL, DEMO_BRAND, DEMO_EMAIL

if TYPE_CHECKING:
    from jinli.accounts.domain import Actor
    from jinli.campaigns.ports import PublishPreparation
    from jinli.cli.traffic import Plan
    from jinli.platform.db.uow import UnitOfWork
    from jinli.platform.runtime import Runtime
    from jinli.platform.settings import Settings

__all__ = ["DEMO_BRAND", "DEMO_EMAIL", "app", "run", "seed"]

app = typer.Typer(
    help="The demo: seed and serve everything (no sub-command), or play simulated traffic.",
    invoke_without_command=True,
    add_completion=False,
)


@app.callback()
def demo(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
) -> None:
    """Migrate, seed a demo brand with a live scan-to-win campaign and a printed batch, print
    the login, and serve console, API, simulator, sample page (/demo) and worker."""
    if ctx.invoked_subcommand is None:
        run(host=host, port=port)


@app.command(
    help=(
        "Play simulated consumers against a running `jinli demo` over real HTTP: fresh scans, "
        "re-scans, code guessing (throttled) and scans from the wrong region (串货), each "
        "through WeChat OAuth on the simulator; half the winners confirm their transfer on "
        "the simulator's page. A progress bar, then a summary."
        "\n\n"
        "The codes are read from the demo batch's printer export in the data directory "
        "(JINLI_DATA_DIR, default ./var), the only plaintext of them: run this on the demo's "
        "machine, with its settings. Codes scanned are remembered in "
        "<data dir>/demo/traffic-scanned.txt, so the next run scans new ones. Cross-region "
        "scans bind source addresses 127.0.1-3.x, so they need a demo on this machine."
    )
)
def traffic(
    consumers: Annotated[int, typer.Option(help="Simulated consumers in all.", min=1)] = 1000,
    rate: Annotated[float, typer.Option(help="Consumers started per second.", min=0.1)] = 15.0,
    base_url: Annotated[
        str | None,
        typer.Option(help="The running demo (default: JINLI_PUBLIC_BASE_URL, as the demo uses)."),
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop starting consumers after this many seconds.", min=1)
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Consumers under way at once.", min=1)] = 48,
    seed: Annotated[int | None, typer.Option(help="Seed of the crowd (reproducible).")] = None,
) -> None:
    """Play simulated consumers against a running `jinli demo` over real HTTP."""
    from jinli.cli import traffic as player

    plan = player.Plan(
        consumers=consumers, rate=rate, duration=duration, concurrency=concurrency, seed=seed
    )
    play_traffic(plan, base_url)


SCAN_CAMPAIGN = "瓶盖扫码赢红包 Bottle-cap scan-to-win"
DEMO_REGION = "浙江/杭州"
"""Where the demo batch ships: the region the demo's loopback 127.0.0.x scans resolve to."""
DEMO_DISTRIBUTOR = "杭州经销商"
DEMO_BATCH_SIZE = 5_000
"""Codes in the demo batch: enough for a few runs of ``jinli demo traffic``."""


async def seed(runtime: object, *, batch_size: int = DEMO_BATCH_SIZE) -> tuple[str, str, str]:
    """Create (or refresh) the demo brand: owner login, an API key, and a live, funded
    bottle-cap scan-to-win campaign with a printed and activated batch of ``batch_size`` codes
    (shipped to 杭州 via 杭州经销商) and two payouts to the simulator's demo consumer (a
    transfer to confirm, a red packet to open).

    Returns (e-mail, password, api key). The password is new on every run and printed once.
    A database seeded before the batch existed gets the batch on the next run.
    """
    from jinli.accounts import service as accounts_service
    from jinli.accounts.domain import Role
    from jinli.campaigns import service as campaigns_service
    from jinli.campaigns.domain import Action, ReissuePolicy
    from jinli.campaigns.domain import PayoutMode as CampaignPayoutMode
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
                    name=SCAN_CAMPAIGN,
                    description="扫瓶盖内码，赢现金红包。每个码限领一次。",
                    budget_cap_fen=10_000_000,
                    initial_funding_fen=5_000_000,
                    starts_at=now - timedelta(minutes=1),
                    ends_at=now + timedelta(days=30),
                    reward_rule={
                        "kind": "tiers",
                        # 1 % ¥8.88, 10 % ¥1.88, the rest 谢谢参与 (the odds left over).
                        "tiers": [
                            {"amount_fen": 888, "probability_ppm": 10_000, "label": "一等奖 ¥8.88"},
                            {
                                "amount_fen": 188,
                                "probability_ppm": 100_000,
                                "label": "二等奖 ¥1.88",
                            },
                        ],
                        # The launch market gets better odds (the batch region's table).
                        "regions": {
                            DEMO_REGION: [
                                {
                                    "amount_fen": 888,
                                    "probability_ppm": 20_000,
                                    "label": "杭州一等奖 ¥8.88",
                                },
                                {
                                    "amount_fen": 188,
                                    "probability_ppm": 150_000,
                                    "label": "杭州二等奖 ¥1.88",
                                },
                            ]
                        },
                        "message": "感谢支持正品！扫码验真，再来一瓶。",
                    },
                    # An unopened red packet or an unconfirmed transfer is paid again,
                    # once, as a transfer, without waiting for finance.
                    payout_mode=CampaignPayoutMode.transfer,
                    reissue_policy=ReissuePolicy.as_transfer,
                    max_auto_reissues=1,
                ),
            )
            # Printed and shipped before it goes live, so the publish check sees the codes.
            await _print_and_ship(runtime, uow, actor, campaign.id, batch_size)
            await campaigns_service.transition(
                uow, actor, campaign.id, Action.publish, publish_preparation=_prepare(runtime)
            )
            # The demo worker sends these; the consumer side is /wechat-sim/pages/. The second
            # prize shows the other kind (a cash red packet) under the same reissue policy.
            for mode, amount, cause in (
                (None, 888, "demo:first-prize"),
                ("red_packet", 188, "demo:second-prize"),
            ):
                terms = campaigns_service.payout_terms(campaign, override_mode=mode)
                await payouts_service.create_payout(
                    uow,
                    campaign_id=campaign.id,
                    amount_fen=Fen(amount),
                    openid=SimulatorConfig().demo_openid,
                    mode=PayoutMode(terms.mode),
                    cause=cause,
                    remark="瓶盖扫码红包",
                    activity="瓶盖扫码赢红包",
                    reissue_as=PayoutMode(terms.reissue_as) if terms.reissue_as else None,
                    auto_reissues=terms.auto_reissues,
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
        else:
            await _ship_missing_batch(runtime, uow, actor, batch_size)
        await uow.commit()
    return DEMO_EMAIL, password, api_key


def _prepare(runtime: Runtime) -> PublishPreparation:
    """The publish hook the app layer wires (budget check + pool split); the scans use case
    itself where this process has none wired yet."""
    from jinli.campaigns import ports as campaigns_ports
    from jinli.scans import service as scans_service

    if campaigns_ports.PUBLISH_PREPARATION in runtime.extras:
        return campaigns_ports.publish_preparation(runtime.extras)
    return scans_service.prepare_publish


async def _print_and_ship(
    runtime: Runtime, uow: UnitOfWork, actor: Actor, campaign_id: uuid.UUID, size: int
) -> None:
    """Generate the demo batch (its export zip is the codes' only plaintext) and activate it
    for 杭州 and its distributor."""
    from jinli.codes import service as codes_service
    from jinli.codes.schemas import BatchActivate, BatchCreate

    batch = await codes_service.generate(
        uow,
        actor,
        codes_service.env_for(runtime),
        campaign_id,
        BatchCreate(count=size, label=DEMO_BATCH_LABEL),
        max_count=size,
    )
    await codes_service.activate(
        uow, actor, batch.id, BatchActivate(region=DEMO_REGION, distributor=DEMO_DISTRIBUTOR)
    )


async def _ship_missing_batch(runtime: Runtime, uow: UnitOfWork, actor: Actor, size: int) -> None:
    """A demo database from before the batch existed: print one for its live scan campaign."""
    from jinli.campaigns import service as campaigns_service
    from jinli.campaigns.domain import CampaignStatus
    from jinli.codes import service as codes_service
    from jinli.kernel.pagination import PageRequest

    batches = await codes_service.list_(uow, actor, PageRequest(limit=100))
    if any(b.label == DEMO_BATCH_LABEL for b in batches.items):
        return
    campaigns = await campaigns_service.list_(uow, actor, PageRequest(limit=100))
    for campaign in campaigns.items:
        if campaign.name == SCAN_CAMPAIGN and campaign.status == CampaignStatus.live:
            await _print_and_ship(runtime, uow, actor, campaign.id, size)
            return


def demo_settings(host: str, port: int) -> Settings:
    """The settings the demo serves with: the configured ones, with the public base URL made
    to match ``--host``/``--port`` unless set explicitly (OAuth callbacks, scan links and the
    simulator's own URLs derive from it)."""
    from jinli.app.bootstrap import load_settings

    settings = load_settings()
    if "public_base_url" in settings.model_fields_set:
        return settings
    reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - compared, not bound
    return settings.model_copy(update={"public_base_url": f"http://{reachable}:{port}"})


def run(*, host: str, port: int) -> None:
    import uvicorn

    from jinli.app.bootstrap import bootstrap
    from jinli.app.web import create_app
    from jinli.migrations.runner import upgrade
    from jinli.web.demo import router as demo_router
    from jinli.worker.main import run as run_worker

    settings = demo_settings(host, port)
    runtime = bootstrap(settings)
    upgrade(runtime.settings.resolved_database_url())

    async def seed_and_close() -> tuple[str, str, str]:
        try:
            return await seed(runtime)
        finally:
            await runtime.aclose()

    typer.echo("seeding the demo (first run: printing a batch of codes) …")
    email, password, api_key = asyncio.run(seed_and_close())
    base = settings.public_base_url.rstrip("/")
    typer.secho("\n🎏 Jinli demo is starting", bold=True)
    typer.echo(f"  console : {base}/console")
    typer.echo(f"  login   : {email}")
    typer.echo(f"  password: {password}")
    typer.echo(f"  API     : {base}/api/v1  (docs: {base}/api/v1/docs)")
    typer.echo(f"  API key : {api_key}")
    typer.echo(f"  samples : {base}/demo  (scan links and QR codes of the printed batch)")
    typer.echo(f"  WeChat  : {base}/wechat-sim/pages/  (the demo consumer confirms payouts here)")
    typer.echo("  traffic : .venv/bin/jinli demo traffic  (in another shell: simulated consumers)")
    typer.echo(f"  database: {runtime.settings.resolved_database_url()}\n")

    async def main() -> None:
        # A fresh runtime inside this event loop: engines and pools belong to one loop.
        live = bootstrap(settings)
        stop = asyncio.Event()
        from jinli.app import wechat

        worker_task = asyncio.create_task(
            run_worker(live, stop=stop, gateway=wechat.wechatpay(live).gateway, reconcile=True)
        )
        app = create_app(live)
        app.include_router(demo_router)  # /demo: only the demo serves plaintext sample codes
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        try:
            await server.serve()
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await worker_task
            await wechat.close(live)
            await live.aclose()

    asyncio.run(main())


def play_traffic(plan: Plan, base_url: str | None) -> None:
    """``jinli demo traffic``: find the demo batch's codes, check the demo answers, play the
    crowd with a progress bar, print the summary."""
    import random
    from urllib.parse import urlsplit

    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from jinli.app.bootstrap import bootstrap
    from jinli.cli import traffic as player
    from jinli.kernel.errors import NotFound, Unavailable
    from jinli.web.demo import SAMPLE_COUNT, DemoBatch, locate, read_codes

    runtime = bootstrap()

    async def find() -> DemoBatch | None:
        try:
            return await locate(runtime)
        finally:
            await runtime.aclose()

    batch = asyncio.run(find())
    if batch is None:
        raise NotFound(
            f"no demo batch with its export under {runtime.settings.data_dir}: start `jinli demo` "
            "first (with the same JINLI_DATA_DIR)"
        )
    base = (base_url or runtime.settings.public_base_url).rstrip("/")
    try:
        httpx.get(f"{base}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        raise Unavailable(
            f"the demo does not answer at {base} ({exc}); is `jinli demo` running?"
        ) from None
    host = urlsplit(base).hostname or ""
    local = host == "localhost" or host.startswith("127.")
    used_file = Path(runtime.settings.data_dir) / "demo" / "traffic-scanned.txt"
    used = used_file.read_text(encoding="ascii").split() if used_file.is_file() else []
    codes = [code for serial, code in read_codes(batch.export) if serial > SAMPLE_COUNT]
    supply = player.CodeSupply(
        codes,
        used=used,
        used_file=used_file,
        rng=random.Random(plan.seed),
    )
    plan = dataclasses.replace(plan, bind=local)
    console = Console()
    console.print(
        f"[bold]{plan.consumers} consumers[/] at {plan.rate:g}/s against {base} · "
        f"{len(supply.fresh)} fresh codes, {len(supply.used)} scanned before"
        + ("" if local else " · [yellow]not local: no cross-region scans[/]")
    )
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    started = time.monotonic()
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("consumers", total=plan.consumers)

        def advance(t: player.Tally) -> None:
            bar.update(
                task,
                completed=t.consumers,
                description=f"wins {t.wins} · ¥{t.fen / 100:,.2f} · blocked {t.guesses_blocked}"
                f" · 串货 {t.cross_region} · 5xx {t.server_errors}",
            )

        tally = asyncio.run(player.play(base, plan, supply, progress=advance))
    table = Table(title="jinli demo traffic", show_header=False)
    for label, value in player.summary_rows(tally, time.monotonic() - started):
        table.add_row(label, value)
    console.print(table)
    for failure in tally.failures[:5]:
        console.print(f"[red]  {failure}[/]")
    console.print(f"live page: {base}/console/campaigns/{batch.campaign_id}/live")
