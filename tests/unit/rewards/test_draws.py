"""Prize-tier draws: exact odds, regional tables, the audit record, the budget check."""

from __future__ import annotations

import json
import math
from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jinli.campaigns.domain import PrizeTiers, Tier
from jinli.kernel.errors import ErrorKind
from jinli.kernel.money import Fen
from jinli.rewards.domain import (
    DRAW_ALGORITHM,
    MAX_PRIZE_FEN,
    PPM,
    SYSTEM_RANDOM,
    THANKS_LABEL,
    Draw,
    DrawOutcome,
    PrizeRule,
    PrizeTable,
    PrizeTier,
    SeededRandomSource,
    audit_draw,
    check_budget,
    draw_prize,
    expected_cost_fen,
    random_below,
    replay_draw,
    require_budget,
)
from jinli.rewards.errors import BudgetTooSmall, InvalidPrizeTable


class Words:
    """A source that hands out the given words, in order (to hit exact code paths)."""

    def __init__(self, *words: int) -> None:
        self._words = list(words)

    def words(self, count: int) -> list[int]:
        out, self._words = self._words[:count], self._words[count:]
        assert len(out) == count, "the test gave too few words"
        return out


def bottle_cap() -> PrizeTable:
    """The seeds' example: 1 % ¥8.88, 10 % ¥1.88, the rest thanks for taking part."""
    return PrizeTable.of(
        [PrizeTier("一等奖", Fen(888), 10_000), PrizeTier("二等奖", Fen(188), 100_000)]
    )


def rule_with_regions() -> PrizeRule:
    return PrizeRule.of(
        bottle_cap(),
        {
            "浙江": PrizeTable.of([PrizeTier("一等奖", Fen(1888), 20_000)]),
            "浙江/宁波": PrizeTable.of([PrizeTier("特等奖", Fen(8888), 1_000)]),
        },
    )


# --- tables -------------------------------------------------------------------------------


def test_of_adds_the_thanks_tier_with_the_remaining_odds() -> None:
    table = bottle_cap()
    assert [t.label for t in table.tiers] == ["一等奖", "二等奖", THANKS_LABEL]
    assert table.tiers[-1] == PrizeTier(THANKS_LABEL, Fen(0), 890_000)
    assert sum(t.probability_ppm for t in table.tiers) == PPM
    assert table.win_ppm == 110_000
    assert table.max_prize_fen == 888


def test_complete_odds_need_no_thanks_tier_and_zero_fen_tiers_are_allowed() -> None:
    table = PrizeTable.of(
        [PrizeTier("红包", Fen(100), 400_000), PrizeTier("再来一瓶", Fen(0), 600_000)]
    )
    assert len(table.tiers) == 2
    assert table.win_ppm == 400_000


def test_expected_cost_is_an_exact_fraction() -> None:
    """1 % × 888 + 10 % × 188 = 27.68 fen per draw, with no float anywhere."""
    table = bottle_cap()
    assert table.expected_fen_per_draw == Fraction(2768, 100)
    assert table.expected_ppm_fen == 27_680_000
    assert expected_cost_fen(PrizeRule.of(table), 1_000_000) == 27_680_000


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [PrizeTier("a", Fen(1), 600_000), PrizeTier("b", Fen(1), 400_001)],  # > 100 %
        [PrizeTier("a", Fen(1), 1), PrizeTier("a", Fen(2), 1)],  # duplicate label
        [PrizeTier(THANKS_LABEL, Fen(1), 1)],  # clashes with the implicit thanks tier
        [PrizeTier(str(i), Fen(1), 1) for i in range(20)],  # 21 tiers with the thanks tier
    ],
)
def test_bad_tables_are_refused(tiers: list[PrizeTier]) -> None:
    with pytest.raises(InvalidPrizeTable) as caught:
        PrizeTable.of(tiers)
    assert caught.value.code == "invalid_prize_table"
    assert caught.value.kind is ErrorKind.INVALID


@pytest.mark.parametrize(
    ("label", "amount", "ppm"),
    [
        ("", 1, 1),
        (" a", 1, 1),
        ("x" * 33, 1, 1),
        (3, 1, 1),
        ("a", -1, 1),
        ("a", MAX_PRIZE_FEN + 1, 1),
        ("a", 1.5, 1),
        ("a", True, 1),
        ("a", 1, 0),
        ("a", 1, PPM + 1),
        ("a", 1, 0.5),
        ("a", 1, True),
    ],
)
def test_bad_tiers_are_refused(label: object, amount: object, ppm: object) -> None:
    with pytest.raises(InvalidPrizeTable):
        PrizeTier(label, amount, ppm)  # type: ignore[arg-type]  # deliberately wrong


