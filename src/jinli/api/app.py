"""The REST API sub-application mounted at ``/api/v1``."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from jinli.accounts.api import router as accounts_router
from jinli.analytics.api import router as analytics_router
from jinli.campaigns.api import router as campaigns_router
from jinli.codes.api import router as codes_router
from jinli.kernel.errors import ErrorKind, JinliError
from jinli.payouts.api import router as payouts_router
from jinli.platform.problems import from_error, problem_response
from jinli.platform.runtime import Runtime
from jinli.reconciliation.api import router as reconciliation_router

log = structlog.get_logger()

API_DESCRIPTION = """
Jinli's REST API for a brand's developers. Authenticate with an API key created in the console
(`Authorization: Bearer jl_…`). Money is always an integer number of **fen** (1 CNY = 100 fen).
Errors are RFC 9457 problem JSON with a stable `code`. POSTs that move money or create money
objects need an `Idempotency-Key` header.
"""

_CODES_BY_STATUS = {
    404: "not_found",
    405: "method_not_allowed",
    401: "unauthenticated",
    403: "forbidden",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(JinliError)
    async def _jinli(request: Request, exc: JinliError) -> JSONResponse:
        if exc.kind in (ErrorKind.UNAUTHENTICATED, ErrorKind.FORBIDDEN):
            # Failed authentication and authorisation are security events (ASVS 16.3).
            log.warning(
                "api.access.denied",
                path=request.url.path,
                method=request.method,
                code=exc.code,
                ip=request.client.host if request.client else None,
            )
        return from_error(exc, instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(
                400,
                "malformed_json",
                "the request body is not valid JSON",
                instance=request.url.path,
            )
        return problem_response(
            422,
            "validation_failed",
            "the request does not match the expected shape",
            title="The request is not valid",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _CODES_BY_STATUS.get(exc.status_code, f"http_{exc.status_code}")
        return problem_response(exc.status_code, code, str(exc.detail), instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("api.request.failed", path=request.url.path)
        return problem_response(
            500,
            "internal_error",
            "something went wrong on our side; nothing was changed",
            instance=request.url.path,
        )


def create_api(runtime: Runtime) -> FastAPI:
    api = FastAPI(
        title="Jinli API",
        version="1",
        description=API_DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )

    @api.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Swagger UI from the npm-installed assets (no CDN: works offline and under CSP)."""
        page = get_swagger_ui_html(
            openapi_url="/api/v1/openapi.json",
            title="Jinli API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )
        # Swagger UI starts itself with one inline script; allow that on this static page only.
        page.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
        )
        return page

    api.state.runtime = runtime
    install_problem_handlers(api)
    api.include_router(accounts_router)
    api.include_router(campaigns_router)
    api.include_router(analytics_router)
    api.include_router(codes_router)
    api.include_router(payouts_router)
    api.include_router(reconciliation_router)
    return api
