"""Pure rules of rewards (M2): prize-tier draws with regional tables, their expected cost
against a budget, the audit record of a draw, and lucky-split (拼手气) and fixed-amount pools.

Money is integer fen throughout. Randomness comes from a ``RandomSource``: the operating
system's CSPRNG (``secrets``) by default, a seeded one in tests. Every random integer is derived
from uniform 64-bit words by rejection, so there is no modulo bias anywhere: a tier of
``p`` ppm is drawn with probability exactly ``p / 10⁶`` and a shuffle is exactly uniform over
permutations (given a perfect generator).
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import random
import secrets
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias, TypeVar, cast

from jinli.kernel.money import Fen, format_yuan
from jinli.rewards.errors import (
    BudgetTooSmall,
    InvalidPrizeTable,
    InvalidSplit,
    SplitInfeasible,
    SplitInvariantBroken,
)

if TYPE_CHECKING:
    from jinli.campaigns.domain import PrizeTiers

T = TypeVar("T")

PPM: Final = 1_000_000
"""Probabilities are integer parts per million (1 % = 10,000 ppm), so the odds of a table add
up to exactly one and the expected cost is an exact fraction."""

MAX_PRIZE_FEN: Final = Fen(20_000_00)
"""The largest single prize or share: 20,000 yuan, the ceiling campaigns uses for a fixed reward."""

MAX_TIERS: Final = 20
MAX_REGIONS: Final = 1_000
MAX_LABEL_CHARS: Final = 32
MAX_REGION_CHARS: Final = 64

MAX_SHARES: Final = 1_000_000
"""The most shares one pool may have: room for a large brand pool, not only a group packet."""

MAX_POOL_FEN: Final = Fen(10**12)
"""The largest pool total: the same bound the API puts on a campaign budget."""

THANKS_LABEL: Final = "谢谢参与"
"""Label of the implicit 0-fen tier that takes the odds no prize tier claims."""

DRAW_ALGORITHM: Final = "tiers.ppm-cumulative.v1"
"""How a random value becomes a tier: ``u`` uniform in ``[0, 10⁶)`` falls in the tier whose
cumulative ppm interval ``[Σ before, Σ before + ppm)`` holds it, in table order. Stored in every
``Draw`` so that an old draw stays verifiable if the method ever changes."""

_WORD: Final = 1 << 64


# --- randomness ----------------------------------------------------------------------------


class RandomSource(Protocol):
    """Where randomness comes from: uniform 64-bit words, asked for in bulk."""

    def words(self, count: int) -> list[int]:
        """``count`` independent integers, each uniform in ``[0, 2**64)``."""
        ...


class SystemRandomSource:
    """The operating system's CSPRNG through ``secrets`` (getrandom / urandom).

    It keeps no state in the process, so one instance is safe to share between threads and
    across ``fork``: two workers can never replay the same bytes. Bulk requests cost one system
    call, which is what makes a 10⁵-share shuffle cheap (B4).
    """

    __slots__ = ()

    def words(self, count: int) -> list[int]:
        if count <= 0:
            return []
        return memoryview(secrets.token_bytes(8 * count)).cast("Q").tolist()


class SeededRandomSource:
    """Reproducible words from ``random.Random(seed)``.

    For tests, simulations and benchmark data only: anyone who knows the seed knows every
    outcome, so it must never decide a draw or a split that pays real money.
    """

    __slots__ = ("_rng",)

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def words(self, count: int) -> list[int]:
        if count <= 0:
            return []
        return memoryview(self._rng.randbytes(8 * count)).cast("Q").tolist()


SYSTEM_RANDOM: Final = SystemRandomSource()


def random_below(rng: RandomSource, n: int) -> int:
    """A uniform integer in ``[0, n)``, exactly: a word in the incomplete last block of
    ``2**64`` is rejected and redrawn (probability below ``n / 2**64``)."""
    if not 1 <= n <= _WORD:
        raise ValueError(f"bound must be between 1 and 2**64, got {n}")
    while True:
        (word,) = rng.words(1)
        r = word % n
        if word - r <= _WORD - n:
            return r


def _accept_all_below(bound: int) -> int:
    """Words below this are in a complete block for every modulus ≤ ``bound``; a hot loop
    tests this one comparison and only does the exact check above it (odds ≤ bound / 2**64)."""
    return _WORD - bound


def shuffle_in_place(items: list[T], rng: RandomSource = SYSTEM_RANDOM) -> None:
    """Fisher–Yates: every permutation of ``items`` equally likely (given a perfect ``rng``).

    The words are fetched in one call and reduced without modulo bias (the rejection of
    ``random_below``, inlined because this loop is most of the cost of a publish)."""
    n = len(items)
    if n < 2:
        return
    words = rng.words(n - 1)
    safe = _accept_all_below(n)
    for i, word in zip(range(n - 1, 0, -1), words, strict=True):
        j = word % (i + 1)
        if word >= safe and word - j > _WORD - (i + 1):  # incomplete last block: redraw
            j = random_below(rng, i + 1)
        items[i], items[j] = items[j], items[i]


def _uniform_below(population: int, count: int, rng: RandomSource) -> list[int]:
    """``count`` independent uniform integers in ``[0, population)``: the rare words of the
    incomplete last block are dropped, and replaced by more words."""
    safe = _WORD - _WORD % population  # the end of the last complete block
    out: list[int] = []
    while len(out) < count:
        words = rng.words(count - len(out))
        if max(words) < safe:  # nearly always: none to drop, so reduce them in one C pass
            out += map(population.__rmod__, words)
        else:
            out += [w % population for w in words if w < safe]
    return out


def _sample_distinct(population: int, k: int, rng: RandomSource) -> set[int]:
    """A uniformly random ``k``-subset of ``range(population)``.

    Sparse case: draw values independently and keep the distinct ones until there are ``k``
    (sequential sampling without replacement, so every subset is equally likely); a batch of
    draws is used in order, and the rare duplicates are topped up one by one. Dense case
    (``population < 4k``, where duplicates would be common): Floyd's algorithm, exactly ``k``
    draws."""
    if population >= 4 * k:
        chosen = set(_uniform_below(population, k, rng))
        while len(chosen) < k:
            chosen.add(random_below(rng, population))
        return chosen
    chosen = set()
    words = rng.words(k)
    for j, word in zip(range(population - k, population), words, strict=True):
        m = j + 1
        t = word % m
        if word - t > _WORD - m:
            t = random_below(rng, m)
        chosen.add(j if t in chosen else t)
    return chosen


# --- prize tiers ---------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_label(label: object) -> str:
    if not isinstance(label, str) or not label.strip() or label != label.strip():
        raise InvalidPrizeTable(f"a tier label is non-empty text without outer spaces: {label!r}")
    if len(label) > MAX_LABEL_CHARS:
        raise InvalidPrizeTable(f"a tier label has at most {MAX_LABEL_CHARS} characters")
    return label


@dataclass(frozen=True, slots=True)
class PrizeTier:
    """One row of a prize table: what a consumer wins, and how often."""

    label: str
    """Shown to the consumer and on the live page ("一等奖", "¥1.88", "谢谢参与"); unique in
    its table."""
    amount_fen: Fen
    """0 for a no-prize tier ("thanks for taking part"), else 1 fen .. ``MAX_PRIZE_FEN``."""
    probability_ppm: int
    """Chance in parts per million, at least 1."""

    def __post_init__(self) -> None:
        _check_label(self.label)
        if not _is_int(self.amount_fen) or not 0 <= self.amount_fen <= MAX_PRIZE_FEN:
            raise InvalidPrizeTable(
                f"tier {self.label!r}: the amount is a whole number of fen from 0 to "
                f"{MAX_PRIZE_FEN} (20,000 yuan), got {self.amount_fen!r}"
            )
        if not _is_int(self.probability_ppm) or not 1 <= self.probability_ppm <= PPM:
            raise InvalidPrizeTable(
                f"tier {self.label!r}: the probability is 1 to {PPM} ppm, got "
                f"{self.probability_ppm!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "amount_fen": self.amount_fen,
            "probability_ppm": self.probability_ppm,
        }


@dataclass(frozen=True, slots=True)
class PrizeTable:
    """A complete table of outcomes whose odds add up to exactly 10⁶ ppm.

    Build one with ``PrizeTable.of(...)``, which adds the "thanks for taking part" tier for the
    odds left over; constructing it directly requires the odds to be complete already.
    """

    tiers: tuple[PrizeTier, ...]
    _bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tiers = self.tiers
        if not isinstance(tiers, tuple) or not all(isinstance(t, PrizeTier) for t in tiers):
            raise InvalidPrizeTable("a prize table is a tuple of PrizeTier")
        if not 1 <= len(tiers) <= MAX_TIERS:
            raise InvalidPrizeTable(f"a prize table has 1 to {MAX_TIERS} tiers")
        labels = [t.label for t in tiers]
        if len(set(labels)) != len(labels):
            raise InvalidPrizeTable("tier labels must be unique within a table")
        total = sum(t.probability_ppm for t in tiers)
        if total != PPM:
            raise InvalidPrizeTable(f"the odds of a table add up to {PPM} ppm, not {total}")
        object.__setattr__(self, "_bounds", tuple(accumulate(t.probability_ppm for t in tiers)))

    @classmethod
    def of(cls, tiers: Iterable[PrizeTier], *, thanks_label: str = THANKS_LABEL) -> PrizeTable:
        """The table of ``tiers`` plus, if their odds leave anything over, a 0-fen tier
        ``thanks_label`` with the remainder. Odds above 100 % are refused."""
        listed = tuple(tiers)
        if not listed:
            raise InvalidPrizeTable("at least one prize tier is needed")
        claimed = sum(t.probability_ppm for t in listed)
        if claimed > PPM:
            raise InvalidPrizeTable(
                f"tier probabilities add up to {claimed / 10_000:g} %, more than 100 %"
            )
        if claimed < PPM:
            listed += (PrizeTier(thanks_label, Fen(0), PPM - claimed),)
        return cls(listed)

    @classmethod
    def from_list(cls, rows: object) -> PrizeTable:
        """From the stored form (a list of ``{label, amount_fen, probability_ppm}``); the
        remainder becomes the thanks tier as in ``of``."""
        if not isinstance(rows, list | tuple):
            raise InvalidPrizeTable("a prize table is a list of tiers")
        tiers = []
        for row in rows:
            if not isinstance(row, Mapping) or set(row) != {
                "label",
                "amount_fen",
                "probability_ppm",
            }:
                raise InvalidPrizeTable(
                    "each tier has exactly label, amount_fen and probability_ppm"
                )
            tiers.append(PrizeTier(row["label"], row["amount_fen"], row["probability_ppm"]))
        return cls.of(tiers)

    @classmethod
    def from_campaign_tiers(cls, rule: PrizeTiers) -> PrizeTable:
        """The campaign's stored ``PrizeTiers`` rule as a table; tiers without a label are
        named by their amount ("¥1.88")."""
        return cls.of(
            PrizeTier(t.label or f"¥{format_yuan(t.amount_fen)}", t.amount_fen, t.probability_ppm)
            for t in rule.tiers
        )

    def to_list(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self.tiers]

    def tier_at(self, random_value: int) -> int:
        """Index of the tier whose cumulative ppm interval holds ``random_value`` ∈ [0, 10⁶)."""
        if not _is_int(random_value) or not 0 <= random_value < PPM:
            raise ValueError(f"a draw's random value is in [0, {PPM}), got {random_value!r}")
        return bisect_right(self._bounds, random_value)

    @property
    def expected_ppm_fen(self) -> int:
        """Σ amount × ppm: the expected cost of one draw in fen, times 10⁶ (exact)."""
        return sum(t.amount_fen * t.probability_ppm for t in self.tiers)

    @property
    def second_moment_ppm_fen2(self) -> int:
        """Σ amount² × ppm: E[cost²] of one draw in fen², times 10⁶ (exact)."""
        return sum(t.amount_fen * t.amount_fen * t.probability_ppm for t in self.tiers)

    @property
    def expected_fen_per_draw(self) -> Fraction:
        """The expected cost of one draw in fen, as an exact fraction."""
        return Fraction(self.expected_ppm_fen, PPM)

    @property
    def win_ppm(self) -> int:
        """The chance of winning any money, in ppm."""
        return sum(t.probability_ppm for t in self.tiers if t.amount_fen > 0)

    @property
    def max_prize_fen(self) -> Fen:
        return max(t.amount_fen for t in self.tiers)


def _check_region(region: object) -> str:
    if (
        not isinstance(region, str)
        or not 1 <= len(region) <= MAX_REGION_CHARS
        or region != region.strip()
        or any(not part or part != part.strip() for part in region.split("/"))
    ):
        raise InvalidPrizeTable(
            f"a region is 1–{MAX_REGION_CHARS} characters of '/'-separated non-empty parts "
            f"without outer spaces (e.g. '浙江/杭州'), got {region!r}"
        )
    return region


@dataclass(frozen=True, slots=True)
class PrizeRule:
    """The draw rule of a campaign: a default table and optional per-region tables.

    A region is the one a code batch was activated for. Regions are '/'-separated paths
    ("浙江/杭州"); a scan uses the most specific table on the path ("浙江/杭州", then "浙江")
    and falls back to the default. A regional table replaces the default entirely (odds and
    amounts), so every table's expected cost can be read on its own.
    """

    default: PrizeTable
    regions: tuple[tuple[str, PrizeTable], ...] = ()
    """(region, table) pairs, kept sorted by region."""
    rule_hash: str = field(init=False, compare=False)
    """SHA-256 of the canonical JSON of the rule and ``DRAW_ALGORITHM``: which rule decided a
    draw, checkable by anyone holding the stored rule."""
    _by_region: dict[str, PrizeTable] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.default, PrizeTable):
            raise InvalidPrizeTable("the default table is a PrizeTable")
        if len(self.regions) > MAX_REGIONS:
            raise InvalidPrizeTable(f"at most {MAX_REGIONS} regional tables")
        by_region: dict[str, PrizeTable] = {}
        for pair in self.regions:
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise InvalidPrizeTable("regional tables are (region, PrizeTable) pairs")
            region, table = pair
            if not isinstance(table, PrizeTable):
                raise InvalidPrizeTable(f"the table of region {region!r} is a PrizeTable")
            if _check_region(region) in by_region:
                raise InvalidPrizeTable(f"region {region!r} has two tables")
            by_region[region] = table
        object.__setattr__(self, "regions", tuple(sorted(by_region.items())))
        object.__setattr__(self, "_by_region", by_region)
        canonical = json.dumps(
            {"algorithm": DRAW_ALGORITHM, **self.to_dict()},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )
        object.__setattr__(self, "rule_hash", hashlib.sha256(canonical.encode()).hexdigest())

    @classmethod
    def of(cls, default: PrizeTable, regions: Mapping[str, PrizeTable] | None = None) -> PrizeRule:
        return cls(default, tuple((regions or {}).items()))

    @classmethod
    def from_dict(cls, data: object) -> PrizeRule:
        """From the stored form ``{"default": [tiers], "regions": {region: [tiers]}}``."""
        if not isinstance(data, Mapping) or not set(data) <= {"default", "regions"}:
            raise InvalidPrizeTable("a prize rule has a 'default' table and optional 'regions'")
        regions = data.get("regions") or {}
        if not isinstance(regions, Mapping):
            raise InvalidPrizeTable("'regions' maps a region to its table")
        return cls(
            PrizeTable.from_list(data.get("default")),
            tuple((region, PrizeTable.from_list(rows)) for region, rows in regions.items()),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default.to_list(),
            "regions": {region: table.to_list() for region, table in self.regions},
        }

    def table_for(self, region: str | None) -> tuple[str | None, PrizeTable]:
        """The table a scan in ``region`` draws from, and the region that table belongs to
        (``None`` for the default): the region itself, else its nearest parent, else default."""
        key = region or ""
        while key:
            table = self._by_region.get(key)
            if table is not None:
                return key, table
            key = key.rpartition("/")[0]
        return None, self.default

    @property
    def max_prize_fen(self) -> Fen:
        return max(t.max_prize_fen for t in (self.default, *self._by_region.values()))


# --- draws ---------------------------------------------------------------------------------


class DrawOutcome(StrEnum):
    won = "won"
    """A tier with money was drawn and is awarded: reserve ``amount_fen`` in the ledger."""
    no_prize = "no_prize"
    """A 0-fen tier was drawn ("谢谢参与"): nothing to pay."""
    budget_exhausted = "budget_exhausted"
    """A prize was drawn but the remaining budget could not pay it: nothing is paid, the
    drawn tier stays on record, and the consumer is told the prize money has run out (not
    shown a "thanks" tier, which would hide that they drew a prize)."""


@dataclass(frozen=True, slots=True)
class Draw:
    """Everything needed to audit one draw: with the stored rule, ``audit_draw`` recomputes
    the tier from ``random_value`` and must find exactly this record."""

    algorithm: str
    """``DRAW_ALGORITHM`` at the time of the draw."""
    rule_hash: str
    """``PrizeRule.rule_hash`` of the rule used."""
    region: str | None
    """The region asked for (the code batch's), or None."""
    table_region: str | None
    """The region whose table was used (the region or a parent), or None for the default."""
    random_value: int
    """The CSPRNG's value, uniform in ``[0, 10⁶)``."""
    tier_index: int
    tier_label: str
    drawn_fen: Fen
    """The drawn tier's amount."""
    amount_fen: Fen
    """What is awarded: ``drawn_fen``, or 0 when the budget could not pay it."""
    outcome: DrawOutcome

    def unpaid_for_budget(self) -> Draw:
        """This draw when the budget cannot pay it (the ledger reservation failed, or the
        caller knew the remaining budget was smaller): a no-prize draw is unchanged; a prize
        keeps its drawn tier on record but awards 0 fen with outcome ``budget_exhausted``."""
        if self.drawn_fen == 0:
            return self
        return replace(self, amount_fen=Fen(0), outcome=DrawOutcome.budget_exhausted)

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "rule_hash": self.rule_hash,
            "region": self.region,
            "table_region": self.table_region,
            "random_value": self.random_value,
            "tier_index": self.tier_index,
            "tier_label": self.tier_label,
            "drawn_fen": self.drawn_fen,
            "amount_fen": self.amount_fen,
            "outcome": self.outcome.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Draw:
        """A stored record back (``to_dict``'s form), to be checked with ``audit_draw``."""
        return cls(**{**data, "outcome": DrawOutcome(data["outcome"])})


def replay_draw(
    rule: PrizeRule, region: str | None, random_value: int, *, available_fen: int | None = None
) -> Draw:
    """The draw that ``random_value`` gives in ``region`` (deterministic; ``draw_prize`` is this
    with a value from the CSPRNG). With ``available_fen``, a prize larger than what is left is
    not paid (``Draw.unpaid_for_budget``)."""
    table_region, table = rule.table_for(region)
    index = table.tier_at(random_value)
    tier = table.tiers[index]
    draw = Draw(
        algorithm=DRAW_ALGORITHM,
        rule_hash=rule.rule_hash,
        region=region,
        table_region=table_region,
        random_value=random_value,
        tier_index=index,
        tier_label=tier.label,
        drawn_fen=tier.amount_fen,
        amount_fen=tier.amount_fen,
        outcome=DrawOutcome.won if tier.amount_fen > 0 else DrawOutcome.no_prize,
    )
    if available_fen is not None and tier.amount_fen > available_fen:
        return draw.unpaid_for_budget()
    return draw


def draw_prize(
    rule: PrizeRule,
    region: str | None,
    rng: RandomSource = SYSTEM_RANDOM,
    *,
    available_fen: int | None = None,
) -> Draw:
    """Draw one outcome for a scan in ``region``: tier ``i`` with probability exactly
    ``ppm_i / 10⁶``, from the CSPRNG unless a source is injected.

    The budget is enforced by the ledger reservation whatever happens here; ``available_fen``
    (e.g. a Redis counter) only lets the caller skip a reservation that would fail."""
    return replay_draw(rule, region, random_below(rng, PPM), available_fen=available_fen)


def audit_draw(rule: PrizeRule, draw: Draw) -> list[str]:
    """What is wrong with ``draw`` as a draw of ``rule``; empty when it checks out.

    Recomputes the tier from the stored random value, so a record whose tier, amount or rule
    was altered (or that came from another rule) is caught."""
    problems: list[str] = []
    if draw.algorithm != DRAW_ALGORITHM:
        return [f"unknown draw algorithm {draw.algorithm!r}"]
    if draw.rule_hash != rule.rule_hash:
        problems.append("drawn under another rule (rule_hash differs)")
    try:
        expected = replay_draw(rule, draw.region, draw.random_value)
    except ValueError as exc:
        return [*problems, str(exc)]
    for name in ("table_region", "tier_index", "tier_label", "drawn_fen"):
        if getattr(draw, name) != getattr(expected, name):
            problems.append(
                f"{name} is {getattr(draw, name)!r}, the rule gives {getattr(expected, name)!r}"
            )
    if draw.outcome is DrawOutcome.budget_exhausted:
        if draw.amount_fen != 0 or draw.drawn_fen == 0:
            problems.append("a budget_exhausted draw pays 0 fen of a drawn prize")
    elif (draw.outcome, draw.amount_fen) != (expected.outcome, expected.amount_fen):
        problems.append(
            f"awards {draw.amount_fen} fen as {draw.outcome}, the rule gives "
            f"{expected.amount_fen} fen as {expected.outcome}"
        )
    return problems


# --- expected cost against the budget -------------------------------------------------------


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _ceil_sqrt(a: int) -> int:
    return 0 if a <= 0 else math.isqrt(a - 1) + 1


Plan: TypeAlias = Mapping[str | None, int] | int
"""Planned draws: a number (all on the default table) or a number per region (None = default),
e.g. the printed codes of each activated batch."""


def _plan(plan: Plan) -> dict[str | None, int]:
    by_region: dict[str | None, int] = {None: plan} if isinstance(plan, int) else dict(plan)
    for region, count in by_region.items():
        if not _is_int(count) or count < 0:
            raise InvalidPrizeTable(f"planned draws in {region!r} must be ≥ 0, got {count!r}")
    return by_region


def expected_cost_fen(rule: PrizeRule, plan: Plan) -> Fraction:
    """The expected total cost of the planned draws in fen, exactly."""
    total = 0
    for region, count in _plan(plan).items():
        total += count * rule.table_for(region)[1].expected_ppm_fen
    return Fraction(total, PPM)


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """The publish-time check ``expected cost × planned draws (+ margins) ≤ budget``.

    ``required_fen = expected_fen + margin_fen + luck_fen`` where ``luck_fen`` is ``sigmas``
    standard deviations of the total (draws are independent, so variances add) and
    ``margin_fen`` is a relative margin on the expected cost for everything the plan does not
    know. Every figure is rounded up to a whole fen, computed in integers."""

    planned_draws: int
    budget_fen: int
    expected_fen: int
    margin_fen: int
    luck_fen: int
    required_fen: int
    max_prize_fen: int

    @property
    def ok(self) -> bool:
        return self.required_fen <= self.budget_fen

    @property
    def headroom_fen(self) -> int:
        """Budget left over after the requirement (negative when the budget is short)."""
        return self.budget_fen - self.required_fen


def check_budget(
    rule: PrizeRule,
    plan: Plan,
    budget_fen: int,
    *,
    margin_bp: int = 500,
    sigmas: int = 3,
) -> BudgetCheck:
    """Compare the budget with what the planned draws need (see ``BudgetCheck``).

    Defaults: a 5 % margin (500 basis points) and 3 standard deviations: the luck term alone
    leaves about 1 campaign in 740 running dry before the planned draws end when the plan is
    right, and the margin makes it rarer (normal approximation, weakest for tiny plans with
    rare large prizes). When it does
    run dry the ledger refuses the reservation and the consumer is told the money has run
    out (``DrawOutcome.budget_exhausted``); nothing is ever paid beyond the budget."""
    if not _is_int(budget_fen) or budget_fen < 0:
        raise InvalidPrizeTable(f"the budget is a whole number of fen ≥ 0, got {budget_fen!r}")
    if not _is_int(margin_bp) or not 0 <= margin_bp <= 100_000:
        raise InvalidPrizeTable("the margin is 0 to 100,000 basis points")
    if not _is_int(sigmas) or not 0 <= sigmas <= 10:
        raise InvalidPrizeTable("sigmas is 0 to 10")
    mean_ppm = 0  # Σ N·E[X]·10⁶
    var_ppm2 = 0  # Σ N·Var[X]·10¹²  (Var·10¹² = 10⁶·Σa²p − (Σap)², an integer)
    planned = 0
    for region, count in _plan(plan).items():
        table = rule.table_for(region)[1]
        s1 = table.expected_ppm_fen
        mean_ppm += count * s1
        var_ppm2 += count * (PPM * table.second_moment_ppm_fen2 - s1 * s1)
        planned += count
    expected = _ceil_div(mean_ppm, PPM)
    margin = _ceil_div(mean_ppm * margin_bp, PPM * 10_000)
    luck = _ceil_div(_ceil_sqrt(sigmas * sigmas * var_ppm2), PPM)
    return BudgetCheck(
        planned_draws=planned,
        budget_fen=budget_fen,
        expected_fen=expected,
        margin_fen=margin,
        luck_fen=luck,
        required_fen=expected + margin + luck,
        max_prize_fen=rule.max_prize_fen,
    )


def require_budget(
    rule: PrizeRule, plan: Plan, budget_fen: int, *, margin_bp: int = 500, sigmas: int = 3
) -> BudgetCheck:
    """``check_budget`` as publish-time validation: ``BudgetTooSmall`` when it fails, with
    the figures in the error's ``extra`` for the console to show."""
    check = check_budget(rule, plan, budget_fen, margin_bp=margin_bp, sigmas=sigmas)
    if not check.ok:
        raise BudgetTooSmall(
            f"{check.planned_draws} planned draws need {format_yuan(check.required_fen)} yuan "
            f"(expected {format_yuan(check.expected_fen)} + margin "
            f"{format_yuan(check.margin_fen)} + luck {format_yuan(check.luck_fen)}); the "
            f"budget is {format_yuan(check.budget_fen)} yuan",
            required_fen=check.required_fen,
            budget_fen=check.budget_fen,
            expected_fen=check.expected_fen,
        )
    return check


# --- pools: lucky split and fixed amounts ---------------------------------------------------


class SplitAlgorithm(StrEnum):
    double_mean = "double_mean"
    """二倍均值 (WeChat's): each share uniform in [min, 2 × remaining mean − min], the last
    takes the rest. Moderate spread (CV ≈ 0.58)."""
    line_segment = "line_segment"
    """线段切割: cut the total at uniformly random points, i.e. uniform over all ways of
    writing it as N shares ≥ min. Widest spread (CV ≈ 1), the most exciting "best" share."""
    bounded_normal = "bounded_normal"
    """Normal around the remaining mean with CV ``spread_pct`` %, clipped: the narrowest
    spread, for pools that want a per-share cap to bite rarely."""


def _check_count(name: str, value: object, low: int, high: int) -> None:
    if not _is_int(value) or not low <= cast(int, value) <= high:
        raise InvalidSplit(f"{name} is a whole number from {low} to {high}, got {value!r}")


@dataclass(frozen=True, slots=True)
class LuckySplit:
    """拼手气: ``total_fen`` split at random into ``shares`` shares, each within
    ``[min_fen, max_fen]``; Σ shares == total exactly, always."""

    total_fen: Fen
    shares: int
    algorithm: SplitAlgorithm = SplitAlgorithm.double_mean
    min_fen: Fen = 1  # type: ignore[assignment]  # Fen is an int at run time
    max_fen: Fen | None = None
    """Optional cap per share (compliance or budget), ≥ ``min_fen``; without one a share is
    still at most ``MAX_PRIZE_FEN``."""
    spread_pct: int = 60
    """``bounded_normal`` only: the coefficient of variation in percent."""

    def __post_init__(self) -> None:
        _check_count("total_fen", self.total_fen, 1, MAX_POOL_FEN)
        _check_count("shares", self.shares, 1, MAX_SHARES)
        _check_count("min_fen", self.min_fen, 1, MAX_PRIZE_FEN)
        if self.max_fen is not None:
            _check_count("max_fen", self.max_fen, self.min_fen, MAX_PRIZE_FEN)
        _check_count("spread_pct", self.spread_pct, 1, 200)
        try:
            object.__setattr__(self, "algorithm", SplitAlgorithm(self.algorithm))
        except ValueError:
            raise InvalidSplit(f"unknown split algorithm {self.algorithm!r}") from None
        if self.total_fen < self.shares * self.min_fen:
            raise SplitInfeasible(
                f"{self.total_fen} fen cannot give {self.shares} shares of at least "
                f"{self.min_fen} fen (needs ≥ {self.shares * self.min_fen} fen)",
                total_fen=self.total_fen,
                shares=self.shares,
            )
        if self.total_fen > self.shares * self.hi_fen:
            raise SplitInfeasible(
                f"{self.total_fen} fen cannot fit in {self.shares} shares of at most "
                f"{self.hi_fen} fen (holds ≤ {self.shares * self.hi_fen} fen)",
                total_fen=self.total_fen,
                shares=self.shares,
            )

    @property
    def hi_fen(self) -> int:
        """The effective cap per share: ``max_fen``, else ``MAX_PRIZE_FEN``."""
        return MAX_PRIZE_FEN if self.max_fen is None else self.max_fen

    @property
    def cap_binds(self) -> bool:
        """Whether the cap can matter: a share could otherwise exceed it (the largest possible
        share is the total less the minimum of every other share)."""
        return self.hi_fen < self.total_fen - (self.shares - 1) * self.min_fen

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "lucky_split",
            "total_fen": self.total_fen,
            "shares": self.shares,
            "algorithm": self.algorithm.value,
            "min_fen": self.min_fen,
            "max_fen": self.max_fen,
            "spread_pct": self.spread_pct,
        }


