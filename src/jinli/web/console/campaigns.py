"""Console pages for campaigns: list, create, edit, detail with budget, channels and actions."""

from __future__ import annotations

import re
from datetime import timedelta
from itertools import zip_longest
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import (
    MAX_AUTO_REISSUES,
    PAGE_FIELDS,
    Action,
    CampaignStatus,
    ChannelKind,
    PayoutMode,
    ReissuePolicy,
    SplitAlgorithm,
)
from jinli.campaigns.ports import publish_preparation, settlement_gate
from jinli.campaigns.schemas import CampaignCreate, CampaignUpdate, ChannelCreate
from jinli.kernel.errors import ErrorKind, JinliError, ValidationFailed
from jinli.kernel.money import InvalidAmount, format_yuan, parse_yuan
from jinli.kernel.pagination import PageRequest
from jinli.payouts import service as payouts_service
from jinli.payouts.domain import PayoutState
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
PAYOUT_MODE_LABELS = {
    PayoutMode.transfer: "Merchant transfer",
    PayoutMode.brand_red_packet: "Brand red packet",
    PayoutMode.red_packet: "Cash red packet",
}
REISSUE_POLICY_LABELS = {
    ReissuePolicy.off: "Off: finance decides",
    ReissuePolicy.same_mode: "The same way as the failed payout",
    ReissuePolicy.as_transfer: "As a merchant transfer",
    ReissuePolicy.as_brand_red_packet: "As a brand red packet",
}
HELD_SHOWN = 50
"""How many recent failed payouts the campaign page looks through for those left to finance."""


def _pydantic_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _invalid(c: Console, exc: ValidationError) -> str:
    return c.describe(ValidationFailed(_pydantic_message(exc)))


REWARD_KINDS = ("none", "fixed", "tiers", "lucky_split")
SPLIT_ALGORITHM_LABELS = {
    SplitAlgorithm.double_mean: "Double mean (WeChat's)",
    SplitAlgorithm.line_segment: "Line segment (widest spread)",
    SplitAlgorithm.bounded_normal: "Bounded normal (narrowest spread)",
}
_COUNT = re.compile(r"[0-9]{1,9}")
_PERCENT = re.compile(r"(?P<int>[0-9]{1,3})(?:\.(?P<frac>[0-9]{1,4}))?%?")
"""A tier's chance typed in percent with up to 4 decimals: 0.0001 % is 1 ppm, exactly."""


def _count_field(form: Any, name: str, *, required: bool) -> int | None:
    """A whole number typed by an operator (shares, winners); the schema checks its range."""
    raw = str(form.get(name) or "").strip()
    if not raw:
        if required:
            raise ValidationFailed(f"{name}: a number is required")
        return None
    if not _COUNT.fullmatch(raw):
        raise ValidationFailed(f"{name}: “{raw}” is not a whole number")
    return int(raw)


def _reward_rule(form: Any) -> dict[str, Any]:
    """The reward rule as typed, in the API's shape (money in fen); the schema and the
    domain validate it. Only the chosen kind's fields are read."""
    kind = str(form.get("reward_kind") or "none")
    if kind not in REWARD_KINDS:
        raise ValidationFailed(f"unknown reward rule kind “{kind}”")
    if kind == "none":
        return {"kind": "none"}
    page = {name: str(form.get(name) or "").strip() for name in PAGE_FIELDS}
    if kind == "fixed":
        return {
            "kind": "fixed",
            "amount_fen": yuan_field(form, "fixed_amount"),
            "max_winners": _count_field(form, "max_winners", required=False),
            **page,
        }
    if kind == "tiers":
        return {
            "kind": "tiers",
            "tiers": _tiers(str(form.get("tiers") or "")),
            "regions": _regions(form),
            **page,
        }
    rule: dict[str, Any] = {
        "kind": "lucky_split",
        "total_fen": yuan_field(form, "split_total"),
        "shares": _count_field(form, "split_shares", required=True),
        "algorithm": str(form.get("split_algorithm") or SplitAlgorithm.double_mean),
        **page,
    }
    for key, name in (("min_fen", "split_min"), ("max_fen", "split_max")):
        value = yuan_field(form, name, required=False)
        if value is not None:
            rule[key] = value
    return rule