def test_a_table_built_directly_must_have_complete_odds() -> None:
    with pytest.raises(InvalidPrizeTable, match="add up to"):
        PrizeTable((PrizeTier("a", Fen(1), 10),))


def test_stored_form_round_trips_and_is_strict() -> None:
    rule = rule_with_regions()
    assert PrizeRule.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule
    with pytest.raises(InvalidPrizeTable):
        PrizeRule.from_dict({"default": [{"label": "a", "amount_fen": 1}]})
    with pytest.raises(InvalidPrizeTable):
        PrizeRule.from_dict({"default": [], "extra": 1})
    with pytest.raises(InvalidPrizeTable):
        PrizeRule.from_dict({"default": "x"})
    with pytest.raises(InvalidPrizeTable):
        PrizeRule.from_dict({"default": bottle_cap().to_list(), "regions": ["浙江"]})


def test_the_campaigns_prize_tiers_rule_converts() -> None:
    rule = PrizeTiers(tiers=(Tier(Fen(888), 10_000, "一等奖"), Tier(Fen(188), 100_000)))
    table = PrizeTable.from_campaign_tiers(rule)
    assert [t.label for t in table.tiers] == ["一等奖", "¥1.88", THANKS_LABEL]
    assert table.expected_fen_per_draw == Fraction(
        rule.expected_cost_fen_per_draw()
    ).limit_denominator(PPM)


# --- exact odds -----------------------------------------------------------------------------

TABLES = st.lists(
    st.tuples(st.integers(0, MAX_PRIZE_FEN), st.integers(1, 200_000)), min_size=1, max_size=8
).map(
    lambda rows: (
        PrizeTable.of(PrizeTier(f"t{i}", Fen(amount), ppm) for i, (amount, ppm) in enumerate(rows))
        if sum(ppm for _, ppm in rows) <= PPM
        else PrizeTable.of([PrizeTier("t0", Fen(rows[0][0]), rows[0][1])])
    )
)


@given(table=TABLES)
def test_each_tier_owns_exactly_its_ppm_of_the_random_values(table: PrizeTable) -> None:
    """With u uniform in [0, 10⁶), tier i is drawn for exactly ppm_i values of u: the first
    and last value of its interval map to it, and the intervals tile [0, 10⁶)."""
    start = 0
    for index, tier in enumerate(table.tiers):
        end = start + tier.probability_ppm
        assert table.tier_at(start) == index
        assert table.tier_at(end - 1) == index
        start = end
    assert start == PPM


@pytest.mark.parametrize("value", [-1, PPM, 2**64, 1.0, True])
def test_random_values_outside_the_range_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="random value"):
        bottle_cap().tier_at(value)  # type: ignore[arg-type]  # deliberately wrong


def test_random_below_rejects_the_incomplete_last_block() -> None:
    """2**64 = 3·q + 1, so the word 2**64 − 1 would make 0 slightly likelier: it is redrawn."""
    assert random_below(Words(2**64 - 1, 5), 3) == 2
    assert random_below(Words(2**64 - 2), 3) == (2**64 - 2) % 3
    # 2 divides 2**64: its last block [2**64 − 2, 2**64) is complete, nothing is redrawn.
    assert random_below(Words(2**64 - 2), 2) == 0
    assert random_below(Words(2**64 - 1), 2) == 1
    with pytest.raises(ValueError, match="bound"):
        random_below(SYSTEM_RANDOM, 0)


def test_draw_frequencies_match_the_odds() -> None:
    """200,000 seeded draws: every tier within 5 standard deviations of its expected count
    (deterministic; a wrong interval mapping is off by far more)."""
    rule = PrizeRule.of(bottle_cap())
    rng = SeededRandomSource(2026)
    n = 200_000
    counts = Counter(draw_prize(rule, None, rng).tier_label for _ in range(n))
    for tier in rule.default.tiers:
        p = tier.probability_ppm / PPM
        assert abs(counts[tier.label] - n * p) < 5 * math.sqrt(n * p * (1 - p)), tier.label


def test_the_system_source_gives_independent_64_bit_words() -> None:
    words = SYSTEM_RANDOM.words(1000)
    assert len(words) == 1000
    assert all(0 <= w < 2**64 for w in words)
    assert len(set(words)) == 1000
    assert SYSTEM_RANDOM.words(0) == []
    assert SeededRandomSource(1).words(3) == SeededRandomSource(1).words(3)


