"""Lucky-split and fixed pools: Σ exact, bounds, N shares, fairness by position."""

from __future__ import annotations

import itertools
import math
import statistics
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jinli.kernel.errors import ErrorKind
from jinli.kernel.money import Fen
from jinli.rewards import domain
from jinli.rewards.domain import (
    MAX_POOL_FEN,
    MAX_PRIZE_FEN,
    MAX_SHARES,
    FixedPool,
    LuckySplit,
    RandomSource,
    SeededRandomSource,
    SplitAlgorithm,
    check_pool,
    pool_from_dict,
    presplit,
    random_below,
    shuffle_in_place,
    split_in_order,
)
from jinli.rewards.errors import InvalidSplit, SplitInfeasible, SplitInvariantBroken

ALGORITHMS = list(SplitAlgorithm)


@st.composite
def lucky_splits(draw: st.DrawFn) -> LuckySplit:
    """Any valid rule: N shares, a minimum, an optional cap, and a total they can hold."""
    shares = draw(st.integers(1, 300))
    low = draw(st.integers(1, 2_000))
    high = draw(st.none() | st.integers(low, low + 5_000))
    top = shares * (low + 100_000) if high is None else shares * high
    total = draw(st.integers(shares * low, top))
    return LuckySplit(
        Fen(total),
        shares,
        draw(st.sampled_from(ALGORITHMS)),
        Fen(low),
        None if high is None else Fen(high),
        draw(st.integers(1, 200)),
    )


@settings(max_examples=400)
@given(rule=lucky_splits(), seed=st.integers(0, 2**32))
def test_every_valid_split_conserves_money_and_respects_bounds(rule: LuckySplit, seed: int) -> None:
    """Σ shares == total exactly, N shares, each within [min, max], for every valid rule."""
    shares = presplit(rule, SeededRandomSource(seed))
    assert len(shares) == rule.shares
    assert sum(shares) == rule.total_fen
    assert min(shares) >= rule.min_fen
    if rule.max_fen is not None:
        assert max(shares) <= rule.max_fen
    assert all(type(s) is int for s in shares)


@given(rule=lucky_splits(), seed=st.integers(0, 2**32))
def test_the_unshuffled_order_holds_the_same_shares(rule: LuckySplit, seed: int) -> None:
    """The shuffle only reorders: the multiset of shares is the algorithm's."""
    in_order = split_in_order(rule, SeededRandomSource(seed))
    check_pool(rule, in_order)
    shuffled = list(in_order)
    shuffle_in_place(shuffled, SeededRandomSource(seed + 1))
    assert sorted(shuffled) == sorted(in_order)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_edge_pools(algorithm: SplitAlgorithm) -> None:
    assert presplit(LuckySplit(Fen(777), 1, algorithm)) == (777,)
    assert presplit(LuckySplit(Fen(500), 100, algorithm, Fen(5))) == (5,) * 100
    assert presplit(LuckySplit(Fen(2_000), 10, algorithm, Fen(1), Fen(200))) == (200,) * 10
    full = presplit(LuckySplit(Fen(MAX_PRIZE_FEN * 1_000), 1_000, algorithm))
    assert full == (MAX_PRIZE_FEN,) * 1_000  # without max_fen a share is still ≤ 20,000 yuan
    big = presplit(LuckySplit(Fen(10**9), 1_000, algorithm))
    assert sum(big) == 10**9
    assert max(big) <= MAX_PRIZE_FEN


@given(amount=st.integers(1, 20_000_00), shares=st.integers(1, 2_000))
def test_a_fixed_pool_is_n_equal_shares(amount: int, shares: int) -> None:
    pool = FixedPool(Fen(amount), shares)
    assert pool.total_fen == amount * shares
    assert presplit(pool) == (amount,) * shares


@pytest.mark.parametrize(
    ("total", "shares", "low", "high"),
    [
        (99, 100, 1, None),
        (999, 10, 100, None),
        (2_001, 10, 1, 200),
        (1, 2, 1, 1),
        (20_000_01, 1, 1, None),
    ],
)
def test_infeasible_totals_are_clear_errors(
    total: int, shares: int, low: int, high: int | None
) -> None:
    with pytest.raises(SplitInfeasible) as caught:
        LuckySplit(
            Fen(total), shares, min_fen=Fen(low), max_fen=None if high is None else Fen(high)
        )
    assert caught.value.code == "split_infeasible"
    assert caught.value.kind is ErrorKind.INVALID
    assert isinstance(caught.value, InvalidSplit)
    assert caught.value.extra == {"total_fen": total, "shares": shares}


