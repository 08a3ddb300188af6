"""The scan use case on SQLite and PostgreSQL: claim once, draw, log, pay in one transaction;
re-scans answer and never pay; 串货 alerts; refusals; the budget and pools running dry."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jinli.app.bootstrap import bootstrap
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action
from jinli.codes import domain as codes_domain
from jinli.codes import service as codes_service
from jinli.codes.errors import CodeNotFound
from jinli.kernel.clock import FrozenClock
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.platform.db.outbox import OutboxMessage
from jinli.platform.runtime import Runtime
from jinli.rewards.domain import DrawOutcome, LuckySplit, audit_draw
from jinli.rewards.errors import BudgetTooSmall
from jinli.scans import domain, service
from jinli.scans.domain import TierPlan
from jinli.scans.errors import PrizeNotFound
from jinli.scans.models import ScanPool
from jinli.scans.repository import PoolRepository
from jinli.scans.service import PayoutStage, ScanState, ScanView
from tests.conftest import BACKENDS, T0, make_settings
from tests.integration.scans._world import (
    FAR,
    REGION,
    SURE_WIN,
    TIERS,
    World,
    add_batch,
    client,
    make_world,
)

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)

HANGZHOU_IP = "127.0.0.1"
SHENZHEN_IP = "203.0.113.7"


async def _claim(world: World, code: str, openid: str, ip: str = HANGZHOU_IP) -> ScanView:
    env = service.env_for(world.runtime)
    async with world.runtime.uow() as uow:
        view = await service.claim(uow, env, code, client(openid, ip))
        await uow.commit()
    return view


async def _inspect(world: World, code: str, openid: str, ip: str = HANGZHOU_IP) -> ScanView:
    env = service.env_for(world.runtime)
    async with world.runtime.uow() as uow:
        view = await service.inspect(uow, env, code, client(openid, ip))
        await uow.commit()
    return view


async def _events(world: World, topic: str) -> list[dict[str, Any]]:
    async with world.runtime.uow(system=True) as uow:
        rows = await uow.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.topic == topic, OutboxMessage.brand_id == world.brand.brand_id)
            .order_by(OutboxMessage.id)
        )
        return [json.loads(r.payload) for r in rows]


async def _lookup(world: World, code: str) -> codes_domain.CodeLookup:
    async with world.runtime.uow() as uow:
        return await codes_service.verify(uow, codes_service.env_for(world.runtime), code)


class TestClaim:
    async def test_a_first_scan_claims_draws_logs_and_pays_in_one_go(
        self, runtime: Runtime
    ) -> None:
        """The code is claimed, the draw logged with what audits it, the payout created with
        the campaign's payout terms and the budget reserved; scan.claimed says so."""
        world = await make_world(runtime, rule=SURE_WIN)
        view = await _claim(world, world.codes[0], "o_winner_0001")
        assert (view.state, view.amount_fen, view.tier_label) == (ScanState.won, 188, "幸运奖")

        (draw,) = await world.draws()
        assert (draw.outcome, draw.amount_fen, draw.openid) == (
            DrawOutcome.won,
            188,
            "o_winner_0001",
        )
        assert draw.region == REGION
        assert draw.scan_region == REGION
        plan = domain.reward_plan(SURE_WIN)
        assert isinstance(plan, TierPlan)
        assert draw.rule_hash == plan.rule.rule_hash
        record = domain.DrawRecord(
            kind=draw.kind,
            algorithm=draw.algorithm,
            rule_hash=draw.rule_hash,
            region=draw.region,
            table_region=draw.table_region,
            random_value=draw.random_value,
            share_no=draw.share_no,
            tier_index=draw.tier_index,
            tier_label=draw.tier_label,
            drawn_fen=draw.drawn_fen,  # type: ignore[arg-type]
            amount_fen=draw.amount_fen,  # type: ignore[arg-type]
            outcome=draw.outcome,
        )
        assert audit_draw(plan.rule, record.as_prize_draw()) == []

        (payout,) = await world.payouts()
        assert (payout.amount_fen, payout.openid, payout.state) == (188, "o_winner_0001", "pending")
        assert payout.mode == PayoutMode.transfer
        assert payout.cause == f"scan:{draw.code_hash.hex()}"
        assert draw.payout_id == payout.id
        balances = await world.balances()
        assert (balances.reserved, balances.available) == (188, 100_000 - 188)

        (event,) = await _events(world, "scan.claimed")
        assert event == {
            "campaign_id": str(world.campaign_id),
            "batch_id": str(world.batch_id),
            "region": REGION,
            "scan_region": REGION,
            "tier": "幸运奖",
            "amount_fen": 188,
            "payout_id": str(payout.id),
        }
        lookup = await _lookup(world, world.codes[0])
        assert (lookup.scans, lookup.claimed_at, lookup.first_scan_region) == (1, T0, REGION)

    async def test_a_thanks_draw_claims_the_code_and_creates_no_payout(
        self, runtime: Runtime
    ) -> None:
        world = await make_world(
            runtime, rule={"kind": "tiers", "tiers": [{"amount_fen": 1, "probability_ppm": 1}]}
        )
        views = [
            await _claim(world, code, f"o_thanks_{i:04d}") for i, code in enumerate(world.codes)
        ]
        assert {v.state for v in views} <= {ScanState.no_prize, ScanState.won}
        thanks = [v for v in views if v.state == ScanState.no_prize]
        assert thanks, "1 ppm of winning: at least one of 20 draws is 谢谢参与"
        assert {v.tier_label for v in thanks} == {"谢谢参与"}
        assert len(await world.payouts()) == len(views) - len(thanks)
        events = await _events(world, "scan.claimed")
        assert sum(1 for e in events if e["payout_id"] is None) == len(thanks)

    async def test_a_campaign_that_pays_nothing_still_verifies_and_claims(
        self, runtime: Runtime
    ) -> None:
        world = await make_world(runtime, rule={"kind": "none"}, funding_fen=0, publish=False)
        async with runtime.uow(brand_id=world.brand.brand_id) as uow:
            await campaigns_service.transition(
                uow, world.brand.actor(), world.campaign_id, Action.publish
            )
            await uow.commit()
        view = await _claim(world, world.codes[0], "o_verify_0001")
        assert (view.state, view.tier_label) == (ScanState.no_prize, "正品验证")
        assert await world.payouts() == []

    async def test_get_shows_the_prize_on_offer_and_writes_nothing(self, runtime: Runtime) -> None:
        """A GET (WeChat prefetches links) never claims, pays or counts a claimable code."""
        world = await make_world(runtime)
        view = await _inspect(world, world.codes[0], "o_looker_0001")
        assert (view.state, view.headline) == (ScanState.ready, "最高 ¥8.88")
        assert view.page.message == "感谢支持锦鲤茶饮"
        assert await world.draws() == []
        assert await world.payouts() == []
        assert (await _lookup(world, world.codes[0])).scans == 0

    async def test_unknown_codes_raise_for_the_edge_to_count(self, runtime: Runtime) -> None:
        world = await make_world(runtime)
        keys = codes_service.env_for(runtime).keys
        (stranger,) = codes_domain.generate_codes(1, keys, lambda n: bytes(range(n)))
        with pytest.raises(CodeNotFound):
            await _claim(world, stranger, "o_guess_0001")