@dataclass(frozen=True, slots=True)
class FixedPool:
    """``shares`` shares of ``amount_fen`` each (固定金额); costs shares × amount."""

    amount_fen: Fen
    shares: int

    def __post_init__(self) -> None:
        _check_count("amount_fen", self.amount_fen, 1, MAX_PRIZE_FEN)
        _check_count("shares", self.shares, 1, MAX_SHARES)

    @property
    def total_fen(self) -> Fen:
        return Fen(self.amount_fen * self.shares)

    @property
    def min_fen(self) -> Fen:
        return self.amount_fen

    @property
    def hi_fen(self) -> int:
        return self.amount_fen

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "fixed_pool", "amount_fen": self.amount_fen, "shares": self.shares}


Pool = LuckySplit | FixedPool


def pool_from_dict(data: object) -> Pool:
    """A pool rule from its stored form (``to_dict``), validated."""
    if not isinstance(data, Mapping):
        raise InvalidSplit("a pool rule is an object with a 'kind'")
    fields = dict(data)
    kind = fields.pop("kind", None)
    try:
        if kind == "lucky_split":
            return LuckySplit(**fields)
        if kind == "fixed_pool":
            return FixedPool(**fields)
    except TypeError as exc:
        raise InvalidSplit(f"bad fields for a {kind} pool: {exc}") from None
    raise InvalidSplit(f"unknown pool kind {kind!r}")


