"""Pure rules of campaigns: the lifecycle transition table, reward rules, channels, windows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from jinli.campaigns.errors import (
    IllegalTransition,
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


EDITABLE_FIELDS: dict[CampaignStatus, frozenset[str]] = {
    S.draft: frozenset({"name", "description", "starts_at", "ends_at", "reward_rule", "kpi"}),
    S.scheduled: frozenset({"name", "description", "starts_at", "ends_at", "reward_rule", "kpi"}),
    S.live: frozenset({"name", "description", "ends_at", "kpi"}),
    S.paused: frozenset({"name", "description", "ends_at", "kpi"}),
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


# --- reward rules ------------------------------------------------------------------------
# A rule is a frozen dataclass registered by its ``kind``. Adding a kind means adding one
# dataclass here (with ``validate`` and ``max_cost_fen``) and one schema in ``schemas.py``.


@dataclass(frozen=True, slots=True)
class RewardRule:
    kind: ClassVar[str] = ""

    def validate(self) -> None:  # pragma: no cover - every kind overrides
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
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

    def validate(self) -> None:
        if isinstance(self.amount_fen, bool) or not isinstance(self.amount_fen, int):
            raise InvalidRewardRule("amount_fen must be an integer")
        if not 1 <= self.amount_fen <= 20_000_00:
            raise InvalidRewardRule("a fixed reward is between 1 fen and 20,000 yuan")
        if self.max_winners is not None and self.max_winners < 1:
            raise InvalidRewardRule("max_winners must be at least 1")


@dataclass(frozen=True, slots=True)
class Tier:
    amount_fen: Fen
    probability_ppm: int
    """Chance in parts per million (1 % = 10,000 ppm), exact integers so odds sum exactly."""
    label: str = ""


@dataclass(frozen=True, slots=True)
class PrizeTiers(RewardRule):
    """Bottle-cap style tiers (1 % ¥8.88, 10 % ¥1.88 …); the rest is "thanks for taking part"."""

    kind: ClassVar[str] = "tiers"
    tiers: tuple[Tier, ...] = field(default_factory=tuple)

    def validate(self) -> None:
        if not self.tiers:
            raise InvalidRewardRule("at least one prize tier is needed")
        if sum(t.probability_ppm for t in self.tiers) > 1_000_000:
            raise InvalidRewardRule("tier probabilities add up to more than 100 %")
        for tier in self.tiers:
            if tier.amount_fen < 1 or tier.probability_ppm < 1:
                raise InvalidRewardRule("every tier needs a positive amount and probability")

    def expected_cost_fen_per_draw(self) -> float:
        return sum(t.amount_fen * t.probability_ppm for t in self.tiers) / 1_000_000

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tiers": [
                {"amount_fen": t.amount_fen, "probability_ppm": t.probability_ppm, "label": t.label}
                for t in self.tiers
            ],
        }


RULE_KINDS: dict[str, type[RewardRule]] = {
    cls.kind: cls for cls in (NoReward, FixedAmount, PrizeTiers)
}


def rule_from_dict(data: dict[str, Any]) -> RewardRule:
    """Build and validate a rule from its stored form; unknown kinds are clear errors."""
    data = dict(data)
    kind = data.pop("kind", None)
    cls = RULE_KINDS.get(str(kind))
    if cls is None:
        raise InvalidRewardRule(f"unknown reward rule kind {kind!r}")
    try:
        if cls is PrizeTiers:
            rule: RewardRule = PrizeTiers(tiers=tuple(Tier(**t) for t in data.get("tiers", [])))
        else:
            rule = cls(**data)
    except TypeError as exc:
        raise InvalidRewardRule(f"bad fields for a {kind} rule: {exc}") from None
    rule.validate()
    return rule
