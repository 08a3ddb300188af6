"""Console pages for campaigns: list, create, edit, detail with budget, channels and actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import Action, CampaignStatus, ChannelKind
from jinli.campaigns.schemas import CampaignCreate, CampaignUpdate, ChannelCreate
from jinli.kernel.errors import ErrorKind, JinliError, ValidationFailed
from jinli.kernel.money import InvalidAmount, parse_yuan
from jinli.kernel.pagination import PageRequest
from jinli.platform.problems import STATUS_BY_KIND
from jinli.web.console.common import (
    Console,
    ConsoleCtx,
    redirect,
    time_field,
    uuid_or_404,
    yuan_field,
)

router = APIRouter(prefix="/console/campaigns")

ACTION_LABELS = {
    Action.publish: "Publish",
    Action.unpublish: "Unpublish",
    Action.start: "Start now",
    Action.pause: "Pause",
    Action.resume: "Resume",
    Action.end: "End",
    Action.settle: "Settle",
}


def _pydantic_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _invalid(c: Console, exc: ValidationError) -> str:
    return c.describe(ValidationFailed(_pydantic_message(exc)))


def _reward_rule(form: Any) -> dict[str, Any]:
    kind = str(form.get("reward_kind") or "none")
    if kind == "fixed":
        max_winners = str(form.get("max_winners") or "").strip()
        return {
            "kind": "fixed",
            "amount_fen": yuan_field(form, "fixed_amount"),
            "max_winners": int(max_winners) if max_winners.isdigit() else None,
        }
    if kind == "tiers":
        return {"kind": "tiers", "tiers": _tiers(str(form.get("tiers") or ""))}
    return {"kind": "none"}


def _tiers(text: str) -> list[dict[str, Any]]:
    tiers = []
    for number, line in enumerate(text.strip().splitlines(), start=1):
        parts = line.split(maxsplit=2)
        if not line.strip():
            continue
        try:
            amount = parse_yuan(parts[0])
            percent = parse_yuan(parts[1].rstrip("%"))  # 0.01 % precision → ppm = percent·100
        except (IndexError, InvalidAmount):
            raise ValidationFailed(
                f"tier line {number}: write 'amount_yuan probability_% label'"
            ) from None
        label = parts[2] if len(parts) > 2 else ""
        tiers.append({"amount_fen": amount, "probability_ppm": percent * 100, "label": label})
    return tiers


def _form_values(form: Any) -> dict[str, Any]:
    return {k: form.get(k) for k in form}


@router.get("", response_class=HTMLResponse)
async def list_(
    c: ConsoleCtx, status: str | None = None, q: str | None = None, offset: int = 0
) -> HTMLResponse:
    wanted = CampaignStatus(status) if status in set(CampaignStatus) else None
    page = await campaigns_service.list_(
        c.uow,
        c.actor,
        PageRequest(limit=20, offset=max(0, offset)),
        status=wanted,
        q=(q or "")[:100] or None,
    )
    return c.render(
        "campaigns/list.html", page=page, statuses=list(CampaignStatus), status=wanted, q=q or ""
    )


def _form_page(
    c: Console,
    *,
    campaign: Any = None,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    now = c.runtime.clock.now()
    defaults = {
        "starts_at": now,
        "ends_at": now + timedelta(days=7),
        "reward_kind": "none",
    }
    return c.render(
        "campaigns/form.html",
        campaign=campaign,
        values=values or {},
        defaults=defaults,
        error=error,
        status_code=status_code,
    )


def _refused(exc: JinliError) -> bool:
    """Errors shown as their own page (403, 404), not as a message on the form or detail."""
    return exc.kind in (ErrorKind.FORBIDDEN, ErrorKind.NOT_FOUND)


@router.get("/new", response_class=HTMLResponse)
async def new(c: ConsoleCtx) -> HTMLResponse:
    c.require("campaigns:write")
    return _form_page(c)


@router.post("/new")
async def create(c: ConsoleCtx) -> Response:
    await c.check_csrf()
    form = await c.request.form()
    try:
        data = CampaignCreate(
            name=str(form.get("name") or ""),
            description=str(form.get("description") or ""),
            budget_cap_fen=yuan_field(form, "budget_cap"),
            initial_funding_fen=yuan_field(form, "initial_funding", required=False) or 0,
            starts_at=time_field(form, "starts_at"),
            ends_at=time_field(form, "ends_at"),
            reward_rule=_reward_rule(form),
        )
        campaign = await campaigns_service.create(c.uow, c.actor, data)
        await c.uow.commit()
    except ValidationError as exc:
        return _form_page(c, values=_form_values(form), error=_invalid(c, exc), status_code=422)
    except JinliError as exc:
        if _refused(exc):
            raise
        await c.uow.rollback()
        return _form_page(
            c,
            values=_form_values(form),
            error=c.describe(exc),
            status_code=STATUS_BY_KIND[exc.kind],
        )
    return redirect(f"/console/campaigns/{campaign.id}", c.t("Saved."))


@router.get("/{campaign_id}", response_class=HTMLResponse)
async def detail(c: ConsoleCtx, campaign_id: str) -> HTMLResponse:
    campaign = await campaigns_service.get(c.uow, c.actor, uuid_or_404(campaign_id))
    budget = await campaigns_service.budget(c.uow, c.actor, campaign.id)
    channels = await campaigns_service.list_channels(c.uow, c.actor, campaign.id)
    base = c.runtime.settings.public_base_url
    links = {ch.id: campaigns_service.channel_link(base, ch) for ch in channels}
    ledger = None
    if c.can("ledger:read"):
        ledger = await campaigns_service.ledger_transactions(
            c.uow, c.actor, campaign.id, PageRequest(limit=20)
        )
    from jinli.campaigns.domain import TRANSITIONS

    actions = [a for a in Action if campaign.status in TRANSITIONS[a]]
    return c.render(
        "campaigns/detail.html",
        campaign=campaign,
        budget=budget,
        channels=channels,
        links=links,
        ledger=ledger,
        actions=actions,
        action_labels=ACTION_LABELS,
        channel_kinds=list(ChannelKind),
    )


@router.get("/{campaign_id}/edit", response_class=HTMLResponse)
async def edit(c: ConsoleCtx, campaign_id: str) -> HTMLResponse:
    c.require("campaigns:write")
    campaign = await campaigns_service.get(c.uow, c.actor, uuid_or_404(campaign_id))
    return _form_page(c, campaign=campaign)


@router.post("/{campaign_id}/edit")
async def update(c: ConsoleCtx, campaign_id: str) -> Response:
    await c.check_csrf()
    form = await c.request.form()
    target = uuid_or_404(campaign_id)
    campaign = await campaigns_service.get(c.uow, c.actor, target)
    try:
        version = str(form.get("version") or "")
        fields: dict[str, Any] = {
            "name": str(form.get("name") or ""),
            "description": str(form.get("description") or ""),
            "ends_at": time_field(form, "ends_at"),
            "version": int(version) if version.isdigit() else None,
        }
        if campaign.status in (CampaignStatus.draft, CampaignStatus.scheduled):
            fields["starts_at"] = time_field(form, "starts_at")
            fields["reward_rule"] = _reward_rule(form)
        await campaigns_service.update(c.uow, c.actor, campaign.id, CampaignUpdate(**fields))
        await c.uow.commit()
    except ValidationError as exc:
        return _form_page(
            c,
            campaign=campaign,
            values=_form_values(form),
            error=_invalid(c, exc),
            status_code=422,
        )
    except JinliError as exc:
        if _refused(exc):
            raise
        # The rollback expires what was loaded; read the campaign afresh to show the form.
        await c.uow.rollback()
        campaign = await campaigns_service.get(c.uow, c.actor, target)
        return _form_page(
            c,
            campaign=campaign,
            values=_form_values(form),
            error=c.describe(exc),
            status_code=STATUS_BY_KIND[exc.kind],
        )
    return redirect(f"/console/campaigns/{target}", c.t("Saved."))


async def _act(c: Console, campaign_id: str, work: Any) -> Response:
    await c.check_csrf()
    target = uuid_or_404(campaign_id)
    try:
        await work(target)
        await c.uow.commit()
    except JinliError as exc:
        if _refused(exc):
            raise
        return redirect(f"/console/campaigns/{target}?error={exc.code}", c.describe(exc))
    return redirect(f"/console/campaigns/{target}", c.t("Saved."))


@router.post("/{campaign_id}/actions/{action}")
async def act(c: ConsoleCtx, campaign_id: str, action: str) -> Response:
    if action not in set(Action):
        from jinli.kernel.errors import NotFound

        raise NotFound("no such action")
    return await _act(
        c,
        campaign_id,
        lambda cid: campaigns_service.transition(c.uow, c.actor, cid, Action(action)),
    )


@router.post("/{campaign_id}/fund")
async def fund(c: ConsoleCtx, campaign_id: str) -> Response:
    form = await c.request.form()

    async def work(cid: Any) -> None:
        amount = yuan_field(form, "amount") or 0
        if amount <= 0:
            raise ValidationFailed("the top-up must be more than 0 yuan")
        await campaigns_service.fund(c.uow, c.actor, cid, amount, str(form.get("memo") or "")[:200])

    return await _act(c, campaign_id, work)


@router.post("/{campaign_id}/cap")
async def set_cap(c: ConsoleCtx, campaign_id: str) -> Response:
    form = await c.request.form()

    async def work(cid: Any) -> None:
        await campaigns_service.set_cap(c.uow, c.actor, cid, yuan_field(form, "cap") or 0)

    return await _act(c, campaign_id, work)


@router.post("/{campaign_id}/channels")
async def add_channel(c: ConsoleCtx, campaign_id: str) -> Response:
    form = await c.request.form()

    async def work(cid: Any) -> None:
        try:
            data = ChannelCreate(
                kind=str(form.get("kind") or ""),
                code=str(form.get("code") or ""),
                name=str(form.get("name") or ""),
            )
        except ValidationError as exc:
            raise ValidationFailed(_pydantic_message(exc)) from None
        await campaigns_service.add_channel(c.uow, c.actor, cid, data)

    return await _act(c, campaign_id, work)