def _double_mean(rule: LuckySplit, rng: RandomSource) -> list[int]:
    # Counted above the minimum: with ``free = rem − k·lo`` still to hand out over k shares,
    # "uniform in [lo, 2·rem/k − lo]" is lo + r, r uniform in [0, ⌊2·free/k⌋] (2·k·lo/k is
    # exact), and the k−1 shares after this one keep ``free − r`` ≥ 0: always feasible.
    n, lo = rule.shares, rule.min_fen
    free: int = rule.total_fen - n * lo
    out: list[int] = []
    append = out.append
    words = rng.words(n - 1)
    safe = _accept_all_below(2 * free + 1)  # the largest span; free only shrinks
    if not rule.cap_binds:
        for k, word in zip(range(n, 1, -1), words, strict=True):
            span = 2 * free // k + 1
            r = word % span
            if word >= safe and word - r > _WORD - span:
                r = random_below(rng, span)
            append(lo + r)
            free -= r
        append(lo + free)
        return out
    # Clip into the feasible range: r ≤ hi − lo, and what is left must fit the k−1 later
    # shares, which can take at most ``above = (k−1)·(hi − lo)`` over their minimum.
    # (hi > lo here: a cap equal to the minimum cannot bind.)
    room = rule.hi_fen - lo
    for k, above, word in zip(range(n, 1, -1), range((n - 1) * room, 0, -room), words, strict=True):
        span = 2 * free // k + 1
        r = word % span
        if word >= safe and word - r > _WORD - span:
            r = random_below(rng, span)
        if r < free - above:
            r = free - above
        elif r > room:
            r = room
        append(lo + r)
        free -= r
    append(lo + free)
    return out


