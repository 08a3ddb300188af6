"""Pure rules of scan-to-win: the reward plan a campaign's rule gives, the draw record every
claim leaves, the anti-counterfeit answer on a re-scan, 串货 (cross-region) detection, the
IP → region map, and the keys and limits of the code-guessing throttle. No I/O (C2): the clock,
the CSPRNG and the counters are the service's.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, TypeAlias
from uuid import UUID

from jinli.kernel.clock import SHANGHAI, as_utc
from jinli.kernel.money import Fen, format_yuan
from jinli.rewards.domain import (
    THANKS_LABEL,
    Draw,
    DrawOutcome,
    FixedPool,
    LuckySplit,
    PrizeRule,
    PrizeTable,
    PrizeTier,
)
from jinli.rewards.errors import InvalidPrizeTable, InvalidSplit
from jinli.scans.errors import ScanRuleUnusable

# --- the reward plan -------------------------------------------------------------------------


class DrawKind(StrEnum):
    """What decided a claim's reward."""

    tiers = "tiers"
    """A prize table (regional or default) and a CSPRNG value in [0, 10⁶)."""
    lucky_split = "lucky_split"
    """The next share of a pre-split, shuffled 拼手气 pool."""
    fixed = "fixed"
    """A fixed amount (from a pool of ``max_winners`` equal shares, or unlimited)."""
    none = "none"
    """The campaign pays nothing: the scan only checks the code (anti-counterfeit)."""


POOL_ALGORITHM: Final = "pool.presplit-shuffled.v1"
"""A pool share is taken by position (1, 2, …); the randomness was spent at publish time by
``rewards.domain.presplit`` (split, then a CSPRNG Fisher–Yates shuffle)."""
FIXED_ALGORITHM: Final = "fixed.v1"
NONE_ALGORITHM: Final = "none.v1"
LUCKY_LABEL: Final = "拼手气红包"
VERIFIED_LABEL: Final = "正品验证"


@dataclass(frozen=True, slots=True)
class ResultPage:
    """The brand's message and link onward on the consumer's result page."""

    message: str = ""
    link_url: str = ""
    link_label: str = ""


@dataclass(frozen=True, slots=True)
class TierPlan:
    rule: PrizeRule


@dataclass(frozen=True, slots=True)
class PoolPlan:
    """A pool whose shares are taken one per claim: lucky split, or ``max_winners`` fixed."""

    pool: LuckySplit | FixedPool

    @property
    def kind(self) -> DrawKind:
        return DrawKind.lucky_split if isinstance(self.pool, LuckySplit) else DrawKind.fixed

    @property
    def stores_shares(self) -> bool:
        """Lucky shares differ, so each is stored; a fixed pool needs only its counter."""
        return isinstance(self.pool, LuckySplit)


@dataclass(frozen=True, slots=True)
class FixedPlan:
    """A fixed amount per claim, as many as the budget pays for."""

    amount_fen: Fen


@dataclass(frozen=True, slots=True)
class NoPlan:
    pass


RewardPlan: TypeAlias = TierPlan | PoolPlan | FixedPlan | NoPlan


def _tier_label(row: Mapping[str, Any]) -> str:
    label = str(row.get("label") or "")
    return label or f"¥{format_yuan(int(row['amount_fen']))}"


def _table(rows: Sequence[Mapping[str, Any]]) -> PrizeTable:
    tiers = [
        PrizeTier(_tier_label(r), Fen(int(r["amount_fen"])), int(r["probability_ppm"]))
        for r in rows
    ]
    thanks = THANKS_LABEL if THANKS_LABEL not in {t.label for t in tiers} else "谢谢惠顾"
    return PrizeTable.of(tiers, thanks_label=thanks)


