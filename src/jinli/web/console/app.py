"""The console as a router, plus how console errors are shown (pages, never tracebacks)."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from jinli.kernel.errors import JinliError
from jinli.platform.problems import STATUS_BY_KIND
from jinli.web.console import (
    audit,
    auth,
    campaigns,
    codes,
    dashboard,
    live,
    payouts,
    reconciliation,
    team,
)
from jinli.web.console.common import LoginRequired, locale_of, redirect, templates
from jinli.web.i18n import describe, translator

log = structlog.get_logger()


def console_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    for module in (auth, dashboard, campaigns, live, codes, payouts, reconciliation, team, audit):
        router.include_router(module.router)
    return router


def _error_page(
    request: Request, status: int, message: str, *, title: str | None = None
) -> HTMLResponse:
    locale = locale_of(request)
    t = translator(locale)
    text = describe(t, title, message) if title else t(message)
    return templates.TemplateResponse(
        request,
        "error.html",
        {"t": t, "locale": locale, "status": status, "message": text},
        status_code=status,
    )


def install_console_errors(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("HX-Request"):
            # A panel polled by htmx: reload the whole page (which then goes to the login)
            # rather than swap the login form into the panel.
            return Response(status_code=200, headers={"HX-Refresh": "true"})
        if request.method == "GET":
            return redirect(f"/console/login?next={exc.next_path}")
        return redirect("/console/login")

    @app.exception_handler(JinliError)
    async def _jinli(request: Request, exc: JinliError) -> Response:
        return _error_page(request, STATUS_BY_KIND[exc.kind], exc.detail, title=exc.title)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return _error_page(request, 422, "The request is not valid")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return _error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("console.request.failed", path=request.url.path)
        return _error_page(request, 500, "Something went wrong")
