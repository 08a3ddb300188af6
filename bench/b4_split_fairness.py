"""B4 split fairness: lucky-split (拼手气) pools pre-split at publish time and shuffled with the
CSPRNG, against the same splits in the algorithm's own order (what a grab-time split hands out).

Fairness, per rule (double-mean, line-segment, bounded normal with min/max), over 10⁵ packets
of ¥200 in 100 shares (quick: 10⁴): the χ² p-value of "who got the best share" (手气最佳) by
grab position, and the largest deviation of a position's mean share from the fair share. The
split data come from a fixed seed, so the reference is reproducible; the shuffle under test is
the production one (``SYSTEM_RANDOM``, the OS CSPRNG), so its p-value differs from run to run
and is reported as obtained. Ties for the best share are broken uniformly at random (a fixed
seed), so an exchangeable split gives every position exactly 1/n. Targets: p > 0.01, means
within ±2 %, Σ exact and caps held on every packet (the correctness counters).

Publish cost: ``presplit`` (split + shuffle + check) plus one ``RPUSH`` of the shares to Redis,
against a plain ``RPUSH`` of the same list on the same connection, interleaved. Target ≤ 2×.
"""

from __future__ import annotations

import math
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from jinli.kernel.money import Fen
from jinli.rewards.domain import (
    SYSTEM_RANDOM,
    LuckySplit,
    SeededRandomSource,
    SplitAlgorithm,
    check_pool,
    presplit,
    shuffle_in_place,
    split_in_order,
)
from jinli.rewards.errors import SplitInvariantBroken

