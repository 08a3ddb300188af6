"""Pure rules of campaigns: the lifecycle transition table, reward rules, channels, windows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from jinli.campaigns.errors import (
    IllegalTransition,
    InvalidPayoutPolicy,
    InvalidRewardRule,
    InvalidWindow,
)
from jinli.kernel.money import Fen


class CampaignStatus(StrEnum):
    draft = "draft"
    """Being built; invisible to consumers; everything editable."""
    scheduled = "scheduled"
    """Published, waiting for its start time; goes live by itself."""
    live = "live"
    """Consumers can take part; money can be reserved."""
    paused = "paused"
    """Temporarily closed to consumers (by an operator or a circuit breaker)."""
    ended = "ended"
    """Closed for good; payouts in flight still finish."""
    settled = "settled"
    """Books closed: nothing reserved, unspent budget handed back. Terminal."""


class Action(StrEnum):
    publish = "publish"
    unpublish = "unpublish"
    start = "start"
    pause = "pause"
    resume = "resume"
    end = "end"
    settle = "settle"


S = CampaignStatus
TRANSITIONS: dict[Action, dict[CampaignStatus, CampaignStatus]] = {
    Action.publish: {S.draft: S.scheduled},
    Action.unpublish: {S.scheduled: S.draft},
    Action.start: {S.scheduled: S.live},
    Action.pause: {S.live: S.paused},
    Action.resume: {S.paused: S.live},
    Action.end: {S.scheduled: S.ended, S.live: S.ended, S.paused: S.ended},
    Action.settle: {S.ended: S.settled},
}
"""The whole lifecycle: (action, from) → to. Anything not listed is an illegal transition.

``publish`` lands in *scheduled*; if the window has already begun the service immediately
applies ``start`` as well, so an operator publishing a running window sees it *live*."""

EVENT_NAMES: dict[Action, str] = {
    Action.publish: "campaign.published",
    Action.unpublish: "campaign.unpublished",
    Action.start: "campaign.started",
    Action.pause: "campaign.paused",
    Action.resume: "campaign.resumed",
    Action.end: "campaign.ended",
    Action.settle: "campaign.settled",
}


def next_status(current: CampaignStatus, action: Action) -> CampaignStatus:
    """The status after ``action``, or ``IllegalTransition`` (stable code) if not allowed."""
    target = TRANSITIONS[action].get(current)
    if target is None:
        raise IllegalTransition(
            f"cannot {action} a campaign that is {current}", status=current, action=action
        )
    return target


PAYOUT_FIELDS = frozenset({"payout_mode", "reissue_policy", "max_auto_reissues"})
"""How the campaign pays: each payout is created with (and keeps) the options in force at that
moment, so changing them while live only affects payouts created afterwards."""

EDITABLE_FIELDS: dict[CampaignStatus, frozenset[str]] = {
    S.draft: frozenset({"name", "description", "starts_at", "ends_at", "reward_rule", "kpi"})
    | PAYOUT_FIELDS,
    S.scheduled: frozenset({"name", "description", "starts_at", "ends_at", "reward_rule", "kpi"})
    | PAYOUT_FIELDS,
    S.live: frozenset({"name", "description", "ends_at", "kpi"}) | PAYOUT_FIELDS,
    S.paused: frozenset({"name", "description", "ends_at", "kpi"}) | PAYOUT_FIELDS,
    S.ended: frozenset(),
    S.settled: frozenset(),
}
"""What an operator may still change in each status: once consumers can take part, the start
and the reward rule are fixed so that nobody's chances change under them."""