# --- regions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "table_region", "top_label"),
    [
        ("浙江/宁波", "浙江/宁波", "特等奖"),
        ("浙江/宁波/北仑", "浙江/宁波", "特等奖"),
        ("浙江/杭州", "浙江", "一等奖"),
        ("浙江", "浙江", "一等奖"),
        ("江苏", None, "一等奖"),
        ("浙", None, "一等奖"),
        (None, None, "一等奖"),
    ],
)
def test_a_scan_uses_the_most_specific_regional_table(
    region: str | None, table_region: str | None, top_label: str
) -> None:
    rule = rule_with_regions()
    used, table = rule.table_for(region)
    assert used == table_region
    assert table.tiers[0].label == top_label
    assert table is (rule.default if used is None else dict(rule.regions)[used])


@pytest.mark.parametrize("region", ["", " 浙江", "浙江/", "/浙江", "浙江//杭州", "x" * 65, 5])
def test_bad_region_names_are_refused(region: object) -> None:
    with pytest.raises(InvalidPrizeTable):
        PrizeRule(bottle_cap(), ((region, bottle_cap()),))  # type: ignore[arg-type]  # wrong


def test_a_region_cannot_have_two_tables() -> None:
    with pytest.raises(InvalidPrizeTable, match="two tables"):
        PrizeRule(bottle_cap(), (("浙江", bottle_cap()), ("浙江", bottle_cap())))


def test_the_rule_hash_is_canonical_and_covers_every_figure() -> None:
    a = rule_with_regions()
    b = PrizeRule(a.default, tuple(reversed(a.regions)))
    assert a == b
    assert a.rule_hash == b.rule_hash
    assert len(a.rule_hash) == 64
    changed = PrizeRule.of(
        PrizeTable.of(
            [PrizeTier("一等奖", Fen(889), 10_000), PrizeTier("二等奖", Fen(188), 100_000)]
        ),
        dict(a.regions),
    )
    assert changed.rule_hash != a.rule_hash
    assert PrizeRule.of(a.default).rule_hash != a.rule_hash


# --- draws and their audit -------------------------------------------------------------------


def test_a_draw_records_everything_needed_to_replay_it() -> None:
    rule = rule_with_regions()
    draw = draw_prize(rule, "浙江/宁波/北仑", SeededRandomSource(7))
    assert draw.algorithm == DRAW_ALGORITHM
    assert draw.rule_hash == rule.rule_hash
    assert draw.region == "浙江/宁波/北仑"
    assert draw.table_region == "浙江/宁波"
    assert 0 <= draw.random_value < PPM
    assert replay_draw(rule, draw.region, draw.random_value) == draw
    assert audit_draw(rule, draw) == []
    assert Draw.from_dict(json.loads(json.dumps(draw.to_dict()))) == draw


def test_a_winning_value_pays_its_tier() -> None:
    rule = PrizeRule.of(bottle_cap())
    won = replay_draw(rule, None, 0)
    assert (won.tier_label, won.drawn_fen, won.amount_fen, won.outcome) == (
        "一等奖",
        888,
        888,
        DrawOutcome.won,
    )
    second = replay_draw(rule, None, 10_000)
    assert (second.tier_label, second.amount_fen) == ("二等奖", 188)
    thanks = replay_draw(rule, None, 110_000)
    assert (thanks.tier_label, thanks.amount_fen, thanks.outcome) == (
        THANKS_LABEL,
        0,
        DrawOutcome.no_prize,
    )


def test_a_prize_the_budget_cannot_pay_is_recorded_but_not_awarded() -> None:
    rule = PrizeRule.of(bottle_cap())
    short = replay_draw(rule, None, 0, available_fen=887)
    assert short.outcome is DrawOutcome.budget_exhausted
    assert (short.tier_label, short.drawn_fen, short.amount_fen) == ("一等奖", 888, 0)
    assert audit_draw(rule, short) == []
    assert replay_draw(rule, None, 0, available_fen=888).outcome is DrawOutcome.won
    small = replay_draw(rule, None, 10_000, available_fen=500)
    assert (small.outcome, small.amount_fen) == (DrawOutcome.won, 188)
    thanks = replay_draw(rule, None, 999_999, available_fen=0)
    assert thanks.outcome is DrawOutcome.no_prize
    assert thanks.unpaid_for_budget() == thanks
    # The ledger path: the reservation failed after the draw.
    assert replay_draw(rule, None, 0).unpaid_for_budget() == short


def _tampered(draw: Draw, **changes: object) -> Draw:
    return Draw.from_dict(draw.to_dict() | changes)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"amount_fen": 8888}, "awards 8888 fen"),
        ({"tier_index": 1}, "tier_index"),
        ({"tier_label": "二等奖"}, "tier_label"),
        ({"drawn_fen": 188}, "drawn_fen"),
        ({"random_value": 500_000}, "tier_index"),
        ({"region": "浙江"}, "table_region"),
        ({"rule_hash": "0" * 64}, "another rule"),
        ({"outcome": "no_prize"}, "awards"),
        ({"outcome": "budget_exhausted"}, "pays 0 fen"),
        ({"random_value": PPM}, "random value"),
        ({"algorithm": "v0"}, "unknown draw algorithm"),
    ],
)
def test_the_audit_catches_an_altered_record(changes: dict[str, object], problem: str) -> None:
    rule = rule_with_regions()
    draw = replay_draw(rule, "江苏", 5)
    assert draw.outcome is DrawOutcome.won
    problems = audit_draw(rule, _tampered(draw, **changes))
    assert any(problem in p for p in problems), problems