def reward_plan(stored: Mapping[str, Any]) -> RewardPlan:
    """The plan of a campaign's stored reward rule (``campaigns.domain`` form).

    Tiers become a ``rewards.domain.PrizeRule`` (unlabelled tiers named by their amount, the
    odds left over a 0-fen "谢谢参与" tier); ``lucky_split`` a ``LuckySplit``; ``fixed`` with
    ``max_winners`` a ``FixedPool``. A rule rewards refuses (it validated in campaigns) raises
    ``ScanRuleUnusable``: a bug or a hand-edited row, never paid from."""
    kind = stored.get("kind")
    try:
        if kind == "tiers":
            regions = stored.get("regions") or {}
            return TierPlan(
                PrizeRule.of(
                    _table(stored.get("tiers") or []),
                    {region: _table(rows) for region, rows in regions.items()},
                )
            )
        if kind == "lucky_split":
            return PoolPlan(
                LuckySplit(
                    total_fen=Fen(stored["total_fen"]),
                    shares=stored["shares"],
                    algorithm=stored.get("algorithm") or "double_mean",  # type: ignore[arg-type]
                    min_fen=Fen(stored.get("min_fen") or 1),
                    max_fen=stored.get("max_fen"),
                )
            )
        if kind == "fixed":
            amount = Fen(stored["amount_fen"])
            winners = stored.get("max_winners")
            return PoolPlan(FixedPool(amount, winners)) if winners else FixedPlan(amount)
        if kind == "none":
            return NoPlan()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ScanRuleUnusable(f"the stored {kind} rule is incomplete: {exc}") from None
    except (InvalidPrizeTable, InvalidSplit) as exc:
        raise ScanRuleUnusable(f"the stored {kind} rule: {exc.detail}") from None
    raise ScanRuleUnusable(f"no scan reward for rule kind {kind!r}")


def result_page(stored: Mapping[str, Any]) -> ResultPage:
    return ResultPage(
        message=str(stored.get("message") or ""),
        link_url=str(stored.get("link_url") or ""),
        link_label=str(stored.get("link_label") or ""),
    )


def headline(plan: RewardPlan) -> str:
    """What the scan page promises before the tap, e.g. "最高 ¥8.88" (Chinese, short)."""
    if isinstance(plan, TierPlan):
        return f"最高 ¥{format_yuan(plan.rule.max_prize_fen)}"
    if isinstance(plan, PoolPlan):
        if isinstance(plan.pool, LuckySplit):
            return LUCKY_LABEL
        return f"¥{format_yuan(plan.pool.amount_fen)} 红包"
    if isinstance(plan, FixedPlan):
        return f"¥{format_yuan(plan.amount_fen)} 红包"
    return VERIFIED_LABEL


