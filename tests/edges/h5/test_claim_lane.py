"""The claim lane (``web.h5.lane`` + ``scans.lane``): on the hot path the plain tap is answered
before the framework, and every other tap gets exactly the full view's answer."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from jinli.app.bootstrap import wire_hot_store
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.platform.runtime import Runtime
from jinli.scans import domain as scans_domain
from jinli.scans import lane as scans_lane
from jinli.scans import service
from jinli.web.h5 import views
from tests.edges.h5._h5 import CSRF, claim, phone, sign_in, statements, wire
from tests.integration.scans._world import SURE_WIN, World, make_world
from tests.unit.scans.hot_fake import MemoryHotStore

POOL = {"kind": "lucky_split", "total_fen": 1_000, "shares": 10, "min_fen": 1}


@pytest.fixture
def full_claims(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The codes the full view's claim ran for (the lane answered all the others)."""
    seen: list[str] = []
    original = service.claim

    async def spy(uow: Any, env: Any, text: str, client: Any, **kw: Any) -> Any:
        seen.append(text)
        return await original(uow, env, text, client, **kw)

    monkeypatch.setattr(views.scans_service, "claim", spy)
    return seen


async def _hot_world(runtime: Runtime, **kw: Any) -> tuple[World, MemoryHotStore]:
    store = MemoryHotStore()
    wire_hot_store(runtime, store)
    return await make_world(runtime, **kw), store


async def _tap(http: httpx.AsyncClient, code: str) -> httpx.Response:
    return await claim(http, code, await http.get(f"/s/{code}"))


async def _warm(app: Any, runtime: Runtime, code: str, full_claims: list[str]) -> None:
    """A first tap: the store's allowance is empty until a grab comes up short and tops it
    up (the publish's tranche); the lane does that itself, as the full claim would."""
    async with phone(app) as http:
        sign_in(http, runtime, "o_lane_warm01")
        assert (await _tap(http, code)).status_code == 303
    assert full_claims == []


async def test_the_plain_tap_is_answered_by_the_lane(
    runtime: Runtime, full_claims: list[str]
) -> None:
    world, store = await _hot_world(runtime, rule=SURE_WIN, funding_fen=10_000)
    app = wire(runtime)
    await _warm(app, runtime, world.codes[-1], full_claims)
    async with phone(app) as http:
        sign_in(http, runtime, "o_lane_plain1")
        tapped = await _tap(http, world.codes[0])
        recording = await http.get(tapped.headers["location"])
    assert tapped.status_code == 303
    assert full_claims == []  # the framework's view never ran
    location = urlsplit(tapped.headers["location"])
    assert location.path.startswith("/h5/prize/")
    assert "w" in parse_qs(location.query)
    assert tapped.headers["cache-control"] == "no-store"
    assert tapped.headers["x-content-type-options"] == "nosniff"  # the app's security headers
    assert "正在入账" in recording.text
    assert "¥1.88" in recording.text
    assert await service.relay_grabs(runtime, store, limit=10, stale_seconds=30) == 2


async def test_every_other_tap_gets_the_full_views_answer(
    runtime: Runtime, full_claims: list[str]
) -> None:
    world, _ = await _hot_world(runtime, rule=SURE_WIN, funding_fen=10_000)
    app = wire(runtime)
    codes = world.codes
    await _warm(app, runtime, codes[-1], full_claims)
    async with phone(app) as http:
        sign_in(http, runtime, "o_lane_other1")
        await _tap(http, codes[0])
        again = await _tap(http, codes[0])  # taken in the store: the anti-counterfeit answer
        page = await http.get(f"/s/{codes[1]}")
        token = CSRF.search(page.text)
        assert token is not None
        bad_token = await http.post(f"/s/{codes[1]}", data={"csrf": token.group(1)[:-2] + "xx"})
        no_form = await http.post(f"/s/{codes[1]}", content=b"{}")
        other = "1" if codes[1].endswith("0") else "0"  # a different last character
        forged = await http.post(f"/s/{codes[1][:-1]}{other}", data={"csrf": token.group(1)})
    async with phone(app) as stranger:
        stranger.cookies.set("jinli_dev", "A" * 22)
        no_session = await stranger.post(f"/s/{codes[1]}", data={"csrf": token.group(1)})
    async with phone(app, ip="203.0.113.7") as far:  # 深圳: a 串货 alert to write
        sign_in(far, runtime, "o_lane_far001")
        far_tap = await _tap(far, codes[2])
    assert again.status_code == 200
    assert "扫描" in again.text
    assert [bad_token.status_code, no_form.status_code] == [403, 403]
    assert forged.status_code == 404
    assert "未查到此码" in forged.text
    assert no_session.status_code == 303
    assert no_session.headers["location"] == f"/s/{codes[1]}"
    assert far_tap.status_code == 303
    # Only the plain first tap skipped the view; the re-scan, the refusals and the far scan
    # went through it (the bad token, the odd body, the forged code and the stranger are
    # refused by the view before its claim).
    assert full_claims == [codes[0], codes[2]]


