"""API input and output shapes of campaigns. Money is ``*_fen``: strict integers, never floats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from jinli.campaigns.domain import (
    MAX_AUTO_REISSUES,
    MAX_LABEL_CHARS,
    MAX_LINK_LABEL_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_POOL_FEN,
    MAX_PRIZE_FEN,
    MAX_REGION_CHARS,
    MAX_REGIONS,
    MAX_SHARES,
    MAX_TIERS,
    CampaignStatus,
    ChannelKind,
    PayoutMode,
    ReissuePolicy,
    SplitAlgorithm,
)
from jinli.kernel.clock import SHANGHAI

MAX_FEN = 10**12
"""Ten billion yuan: far above any campaign, far below BIGINT overflow."""

FenAmount = Annotated[StrictInt, Field(ge=0, le=MAX_FEN, description="Amount in fen (1 CNY = 100)")]
PositiveFen = Annotated[StrictInt, Field(gt=0, le=MAX_FEN, description="Amount in fen, > 0")]


def _assume_shanghai(value: datetime) -> datetime:
    """A time without an offset is Beijing time, as operators think of it."""
    return value.replace(tzinfo=SHANGHAI) if value.tzinfo is None else value


ShanghaiTime = Annotated[datetime, AfterValidator(_assume_shanghai)]


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class InputSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


# --- reward rules: one schema per kind, discriminated by ``kind`` ---------------------------


class NoRewardSchema(InputSchema):
    kind: Literal["none"] = "none"


PrizeFen = Annotated[
    StrictInt,
    Field(gt=0, le=MAX_PRIZE_FEN, description="Amount in fen, 1 fen to 20,000 yuan"),
]


class ResultPage(InputSchema):
    """What the consumer's result page shows besides the prize (scan-to-win)."""

    message: str = Field(
        "", max_length=MAX_MESSAGE_CHARS, description="The brand's message under the prize"
    )
    link_url: str = Field(
        "",
        max_length=500,
        description="A link onward: an https:// page or a weixin:// mini-program URL scheme",
    )
    link_label: str = Field("", max_length=MAX_LINK_LABEL_CHARS, description="The link's text")


class FixedAmountSchema(ResultPage):
    kind: Literal["fixed"]
    amount_fen: PrizeFen
    max_winners: StrictInt | None = Field(None, ge=1, le=MAX_SHARES)


class TierSchema(InputSchema):
    amount_fen: PrizeFen
    probability_ppm: StrictInt = Field(gt=0, le=1_000_000, description="parts per million")
    label: str = Field("", max_length=MAX_LABEL_CHARS)


class PrizeTiersSchema(ResultPage):
    """Prize tiers, optionally per region of the code batch (``浙江/杭州``): a scan uses the
    most specific regional table on the batch's region path, else ``tiers``."""

    kind: Literal["tiers"]
    tiers: list[TierSchema] = Field(min_length=1, max_length=MAX_TIERS)
    regions: dict[
        Annotated[str, Field(min_length=1, max_length=MAX_REGION_CHARS)],
        Annotated[list[TierSchema], Field(min_length=1, max_length=MAX_TIERS)],
    ] = Field(default_factory=dict, max_length=MAX_REGIONS)


class LuckySplitSchema(ResultPage):
    """拼手气: a total split at random among N shares, pre-split and shuffled before the
    first claim; each claim takes one share."""

    kind: Literal["lucky_split"]
    total_fen: StrictInt = Field(gt=0, le=MAX_POOL_FEN, description="Pool total in fen")
    shares: StrictInt = Field(ge=1, le=MAX_SHARES)
    algorithm: SplitAlgorithm = SplitAlgorithm.double_mean
    min_fen: PrizeFen = 1
    max_fen: PrizeFen | None = None


AutoReissues = Annotated[
    StrictInt,
    Field(
        ge=0,
        le=MAX_AUTO_REISSUES,
        description="Automatic reissues allowed per payout (needs a reissue policy other than off)",
    ),
]

RewardRuleSchema = Annotated[
    NoRewardSchema | FixedAmountSchema | PrizeTiersSchema | LuckySplitSchema,
    Field(discriminator="kind"),
]


class KpiTargets(InputSchema):
    """Funnel targets (seed 001). Rates are in basis points (8 % = 800) to stay integral."""

    exposure: StrictInt | None = Field(None, ge=0)
    click_rate_bp: StrictInt | None = Field(None, ge=0, le=10_000)
    conversion_rate_bp: StrictInt | None = Field(None, ge=0, le=10_000)
    d3_retention_bp: StrictInt | None = Field(None, ge=0, le=10_000)
    share_rate_bp: StrictInt | None = Field(None, ge=0, le=10_000)


class CampaignCreate(InputSchema):
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=5000)
    budget_cap_fen: FenAmount
    initial_funding_fen: FenAmount = 0
    starts_at: ShanghaiTime
    ends_at: ShanghaiTime
    reward_rule: RewardRuleSchema = Field(default_factory=NoRewardSchema)
    kpi: KpiTargets = Field(default_factory=KpiTargets)
    payout_mode: PayoutMode = PayoutMode.transfer
    reissue_policy: ReissuePolicy = ReissuePolicy.off
    max_auto_reissues: AutoReissues = 1


class CampaignUpdate(InputSchema):
    """Every field optional; ``version`` (from a previous read) guards against lost updates."""

    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=5000)
    starts_at: ShanghaiTime | None = None
    ends_at: ShanghaiTime | None = None
    reward_rule: RewardRuleSchema | None = None
    kpi: KpiTargets | None = None
    payout_mode: PayoutMode | None = None
    reissue_policy: ReissuePolicy | None = None
    max_auto_reissues: AutoReissues | None = None
    version: StrictInt | None = Field(None, ge=1)

    def changes(self) -> dict[str, Any]:
        data = self.model_dump(exclude_unset=True, exclude={"version"})
        return {k: v for k, v in data.items() if v is not None}


class BudgetRead(BaseModel):
    cap_fen: int
    funded_fen: int
    available_fen: int
    reserved_fen: int
    paid_fen: int
    returned_fen: int
    allotted_fen: int = 0
    """预拨: set aside for the scan hot path's allowance (not available to anything else,
    not promised to anyone yet)."""


class CampaignRead(Schema):
    id: uuid.UUID
    name: str
    description: str
    status: CampaignStatus
    budget_cap_fen: int
    starts_at: datetime
    ends_at: datetime
    reward_rule: dict[str, Any]
    kpi: dict[str, Any]
    payout_mode: PayoutMode
    reissue_policy: ReissuePolicy
    max_auto_reissues: int
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    version: int


class CampaignDetail(CampaignRead):
    budget: BudgetRead


class FundCreate(InputSchema):
    amount_fen: PositiveFen
    memo: str = Field("", max_length=200)


class CapUpdate(InputSchema):
    budget_cap_fen: FenAmount


class ChannelCreate(InputSchema):
    kind: ChannelKind
    code: str = Field(min_length=2, max_length=32)
    name: str = Field(min_length=1, max_length=100)


class ChannelRead(Schema):
    id: uuid.UUID
    campaign_id: uuid.UUID
    kind: ChannelKind
    code: str
    name: str
    created_at: datetime
    link: str = ""


class LedgerTransactionRead(Schema):
    id: int
    kind: str
    amount_fen: int
    hold_id: uuid.UUID | None
    memo: str
    at: datetime
