"""Console pages for code batches (M3): list and generate, a batch's page with its shipment,
activation, voiding, the printer's download and the purge of it."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import ValidationError

from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import CampaignStatus
from jinli.codes import service as codes_service
from jinli.codes.domain import BatchStatus
from jinli.codes.schemas import BatchActivate, BatchCreate
from jinli.kernel.errors import ErrorKind, JinliError, ValidationFailed
from jinli.kernel.pagination import PageRequest
from jinli.web.console.common import Console, ConsoleCtx, redirect, uuid_or_404

router = APIRouter(prefix="/console/codes")

STATUS_LABELS = {
    BatchStatus.generated: "Generated, not shipped",
    BatchStatus.active: "Active (shipped)",
    BatchStatus.voided: "Voided",
}
STATUS_CLASSES = {
    BatchStatus.generated: "status-draft",
    BatchStatus.active: "status-live",
    BatchStatus.voided: "status-ended",
}
OPEN_CAMPAIGNS = (
    CampaignStatus.draft,
    CampaignStatus.scheduled,
    CampaignStatus.live,
    CampaignStatus.paused,
)


def _optional_uuid(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


async def _campaign_names(c: Console) -> dict[uuid.UUID, tuple[str, CampaignStatus]]:
    page = await campaigns_service.list_(c.uow, c.actor, PageRequest(limit=200))
    return {k.id: (k.name, k.status) for k in page.items}


def _failed(c: Console, back: str, exc: JinliError) -> Response:
    if exc.kind in (ErrorKind.FORBIDDEN, ErrorKind.NOT_FOUND):
        raise exc
    separator = "&" if "?" in back else "?"
    return redirect(f"{back}{separator}error={exc.code}", c.describe(exc))


@router.get("", response_class=HTMLResponse)
async def list_(
    c: ConsoleCtx, campaign_id: str | None = None, status: str | None = None, offset: int = 0
) -> HTMLResponse:
    wanted = BatchStatus(status) if status in set(BatchStatus) else None
    campaign = _optional_uuid(campaign_id)
    page = await codes_service.list_(
        c.uow,
        c.actor,
        PageRequest(limit=20, offset=max(0, offset)),
        campaign_id=campaign,
        status=wanted,
    )
    campaigns = await _campaign_names(c)
    env = codes_service.env_for(c.runtime)
    return c.render(
        "codes/list.html",
        page=page,
        campaigns=campaigns,
        open_campaigns=[(k, v[0]) for k, v in campaigns.items() if v[1] in OPEN_CAMPAIGNS],
        campaign_id=campaign,
        statuses=list(BatchStatus),
        status=wanted,
        status_labels=STATUS_LABELS,
        status_classes=STATUS_CLASSES,
        sync_max=env.settings.sync_max_count,
        qr_max=env.settings.qr_sheet_max_codes,
    )


def _count(form: Any) -> int:
    raw = str(form.get("count") or "").strip().replace(",", "")
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationFailed(f"count: “{raw}” is not a whole number of codes")
    return int(raw)


@router.post("")
async def generate(c: ConsoleCtx) -> Response:
    await c.check_csrf()
    c.require("campaigns:write")
    form = await c.request.form()
    campaign = _optional_uuid(str(form.get("campaign_id") or ""))
    back = "/console/codes" + (f"?campaign_id={campaign}" if campaign else "")
    env = codes_service.env_for(c.runtime)
    batch_id = uuid.uuid4()
    try:
        if campaign is None:
            raise ValidationFailed("choose the campaign the codes belong to")
        qr = str(form.get("qr") or "auto")
        try:
            data = BatchCreate(
                count=_count(form),
                label=str(form.get("label") or "")[:100],
                short_codes=form.get("short_codes") == "on",
                qr_sheets=None if qr == "auto" else qr == "on",
            )
        except ValidationError as exc:
            raise ValidationFailed("; ".join(e["msg"] for e in exc.errors())) from None
        batch = await codes_service.generate(
            c.uow,
            c.actor,
            env,
            campaign,
            data,
            max_count=env.settings.sync_max_count,
            batch_id=batch_id,
        )
        await c.uow.commit()
    except JinliError as exc:
        await c.uow.rollback()
        codes_service.discard_export(env, c.actor.brand_id, batch_id)
        return _failed(c, back, exc)
    except BaseException:
        codes_service.discard_export(env, c.actor.brand_id, batch_id)
        raise
    notice = c.t("Codes generated") + f": {batch.size:,}"
    return redirect(f"/console/codes/{batch.id}", notice)


@router.get("/{batch_id}", response_class=HTMLResponse)
async def detail(c: ConsoleCtx, batch_id: str) -> HTMLResponse:
    batch = await codes_service.get(c.uow, c.actor, uuid_or_404(batch_id))
    stats = await codes_service.stats(c.uow, c.actor, batch.id)
    campaign = await campaigns_service.get(c.uow, c.actor, batch.campaign_id)
    return c.render(
        "codes/detail.html",
        batch=batch,
        stats=stats,
        campaign=campaign,
        status_labels=STATUS_LABELS,
        status_classes=STATUS_CLASSES,
        can_ship=c.can("campaigns:publish"),
        can_export=c.can("campaigns:write"),
    )


@router.post("/{batch_id}/activate")
async def activate(c: ConsoleCtx, batch_id: str) -> Response:
    await c.check_csrf()
    c.require("campaigns:publish")
    target = uuid_or_404(batch_id)
    form = await c.request.form()
    back = f"/console/codes/{target}"
    try:
        try:
            data = BatchActivate(
                region=str(form.get("region") or ""), distributor=str(form.get("distributor") or "")
            )
        except ValidationError:
            raise ValidationFailed("region and distributor are both required") from None
        await codes_service.activate(c.uow, c.actor, target, data)
        await c.uow.commit()
    except JinliError as exc:
        await c.uow.rollback()
        return _failed(c, back, exc)
    return redirect(back, c.t("Batch activated: its codes can now be scanned and paid"))


@router.post("/{batch_id}/void")
async def void(c: ConsoleCtx, batch_id: str) -> Response:
    await c.check_csrf()
    c.require("campaigns:publish")
    target = uuid_or_404(batch_id)
    back = f"/console/codes/{target}"
    try:
        await codes_service.void(c.uow, c.actor, target)
        await c.uow.commit()
    except JinliError as exc:
        await c.uow.rollback()
        return _failed(c, back, exc)
    return redirect(back, c.t("Batch voided: its codes will never pay"))


@router.get("/{batch_id}/export")
async def download(c: ConsoleCtx, batch_id: str) -> Response:
    target = uuid_or_404(batch_id)
    env = codes_service.env_for(c.runtime)
    try:
        export = await codes_service.export_file(c.uow, c.actor, env, target)
        await c.uow.commit()
    except JinliError as exc:
        await c.uow.rollback()
        return _failed(c, f"/console/codes/{target}", exc)
    return FileResponse(
        export.path,
        media_type="application/zip",
        filename=export.filename,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/{batch_id}/purge")
async def purge(c: ConsoleCtx, batch_id: str) -> Response:
    await c.check_csrf()
    c.require("campaigns:write")
    target = uuid_or_404(batch_id)
    back = f"/console/codes/{target}"
    try:
        await codes_service.purge_export(c.uow, c.actor, codes_service.env_for(c.runtime), target)
        await c.uow.commit()
    except JinliError as exc:
        await c.uow.rollback()
        return _failed(c, back, exc)
    return redirect(back, c.t("Export purged: the codes now exist only on print"))