def _weak_composition(total: int, parts: int, rng: RandomSource, plus: int = 0) -> list[int]:
    """Uniformly random ``parts`` integers ≥ 0 summing to ``total`` (stars and bars: choose
    ``parts − 1`` bar positions among ``total + parts − 1`` slots; the parts are the gaps),
    each with ``plus`` added."""
    if parts == 1:
        return [total + plus]
    slots = total + parts - 1
    bars = sorted(_sample_distinct(slots, parts - 1, rng))
    # part + plus = b − a − 1 + plus, the differences taken in one C pass (two when plus ≠ 1).
    gaps = map(operator.sub, [*bars, slots], [-1, *bars])
    shift = plus - 1
    return list(map(shift.__add__, gaps) if shift else gaps)


_SPREAD_ROUNDS: Final = 32


def _line_segment(rule: LuckySplit, rng: RandomSource) -> list[int]:
    n, lo = rule.shares, rule.min_fen
    shares = _weak_composition(rule.total_fen - n * lo, n, rng, lo)
    if not rule.cap_binds:
        return shares
    # Clip at the cap and spread the excess over the shares below it, as a uniform
    # composition again; each round strictly shrinks the excess (total ≤ n·cap), usually
    # geometrically. After _SPREAD_ROUNDS the rest is poured in order (shuffled later anyway).
    hi = rule.hi_fen
    if max(shares) <= hi:
        return shares
    excess = 0
    for i, share in enumerate(shares):
        if share > hi:
            excess += share - hi
            shares[i] = hi
    for _ in range(_SPREAD_ROUNDS):
        if not excess:
            return shares
        room = [i for i, share in enumerate(shares) if share < hi]
        gifts = _weak_composition(excess, len(room), rng)
        excess = 0
        for i, gift in zip(room, gifts, strict=True):
            share = shares[i] + gift
            if share > hi:
                excess += share - hi
                share = hi
            shares[i] = share
    for i, share in enumerate(shares):
        if not excess:
            break
        take = min(excess, hi - share)
        shares[i] = share + take
        excess -= take
    return shares


