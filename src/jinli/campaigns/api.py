"""REST routes of campaigns: parse → service → commit → respond (C12)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from jinli.accounts.deps import ApiActor
from jinli.accounts.errors import InvalidApiKey, PermissionDenied
from jinli.campaigns import service
from jinli.campaigns.domain import Action, CampaignStatus
from jinli.campaigns.errors import (
    CampaignNotFound,
    ChannelCodeTaken,
    FieldLocked,
    IllegalTransition,
    InvalidChannelCode,
    InvalidPayoutPolicy,
    InvalidRewardRule,
    InvalidWindow,
    NotPublishable,
    NotReconciled,
    NotSettleable,
    SettlementCheckUnavailable,
    StaleEdit,
)
from jinli.campaigns.models import Campaign
from jinli.campaigns.ports import publish_preparation, settlement_gate
from jinli.campaigns.schemas import (
    BudgetRead,
    CampaignCreate,
    CampaignDetail,
    CampaignRead,
    CampaignUpdate,
    CapUpdate,
    ChannelCreate,
    ChannelRead,
    FundCreate,
    LedgerTransactionRead,
)
from jinli.kernel.errors import Unavailable
from jinli.kernel.pagination import Page
from jinli.ledger.domain import Balances
from jinli.ledger.errors import CapBelowFunded, CapExceeded, InsufficientBudget
from jinli.platform.http import Pagination, RuntimeDep, UoW
from jinli.platform.idempotency import IdempotencyKey, run_idempotent
from jinli.platform.problems import problems

router = APIRouter(
    prefix="/campaigns",
    tags=["campaigns"],
    responses=problems(InvalidApiKey, PermissionDenied, CampaignNotFound),
)


def budget_read(b: Balances) -> BudgetRead:
    return BudgetRead(
        cap_fen=b.cap,
        funded_fen=b.funded,
        available_fen=b.available,
        reserved_fen=b.reserved,
        paid_fen=b.paid,
        returned_fen=b.returned,
        allotted_fen=b.allotted,
    )


async def _detail(uow: Any, actor: Any, campaign: Campaign) -> CampaignDetail:
    balances = await service.budget(uow, actor, campaign.id)
    return CampaignDetail.model_validate(
        {**CampaignRead.model_validate(campaign).model_dump(), "budget": budget_read(balances)}
    )


@router.get("", response_model=Page[CampaignRead])
async def list_(
    actor: ApiActor,
    uow: UoW,
    page: Pagination,
    status: CampaignStatus | None = None,
    q: str | None = Query(None, max_length=100, description="Search in names"),
) -> object:
    return await service.list_(uow, actor, page, status=status, q=q)


@router.post(
    "",
    status_code=201,
    response_model=CampaignDetail,
    responses=problems(InvalidWindow, InvalidRewardRule, InvalidPayoutPolicy, CapExceeded),
)
async def create(
    request: Request,
    data: CampaignCreate,
    actor: ApiActor,
    uow: UoW,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Create a draft campaign (and fund it, if ``initial_funding_fen`` > 0). Idempotent."""

    async def operation() -> CampaignDetail:
        campaign = await service.create(uow, actor, data)
        return await _detail(uow, actor, campaign)

    return await run_idempotent(
        request,
        uow,
        actor.brand_id,
        idempotency_key,
        201,
        operation,
        runtime.settings.idempotency_retention_hours,
    )


@router.get("/{campaign_id}", response_model=CampaignDetail)
async def get(campaign_id: uuid.UUID, actor: ApiActor, uow: UoW) -> CampaignDetail:
    campaign = await service.get(uow, actor, campaign_id)
    return await _detail(uow, actor, campaign)


@router.patch(
    "/{campaign_id}",
    response_model=CampaignDetail,
    responses=problems(
        FieldLocked, StaleEdit, InvalidWindow, InvalidRewardRule, InvalidPayoutPolicy
    ),
)
async def update(
    campaign_id: uuid.UUID, data: CampaignUpdate, actor: ApiActor, uow: UoW
) -> CampaignDetail:
    campaign = await service.update(uow, actor, campaign_id, data)
    detail = await _detail(uow, actor, campaign)
    await uow.commit()
    return detail