def _tiers(text: str, where: str = "") -> list[dict[str, Any]]:
    tiers = []
    for number, line in enumerate(text.strip().splitlines(), start=1):
        parts = line.split(maxsplit=2)
        if not line.strip():
            continue
        try:
            amount: int | None = parse_yuan(parts[0])
        except InvalidAmount:
            amount = None
        percent = _PERCENT.fullmatch(parts[1]) if len(parts) > 1 else None
        if amount is None or percent is None:
            raise ValidationFailed(
                f"{where}tier line {number}: write 'amount_yuan probability_% label'"
            )
        ppm = int(percent["int"]) * 10_000 + int((percent["frac"] or "").ljust(4, "0"))
        label = parts[2].strip() if len(parts) > 2 else ""
        tiers.append({"amount_fen": amount, "probability_ppm": ppm, "label": label})
    return tiers


def _regions(form: Any) -> dict[str, list[dict[str, Any]]]:
    """The regional tables: repeated ``region_name`` / ``region_tiers`` pairs; a block left
    empty is skipped, a half-filled one is an error."""
    regions: dict[str, list[dict[str, Any]]] = {}
    for number, (name, text) in enumerate(_region_pairs(form), start=1):
        if not name and not text.strip():
            continue
        if not name:
            raise ValidationFailed(f"regional table {number}: name its region (e.g. 浙江/杭州)")
        tiers = _tiers(text, where=f"region {name}: ")
        if not tiers:
            raise ValidationFailed(f"region {name}: give it at least one tier")
        if name in regions:
            raise ValidationFailed(f"region {name} has two tables")
        regions[name] = tiers
    return regions


def _region_pairs(form: Any) -> list[tuple[str, str]]:
    names = [str(v).strip() for v in form.getlist("region_name")]
    tables = [str(v) for v in form.getlist("region_tiers")]
    return list(zip_longest(names, tables, fillvalue=""))


def _percent(ppm: int) -> str:
    whole, frac = divmod(int(ppm), 10_000)
    return f"{whole}.{frac:04d}".rstrip("0").rstrip(".")


def _tiers_text(rows: list[dict[str, Any]]) -> str:
    """A stored tier table as the form's lines (the inverse of ``_tiers``)."""
    lines = (
        f"{format_yuan(r['amount_fen'])} {_percent(r['probability_ppm'])} {r.get('label', '')}"
        for r in rows
    )
    return "".join(line.rstrip() + "\n" for line in lines)


def _region_blocks(form: Any, campaign: Any, *, adding: bool = False) -> list[tuple[str, str]]:
    """The regional blocks the form shows: as posted (or as stored) plus one empty block to
    fill in. "Add a region" (``adding``) keeps every posted block, empty ones too, and adds
    one more: it works without JavaScript, and htmx swaps in just these blocks."""
    if form is not None:
        pairs = _region_pairs(form)
        blocks = pairs if adding else [(n, t) for n, t in pairs if n or t.strip()]
    elif campaign is not None and campaign.reward_rule.get("kind") == "tiers":
        regions = campaign.reward_rule.get("regions") or {}
        blocks = [(name, _tiers_text(rows)) for name, rows in regions.items()]
    else:
        blocks = []
    return [*blocks, ("", "")]


def _form_values(form: Any) -> dict[str, Any]:
    return {k: form.get(k) for k in form}


def _payout_options(form: Any) -> dict[str, Any]:
    """The payout options as typed; the schema validates them (a wrong value is a 422)."""
    raw = str(form.get("max_auto_reissues") or "").strip()
    max_auto_reissues: int | str = int(raw) if raw.isdigit() else raw or 1
    return {
        "payout_mode": str(form.get("payout_mode") or PayoutMode.transfer),
        "reissue_policy": str(form.get("reissue_policy") or ReissuePolicy.off),
        "max_auto_reissues": max_auto_reissues,
    }