BENCH_ID = "B4"
REDIS_URL = os.environ.get("JINLI_BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
CHUNK = 5_000

RULES: dict[str, LuckySplit] = {
    "double_mean": LuckySplit(Fen(20_000), 100, SplitAlgorithm.double_mean),
    "line_segment": LuckySplit(Fen(20_000), 100, SplitAlgorithm.line_segment),
    "bounded_normal[40,600]": LuckySplit(
        Fen(20_000), 100, SplitAlgorithm.bounded_normal, Fen(40), Fen(600)
    ),
}


# --- χ² survival function (regularised upper incomplete gamma), so scipy is not needed -------


def _lower_series(a: float, x: float) -> float:
    """P(a, x) by its power series; converges fast for x < a + 1."""
    term = total = 1.0 / a
    n = a
    for _ in range(10_000):
        n += 1.0
        term *= x / n
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _upper_fraction(a: float, x: float) -> float:
    """Q(a, x) by its continued fraction (modified Lentz); converges fast for x ≥ a + 1."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h * math.exp(-x + a * math.log(x) - math.lgamma(a))


def chi2_sf(statistic: float, df: int) -> float:
    """P(χ²_df ≥ statistic): the p-value of a χ² goodness-of-fit statistic."""
    if statistic <= 0:
        return 1.0
    a, x = df / 2.0, statistic / 2.0
    if x < a + 1.0:
        return max(0.0, 1.0 - _lower_series(a, x))
    return _upper_fraction(a, x)


# --- fairness -----------------------------------------------------------------------------------


class Tally:
    """Running statistics of packets by grab position."""

    def __init__(self, rule: LuckySplit, tie_seed: int) -> None:
        self.rule = rule
        self.best = np.zeros(rule.shares, dtype=np.int64)
        self.sums = np.zeros(rule.shares, dtype=np.float64)
        self.packets = 0
        self.sum_mismatches = 0
        self.bound_violations = 0
        self.count_mismatches = 0
        self._ties = np.random.default_rng(tie_seed)

    def add(self, packets: list[list[int]]) -> None:
        rule = self.rule
        self.count_mismatches += sum(len(p) != rule.shares for p in packets)
        shares = np.array(packets, dtype=np.int64)
        self.sum_mismatches += int((shares.sum(axis=1) != rule.total_fen).sum())
        self.bound_violations += int(((shares < rule.min_fen) | (shares > rule.hi_fen)).sum())
        # Integers plus a jitter in [0, 0.5): strict order kept, ties broken uniformly.
        jitter = self._ties.random(shares.shape) * 0.5
        self.best += np.bincount(np.argmax(shares + jitter, axis=1), minlength=rule.shares)
        self.sums += shares.sum(axis=0)
        self.packets += len(packets)

    def report(self) -> dict[str, Any]:
        n = self.rule.shares
        expected = self.packets / n
        statistic = float(((self.best - expected) ** 2 / expected).sum())
        means = self.sums / self.packets / (self.rule.total_fen / n)
        p_best = self.best / self.packets * n
        return {
            "chi2": round(statistic, 2),
            "p_value": chi2_sf(statistic, n - 1),
            "mean_dev_max_pct": round(float(np.abs(means - 1.0).max()) * 100, 3),
            "mean_first_last": [round(float(means[0]), 4), round(float(means[-1]), 4)],
            "p_best_first_last_x_fair": [round(float(p_best[0]), 3), round(float(p_best[-1]), 3)],
            "p_best_max_x_fair": round(float(p_best.max()), 3),
            "errors": self.sum_mismatches + self.bound_violations + self.count_mismatches,
        }


def fairness(name: str, rule: LuckySplit, packets: int, seed: int) -> dict[str, Any]:
    data = SeededRandomSource(seed)
    reference, subject = Tally(rule, seed + 1), Tally(rule, seed + 2)
    invariant_failures = 0
    started = time.perf_counter()
    for start in range(0, packets, CHUNK):
        raw = [split_in_order(rule, data) for _ in range(min(CHUNK, packets - start))]
        reference.add(raw)
        shuffled = []
        for packet in raw:
            packet = list(packet)
            shuffle_in_place(packet, SYSTEM_RANDOM)  # the production CSPRNG
            try:
                check_pool(rule, packet)  # as presplit does before anything is published
            except SplitInvariantBroken:
                invariant_failures += 1
            shuffled.append(packet)
        subject.add(shuffled)
    seconds = time.perf_counter() - started
    sub, ref = subject.report(), reference.report()
    errors = sub.pop("errors") + ref.pop("errors") + invariant_failures
    return {
        "bench": f"B4 split_fairness {name}",
        "subject": sub["p_value"],
        "reference": ref["p_value"],
        "unit": "χ² p-value of P(best share) by position (shuffled vs grab order)",
        "ratio": None,
        "target": 0.01,
        "correct": errors == 0,
        "rounds": [],
        "notes": {
            "met": sub["p_value"] > 0.01 and sub["mean_dev_max_pct"] <= 2.0 and errors == 0,
            "target_means_pct": 2.0,
            "packets": packets,
            "total_fen": rule.total_fen,
            "shares": rule.shares,
            "min_fen": rule.min_fen,
            "max_fen": rule.max_fen,
            "shuffled": sub,
            "grab_order": ref,
            "sum_or_bound_errors": errors,
            "data_seed": seed,
            "ratio_note": "p-values are compared with the target directly; no ratio",
            "seconds": round(seconds, 1),
        },
    }


# --- publish cost -------------------------------------------------------------------------------


def _median_round(fn: Callable[[], None], reset: Callable[[], None], repeat: int) -> float:
    total = 0.0
    for _ in range(repeat):
        reset()
        started = time.perf_counter()
        fn()
        total += time.perf_counter() - started
    return total / repeat


def publish_cost(name: str, rule: LuckySplit, rounds: int, repeat: int) -> dict[str, Any]:
    import redis

    line: dict[str, Any] = {
        "bench": f"B4 publish_cost {name} n={rule.shares}",
        "unit": "ms per publish (presplit + RPUSH vs RPUSH of the same list)",
        "target": 2.0,
    }
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        return line | {
            "subject": None,
            "reference": None,
            "ratio": None,
            "correct": True,
            "rounds": [],
            "notes": {"skipped": f"Redis not reachable at {REDIS_URL}: {exc}"},
        }
    key = f"jinli:bench:b4:{{{uuid.uuid4().hex}}}"
    fixed = list(presplit(rule))

    def reset() -> None:
        client.delete(key)

    def subject() -> None:
        client.rpush(key, *presplit(rule))

    def reference() -> None:
        client.rpush(key, *fixed)

    try:
        for fn in (subject, reference):  # warm-up
            _median_round(fn, reset, 1)
        times: list[dict[str, float]] = []
        for _ in range(rounds):
            s = _median_round(subject, reset, repeat)
            r = _median_round(reference, reset, repeat)
            times.append({"subject": s * 1e3, "reference": r * 1e3})
        reset()
        subject()
        stored = [int(v) for v in client.lrange(key, 0, -1)]
        correct = len(stored) == rule.shares and sum(stored) == rule.total_fen
        reset()
    finally:
        client.close()
    sub = statistics.median(t["subject"] for t in times)
    ref = statistics.median(t["reference"] for t in times)
    # The median of the per-round ratios: each round runs subject and reference back to back,
    # so a burst of load from other processes hits both sides of one ratio.
    ratio = statistics.median(t["subject"] / t["reference"] for t in times)
    return line | {
        "subject": round(sub, 4),
        "reference": round(ref, 4),
        "ratio": round(ratio, 3),
        "correct": correct,
        "rounds": [{k: round(v, 4) for k, v in t.items()} for t in times],
        "notes": {
            "lower_is_better": True,
            "us_per_share_subject": round(sub * 1e3 / rule.shares, 3),
            "us_per_share_reference": round(ref * 1e3 / rule.shares, 3),
            "total_fen": rule.total_fen,
            "shares": rule.shares,
            "algorithm": rule.algorithm.value,
            "repeat_per_round": repeat,
            "redis": REDIS_URL,
            "stored_sum_exact": correct,
        },
    }


def run(quick: bool) -> list[dict[str, Any]]:
    packets = 10_000 if quick else 100_000
    results = [
        fairness(name, rule, packets, seed=4_000 + i)
        for i, (name, rule) in enumerate(RULES.items())
    ]
    rounds = 3 if quick else 9
    results.append(publish_cost("double_mean", RULES["double_mean"], rounds, 50 if quick else 200))
    for algorithm in SplitAlgorithm:
        big = LuckySplit(Fen(10_000_000), 100_000, algorithm)
        results.append(publish_cost(algorithm.value, big, rounds, 1 if quick else 3))
    return results
