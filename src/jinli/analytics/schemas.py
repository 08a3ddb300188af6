"""API output shapes of the live campaign view. Money is integer fen; shares are integer
basis points (1 bp = 0.01 %); times are ISO 8601 UTC."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ScanTotalsRead(Schema):
    valid: int = Field(description="Scans that claimed a code (a prize was drawn)")
    repeated: int = Field(description="Re-scans of claimed codes (anti-counterfeit answer)")
    refused: int = Field(description="Real codes refused (inactive, not live, budget, throttled)")
    invalid_48h: int | None = Field(
        description="Forged or mistyped codes in the last 48 h across ALL brands (a forged "
        "code names no brand); null when the counters are unavailable"
    )


class TallyRead(Schema):
    count: int
    amount_fen: int


class TierRead(Schema):
    label: str = Field(description='Prize tier label ("" for a rule without tiers)')
    count: int
    amount_fen: int


class MoneyRead(Schema):
    cap_fen: int
    funded_fen: int
    paid_fen: int
    reserved_fen: int
    available_fen: int = Field(description="Remaining: not yet promised to anyone")
    returned_fen: int
    allotted_fen: int = Field(
        0, description="预拨: set aside for the scan hot path's allowance, not yet promised"
    )
    remaining_fen: int = Field(0, description="available + allotted")
    budget_fen: int = Field(description="paid + reserved + available + allotted")
    spent_fen: int = Field(description="paid + reserved")


class BurnRead(Schema):
    elapsed_bp: int = Field(description="Share of the campaign window gone, 0–10000 bp")
    spent_bp: int | None = Field(description="Share of the budget paid or reserved, bp")
    rate_fen_per_hour: int | None = Field(description="Prizes won per hour, recent past")
    exhausts_at: datetime | None = Field(description="Budget runs out at the recent rate")
    exhausts_before_end: bool
    exhausted: bool


class BurnPointRead(Schema):
    at: datetime
    spent_fen: int | None = Field(description="Prizes won up to this time (null: future)")
    pace_fen: int = Field(description="Budget × share of the window elapsed (an even pace)")


class HourRead(Schema):
    hour: str = Field(description="Beijing hour, YYYYMMDDHH")
    starts_at: datetime
    valid: int
    repeated: int
    refused: int
    invalid: int | None = Field(description="All brands; null when unavailable")
    prize_fen: int


class RegionRead(Schema):
    region: str = Field(description='Where the scans happened ("" unknown)')
    valid: int
    prize_fen: int
    repeated: int
    cross_region: int = Field(description="串货: codes shipped here, scanned elsewhere")


class CrossRegionAlertRead(Schema):
    occurred_at: datetime
    batch_id: uuid.UUID | None
    batch_region: str
    scan_region: str


class GuessingAlertRead(Schema):
    occurred_at: datetime
    count: int = Field(description="Invalid codes within the window, all brands")
    window_seconds: int


class LiveRead(Schema):
    """The live view of a campaign (``GET /campaigns/{id}/live``)."""

    campaign_id: uuid.UUID
    name: str
    status: str
    starts_at: datetime
    ends_at: datetime
    as_of: datetime
    scans: ScanTotalsRead
    refused_by_reason: dict[str, int]
    winners: list[TierRead]
    payouts: dict[str, TallyRead] = Field(
        description="Payout events: created, succeeded, failed, sent to review"
    )
    money: MoneyRead
    burn: BurnRead
    burn_series: list[BurnPointRead]
    hours: list[HourRead] = Field(description="Scans by Beijing hour, last 48 h of the window")
    regions: list[RegionRead]
    cross_region_total: int
    cross_region_alerts: list[CrossRegionAlertRead] = Field(description="Latest 串货 alerts")
    guessing_alerts: list[GuessingAlertRead] = Field(
        description="Latest guessing storms during the window (system-wide)"
    )
