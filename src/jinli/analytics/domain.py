"""Pure rules of the live campaign view (M8): which counters an event moves, Beijing hours,
and the budget burn against the time left.

No session, clock or settings here: the projection (``service.apply_live_event``) and the
view (``service.live_view``) pass everything in. Money is integer fen; shares of the window
and of the budget are integer basis points (1 bp = 0.01 %), so no float reaches a total.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from jinli.kernel.money import Fen

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR = timedelta(hours=1)
ZERO_FEN = Fen(0)
BP = 10_000
"""Basis points in a whole: shares are integers from 0 to 10 000."""

DIM_MAX = 100
"""Longest dimension value kept (a region or tier label); longer ones are cut, not refused."""

HOURS_SHOWN = 48
"""Hours in the scans-by-hour chart: the last two days, the window the invalid-scan counters
keep (``scans:invalid:{YYYYMMDDHH}`` expires after 48 h)."""

BURN_POINTS_MAX = 96
"""At most this many points on the budget-burn line, whatever the campaign's length."""

RECENT_MIN = timedelta(minutes=10)
"""The recent burn rate needs at least this much elapsed time behind it, else it is noise."""

ALERTS_KEPT = 50
"""Latest 串货 alerts kept per campaign (and guessing alerts system-wide); the totals are
exact counters, the list is only the recent tail."""
ALERTS_SHOWN = 20
"""Latest alerts of each kind the live view lists."""


class Metric(StrEnum):
    """What a live counter counts. Each row is ``(campaign, metric, dim) → count, fen``."""

    scans = "scans"
    """``dim`` is the scan's outcome: ``claimed`` (valid, prize drawn), ``repeated`` (the
    anti-counterfeit answer to a re-scan), ``refused`` (inactive batch, not live, …)."""
    refused = "refused"
    """``dim`` is the reason the scan was refused (``REFUSAL_REASONS``)."""
    tier = "tier"
    """``dim`` is the prize tier's label (``""``: a rule without tiers); fen = prizes won."""
    payout = "payout"
    """``dim`` is ``created``/``succeeded``/``failed``/``review``; fen = their amounts."""
    hour_claimed = "hour_claimed"
    """``dim`` is the Beijing hour ``YYYYMMDDHH``; fen = prizes won in that hour."""
    hour_repeated = "hour_repeated"
    hour_refused = "hour_refused"
    region_claimed = "region_claimed"
    """``dim`` is where the scan happened (the batch's region when unknown); fen = prizes."""
    region_repeated = "region_repeated"
    """``dim`` is where the re-scan happened (``""`` when unknown)."""
    region_cross = "region_cross"
    """``dim`` is the region the batch shipped to: 串货 out of that region's channel."""


class ScanOutcome(StrEnum):
    claimed = "claimed"
    repeated = "repeated"
    refused = "refused"


REFUSAL_REASONS = ("inactive", "not_live", "budget_exhausted", "throttled")
"""The reasons the scan path gives; any other reason is still counted, under its own name."""

PAYOUT_STATES = ("created", "succeeded", "failed", "review")
"""The payout events the view counts (``payout.<state>``)."""

HOUR_METRIC = {
    ScanOutcome.claimed: Metric.hour_claimed,
    ScanOutcome.repeated: Metric.hour_repeated,
    ScanOutcome.refused: Metric.hour_refused,
}


class MalformedEvent(ValueError):
    """An event of a live topic whose payload does not have the documented shape."""


# --- events → counter increments -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bump:
    """Add ``count`` and ``amount_fen`` to one counter."""

    metric: Metric
    dim: str
    count: int = 1
    amount_fen: Fen = ZERO_FEN


@dataclass(frozen=True, slots=True)
class CrossRegion:
    """A code scanned far from the region its batch shipped to (串货)."""

    batch_id: uuid.UUID | None
    batch_region: str
    scan_region: str


@dataclass(frozen=True, slots=True)
class Guessing:
    """A guessing storm: ``count`` invalid codes within ``window_seconds`` (all brands)."""

    count: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class LiveChange:
    """What one event does to the live view."""

    campaign_id: uuid.UUID | None
    """``None`` only for system-wide events (guessing alerts)."""
    bumps: tuple[Bump, ...] = ()
    alert: CrossRegion | Guessing | None = None


