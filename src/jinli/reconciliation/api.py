"""REST routes of reconciliation for a brand's developers: the runs (one per merchant and bill
day) with the brand's differences by class, the brand's differences (filter by run, campaign,
day, class, open), resolving one with a note (finance), and a campaign's monthly finance pack.

Runs belong to the merchant, not to a brand, so there is no per-run path: a run's differences
are ``GET /reconciliation/differences?run_id=…``, which lists only the caller's brand's rows.
Resolving is not a money movement: it takes no ``Idempotency-Key``; a repeat answers 409
``reconciliation_difference_resolved`` and changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from jinli.accounts.deps import ApiActor
from jinli.accounts.errors import InvalidApiKey, PermissionDenied
from jinli.campaigns.errors import CampaignNotFound
from jinli.kernel.clock import SHANGHAI
from jinli.kernel.pagination import Page
from jinli.platform.http import Pagination, UoW
from jinli.platform.problems import problems
from jinli.reconciliation import service
from jinli.reconciliation.domain import DifferenceClass
from jinli.reconciliation.errors import (
    DifferenceAlreadyResolved,
    DifferenceNotFound,
    InvalidMonth,
    ResolutionNoteRequired,
)
from jinli.reconciliation.schemas import DifferenceRead, DifferenceResolve, RunOverview

router = APIRouter(tags=["reconciliation"], responses=problems(InvalidApiKey, PermissionDenied))

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/reconciliation/runs", response_model=Page[RunOverview])
async def list_runs(
    actor: ApiActor, uow: UoW, page: Pagination, merchant_id: str | None = None
) -> object:
    """Every reconciliation run, newest bill day first, each with the brand's own
    differences by class (count and signed fen) and how many are open. Merchant-wide totals
    and rows of other brands are not shown."""
    return await service.brand_runs(uow, actor, page, merchant_id=merchant_id)


@router.get("/reconciliation/differences", response_model=Page[DifferenceRead])
async def list_differences(
    actor: ApiActor,
    uow: UoW,
    page: Pagination,
    run_id: uuid.UUID | None = None,
    campaign_id: uuid.UUID | None = None,
    bill_date: date | None = None,
    difference_class: DifferenceClass | None = None,
    open_only: bool = False,
) -> object:
    """The brand's differences, newest bill day first. ``amount_fen`` is signed: positive
    when WeChat moved more money out than we account for."""
    return await service.list_differences(
        uow,
        actor,
        page,
        run_id=run_id,
        campaign_id=campaign_id,
        bill_date=bill_date,
        cls=difference_class,
        open_only=open_only,
    )


@router.post(
    "/reconciliation/differences/{difference_id}/resolve",
    response_model=DifferenceRead,
    responses=problems(DifferenceNotFound, DifferenceAlreadyResolved, ResolutionNoteRequired),
)
async def resolve(
    difference_id: uuid.UUID, data: DifferenceResolve, actor: ApiActor, uow: UoW
) -> DifferenceRead:
    """Finance settles a difference with a note saying how (audited). A campaign settles
    only when none of its differences is open."""
    diff = await service.resolve(uow, actor, difference_id, data.note)
    read = DifferenceRead.model_validate(diff)
    await uow.commit()
    return read


@router.get(
    "/campaigns/{campaign_id}/finance-pack",
    response_class=Response,
    responses={
        200: {
            "content": {XLSX: {}, "application/zip": {}},
            "description": "The xlsx workbook, or a zip of CSV files",
        },
        **problems(CampaignNotFound, InvalidMonth),
    },
)
async def finance_pack(
    campaign_id: uuid.UUID,
    actor: ApiActor,
    uow: UoW,
    month: Annotated[
        str | None, Query(description="YYYY-MM (Beijing time); this month by default")
    ] = None,
    fmt: Annotated[Literal["xlsx", "csv"], Query(alias="format")] = "xlsx",
) -> Response:
    """The campaign's finance pack for a month: summary, payouts, refunds, reissues,
    differences and budget movements, amounts in yuan and in fen (audited)."""
    wanted = month or uow.clock.now().astimezone(SHANGHAI).strftime("%Y-%m")
    pack = await service.finance_pack(uow, actor, campaign_id, wanted, fmt)
    await uow.commit()
    return Response(
        pack.content,
        media_type=pack.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{pack.filename}"',
            "Cache-Control": "no-store",
        },
    )
