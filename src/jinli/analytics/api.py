"""REST routes of analytics: parse → service → respond (C12); reads only, nothing to commit."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from jinli.accounts.deps import ApiActor
from jinli.accounts.errors import InvalidApiKey, PermissionDenied
from jinli.analytics import service
from jinli.analytics.schemas import LiveRead
from jinli.campaigns.errors import CampaignNotFound
from jinli.platform.http import RuntimeDep, UoW
from jinli.platform.problems import problems

router = APIRouter(
    prefix="/campaigns",
    tags=["analytics"],
    responses=problems(InvalidApiKey, PermissionDenied, CampaignNotFound),
)


@router.get("/{campaign_id}/live", response_model=LiveRead)
async def get_live(
    campaign_id: uuid.UUID, actor: ApiActor, uow: UoW, runtime: RuntimeDep
) -> LiveRead:
    """The campaign's live view: scans (valid, re-scans, refused, invalid), winners by tier,
    payout states, fen paid / reserved / remaining, budget burn against the time left, scans
    by hour and region, 串货 and guessing alerts. Needs ``campaigns:read``."""
    snapshot = await service.live_view(
        uow, actor, campaign_id, uow.clock.now(), counters=runtime.counters
    )
    return LiveRead.model_validate(snapshot)
