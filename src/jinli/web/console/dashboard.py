"""The brand dashboard: campaigns by status and the budget picture across live campaigns."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from jinli.accounts import service as accounts_service
from jinli.campaigns import service as campaigns_service
from jinli.campaigns.domain import CampaignStatus
from jinli.kernel.pagination import PageRequest
from jinli.web.console.common import ConsoleCtx

router = APIRouter()


@router.get("/console", response_class=HTMLResponse)
async def dashboard(c: ConsoleCtx) -> HTMLResponse:
    counts = await campaigns_service.status_counts(c.uow, c.actor)
    brand = await accounts_service.get_brand(c.uow, c.actor)
    recent = await campaigns_service.list_(c.uow, c.actor, PageRequest(limit=10))
    budgets = {
        campaign.id: await campaigns_service.budget(c.uow, c.actor, campaign.id)
        for campaign in recent.items
    }
    brand_budget = await campaigns_service.brand_budget(c.uow, c.actor)
    totals = {
        "funded": brand_budget.funded,
        "paid": brand_budget.paid,
        "reserved": brand_budget.reserved,
        "available": brand_budget.available,
    }
    return c.render(
        "dashboard.html",
        brand=brand,
        status_labels=[c.t(s.value) for s in CampaignStatus],
        status_values=[counts.get(s, 0) for s in CampaignStatus],
        recent=recent.items,
        budgets=budgets,
        totals=totals,
    )
