"""Assemble the HTTP application: REST API at /api/v1, the console, static assets, health."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

from jinli.api.app import create_api
from jinli.api.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from jinli.platform.runtime import Runtime
from jinli.web import assets
from jinli.web.console.app import console_router, install_console_errors

STATIC_DIR = Path(assets.__file__).parent / "static"


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(title="Jinli", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.runtime = runtime
    app.mount("/api/v1", create_api(runtime))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(console_router())
    install_console_errors(app)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=302)

    @app.get("/healthz", include_in_schema=False)
    async def health() -> JSONResponse:
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "database": runtime.dialect})

    app.add_middleware(SecurityHeadersMiddleware, hsts=runtime.settings.session.cookie_secure)
    app.add_middleware(BodyLimitMiddleware, limit=runtime.settings.max_body_bytes)
    return app