def _transition_route(action: Action) -> None:
    async def transition(
        campaign_id: uuid.UUID,
        actor: ApiActor,
        uow: UoW,
        runtime: RuntimeDep,
    ) -> object:
        campaign = await service.transition(
            uow,
            actor,
            campaign_id,
            action,
            settlement_gate=settlement_gate(runtime.extras),
            publish_preparation=publish_preparation(runtime.extras),
        )
        detail = await _detail(uow, actor, campaign)
        await uow.commit()
        return detail

    transition.__doc__ = f"Lifecycle action **{action}** (see the transition table)."
    router.add_api_route(
        f"/{{campaign_id}}/{action}",
        transition,
        methods=["POST"],
        response_model=CampaignDetail,
        name=f"campaign_{action}",
        operation_id=f"campaign_{action}",
        responses=problems(
            IllegalTransition,
            NotPublishable,
            NotSettleable,
            *((NotReconciled, SettlementCheckUnavailable) if action == Action.settle else ()),
            # Publishing a paying rule also answers the scans check's 409
            # ``reward_budget_too_small`` (rewards sits above campaigns: not importable here).
            *((Unavailable,) if action == Action.publish else ()),
        ),
    )


for _action in Action:
    _transition_route(_action)


@router.post(
    "/{campaign_id}/fund",
    response_model=BudgetRead,
    responses=problems(CapExceeded, IllegalTransition),
)
async def fund(
    request: Request,
    campaign_id: uuid.UUID,
    data: FundCreate,
    actor: ApiActor,
    uow: UoW,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Top up the budget through the ledger (never beyond the hard cap). Idempotent."""

    async def operation() -> BudgetRead:
        balances = await service.fund(uow, actor, campaign_id, data.amount_fen, data.memo)
        return budget_read(balances)

    return await run_idempotent(
        request,
        uow,
        actor.brand_id,
        idempotency_key,
        200,
        operation,
        runtime.settings.idempotency_retention_hours,
    )


@router.post(
    "/{campaign_id}/cap",
    response_model=CampaignDetail,
    responses=problems(CapBelowFunded, IllegalTransition),
)
async def set_cap(
    request: Request,
    campaign_id: uuid.UUID,
    data: CapUpdate,
    actor: ApiActor,
    uow: UoW,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Change the hard budget cap (never below what is funded). Idempotent."""

    async def operation() -> CampaignDetail:
        campaign = await service.set_cap(uow, actor, campaign_id, data.budget_cap_fen)
        return await _detail(uow, actor, campaign)

    return await run_idempotent(
        request,
        uow,
        actor.brand_id,
        idempotency_key,
        200,
        operation,
        runtime.settings.idempotency_retention_hours,
    )


@router.get(
    "/{campaign_id}/budget", response_model=BudgetRead, responses=problems(InsufficientBudget)
)
async def get_budget(campaign_id: uuid.UUID, actor: ApiActor, uow: UoW) -> BudgetRead:
    return budget_read(await service.budget(uow, actor, campaign_id))


@router.get("/{campaign_id}/ledger", response_model=Page[LedgerTransactionRead])
async def get_ledger(campaign_id: uuid.UUID, actor: ApiActor, uow: UoW, page: Pagination) -> object:
    return await service.ledger_transactions(uow, actor, campaign_id, page)


@router.get("/{campaign_id}/channels", response_model=list[ChannelRead])
async def list_channels(
    campaign_id: uuid.UUID, actor: ApiActor, uow: UoW, runtime: RuntimeDep
) -> list[ChannelRead]:
    channels = await service.list_channels(uow, actor, campaign_id)
    base = runtime.settings.public_base_url
    return [
        ChannelRead.model_validate(c).model_copy(update={"link": service.channel_link(base, c)})
        for c in channels
    ]


@router.post(
    "/{campaign_id}/channels",
    status_code=201,
    response_model=ChannelRead,
    responses=problems(ChannelCodeTaken, InvalidChannelCode, IllegalTransition),
)
async def add_channel(
    campaign_id: uuid.UUID, data: ChannelCreate, actor: ApiActor, uow: UoW, runtime: RuntimeDep
) -> ChannelRead:
    channel = await service.add_channel(uow, actor, campaign_id, data)
    await uow.commit()
    link = service.channel_link(runtime.settings.public_base_url, channel)
    return ChannelRead.model_validate(channel).model_copy(update={"link": link})
