"""The scan hot path end to end through the service on SQLite and PostgreSQL: many claims
at once grab through a store, the relay settles them, and the books agree — ``verify_book``
holds, Σ(paid + reserved) == Σ prizes drawn, and what the ledger has allotted is exactly the
allowance left in the store; then the stopped campaign's allowance comes back to the budget.

The store is the in-memory fake (``tests.unit.scans.hot_fake``) on both databases, and the
real stores where they exist: ``PgHotStore`` on PostgreSQL, ``RedisHotStore`` with Redis."""

from __future__ import annotations

import asyncio
import importlib.util
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from jinli.app.bootstrap import bootstrap, wire_hot_store
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.codes.models import Code
from jinli.kernel.clock import FrozenClock
from jinli.ledger.domain import Balances
from jinli.platform.runtime import Runtime
from jinli.rewards.domain import DrawOutcome
from jinli.scans import service
from jinli.scans.ports import HotClaimStore
from jinli.scans.service import ScanState, ScanView
from tests.conftest import RUN_ID, make_settings
from tests.integration.scans._world import TIERS, World, add_batch, client, make_world
from tests.unit.scans.hot_fake import MemoryHotStore

TRANCHE = 1_000
CODES = 24


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


STORES = [
    pytest.param("sqlite", "memory", id="sqlite-memory"),
    pytest.param("postgresql", "memory", id="postgresql-memory", marks=pytest.mark.postgres),
    pytest.param(
        "postgresql",
        "postgres",
        id="postgresql-pg_store",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(
                not _has("jinli.scans.adapters.pg_store"), reason="pg_store not written yet"
            ),
        ],
    ),
    pytest.param(
        "sqlite",
        "redis",
        id="sqlite-redis_store",
        marks=[
            pytest.mark.redis,
            pytest.mark.skipif(
                not _has("jinli.scans.adapters.redis_store"), reason="redis_store not written yet"
            ),
        ],
    ),
    pytest.param(
        "postgresql",
        "redis",
        id="postgresql-redis_store",
        marks=[
            pytest.mark.postgres,
            pytest.mark.redis,
            pytest.mark.skipif(
                not _has("jinli.scans.adapters.redis_store"), reason="redis_store not written yet"
            ),
        ],
    ),
]


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def hot(
    db_url: str, tmp_path: Path, clock: FrozenClock, store_kind: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[Runtime, HotClaimStore]]:
    settings = make_settings(db_url, tmp_path, scans={"allowance_tranche_fen": TRANCHE})
    runtime = bootstrap(settings, clock=clock)
    store: Any
    redis: Any = None
    if store_kind == "memory":
        store = MemoryHotStore()
    elif store_kind == "postgres":
        from jinli.scans.adapters.pg_store import PgHotStore

        store = PgHotStore(runtime.engine)
    else:
        from redis.asyncio import Redis

        module = importlib.import_module("jinli.scans.adapters.redis_store")
        redis = Redis.from_url(request.getfixturevalue("redis_url"))
        store = module.RedisHotStore(redis, prefix=f"jinli-test-{RUN_ID}-{uuid.uuid4().hex[:6]}:")
    wire_hot_store(runtime, store)
    yield runtime, store
    closing = getattr(store, "aclose", None)
    if closing is not None:
        await closing()
    if redis is not None:
        await redis.aclose()
    await runtime.aclose()


async def _claim(world: World, code: str, openid: str) -> ScanView:
    env = service.env_for(world.runtime)
    async with world.runtime.uow() as uow:
        view = await service.claim(uow, env, code, client(openid))
        await uow.commit()
    return view


async def _relay_all(runtime: Runtime, store: HotClaimStore) -> int:
    total = 0
    for _ in range(50):
        settled = await service.relay_grabs(runtime, store, limit=7, stale_seconds=30)
        total += settled
        if settled == 0:
            return total
    raise AssertionError("the relay never ran dry")


async def _check_books(world: World, store: HotClaimStore) -> Balances:
    book = await world.balances()  # verify_book: entries, holds, INV-BUDGET
    draws = await world.draws()
    won = [d for d in draws if d.outcome == DrawOutcome.won]
    assert book.paid + book.reserved == sum(d.amount_fen for d in won)
    assert book.allotted == await store.allowance(world.campaign_id)
    payouts = await world.payouts()
    assert sorted(p.amount_fen for p in payouts) == sorted(
        d.amount_fen for d in won if d.amount_fen > 0
    )
    assert {d.payout_id for d in won if d.amount_fen > 0} == {p.id for p in payouts}
    return book


