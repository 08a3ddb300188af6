"""``jinli demo traffic`` against the demo app served by uvicorn on a free port (with the
simulator mounted and the worker running): real HTTP, real sockets bound to loopback
addresses in other regions, the real OAuth round trip. A small crowd shows every outcome, the
server never answers 5xx, and the live page's numbers agree with what the crowd saw."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from jinli.accounts import service as accounts_service
from jinli.analytics import service as analytics_service
from jinli.app.bootstrap import bootstrap
from jinli.app.web import create_app
from jinli.campaigns import service as campaigns_service
from jinli.cli.demo import DEMO_REGION, seed
from jinli.cli.traffic import CodeSupply, Kind, Plan, Tally, play
from jinli.codes import service as codes_service
from jinli.platform.runtime import Runtime
from jinli.web.demo import SAMPLE_COUNT, DemoBatch, locate, read_codes
from jinli.web.demo import router as demo_router
from tests.conftest import make_settings

DEMO_PAYOUTS_FEN = 888 + 188
"""The seed's two payouts to the simulator's demo consumer, on the same campaign."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Demo:
    runtime: Runtime
    base_url: str
    batch: DemoBatch


@pytest.fixture
async def demo(db_url: str, tmp_path: Path) -> AsyncIterator[Demo]:
    """What `jinli demo` serves: the seeded app + /demo + the simulator on a free port, and
    the worker (which sends the transfers the crowd confirms)."""
    from jinli.app import wechat
    from jinli.worker.main import run as run_worker

    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    runtime = bootstrap(make_settings(db_url, tmp_path, public_base_url=base_url))
    await seed(runtime, batch_size=150)
    batch = await locate(runtime)
    assert batch is not None
    app = create_app(runtime)
    app.include_router(demo_router)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    for _ in range(200):  # up to ~10 s for the socket; a fail-safe, not an assertion on time
        if server.started or serving.done():
            break
        await asyncio.sleep(0.05)
    assert server.started, "uvicorn did not start"
    stop = asyncio.Event()
    working = asyncio.create_task(
        run_worker(runtime, interval=0.2, stop=stop, gateway=wechat.wechatpay(runtime).gateway)
    )
    try:
        yield Demo(runtime, base_url, batch)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await working
        server.should_exit = True
        await serving
        await wechat.close(runtime)
        await runtime.aclose()


async def _drain_outbox(runtime: Runtime) -> None:
    """Relay every event the crowd produced into the live counters (no payout calls)."""
    from jinli.worker.main import tick

    for _ in range(100):
        if await tick(runtime) == 0:
            return
    pytest.fail("the outbox did not drain")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_small_crowd_shows_every_outcome_and_the_live_page_agrees(demo: Demo) -> None:
    """30 consumers: wins recorded once each, re-scans answered, guessers blocked, 串货 from
    other loopback sub-nets, some transfers confirmed; never a 5xx."""
    import random

    codes = [c for serial, c in read_codes(demo.batch.export) if serial > SAMPLE_COUNT]
    supply = CodeSupply(codes, rng=random.Random(3))
    plan = Plan(consumers=30, rate=50, concurrency=8, seed=3, confirm_wait=20)

    tally: Tally = await play(demo.base_url, plan, supply)

    assert (tally.server_errors, tally.failures) == (0, [])
    assert tally.consumers == 30
    assert set(tally.kinds) == set(Kind)
    assert tally.wins + tally.no_prize >= 1
    assert tally.rescans_answered >= 1
    assert tally.guesses_blocked >= 1
    assert tally.guesses_rejected >= 1
    assert tally.cross_region >= 1
    assert not tally.refused
    samples = {c for serial, c in read_codes(demo.batch.export) if serial <= SAMPLE_COUNT}
    assert not samples & set(supply.used)  # the sample page's codes stay fresh for a person

    await _drain_outbox(demo.runtime)
    batch = demo.batch
    actor = accounts_service.system_actor(batch.brand_id, "test")
    async with demo.runtime.uow(brand_id=batch.brand_id) as uow:
        stats = await codes_service.stats(uow, actor, batch.batch_id)
        budget = await campaigns_service.budget(uow, actor, batch.campaign_id)
        live = await analytics_service.live_view(
            uow, actor, batch.campaign_id, demo.runtime.clock.now()
        )
    # Every code the crowd saw drawn is claimed, once; the money on the prize pages is what
    # the ledger holds for them (paid or reserved).
    assert stats.claimed == tally.wins + tally.no_prize
    assert budget.paid + budget.reserved == tally.fen + DEMO_PAYOUTS_FEN
    # The live page: the same claims and re-scans, the winners, and the 串货 alerts.
    assert live.scans.valid == tally.wins + tally.no_prize
    assert live.scans.repeated == tally.rescans_answered
    assert sum(row.count for row in live.winners if row.amount_fen > 0) == tally.wins
    assert len(live.cross_region_alerts) == tally.cross_region
    assert {a.batch_region for a in live.cross_region_alerts} == {DEMO_REGION}
    assert DEMO_REGION not in {a.scan_region for a in live.cross_region_alerts}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_sample_page_lists_twenty_scan_links_with_qr_codes(demo: Demo) -> None:
    async with httpx.AsyncClient(base_url=demo.base_url) as http:
        page = await http.get("/demo")
        first = await http.get(f"/s/{next(read_codes(demo.batch.export))[1]}")
    assert page.status_code == 200
    assert page.text.count('data-testid="sample-link"') == SAMPLE_COUNT
    assert page.text.count("<svg") == SAMPLE_COUNT
    assert f"/console/campaigns/{demo.batch.campaign_id}/live" in page.text
    assert "/wechat-sim/pages/" in page.text
    assert first.status_code == 302  # a sample link is a real scan link: off to WeChat OAuth


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_sample_page_is_not_served_by_jinli_serve(runtime: Runtime) -> None:
    """``jinli serve`` builds the app with ``create_app`` alone: no plaintext codes there."""
    await seed(runtime, batch_size=30)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/demo")
    assert response.status_code == 404