class TestRescan:
    async def test_a_rescan_gets_the_anti_counterfeit_answer_and_is_never_paid(
        self, runtime: Runtime
    ) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        await _claim(world, world.codes[0], "o_first_0001")
        runtime.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
        again = await _claim(world, world.codes[0], "o_second_001")
        looked = await _inspect(world, world.codes[0], "o_third_0001")
        assert (again.state, looked.state) == (ScanState.repeated, ScanState.repeated)
        assert again.tally is not None
        assert looked.tally is not None
        assert (again.tally.scans, looked.tally.scans) == (2, 3)
        assert (
            domain.answer_text(looked.tally)
            == "此码已被扫描 3 次，首次扫描于 2026-11-23 12:00（杭州）"
        )
        assert len(await world.payouts()) == 1
        assert [e["scans"] for e in await _events(world, "scan.repeated")] == [2, 3]

    async def test_concurrent_claims_of_one_code_pay_exactly_once(self, runtime: Runtime) -> None:
        """16 consumers tap the same code at once: one wins, 15 get the answer (I2, I6)."""
        world = await make_world(runtime, rule=SURE_WIN)
        views = await asyncio.gather(
            *(_claim(world, world.codes[0], f"o_racer_{i:04d}") for i in range(16))
        )
        assert Counter(v.state for v in views) == {ScanState.won: 1, ScanState.repeated: 15}
        assert len(await world.payouts()) == 1
        assert len(await world.draws()) == 1
        assert (await _lookup(world, world.codes[0])).scans == 16
        assert (await world.balances()).reserved == 188


class TestCrossRegion:
    async def test_a_scan_far_from_the_batch_raises_an_alert_for_the_brand(
        self, runtime: Runtime
    ) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        near = await _claim(world, world.codes[0], "o_local_0001", ip=HANGZHOU_IP)
        far = await _claim(world, world.codes[1], "o_remote_001", ip=SHENZHEN_IP)
        assert (near.cross_region, far.cross_region) == (False, True)
        await _inspect(world, world.codes[1], "o_remote_002", ip=SHENZHEN_IP)
        alerts = await _events(world, "alert.cross_region")
        assert (
            alerts
            == [
                {
                    "campaign_id": str(world.campaign_id),
                    "batch_id": str(world.batch_id),
                    "batch_region": REGION,
                    "scan_region": FAR,
                }
            ]
            * 2
        )
        claimed = await _events(world, "scan.claimed")
        assert [(e["region"], e["scan_region"]) for e in claimed] == [
            (REGION, REGION),
            (REGION, FAR),
        ]