@pytest.mark.parametrize(("backend", "store_kind"), STORES, indirect=True)
async def test_concurrent_grabs_settle_into_books_that_agree(
    hot: tuple[Runtime, HotClaimStore],
) -> None:
    runtime, store = hot
    world = await make_world(runtime, rule=TIERS, funding_fen=20_000, codes=CODES)
    # Every code claimed at once by its own consumer, and every third one twice.
    attempts = [(code, f"o_hot_{i:04d}") for i, code in enumerate(world.codes)]
    attempts += [(code, f"o_late_{i:04d}") for i, code in enumerate(world.codes[::3])]
    # At most 8 at once: on PostgreSQL without Redis the claim counters take a connection of
    # their own while the request holds one (a pool of 10 + 10).
    gate = asyncio.Semaphore(8)

    async def one(code: str, who: str) -> ScanView:
        async with gate:
            return await _claim(world, code, who)

    views = await asyncio.gather(*(one(code, who) for code, who in attempts))
    states = [v.state for v in views]
    assert states.count(ScanState.repeated) == len(world.codes[::3])
    decided = [v for v in views if v.state in (ScanState.won, ScanState.no_prize)]
    assert len(decided) == CODES, [
        (v.state, v.error) for v in views if v not in decided and v.state != ScanState.repeated
    ]
    assert all(v.recording for v in decided)

    assert await _relay_all(runtime, store) == CODES
    book = await _check_books(world, store)
    draws = {d.id: d for d in await world.draws()}
    for view in decided:
        assert view.draw_id in draws
        assert draws[view.draw_id].amount_fen == view.amount_fen
    async with runtime.uow(brand_id=world.brand.brand_id) as uow:
        stmt = select(func.count()).select_from(Code).where(Code.claimed_at.is_not(None))
        assert await uow.session.scalar(stmt) == CODES
    assert await _relay_all(runtime, store) == 0  # nothing left, nothing settled twice
    assert await _check_books(world, store) == book

    # The campaign stops: its unspent allowance goes back to the budget, once.
    async with runtime.uow(brand_id=world.brand.brand_id) as uow:
        await campaigns_service.transition(
            uow, world.brand.actor(), world.campaign_id, Action.pause
        )
        await uow.commit()
    left = book.allotted
    assert await service.release_allowances(runtime, store) == left
    assert await service.release_allowances(runtime, store) == 0
    after = await _check_books(world, store)
    assert after.allotted == 0
    assert after.available == book.available + left


@pytest.mark.parametrize(("backend", "store_kind"), STORES, indirect=True)
async def test_a_dry_budget_refuses_grabs_without_paying(
    hot: tuple[Runtime, HotClaimStore],
) -> None:
    runtime, store = hot
    rule = {"kind": "fixed", "amount_fen": 100}
    world = await make_world(runtime, rule=rule, funding_fen=350, codes=6)
    views = [await _claim(world, code, f"o_dry_{i}") for i, code in enumerate(world.codes)]
    assert [v.state for v in views].count(ScanState.won) == 3
    assert [v.state for v in views].count(ScanState.refused) == 3
    assert await _relay_all(runtime, store) == 3
    book = await _check_books(world, store)
    assert book.reserved == 300
    assert book.allotted + book.available == 50


@pytest.mark.parametrize(("backend", "store_kind"), STORES, indirect=True)
async def test_the_short_and_the_full_form_of_one_code_are_one_claim(
    hot: tuple[Runtime, HotClaimStore],
) -> None:
    """A code claimed by its typed short form answers its QR (full) form with the re-scan
    answer, and the other way round, even when both race: the store keys a claim by the
    code itself, not by the form scanned."""
    runtime, store = hot
    world = await make_world(runtime, rule=TIERS, funding_fen=20_000, codes=1)
    _, pairs = await add_batch(runtime, world.brand, world.campaign_id, 6, short_codes=True)
    forms = [pair.split(" ") for pair in pairs]
    views = await asyncio.gather(
        *(
            _claim(world, form, f"o_{i}_{j}")
            for i, both in enumerate(forms)
            for j, form in enumerate(both)
        )
    )
    decided = [v for v in views if v.state in (ScanState.won, ScanState.no_prize)]
    assert len(decided) == len(forms), [v.state for v in views]
    assert [v.state for v in views].count(ScanState.repeated) == len(forms)
    settled = await _relay_all(runtime, store)
    assert settled == len(forms)
    draws = [d for d in await world.draws() if d.outcome != DrawOutcome.budget_exhausted]
    assert len(draws) == len({d.code_hash for d in draws}) == len(forms)
    await _check_books(world, store)
