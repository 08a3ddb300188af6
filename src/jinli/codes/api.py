"""REST routes of code batches: parse → service → commit → respond (C12).

Creating a batch is synchronous up to ``JINLI_CODES__SYNC_MAX_COUNT`` codes (100,000 by default,
a few seconds): the batch, its codes and its export exist together or not at all, with no job
state to poll and no half-written zip. Larger print runs go through ``jinli codes generate``,
which streams any size with a progress bar.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from jinli.accounts.deps import ApiActor
from jinli.accounts.errors import InvalidApiKey, PermissionDenied
from jinli.campaigns.errors import CampaignNotFound
from jinli.codes import service
from jinli.codes.domain import BatchStatus
from jinli.codes.errors import (
    CodeBatchCampaignClosed,
    CodeBatchIllegalTransition,
    CodeBatchNotFound,
    CodeBatchTooLarge,
    CodeExportPurged,
)
from jinli.codes.schemas import BatchActivate, BatchCreate, BatchRead
from jinli.kernel.pagination import Page
from jinli.platform.http import Pagination, RuntimeDep, UoW
from jinli.platform.idempotency import IdempotencyKey, run_idempotent
from jinli.platform.problems import problems

router = APIRouter(tags=["codes"], responses=problems(InvalidApiKey, PermissionDenied))


@router.get("/code-batches", response_model=Page[BatchRead])
async def list_(
    actor: ApiActor,
    uow: UoW,
    page: Pagination,
    status: BatchStatus | None = None,
) -> object:
    """The brand's code batches, newest first."""
    return await service.list_(uow, actor, page, status=status)


@router.get(
    "/campaigns/{campaign_id}/code-batches",
    response_model=Page[BatchRead],
    responses=problems(CampaignNotFound),
)
async def list_for_campaign(
    campaign_id: uuid.UUID,
    actor: ApiActor,
    uow: UoW,
    page: Pagination,
    status: BatchStatus | None = None,
) -> object:
    return await service.list_(uow, actor, page, campaign_id=campaign_id, status=status)


@router.post(
    "/campaigns/{campaign_id}/code-batches",
    status_code=201,
    response_model=BatchRead,
    responses=problems(CampaignNotFound, CodeBatchTooLarge, CodeBatchCampaignClosed),
)
async def create(
    request: Request,
    campaign_id: uuid.UUID,
    data: BatchCreate,
    actor: ApiActor,
    uow: UoW,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Generate a batch of codes for the campaign, with the printer's export (zip of CSV files
    and, for small batches, SVG QR print sheets). The batch starts **generated**: its codes
    never pay until it is activated. Synchronous up to the configured limit. Idempotent."""
    env = service.env_for(runtime)
    batch_id = uuid.uuid4()

    async def operation() -> BatchRead:
        batch = await service.generate(
            uow,
            actor,
            env,
            campaign_id,
            data,
            max_count=env.settings.sync_max_count,
            batch_id=batch_id,
        )
        return BatchRead.model_validate(batch)

    try:
        return await run_idempotent(
            request,
            uow,
            actor.brand_id,
            idempotency_key,
            201,
            operation,
            runtime.settings.idempotency_retention_hours,
        )
    except BaseException:
        # Nothing committed: the zip written for the batch holds codes that do not exist.
        service.discard_export(env, actor.brand_id, batch_id)
        raise


@router.get(
    "/code-batches/{batch_id}", response_model=BatchRead, responses=problems(CodeBatchNotFound)
)
async def get(batch_id: uuid.UUID, actor: ApiActor, uow: UoW) -> object:
    return await service.get(uow, actor, batch_id)


@router.post(
    "/code-batches/{batch_id}/activate",
    response_model=BatchRead,
    responses=problems(CodeBatchNotFound, CodeBatchIllegalTransition),
)
async def activate(
    batch_id: uuid.UUID, data: BatchActivate, actor: ApiActor, uow: UoW
) -> BatchRead:
    """The batch shipped: bind it to a region and a distributor. From now on its codes can
    be scanned and paid."""
    batch = await service.activate(uow, actor, batch_id, data)
    read = BatchRead.model_validate(batch)
    await uow.commit()
    return read


@router.post(
    "/code-batches/{batch_id}/void",
    response_model=BatchRead,
    responses=problems(CodeBatchNotFound, CodeBatchIllegalTransition),
)
async def void(batch_id: uuid.UUID, actor: ApiActor, uow: UoW) -> BatchRead:
    """Withdraw the batch (lost or stolen shipment, misprint): its codes never pay again."""
    batch = await service.void(uow, actor, batch_id)
    read = BatchRead.model_validate(batch)
    await uow.commit()
    return read


@router.get(
    "/code-batches/{batch_id}/export",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The printer's zip"},
        **problems(CodeBatchNotFound, CodeExportPurged),
    },
)
async def download_export(
    batch_id: uuid.UUID, actor: ApiActor, uow: UoW, runtime: RuntimeDep
) -> FileResponse:
    """The printer's zip. Every download is audited: it holds codes worth money."""
    export = await service.export_file(uow, actor, service.env_for(runtime), batch_id)
    await uow.commit()
    return FileResponse(
        export.path,
        media_type="application/zip",
        filename=export.filename,
        headers={"X-Content-SHA256": export.sha256, "Cache-Control": "no-store"},
    )


@router.post(
    "/code-batches/{batch_id}/export/purge",
    response_model=BatchRead,
    responses=problems(CodeBatchNotFound, CodeExportPurged),
)
async def purge_export(
    batch_id: uuid.UUID, actor: ApiActor, uow: UoW, runtime: RuntimeDep
) -> BatchRead:
    """Delete the plaintext export once the printer has it (irreversible)."""
    batch = await service.purge_export(uow, actor, service.env_for(runtime), batch_id)
    read = BatchRead.model_validate(batch)
    await uow.commit()
    return read
