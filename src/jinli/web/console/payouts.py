"""Console pages for payouts: the list (with the human queue) and one-click or bulk reissue."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from jinli.campaigns import service as campaigns_service
from jinli.kernel.errors import ErrorKind, JinliError, ValidationFailed
from jinli.kernel.pagination import PageRequest
from jinli.payouts import service as payouts_service
from jinli.payouts.domain import PayoutMode, PayoutState
from jinli.web.console.common import Console, ConsoleCtx, redirect, selected_ids, uuid_or_404

router = APIRouter(prefix="/console/payouts")

STATE_LABELS = {
    PayoutState.pending: "Queued",
    PayoutState.sending: "Sending",
    PayoutState.unknown: "Outcome unknown, retrying",
    PayoutState.accepted: "Processing at WeChat Pay",
    PayoutState.awaiting_user: "Waiting for the consumer",
    PayoutState.succeeded: "Paid out",
    PayoutState.failed: "Failed or refunded",
    PayoutState.review: "Human queue",
}
MODE_LABELS = {
    PayoutMode.transfer: "Merchant transfer",
    PayoutMode.brand_red_packet: "Brand red packet",
    PayoutMode.red_packet: "Cash red packet",
}
BULK_LIMIT = 100


def _campaign_id(raw: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw) if raw else None
    except ValueError:
        return None


@router.get("", response_class=HTMLResponse)
async def list_(
    c: ConsoleCtx, state: str | None = None, campaign_id: str | None = None, offset: int = 0
) -> HTMLResponse:
    wanted = PayoutState(state) if state in set(PayoutState) else None
    campaign = _campaign_id(campaign_id)
    page = await payouts_service.list_(
        c.uow,
        c.actor,
        PageRequest(limit=20, offset=max(0, offset)),
        state=wanted,
        campaign_id=campaign,
    )
    names = {}
    for cid in {p.campaign_id for p in page.items} | ({campaign} if campaign else set()):
        try:
            names[cid] = (await campaigns_service.get(c.uow, c.actor, cid)).name
        except JinliError:
            names[cid] = str(cid)[:8]
    queue = await payouts_service.list_(
        c.uow, c.actor, PageRequest(limit=1), state=PayoutState.review
    )
    kept = {k: v for k, v in c.request.query_params.items() if k not in ("notice", "error")}
    back = "/console/payouts" + ("?" + urlencode(kept) if kept else "")
    return c.render(
        "payouts/list.html",
        back=back,
        page=page,
        states=list(PayoutState),
        state=wanted,
        campaign_id=campaign,
        names=names,
        queue_size=queue.total,
        state_labels=STATE_LABELS,
        mode_labels=MODE_LABELS,
        modes=list(PayoutMode),
        can_reissue=c.can("budget:fund"),
    )


def _back(form: Any) -> str:
    """The list the operator came from (same filters), else the plain list."""
    back = str(form.get("back") or "")
    return back if back.startswith("/console/payouts") and "//" not in back else "/console/payouts"


async def _reissue(c: Console, targets: list[uuid.UUID], form: Any) -> Response:
    c.require("budget:fund")
    mode_raw = str(form.get("mode") or "")
    mode = PayoutMode(mode_raw) if mode_raw in set(PayoutMode) else None
    back = _back(form)
    try:
        if not targets:
            raise ValidationFailed("select at least one failed payout to reissue")
        if len(targets) > BULK_LIMIT:
            raise ValidationFailed(f"reissue at most {BULK_LIMIT} payouts at once")
        numbers = []
        for target in targets:
            new = await payouts_service.reissue(c.uow, c.actor, target, mode=mode)
            numbers.append(new.bill_number)
        await c.uow.commit()
    except JinliError as exc:
        if exc.kind == ErrorKind.FORBIDDEN or (
            exc.kind == ErrorKind.NOT_FOUND and len(targets) == 1
        ):
            raise
        await c.uow.rollback()
        separator = "&" if "?" in back else "?"
        return redirect(f"{back}{separator}error={exc.code}", c.describe(exc))
    return redirect(back, c.t("Reissued") + ": " + ", ".join(numbers))


@router.post("/{payout_id}/reissue")
async def reissue_one(c: ConsoleCtx, payout_id: str) -> Response:
    await c.check_csrf()
    form = await c.request.form()
    return await _reissue(c, [uuid_or_404(payout_id)], form)


@router.post("/reissue")
async def reissue_selected(c: ConsoleCtx) -> Response:
    await c.check_csrf()
    form = await c.request.form()
    return await _reissue(c, selected_ids(form, "payout_id"), form)
