"""Pure rules of scan-to-win: reward plans from stored campaign rules, draw records and their
audit, the anti-counterfeit answer, regions and 串货, and the guess-throttle keys."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.campaigns import domain as campaigns_domain
from jinli.campaigns.errors import InvalidRewardRule
from jinli.kernel.money import Fen
from jinli.rewards.domain import (
    DrawOutcome,
    FixedPool,
    LuckySplit,
    SeededRandomSource,
    audit_draw,
    draw_prize,
    presplit,
)
from jinli.scans import domain
from jinli.scans.domain import (
    CidrRegionResolver,
    Client,
    FixedPlan,
    GuessPolicy,
    Limit,
    NoPlan,
    PoolPlan,
    ScanTally,
    TierPlan,
)
from jinli.scans.errors import ScanRuleUnusable

TIERS = {
    "kind": "tiers",
    "tiers": [
        {"amount_fen": 888, "probability_ppm": 10_000, "label": "一等奖"},
        {"amount_fen": 188, "probability_ppm": 100_000, "label": ""},
    ],
    "regions": {"浙江": [{"amount_fen": 500, "probability_ppm": 500_000, "label": "浙江奖"}]},
}


class TestRewardPlan:
    def test_tiers_become_a_prize_rule_with_thanks_and_regional_tables(self) -> None:
        plan = domain.reward_plan(TIERS)
        assert isinstance(plan, TierPlan)
        default = [(t.label, t.amount_fen, t.probability_ppm) for t in plan.rule.default.tiers]
        assert default == [
            ("一等奖", 888, 10_000),
            ("¥1.88", 188, 100_000),
            ("谢谢参与", 0, 890_000),
        ]
        region, table = plan.rule.table_for("浙江/杭州")
        assert region == "浙江"
        assert [t.label for t in table.tiers] == ["浙江奖", "谢谢参与"]
        assert plan.rule.table_for("广东/深圳")[0] is None
        assert domain.headline(plan) == "最高 ¥8.88"

    def test_a_tier_labelled_thanks_keeps_the_leftover_odds_apart(self) -> None:
        rule = {
            "kind": "tiers",
            "tiers": [{"amount_fen": 1, "probability_ppm": 1, "label": "谢谢参与"}],
        }
        plan = domain.reward_plan(rule)
        assert isinstance(plan, TierPlan)
        assert [t.label for t in plan.rule.default.tiers] == ["谢谢参与", "谢谢惠顾"]

    def test_lucky_split_fixed_and_none(self) -> None:
        lucky = domain.reward_plan({"kind": "lucky_split", "total_fen": 10_000, "shares": 30})
        assert isinstance(lucky, PoolPlan)
        assert isinstance(lucky.pool, LuckySplit)
        assert lucky.stores_shares
        assert lucky.kind == domain.DrawKind.lucky_split
        capped = domain.reward_plan({"kind": "fixed", "amount_fen": 188, "max_winners": 5})
        assert isinstance(capped, PoolPlan)
        assert capped.pool == FixedPool(Fen(188), 5)
        assert not capped.stores_shares
        unlimited = domain.reward_plan({"kind": "fixed", "amount_fen": 188})
        assert unlimited == FixedPlan(Fen(188))
        assert domain.headline(unlimited) == "¥1.88 红包"
        assert domain.reward_plan({"kind": "none"}) == NoPlan()
        assert domain.headline(lucky) == "拼手气红包"

    @pytest.mark.parametrize(
        "stored",
        [
            {"kind": "lottery"},
            {"kind": "lucky_split", "total_fen": 5, "shares": 10},
            {"kind": "tiers", "tiers": [{"amount_fen": 1, "probability_ppm": 2_000_000}]},
            {"kind": "fixed"},
        ],
    )
    def test_a_rule_rewards_refuses_is_unusable_never_paid(self, stored: dict[str, object]) -> None:
        with pytest.raises(ScanRuleUnusable):
            domain.reward_plan(stored)

    @given(
        total=st.integers(1, 200_000),
        shares=st.integers(1, 300),
        seed=st.integers(0, 2**32),
    )
    def test_a_stored_lucky_split_presplits_to_exactly_its_total(
        self, total: int, shares: int, seed: int
    ) -> None:
        stored = {"kind": "lucky_split", "total_fen": total, "shares": shares}
        try:
            campaigns_domain.rule_from_dict(dict(stored))
        except InvalidRewardRule:
            assert total < shares  # the only way a stored lucky split is refused here
            return
        plan = domain.reward_plan(stored)
        assert isinstance(plan, PoolPlan)
        split = presplit(plan.pool, SeededRandomSource(seed))
        assert sum(split) == total
        assert len(split) == shares
        assert min(split) >= 1


class TestDrawRecord:
    def test_a_tier_record_audits_and_a_tampered_one_does_not(self) -> None:
        plan = domain.reward_plan(TIERS)
        assert isinstance(plan, TierPlan)
        for seed in range(50):
            record = domain.tier_record(
                draw_prize(plan.rule, "浙江/杭州", SeededRandomSource(seed))
            )
            assert audit_draw(plan.rule, record.as_prize_draw()) == []
        won = next(
            domain.tier_record(draw_prize(plan.rule, None, SeededRandomSource(s)))
            for s in range(10_000)
            if draw_prize(plan.rule, None, SeededRandomSource(s)).amount_fen == 888
        )
        forged = replace(won, random_value=999_999)  # lands in 谢谢参与, not 一等奖
        assert audit_draw(plan.rule, forged.as_prize_draw()) != []

    def test_unpaid_keeps_the_drawn_tier_and_awards_nothing(self) -> None:
        record = domain.fixed_record(Fen(188), "h", "浙江")
        unpaid = record.unpaid()
        assert (unpaid.drawn_fen, unpaid.amount_fen, unpaid.outcome) == (
            188,
            0,
            DrawOutcome.budget_exhausted,
        )
        none = domain.none_record("h", None)
        assert none.unpaid() is none

    def test_pool_hash_covers_the_share_vector(self) -> None:
        pool = LuckySplit(Fen(1_000), 10)
        shares = list(presplit(pool, SeededRandomSource(1)))
        assert domain.pool_hash(pool, shares) == domain.pool_hash(pool, list(shares))
        swapped = [shares[1], shares[0], *shares[2:]]
        if swapped != shares:
            assert domain.pool_hash(pool, swapped) != domain.pool_hash(pool, shares)


class TestAnswer:
    def test_the_anti_counterfeit_answer_is_in_beijing_time_with_the_city(self) -> None:
        first = datetime(2026, 11, 20, 6, 3, tzinfo=UTC)  # 14:03 in Beijing
        text = domain.answer_text(ScanTally(3, first, "浙江/杭州"))
        assert text == "此码已被扫描 3 次，首次扫描于 2026-11-20 14:03（杭州）"
        assert domain.answer_text(ScanTally(2, first, None)).endswith("14:03")
        assert domain.answer_text(ScanTally(1, None, None)) == "此码已被扫描 1 次"


class TestRegions:
    @pytest.mark.parametrize(
        ("batch", "scan", "cross"),
        [
            ("浙江/杭州", "浙江/杭州", False),
            ("浙江/杭州", "浙江", False),
            ("浙江", "浙江/宁波", False),
            ("浙江/杭州", "浙江/宁波", True),
            ("浙江/杭州", "广东/深圳", True),
            ("浙江/杭州", None, False),
            (None, "广东/深圳", False),
        ],
    )
    def test_cross_region_needs_two_known_different_places(
        self, batch: str | None, scan: str | None, cross: bool
    ) -> None:
        assert domain.is_cross_region(batch, scan) is cross

    def test_the_longest_matching_network_wins(self) -> None:
        resolver = CidrRegionResolver(
            {"10.0.0.0/8": "浙江", "10.1.0.0/16": "浙江/杭州", "2001:db8::/32": "北京"}
        )
        assert resolver.region_of("10.1.2.3") == "浙江/杭州"
        assert resolver.region_of("10.2.2.3") == "浙江"
        assert resolver.region_of("::ffff:10.1.0.9") == "浙江/杭州"
        assert resolver.region_of("2001:db8::1") == "北京"
        assert resolver.region_of("8.8.8.8") is None
        assert resolver.region_of("not-an-ip") is None
        assert resolver.region_of(None) is None


class TestGuessKeys:
    policy = GuessPolicy(
        window_seconds=600,
        openid=Limit(5, 20),
        device=Limit(6, 21),
        ip=Limit(30, 200),
        storm_per_minute=100,
    )

    def test_each_known_dimension_has_a_window_and_a_day_counter(self) -> None:
        keys = domain.guess_keys(self.policy, Client("o_abc_123", "dev1", "1.2.3.4"))
        assert [(k.key, k.limit, k.window_seconds) for k in keys] == [
            ("scans:guess:openid:o_abc_123:w", 5, 600),
            ("scans:guess:openid:o_abc_123:d", 20, 86_400),
            ("scans:guess:device:dev1:w", 6, 600),
            ("scans:guess:device:dev1:d", 21, 86_400),
            ("scans:guess:ip:1.2.3.4:w", 30, 600),
            ("scans:guess:ip:1.2.3.4:d", 200, 86_400),
        ]
        assert len(domain.guess_keys(self.policy, Client(None, None, "1.2.3.4"))) == 2

    def test_the_hourly_invalid_counter_is_keyed_by_beijing_hour(self) -> None:
        at = datetime(2026, 11, 23, 16, 59, tzinfo=UTC)  # 00:59 next day in Beijing
        assert domain.invalid_hour_key(at) == "scans:invalid:2026112400"
        assert domain.storm_key(at) == "scans:storm:202611240059"


class TestCampaignWindow:
    def test_only_a_live_campaign_inside_its_window_is_open(self) -> None:
        start = datetime(2026, 11, 1, tzinfo=UTC)
        end = datetime(2026, 12, 1, tzinfo=UTC)
        inside = datetime(2026, 11, 15, tzinfo=UTC)
        assert domain.campaign_open("live", start, end, inside)
        assert not domain.campaign_open("paused", start, end, inside)
        assert not domain.campaign_open("live", start, end, end)
        assert not domain.campaign_open("live", start, end, datetime(2026, 10, 31, tzinfo=UTC))