@pytest.mark.parametrize(
    "fields",
    [
        {"total_fen": 0, "shares": 1},
        {"total_fen": -5, "shares": 1},
        {"total_fen": 1.5, "shares": 1},
        {"total_fen": True, "shares": 1},
        {"total_fen": MAX_POOL_FEN + 1, "shares": 1},
        {"total_fen": 100, "shares": 0},
        {"total_fen": 100, "shares": 2.0},
        {"total_fen": MAX_POOL_FEN, "shares": MAX_SHARES + 1},
        {"total_fen": 100, "shares": 2, "min_fen": 0},
        {"total_fen": 100, "shares": 2, "min_fen": 10, "max_fen": 9},
        {"total_fen": 100, "shares": 2, "algorithm": "naive"},
        {"total_fen": 100, "shares": 2, "spread_pct": 0},
    ],
)
def test_invalid_rules_are_clear_errors(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidSplit) as caught:
        LuckySplit(**fields)  # type: ignore[arg-type]  # deliberately wrong
    assert caught.value.code in {"invalid_split", "split_infeasible"}


@pytest.mark.parametrize("fields", [{"amount_fen": 0, "shares": 1}, {"amount_fen": 1, "shares": 0}])
def test_invalid_fixed_pools_are_clear_errors(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidSplit):
        FixedPool(**fields)  # type: ignore[arg-type]  # deliberately wrong


def test_pools_round_trip_through_their_stored_form() -> None:
    lucky = LuckySplit(Fen(20_000), 100, SplitAlgorithm.bounded_normal, Fen(40), Fen(600), 50)
    fixed = FixedPool(Fen(188), 50)
    assert pool_from_dict(lucky.to_dict()) == lucky
    assert pool_from_dict(fixed.to_dict()) == fixed
    renamed = pool_from_dict({**lucky.to_dict(), "algorithm": "line_segment"})
    assert isinstance(renamed, LuckySplit)
    assert renamed.algorithm is SplitAlgorithm.line_segment
    bad: object
    for bad in ({"kind": "naive"}, {"kind": "fixed_pool", "amount": 1}, [], {"shares": 1}):
        with pytest.raises(InvalidSplit):
            pool_from_dict(bad)


# --- the algorithms themselves ----------------------------------------------------------------


def test_line_segment_is_uniform_over_compositions() -> None:
    """T = 5 in 3 shares ≥ 1 has C(4, 2) = 6 compositions (Floyd's path); T = 12 in 2 shares has
    11 (the sparse path). 30,000 seeded splits each: every composition within 5 σ of fair."""
    rng = SeededRandomSource(11)
    for total, shares, expected in [(5, 3, 6), (12, 2, 11)]:
        rule = LuckySplit(Fen(total), shares, SplitAlgorithm.line_segment)
        n = 30_000
        seen = Counter(tuple(split_in_order(rule, rng)) for _ in range(n))
        assert len(seen) == expected
        p = 1 / expected
        sd = (n * p * (1 - p)) ** 0.5
        assert all(abs(count - n * p) < 5 * sd for count in seen.values()), seen


def test_double_mean_draws_each_share_up_to_twice_the_remaining_mean() -> None:
    """The first share of ¥100 / 10 is uniform in [1, 19.99 yuan]: its mean is the fair share."""
    rng = SeededRandomSource(3)
    rule = LuckySplit(Fen(10_000), 10)
    firsts = [split_in_order(rule, rng)[0] for _ in range(20_000)]
    assert min(firsts) >= 1
    assert max(firsts) <= 1_999
    assert abs(statistics.fmean(firsts) - 1_000) < 15  # sd of the mean ≈ 577/√20000 ≈ 4


def test_the_spread_is_ordered_as_documented() -> None:
    """CV: bounded normal (0.6 requested) < double-mean (≈ 0.58 early, higher late) <
    line-segment (≈ 1)."""
    rng = SeededRandomSource(5)

    def cv(algorithm: SplitAlgorithm) -> float:
        values = [
            s for _ in range(500) for s in presplit(LuckySplit(Fen(10_000), 10, algorithm), rng)
        ]
        return statistics.pstdev(values) / statistics.fmean(values)

    normal, double, line = (
        cv(a)
        for a in (
            SplitAlgorithm.bounded_normal,
            SplitAlgorithm.double_mean,
            SplitAlgorithm.line_segment,
        )
    )
    assert normal < line
    assert double < line
    assert 0.85 < line < 1.0