def test_the_audit_catches_a_draw_from_another_rule() -> None:
    draw = replay_draw(rule_with_regions(), "浙江", 15_000)
    assert draw.tier_label == "一等奖"
    assert audit_draw(PrizeRule.of(bottle_cap()), draw) != []


# --- the budget check -------------------------------------------------------------------------


def test_budget_check_figures_for_a_million_bottle_caps() -> None:
    """E = 27.68 fen/draw; Var = 0.01·888² + 0.1·188² − 27.68² = 10 653.6576 fen²; so for
    10⁶ draws: expected 27 680 000, margin 5 % = 1 384 000, luck 3·√(10⁶·Var) = 309 649.67 →
    309 650 fen (every figure rounded up)."""
    rule = PrizeRule.of(bottle_cap())
    check = check_budget(rule, 1_000_000, 30_000_000)
    assert check.expected_fen == 27_680_000
    assert check.margin_fen == 1_384_000
    var = Fraction(888**2, 100) + Fraction(188**2, 10) - Fraction(2768, 100) ** 2
    assert var == Fraction(106_536_576, 10_000)
    assert check.luck_fen == math.ceil(3 * math.sqrt(1_000_000 * var)) == 309_650
    assert check.required_fen == 27_680_000 + 1_384_000 + 309_650
    assert check.ok
    assert check.headroom_fen == 30_000_000 - check.required_fen
    assert check.max_prize_fen == 888


def test_the_budget_boundary_is_exact() -> None:
    rule = PrizeRule.of(bottle_cap())
    need = check_budget(rule, 1_000, 0, margin_bp=0, sigmas=0).required_fen
    assert need == 27_680
    require_budget(rule, 1_000, need, margin_bp=0, sigmas=0)
    with pytest.raises(BudgetTooSmall) as caught:
        require_budget(rule, 1_000, need - 1, margin_bp=0, sigmas=0)
    assert caught.value.code == "reward_budget_too_small"
    assert caught.value.kind is ErrorKind.CONFLICT
    assert caught.value.extra["required_fen"] == need


def test_a_regional_plan_adds_each_regions_cost_and_variance() -> None:
    rule = rule_with_regions()
    plan = {"浙江/杭州": 1000, "浙江/宁波": 2000, None: 3000}
    check = check_budget(rule, plan, 10**9, margin_bp=0, sigmas=0)
    # 浙江: 2 % × 1888 = 37.76; 宁波: 0.1 % × 8888 = 8.888; default 27.68
    assert check.expected_fen == math.ceil(1000 * 37.76 + 2000 * 8.888 + 3000 * 27.68)
    assert check.planned_draws == 6000
    assert expected_cost_fen(rule, plan) == Fraction(37760 + 17776 + 83040)
    assert check_budget(rule, {}, 0).required_fen == 0
    with pytest.raises(InvalidPrizeTable):
        check_budget(rule, {None: -1}, 0)
    with pytest.raises(InvalidPrizeTable):
        check_budget(rule, True, 0)
    with pytest.raises(InvalidPrizeTable):
        check_budget(rule, 1, -1)
    with pytest.raises(InvalidPrizeTable):
        check_budget(rule, 1, 1, margin_bp=-1)
    with pytest.raises(InvalidPrizeTable):
        check_budget(rule, 1, 1, sigmas=11)


@given(
    table=TABLES, draws=st.integers(0, 10**7), margin=st.integers(0, 5000), sigmas=st.integers(0, 5)
)
def test_the_requirement_never_falls_below_the_exact_expected_cost(
    table: PrizeTable, draws: int, margin: int, sigmas: int
) -> None:
    rule = PrizeRule.of(table)
    check = check_budget(rule, draws, 0, margin_bp=margin, sigmas=sigmas)
    exact = expected_cost_fen(rule, draws)
    assert check.expected_fen == math.ceil(exact)
    assert check.required_fen >= exact * (1 + Fraction(margin, 10_000))
    assert check.required_fen <= math.ceil(exact) + math.ceil(exact * Fraction(margin, 10_000)) + (
        math.ceil(sigmas * math.sqrt(draws) * table.max_prize_fen) + 1
    )
