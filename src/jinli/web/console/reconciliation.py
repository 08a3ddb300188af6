"""Console pages for reconciliation: the runs (one per merchant and bill day) with the brand's
differences by class, a run's differences (filter by class, open only), resolving one or
several with a note, uploading a bill file, fetching a day's bill from WeChat Pay, and the
month's finance pack of a campaign (xlsx or CSV).

Runs belong to the merchant, not to a brand (one WeChat Pay bill covers every brand paid
through it): a page shows the run's identity and the viewer's own differences only, never
the merchant-wide totals. Importing a bill writes in a system unit of work (the service
checks the finance permission and audits in the operator's brand in that transaction); a
rejected bill writes nothing.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from jinli.campaigns import service as campaigns_service
from jinli.kernel.clock import SHANGHAI
from jinli.kernel.errors import ErrorKind, JinliError, ValidationFailed
from jinli.kernel.pagination import PageRequest
from jinli.reconciliation import service as reconciliation_service
from jinli.reconciliation.domain import DifferenceClass
from jinli.reconciliation.errors import BillSourceUnavailable, BillTooLarge
from jinli.web.console.common import Console, ConsoleCtx, redirect, selected_ids, uuid_or_404

router = APIRouter(prefix="/console/reconciliation")

HOME = "/console/reconciliation"
CLASS_LABELS = {
    DifferenceClass.missing_on_our_side: "Missing on our side",
    DifferenceClass.missing_on_wechat: "Missing on WeChat Pay's side",
    DifferenceClass.amount_mismatch: "Amount mismatch",
    DifferenceClass.status_mismatch: "Status mismatch",
    DifferenceClass.duplicate: "Duplicate payment",
    DifferenceClass.cross_day: "Cross-day (timing only)",
}
SOURCE_LABELS = {
    "fetch": "Fetched from WeChat Pay",
    "file": "Imported file (CLI)",
    "upload": "Uploaded in the console",
}
KIND_LABELS = {"fund_flow": "Fund-flow bill", "trade": "Trade bill"}
BULK_LIMIT = 100


def _upload_limit(c: Console) -> int:
    """The bill upload's limit (``max_upload_bytes``; the app refuses larger bodies first)."""
    return c.runtime.settings.max_upload_bytes


def _workdir(c: Console) -> Path:
    return reconciliation_service.workdir(Path(c.runtime.settings.data_dir))


def _merchant(c: Console) -> str:
    """The mchid whose bills this deployment reconciles (the configured one by default)."""
    try:
        return reconciliation_service.bill_source(c.runtime.extras)[1]
    except BillSourceUnavailable:
        return c.runtime.settings.wechatpay.mch_id


def _yesterday(c: Console) -> date:
    return c.runtime.clock.now().astimezone(SHANGHAI).date() - timedelta(days=1)


def _day(form: Any) -> date:
    raw = str(form.get("bill_date") or "").strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"bill_date: “{raw}” is not a day (YYYY-MM-DD)") from None


def _back(form: Any) -> str:
    """The page the operator came from (same filters), else the runs."""
    back = str(form.get("back") or "")
    return back if back.startswith(HOME) and "//" not in back else HOME


def _failed(c: Console, back: str, exc: JinliError) -> Response:
    separator = "&" if "?" in back else "?"
    return redirect(f"{back}{separator}error={exc.code}", c.describe(exc))