LIVE_TOPICS = frozenset({"scan.", "payout.", "alert."})
"""Topic prefixes the live consumer asks the relay for."""


def beijing_hour(at: datetime) -> str:
    """The Beijing hour of an instant as ``YYYYMMDDHH`` (the invalid-scan counters' format)."""
    return _aware(at).astimezone(SHANGHAI).strftime("%Y%m%d%H")


def hour_start(key: str) -> datetime:
    """The instant (UTC) a ``YYYYMMDDHH`` Beijing hour begins."""
    return datetime.strptime(key, "%Y%m%d%H").replace(tzinfo=SHANGHAI).astimezone(UTC)


def floor_hour(at: datetime) -> datetime:
    """The start of the hour containing ``at`` (Beijing has no DST, so UTC hours align)."""
    return _aware(at).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def change_for(topic: str, payload: Mapping[str, Any], occurred_at: datetime) -> LiveChange | None:
    """The counters and alert one event moves; ``None`` for topics the view ignores.

    Raises ``MalformedEvent`` when a live topic's payload lacks what the view needs.
    """
    hour = beijing_hour(occurred_at)
    if topic == "scan.claimed":
        amount = _fen(payload, "amount_fen")
        where = _text(payload.get("scan_region")) or _text(payload.get("region"))
        return LiveChange(
            _campaign(payload),
            (
                Bump(Metric.scans, ScanOutcome.claimed),
                Bump(Metric.tier, _text(payload.get("tier")), amount_fen=amount),
                Bump(Metric.hour_claimed, hour, amount_fen=amount),
                Bump(Metric.region_claimed, where, amount_fen=amount),
            ),
        )
    if topic == "scan.repeated":
        return LiveChange(
            _campaign(payload),
            (
                Bump(Metric.scans, ScanOutcome.repeated),
                Bump(Metric.hour_repeated, hour),
                Bump(Metric.region_repeated, _text(payload.get("scan_region"))),
            ),
        )
    if topic == "scan.refused":
        reason = _text(payload.get("reason"))
        if not reason:
            raise MalformedEvent("scan.refused without a reason")
        return LiveChange(
            _campaign(payload),
            (
                Bump(Metric.scans, ScanOutcome.refused),
                Bump(Metric.refused, reason),
                Bump(Metric.hour_refused, hour),
            ),
        )
    if topic == "alert.cross_region":
        batch_region = _text(payload.get("batch_region"))
        return LiveChange(
            _campaign(payload),
            (Bump(Metric.region_cross, batch_region),),
            CrossRegion(
                batch_id=_uuid_or_none(payload.get("batch_id")),
                batch_region=batch_region,
                scan_region=_text(payload.get("scan_region")),
            ),
        )
    if topic == "alert.guessing":
        return LiveChange(
            None,
            alert=Guessing(
                count=_count(payload, "count"), window_seconds=_count(payload, "window_seconds")
            ),
        )
    prefix, _, state = topic.partition(".")
    if prefix == "payout" and state in PAYOUT_STATES:
        amount = _fen(payload, "amount_fen")
        return LiveChange(_campaign(payload), (Bump(Metric.payout, state, amount_fen=amount),))
    return None


def merge(bumps: Iterable[Bump]) -> list[Bump]:
    """Sum bumps of the same counter and order them by key: one statement per counter, and
    every transaction takes the counters' row locks in the same order."""
    totals: dict[tuple[Metric, str], tuple[int, int]] = {}
    for b in bumps:
        count, amount = totals.get((b.metric, b.dim), (0, 0))
        totals[(b.metric, b.dim)] = (count + b.count, amount + b.amount_fen)
    return [
        Bump(metric, dim, count, Fen(amount))
        for (metric, dim), (count, amount) in sorted(totals.items())
    ]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _campaign(payload: Mapping[str, Any]) -> uuid.UUID:
    found = _uuid_or_none(payload.get("campaign_id"))
    if found is None:
        raise MalformedEvent("event without a valid campaign_id")
    return found


def _uuid_or_none(raw: Any) -> uuid.UUID | None:
    if raw is None or raw == "":
        return None
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise MalformedEvent(f"not a UUID: {raw!r}") from None


def _text(raw: Any) -> str:
    return "" if raw is None else str(raw).strip()[:DIM_MAX]