class TestRefusals:
    async def test_a_code_of_a_batch_not_shipped_never_pays(self, runtime: Runtime) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        _, unshipped = await add_batch(runtime, world.brand, world.campaign_id, 3, region=None)
        view = await _claim(world, unshipped[0], "o_early_0001")
        assert view.state == ScanState.refused
        assert view.error is not None
        assert view.error.reason == "inactive"
        assert await world.payouts() == []
        (refused,) = await _events(world, "scan.refused")
        assert refused["reason"] == "inactive"
        assert (await _lookup(world, unshipped[0])).claimed_at is None

    @pytest.mark.parametrize("when", ["before", "after", "paused"])
    async def test_scans_outside_the_window_are_refused(self, runtime: Runtime, when: str) -> None:
        if when == "before":
            world = await make_world(
                runtime,
                rule=SURE_WIN,
                starts_at=(T0 + timedelta(days=1)).isoformat(),
                ends_at=(T0 + timedelta(days=2)).isoformat(),
            )
        else:
            world = await make_world(runtime, rule=SURE_WIN)
        if when == "after":
            runtime.clock.advance(timedelta(days=8))  # type: ignore[attr-defined]
        if when == "paused":
            async with runtime.uow(brand_id=world.brand.brand_id) as uow:
                await campaigns_service.transition(
                    uow, world.brand.actor(), world.campaign_id, Action.pause
                )
                await uow.commit()
        view = await _claim(world, world.codes[0], "o_late_00001")
        assert view.state == ScanState.refused
        assert view.error is not None
        assert view.error.reason == "not_live"
        assert await world.payouts() == []
        assert [e["reason"] for e in await _events(world, "scan.refused")] == ["not_live"]

    async def test_when_the_budget_runs_dry_the_claim_rolls_back_and_a_top_up_pays(
        self, runtime: Runtime
    ) -> None:
        """Budget for two prizes: the third scan is told the money ran out, its code stays
        unclaimed (the draw is logged as budget_exhausted); after a top-up it pays."""
        world = await make_world(runtime, rule=SURE_WIN, funding_fen=2 * 188)
        views = [
            await _claim(world, code, f"o_dry_{i:07d}") for i, code in enumerate(world.codes[:3])
        ]
        assert [v.state for v in views] == [ScanState.won, ScanState.won, ScanState.refused]
        assert views[2].error is not None
        assert views[2].error.reason == "budget_exhausted"
        assert (await _lookup(world, world.codes[2])).claimed_at is None
        outcomes = Counter(d.outcome for d in await world.draws())
        assert outcomes == {DrawOutcome.won: 2, DrawOutcome.budget_exhausted: 1}
        balances = await world.balances()
        assert (balances.available, balances.reserved) == (0, 2 * 188)
        assert len(await world.payouts()) == 2
        assert [e["reason"] for e in await _events(world, "scan.refused")] == ["budget_exhausted"]

        async with runtime.uow(brand_id=world.brand.brand_id) as uow:
            await campaigns_service.fund(uow, world.brand.actor(), world.campaign_id, 188)
            await uow.commit()
        again = await _claim(world, world.codes[2], "o_dry_0000002")
        assert again.state == ScanState.won
        assert (await world.balances()).available == 0

    async def test_one_openid_claims_at_most_the_daily_limit(
        self, db_url: str, tmp_path: Path
    ) -> None:
        rt = bootstrap(
            make_settings(db_url, tmp_path, scans={"claims_per_openid_per_day": 2}),
            clock=FrozenClock(T0),
        )
        try:
            world = await make_world(rt, rule=SURE_WIN)
            views = [await _claim(world, code, "o_hunter_0001") for code in world.codes[:3]]
            assert [v.state for v in views] == [ScanState.won, ScanState.won, ScanState.refused]
            assert views[2].error is not None
            assert views[2].error.reason == "throttled"
            other = await _claim(world, world.codes[2], "o_honest_0001")
            assert other.state == ScanState.won
        finally:
            await rt.aclose()