async def test_each_tap_counts_once_against_the_daily_claims(
    runtime: Runtime, full_claims: list[str]
) -> None:
    world, _ = await _hot_world(runtime, rule=SURE_WIN, funding_fen=10_000)
    env = service.env_for(runtime)
    runtime.extras[service.ENV_KEY] = dataclasses.replace(env, claims_per_day=3)
    app = wire(runtime)
    codes = world.codes
    await _warm(app, runtime, codes[-1], full_claims)
    async with phone(app) as other:
        sign_in(other, runtime, "o_lane_first1")
        await _tap(other, codes[2])
    async with phone(app) as http:
        sign_in(http, runtime, "o_lane_daily1")
        won = [await _tap(http, codes[0]), await _tap(http, codes[1])]
        taken = await _tap(http, codes[2])  # the lane counts it, the view must not again
        fourth = await _tap(http, codes[3])
    counter = await runtime.counters.peek(scans_domain.claim_key("o_lane_daily1"))
    assert [r.status_code for r in won] == [303, 303]
    assert taken.status_code == 200
    assert "扫描" in taken.text
    assert fourth.status_code == 429
    assert "今日领取已达上限" in fourth.text
    assert counter == 4  # one per tap
    assert full_claims == [codes[2], codes[3]]


async def test_codes_scanned_together_are_looked_up_together(
    runtime: Runtime, full_claims: list[str]
) -> None:
    world, store = await _hot_world(runtime, rule=SURE_WIN, funding_fen=10_000, codes=12)
    app = wire(runtime)
    await _warm(app, runtime, world.codes[0], full_claims)
    phones = []
    for i, code in enumerate(world.codes[1:]):
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=("127.0.0.1", 41000 + i)),
            base_url="http://testserver",
        )
        sign_in(http, runtime, f"o_lane_many{i:02d}")
        page = await http.get(f"/s/{code}")
        match = CSRF.search(page.text)
        assert match is not None
        phones.append((http, code, match.group(1)))
    with statements(runtime) as seen:
        taps = await asyncio.gather(*[h.post(f"/s/{c}", data={"csrf": t}) for h, c, t in phones])
    for http, _, _ in phones:
        await http.aclose()
    lookups = [s for s in seen if "JOIN code_batches" in s]
    assert [t.status_code for t in taps] == [303] * 11
    assert full_claims == []
    assert 1 <= len(lookups) < 11, seen  # coalesced, not one statement per tap
    assert len(store.claimed) == 12


async def test_a_paused_campaign_reaches_the_lane_when_its_copy_expires(
    runtime: Runtime, full_claims: list[str]
) -> None:
    world, _ = await _hot_world(runtime, rule=SURE_WIN, funding_fen=10_000)
    app = wire(runtime)
    await _warm(app, runtime, world.codes[-1], full_claims)
    lane = scans_lane.lane_for(runtime)
    assert lane is not None
    lane.campaigns.clear()  # the copy is read again by the first of the next taps
    async with phone(app) as http:
        sign_in(http, runtime, "o_lane_pause1")
        pages = [await http.get(f"/s/{c}") for c in world.codes[:3]]
        with statements(runtime) as seen:  # the taps only: each page read the campaign
            first = [await claim(http, c, p) for c, p in zip(world.codes, pages, strict=False)]
        campaign_reads = [s for s in seen if "FROM campaigns" in s and "JOIN" not in s]
        page = await http.get(f"/s/{world.codes[3]}")  # the claim form, while still live
        async with runtime.uow(brand_id=world.brand.brand_id) as uow:
            await campaigns_service.transition(
                uow, world.brand.actor(), world.campaign_id, Action.pause
            )
            await uow.commit()
        lane.campaigns[world.campaign_id].until = 0.0  # CAMPAIGN_TTL_SECONDS have passed
        paused = await claim(http, world.codes[3], page)
    assert [r.status_code for r in first] == [303] * 3
    assert len(campaign_reads) == 1, campaign_reads  # one copy for three taps
    assert paused.status_code == 409
    assert "活动未在进行中" in paused.text
    assert full_claims == [world.codes[3]]


async def test_a_pool_goes_through_the_lane_once_loaded(
    runtime: Runtime, full_claims: list[str]
) -> None:
    world, store = await _hot_world(runtime, rule=POOL, funding_fen=1_000)
    app = wire(runtime)
    async with phone(app) as http:
        sign_in(http, runtime, "o_lane_pool01")
        taps = [await _tap(http, c) for c in world.codes[:3]]
    assert [t.status_code for t in taps] == [303] * 3
    assert full_claims == [world.codes[0]]  # the first tap splits and loads the pool
    assert await service.relay_grabs(runtime, store, limit=10, stale_seconds=30) == 3


async def test_rewiring_the_hot_store_resets_the_lane_and_closing_closes_the_store(
    runtime: Runtime,
) -> None:
    """A new store gets a new lane (the old one would grab from the old store), and the
    runtime finishes the store's work in flight before it closes its connections."""
    closed: list[str] = []

    class ClosingStore(MemoryHotStore):
        async def aclose(self) -> None:
            closed.append("store")

    first = ClosingStore()
    wire_hot_store(runtime, first)
    lane = scans_lane.lane_for(runtime)
    assert lane is not None
    assert lane.env.hot is first
    second = ClosingStore()
    wire_hot_store(runtime, second)
    renewed = scans_lane.lane_for(runtime)
    assert renewed is not None
    assert renewed.env.hot is second
    runtime.on_close(lambda: _note(closed, "last registered"))
    await runtime.aclose()
    assert closed == ["last registered", "store", "store"]


async def _note(closed: list[str], what: str) -> None:
    closed.append(what)