def _spread_factors(count: int, cv: float, rng: RandomSource) -> list[float]:
    """``count`` factors ``1 + cv·z``, z standard normal by Box–Muller, two per pair of words.
    Floats only shape the spread of a split; the fen themselves stay integers."""
    pairs = (count + 1) // 2
    words = rng.words(2 * pairs)
    scale = 2.0**-53
    turn = 2.0 * math.pi * scale
    spread = -2.0 * cv * cv  # cv·√(−2·ln u) = √(spread·ln u)
    sqrt, log, cos, sin = math.sqrt, math.log, math.cos, math.sin
    out: list[float] = []
    for w1, w2 in zip(words[::2], words[1::2], strict=True):
        radius = sqrt(spread * log(((w1 >> 11) + 1) * scale))  # u1 ∈ (0, 1]
        angle = turn * (w2 >> 11)
        out += (1.0 + radius * cos(angle), 1.0 + radius * sin(angle))
    if len(out) > count:
        out.pop()
    return out


def _bounded_normal(rule: LuckySplit, rng: RandomSource) -> list[int]:
    n, lo, hi = rule.shares, rule.min_fen, rule.hi_fen
    rem: int = rule.total_fen
    out: list[int] = []
    append = out.append
    factors = _spread_factors(n - 1, rule.spread_pct / 100, rng)
    # Clip into [lo, hi], then into the feasible range: what is left must fit the k−1 later
    # shares, i.e. lie in [(k−1)·lo, (k−1)·hi]. The two ranges always meet, so clipping into
    # one and then the other is clipping into their intersection.
    for k, least, most, factor in zip(
        range(n, 1, -1),
        range((n - 1) * lo, 0, -lo),
        range((n - 1) * hi, 0, -hi),
        factors,
        strict=True,
    ):
        share = round(rem / k * factor)
        if share < lo:
            share = lo
        elif share > hi:
            share = hi
        if share > rem - least:
            share = rem - least
        elif share < rem - most:
            share = rem - most
        append(share)
        rem -= share
    append(rem)
    return out


