"""Console page for the audit log."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from jinli.accounts import service as accounts_service
from jinli.kernel.pagination import PageRequest
from jinli.web.console.common import ConsoleCtx

router = APIRouter(prefix="/console")


@router.get("/audit", response_class=HTMLResponse)
async def audit(c: ConsoleCtx, offset: int = 0, action: str | None = None) -> HTMLResponse:
    page = await accounts_service.list_audit(
        c.uow,
        c.actor,
        PageRequest(limit=50, offset=max(0, min(offset, 10_000_000))),
        action=(action or "")[:60] or None,
    )
    return c.render("audit.html", page=page, action=action or "")