def _count(payload: Mapping[str, Any], key: str) -> int:
    value = payload.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MalformedEvent(f"{key} must be a non-negative integer, got {value!r}")
    return value


def _fen(payload: Mapping[str, Any], key: str) -> Fen:
    return Fen(_count(payload, key))


# --- the snapshot ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tally:
    count: int = 0
    amount_fen: Fen = ZERO_FEN


@dataclass(frozen=True, slots=True)
class ScanTotals:
    valid: int
    """Scans that claimed a code (a prize was drawn, including "thanks for taking part")."""
    repeated: int
    """Re-scans of an already claimed code (answered with the anti-counterfeit message)."""
    refused: int
    """Real codes refused: batch inactive, campaign not live, budget used up, throttled."""
    invalid_48h: int | None
    """Forged or mistyped codes in the last 48 h, **all brands** (a forged code names no
    brand); ``None`` when the counters were not available."""


@dataclass(frozen=True, slots=True)
class TierRow:
    label: str
    count: int
    amount_fen: Fen


@dataclass(frozen=True, slots=True)
class HourRow:
    hour: str
    """Beijing hour, ``YYYYMMDDHH``."""
    starts_at: datetime
    valid: int
    repeated: int
    refused: int
    invalid: int | None
    """All brands (see ``ScanTotals.invalid_48h``)."""
    prize_fen: Fen


@dataclass(frozen=True, slots=True)
class RegionRow:
    region: str
    """``""`` when unknown."""
    valid: int
    prize_fen: Fen
    repeated: int
    cross_region: int
    """串货: codes of batches shipped to this region that were scanned elsewhere."""


@dataclass(frozen=True, slots=True)
class CrossRegionAlert:
    occurred_at: datetime
    batch_id: uuid.UUID | None
    batch_region: str
    scan_region: str


@dataclass(frozen=True, slots=True)
class GuessingAlert:
    occurred_at: datetime
    count: int
    window_seconds: int


NO_FEN = Fen(0)


@dataclass(frozen=True, slots=True)
class Money:
    """The campaign's book, from the ledger (the source of truth for money)."""

    cap_fen: Fen
    funded_fen: Fen
    paid_fen: Fen
    reserved_fen: Fen
    available_fen: Fen
    returned_fen: Fen
    allotted_fen: Fen = NO_FEN
    """预拨: set aside for the scan hot path's allowance; not promised to anyone yet."""

    @property
    def remaining_fen(self) -> Fen:
        """Not promised to anyone yet: available, plus what the hot path still holds."""
        return Fen(self.available_fen + self.allotted_fen)

    @property
    def budget_fen(self) -> Fen:
        """What this campaign can spend in all: paid + reserved + still remaining."""
        return Fen(self.paid_fen + self.reserved_fen + self.remaining_fen)

    @property
    def spent_fen(self) -> Fen:
        """Paid or promised to a winner (reserved for a payout in flight)."""
        return Fen(self.paid_fen + self.reserved_fen)


@dataclass(frozen=True, slots=True)
class Burn:
    """The budget against the clock."""

    elapsed_bp: int
    """Share of the campaign window already gone, 0–10 000 bp."""
    spent_bp: int | None
    """Share of the budget paid or reserved, 0–10 000 bp; ``None`` with no budget."""
    rate_fen_per_hour: Fen | None
    """Prizes won per hour over the recent past (this hour and the one before); ``None``
    until the campaign has run ``RECENT_MIN``."""
    exhausts_at: datetime | None
    """When the available budget runs out at the recent rate; ``None`` if it does not (no
    spending, nothing left, or the campaign is over)."""
    exhausts_before_end: bool
    """The projection falls inside the window: the budget runs out before the campaign ends."""
    exhausted: bool
    """Nothing is available any more (and there was a budget)."""


@dataclass(frozen=True, slots=True)
class BurnPoint:
    at: datetime
    spent_fen: Fen | None
    """Prizes won up to ``at`` (``None`` in the future)."""
    pace_fen: Fen
    """An even pace: the budget times the share of the window elapsed at ``at``."""


