"""The live campaign page (M8): scans, winners, money and alerts, refreshing by itself.

The page renders the panel once; the panel then re-fetches itself every ``REFRESH_SECONDS``
with htmx polling (``hx-trigger="every 5s"``, ``hx-swap="outerHTML"``), and ``console.js``
redraws its Chart.js charts after each swap. Polling rather than SSE: one short read per
refresh, no connection held per viewer, and it works unchanged behind any proxy.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from jinli.analytics import service as analytics_service
from jinli.analytics.domain import LiveSnapshot
from jinli.kernel.clock import SHANGHAI
from jinli.web.console.common import Console, ConsoleCtx, uuid_or_404

router = APIRouter(prefix="/console/campaigns")

REFRESH_SECONDS = 5
NOT_POLLED = frozenset({"draft", "settled"})
"""Statuses in which nothing moves any more (or yet): the panel does not poll."""

GREEN, ORANGE, PURPLE, RED, BLUE, GREY = (
    "#43a047",
    "#fb8c00",
    "#8e24aa",
    "#e53935",
    "#1e88e5",
    "#90a4ae",
)


def _refusal_labels(c: Console) -> dict[str, str]:
    return {
        "inactive": c.t("Batch not activated"),
        "not_live": c.t("Campaign not live"),
        "budget_exhausted": c.t("Budget used up"),
        "throttled": c.t("Too many attempts"),
    }


def _payout_labels(c: Console) -> dict[str, str]:
    return {
        "created": c.t("Payouts created"),
        "succeeded": c.t("Paid out"),
        "failed": c.t("Payout failed"),
        "review": c.t("Sent to the human queue"),
    }


def _hour_label(hour: str, first: bool) -> str:
    """``11-23 14:00`` at the first bar and at midnight, ``15:00`` elsewhere."""
    mm, dd, hh = hour[4:6], hour[6:8], hour[8:10]
    return f"{mm}-{dd} {hh}:00" if first or hh == "00" else f"{hh}:00"


def _charts(c: Console, live: LiveSnapshot) -> dict[str, Any]:
    """Chart.js inputs (labels and datasets) for the four charts, in the console's language."""
    hours = live.hours
    scan_sets = [
        {"label": c.t("Valid scans"), "data": [h.valid for h in hours], "color": GREEN},
        {"label": c.t("Re-scans"), "data": [h.repeated for h in hours], "color": ORANGE},
        {"label": c.t("Refused"), "data": [h.refused for h in hours], "color": PURPLE},
    ]
    if live.scans.invalid_48h is not None:
        scan_sets.append(
            {
                "label": c.t("Invalid codes (all brands)"),
                "data": [h.invalid or 0 for h in hours],
                "color": RED,
            }
        )
    burn_labels = []
    previous_day = ""
    for point in live.burn_series:
        local = point.at.astimezone(SHANGHAI)
        day = local.strftime("%m-%d")
        burn_labels.append(
            local.strftime("%H:%M") if day == previous_day else f"{day} {local:%H:%M}"
        )
        previous_day = day
    payout_labels = _payout_labels(c)
    return {
        "hours": {
            "labels": [_hour_label(h.hour, i == 0) for i, h in enumerate(hours)],
            "datasets": scan_sets,
        },
        "tiers": {
            "labels": [w.label or c.t("No tier") for w in live.winners],
            "counts": [w.count for w in live.winners],
        },
        "burn": {
            "labels": burn_labels,
            "datasets": [
                {
                    "label": c.t("Prizes won (cumulative)"),
                    "data": [p.spent_fen for p in live.burn_series],
                    "color": RED,
                },
                {
                    "label": c.t("Even pace"),
                    "data": [p.pace_fen for p in live.burn_series],
                    "color": GREY,
                    "dashed": True,
                },
            ],
        },
        "payouts": {
            "labels": [payout_labels[s] for s in live.payouts],
            "counts": [t.count for t in live.payouts.values()],
        },
    }


async def _render(c: Console, campaign_id: str, template: str) -> HTMLResponse:
    live = await analytics_service.live_view(
        c.uow, c.actor, uuid_or_404(campaign_id), c.uow.clock.now(), counters=c.runtime.counters
    )
    return c.render(
        template,
        live=live,
        charts=_charts(c, live),
        refusal_labels=_refusal_labels(c),
        payout_labels=_payout_labels(c),
        polling=live.status not in NOT_POLLED,
        refresh=REFRESH_SECONDS,
    )


@router.get("/{campaign_id}/live", response_class=HTMLResponse)
async def page(campaign_id: str, c: ConsoleCtx) -> HTMLResponse:
    """The whole page (anyone who can read the campaign)."""
    return await _render(c, campaign_id, "live/page.html")


@router.get("/{campaign_id}/live/panel", response_class=HTMLResponse)
async def panel(campaign_id: str, c: ConsoleCtx) -> HTMLResponse:
    """The panel alone: what the page's htmx polling swaps in."""
    return await _render(c, campaign_id, "live/_panel.html")