def _translated_blocker(c: Console, blocker: str) -> str:
    """A settlement blocker reads "<fixed sentence>: <details>": translate the sentence."""
    head, sep, rest = blocker.partition(": ")
    return f"{c.t(head)}：{rest}" if sep and c.t(head) != head else c.t(blocker)


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
    form: Any = None,
    error: str | None = None,
    status_code: int = 200,
    adding_region: bool = False,
) -> HTMLResponse:
    """The campaign form: empty, the stored campaign, or ``form`` as posted (kept on a
    refusal so nothing typed is lost)."""
    now = c.runtime.clock.now()
    defaults = {
        "starts_at": now,
        "ends_at": now + timedelta(days=7),
        "reward_kind": "none",
    }
    rule = campaign.reward_rule if campaign is not None else {}
    return c.render(
        "campaigns/form.html",
        campaign=campaign,
        values=_form_values(form) if form is not None else {},
        defaults=defaults,
        error=error,
        status_code=status_code,
        payout_modes=PAYOUT_MODE_LABELS,
        reissue_policies=REISSUE_POLICY_LABELS,
        max_auto_reissues=MAX_AUTO_REISSUES,
        split_algorithms=SPLIT_ALGORITHM_LABELS,
        tiers_text=_tiers_text(rule.get("tiers") or []) if rule.get("kind") == "tiers" else "",
        regions=_region_blocks(form, campaign, adding=adding_region),
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
    if form.get("add_region"):  # "Add a region": the same form with one more block, unsaved
        return _form_page(c, form=form, adding_region=True)
    try:
        data = CampaignCreate(
            name=str(form.get("name") or ""),
            description=str(form.get("description") or ""),
            budget_cap_fen=yuan_field(form, "budget_cap"),
            initial_funding_fen=yuan_field(form, "initial_funding", required=False) or 0,
            starts_at=time_field(form, "starts_at"),
            ends_at=time_field(form, "ends_at"),
            reward_rule=_reward_rule(form),
            **_payout_options(form),
        )
        campaign = await campaigns_service.create(c.uow, c.actor, data)
        await c.uow.commit()
    except ValidationError as exc:
        return _form_page(c, form=form, error=_invalid(c, exc), status_code=422)
    except JinliError as exc:
        if _refused(exc):
            raise
        await c.uow.rollback()
        return _form_page(c, form=form, error=c.describe(exc), status_code=STATUS_BY_KIND[exc.kind])
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
    blockers = None
    if campaign.status == CampaignStatus.ended:
        found = await campaigns_service.settle_check(
            c.uow, c.actor, campaign.id, settlement_gate(c.runtime.extras)
        )
        blockers = [_translated_blocker(c, b) for b in found]
    held = []
    if c.can("ledger:read"):
        failed = await payouts_service.list_(
            c.uow,
            c.actor,
            PageRequest(limit=HELD_SHOWN),
            state=PayoutState.failed,
            campaign_id=campaign.id,
        )
        held = [
            p for p in failed.items if p.auto_reissue_blocked is not None and p.reissued_by is None
        ]
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
        payout_modes=PAYOUT_MODE_LABELS,
        reissue_policies=REISSUE_POLICY_LABELS,
        blockers=blockers,
        held=held,
        split_algorithms=SPLIT_ALGORITHM_LABELS,
        percent=_percent,
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
    if form.get("add_region"):
        return _form_page(c, campaign=campaign, form=form, adding_region=True)
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
        fields |= _payout_options(form)
        await campaigns_service.update(c.uow, c.actor, campaign.id, CampaignUpdate(**fields))
        await c.uow.commit()
    except ValidationError as exc:
        return _form_page(
            c,
            campaign=campaign,
            form=form,
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
            form=form,
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
        lambda cid: campaigns_service.transition(
            c.uow,
            c.actor,
            cid,
            Action(action),
            settlement_gate=settlement_gate(c.runtime.extras),
            publish_preparation=publish_preparation(c.runtime.extras),
        ),
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