@dataclass(frozen=True, slots=True)
class LiveSnapshot:
    """Everything the live page and ``GET /campaigns/{id}/live`` show, as of ``as_of``."""

    campaign_id: uuid.UUID
    name: str
    status: str
    starts_at: datetime
    ends_at: datetime
    as_of: datetime
    scans: ScanTotals
    refused_by_reason: dict[str, int]
    winners: tuple[TierRow, ...]
    """Claims by tier, the largest prize per winner first; a no-prize tier ("thanks for
    taking part") is listed too, with 0 fen."""
    payouts: dict[str, Tally]
    """Payout events by state (``created``, ``succeeded``, ``failed``, ``review``)."""
    money: Money
    burn: Burn
    burn_series: tuple[BurnPoint, ...]
    hours: tuple[HourRow, ...]
    regions: tuple[RegionRow, ...]
    cross_region_total: int
    cross_region_alerts: tuple[CrossRegionAlert, ...]
    guessing_alerts: tuple[GuessingAlert, ...]


@dataclass(frozen=True, slots=True)
class CounterRow:
    metric: Metric
    dim: str
    count: int
    amount_fen: Fen


@dataclass
class _Counters:
    by: dict[Metric, dict[str, Tally]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[CounterRow]) -> _Counters:
        made = cls()
        for row in rows:
            made.by.setdefault(row.metric, {})[row.dim] = Tally(row.count, row.amount_fen)
        return made

    def get(self, metric: Metric, dim: str) -> Tally:
        return self.by.get(metric, {}).get(dim, Tally())

    def dims(self, metric: Metric) -> dict[str, Tally]:
        return self.by.get(metric, {})


def shown_hours(starts_at: datetime, ends_at: datetime, now: datetime) -> list[str]:
    """The Beijing hours of the scans chart: up to the last ``HOURS_SHOWN`` hours of the
    window that have begun (none before the campaign starts)."""
    last = floor_hour(min(now, ends_at - timedelta(microseconds=1)))
    first = max(floor_hour(starts_at), last - (HOURS_SHOWN - 1) * HOUR)
    hours = []
    at = first
    while at <= last:
        hours.append(beijing_hour(at))
        at += HOUR
    return hours