class TestPools:
    async def test_a_lucky_split_pays_exactly_its_total_when_exhausted(
        self, runtime: Runtime
    ) -> None:
        rule = {"kind": "lucky_split", "total_fen": 1_000, "shares": 7, "algorithm": "line_segment"}
        world = await make_world(runtime, rule=rule, codes=10)
        views = [
            await _claim(world, code, f"o_lucky_{i:04d}") for i, code in enumerate(world.codes)
        ]
        won = [v for v in views if v.state == ScanState.won]
        assert len(won) == 7
        assert sum(v.amount_fen for v in won) == 1_000
        assert {v.error.reason for v in views if v.error is not None} == {"budget_exhausted"}
        draws = [d for d in await world.draws() if d.outcome == DrawOutcome.won]
        assert sorted(d.share_no or 0 for d in draws) == list(range(1, 8))
        async with runtime.uow(brand_id=world.brand.brand_id) as uow:
            pool = (await uow.session.scalars(select(ScanPool))).one()
            shares = await PoolRepository(uow).shares(pool.id)
            assert (pool.taken, pool.taken_fen, sum(shares)) == (7, 1_000, 1_000)
            plan = domain.reward_plan(rule)
            assert isinstance(plan, domain.PoolPlan)
            assert isinstance(plan.pool, LuckySplit)
            assert domain.pool_hash(plan.pool, shares) == pool.rule_hash
            assert {d.rule_hash for d in draws} == {pool.rule_hash}
            assert all(shares[(d.share_no or 0) - 1] == d.amount_fen for d in draws)
        assert (await world.balances()).reserved == 1_000

    async def test_fixed_amount_with_a_winner_limit_stops_at_the_limit(
        self, runtime: Runtime
    ) -> None:
        world = await make_world(
            runtime, rule={"kind": "fixed", "amount_fen": 500, "max_winners": 3}, codes=5
        )
        views = [
            await _claim(world, code, f"o_fixed_{i:04d}") for i, code in enumerate(world.codes)
        ]
        assert [v.state for v in views] == [ScanState.won] * 3 + [ScanState.refused] * 2
        assert {v.amount_fen for v in views[:3]} == {500}
        assert (await world.balances()).reserved == 1_500


class TestPrizePage:
    async def test_only_the_winner_sees_the_prize_and_its_payout_stage(
        self, runtime: Runtime
    ) -> None:
        world = await make_world(runtime, rule=SURE_WIN)
        view = await _claim(world, world.codes[0], "o_owner_0001")
        assert view.draw_id is not None
        async with runtime.uow() as uow:
            mine = await service.prize(uow, view.draw_id, "o_owner_0001")
        assert (mine.amount_fen, mine.stage, mine.mode) == (188, PayoutStage.pending, "transfer")
        for who, draw_id in (("o_thief_0001", view.draw_id), ("o_owner_0001", uuid.uuid4())):
            async with runtime.uow() as uow:
                with pytest.raises(PrizeNotFound):
                    await service.prize(uow, draw_id, who)
        async with runtime.uow(brand_id=world.brand.brand_id) as uow:
            (payout,) = await world.payouts()
            row = await uow.session.get(type(payout), payout.id)
            assert row is not None
            row.state, row.package_info = PayoutState.awaiting_user, "pkg-123"
            await uow.commit()
        async with runtime.uow() as uow:
            waiting = await service.prize(uow, view.draw_id, "o_owner_0001")
        assert (waiting.stage, waiting.package_info) == (PayoutStage.confirm, "pkg-123")


class TestPublishCheck:
    async def test_the_expected_cost_of_the_printed_codes_is_checked_against_the_budget(
        self, runtime: Runtime
    ) -> None:
        world = await make_world(runtime, rule=TIERS, funding_fen=3_000, codes=20, publish=False)
        async with runtime.uow(brand_id=world.brand.brand_id) as uow:
            check = await service.budget_check(uow, world.brand.actor(), world.campaign_id)
        assert check is not None
        assert check.ok
        assert check.planned_draws == 20
        await add_batch(runtime, world.brand, world.campaign_id, 500)
        async with runtime.uow(brand_id=world.brand.brand_id) as uow:
            with pytest.raises(BudgetTooSmall) as refused:
                await service.prepare_publish(uow, world.brand.actor(), world.campaign_id)
        assert refused.value.extra["budget_fen"] == 3_000

    async def test_a_pool_is_split_once_at_publish_and_checked_against_the_budget(
        self, runtime: Runtime
    ) -> None:
        rule = {"kind": "lucky_split", "total_fen": 5_000, "shares": 40}
        short = await make_world(runtime, rule=rule, funding_fen=4_999, publish=False)
        async with runtime.uow(brand_id=short.brand.brand_id) as uow:
            with pytest.raises(BudgetTooSmall):
                await service.prepare_publish(uow, short.brand.actor(), short.campaign_id)
        world = await make_world(runtime, rule=rule, funding_fen=5_000, publish=False)
        for _ in range(2):
            async with runtime.uow(brand_id=world.brand.brand_id) as uow:
                await service.prepare_publish(uow, world.brand.actor(), world.campaign_id)
                await uow.commit()
        async with runtime.uow(brand_id=world.brand.brand_id) as uow:
            (pool,) = list(await uow.session.scalars(select(ScanPool)))
            assert sum(await PoolRepository(uow).shares(pool.id)) == 5_000
