"""The scan hot path through the service (``scans.hot``), with the in-memory store: the grab
answers at once, the relay writes the draw and the payout and moves the fen allotted →
reserved, the allowance is topped up from the ledger and given back when the campaign stops.
SQLite (one file per test); the same flows on PostgreSQL are in tests/integration/scans."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jinli.app.bootstrap import bootstrap, hot_path, wire_hot_store
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.campaigns.ports import publish_preparation
from jinli.codes import service as codes_service
from jinli.kernel.clock import FrozenClock
from jinli.ledger import service as ledger
from jinli.ledger.domain import TransactionKind
from jinli.platform.runtime import Runtime
from jinli.platform.settings import Settings
from jinli.rewards.domain import DrawOutcome
from jinli.scans import service
from jinli.scans import tasks as scan_tasks
from jinli.scans.domain import ClaimStatus
from jinli.scans.errors import PrizesExhausted
from jinli.scans.models import ScanDraw
from jinli.scans.service import ScanState, ScanView
from jinli.worker import main as worker
from tests.conftest import make_settings
from tests.integration.scans._world import SURE_WIN, World, client, make_world
from tests.unit.scans.hot_fake import MemoryHotStore

TRANCHE = 500
PRIZE = 188  # SURE_WIN pays 188 fen on every claim


@pytest.fixture
async def hot_runtime(db_url: str, tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Runtime]:
    settings = make_settings(db_url, tmp_path, scans={"allowance_tranche_fen": TRANCHE})
    rt = bootstrap(settings, clock=clock)
    yield rt
    await rt.aclose()


@pytest.fixture
def store() -> MemoryHotStore:
    return MemoryHotStore()


async def _world(
    runtime: Runtime, store: MemoryHotStore, *, rule: dict[str, object] | None = None, **kw: Any
) -> World:
    wire_hot_store(runtime, store)
    return await make_world(runtime, rule=rule or SURE_WIN, **kw)  # type: ignore[arg-type]


async def _claim(world: World, code: str, openid: str) -> ScanView:
    env = service.env_for(world.runtime)
    async with world.runtime.uow() as uow:
        view = await service.claim(uow, env, code, client(openid))
        await uow.commit()
    return view


async def _relay(world: World, store: MemoryHotStore, *, stale: float = 30.0) -> int:
    return await service.relay_grabs(world.runtime, store, limit=50, stale_seconds=stale)


async def _count(world: World, kind: TransactionKind, prefix: str = "") -> int:
    async with world.runtime.uow(brand_id=world.brand.brand_id) as uow:
        return await ledger.count_transactions(uow, world.campaign_id, kind, memo_prefix=prefix)


async def _draw(world: World, draw_id: uuid.UUID) -> ScanDraw | None:
    async with world.runtime.uow(brand_id=world.brand.brand_id) as uow:
        row = (await uow.session.scalars(select(ScanDraw).where(ScanDraw.id == draw_id))).first()
        uow.session.expunge_all()
        return row


class TestClaimThenRelay:
    async def test_the_grab_answers_and_the_relay_writes_draw_payout_and_ledger(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store, funding_fen=10_000)
        view = await _claim(world, world.codes[0], "o_hot_winner_1")
        assert view.state == ScanState.won
        assert view.recording
        assert view.draw_id is not None
        assert view.amount_fen == PRIZE
        # Nothing written yet but the publish's tranche (allotted, then given to the store).
        assert await _draw(world, view.draw_id) is None
        assert await world.payout_count() == 0
        before = await world.balances()
        assert before.allotted == TRANCHE
        assert before.available == 10_000 - TRANCHE
        assert store.allowances[world.campaign_id] == TRANCHE - PRIZE

        assert await _relay(world, store) == 1
        row = await _draw(world, view.draw_id)
        assert row is not None
        assert row.amount_fen == PRIZE
        assert row.payout_id is not None
        assert row.openid == "o_hot_winner_1"
        assert row.outcome == DrawOutcome.won
        payouts = await world.payouts()
        assert [(p.amount_fen, p.openid) for p in payouts] == [(PRIZE, "o_hot_winner_1")]
        after = await world.balances()  # verify_book: entries, holds and INV-BUDGET agree
        assert after.reserved == PRIZE
        assert after.allotted == TRANCHE - PRIZE == store.allowances[world.campaign_id]
        assert after.available == 10_000 - TRANCHE
        assert store.unsettled() == 0
        assert await _count(world, TransactionKind.unallot, f"grab:{view.draw_id}") == 1
        # The code is claimed in the database by the winner: a re-scan is the answer.
        again = await _claim(world, world.codes[0], "o_someone_else")
        assert again.state == ScanState.repeated
        assert await _relay(world, store) == 0

    async def test_a_taken_code_gets_the_anti_counterfeit_answer_before_the_relay(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store)
        first = await _claim(world, world.codes[0], "o_hot_first_1")
        second = await _claim(world, world.codes[0], "o_hot_second")
        assert first.state == ScanState.won
        assert second.state == ScanState.repeated
        assert second.tally is not None
        assert await _relay(world, store) == 1
        assert len(await world.payouts()) == 1

    async def test_a_zero_fen_draw_is_recorded_without_money(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store, rule={"kind": "none"}, funding_fen=0)
        view = await _claim(world, world.codes[0], "o_hot_nothing")
        assert view.state == ScanState.no_prize
        assert view.draw_id is not None
        assert await _relay(world, store) == 1
        row = await _draw(world, view.draw_id)
        assert row is not None
        assert row.amount_fen == 0
        assert row.payout_id is None
        assert await world.payout_count() == 0
        assert await _count(world, TransactionKind.unallot) == 0


class TestAllowance:
    async def test_a_short_grab_tops_up_one_tranche_and_retries(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store, funding_fen=10_000)
        views = [
            await _claim(world, code, f"o_hot_many_{i}") for i, code in enumerate(world.codes[:3])
        ]
        assert [v.state for v in views] == [ScanState.won] * 3
        # 3 × 188 > 500: the third grab was short, so a second tranche was allotted.
        assert await _count(world, TransactionKind.allot) == 2
        assert await _relay(world, store) == 3
        book = await world.balances()
        assert book.reserved == 3 * PRIZE
        assert book.allotted == 2 * TRANCHE - 3 * PRIZE == store.allowances[world.campaign_id]
        assert book.available == 10_000 - 2 * TRANCHE

    async def test_concurrent_short_grabs_allot_one_tranche(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store, funding_fen=10_000, codes=8)
        views = await asyncio.gather(
            *(_claim(world, code, f"o_hot_race_{i}") for i, code in enumerate(world.codes[:2]))
        )
        assert {v.state for v in views} == {ScanState.won}
        # The publish's tranche (500) covers both (376): no second tranche was allotted.
        assert await _count(world, TransactionKind.allot) == 1

    async def test_when_the_budget_runs_dry_the_grab_is_refused_and_nothing_is_paid(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store, funding_fen=300)
        won = await _claim(world, world.codes[0], "o_hot_dry_1")
        refused = await _claim(world, world.codes[1], "o_hot_dry_2")
        assert won.state == ScanState.won
        assert refused.state == ScanState.refused
        assert isinstance(refused.error, PrizesExhausted)
        assert await _relay(world, store) == 1
        assert len(await world.payouts()) == 1
        draws = await world.draws()
        assert sorted(d.outcome for d in draws) == [DrawOutcome.budget_exhausted, DrawOutcome.won]
        book = await world.balances()
        assert book.reserved == PRIZE
        assert book.available == 0
        assert book.allotted == 300 - PRIZE == store.allowances[world.campaign_id]
        # The refused code was not claimed anywhere: after a top-up it can still win.
        assert len(store.claimed) == 1
        async with hot_runtime.uow(brand_id=world.brand.brand_id) as uow:
            await campaigns_service.fund(uow, world.brand.actor(), world.campaign_id, 1_000)
            await uow.commit()
        again = await _claim(world, world.codes[1], "o_hot_dry_2")
        assert again.state == ScanState.won

    async def test_an_empty_pool_refuses_the_grab(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        rule = {"kind": "lucky_split", "total_fen": 300, "shares": 2}
        world = await _world(hot_runtime, store, rule=rule, funding_fen=1_000)
        views = [await _claim(world, c, f"o_hot_pool_{i}") for i, c in enumerate(world.codes[:3])]
        assert [v.state for v in views[:2]] == [ScanState.won, ScanState.won]
        assert views[2].state == ScanState.refused
        assert sum(v.amount_fen for v in views[:2]) == 300
        assert await _relay(world, store) == 2
        book = await world.balances()
        assert book.reserved == 300
        assert book.allotted == store.allowances[world.campaign_id]

    async def test_a_tranche_the_store_missed_is_restored_once(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store, funding_fen=10_000)
        await _claim(world, world.codes[0], "o_hot_crash_1")  # takes the publish's tranche
        await _claim(world, world.codes[1], "o_hot_crash_2")
        store.fail_next_add = True
        with pytest.raises(ConnectionError):
            await _claim(world, world.codes[2], "o_hot_crash_3")  # allotted, never added
        book = await world.balances()
        assert book.allotted == 2 * TRANCHE
        assert store.allowances[world.campaign_id] == TRANCHE - 2 * PRIZE
        assert await service.restore_allowances(hot_runtime, store, days=7) == 1
        assert await service.restore_allowances(hot_runtime, store, days=7) == 0
        assert store.allowances[world.campaign_id] == 2 * TRANCHE - 2 * PRIZE
        assert (await _claim(world, world.codes[2], "o_hot_crash_3")).state == ScanState.won


class TestPublish:
    async def test_publish_loads_the_pool_and_allots_a_first_tranche(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        rule = {"kind": "lucky_split", "total_fen": 300, "shares": 3}
        world = await _world(hot_runtime, store, rule=rule, funding_fen=1_000, publish=False)
        async with hot_runtime.uow(brand_id=world.brand.brand_id) as uow:
            await campaigns_service.transition(
                uow,
                world.brand.actor(),
                world.campaign_id,
                Action.publish,
                publish_preparation=publish_preparation(hot_runtime.extras),
            )
            await uow.commit()
        (shares,) = store.pools.values()
        assert sum(shares) == 300
        assert len(shares) == 3
        book = await world.balances()
        assert book.allotted == TRANCHE
        # Not in the store before the publish committed; the first grab's top-up (or the
        # restore task) re-applies it, without a second tranche.
        assert store.allowances.get(world.campaign_id, 0) == 0
        view = await _claim(world, world.codes[0], "o_hot_published")
        assert view.state == ScanState.won
        assert await _count(world, TransactionKind.allot) == 1
        assert store.allowances[world.campaign_id] == TRANCHE - view.amount_fen


class TestRelay:
    async def test_a_redelivered_grab_is_settled_once(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store)
        view = await _claim(world, world.codes[0], "o_hot_twice")
        crashing = _Crashing(outbox=store.outbox)
        with pytest.raises(ConnectionError):
            await _relay(world, crashing)
        first = await world.balances()
        assert await _relay(world, store, stale=0) == 1  # handed out again, acknowledged
        assert store.unsettled() == 0
        assert await world.balances() == first
        assert len(await world.payouts()) == 1
        assert [d.id for d in await world.draws()] == [view.draw_id]

    async def test_a_code_someone_else_holds_gives_the_fen_back_and_writes_nothing(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store)
        view = await _claim(world, world.codes[0], "o_hot_late")
        env = service.env_for(hot_runtime)
        parsed = service.parse(env, world.codes[0])
        async with hot_runtime.uow(brand_id=world.brand.brand_id) as uow:
            assert await codes_service.mark_claimed(
                uow,
                parsed.lookup_hash,
                short=False,
                openid="o_hot_sql_path",
                at=hot_runtime.clock.now(),
                region=None,
            )
            await uow.commit()
        before = await world.balances()
        assert await _relay(world, store) == 1
        after = await world.balances()
        assert after.allotted == before.allotted - PRIZE
        assert after.available == before.available + PRIZE
        assert after.reserved == 0
        assert await world.payout_count() == 0
        assert view.draw_id is not None
        assert await _draw(world, view.draw_id) is None

    async def test_a_redelivered_conflict_gives_the_fen_back_once(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store)
        await _claim(world, world.codes[0], "o_hot_late2")
        parsed = service.parse(service.env_for(hot_runtime), world.codes[0])
        async with hot_runtime.uow(brand_id=world.brand.brand_id) as uow:
            await codes_service.mark_claimed(
                uow,
                parsed.lookup_hash,
                short=False,
                openid="o_hot_sql_path2",
                at=hot_runtime.clock.now(),
                region=None,
            )
            await uow.commit()
        crashing = _Crashing(outbox=store.outbox)
        with pytest.raises(ConnectionError):
            await _relay(world, crashing)
        first = await world.balances()
        assert await _relay(world, store, stale=0) == 1
        assert await world.balances() == first
        assert await _count(world, TransactionKind.unallot, "grab:") == 1

    async def test_one_bad_entry_does_not_block_the_others(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store)
        good = await _claim(world, world.codes[0], "o_hot_good")
        bad = await _claim(world, world.codes[1], "o_hot_bad_1")
        # Corrupt the second grab's campaign: settling it fails, the first still settles.
        for entry in store.outbox.values():
            if str(bad.draw_id) in entry.text:
                entry.text = entry.text.replace(str(world.campaign_id), str(uuid.uuid4()))
        assert await _relay(world, store) == 1
        assert [d.id for d in await world.draws()] == [good.draw_id]
        assert store.unsettled() == 1


class _Crashing(MemoryHotStore):
    """The store as a relay that crashed after its commit sees it: never acknowledged."""

    async def settled(self, entry_ids: Sequence[str], /) -> None:
        raise ConnectionError("crashed after the commit")


class TestRelease:
    async def test_a_stopped_campaign_gives_its_allowance_back_once(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store, funding_fen=10_000)
        await _claim(world, world.codes[0], "o_hot_release")
        # Live: nothing is released.
        assert await service.release_allowances(hot_runtime, store) == 0
        async with hot_runtime.uow(brand_id=world.brand.brand_id) as uow:
            await campaigns_service.transition(
                uow, world.brand.actor(), world.campaign_id, Action.pause
            )
            await uow.commit()
        # A crash after the store released, before the ledger recorded it: the retry uses
        # the same release id (1 allotment so far, release 1) and the store answers with
        # the same figure.
        release_id = f"release:{world.campaign_id}:1:1"
        assert await store.release_allowance(world.campaign_id, release_id) == TRANCHE - PRIZE
        assert store.allowances[world.campaign_id] == 0
        assert await service.release_allowances(hot_runtime, store) == TRANCHE - PRIZE
        assert await service.release_allowances(hot_runtime, store) == 0
        book = await world.balances()
        # The grab still waiting for the relay keeps its fen allotted until it settles.
        assert book.allotted == PRIZE
        assert await _relay(world, store) == 1
        book = await world.balances()
        assert book.allotted == 0
        assert book.reserved == PRIZE
        assert book.available == 10_000 - PRIZE
        assert await _count(world, TransactionKind.unallot, "release:") == 1


def test_claim_status_short_is_part_of_the_contract() -> None:
    assert ClaimStatus.short.value == "short"


class TestWorker:
    async def test_one_worker_pass_relays_the_grabs(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store)
        view = await _claim(world, world.codes[0], "o_hot_worker")
        await worker.run(hot_runtime, once=True)
        assert store.unsettled() == 0
        assert view.draw_id is not None
        assert await _draw(world, view.draw_id) is not None

    async def test_the_hot_loop_relays_until_stopped(
        self, hot_runtime: Runtime, store: MemoryHotStore
    ) -> None:
        world = await _world(hot_runtime, store)
        stop = asyncio.Event()
        loop = asyncio.create_task(scan_tasks.run_hot(hot_runtime, stop))
        await _claim(world, world.codes[0], "o_hot_loop_1")
        await _claim(world, world.codes[1], "o_hot_loop_2")
        for _ in range(100):
            if store.unsettled() == 0 and len(await world.draws()) == 2:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(loop, timeout=5)
        assert len(await world.payouts()) == 2


class TestWiring:
    @pytest.mark.parametrize(
        ("chosen", "has_redis", "dialect", "expected"),
        [
            ("sql", True, "postgresql", "sql"),
            ("auto", True, "sqlite", "redis"),
            ("auto", False, "postgresql", "postgres"),
            ("auto", False, "sqlite", "sql"),
            ("redis", True, "sqlite", "redis"),
            ("postgres", False, "postgresql", "postgres"),
        ],
    )
    def test_the_hot_path_setting(
        self, chosen: str, has_redis: bool, dialect: str, expected: str
    ) -> None:
        settings = Settings(_env_file=None, scans={"hot_path": chosen})  # type: ignore[call-arg]
        assert hot_path(settings, has_redis=has_redis, dialect=dialect) == expected

    @pytest.mark.parametrize(
        ("chosen", "dialect"), [("redis", "postgresql"), ("postgres", "sqlite")]
    )
    def test_a_store_the_deployment_cannot_run_is_refused(self, chosen: str, dialect: str) -> None:
        settings = Settings(_env_file=None, scans={"hot_path": chosen})  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="needs"):
            hot_path(settings, has_redis=False, dialect=dialect)

    async def test_the_default_is_the_sql_claim(self, hot_runtime: Runtime) -> None:
        assert hot_runtime.settings.scans.hot_path == "sql"
        assert service.HOT_STORE_KEY not in hot_runtime.extras
        assert service.env_for(hot_runtime).hot is None