def burn(
    *,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    money: Money,
    prize_fen_by_hour: Mapping[str, int],
) -> Burn:
    """Budget burn against time left.

    The recent rate is the prizes won in this Beijing hour and the one before, divided by the
    time they cover (60–120 min, less if the campaign began inside it). The projection is
    ``now + remaining / rate`` (available + allotted); it matters only while the window is open.
    """
    window = (ends_at - starts_at).total_seconds()
    elapsed = min(max((now - starts_at).total_seconds(), 0.0), window)
    elapsed_bp = int(elapsed * BP // window) if window > 0 else BP
    budget = money.budget_fen
    spent_bp = min(money.spent_fen * BP // budget, BP) if budget > 0 else None
    since = max(floor_hour(now) - HOUR, starts_at)
    span = (min(now, ends_at) - since).total_seconds()
    rate: Fen | None = None
    if span >= RECENT_MIN.total_seconds():
        recent = sum(
            fen for hour, fen in prize_fen_by_hour.items() if hour_start(hour) >= floor_hour(since)
        )
        rate = Fen(int(recent * 3600 // span))
    exhausted = budget > 0 and money.remaining_fen == 0
    exhausts_at = None
    if rate and money.remaining_fen > 0 and starts_at <= now < ends_at:
        exhausts_at = now + timedelta(seconds=money.remaining_fen * 3600 // rate)
    return Burn(
        elapsed_bp=elapsed_bp,
        spent_bp=spent_bp,
        rate_fen_per_hour=rate,
        exhausts_at=exhausts_at,
        exhausts_before_end=exhausts_at is not None and exhausts_at < ends_at,
        exhausted=exhausted,
    )


def burn_series(
    *,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    budget_fen: Fen,
    prize_fen_by_hour: Mapping[str, int],
) -> list[BurnPoint]:
    """Cumulative prizes won over the whole window against an even pace, at most
    ``BURN_POINTS_MAX`` points (hourly, or every few hours for long campaigns)."""
    first = floor_hour(starts_at)
    hours = max(1, -(-int((ends_at - first).total_seconds()) // 3600))
    step = -(-hours // BURN_POINTS_MAX)
    window = (ends_at - starts_at).total_seconds()
    by_start = sorted((hour_start(h), fen) for h, fen in prize_fen_by_hour.items())
    points = []
    cumulative = 0
    index = 0
    past_now = False
    for i in range(0, hours + step, step):
        at = min(first + i * HOUR, ends_at)
        while index < len(by_start) and by_start[index][0] < at:
            cumulative += by_start[index][1]
            index += 1
        share = min(max((at - starts_at).total_seconds(), 0.0), window)
        pace = Fen(int(budget_fen * share // window)) if window > 0 else budget_fen
        points.append(BurnPoint(at, None if past_now else Fen(cumulative), pace))
        past_now = past_now or at >= now
        if at >= ends_at:
            break
    return points


def snapshot(
    *,
    campaign_id: uuid.UUID,
    name: str,
    status: str,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    counters: Iterable[CounterRow],
    money: Money,
    invalid_by_hour: Mapping[str, int] | None,
    cross_region_alerts: Iterable[CrossRegionAlert],
    guessing_alerts: Iterable[GuessingAlert],
) -> LiveSnapshot:
    """Assemble the view from the projection's counters, the ledger and the counters store."""
    c = _Counters.of(counters)
    scans = ScanTotals(
        valid=c.get(Metric.scans, ScanOutcome.claimed).count,
        repeated=c.get(Metric.scans, ScanOutcome.repeated).count,
        refused=c.get(Metric.scans, ScanOutcome.refused).count,
        invalid_48h=None if invalid_by_hour is None else sum(invalid_by_hour.values()),
    )
    refused = {reason: c.get(Metric.refused, reason).count for reason in REFUSAL_REASONS}
    refused.update({k: v.count for k, v in sorted(c.dims(Metric.refused).items())})
    winners = tuple(
        TierRow(label, t.count, t.amount_fen)
        for label, t in sorted(
            c.dims(Metric.tier).items(),
            key=lambda kv: (-(kv[1].amount_fen // max(kv[1].count, 1)), kv[0]),
        )
    )
    payouts = {state: c.get(Metric.payout, state) for state in PAYOUT_STATES}
    prize_by_hour = {h: t.amount_fen for h, t in c.dims(Metric.hour_claimed).items()}
    hours = tuple(
        HourRow(
            hour=h,
            starts_at=hour_start(h),
            valid=c.get(Metric.hour_claimed, h).count,
            repeated=c.get(Metric.hour_repeated, h).count,
            refused=c.get(Metric.hour_refused, h).count,
            invalid=None if invalid_by_hour is None else invalid_by_hour.get(h, 0),
            prize_fen=c.get(Metric.hour_claimed, h).amount_fen,
        )
        for h in shown_hours(starts_at, ends_at, now)
    )
    region_names = set(c.dims(Metric.region_claimed)) | set(c.dims(Metric.region_repeated))
    region_names |= set(c.dims(Metric.region_cross))
    regions = sorted(
        (
            RegionRow(
                region=r,
                valid=c.get(Metric.region_claimed, r).count,
                prize_fen=c.get(Metric.region_claimed, r).amount_fen,
                repeated=c.get(Metric.region_repeated, r).count,
                cross_region=c.get(Metric.region_cross, r).count,
            )
            for r in region_names
        ),
        key=lambda row: (
            -row.valid,
            -row.repeated,
            -row.cross_region,
            row.region == "",
            row.region,
        ),
    )
    return LiveSnapshot(
        campaign_id=campaign_id,
        name=name,
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        as_of=now,
        scans=scans,
        refused_by_reason=refused,
        winners=winners,
        payouts=payouts,
        money=money,
        burn=burn(
            starts_at=starts_at,
            ends_at=ends_at,
            now=now,
            money=money,
            prize_fen_by_hour=prize_by_hour,
        ),
        burn_series=tuple(
            burn_series(
                starts_at=starts_at,
                ends_at=ends_at,
                now=now,
                budget_fen=money.budget_fen,
                prize_fen_by_hour=prize_by_hour,
            )
        ),
        hours=hours,
        regions=tuple(regions),
        cross_region_total=sum(t.count for t in c.dims(Metric.region_cross).values()),
        cross_region_alerts=tuple(cross_region_alerts),
        guessing_alerts=tuple(guessing_alerts),
    )