@router.get("", response_class=HTMLResponse)
async def list_(c: ConsoleCtx, offset: int = 0) -> HTMLResponse:
    page = await reconciliation_service.brand_runs(
        c.uow, c.actor, PageRequest(limit=20, offset=max(0, offset))
    )
    campaigns = []
    if c.can("exports"):
        listed = await campaigns_service.list_(c.uow, c.actor, PageRequest(limit=100))
        campaigns = list(listed.items)
    now = c.runtime.clock.now().astimezone(SHANGHAI)
    return c.render(
        "reconciliation/list.html",
        page=page,
        classes=list(DifferenceClass),
        class_labels=CLASS_LABELS,
        source_labels=SOURCE_LABELS,
        kind_labels=KIND_LABELS,
        campaigns=campaigns,
        month=now.strftime("%Y-%m"),
        yesterday=_yesterday(c),
        merchant_id=_merchant(c),
        upload_limit_mb=max(1, _upload_limit(c) // 1_000_000),
        can_import=c.can("budget:fund"),
        can_export=c.can("exports"),
    )


@router.get("/runs/{run}", response_class=HTMLResponse)
async def run_page(
    c: ConsoleCtx,
    run: str,
    difference_class: str | None = None,
    open_only: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    """One run (a merchant's day, not a brand's object) and the viewer's differences in it."""
    overview = await reconciliation_service.brand_run(c.uow, c.actor, uuid_or_404(run))
    wanted = DifferenceClass(difference_class) if difference_class in set(DifferenceClass) else None
    page = await reconciliation_service.list_differences(
        c.uow,
        c.actor,
        PageRequest(limit=50, offset=max(0, offset)),
        run_id=overview.id,
        cls=wanted,
        open_only=bool(open_only),
    )
    kept = {k: v for k, v in c.request.query_params.items() if k not in ("notice", "error")}
    back = f"{HOME}/runs/{overview.id}" + ("?" + urlencode(kept) if kept else "")
    return c.render(
        "reconciliation/run.html",
        run=overview,
        page=page,
        classes=list(DifferenceClass),
        class_labels=CLASS_LABELS,
        source_labels=SOURCE_LABELS,
        kind_labels=KIND_LABELS,
        wanted=wanted,
        open_only=bool(open_only),
        back=back,
        can_resolve=c.can("budget:fund"),
    )


async def _resolve(c: Console, targets: list[uuid.UUID], form: Any) -> Response:
    c.require("budget:fund")
    back = _back(form)
    try:
        if not targets:
            raise ValidationFailed("select at least one open difference to resolve")
        if len(targets) > BULK_LIMIT:
            raise ValidationFailed(f"resolve at most {BULK_LIMIT} differences at once")
        resolved = await reconciliation_service.resolve_many(
            c.uow, c.actor, targets, str(form.get("note") or "")
        )
        await c.uow.commit()
    except JinliError as exc:
        if exc.kind == ErrorKind.FORBIDDEN or (
            exc.kind == ErrorKind.NOT_FOUND and len(targets) == 1
        ):
            raise
        await c.uow.rollback()
        return _failed(c, back, exc)
    return redirect(back, c.t("Resolved") + ": " + ", ".join(d.bill_number for d in resolved))


@router.post("/differences/{difference_id}/resolve")
async def resolve_one(c: ConsoleCtx, difference_id: str) -> Response:
    await c.check_csrf()
    form = await c.request.form()
    return await _resolve(c, [uuid_or_404(difference_id)], form)


@router.post("/resolve")
async def resolve_selected(c: ConsoleCtx) -> Response:
    await c.check_csrf()
    form = await c.request.form()
    return await _resolve(c, selected_ids(form, "difference_id"), form)


async def _bill_bytes(c: Console, form: Any) -> bytes:
    """The uploaded file (or, for scripts, the bill as a text field), within the limit."""
    limit = _upload_limit(c)
    bill = form.get("bill")
    if isinstance(bill, UploadFile):
        data = await bill.read(limit + 1)
    elif isinstance(bill, str):
        data = bill.encode()
    else:
        data = b""
    if not data:
        raise ValidationFailed("choose the bill file to upload")
    if len(data) > limit:
        raise BillTooLarge(
            f"the file is larger than {limit // 1_000_000} MB: gzip it, fetch the day from "
            "WeChat Pay, or use `jinli reconcile import`"
        )
    return data


async def _release(c: Console) -> None:
    """End the request's own (read-only so far) transaction before the bill is written in a
    system unit of work: the bill is the merchant's, not the brand's. On SQLite every
    transaction holds the write lock from its BEGIN IMMEDIATE, so the request's would block
    the import; the login's session touch was already committed by the dependency."""
    await c.uow.rollback()


@router.post("/upload")
async def upload(c: ConsoleCtx) -> Response:
    """Reconcile a day with a bill downloaded from the merchant platform (CSV or gzip)."""
    await c.check_csrf()
    c.require("budget:fund")
    form = await c.request.form()
    try:
        day = _day(form)
        data = await _bill_bytes(c, form)
        await _release(c)
        async with c.runtime.uow(system=True) as uow:
            summary = await reconciliation_service.import_bill(
                uow,
                c.actor,
                data,
                bill_date=day,
                merchant_id=_merchant(c),
                source="upload",
                workdir=_workdir(c),
            )
            await uow.commit()
    except JinliError as exc:
        if exc.kind == ErrorKind.FORBIDDEN:
            raise
        return _failed(c, HOME, exc)
    return redirect(f"{HOME}/runs/{summary.run.id}", c.t("Bill reconciled"))


@router.post("/fetch")
async def fetch(c: ConsoleCtx) -> Response:
    """Download a day's fund-flow bill from WeChat Pay and reconcile it (network first, then
    one transaction; never a WeChat call inside a transaction)."""
    await c.check_csrf()
    c.require("budget:fund")
    form = await c.request.form()
    try:
        day = _day(form)
        source, merchant_id = reconciliation_service.bill_source(c.runtime.extras)
        work = _workdir(c)
        with tempfile.TemporaryDirectory(dir=work) as tmp:
            path = Path(tmp) / "fundflow.csv"
            with path.open("wb") as sink:
                await reconciliation_service.fetch_fund_flow_bill(
                    source, day, sink, now=c.runtime.clock.now()
                )
            await _release(c)
            async with c.runtime.uow(system=True) as uow:
                summary = await reconciliation_service.import_bill(
                    uow,
                    c.actor,
                    path,
                    bill_date=day,
                    merchant_id=merchant_id,
                    source="fetch",
                    workdir=work,
                )
                await uow.commit()
    except JinliError as exc:
        if exc.kind == ErrorKind.FORBIDDEN:
            raise
        return _failed(c, HOME, exc)
    return redirect(f"{HOME}/runs/{summary.run.id}", c.t("Bill reconciled"))


@router.get("/pack")
async def pack(
    c: ConsoleCtx,
    campaign_id: str = "",
    month: str = "",
    fmt: Annotated[str, Query(alias="format")] = "xlsx",
) -> Response:
    """The month's finance pack of a campaign, as a download (audited)."""
    c.require("exports")
    try:
        result = await reconciliation_service.finance_pack(
            c.uow, c.actor, uuid_or_404(campaign_id), month, "csv" if fmt == "csv" else "xlsx"
        )
    except JinliError as exc:
        if exc.kind != ErrorKind.INVALID:
            raise
        return _failed(c, HOME, exc)
    await c.uow.commit()
    return Response(
        result.content,
        media_type=result.media_type,
        headers={"Content-Disposition": f'attachment; filename="{result.filename}"'},
    )