def check_window(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise InvalidWindow("times must carry a timezone (Asia/Shanghai is assumed in forms)")
    if ends_at <= starts_at:
        raise InvalidWindow("the campaign must end after it starts")


class ChannelKind(StrEnum):
    oa_menu = "oa_menu"
    """Official-account menu (公众号菜单)."""
    mini_program = "mini_program"
    """Mini-program entry (小程序)."""
    community = "community"
    """Community / group share link (社群)."""
    offline_qr = "offline_qr"
    """Offline QR code (线下二维码): posters, packaging, stores."""


CHANNEL_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")


# --- payout options --------------------------------------------------------------------------
# Campaigns and payouts are peers and never import each other: these are campaigns' own words
# for the options, with the same string values as ``payouts.domain.PayoutMode``. Whoever creates
# a payout for a campaign (a capability above both) passes them on with ``payout_terms``.


class PayoutMode(StrEnum):
    """How the campaign's rewards reach consumers (the values of ``payouts.domain.PayoutMode``)."""

    transfer = "transfer"
    """Merchant transfer (商家转账): the consumer confirms receipt within 24 h."""
    brand_red_packet = "brand_red_packet"
    """Brand red packet (品牌红包)."""
    red_packet = "red_packet"
    """Cash red packet (现金红包): opened within 24 h, else refunded to the merchant."""


class ReissuePolicy(StrEnum):
    """What happens when a payout fails for a reason that is safe to retry to the same person
    (an unopened red packet refunded after 24 h, an unconfirmed transfer closed)."""

    off = "off"
    """Nothing automatic: finance decides about every failed payout (one-click reissue)."""
    same_mode = "same_mode"
    """Reissue automatically, the same way the failed payout was made."""
    as_transfer = "as_transfer"
    """Reissue automatically as a merchant transfer."""
    as_brand_red_packet = "as_brand_red_packet"
    """Reissue automatically as a brand red packet."""


MAX_AUTO_REISSUES = 5
"""Upper bound of automatic reissues per payout: each one is a new WeChat Pay number for the
same reward, and a consumer who never collects should reach a person, not loop for weeks."""


@dataclass(frozen=True, slots=True)
class PayoutTerms:
    """What a payout for this campaign is created with: its mode, the mode of an automatic
    reissue (``None``: none) and how many automatic reissues it may have."""

    mode: str
    reissue_as: str | None
    auto_reissues: int


def check_payout_options(policy: ReissuePolicy, max_auto_reissues: int) -> None:
    if isinstance(max_auto_reissues, bool) or not 0 <= max_auto_reissues <= MAX_AUTO_REISSUES:
        raise InvalidPayoutPolicy(
            f"the number of automatic reissues is between 0 and {MAX_AUTO_REISSUES}"
        )
    if policy != ReissuePolicy.off and max_auto_reissues == 0:
        raise InvalidPayoutPolicy(
            "automatic reissue needs at least 1 reissue per payout (or set the policy to off)"
        )


def payout_terms(
    mode: PayoutMode,
    policy: ReissuePolicy,
    max_auto_reissues: int,
    *,
    override_mode: PayoutMode | None = None,
) -> PayoutTerms:
    """The terms of a new payout: the campaign's mode (or ``override_mode``), and the mode its
    automatic reissue would use under ``policy``."""
    actual = override_mode or mode
    reissue_as = {
        ReissuePolicy.off: None,
        ReissuePolicy.same_mode: actual,
        ReissuePolicy.as_transfer: PayoutMode.transfer,
        ReissuePolicy.as_brand_red_packet: PayoutMode.brand_red_packet,
    }[policy]
    return PayoutTerms(
        mode=str(actual),
        reissue_as=None if reissue_as is None else str(reissue_as),
        auto_reissues=0 if reissue_as is None else max_auto_reissues,
    )


# --- reward rules ------------------------------------------------------------------------
# A rule is a frozen dataclass registered by its ``kind``. Adding a kind means adding one
# dataclass here (with ``validate``) and one schema in ``schemas.py``. Campaigns sits below
# rewards, so the bounds below repeat ``rewards.domain``'s (the scan converts a stored rule
# into a ``PrizeRule`` or a pool, which validate again).

MAX_PRIZE_FEN = 20_000_00
"""The largest single prize or share: 20,000 yuan (``rewards.domain.MAX_PRIZE_FEN``)."""
MAX_TIERS = 20
MAX_REGIONS = 1_000
MAX_LABEL_CHARS = 32
MAX_REGION_CHARS = 64
MAX_SHARES = 1_000_000
MAX_POOL_FEN = 10**12


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


PAGE_FIELDS = ("message", "link_url", "link_label")
"""What the consumer's result page shows for a rule that pays (scan-to-win): the brand's message
and a link onward (a mini-program or official-account page). Stored only when set."""

MAX_MESSAGE_CHARS = 200
MAX_LINK_LABEL_CHARS = 20
LINK_SCHEMES = ("https://", "http://", "weixin://")
"""Links onward are web pages or WeChat URL schemes (``weixin://dl/business/?t=…`` opens a
mini-program); anything else (``javascript:``, ``data:``) is refused."""


def check_page(message: str, link_url: str, link_label: str) -> None:
    """The result page's message and link onward: short, and only safe link schemes."""
    for name, value in (("message", message), ("link_url", link_url), ("link_label", link_label)):
        if not isinstance(value, str):
            raise InvalidRewardRule(f"{name} is text")
    if len(message) > MAX_MESSAGE_CHARS:
        raise InvalidRewardRule(f"the message has at most {MAX_MESSAGE_CHARS} characters")
    if len(link_label) > MAX_LINK_LABEL_CHARS:
        raise InvalidRewardRule(f"the link label has at most {MAX_LINK_LABEL_CHARS} characters")
    if link_url and (
        not link_url.startswith(LINK_SCHEMES)
        or len(link_url) > 500
        or any(c.isspace() or c in "<>\"'" for c in link_url)
    ):
        raise InvalidRewardRule("the link is an https://, http:// or weixin:// URL")
    if link_label and not link_url:
        raise InvalidRewardRule("a link label needs a link")


@dataclass(frozen=True, slots=True)
class RewardRule:
    kind: ClassVar[str] = ""

    def validate(self) -> None:  # pragma: no cover - every kind overrides
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        data = {
            k: getattr(self, k)
            for k in self.__dataclass_fields__
            if k not in PAGE_FIELDS or getattr(self, k)
        }
        return {"kind": self.kind, **data}


@dataclass(frozen=True, slots=True)
class NoReward(RewardRule):
    """Campaigns that pay nothing themselves (e.g. a pure attribution or content campaign)."""

    kind: ClassVar[str] = "none"

    def validate(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class FixedAmount(RewardRule):
    """Every winner gets the same amount (固定金额), up to ``max_winners`` if set."""

    kind: ClassVar[str] = "fixed"
    amount_fen: Fen = 100  # type: ignore[assignment]  # Fen is an int at run time
    max_winners: int | None = None
    """At most this many winners (a pool of equal shares taken one by one); ``None``: as many
    as the budget pays for."""
    message: str = ""
    link_url: str = ""
    link_label: str = ""

    def validate(self) -> None:
        if isinstance(self.amount_fen, bool) or not isinstance(self.amount_fen, int):
            raise InvalidRewardRule("amount_fen must be an integer")
        if not 1 <= self.amount_fen <= MAX_PRIZE_FEN:
            raise InvalidRewardRule("a fixed reward is between 1 fen and 20,000 yuan")
        if self.max_winners is not None and not _is_int(self.max_winners):
            raise InvalidRewardRule("max_winners must be an integer")
        if self.max_winners is not None and not 1 <= self.max_winners <= MAX_SHARES:
            raise InvalidRewardRule(f"max_winners is between 1 and {MAX_SHARES:,}")
        check_page(self.message, self.link_url, self.link_label)


@dataclass(frozen=True, slots=True)
class Tier:
    amount_fen: Fen
    probability_ppm: int
    """Chance in parts per million (1 % = 10,000 ppm), exact integers so odds sum exactly."""
    label: str = ""


def _check_tiers(tiers: tuple[Tier, ...], where: str) -> None:
    if not tiers:
        raise InvalidRewardRule(f"{where}: at least one prize tier is needed")
    if len(tiers) > MAX_TIERS:
        raise InvalidRewardRule(f"{where}: at most {MAX_TIERS} tiers")
    if sum(t.probability_ppm for t in tiers) > 1_000_000:
        raise InvalidRewardRule(f"{where}: tier probabilities add up to more than 100 %")
    labels = [t.label for t in tiers if t.label]
    if len(set(labels)) != len(labels):
        raise InvalidRewardRule(f"{where}: tier labels must be unique")
    for tier in tiers:
        if not (_is_int(tier.amount_fen) and _is_int(tier.probability_ppm)):
            raise InvalidRewardRule(f"{where}: amounts and probabilities are integers")
        if not 1 <= tier.amount_fen <= MAX_PRIZE_FEN or tier.probability_ppm < 1:
            raise InvalidRewardRule("every tier needs a positive amount and probability")
        if not isinstance(tier.label, str) or len(tier.label) > MAX_LABEL_CHARS:
            raise InvalidRewardRule(f"{where}: a tier label has at most {MAX_LABEL_CHARS} chars")
        if tier.label != tier.label.strip():
            raise InvalidRewardRule(f"{where}: a tier label has no outer spaces")


def _tiers_dicts(tiers: tuple[Tier, ...]) -> list[dict[str, Any]]:
    return [
        {"amount_fen": t.amount_fen, "probability_ppm": t.probability_ppm, "label": t.label}
        for t in tiers
    ]


@dataclass(frozen=True, slots=True)
class PrizeTiers(RewardRule):
    """Bottle-cap style tiers (1 % ¥8.88, 10 % ¥1.88 …); the rest is "thanks for taking part".

    ``regions`` optionally replaces the table for codes shipped to a region (the region a
    batch is activated for, a ``/``-path such as ``浙江/杭州``: a scan uses the most specific
    table on its path, else the default). The stored form converts one to one into
    ``rewards.domain.PrizeRule`` (unlabelled tiers are named by their amount)."""

    kind: ClassVar[str] = "tiers"
    tiers: tuple[Tier, ...] = field(default_factory=tuple)
    regions: tuple[tuple[str, tuple[Tier, ...]], ...] = ()
    message: str = ""
    link_url: str = ""
    link_label: str = ""

    def validate(self) -> None:
        _check_tiers(self.tiers, "default table")
        if len(self.regions) > MAX_REGIONS:
            raise InvalidRewardRule(f"at most {MAX_REGIONS} regional tables")
        seen: set[str] = set()
        for region, tiers in self.regions:
            if (
                not isinstance(region, str)
                or not region.strip()
                or region != region.strip()
                or len(region) > MAX_REGION_CHARS
                or region.startswith("/")
                or region.endswith("/")
                or "//" in region
            ):
                raise InvalidRewardRule(
                    f"a region is a non-empty '/'-path of at most {MAX_REGION_CHARS} characters"
                )
            if region in seen:
                raise InvalidRewardRule(f"region {region!r} has two tables")
            seen.add(region)
            _check_tiers(tiers, f"region {region}")
        check_page(self.message, self.link_url, self.link_label)

    def expected_cost_fen_per_draw(self) -> float:
        return sum(t.amount_fen * t.probability_ppm for t in self.tiers) / 1_000_000

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "tiers": _tiers_dicts(self.tiers)}
        if self.regions:
            data["regions"] = {region: _tiers_dicts(tiers) for region, tiers in self.regions}
        for name in PAGE_FIELDS:
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data


class SplitAlgorithm(StrEnum):
    """How a lucky-split pool is cut (the values of ``rewards.domain.SplitAlgorithm``)."""

    double_mean = "double_mean"
    """二倍均值 (WeChat's)."""
    line_segment = "line_segment"
    """线段切割: the widest spread."""
    bounded_normal = "bounded_normal"
    """Normal around the mean, clipped: the narrowest spread."""


@dataclass(frozen=True, slots=True)
class LuckySplitRule(RewardRule):
    """拼手气: ``total_fen`` split at random into ``shares`` shares (each ≥ ``min_fen``, ≤
    ``max_fen`` if set), pre-split and shuffled with the CSPRNG before the first claim; every
    claim takes the next share, and Σ of all shares == ``total_fen`` exactly."""

    kind: ClassVar[str] = "lucky_split"
    total_fen: Fen = 100_00  # type: ignore[assignment]  # Fen is an int at run time
    shares: int = 100
    algorithm: SplitAlgorithm = SplitAlgorithm.double_mean
    min_fen: Fen = 1  # type: ignore[assignment]
    max_fen: Fen | None = None
    message: str = ""
    link_url: str = ""
    link_label: str = ""

    def validate(self) -> None:
        for name in ("total_fen", "shares", "min_fen"):
            if not _is_int(getattr(self, name)):
                raise InvalidRewardRule(f"{name} must be an integer")
        if self.max_fen is not None and not _is_int(self.max_fen):
            raise InvalidRewardRule("max_fen must be an integer")
        try:
            SplitAlgorithm(self.algorithm)
        except ValueError:
            raise InvalidRewardRule(f"unknown split algorithm {self.algorithm!r}") from None
        if not 1 <= self.shares <= MAX_SHARES:
            raise InvalidRewardRule(f"a pool has 1 to {MAX_SHARES:,} shares")
        if not 1 <= self.total_fen <= MAX_POOL_FEN:
            raise InvalidRewardRule("the pool total is at least 1 fen")
        if not 1 <= self.min_fen <= MAX_PRIZE_FEN:
            raise InvalidRewardRule("min_fen is between 1 fen and 20,000 yuan")
        cap = MAX_PRIZE_FEN if self.max_fen is None else self.max_fen
        if not self.min_fen <= cap <= MAX_PRIZE_FEN:
            raise InvalidRewardRule("max_fen is between min_fen and 20,000 yuan")
        if not self.shares * self.min_fen <= self.total_fen <= self.shares * cap:
            raise InvalidRewardRule(
                f"{self.total_fen} fen cannot be split into {self.shares} shares of "
                f"{self.min_fen}–{cap} fen"
            )
        check_page(self.message, self.link_url, self.link_label)

    def to_dict(self) -> dict[str, Any]:
        data = RewardRule.to_dict(self)
        data["algorithm"] = SplitAlgorithm(self.algorithm).value
        return data


RULE_KINDS: dict[str, type[RewardRule]] = {
    cls.kind: cls for cls in (NoReward, FixedAmount, PrizeTiers, LuckySplitRule)
}


def _tiers_from(rows: Any) -> tuple[Tier, ...]:
    if not isinstance(rows, list | tuple):
        raise InvalidRewardRule("tiers are a list")
    return tuple(Tier(**t) for t in rows)


def rule_from_dict(data: dict[str, Any]) -> RewardRule:
    """Build and validate a rule from its stored form; unknown kinds are clear errors."""
    data = dict(data)
    kind = data.pop("kind", None)
    cls = RULE_KINDS.get(str(kind))
    if cls is None:
        raise InvalidRewardRule(f"unknown reward rule kind {kind!r}")
    try:
        if cls is PrizeTiers:
            regions = data.pop("regions", None) or {}
            if not isinstance(regions, dict):
                raise InvalidRewardRule("'regions' maps a region to its tiers")
            rule: RewardRule = PrizeTiers(
                tiers=_tiers_from(data.pop("tiers", [])),
                regions=tuple((str(r), _tiers_from(rows)) for r, rows in regions.items()),
                **data,
            )
        else:
            rule = cls(**data)
    except TypeError as exc:
        raise InvalidRewardRule(f"bad fields for a {kind} rule: {exc}") from None
    rule.validate()
    return rule
