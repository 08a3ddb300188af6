"""API shapes of payouts."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from jinli.payouts.domain import PayoutMode, PayoutState


class PayoutRead(BaseModel):
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
    wechat_no: str | None
    wechat_state: str | None
    fail_reason: str | None
    tries: int
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