def test_a_capped_line_segment_that_cannot_settle_pours_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no spreading rounds at all, the excess over the cap is still placed exactly."""
    monkeypatch.setattr(domain, "_SPREAD_ROUNDS", 0)
    rule = LuckySplit(Fen(5_900), 10, SplitAlgorithm.line_segment, Fen(1), Fen(600))
    for seed in range(50):
        check_pool(rule, split_in_order(rule, SeededRandomSource(seed)))


@pytest.mark.parametrize(
    "broken",
    [
        [100] * 9 + [99],  # Σ off by one fen
        [100] * 8 + [150, 50, 100],  # eleven shares
        [0] + [125] * 8 + [0],  # below the minimum
        [151] + [94] * 8 + [97],  # above the cap
    ],
)
def test_a_broken_algorithm_is_never_published(
    monkeypatch: pytest.MonkeyPatch, broken: list[int]
) -> None:
    rule = LuckySplit(Fen(1_000), 10, max_fen=Fen(150))
    monkeypatch.setitem(domain._ALGORITHMS, SplitAlgorithm.double_mean, lambda r, g: list(broken))
    with pytest.raises(SplitInvariantBroken) as caught:
        presplit(rule)
    assert caught.value.kind is ErrorKind.UNAVAILABLE


# --- shuffle and fairness by position -----------------------------------------------------------


class Words:
    def __init__(self, *words: int) -> None:
        self._words = list(words)

    def words(self, count: int) -> list[int]:
        out, self._words = self._words[:count], self._words[count:]
        return out


def test_fisher_yates_uses_one_word_per_position_and_rejects_biased_words() -> None:
    items = ["a", "b", "c"]
    # i = 2: 7 % 3 = 1 → swap c and b; i = 1: 2**64 − 1 is in 2's complete blocks (2 | 2**64)
    # → 1 → stay.
    shuffle_in_place(items, Words(7, 2**64 - 1))
    assert items == ["a", "c", "b"]
    items = ["a", "b", "c"]
    # The two words come in one call. i = 2: 2**64 − 1 is in the incomplete block of 3, so a
    # third word is drawn: 3 → 0 → swap c and a; i = 1: 1 % 2 = 1 → stay.
    shuffle_in_place(items, Words(2**64 - 1, 1, 3))
    assert items == ["c", "b", "a"]


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 7])
def test_the_words_map_one_to_one_onto_the_permutations(n: int) -> None:
    """Exhaustively: the reduced words (one per position i, uniform in [0, i]) and the
    permutations correspond one to one (n! of each), so uniform words give every permutation
    with probability 1/n!."""
    sequences = list(itertools.product(*(range(i + 1) for i in range(n - 1, 0, -1))))
    assert len(sequences) == math.factorial(n)
    seen = set()
    for words in sequences:
        items = list(range(n))
        shuffle_in_place(items, Words(*words))
        seen.add(tuple(items))
    assert seen == set(itertools.permutations(range(n)))


@settings(max_examples=300)
@given(items=st.lists(st.integers(-(10**12), 10**12), max_size=200), seed=st.integers(0, 2**32))
def test_a_shuffle_is_a_permutation(items: list[int], seed: int) -> None:
    """Whatever the length: the same items, Σ unchanged, reproducible from the seed."""
    once, twice = list(items), list(items)
    shuffle_in_place(once, SeededRandomSource(seed))
    shuffle_in_place(twice, SeededRandomSource(seed))
    assert once == twice
    assert sorted(once) == sorted(items)
    assert sum(once) == sum(items)


def test_every_permutation_is_equally_likely() -> None:
    rng = SeededRandomSource(17)
    n = 60_000
    seen: Counter[tuple[int, ...]] = Counter()
    for _ in range(n):
        items = [0, 1, 2, 3]
        shuffle_in_place(items, rng)
        seen[tuple(items)] += 1
    assert set(seen) == set(itertools.permutations(range(4)))
    p = 1 / 24
    sd = (n * p * (1 - p)) ** 0.5
    assert all(abs(count - n * p) < 5 * sd for count in seen.values())


def _best_positions(packets: list[list[int]], ties: RandomSource) -> Counter[int]:
    """Which position got the largest share in each packet; ties broken uniformly at random
    so that an exchangeable split gives every position 1/n exactly."""
    best: Counter[int] = Counter()
    for shares in packets:
        top = max(shares)
        tied = [i for i, s in enumerate(shares) if s == top]
        best[tied[random_below(ties, len(tied))]] += 1
    return best


def _chi_square(counts: Counter[int], positions: int, packets: int) -> float:
    expected = packets / positions
    return sum((counts[i] - expected) ** 2 / expected for i in range(positions))


CHI2_19_P01 = 36.191
"""χ² critical value for 19 degrees of freedom at p = 0.01."""


def test_the_publish_shuffle_makes_double_mean_fair_by_position() -> None:
    """Double-mean in grab order gives the last grabber the best share ~1.8× too often at
    n = 20; after the publish-time shuffle P(best) by position passes a χ² test at p = 0.01
    and every position's mean is within 3 % of the fair share (seeded, so deterministic)."""
    rng, ties = SeededRandomSource(2027), SeededRandomSource(1)
    rule = LuckySplit(Fen(2_000), 20)
    packets = 5_000
    raw = [split_in_order(rule, rng) for _ in range(packets)]
    fair: list[list[int]] = [list(presplit(rule, rng)) for _ in range(packets)]
    raw_best, fair_best = _best_positions(raw, ties), _best_positions(fair, ties)
    assert raw_best[19] / packets * 20 > 1.5
    assert _chi_square(raw_best, 20, packets) > CHI2_19_P01
    assert _chi_square(fair_best, 20, packets) < CHI2_19_P01
    for position in range(20):
        mean = statistics.fmean(p[position] for p in fair)
        assert abs(mean / 100 - 1) < 0.03, position
