"""API shapes of payouts."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from jinli.payouts.domain import AutoReissueBlock, PayoutMode, PayoutState


class PayoutRead(BaseModel):
    """One payout as the API shows it; money in fen, ``bill_number`` is the WeChat Pay number."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    campaign_id: uuid.UUID
    mode: PayoutMode
    state: PayoutState
    amount_fen: int
    openid: str
    cause: str
    attempt: int
    bill_number: str
    reissue_of: uuid.UUID | None
    reissued_by: uuid.UUID | None
    reissue_as: PayoutMode | None
    """The mode of an automatic reissue after a retryable failure (the campaign's policy when
    the payout was created); ``null``: no automatic reissue."""
    auto_reissues_left: int
    auto_reissue_blocked: AutoReissueBlock | None
    """Why this failed payout was left for finance instead of reissued automatically."""
    auto_reissue_blocked_reason: str | None
    """``auto_reissue_blocked`` in words for finance."""
    wechat_no: str | None
    wechat_state: str | None
    fail_reason: str | None
    tries: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class ReissueCreate(BaseModel):
    """How to pay a failed payout again; without ``mode`` the original mode is kept."""

    model_config = ConfigDict(extra="forbid")

    mode: PayoutMode | None = None