_ALGORITHMS = {
    SplitAlgorithm.double_mean: _double_mean,
    SplitAlgorithm.line_segment: _line_segment,
    SplitAlgorithm.bounded_normal: _bounded_normal,
}


def split_in_order(rule: LuckySplit, rng: RandomSource = SYSTEM_RANDOM) -> list[int]:
    """The rule's shares in the order the algorithm produces them: what a grab-time split would
    hand out, position by position. Not position-fair (double-mean's last share absorbs the
    remainder); ``presplit`` shuffles it. Exposed for the B4 reference and tests."""
    return _ALGORITHMS[rule.algorithm](rule, rng)


def check_pool(rule: Pool, shares: list[int] | tuple[int, ...]) -> None:
    """The pool invariants: N shares, each within [min, cap], Σ == total exactly; a violation
    is a bug (``SplitInvariantBroken``), never published."""
    if len(shares) != rule.shares:
        raise SplitInvariantBroken(f"{len(shares)} shares instead of {rule.shares}")
    if sum(shares) != rule.total_fen:
        raise SplitInvariantBroken(f"shares sum to {sum(shares)} fen, not {rule.total_fen}")
    if min(shares) < rule.min_fen or max(shares) > rule.hi_fen:
        raise SplitInvariantBroken(
            f"a share lies outside [{rule.min_fen}, {rule.hi_fen}] fen: "
            f"{min(shares)}..{max(shares)}"
        )


def presplit(rule: Pool, rng: RandomSource = SYSTEM_RANDOM) -> tuple[Fen, ...]:
    """The pool's shares, computed at publish time and shuffled with the CSPRNG.

    The shuffle makes every position's share identically distributed whatever the algorithm,
    so the first and the last grabber have the same chances, and a grab becomes taking the next
    share (one ``LPOP``) with no arithmetic in the critical section. Checked before returning:
    N shares, each within bounds, Σ == total."""
    shares: list[int]
    if isinstance(rule, FixedPool):
        shares = [rule.amount_fen] * rule.shares
    else:
        shares = split_in_order(rule, rng)
        shuffle_in_place(shares, rng)
    check_pool(rule, shares)
    return cast("tuple[Fen, ...]", tuple(shares))