def pool_hash(pool: LuckySplit | FixedPool, shares: Sequence[int]) -> str:
    """SHA-256 of the pool rule and its share vector in position order: every share draw names
    it, and anyone holding the stored shares can recompute it (audit)."""
    canonical = json.dumps(
        {"algorithm": POOL_ALGORITHM, "pool": pool.to_dict(), "shares": list(shares)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def fixed_pool_hash(pool: FixedPool) -> str:
    """A fixed pool's shares are all the same: its hash covers the rule only."""
    canonical = json.dumps(
        {"algorithm": POOL_ALGORITHM, "pool": pool.to_dict()}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def plain_rule_hash(kind: DrawKind, stored: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {"kind": str(kind), "rule": dict(stored)},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- the draw record -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DrawRecord:
    """One claim's reward decision, stored in full (``scan_draws``) so it can be audited:
    tiers with ``rewards.domain.audit_draw`` from ``random_value``, pools from the stored
    share at ``share_no`` and the pool's hash."""

    kind: DrawKind
    algorithm: str
    rule_hash: str
    region: str | None
    """The code batch's region (what picks a regional table)."""
    tier_label: str
    drawn_fen: Fen
    amount_fen: Fen
    outcome: DrawOutcome
    table_region: str | None = None
    random_value: int | None = None
    """Set for tier draws (replayable with ``rewards.domain.audit_draw``)."""
    share_no: int | None = None
    """Set for pool draws: the 1-based position of the share taken."""
    tier_index: int | None = None

    def unpaid(self) -> DrawRecord:
        """The draw when the budget (or the pool) could not pay it: the drawn tier stays on
        record, 0 fen is awarded (``budget_exhausted``)."""
        if self.drawn_fen == 0:
            return self
        return replace(self, amount_fen=Fen(0), outcome=DrawOutcome.budget_exhausted)

    def as_prize_draw(self) -> Draw:
        """The ``rewards.domain.Draw`` of a tier draw, for ``audit_draw``."""
        if self.kind != DrawKind.tiers or self.random_value is None or self.tier_index is None:
            raise ValueError("only a tier draw is a prize draw")
        return Draw(
            algorithm=self.algorithm,
            rule_hash=self.rule_hash,
            region=self.region,
            table_region=self.table_region,
            random_value=self.random_value,
            tier_index=self.tier_index,
            tier_label=self.tier_label,
            drawn_fen=self.drawn_fen,
            amount_fen=self.amount_fen,
            outcome=self.outcome,
        )


def tier_record(draw: Draw) -> DrawRecord:
    return DrawRecord(
        kind=DrawKind.tiers,
        algorithm=draw.algorithm,
        rule_hash=draw.rule_hash,
        region=draw.region,
        table_region=draw.table_region,
        random_value=draw.random_value,
        tier_index=draw.tier_index,
        tier_label=draw.tier_label,
        drawn_fen=draw.drawn_fen,
        amount_fen=draw.amount_fen,
        outcome=draw.outcome,
    )


def share_record(
    plan: PoolPlan, rule_hash: str, share_no: int, amount_fen: int, region: str | None
) -> DrawRecord:
    """The draw of pool share ``share_no`` (1-based position)."""
    label = LUCKY_LABEL if plan.stores_shares else f"¥{format_yuan(amount_fen)}"
    return DrawRecord(
        kind=plan.kind,
        algorithm=POOL_ALGORITHM,
        rule_hash=rule_hash,
        region=region,
        share_no=share_no,
        tier_label=label,
        drawn_fen=Fen(amount_fen),
        amount_fen=Fen(amount_fen),
        outcome=DrawOutcome.won,
    )


def fixed_record(amount_fen: Fen, rule_hash: str, region: str | None) -> DrawRecord:
    return DrawRecord(
        kind=DrawKind.fixed,
        algorithm=FIXED_ALGORITHM,
        rule_hash=rule_hash,
        region=region,
        tier_label=f"¥{format_yuan(amount_fen)}",
        drawn_fen=amount_fen,
        amount_fen=amount_fen,
        outcome=DrawOutcome.won,
    )


def none_record(rule_hash: str, region: str | None) -> DrawRecord:
    return DrawRecord(
        kind=DrawKind.none,
        algorithm=NONE_ALGORITHM,
        rule_hash=rule_hash,
        region=region,
        tier_label=VERIFIED_LABEL,
        drawn_fen=Fen(0),
        amount_fen=Fen(0),
        outcome=DrawOutcome.no_prize,
    )


def exhausted_record(plan: PoolPlan, rule_hash: str, region: str | None) -> DrawRecord:
    """What is logged when a claim finds its pool empty: no share, nothing awarded."""
    return DrawRecord(
        kind=plan.kind,
        algorithm=POOL_ALGORITHM,
        rule_hash=rule_hash,
        region=region,
        tier_label=LUCKY_LABEL if plan.stores_shares else "¥0",
        drawn_fen=Fen(0),
        amount_fen=Fen(0),
        outcome=DrawOutcome.budget_exhausted,
    )


# --- the claim step (the ``ClaimStore`` port's vocabulary) ---------------------------------


class ClaimStatus(StrEnum):
    claimed = "claimed"
    """The code was unclaimed and is now claimed by this openid; ``Claim.draw`` is its reward."""
    taken = "taken"
    """Someone claimed the code first (a re-scan, or a lost race): nothing was changed."""
    exhausted = "exhausted"
    """The code was claimable but its pool has no share left; the caller rolls back."""
    short = "short"
    """(Hot stores only.) The code was claimable but the campaign's allowance cannot cover
    the prize: nothing was changed; the caller tops the allowance up and tries once more,
    or refuses (``PrizesExhausted``)."""


@dataclass(frozen=True, slots=True)
class PoolRef:
    """A published pool: its row id, its plan and its hash (for the draw record)."""

    id: UUID
    plan: PoolPlan
    rule_hash: str


@dataclass(frozen=True, slots=True)
class ClaimTicket:
    """One claim attempt: which code, by whom, when and where, and the reward it carries."""

    code_hash: bytes
    short: bool
    """Whether ``code_hash`` is the hash of the code's short (typed) form."""
    brand_id: UUID
    campaign_id: UUID
    batch_id: UUID
    openid: str
    at: datetime
    batch_region: str | None
    scan_region: str | None
    draw: DrawRecord | None
    """The reward decided before the claim (tiers, fixed, none); ``None`` for a pool."""
    pool: PoolRef | None
    """The pool a share is taken from, atomically with the claim."""


@dataclass(frozen=True, slots=True)
class Claim:
    status: ClaimStatus
    draw: DrawRecord | None = None


# --- the anti-counterfeit answer -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanTally:
    """What a genuine code's row says about its scans (after counting this one)."""

    scans: int
    first_scanned_at: datetime | None
    first_region: str | None


def region_name(region: str | None) -> str:
    """A region as the consumer reads it: the last part of its path ("浙江/杭州" → "杭州")."""
    if not region:
        return ""
    return region.rstrip("/").rpartition("/")[2]


def answer_text(tally: ScanTally) -> str:
    """ "此码已被扫描 3 次，首次扫描于 2026-11-20 14:03（杭州）" in Beijing time."""
    text = f"此码已被扫描 {tally.scans} 次"
    if tally.first_scanned_at is not None:
        first = as_utc(tally.first_scanned_at).astimezone(SHANGHAI)
        text += f"，首次扫描于 {first:%Y-%m-%d %H:%M}"
        where = region_name(tally.first_region)
        if where:
            text += f"（{where}）"
    return text


# --- the campaign window ---------------------------------------------------------------------


def campaign_open(status: str, starts_at: datetime, ends_at: datetime, now: datetime) -> bool:
    """Consumers can take part: the campaign is live and ``now`` is inside its window (the
    scheduler may lag a little behind the window; the window wins)."""
    return status == "live" and as_utc(starts_at) <= now < as_utc(ends_at)


# --- regions and 串货 ------------------------------------------------------------------------


def _parts(region: str) -> list[str]:
    return [p for p in region.strip().split("/") if p]


def same_region(a: str, b: str) -> bool:
    """Whether two regions are the same place at different precision: equal, or one a
    ``/``-path prefix of the other ("浙江" and "浙江/杭州" are; "浙江/杭州" and "浙江/宁波"
    are not)."""
    pa, pb = _parts(a), _parts(b)
    n = min(len(pa), len(pb))
    return n > 0 and pa[:n] == pb[:n]


def is_cross_region(batch_region: str | None, scan_region: str | None) -> bool:
    """串货: a code scanned in a region other than the one its batch shipped to. Unknown on
    either side is never an alert (no evidence)."""
    if not batch_region or not scan_region:
        return False
    return not same_region(batch_region, scan_region)


class CidrRegionResolver:
    """Client IP → region by the longest matching network of a CIDR map (the default
    ``RegionResolver``; IPv4-mapped IPv6 addresses are read as IPv4)."""

    def __init__(self, networks: Mapping[str, str]) -> None:
        parsed: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
        for cidr, region in networks.items():
            parsed.append((ipaddress.ip_network(cidr, strict=False), region))
        parsed.sort(key=lambda pair: pair[0].prefixlen, reverse=True)
        self._networks = tuple(parsed)

    def region_of(self, ip: str | None) -> str | None:
        if not ip:
            return None
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        for network, region in self._networks:
            if address.version == network.version and address in network:
                return region
        return None


# --- code guessing (S3, I7) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limit:
    per_window: int
    per_day: int


@dataclass(frozen=True, slots=True)
class GuessPolicy:
    """How many invalid scans a client may make before it is refused without any lookup."""

    window_seconds: int
    openid: Limit
    device: Limit
    ip: Limit
    storm_per_minute: int


@dataclass(frozen=True, slots=True)
class Client:
    """Who is scanning: the WeChat openid (once known), a device cookie id and the IP."""

    openid: str | None
    device: str | None
    ip: str | None


@dataclass(frozen=True, slots=True)
class CounterKey:
    key: str
    limit: int
    window_seconds: int


DAY_SECONDS: Final = 86_400
INVALID_HOUR_WINDOW_SECONDS: Final = 48 * 3600
"""``scans:invalid:{YYYYMMDDHH}`` counters live 48 h: the live page reads the last 24 hours."""
STORM_WINDOW_SECONDS: Final = 60


def guess_keys(policy: GuessPolicy, client: Client) -> list[CounterKey]:
    """The throttle counters of a client: per openid, device and IP, over the short window and
    the day. A client is refused once any of them has reached its limit."""
    keys: list[CounterKey] = []
    for dimension, value, limit in (
        ("openid", client.openid, policy.openid),
        ("device", client.device, policy.device),
        ("ip", client.ip, policy.ip),
    ):
        if not value:
            continue
        base = f"scans:guess:{dimension}:{value}"
        keys.append(CounterKey(f"{base}:w", limit.per_window, policy.window_seconds))
        keys.append(CounterKey(f"{base}:d", limit.per_day, DAY_SECONDS))
    return keys


def invalid_hour_key(now: datetime) -> str:
    """The counter of invalid scans in one Beijing hour (all clients), read by the live page."""
    return f"scans:invalid:{as_utc(now).astimezone(SHANGHAI):%Y%m%d%H}"


def storm_key(now: datetime) -> str:
    """The counter of invalid scans in one minute (all clients): the guessing-storm alarm."""
    return f"scans:storm:{as_utc(now).astimezone(SHANGHAI):%Y%m%d%H%M}"


def claim_key(openid: str) -> str:
    """Codes claimed by one openid in 24 hours (the claim velocity limit)."""
    return f"scans:claims:{openid}"
